"""Scene overlays of the viewer: training-camera frusta and stage-1 3D trajectories (viser scene nodes).

Geometry helpers are pure numpy (tested); ``add_*`` functions only translate them into viser calls.
"""

from __future__ import annotations

import colorsys
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from sync4dgs.data.scene import CameraSpec, SceneSpec
from sync4dgs.errors import DataFormatError
from sync4dgs.export.paths import camera_centers, look_at_point
from sync4dgs.timemap import TimeMaps
from sync4dgs.viewer.camera import fov_y_from_intrinsics, viewmat_to_viser

log = logging.getLogger(__name__)

MAX_TRACKS = 2000  # the browser draws at most this many trajectories (an even subset)
COLOR_REFERENCE = (230, 60, 50)
COLOR_TRAIN = (40, 120, 230)
COLOR_TEST = (140, 140, 140)


# ------------------------------------------------------------------------------------------- trajectories
@dataclass
class Trajectories:
    """Stage-1 tracks: times_s [T] global seconds, xyz [M, T, 3] (NaN where untracked), rgb [M, 3] uint8."""

    times_s: np.ndarray
    xyz: np.ndarray
    rgb: np.ndarray


def load_trajectories(path: str | Path, max_tracks: int = MAX_TRACKS) -> Trajectories:
    """Read ``stage1/trajectories.npz`` (times_s [T], xyz [M, T, 3] NaN-padded, optional rgb [M, 3]),
    keeping at most ``max_tracks`` evenly spread tracks. DataFormatError naming the file on bad content."""
    path = Path(path)
    try:
        with np.load(path) as z:
            times = np.asarray(z["times_s"], dtype=np.float64)
            xyz = np.asarray(z["xyz"], dtype=np.float64)
            rgb = np.asarray(z["rgb"]) if "rgb" in z.files else None
    except (OSError, KeyError, ValueError) as e:
        raise DataFormatError(path, f"cannot read trajectories (need times_s [T], xyz [M,T,3]): {e}") from e
    if xyz.ndim != 3 or xyz.shape[2] != 3 or xyz.shape[1] != times.shape[0]:
        raise DataFormatError(path, f"xyz has shape {xyz.shape}, expected [M, {times.shape[0]}, 3]")
    M = xyz.shape[0]
    keep = np.unique(np.linspace(0, M - 1, min(M, max_tracks)).round().astype(int)) if M else np.zeros(0, int)
    if rgb is None or rgb.shape != (M, 3):
        rgb = np.array([[int(255 * c) for c in colorsys.hsv_to_rgb((i * 0.618034) % 1.0, 0.8, 1.0)]
                        for i in range(M)], dtype=np.uint8).reshape(M, 3)
    elif rgb.dtype != np.uint8:
        rgb = np.clip(rgb * (255.0 if rgb.max() <= 1.0 else 1.0), 0, 255).astype(np.uint8)
    return Trajectories(times, xyz[keep], rgb[keep])


def trajectory_segments(tr: Trajectories) -> tuple[np.ndarray, np.ndarray]:
    """Polylines as line segments between consecutive tracked samples.

    Returns points [S, 2, 3] float32 and colours [S, 2, 3] uint8 (a gap of NaN samples breaks a track).
    """
    a, b = tr.xyz[:, :-1], tr.xyz[:, 1:]
    ok = np.isfinite(a).all(-1) & np.isfinite(b).all(-1)
    m_idx, _ = np.nonzero(ok)
    pts = np.stack([a[ok], b[ok]], axis=1).astype(np.float32)
    cols = np.repeat(tr.rgb[m_idx][:, None, :], 2, axis=1).astype(np.uint8)
    return pts, cols


def trajectory_points_at(tr: Trajectories, t_s: float) -> tuple[np.ndarray, np.ndarray]:
    """Track positions at global time ``t_s`` (linear between samples; tracks undefined there are dropped).

    Returns points [P, 3] float32 and colours [P, 3] uint8.
    """
    T = len(tr.times_s)
    if T == 0 or tr.xyz.shape[0] == 0:
        return np.zeros((0, 3), np.float32), np.zeros((0, 3), np.uint8)
    if T == 1:
        p = tr.xyz[:, 0]
    else:
        j = int(np.clip(np.searchsorted(tr.times_s, t_s) - 1, 0, T - 2))
        span = tr.times_s[j + 1] - tr.times_s[j]
        u = float(np.clip((t_s - tr.times_s[j]) / span if span > 0 else 0.0, 0.0, 1.0))
        p = (1 - u) * tr.xyz[:, j] + u * tr.xyz[:, j + 1]
    ok = np.isfinite(p).all(-1)
    return p[ok].astype(np.float32), tr.rgb[ok]


# ---------------------------------------------------------------------------------------------- cameras
def rig_scale(scene: SceneSpec) -> float:
    """A length (scene units) for drawing: the median distance of the cameras to their look-at point."""
    R = np.stack([c.R for c in scene.cameras])
    t = np.stack([c.t for c in scene.cameras])
    c = camera_centers(R, t)
    d = np.linalg.norm(c - look_at_point(R, t), axis=1)
    return float(np.median(d)) if np.isfinite(d).all() and np.median(d) > 0 else 1.0


def capture_time_near(cam: CameraSpec, time_maps: TimeMaps | None, t_s: float) -> tuple[int, float]:
    """The frame of ``cam`` captured closest to global time ``t_s`` under its (learned) time map.

    Returns (frame index, its global time in seconds). Without a map for ``cam`` the identity is used.
    """
    m = time_maps.cameras.get(cam.name) if time_maps is not None else None
    off, rate = (m.offset_s, m.rate) if m is not None else (0.0, 1.0)
    tg = off + rate * cam.tau_s()
    i = int(np.argmin(np.abs(tg - t_s)))
    return i, float(tg[i])


def add_camera_frusta(server: Any, scene: SceneSpec, on_click: Any, scale: float) -> dict[str, Any]:
    """Add one frustum per scene camera under /cameras; ``on_click(camera_spec, event)`` runs on a click.

    Reference camera red, training cameras blue, held-out test cameras grey. Returns name -> handle.
    """
    handles = {}
    for cam in scene.cameras:
        wxyz, pos = viewmat_to_viser(cam.viewmat)
        color = (COLOR_REFERENCE if cam.name == scene.reference_camera
                 else COLOR_TEST if cam.name in scene.test_cameras else COLOR_TRAIN)
        h = server.scene.add_camera_frustum(
            f"/cameras/{cam.name}", fov=fov_y_from_intrinsics(cam.K, cam.height), aspect=cam.width / cam.height,
            scale=scale, thickness=0.02 * scale, color=color, wxyz=wxyz, position=pos)

        def _clicked(event: Any, cam: CameraSpec = cam) -> None:
            on_click(cam, event)

        h.on_click(_clicked)
        handles[cam.name] = h
    return handles


def add_trajectories(server: Any, tr: Trajectories, thickness: float) -> Any | None:
    """Draw the tracks as line segments under /trajectories/lines (None when no segment is valid)."""
    pts, cols = trajectory_segments(tr)
    if len(pts) == 0:
        log.info("trajectories: no two consecutive tracked samples to draw")
        return None
    return server.scene.add_line_segments("/trajectories/lines", points=pts, colors=cols, thickness=thickness)
