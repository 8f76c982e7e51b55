"""``train()``: stage 2 from a scene folder to a model folder (see the contract's model-folder layout)."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from sync4dgs.data.scene import load_scene
from sync4dgs.sync.timemap import TimeMaps
from sync4dgs.train.checkpoint import latest_checkpoint, load_checkpoint
from sync4dgs.train.config import ExperimentConfig
from sync4dgs.train.monitor import Monitor
from sync4dgs.train.saving import Checkpointer, save_session_weights, session_time_maps
from sync4dgs.train.session import Session
from sync4dgs.train.setup import build_session
from sync4dgs.train.trainer import Trainer
from sync4dgs.utils.atomic import write_json

log = logging.getLogger(__name__)

CONFIG_FILE = "config.json"
STATS_FILE = "train_stats.json"


@dataclass
class TrainResult:
    """What a run produced. ``model_file``: the final weights; ``stats``: train_stats.json contents."""

    model_path: Path
    iteration: int
    time_maps: TimeMaps
    model_file: Path
    stats: dict[str, Any] = field(default_factory=dict)


def train(source_path: str | Path, model_path: str | Path, config: ExperimentConfig, *, offsets_path=None,
          no_align: bool = False, time_maps_override: TimeMaps | None = None, start_checkpoint=None,
          progress: bool = True) -> TrainResult:
    """Train the 4D Gaussians of the scene at ``source_path`` jointly with per-camera time maps.

    Args:
        source_path: canonical scene folder (scene.json).
        model_path: output folder M (created); an existing M with checkpoints is resumed automatically.
        config: the experiment config (saved to M/config.json).
        offsets_path: initial time maps (TimeMaps JSON, e.g. a stage-1 offsets.json); a trajectories.npz
            next to it initialises dynamic Gaussians. Skips stage 1.
        no_align: skip stage 1; start from the scene's known maps, else identity.
        time_maps_override: fixed time maps (not learned): "oracle" (ground truth) or "naive" (identity) runs.
        start_checkpoint: resume from this checkpoint instead of M's latest.
        progress: show progress bars.
    """
    model_path = Path(model_path)
    model_path.mkdir(parents=True, exist_ok=True)
    scene = load_scene(source_path)
    ckpt_path = Path(start_checkpoint) if start_checkpoint is not None else latest_checkpoint(model_path)
    config.save(model_path / CONFIG_FILE)
    session = build_session(scene, model_path, config, offsets_path=offsets_path, no_align=no_align,
                            time_maps_override=time_maps_override, resuming=ckpt_path is not None,
                            progress=progress)
    if ckpt_path is not None:
        ckpt = load_checkpoint(ckpt_path, session.device)
        _warn_config_changes(ckpt.get("config", {}), config.to_dict(), ckpt_path)
        session.load_state_dict(ckpt)
        log.info("resumed from %s (iteration %d)", ckpt_path, session.state.step)
    start = session.state.step
    trainer = Trainer(session)
    threads = torch.get_num_threads()
    if session.device.type == "cpu" and config.train.cpu_threads > 0:
        torch.set_num_threads(config.train.cpu_threads)
    try:
        trainer.run()
    finally:
        torch.set_num_threads(threads)
    it = session.state.step
    final = save_session_weights(session, it)
    if it > start:
        next(cb for cb in session.callbacks if isinstance(cb, Checkpointer)).checkpoint(it)
    stats = _stats(session, trainer, start)
    write_json(model_path / STATS_FILE, stats)
    return TrainResult(model_path, it, session_time_maps(session), final, stats)


def _warn_config_changes(old: dict[str, Any], new: dict[str, Any], where: Path, prefix: str = "") -> None:
    """Log (not fail) settings that differ between a checkpoint and the run resuming it."""
    for k in sorted(set(old) | set(new)):
        a, b = old.get(k), new.get(k)
        if isinstance(a, dict) and isinstance(b, dict):
            _warn_config_changes(a, b, where, f"{prefix}{k}.")
        elif a != b and f"{prefix}{k}" != "train.iterations":
            log.warning("resuming %s with %s%s = %r (checkpoint: %r)", where, prefix, k, b, a)


def _stats(session: Session, trainer: Trainer, start: int) -> dict[str, Any]:
    monitor = next((cb for cb in session.callbacks if isinstance(cb, Monitor)), None)
    last = monitor.last if monitor is not None else {}
    n_its = session.state.step - start
    return {"iterations": session.state.step, "iterations_this_run": n_its,
            "train_seconds": trainer.train_seconds, "images_per_second": n_its / max(trainer.train_seconds, 1e-9),
            "n_static": session.model.n_static, "n_dynamic": session.model.n_dynamic,
            "num_keyframes": session.model.num_keyframes, "final_train_psnr": last.get("psnr"),
            "final_train_loss": last.get("loss"), "device": str(session.device),
            "finished_at": time.strftime("%Y-%m-%dT%H:%M:%S")}
