"""``train()``: stage 2 from a scene folder to a model folder (see the contract's model-folder layout)."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch

from sync4dgs.data.frames import open_frames
from sync4dgs.model import folder
from sync4dgs.timemap import TimeMaps
from sync4dgs.train.callbacks import Callback
from sync4dgs.train.checkpoint import remove_orphan_temporaries
from sync4dgs.train.config import ExperimentConfig
from sync4dgs.train.distributed.launch import distributed_requested
from sync4dgs.train.modelfolder import ModelFolderLock, SetupRollback
from sync4dgs.train.monitor import Monitor
from sync4dgs.train.preflight import Preflight, preflight
from sync4dgs.train.saving import Checkpointer, save_session_weights, session_time_maps
from sync4dgs.train.segments import SegmentLog, segment_totals
from sync4dgs.train.session import Session
from sync4dgs.train.setup import build_session, needs_stage1, run_stage1
from sync4dgs.train.trainer import Trainer

log = logging.getLogger(__name__)


CallbackFactory = Callable[[Session], Callback]


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
          progress: bool = True, extra_callbacks: Sequence[CallbackFactory] = (),
          trajectories_path=None, force_unlock: bool = False) -> TrainResult:
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
        trajectories_path: stage-1 trajectories.npz to initialise dynamic Gaussians from, whatever the source of
            the time maps (default: the one next to ``offsets_path`` / written by stage 1).
        force_unlock: take over the model folder's lock even when its holder may be alive (a run known to be
            dead; see sync4dgs.train.modelfolder for when a lock counts as stale by itself).
        extra_callbacks: factories ``session -> Callback`` for features that live outside the trainer (e.g. the
            live viewer of ``sync4dgs train --viewer``, built in sync4dgs.cli). They run after the built-in
            callbacks, on rank 0 only under torchrun, and are not part of checkpoints unless they return state.

    Under torchrun (``WORLD_SIZE`` set) this process is one rank of a data-parallel job
    (sync4dgs.train.distributed): each rank renders its own sample of every iteration, gradients and
    densification statistics are combined over ranks, rank 0 alone writes M. Without ``WORLD_SIZE`` nothing
    of torch.distributed is used.
    """
    model_path = Path(model_path)
    runtime = None
    if distributed_requested():        # launched by torchrun: this process is one rank of a data-parallel job
        from sync4dgs.train.distributed import DistributedRuntime  # noqa: PLC0415

        runtime = DistributedRuntime.init(config)
    try:
        return _train(source_path, model_path, config, offsets_path=offsets_path, no_align=no_align,
                      time_maps_override=time_maps_override, start_checkpoint=start_checkpoint, progress=progress,
                      runtime=runtime, extra_callbacks=extra_callbacks, trajectories_path=trajectories_path,
                      force_unlock=force_unlock)
    finally:
        if runtime is not None:
            runtime.close()


def _train(source_path, model_path: Path, config: ExperimentConfig, *, offsets_path, no_align: bool,
           time_maps_override: TimeMaps | None, start_checkpoint, progress: bool, runtime,
           extra_callbacks: Sequence[CallbackFactory] = (), trajectories_path=None,
           force_unlock: bool = False) -> TrainResult:
    """train() for a single process (``runtime`` None) or one rank of a torchrun job (rank 0 writes).

    Nothing is written before every check of :func:`sync4dgs.train.preflight.preflight` passed; rank 0 then
    holds the folder's lock for the whole run, and a failure before the first iteration puts the folder back as
    it was (a folder this run created is removed)."""
    writer = runtime is None or runtime.is_main
    t_start = time.perf_counter()
    pre = preflight(source_path, model_path, config, offsets_path=offsets_path, trajectories_path=trajectories_path,
                    start_checkpoint=start_checkpoint, device=None if runtime is None else runtime.device)
    if not writer:
        return _run(pre, model_path, config, t_start, writer, runtime, None, offsets_path=offsets_path,
                    no_align=no_align, time_maps_override=time_maps_override, progress=progress,
                    extra_callbacks=extra_callbacks, trajectories_path=trajectories_path)
    rollback = SetupRollback(model_path)
    lock = ModelFolderLock(model_path, force=force_unlock)
    lock.acquire()
    try:
        rollback.recover()                 # a killed run's moved-aside folders and half-written temporaries
        return _run(pre, model_path, config, t_start, writer, runtime, rollback, offsets_path=offsets_path,
                    no_align=no_align, time_maps_override=time_maps_override, progress=progress,
                    extra_callbacks=extra_callbacks, trajectories_path=trajectories_path)
    except BaseException:
        if not rollback.committed:         # failed before its first iteration: leave no trace
            rollback.restore()
            lock.release()
            rollback.remove_if_created()
        raise
    finally:
        lock.release()


def _run(pre: Preflight, model_path: Path, config: ExperimentConfig, t_start: float, writer: bool, runtime,
         rollback: SetupRollback | None, *, offsets_path, no_align: bool, time_maps_override: TimeMaps | None,
         progress: bool, extra_callbacks: Sequence[CallbackFactory], trajectories_path) -> TrainResult:
    """The run after the checks: set up the session, train, save. ``rollback`` (rank 0) is committed once the
    first iteration is done."""
    scene, ckpt_path, ckpt = pre.scene, pre.checkpoint_path, pre.checkpoint
    pre.checkpoint = None                  # the session holds its tensors once loaded
    resuming = ckpt_path is not None
    how = dict(offsets_path=offsets_path, no_align=no_align, override=time_maps_override, resuming=resuming)
    if rollback is not None and needs_stage1(config, **how):
        rollback.move_aside(folder.STAGE1_DIR)
    stage1 = None
    if runtime is not None:
        stage1 = _prepare_on_main(runtime, scene, model_path, config, **how)
    session = build_session(scene, model_path, config, offsets_path=offsets_path, no_align=no_align,
                            time_maps_override=time_maps_override, resuming=resuming,
                            progress=progress and writer, device=pre.device, stage1=stage1,
                            trajectories_path=trajectories_path)
    segments = SegmentLog(1 if runtime is None else runtime.world_size)
    session.callbacks.insert(0, segments)
    if ckpt is not None:
        if writer:
            _warn_config_changes(ckpt.get("config", {}), config.to_dict(), ckpt_path)
        session.load_state_dict(ckpt)
        log.info("resumed from %s (iteration %d)", ckpt_path, session.state.step)
        del ckpt
    if runtime is not None:
        from sync4dgs.train.distributed import attach  # noqa: PLC0415

        attach(session, runtime, resumed=resuming)
    if writer:
        session.callbacks.extend(factory(session) for factory in extra_callbacks)
        folder.write_config(model_path, config.to_dict())
        if not resuming:                   # what stage 2 started from, so metrics can show what it changed
            folder.write_initial_time_maps(model_path, session_time_maps(session))
        for orphan in remove_orphan_temporaries(model_path):
            log.warning("removed %s, left over by an interrupted checkpoint write", orphan)
    setup_seconds = time.perf_counter() - t_start
    start = session.state.step
    if rollback is not None:
        session.callbacks.insert(0, _CommitAfterFirstStep(rollback))
    trainer = Trainer(session)
    threads = torch.get_num_threads()
    if session.device.type == "cpu" and config.train.cpu_threads > 0:
        torch.set_num_threads(config.train.cpu_threads)
    try:
        trainer.run()
    finally:
        torch.set_num_threads(threads)
    it = session.state.step
    if rollback is not None:
        rollback.commit()                  # also when there was nothing left to train (a finished model)
    if runtime is not None:
        session.distributed.check_replicas(it, config.distributed.check_tolerance)
    final = save_session_weights(session, it) if writer else folder.model_file(model_path, it)
    if it > start:
        next(cb for cb in session.callbacks if isinstance(cb, Checkpointer)).checkpoint(it)
    stats = _stats(session, trainer, start, segments, 1 if runtime is None else runtime.world_size)
    stats["setup_seconds"] = setup_seconds       # scene, stage 1 (when run here), model init, frame loading
    stats["total_seconds"] = time.perf_counter() - t_start
    stats["frames_source"] = session.frames.mode
    if writer:
        folder.write_stats(model_path, stats)
    if runtime is not None:
        runtime.barrier()              # every rank returns once rank 0's files exist
    return TrainResult(model_path, it, session_time_maps(session), final, stats)


class _CommitAfterFirstStep(Callback):
    """Commits the setup rollback once the first iteration of the run is done (from then on a failure keeps
    the folder: its checkpoints are the run's progress)."""

    name = "setup_commit"

    def __init__(self, rollback: SetupRollback):
        self.rollback = rollback

    def after_step(self, state, info) -> None:
        if not self.rollback.committed:
            self.rollback.commit()


def _prepare_on_main(runtime, scene, model_path: Path, config: ExperimentConfig, **how) -> tuple | None:
    """Work done once per job, on rank 0, before the ranks build their sessions: decode video frame caches
    and run stage-1 alignment when needed (its result is shared with every rank)."""
    def prepare():
        for cam in scene.train_cameras:
            open_frames(scene, cam)                   # builds the on-disk frame cache of video sources
        return run_stage1(scene, folder.stage1_dir(model_path), config.align) if needs_stage1(config, **how) else None
    return runtime.from_main(prepare)


def _warn_config_changes(old: dict[str, Any], new: dict[str, Any], where: Path, prefix: str = "") -> None:
    """Log (not fail) settings that differ between a checkpoint and the run resuming it."""
    for k in sorted(set(old) | set(new)):
        a, b = old.get(k), new.get(k)
        if isinstance(a, dict) and isinstance(b, dict):
            _warn_config_changes(a, b, where, f"{prefix}{k}.")
        elif a != b and f"{prefix}{k}" != "train.iterations":
            log.warning("resuming %s with %s%s = %r (checkpoint: %r)", where, prefix, k, b, a)


def _stats(session: Session, trainer: Trainer, start: int, segments: SegmentLog,
           world_size: int = 1) -> dict[str, Any]:
    """train_stats.json. ``train_seconds`` and ``images_per_second`` cover every segment of the model (the
    fresh start and each resume, listed in ``segments``); ``*_this_run`` this run only. Images count every
    rank's (``world_size`` per iteration). Under torchrun the final train loss/PSNR are rank 0's samples only."""
    monitor = next((cb for cb in session.callbacks if isinstance(cb, Monitor)), None)
    last = monitor.last if monitor is not None else {}
    n_its = session.state.step - start
    history = segments.segments()
    totals = segment_totals(history)
    stats = {"iterations": session.state.step, "iterations_this_run": n_its,
             "train_seconds": totals["train_seconds"], "train_seconds_this_run": trainer.train_seconds,
             "images_per_second": totals["images_per_second"],
             "images_per_second_this_run": n_its * world_size / max(trainer.train_seconds, 1e-9),
             "segments": history,
             "n_static": session.model.n_static, "n_dynamic": session.model.n_dynamic,
             "num_keyframes": session.model.num_keyframes, "final_train_psnr": last.get("psnr"),
             "final_train_loss": last.get("loss"), "device": str(session.device),
             "finished_at": time.strftime("%Y-%m-%dT%H:%M:%S")}
    stats.update(_memory_stats(session.device))
    if world_size > 1 or session.distributed is not None:
        stats["world_size"] = world_size
    return stats


def _memory_stats(device: torch.device) -> dict[str, float]:
    """Peak memory of this process in GiB: CUDA allocated/reserved on ``device`` (since process start or the
    last reset) and host resident set size."""
    out: dict[str, float] = {}
    if device.type == "cuda":
        out["peak_gpu_allocated_gib"] = torch.cuda.max_memory_allocated(device) / 2**30
        out["peak_gpu_reserved_gib"] = torch.cuda.max_memory_reserved(device) / 2**30
    try:
        import resource  # noqa: PLC0415  (POSIX only)

        out["peak_host_rss_gib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20   # KiB on Linux
    except ImportError:
        pass
    return out
