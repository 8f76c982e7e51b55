"""Saved-model format (owned by sync4dgs.model; readers never import sync4dgs.train).

``model.pt`` = torch.save of a plain dict (loadable with ``weights_only=True``)::

    {"format": "sync4dgs.gaussians4d", "version": 1, "config": ModelConfig dict,
     "static": {name: tensor}, "dynamic": {name: tensor},
     "buffers": {"key_t0_s": float, "key_interval_s": float, "static_t_anchor_s": float},
     "time_maps": TimeMaps dict (timemap.py schema), "meta": dict of JSON-like values}

Model folder layout: ``M/point_cloud/iteration_<n>/model.pt`` (latest = highest n); every file name of the
folder is owned by sync4dgs/model/folder.py.
"""

from __future__ import annotations

import json
import pickle
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from sync4dgs.errors import ConfigError, DataFormatError
from sync4dgs.model.config import ModelConfig
from sync4dgs.model.folder import MODEL_FILE, POINT_CLOUD_DIR, iteration_of, model_file, saved_iterations
from sync4dgs.model.gaussians4d import Gaussians4D
from sync4dgs.timemap import TimeMap, TimeMaps
from sync4dgs.utils.atomic import atomic_path

MODEL_FORMAT = "sync4dgs.gaussians4d"
MODEL_VERSION = 1


class ModelNotFoundError(DataFormatError, FileNotFoundError):
    """A model folder, iteration or model file does not exist (catchable as either base class)."""


@dataclass
class TrainedModel:
    """A loaded model: weights, learned time maps, its iteration and free-form metadata."""

    model: Gaussians4D
    time_maps: TimeMaps
    iteration: int
    meta: dict[str, Any] = field(default_factory=dict)


def save_model(path: str | Path, model: Gaussians4D, time_maps: TimeMaps, meta: dict[str, Any] | None = None
               ) -> None:
    """Write ``model`` + ``time_maps`` + ``meta`` to ``path`` (a .pt file) atomically."""
    payload = {
        "format": MODEL_FORMAT, "version": MODEL_VERSION, "config": model.config.to_dict(),
        "static": {k: v.detach().cpu().clone() for k, v in model.static.items()},
        "dynamic": {k: v.detach().cpu().clone() for k, v in model.dynamic.items()},
        "buffers": {"key_t0_s": float(model.key_t0_s), "key_interval_s": float(model.key_interval_s),
                    "static_t_anchor_s": float(model.static_t_anchor_s)},
        "time_maps": time_maps.to_dict(),
        "meta": json.loads(json.dumps(meta or {}, default=str)),   # JSON-like only (weights_only loading)
    }
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)


def _time_maps_from_dict(d: dict[str, Any], path: Path) -> TimeMaps:
    try:
        cams = {str(n): TimeMap(float(m["offset_s"]), float(m.get("rate", 1.0)), float(m.get("confidence", 1.0)),
                                str(m.get("status", "aligned"))) for n, m in d["cameras"].items()}
        return TimeMaps(str(d["reference_camera"]), cams, d.get("extra"))
    except (KeyError, TypeError, ValueError, AttributeError) as e:
        raise DataFormatError(path, f"malformed time maps in model file: {e}") from e


def load_model_file(path: str | Path, device: str | torch.device = "cpu", iteration: int = -1) -> TrainedModel:
    """Load one model.pt written by :func:`save_model`."""
    path = Path(path)
    if not path.is_file():
        raise ModelNotFoundError(path, "model file not found")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except (RuntimeError, EOFError, OSError, ValueError, pickle.UnpicklingError) as e:
        raise DataFormatError(path, f"cannot read model file: {e}") from e
    if not isinstance(payload, dict) or payload.get("format") != MODEL_FORMAT:
        raise DataFormatError(path, "not a sync4dgs model file")
    if payload.get("version") != MODEL_VERSION:
        raise DataFormatError(path, f"unsupported model file version {payload.get('version')!r} "
                                    f"(this build reads {MODEL_VERSION})")
    try:
        config = ModelConfig.from_dict(payload["config"])
        buf = payload["buffers"]
        model = Gaussians4D(config, payload["static"], payload["dynamic"], buf["key_t0_s"],
                            buf["key_interval_s"], buf.get("static_t_anchor_s", 0.0))
    except (KeyError, ValueError, TypeError, ConfigError) as e:
        raise DataFormatError(path, f"inconsistent model file: {e}") from e
    maps = _time_maps_from_dict(payload.get("time_maps", {}), path)
    meta = dict(payload.get("meta", {}))
    return TrainedModel(model.to(device), maps, int(iteration), meta)


def load_trained(model_path: str | Path, iteration: int | None = None, device: str | torch.device = "cpu"
                 ) -> TrainedModel:
    """Load ``M/point_cloud/iteration_<n>/model.pt`` (n = latest when None). ``model_path`` may also be the
    path of a model.pt file itself (then ``iteration`` is ignored and read from the folder name if possible).

    Raises ModelNotFoundError (a DataFormatError and a FileNotFoundError) naming what is missing.
    """
    model_path = Path(model_path)
    if model_path.is_file():
        it = iteration_of(model_path)
        return load_model_file(model_path, device, -1 if it is None else it)
    if not model_path.is_dir():
        raise ModelNotFoundError(model_path, "model folder not found")
    available = saved_iterations(model_path)
    if not available:
        raise ModelNotFoundError(model_path / POINT_CLOUD_DIR,
                                 f"no saved iterations (expected {POINT_CLOUD_DIR}/iteration_<n>/{MODEL_FILE})")
    it = available[-1] if iteration is None else int(iteration)
    if it not in available:
        raise ModelNotFoundError(model_file(model_path, it),
                                 f"iteration {it} not saved; available: {available}")
    return load_model_file(model_file(model_path, it), device, it)
