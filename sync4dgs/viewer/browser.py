"""Drive a headless Chromium over the DevTools protocol (screenshots of the viewer for tests and docs).

Uses Debian's ``chromium`` binary and the ``websockets`` client that viser installs. Loopback only: the
DevTools port binds to 127.0.0.1 and the browser is started with networking extras disabled.
"""

from __future__ import annotations

import json
import logging
import shutil
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

import numpy as np

from sync4dgs.errors import BackendUnavailableError

log = logging.getLogger(__name__)

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--disable-extensions", "--disable-default-apps", "--mute-audio", "--hide-scrollbars",
                  # WebGL (viser's three.js canvas) on the CPU rasteriser, since the GPU is disabled
                  "--use-angle=swiftshader", "--enable-unsafe-swiftshader",
                  "--remote-debugging-address=127.0.0.1", "--remote-debugging-port=0")


class HeadlessChromium:
    """A headless Chromium with one page, controlled through the DevTools protocol.

    Use as a context manager; ``navigate(url)`` then ``screenshot()`` -> RGB uint8 [H, W, 3].
    """

    def __init__(self, executable: str = CHROMIUM, width: int = 960, height: int = 720, timeout_s: float = 30.0):
        if not Path(executable).is_file():
            raise BackendUnavailableError(f"{executable} not found (apt-get install -y chromium)")
        self.executable, self.width, self.height, self.timeout_s = executable, width, height, timeout_s
        self._proc: subprocess.Popen | None = None
        self._profile: Path | None = None
        self._ws: Any = None
        self._log: Any = None
        self._next_id = 0

    def __enter__(self) -> "HeadlessChromium":
        self.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def start(self) -> None:
        from websockets.sync.client import connect  # noqa: PLC0415

        self._profile = Path(tempfile.mkdtemp(prefix="sync4dgs-chromium-"))
        cmd = [self.executable, *CHROMIUM_FLAGS, f"--user-data-dir={self._profile}",
               f"--window-size={self.width},{self.height}", "about:blank"]
        self._log = open(self._profile.parent / f"{self._profile.name}.log", "wb")  # a pipe could fill and block
        self._proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=self._log)
        port = self._wait_devtools_port()
        targets = json.loads(urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=5).read())
        pages = [t for t in targets if t.get("type") == "page"]
        if not pages:
            raise RuntimeError("headless chromium opened no page")
        self._ws = connect(pages[0]["webSocketDebuggerUrl"], max_size=None, open_timeout=self.timeout_s)
        self.call("Page.enable")
        self.call("Emulation.setDeviceMetricsOverride",
                  {"width": self.width, "height": self.height, "deviceScaleFactor": 1, "mobile": False})

    def _wait_devtools_port(self) -> int:
        assert self._profile is not None and self._proc is not None
        f = self._profile / "DevToolsActivePort"
        deadline = time.monotonic() + self.timeout_s
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                err = Path(self._log.name).read_bytes().decode(errors="replace")
                raise RuntimeError(f"chromium exited with code {self._proc.returncode}: {err[-2000:]}")
            if f.is_file():
                first = f.read_text().splitlines()[:1]
                if first and first[0].strip().isdigit():
                    return int(first[0])
            time.sleep(0.05)
        raise TimeoutError(f"chromium did not open its DevTools port within {self.timeout_s} s")

    def call(self, method: str, params: dict | None = None) -> dict:
        """Send one DevTools command and return its result (events received meanwhile are dropped)."""
        self._next_id += 1
        msg_id = self._next_id
        self._ws.send(json.dumps({"id": msg_id, "method": method, "params": params or {}}))
        deadline = time.monotonic() + self.timeout_s
        while True:
            msg = json.loads(self._ws.recv(timeout=max(deadline - time.monotonic(), 0.01)))
            if msg.get("id") == msg_id:
                if "error" in msg:
                    raise RuntimeError(f"DevTools {method} failed: {msg['error']}")
                return msg.get("result", {})

    def navigate(self, url: str) -> None:
        self.call("Page.navigate", {"url": url})

    def evaluate(self, expression: str) -> Any:
        """Evaluate a JavaScript expression in the page; returns its JSON value."""
        r = self.call("Runtime.evaluate", {"expression": expression, "returnByValue": True})
        return r.get("result", {}).get("value")

    def screenshot(self) -> np.ndarray:
        """The page as RGB uint8 [H, W, 3]."""
        import base64  # noqa: PLC0415

        import cv2  # noqa: PLC0415

        data = base64.b64decode(self.call("Page.captureScreenshot", {"format": "png"})["data"])
        bgr = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
        return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)

    def close(self) -> None:
        """Close the connection, stop the browser (SIGTERM, then SIGKILL) and delete its profile."""
        if self._ws is not None:
            self._ws.close()
            self._ws = None
        if self._proc is not None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait(timeout=10)
            self._proc = None
        if self._log is not None:
            self._log.close()
            Path(self._log.name).unlink(missing_ok=True)
            self._log = None
        if self._profile is not None:
            shutil.rmtree(self._profile, ignore_errors=True)
            self._profile = None
