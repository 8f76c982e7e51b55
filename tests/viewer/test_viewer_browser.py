"""The real page in headless Chromium: the first frame shows the model and moving the time slider changes it.

Needs Debian's chromium (CI's .ci/run installs it); skipped with a clear reason otherwise. Loopback only.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path

import numpy as np
import pytest

from sync4dgs.viewer.browser import CHROMIUM, HeadlessChromium
from sync4dgs.viewer.launch import open_viewer
from sync4dgs.viewer.server import ViewerConfig

pytest.importorskip("viser")
pytestmark = [
    pytest.mark.timeout(180),
    pytest.mark.skipif(not Path(CHROMIUM).is_file(),
                       reason=f"{CHROMIUM} not installed (apt-get install -y chromium); CI installs it"),
]

PANEL_X = 440  # viser's GUI panel covers the right part of a 960 px wide page; compare the left part


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _saturated_fraction(img: np.ndarray) -> float:
    """Fraction of pixels with a clearly coloured (not grey/white/black) value: the splats are colourful."""
    f = img.astype(np.float32)
    return float(((f.max(-1) - f.min(-1)) > 60).mean())


def _wait_screenshot_change(browser: HeadlessChromium, before: np.ndarray, timeout_s: float) -> np.ndarray:
    """Screenshots until the scene area differs from ``before`` (the browser got and drew the new frame)."""
    import time

    deadline = time.monotonic() + timeout_s
    shot = browser.screenshot()
    while time.monotonic() < deadline:
        if np.abs(shot[:, :PANEL_X].astype(int) - before[:, :PANEL_X]).mean() > 1.0:
            return shot
        time.sleep(0.5)
        shot = browser.screenshot()
    return shot


def test_viewer_page_shows_the_model_and_follows_the_time_slider(tiny_model_dir, tmp_path):
    import time

    m, _ = tiny_model_dir
    viewer = open_viewer(m, device="cpu", backend="torch", config=ViewerConfig(port=_free_port(), max_side=128))
    with viewer, HeadlessChromium(width=960, height=720) as browser:
        blank = browser.screenshot()  # about:blank
        browser.navigate(viewer.url)
        assert viewer.wait_for_frames(1, 60), "the page never reported a camera / got a frame"
        shot1 = _wait_screenshot_change(browser, blank, 30)
        time.sleep(1.0)  # let the image fade in fully
        shot1 = browser.screenshot()
        assert _saturated_fraction(shot1[:, :PANEL_X]) > 0.05, "the scene area shows no rendered Gaussians"

        n = viewer.frames_sent()
        viewer.controls.time_s.value = 0.6  # through viser's server-side GUI handle
        assert viewer.wait_for_frames(n + 1, 60)
        shot2 = _wait_screenshot_change(browser, shot1, 30)
        diff = np.abs(shot2[:, :PANEL_X].astype(int) - shot1[:, :PANEL_X]).mean()
        assert diff > 1.0, f"moving the time slider did not change the page (mean diff {diff:.2f})"
        out = os.environ.get("SYNC4DGS_SCREENSHOT_DIR")
        if out:  # keep the screenshots for a human look
            import cv2

            for name, img in (("viewer_t0.png", shot1), ("viewer_t0.6.png", shot2)):
                cv2.imwrite(str(Path(out) / name), cv2.cvtColor(img, cv2.COLOR_RGB2BGR))
    assert viewer.server is None  # stopped cleanly
