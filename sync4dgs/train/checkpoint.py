"""Resume checkpoints: ``M/checkpoints/ckpt_<n>.pt`` (atomic torch.save of a session state dict).

A checkpoint holds the model tensors (any sizes), every optimiser state, strategy/time/logging states, the
samplers' and torch's RNG states and the iteration, so training N + resume N reproduces training 2N.
"""

from __future__ import annotations

import logging
import pickle
import re
import zipfile
from pathlib import Path
from typing import Any

import torch

from sync4dgs.errors import DataFormatError
from sync4dgs.model.folder import checkpoint_iteration, checkpoint_path, checkpoints_dir
from sync4dgs.utils.atomic import atomic_path

log = logging.getLogger(__name__)

CHECKPOINT_FORMAT = "sync4dgs.train.checkpoint"
CHECKPOINT_VERSION = 1
REQUIRED_KEYS = ("iteration", "model", "optimizers", "callbacks", "schedule")
_TMP_RE = re.compile(r"^\.ckpt_\d+\.pt\..+\.tmp\.pt$")     # atomic_path's temporary of a checkpoint


def list_checkpoints(model_path: str | Path) -> list[tuple[int, Path]]:
    """(iteration, path) of every checkpoint in ``M/checkpoints``, oldest first."""
    root = checkpoints_dir(model_path)
    if not root.is_dir():
        return []
    return sorted((it, p) for p in root.iterdir() if (it := checkpoint_iteration(p)) is not None and p.is_file())


def remove_orphan_temporaries(model_path: str | Path) -> list[Path]:
    """Delete the temporaries (``.ckpt_<n>.pt.*.tmp.pt``) that a checkpoint write killed half-way left in
    ``M/checkpoints``; returns their paths. Call it only while holding the folder's lock (a live run's write
    in progress looks the same)."""
    root = checkpoints_dir(model_path)
    if not root.is_dir():
        return []
    removed = []
    for p in sorted(root.iterdir()):
        if _TMP_RE.match(p.name) and p.is_file():
            p.unlink(missing_ok=True)
            removed.append(p)
    return removed


def latest_checkpoint(model_path: str | Path) -> Path | None:
    ckpts = list_checkpoints(model_path)
    return ckpts[-1][1] if ckpts else None


def save_checkpoint(model_path: str | Path, iteration: int, payload: dict[str, Any], keep: int = 0) -> Path:
    """Write ``payload`` as ``ckpt_<iteration>.pt`` atomically; delete all but the newest ``keep`` (0 = all kept)."""
    path = checkpoint_path(model_path, iteration)
    data = {"format": CHECKPOINT_FORMAT, "version": CHECKPOINT_VERSION, "iteration": int(iteration), **payload}
    with atomic_path(path) as tmp:
        torch.save(data, tmp)
    if keep > 0:
        for _it, old in list_checkpoints(model_path)[:-keep]:
            old.unlink(missing_ok=True)
    log.debug("checkpoint written: %s", path)
    return path


def load_checkpoint(path: str | Path, device: torch.device | str = "cpu") -> dict[str, Any]:
    """Read a checkpoint (DataFormatError if missing, unreadable or not ours)."""
    path = Path(path)
    if not path.is_file():
        raise DataFormatError(path, "checkpoint not found")
    try:
        data = torch.load(path, map_location=device, weights_only=True)
    except (RuntimeError, EOFError, OSError, ValueError, pickle.UnpicklingError, zipfile.BadZipFile) as e:
        raise DataFormatError(path, f"cannot read checkpoint: {e}") from e
    if not isinstance(data, dict) or data.get("format") != CHECKPOINT_FORMAT:
        raise DataFormatError(path, "not a sync4dgs training checkpoint")
    if data.get("version") != CHECKPOINT_VERSION:
        raise DataFormatError(path, f"unsupported checkpoint version {data.get('version')!r}")
    missing = [k for k in REQUIRED_KEYS if k not in data]
    if missing:
        raise DataFormatError(path, f"incomplete checkpoint: no {', '.join(missing)}")
    return data


def clone_tree(obj: Any) -> Any:
    """Deep copy of nested dicts/lists/tuples with every tensor cloned (for in-memory snapshots)."""
    if isinstance(obj, torch.Tensor):
        return obj.detach().clone()
    if isinstance(obj, dict):
        return {k: clone_tree(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(clone_tree(v) for v in obj)
    return obj
