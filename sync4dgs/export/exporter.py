"""Library side of ``sync4dgs export``: PLY per time / 4D npz for a loaded model."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from sync4dgs.data.scene import SceneSpec
from sync4dgs.errors import ConfigError
from sync4dgs.export.npz import save_npz
from sync4dgs.export.ply import write_ply
from sync4dgs.utils.atomic import write_json

log = logging.getLogger(__name__)

TIMES_INDEX = "times.json"


@dataclass
class TimeSelection:
    """Global times (seconds) to export, with a file stem for each."""

    times_s: np.ndarray
    stems: list[str]


def parse_times(spec: str, scene: SceneSpec | None, reference_camera: str) -> TimeSelection:
    """``all`` -> every frame time of the reference camera (its clock is global time; needs ``scene``);
    ``t0,t1,...`` -> those global times in seconds. ConfigError on anything else."""
    spec = spec.strip()
    if spec == "all":
        if scene is None:
            raise ConfigError("--times all needs the scene (pass --source_path SCENE)")
        tau = scene.camera(reference_camera).tau_s()
        return TimeSelection(tau, [f"frame_{i:05d}" for i in range(len(tau))])
    try:
        times = np.array([float(x) for x in spec.split(",") if x.strip() != ""], dtype=np.float64)
    except ValueError as e:
        raise ConfigError(f"--times must be 'all' or comma-separated seconds like 0.0,0.5; got {spec!r}") from e
    if times.size == 0 or not np.all(np.isfinite(times)):
        raise ConfigError(f"--times must list at least one finite time in seconds; got {spec!r}")
    return TimeSelection(times, [f"t_{t:.6f}s" for t in times])


def export_ply_per_time(model: Any, selection: TimeSelection, out_dir: str | Path, *, min_opacity: float = 0.0,
                        progress: bool = True) -> Path:
    """One 3DGS PLY per selected time (temporal opacity folded into the opacity) + ``times.json`` index.

    Files are written one by one atomically into ``out_dir`` (other files there are left alone).
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    sh = int(model.config.sh_degree)
    entries = []
    for t, stem in tqdm(list(zip(selection.times_s, selection.stems)), desc="export ply", unit="file",
                        disable=not progress):
        g = model.at_time(float(t), sh_degree=min(sh, 3))
        n = write_ply(out_dir / f"{stem}.ply", g, min_opacity=min_opacity)
        entries.append({"file": f"{stem}.ply", "t_global_s": float(t), "n_gaussians": n})
    write_json(out_dir / TIMES_INDEX, {"time_convention": "global seconds on the reference camera's clock",
                                       "sh_degree": min(sh, 3), "min_opacity": min_opacity, "files": entries})
    log.info("wrote %d PLY files to %s", len(entries), out_dir)
    return out_dir


def export_npz(trained: Any, out_dir: str | Path, extra_meta: dict[str, Any] | None = None) -> Path:
    """The full 4D model as ``out_dir/model_<iteration>.npz`` (see export/npz.py); ``extra_meta`` (e.g. the
    per-camera colour maps of ``M/appearance.json`` under "appearance") is merged into its metadata."""
    it = int(trained.iteration)
    name = f"model_{it}.npz" if it >= 0 else "model.npz"
    return save_npz(Path(out_dir) / name, trained.model, trained.time_maps, it,
                    {**(trained.meta or {}), **(extra_meta or {})})
