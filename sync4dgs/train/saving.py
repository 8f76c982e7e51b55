"""Writing a run's outputs: weights (``M/point_cloud/iteration_<n>/model.pt`` via sync4dgs.model.io),
learned time maps (``M/time_maps.json``) and periodic resume checkpoints, as a callback."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sync4dgs.model.folder import model_file, write_time_maps
from sync4dgs.model.io import save_model
from sync4dgs.timemap import TimeMaps
from sync4dgs.train.callbacks import Callback, StepInfo, TrainState
from sync4dgs.train.checkpoint import checkpoint_path, save_checkpoint
from sync4dgs.train.config import TrainConfig
from sync4dgs.train.session import Session

log = logging.getLogger(__name__)



def learned_time_maps(maps: TimeMaps, test_cameras: list[str]) -> TimeMaps:
    """Mark held-out (test) cameras other than the reference as "unaligned": stage 2 never learns them. Their
    offset, rate and confidence stay those of the initial maps (stage 1 aligns held-out cameras too), which
    evaluation uses for them when confident (sync4dgs/eval/frame_times.py)."""
    for name in test_cameras:
        if name in maps.cameras and maps.cameras[name].status != "reference":
            maps.cameras[name].status = "unaligned"
    return maps


def save_weights(model_path: Path, iteration: int, model, time_maps: TimeMaps, meta: dict[str, Any]) -> Path:
    """Save the model at ``iteration`` and refresh ``M/time_maps.json``; returns the model.pt path."""
    path = model_file(model_path, iteration)
    save_model(path, model, time_maps, {**meta, "iteration": int(iteration)})
    write_time_maps(model_path, time_maps)
    log.info("saved model at iteration %d: %s", iteration, path)
    return path


def flag_non_overlapping(maps: TimeMaps, clips: dict[str, tuple[float, float, float]]) -> list[str]:
    """Mark "unaligned" (confidence 0) every camera whose clip, placed in global time by its map, overlaps no other
    camera's clip by at least one of its frames: an offset the recordings cannot support (e.g. driven far off by a
    diverging stage 2). ``clips``: name -> (first tau_s, last tau_s, fps). Returns the flagged names."""
    spans = {n: (maps.cameras[n].offset_s + maps.cameras[n].rate * a, maps.cameras[n].offset_s + maps.cameras[n].rate * b,
                 fps) for n, (a, b, fps) in clips.items() if n in maps.cameras}
    flagged = []
    for n, (lo, hi, fps) in spans.items():
        best = max((min(hi, h) - max(lo, l) for m, (l, h, _) in spans.items() if m != n), default=None)
        if best is not None and best < 1.0 / fps and maps.cameras[n].status not in ("reference", "fixed"):
            maps.cameras[n].status, maps.cameras[n].confidence = "unaligned", 0.0
            flagged.append(n)
    return flagged


def session_time_maps(session: Session) -> TimeMaps:
    """The session's current time maps, held-out cameras marked (see :func:`learned_time_maps`), cameras whose
    learned offset leaves no overlap with any other camera marked "unaligned" (:func:`flag_non_overlapping`)."""
    maps = learned_time_maps(session.time.time_maps(), list(session.scene.test_cameras))
    clips = {c.name: (float(c.tau_s()[0]), float(c.tau_s()[-1]), float(c.fps)) for c in session.scene.cameras}
    for name in flag_non_overlapping(maps, clips):
        log.warning("camera %s: its learned offset %.3f s leaves its clip overlapping no other camera's; marked "
                    "unaligned (check stage 1's estimate for it, or train with a smaller time.offset_lr)",
                    name, maps.cameras[name].offset_s)
    return maps


def save_session_weights(session: Session, iteration: int) -> Path:
    """Weights + time_maps.json of ``session`` at ``iteration`` (meta: scene, config, camera split)."""
    meta = {"scene": str(session.scene.root), "config": session.cfg.to_dict(),
            **({"background": session.background_choice.to_dict()} if session.background_choice else {}),
            "train_cameras": [c.name for c in session.scene.train_cameras],
            "test_cameras": list(session.scene.test_cameras)}
    return save_weights(session.model_path, iteration, session.model, session_time_maps(session), meta)


class Checkpointer(Callback):
    """Saves resume checkpoints every ``train.checkpoint_every`` iterations and weights at
    ``train.save_iterations`` (the final save is done by the caller).

    Multi-process training sets ``prepare`` (run on every rank before a checkpoint is captured: it gathers the
    ranks' running statistics) and ``is_writer`` (True on rank 0 only: the others capture but do not write).
    """

    name = "checkpointer"

    def __init__(self, cfg: TrainConfig, model_path: Path, capture: Callable[[], dict],
                 save_weights_at: Callable[[int], Any]):
        self.cfg = cfg
        self.model_path = Path(model_path)
        self.capture = capture
        self.save_weights_at = save_weights_at
        self.prepare: Callable[[], None] | None = None
        self.is_writer = True

    def after_step(self, state: TrainState, info: StepInfo) -> None:
        if info.step in self.cfg.save_iterations:
            self.save_weights_at(info.step)
        if self.cfg.checkpoint_every > 0 and info.step % self.cfg.checkpoint_every == 0:
            self.checkpoint(info.step)

    def checkpoint(self, step: int) -> Path:
        """Write ``ckpt_<step>.pt`` (its path; on a non-writing rank nothing is written)."""
        if self.prepare is not None:
            self.prepare()
        if not self.is_writer:
            return checkpoint_path(self.model_path, step)
        return save_checkpoint(self.model_path, step, self.capture(), keep=self.cfg.keep_checkpoints)
