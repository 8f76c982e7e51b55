"""Training segments: one per run of ``train`` on a model folder (a fresh start, then each resume).

:class:`SegmentLog` is a callback whose state goes into every checkpoint, so the history survives crashes and
resumes: a run resumed from ``ckpt_N`` inherits the segments up to N (a crashed run's segment is recorded up
to its last checkpoint; its work after that was lost and is redone). ``train_stats.json`` reports the
segments and their totals, so re-running a finished model (zero new iterations) keeps the training time.
"""

from __future__ import annotations

import time
from typing import Any

from sync4dgs.train.callbacks import Callback, TrainState


class SegmentLog(Callback):
    """Per-run segments ``{"start_iteration", "end_iteration", "train_seconds", "world_size"}``.

    Restoring a state dict takes effect only before training starts (a resume); the NaN guard's in-run restores
    do not rewrite the history of the running segment.
    """

    name = "segments"

    def __init__(self, world_size: int = 1):
        self.world_size = int(world_size)
        self.previous: list[dict[str, Any]] = []
        self.start_iteration: int | None = None
        self.end_iteration = 0
        self._t0 = 0.0
        self._seconds = 0.0
        self._running = False

    def on_train_start(self, state: TrainState) -> None:
        self.start_iteration = self.end_iteration = state.step
        self._t0 = time.perf_counter()
        self._running = True

    def after_step(self, state: TrainState, info: Any) -> None:
        self.end_iteration = state.step

    def on_train_end(self, state: TrainState) -> None:
        if self._running:
            self._seconds = time.perf_counter() - self._t0
            self.end_iteration = state.step
        self._running = False

    def current(self) -> dict[str, Any] | None:
        """The running (or just finished) segment of this run; None before training started."""
        if self.start_iteration is None:
            return None
        seconds = time.perf_counter() - self._t0 if self._running else self._seconds
        return {"start_iteration": self.start_iteration, "end_iteration": self.end_iteration,
                "train_seconds": seconds, "world_size": self.world_size}

    def segments(self) -> list[dict[str, Any]]:
        """Every segment that trained at least one iteration, oldest first."""
        cur = self.current()
        every = self.previous + ([cur] if cur is not None else [])
        return [s for s in every if s["end_iteration"] > s["start_iteration"]]

    def state_dict(self) -> dict[str, Any]:
        return {"segments": self.segments()}

    def load_state_dict(self, d: dict[str, Any]) -> None:
        if self._running or self.start_iteration is not None:
            return
        self.previous = [dict(s) for s in d.get("segments", [])]


def segment_totals(segments: list[dict[str, Any]]) -> dict[str, Any]:
    """Totals over segments: train seconds, iterations and images per second (images of every rank)."""
    seconds = sum(float(s["train_seconds"]) for s in segments)
    its = sum(int(s["end_iteration"]) - int(s["start_iteration"]) for s in segments)
    images = sum((int(s["end_iteration"]) - int(s["start_iteration"])) * int(s.get("world_size", 1))
                 for s in segments)
    return {"train_seconds": seconds, "iterations_trained": its,
            "images_per_second": images / seconds if seconds > 0 else 0.0}
