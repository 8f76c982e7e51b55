"""Attach the viewer to a running training (``sync4dgs train ... --viewer``).

The trainer owns the loop; it calls ONE documented hook::

    viewer = start_training_viewer(model, time_maps, scene=scene, port=8080)   # before the loop
    for it in range(n_iters):
        ...  # optimiser step
        viewer.update(model, time_maps, it)                                   # every iteration is fine
    viewer.close()                                                            # after the loop

``update`` is cheap unless it acts: it acts at most every ``every`` iterations (and ``min_interval_s``
seconds) and only while a browser is connected; then it takes a detached copy of the model's tensors (one
device-to-device copy, in the trainer's thread, so the viewer never sees a half-updated or resized model)
and hands it to the viewer, which renders it in its own thread. Training is not blocked by rendering.
benchmarks/viewer_overhead.py measures the slowdown.
"""

from __future__ import annotations

import copy
import logging
import time
from typing import Any

import torch

from sync4dgs.data.scene import SceneSpec
from sync4dgs.eval.render_views import ViewRenderSettings
from sync4dgs.timemap import TimeMaps
from sync4dgs.viewer.overlays import Trajectories
from sync4dgs.viewer.server import Sync4DViewer, ViewerConfig

log = logging.getLogger(__name__)


@torch.no_grad()
def snapshot_model(model: Any) -> Any:
    """A detached deep copy of ``model`` (parameters cloned on their device, no gradients, eval mode)."""
    snap = copy.deepcopy(model)
    for p in snap.parameters():
        p.requires_grad_(False)
        p.grad = None
    return snap.eval()


class ViewerCallback:
    """The trainer's handle on a live viewer: ``update(model, time_maps, iteration)`` + ``close()``.

    Args:
        viewer: a started :class:`Sync4DViewer`.
        every: snapshot at most every this many iterations.
        min_interval_s: and at most once per this many seconds of wall time.
    """

    def __init__(self, viewer: Sync4DViewer, every: int = 100, min_interval_s: float = 1.0):
        self.viewer, self.every, self.min_interval_s = viewer, max(int(every), 1), float(min_interval_s)
        self._last_iteration: int | None = None
        self._last_time = 0.0
        self.n_snapshots = 0
        self.snapshot_seconds = 0.0       # trainer-thread time spent taking snapshots (host wall time)

    def update(self, model: Any, time_maps: TimeMaps | None, iteration: int) -> bool:
        """Maybe hand a snapshot of ``model`` to the viewer. Returns True when it did."""
        if self._last_iteration is not None and iteration - self._last_iteration < self.every:
            return False
        now = time.monotonic()
        if now - self._last_time < self.min_interval_s or self.viewer.n_clients == 0:
            return False
        self.viewer.update(snapshot_model(model), time_maps, iteration)
        self._last_iteration, self._last_time = int(iteration), now
        self.snapshot_seconds += time.monotonic() - now
        self.n_snapshots += 1
        return True

    def close(self) -> None:
        """Stop the viewer (idempotent)."""
        self.viewer.stop()


def start_training_viewer(model: Any, time_maps: TimeMaps | None = None, *, scene: SceneSpec | None = None,
                          trajectories: Trajectories | None = None, settings: ViewRenderSettings | None = None,
                          host: str = "127.0.0.1", port: int = 8080, every: int = 100, max_fps: float = 5.0,
                          max_side: int | None = None, device: str | torch.device = "auto",
                          cuda_stream: bool = True) -> ViewerCallback:
    """Start a viewer on a snapshot of the initial ``model`` and return the trainer's :class:`ViewerCallback`.

    ``max_fps`` is lower than the standalone viewer's default to leave the device to training: on an H100, a
    viewer rendering 10 frames/s (1024 px) slowed a 10 ms/iteration training loop by 10.7 % (noise 4.3 %,
    benchmarks/viewer_overhead.py); the default of 5 renders/s halves that rendering load.
    ``device`` defaults to the model's device; ``cuda_stream`` renders on the viewer's own CUDA stream.
    """
    if device == "auto":
        device = next(iter(model.parameters())).device
    cfg = ViewerConfig(host=host, port=port, max_fps=max_fps, max_side=max_side, cuda_stream=cuda_stream)
    viewer = Sync4DViewer(snapshot_model(model), time_maps, scene=scene, trajectories=trajectories,
                          settings=settings, device=device, config=cfg).start()
    log.info("training viewer at %s (model refreshed every %d iterations while a browser is connected)",
             viewer.url, every)
    return ViewerCallback(viewer, every=every)
