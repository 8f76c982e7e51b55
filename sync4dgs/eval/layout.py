"""Where evaluation outputs live inside a model folder (3DGS layout), and how iterations are found. What the
trainer writes (weights, time maps, config, ...) is named by sync4dgs/model/folder.py.

```
M/<split>/ours_<n>/renders/<cam>_<frame:05d>.png   rendered frames (split = "train" | "test")
M/<split>/ours_<n>/gt/<cam>_<frame:05d>.png        the matching ground-truth frames
M/<split>/ours_<n>/videos/<cam>.mp4                the rendered frames of one camera as H.264 video
M/<split>/ours_<n>/render_info.json                which time each frame was rendered at, and how
M/results.json                                      metrics (sync4dgs metrics)
```
``<frame>`` is the camera's frame index in the scene (0 .. n_frames-1, i.e. ``tau_s[frame]``), so a file can be
matched to its source frame.
"""

from __future__ import annotations

import re
from pathlib import Path

from sync4dgs.errors import DataFormatError
from sync4dgs.model.folder import point_cloud_dir, saved_iterations

SPLITS = ("train", "test")
RESULTS_FILE = "results.json"
RENDER_INFO_FILE = "render_info.json"
DEFAULT_FLIP_MAX_FRAMES = 60
"""FLIP (CPU only, about 1 s per 1352x1014 frame even on 16 cores) is computed on at most this many evenly spaced
frames of each camera (``sync4dgs metrics --flip_max_frames``); every other metric on all frames."""
_OURS_RE = re.compile(r"^ours_(\d+)$")


def image_name(camera: str, frame_idx: int) -> str:
    """File name of one frame: ``<camera>_<frame:05d>.png``."""
    return f"{camera}_{frame_idx:05d}.png"


def parse_image_name(name: str) -> tuple[str, int]:
    """Inverse of :func:`image_name` (camera names may contain underscores)."""
    stem = name[:-4] if name.endswith(".png") else name
    cam, _, idx = stem.rpartition("_")
    if not cam or not idx.isdigit():
        raise ValueError(f"not a <camera>_<frame>.png name: {name!r}")
    return cam, int(idx)


def split_dir(model_path: str | Path, split: str, iteration: int) -> Path:
    return Path(model_path) / split / f"ours_{iteration}"


def renders_dir(model_path: str | Path, split: str, iteration: int) -> Path:
    return split_dir(model_path, split, iteration) / "renders"


def gt_dir(model_path: str | Path, split: str, iteration: int) -> Path:
    return split_dir(model_path, split, iteration) / "gt"


def videos_dir(model_path: str | Path, split: str, iteration: int) -> Path:
    return split_dir(model_path, split, iteration) / "videos"


def resolve_iteration(model_path: str | Path, iteration: int | None) -> int:
    """The requested iteration, or the latest saved one; DataFormatError with what exists otherwise."""
    model_path = Path(model_path)
    if not model_path.is_dir():
        raise DataFormatError(model_path, "model folder not found")
    its = saved_iterations(model_path)
    if not its:
        raise DataFormatError(point_cloud_dir(model_path), "no trained weights (point_cloud/iteration_<n>/model.pt); "
                                                           "train a model first (sync4dgs train)")
    if iteration is None or iteration < 0:
        return its[-1]
    if iteration not in its:
        raise DataFormatError(point_cloud_dir(model_path), f"iteration {iteration} was not saved; saved: {its}")
    return iteration


def rendered_iterations(model_path: str | Path, split: str) -> list[int]:
    """Sorted iterations for which ``M/<split>/ours_<n>/renders`` exists."""
    root = Path(model_path) / split
    if not root.is_dir():
        return []
    return sorted(int(m.group(1)) for d in root.iterdir()
                  if (m := _OURS_RE.match(d.name)) and (d / "renders").is_dir())
