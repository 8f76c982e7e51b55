"""Writing stage-1 results: offsets.json (TimeMaps schema), trajectories.npz/.ply, align_plot.png.

``trajectories.npz`` (the contract stage 2 uses to initialise dynamic Gaussians)::

    times_s  float64 [T]        global times (seconds, reference camera's clock), uniform at the reference fps
    xyz      float32 [M, T, 3]  world positions (scene coordinates), NaN where unknown
    rgb      uint8   [M, 3]     colour of each trajectory (sampled in the reference view when it sees it)

``trajectories.ply`` holds every valid (trajectory, time) point as a vertex with x, y, z, red, green, blue and
``time`` (seconds). All files are written atomically.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from sync4dgs.errors import DataFormatError
from sync4dgs.sync.align.trajectories import Trajectories
from sync4dgs.utils.atomic import atomic_path

TRAJECTORIES_FILE = "trajectories.npz"
PLY_FILE = "trajectories.ply"
PLOT_FILE = "align_plot.png"
OFFSETS_FILE = "offsets.json"


def save_trajectories(path: str | Path, traj: Trajectories) -> None:
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        np.savez_compressed(f, times_s=traj.times_s.astype(np.float64), xyz=traj.xyz.astype(np.float32),
                            rgb=traj.rgb.astype(np.uint8))


def load_trajectories(path: str | Path) -> Trajectories:
    """Read and validate a trajectories.npz (DataFormatError naming the file on problems)."""
    path = Path(path)
    if not path.is_file():
        raise DataFormatError(path, "trajectories file not found")
    try:
        with np.load(path, allow_pickle=False) as z:
            times, xyz, rgb = z["times_s"], z["xyz"], z["rgb"]
    except (OSError, ValueError, KeyError) as e:
        raise DataFormatError(path, f"not a valid trajectories file: {e}") from e
    if times.ndim != 1 or xyz.ndim != 3 or xyz.shape[1:] != (len(times), 3) or rgb.shape != (xyz.shape[0], 3):
        raise DataFormatError(path, f"inconsistent shapes: times_s {times.shape}, xyz {xyz.shape}, rgb {rgb.shape}")
    return Trajectories(times.astype(np.float64), xyz.astype(np.float32), rgb.astype(np.uint8), [])


def save_ply(path: str | Path, traj: Trajectories) -> int:
    """Write every valid trajectory point as a PLY vertex; returns the number of points."""
    from plyfile import PlyData, PlyElement  # noqa: PLC0415

    ok = np.isfinite(traj.xyz).all(-1)                       # [M, T]
    m_idx, t_idx = np.nonzero(ok)
    v = np.empty(len(m_idx), dtype=[("x", "f4"), ("y", "f4"), ("z", "f4"), ("red", "u1"), ("green", "u1"),
                                    ("blue", "u1"), ("time", "f4")])
    p = traj.xyz[m_idx, t_idx]
    v["x"], v["y"], v["z"] = p[:, 0], p[:, 1], p[:, 2]
    c = traj.rgb[m_idx] if len(m_idx) else np.zeros((0, 3), np.uint8)
    v["red"], v["green"], v["blue"] = c[:, 0], c[:, 1], c[:, 2]
    v["time"] = traj.times_s[t_idx]
    with atomic_path(path) as tmp:
        PlyData([PlyElement.describe(v, "vertex")]).write(str(tmp))
    return int(len(m_idx))


def save_alignment(result, out_dir: str | Path, offsets_name: str = OFFSETS_FILE) -> dict[str, Path]:
    """Write offsets.json, trajectories.npz, trajectories.ply and align_plot.png into ``out_dir``.

    ``result`` is an AlignResult. Returns the written paths by kind."""
    from sync4dgs.sync.align.plot import draw_alignment_plot  # noqa: PLC0415

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"offsets": out / offsets_name, "trajectories": out / TRAJECTORIES_FILE, "ply": out / PLY_FILE,
             "plot": out / PLOT_FILE}
    result.time_maps.save(paths["offsets"])
    traj = result.trajectories
    if traj is None:
        traj = Trajectories(np.zeros(0), np.zeros((0, 0, 3), np.float32), np.zeros((0, 3), np.uint8), [])
    save_trajectories(paths["trajectories"], traj)
    save_ply(paths["ply"], traj)
    import cv2  # noqa: PLC0415

    img = draw_alignment_plot(result)
    with atomic_path(paths["plot"]) as tmp:
        if not cv2.imwrite(str(tmp), cv2.cvtColor(img, cv2.COLOR_RGB2BGR)):
            raise OSError(f"could not write {paths['plot']}")
    return paths
