"""Checks ``train()`` runs before it writes anything: the model path, the scene, the config's values, the
machine (device, render backend), the input files and the checkpoint to resume from.

A run that fails here leaves the model folder exactly as it was (it is not even created). Every failure is a
one-line DataFormatError (naming the file) or ConfigError (naming the key).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from sync4dgs.data.scene import SCENE_FILE, SceneSpec, load_scene
from sync4dgs.errors import ConfigError, DataFormatError, DeviceError
from sync4dgs.model.folder import checkpoints_dir
from sync4dgs.train.checkpoint import list_checkpoints, load_checkpoint
from sync4dgs.train.validation import validate_config
from sync4dgs.utils.device import resolve_device

log = logging.getLogger(__name__)


@dataclass
class Preflight:
    """What the checks found: the loaded scene, the device to train on and the checkpoint to resume (its path
    and contents, already on ``device``; None for a fresh run)."""

    scene: SceneSpec
    device: torch.device
    checkpoint_path: Path | None
    checkpoint: dict[str, Any] | None


def check_runtime(config: Any, device: torch.device | None = None) -> torch.device:
    """The device ``train.device`` names on this machine, and a render backend that can run on it.

    ConfigError naming ``train.device`` when CUDA is asked for but absent, ``render.backend`` when gsplat cannot
    run (no CUDA device, or its CUDA extension does not load).
    """
    if device is None:
        try:
            device = resolve_device(config.train.device)
        except DeviceError as e:
            raise ConfigError(f"config key 'train.device': {e}") from None
    if config.render.backend == "gsplat":
        if device.type != "cuda":
            raise ConfigError(f"config key 'render.backend': 'gsplat' needs a CUDA device, but training runs on "
                              f"{device} (use 'auto' or 'torch')")
        from sync4dgs.render.capability import cuda_backend_status  # noqa: PLC0415

        ok, reason = cuda_backend_status()
        if not ok:
            raise ConfigError(f"config key 'render.backend': 'gsplat' is unavailable: {reason}")
    return device


def _input_file(path: Any, what: str) -> None:
    if path is not None and not Path(path).is_file():
        raise DataFormatError(Path(path), f"{what} not found (or not a file)")


def resume_checkpoint(model_path: Path, start_checkpoint: Any, device: torch.device
                      ) -> tuple[Path | None, dict[str, Any] | None]:
    """(path, contents) of the checkpoint to resume: ``start_checkpoint`` when given (it must load), else the
    newest of ``M/checkpoints`` that loads; a truncated or corrupt newer one is skipped with a warning (the run
    resumes from the previous intact one). (None, None) when M has no checkpoint. DataFormatError when
    checkpoints exist but none is readable."""
    if start_checkpoint is not None:
        path = Path(start_checkpoint)
        return path, load_checkpoint(path, device)
    found = list_checkpoints(model_path)
    problems = []
    for _it, path in reversed(found):
        try:
            data = load_checkpoint(path, device)
        except DataFormatError as e:
            problems.append(e)
            log.warning("%s is unreadable (%s); trying the previous checkpoint", path, e.reason)
            continue
        if problems:
            log.warning("resuming from %s instead of the damaged %s", path, problems[0].path)
        return path, data
    if problems:
        raise DataFormatError(problems[0].path, f"no readable checkpoint in {checkpoints_dir(model_path)} "
                                                f"({len(problems)} damaged); delete the folder's checkpoints to "
                                                "start over")
    return None, None


def preflight(source_path: Any, model_path: Path, config: Any, *, offsets_path: Any = None,
              trajectories_path: Any = None, start_checkpoint: Any = None,
              device: torch.device | None = None) -> Preflight:
    """Run every check that needs no write (see the module docstring). ``device``: a torchrun rank's device
    (overrides ``train.device``)."""
    model_path = Path(model_path)
    if model_path.exists() and not model_path.is_dir():
        raise DataFormatError(model_path, "--model_path exists and is not a folder")
    validate_config(config)
    scene = load_scene(source_path)
    if not scene.train_cameras:
        raise DataFormatError(scene.root / SCENE_FILE, f"no training cameras: every camera is in test_cameras "
                                                       f"{scene.test_cameras}")
    device = check_runtime(config, device)
    _input_file(offsets_path, "offsets file")
    _input_file(trajectories_path, "trajectories file")
    ckpt_path, ckpt = resume_checkpoint(model_path, start_checkpoint, device)
    return Preflight(scene, device, ckpt_path, ckpt)
