"""The full 4D model as one portable ``.npz`` (numpy only to read; no torch pickle).

Layout (format ``sync4dgs.gaussians4d.npz``, version :data:`NPZ_VERSION`)::

    format, format_version                      str, int
    config_json                                 ModelConfig as JSON (sh_degree, interpolation, ...)
    time_maps_json                              TimeMaps JSON (sync4dgs/timemap.py schema; reference clock = global time)
    meta_json                                   free-form metadata of the trained model (JSON); "appearance": the
                                                per-camera colour maps (M/appearance.json) when the run learned them
    iteration                                   int
    key_t0_s, key_interval_s, static_t_anchor_s float64 seconds: keyframe k is at key_t0_s + k * key_interval_s
    keyframe_times_s                            [K] float64 seconds (derived, for convenience)
    static.<name>                               raw static parameters: means [Ns,3], quats [Ns,4] wxyz,
                                                scales [Ns,3] LOG, opacities [Ns] LOGIT, sh0 [Ns,1,3], shN [Ns,B-1,3]
    dynamic.<name>                              raw dynamic parameters: key_means [Nd,K,3], key_quats [Nd,K,4],
                                                scales [Nd,3] LOG, opacities [Nd] LOGIT, sh0, shN,
                                                t_center [Nd,2] s, t_logwidth [Nd,2] log s (temporal opacity)

Raw (pre-activation) parameters are stored, so the loaded model evaluates ``at_time`` bit-identically.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import torch

from sync4dgs.errors import ConfigError, DataFormatError
from sync4dgs.timemap import TimeMap, TimeMaps
from sync4dgs.utils.atomic import atomic_path

NPZ_FORMAT = "sync4dgs.gaussians4d.npz"
NPZ_VERSION = 1


def save_npz(path: str | Path, model: Any, time_maps: TimeMaps, iteration: int = -1,
             meta: dict[str, Any] | None = None) -> Path:
    """Write a Gaussians4D (+ time maps, iteration, meta) to ``path`` atomically; returns the path."""
    arrays: dict[str, np.ndarray] = {
        "format": np.array(NPZ_FORMAT), "format_version": np.array(NPZ_VERSION),
        "config_json": np.array(json.dumps(model.config.to_dict())),
        "time_maps_json": np.array(json.dumps(time_maps.to_dict())),
        "meta_json": np.array(json.dumps(meta or {}, default=str)),
        "iteration": np.array(int(iteration)),
        "key_t0_s": np.array(float(model.key_t0_s)), "key_interval_s": np.array(float(model.key_interval_s)),
        "static_t_anchor_s": np.array(float(model.static_t_anchor_s)),
        "keyframe_times_s": model.keyframe_times_s().detach().cpu().double().numpy(),
    }
    for part, params in (("static", model.static), ("dynamic", model.dynamic)):
        for k, v in params.items():
            arrays[f"{part}.{k}"] = v.detach().cpu().numpy()
    path = Path(path)
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            np.savez_compressed(f, **arrays)
    return path


def _time_maps(d: dict[str, Any]) -> TimeMaps:
    cams = {str(n): TimeMap(float(m["offset_s"]), float(m.get("rate", 1.0)), float(m.get("confidence", 1.0)),
                            str(m.get("status", "aligned"))) for n, m in d["cameras"].items()}
    return TimeMaps(str(d["reference_camera"]), cams, d.get("extra"))


def load_npz(path: str | Path, device: str | torch.device = "cpu") -> Any:
    """Read a file written by :func:`save_npz` -> sync4dgs.model.io.TrainedModel (model on ``device``).

    Raises DataFormatError naming the file when it is missing, not ours, of another version or inconsistent.
    """
    from sync4dgs.model.config import ModelConfig  # noqa: PLC0415
    from sync4dgs.model.gaussians4d import Gaussians4D  # noqa: PLC0415
    from sync4dgs.model.io import TrainedModel  # noqa: PLC0415

    path = Path(path)
    if not path.is_file():
        raise DataFormatError(path, "npz model file not found")
    try:
        with np.load(path, allow_pickle=False) as z:
            files = set(z.files)
            if "format" not in files or str(z["format"]) != NPZ_FORMAT:
                raise DataFormatError(path, f"not a {NPZ_FORMAT} file")
            if int(z["format_version"]) != NPZ_VERSION:
                raise DataFormatError(path, f"unsupported npz format version {int(z['format_version'])} "
                                            f"(this build reads {NPZ_VERSION})")
            config = ModelConfig.from_dict(json.loads(str(z["config_json"])))
            static = {k.split(".", 1)[1]: torch.from_numpy(z[k]) for k in files if k.startswith("static.")}
            dynamic = {k.split(".", 1)[1]: torch.from_numpy(z[k]) for k in files if k.startswith("dynamic.")}
            model = Gaussians4D(config, static, dynamic, float(z["key_t0_s"]), float(z["key_interval_s"]),
                                float(z["static_t_anchor_s"]))
            maps = _time_maps(json.loads(str(z["time_maps_json"])))
            meta = json.loads(str(z["meta_json"]))
            iteration = int(z["iteration"])
    except (OSError, ValueError, KeyError, TypeError, ConfigError) as e:  # JSONDecodeError is a ValueError
        raise DataFormatError(path, f"inconsistent npz model: {e}") from e
    return TrainedModel(model.to(device), maps, iteration, meta)
