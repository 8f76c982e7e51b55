"""Refinement of camera offsets against the 3D trajectories, by reprojection (leave-one-out).

For a camera c, every multi-view track group that c belongs to is re-triangulated from the *other* cameras
only (on the global time grid), then interpolated linearly in time at c's capture instants under a candidate
offset ``o_c + delta`` and projected into c. The offset correction ``delta`` minimising the robust mean
reprojection error of c's own track points (a grid of ±``window_frames``, parabola at the minimum) is applied
to all non-reference cameras at once; this is repeated a few times. A camera keeps its offset when it has too
few observations or the cost has no clear minimum. Rates are not changed.
"""

from __future__ import annotations

import logging

import numpy as np
import torch

from sync4dgs.data.scene import SceneSpec
from sync4dgs.sync.align.geometry import project, projection_matrices
from sync4dgs.sync.align.resample import sample_linear
from sync4dgs.sync.align.tracks import CameraTracks
from sync4dgs.sync.align.trajectories import triangulate_groups

log = logging.getLogger(__name__)

_MIN_OBS = 60        # observations a camera needs for its offset to be refined
_TRUNC_PX = 3.0      # robust truncation of reprojection errors (tracking pixels)


def _camera_cost(scene: SceneSpec, c: int, tracks: list[CameraTracks], groups: list[list[tuple[int, int]]],
                 offsets: np.ndarray, rates: np.ndarray, times_s: np.ndarray, deltas_s: np.ndarray, gate_px: float,
                 device: torch.device) -> tuple[np.ndarray, int]:
    """Robust mean reprojection error [D] (tracking px) of camera c for offset corrections ``deltas_s`` [D]."""
    mine = [(g, t) for g in groups for cc, t in g if cc == c and len(g) >= 3]
    if not mine:
        return np.full(len(deltas_s), np.nan), 0
    others = [[m for m in g if m[0] != c] for g, _ in mine]
    xyz = triangulate_groups(scene, tracks, others, offsets, rates, times_s, gate_px, device)   # [G, T, 3]
    dt = torch.float64
    grid = torch.as_tensor(times_s, dtype=dt, device=device)
    pts = torch.as_tensor(xyz, dtype=dt, device=device)                                        # [G, T, 3]
    obs = torch.as_tensor(tracks[c].xy[[t for _, t in mine]], dtype=dt, device=device)          # [G, Tc, 2]
    tau = torch.as_tensor(tracks[c].tau_s, dtype=dt, device=device)
    proj = torch.as_tensor(projection_matrices([scene.cameras[c]]), dtype=dt, device=device)[0]
    scale = tracks[c].track_scale
    costs = np.full(len(deltas_s), np.nan)
    n_obs = 0
    for k, dl in enumerate(deltas_s):
        t = float(offsets[c]) + float(dl) + float(rates[c]) * tau                              # [Tc] global
        x = sample_linear(pts, grid, t)                                                        # [G, Tc, 3]
        uv, depth = project(proj, x)
        err = (uv - obs).norm(dim=-1) * scale
        ok = torch.isfinite(err) & (depth > 0)
        if k == 0:
            n_obs = int(ok.sum())
        if ok.sum() < _MIN_OBS:
            continue
        costs[k] = float(err[ok].clamp_max(_TRUNC_PX).square().mean())
    return costs, n_obs


def refine_offsets_by_reprojection(scene: SceneSpec, tracks: list[CameraTracks], groups: list[list[tuple[int, int]]],
                                   offsets: np.ndarray, rates: np.ndarray, aligned: np.ndarray, times_s: np.ndarray,
                                   gate_px: float, device: torch.device, iters: int = 2, window_frames: float = 0.5,
                                   step_frames: float = 0.02) -> np.ndarray:
    """Offsets [C] (seconds) refined by leave-one-out reprojection (see module docstring)."""
    ref = scene.camera_index(scene.reference_camera)
    out = offsets.astype(np.float64).copy()
    for _ in range(iters):
        new = out.copy()
        for c in range(len(scene.cameras)):
            if c == ref or not aligned[c]:
                continue
            h = 1.0 / scene.cameras[c].fps
            deltas = np.arange(-window_frames, window_frames + 1e-9, step_frames) * h
            cost, n_obs = _camera_cost(scene, c, tracks, groups, out, rates, times_s, deltas, gate_px, device)
            if n_obs < _MIN_OBS or not np.isfinite(cost).any():
                continue
            k = int(np.nanargmin(cost))
            if not 2 <= k < len(deltas) - 2 or not np.isfinite(cost[k - 2:k + 3]).all():
                continue            # minimum at the window's edge: no clear correction
            p = np.polyfit(np.arange(-2, 3), cost[k - 2:k + 3], 2)
            frac = float(np.clip(-p[1] / (2 * p[0]), -2, 2)) if p[0] > 0 else 0.0
            new[c] = out[c] + deltas[k] + frac * step_frames * h
            log.debug("camera %s: reprojection correction %+.4f frames (%d observations)", scene.cameras[c].name,
                      (new[c] - out[c]) / h, n_obs)
        out = new
    return out
