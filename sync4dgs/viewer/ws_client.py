"""A minimal scripted viser client (no browser): it connects to the viewer's websocket, reports camera poses
like a browser would, and drains what the server sends. For benchmarks and browser-free tests."""

from __future__ import annotations

import threading
from typing import Any

import numpy as np

from sync4dgs.viewer.camera import fov_y_from_intrinsics, viewmat_to_viser


class ScriptedViserClient:
    """Context manager: ``send_camera(viewmat, K, width, height)`` sets this client's view.

    ``url`` is the viewer's http URL (``Sync4DViewer.url``); ``bytes_received`` counts server traffic.
    """

    def __init__(self, url: str, timeout_s: float = 10.0):
        self.ws_url = url.replace("http://", "ws://", 1)
        self.timeout_s = timeout_s
        self.bytes_received = 0
        self._ws: Any = None
        self._thread: threading.Thread | None = None
        self._closed = threading.Event()

    def __enter__(self) -> "ScriptedViserClient":
        import viser  # noqa: PLC0415
        from websockets.sync.client import connect  # noqa: PLC0415

        self._ws = connect(self.ws_url, subprotocols=[f"viser-v{viser.__version__}"], max_size=None,
                           open_timeout=self.timeout_s)
        self._thread = threading.Thread(target=self._drain, name="scripted-viser-client", daemon=True)
        self._thread.start()
        return self

    def _drain(self) -> None:
        from websockets.exceptions import ConnectionClosed  # noqa: PLC0415

        while not self._closed.is_set():
            try:
                msg = self._ws.recv(timeout=0.2)
            except TimeoutError:
                continue
            except ConnectionClosed:
                return
            self.bytes_received += len(msg)

    def send_camera(self, viewmat: np.ndarray, K: np.ndarray, width: int, height: int) -> None:
        """Report a view (world-to-camera OpenCV ``viewmat`` [4, 4], intrinsics ``K`` [3, 3] for width x height)."""
        import msgspec  # noqa: PLC0415
        from viser import _messages  # noqa: PLC0415

        wxyz, pos = viewmat_to_viser(viewmat)
        forward = np.asarray(viewmat)[2, :3]
        up = -np.asarray(viewmat)[1, :3]
        msg = _messages.ViewerCameraMessage(
            wxyz=tuple(float(x) for x in wxyz), position=tuple(float(x) for x in pos),
            fov=fov_y_from_intrinsics(K, height), near=0.01, far=1000.0, image_height=int(height),
            image_width=int(width), look_at=tuple(float(x) for x in pos + forward),
            up_direction=tuple(float(x) for x in up))
        self._ws.send(msgspec.msgpack.encode(msg.as_serializable_dict()))

    def __exit__(self, *exc: Any) -> None:
        self._closed.set()
        if self._ws is not None:
            self._ws.close()
        if self._thread is not None:
            self._thread.join(timeout=5.0)
