"""The model folder ``M`` (written by ``sync4dgs train``): the one owner of its file names, with a reader and a
writer for every file. Train, eval, export, the viewer and the demo use these; no other module spells a name.

```
M/config.json                          experiment config of the run (dict; stage 1's align.* included)
M/train_stats.json                     iterations, speed, final loss/PSNR, segments
M/train.lock                           only while a run trains on M (sync4dgs/train/modelfolder.py)
M/point_cloud/iteration_<n>/model.pt   weights + time maps + meta (sync4dgs/model/io.py: save_model / load_trained)
M/time_maps.json                       learned per-camera time maps (TimeMaps schema, sync4dgs/timemap.py)
M/time_maps_initial.json               the maps stage 2 started from
M/appearance.json                      per-camera colour maps (appearance compensation on)
M/cameras_refined.json                 refined training cameras (camera refinement on)
M/offsets.csv, M/tb/                   offsets over iterations (CSV appended by the monitor); TensorBoard events
M/checkpoints/ckpt_<n>.pt              resume checkpoints (sync4dgs/train/checkpoint.py)
M/stage1/offsets.json, trajectories.npz   stage 1 run inside train (the sync4dgs.sync.align output format)
M/export/                              sync4dgs export outputs (npz; ply_<n>/ per-time PLY files)
```
Render and metrics outputs (``M/<split>/ours_<n>/...``, ``M/results.json``) are evaluation's layout:
sync4dgs/eval/layout.py. Every reader returns None for a missing optional file and raises DataFormatError naming
the file for a damaged one; every writer is atomic (temporary file, then rename).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from sync4dgs.errors import DataFormatError
from sync4dgs.timemap import TimeMaps, load_time_maps
from sync4dgs.utils.atomic import read_json_object, write_json

CONFIG_FILE = "config.json"
STATS_FILE = "train_stats.json"
LOCK_FILE = "train.lock"
POINT_CLOUD_DIR = "point_cloud"
MODEL_FILE = "model.pt"
TIME_MAPS_FILE = "time_maps.json"
INITIAL_TIME_MAPS_FILE = "time_maps_initial.json"
APPEARANCE_FILE = "appearance.json"
REFINED_CAMERAS_FILE = "cameras_refined.json"
OFFSETS_CSV = "offsets.csv"
TB_DIR = "tb"
CHECKPOINT_DIR = "checkpoints"
STAGE1_DIR = "stage1"
STAGE1_OFFSETS_FILE = "offsets.json"          # the names sync4dgs.sync.align.save_alignment writes (tested)
STAGE1_TRAJECTORIES_FILE = "trajectories.npz"
EXPORT_DIR = "export"

# the small files a run rewrites at its start (restored when it fails before its first iteration; its
# stage1/ folder is moved aside meanwhile): sync4dgs/train/modelfolder.py
RESTORED_FILES = (CONFIG_FILE, STATS_FILE, TIME_MAPS_FILE, INITIAL_TIME_MAPS_FILE, OFFSETS_CSV,
                  REFINED_CAMERAS_FILE, APPEARANCE_FILE)

_ITER_RE = re.compile(r"^iteration_(\d+)$")
_CKPT_RE = re.compile(r"^ckpt_(\d+)\.pt$")


# ---- paths -------------------------------------------------------------------------------------------------
def config_path(m: str | Path) -> Path:
    return Path(m) / CONFIG_FILE


def stats_path(m: str | Path) -> Path:
    return Path(m) / STATS_FILE


def lock_path(m: str | Path) -> Path:
    return Path(m) / LOCK_FILE


def point_cloud_dir(m: str | Path) -> Path:
    return Path(m) / POINT_CLOUD_DIR


def iteration_dir(m: str | Path, iteration: int) -> Path:
    """``M/point_cloud/iteration_<n>``."""
    return point_cloud_dir(m) / f"iteration_{int(iteration)}"


def model_file(m: str | Path, iteration: int) -> Path:
    """``M/point_cloud/iteration_<n>/model.pt``."""
    return iteration_dir(m, iteration) / MODEL_FILE


def iteration_of(model_pt: str | Path) -> int | None:
    """n of a model file in a folder ``iteration_<n>`` (None for a model file elsewhere)."""
    match = _ITER_RE.match(Path(model_pt).parent.name)
    return int(match.group(1)) if match else None


def folder_of_model_file(model_pt: str | Path) -> Path | None:
    """M of a ``M/point_cloud/<iteration folder>/model.pt`` path (None for a model file elsewhere)."""
    p = Path(model_pt)
    return p.parent.parent.parent if p.parent.parent.name == POINT_CLOUD_DIR else None


def saved_iterations(m: str | Path) -> list[int]:
    """Sorted iterations that have a model.pt under ``M/point_cloud`` (empty if none)."""
    root = point_cloud_dir(m)
    if not root.is_dir():
        return []
    return sorted(int(g.group(1)) for d in root.iterdir()
                  if (g := _ITER_RE.match(d.name)) and (d / MODEL_FILE).is_file())


def time_maps_path(m: str | Path) -> Path:
    return Path(m) / TIME_MAPS_FILE


def initial_time_maps_path(m: str | Path) -> Path:
    return Path(m) / INITIAL_TIME_MAPS_FILE


def appearance_path(m: str | Path) -> Path:
    return Path(m) / APPEARANCE_FILE


def refined_cameras_path(m: str | Path) -> Path:
    return Path(m) / REFINED_CAMERAS_FILE


def offsets_csv_path(m: str | Path) -> Path:
    return Path(m) / OFFSETS_CSV


def tb_dir(m: str | Path) -> Path:
    return Path(m) / TB_DIR


def checkpoints_dir(m: str | Path) -> Path:
    return Path(m) / CHECKPOINT_DIR


def checkpoint_path(m: str | Path, iteration: int) -> Path:
    """``M/checkpoints/ckpt_<n>.pt``."""
    return checkpoints_dir(m) / f"ckpt_{int(iteration)}.pt"


def checkpoint_iteration(path: str | Path) -> int | None:
    """n of a ``ckpt_<n>.pt`` file name (None for any other name)."""
    match = _CKPT_RE.match(Path(path).name)
    return int(match.group(1)) if match else None


def stage1_dir(m: str | Path) -> Path:
    return Path(m) / STAGE1_DIR


def stage1_offsets_path(m: str | Path) -> Path:
    return stage1_dir(m) / STAGE1_OFFSETS_FILE


def stage1_trajectories_path(m: str | Path) -> Path:
    return stage1_dir(m) / STAGE1_TRAJECTORIES_FILE


def export_dir(m: str | Path) -> Path:
    """``M/export`` (the npz export's default folder)."""
    return Path(m) / EXPORT_DIR


def ply_export_dir(m: str | Path, iteration: int) -> Path:
    """``M/export/ply_<n>`` (default folder of the per-time PLY export of iteration n)."""
    return export_dir(m) / f"ply_{int(iteration)}"


# ---- JSON files --------------------------------------------------------------------------------------------
def _read_json_object(path: Path) -> dict[str, Any] | None:
    if not path.is_file():
        return None
    return read_json_object(path)


def write_config(m: str | Path, config: dict[str, Any]) -> Path:
    """``M/config.json``: the run's experiment config as a dict (ExperimentConfig.to_dict())."""
    write_json(config_path(m), config)
    return config_path(m)


def read_config(m: str | Path) -> dict[str, Any] | None:
    """The run's experiment config as a dict (None when M has no config.json). Sections a run of an older
    version did not write (e.g. ``align``) are simply absent."""
    return _read_json_object(config_path(m))


def write_stats(m: str | Path, stats: dict[str, Any]) -> Path:
    write_json(stats_path(m), stats)
    return stats_path(m)


def read_stats(m: str | Path) -> dict[str, Any] | None:
    """``M/train_stats.json`` (None when absent)."""
    return _read_json_object(stats_path(m))


def write_time_maps(m: str | Path, maps: TimeMaps) -> Path:
    """``M/time_maps.json``: the learned maps."""
    maps.save(time_maps_path(m))
    return time_maps_path(m)


def read_time_maps(m: str | Path) -> TimeMaps | None:
    p = time_maps_path(m)
    return load_time_maps(p) if p.is_file() else None


def write_initial_time_maps(m: str | Path, maps: TimeMaps) -> Path:
    """``M/time_maps_initial.json``: the maps stage 2 started from."""
    maps.save(initial_time_maps_path(m))
    return initial_time_maps_path(m)


def read_initial_time_maps(m: str | Path) -> TimeMaps | None:
    p = initial_time_maps_path(m)
    return load_time_maps(p) if p.is_file() else None


def read_stage1_time_maps(m: str | Path) -> TimeMaps | None:
    """``M/stage1/offsets.json`` (written by sync4dgs.sync.align.save_alignment when train ran stage 1)."""
    p = stage1_offsets_path(m)
    return load_time_maps(p) if p.is_file() else None


def write_appearance(m: str | Path, payload: dict[str, Any]) -> Path:
    """``M/appearance.json``: ``{"iteration", "gauge_camera", "convention", "cameras": {name: {"gain" [3],
    "bias" [3]}}}`` (camera image = render * gain + bias, per RGB channel, values in [0, 1])."""
    path = appearance_path(m)
    parse_appearance(payload, path)            # never write what the readers would refuse
    write_json(path, payload)
    return path


def parse_appearance(payload: Any, path: Path) -> dict[str, tuple[list[float], list[float]]]:
    """{camera: (gain [3], bias [3])} of an appearance.json payload; DataFormatError naming ``path`` if malformed."""
    try:
        out = {}
        for name, entry in payload["cameras"].items():
            gain, bias = [float(x) for x in entry["gain"]], [float(x) for x in entry["bias"]]
            if len(gain) != 3 or len(bias) != 3:
                raise ValueError("gain and bias need 3 values")
            out[str(name)] = (gain, bias)
        return out
    except (KeyError, TypeError, ValueError, AttributeError) as e:
        raise DataFormatError(path, f"not a valid appearance file: {e}") from e


def read_appearance_file(m: str | Path) -> dict[str, Any] | None:
    """The whole ``M/appearance.json`` (validated), or None when the model has none."""
    path = appearance_path(m)
    if not path.is_file():
        return None
    try:
        d = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise DataFormatError(path, f"not a valid appearance file: {e}") from e
    parse_appearance(d, path)
    return d


def read_appearance(m: str | Path) -> dict[str, tuple[list[float], list[float]]] | None:
    """{camera: (gain [3], bias [3])} from ``M/appearance.json`` (None when the model has none)."""
    d = read_appearance_file(m)
    return None if d is None else parse_appearance(d, appearance_path(m))


def write_refined_cameras(m: str | Path, payload: dict[str, Any]) -> Path:
    """``M/cameras_refined.json`` (format: docs/architecture.md, "Model folder")."""
    write_json(refined_cameras_path(m), payload)
    return refined_cameras_path(m)


def read_refined_cameras(m: str | Path) -> dict[str, Any] | None:
    """``M/cameras_refined.json`` (None when camera refinement was off)."""
    d = _read_json_object(refined_cameras_path(m))
    if d is not None and not isinstance(d.get("cameras"), dict):
        raise DataFormatError(refined_cameras_path(m), "no 'cameras' object")
    return d


def read_offsets_csv(m: str | Path) -> tuple[list[str], list[list[float]]] | None:
    """``M/offsets.csv`` as (camera names, rows [iteration, offset_s per camera]); None when absent."""
    path = offsets_csv_path(m)
    if not path.is_file():
        return None
    lines = path.read_text().splitlines()
    if not lines or not lines[0].startswith("iteration,"):
        raise DataFormatError(path, "expected a header 'iteration,<camera>,...'")
    try:
        rows = [[float(v) for v in line.split(",")] for line in lines[1:] if line.strip()]
    except ValueError as e:
        raise DataFormatError(path, f"non-numeric value: {e}") from e
    return lines[0].split(",")[1:], rows
