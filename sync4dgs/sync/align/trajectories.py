"""3D trajectories from aligned 2D tracks: multi-view track groups (matching.py) triangulated over time.

Each group is triangulated on a uniform grid of global time (the reference camera's frame rate) by DLT over
the views that see the point at that instant (tracks interpolated linearly in time with the final time
maps); views are gated by reprojection error, depth range and ray angle.

Output contract (stage 2 initialises dynamic Gaussians from it): ``times_s`` [T] float64 global seconds,
``xyz`` [M, T, 3] float32 world coordinates (NaN where unknown), ``rgb`` [M, 3] uint8.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import torch

from sync4dgs.data.scene import SceneSpec
from sync4dgs.sync.align.config import AlignConfig
from sync4dgs.sync.align.geometry import projection_matrices, project, triangulate_dlt
from sync4dgs.sync.align.matching import best_links, consistent_links, group_links
from sync4dgs.sync.align.resample import sample_linear
from sync4dgs.sync.align.tracks import CameraTracks

log = logging.getLogger(__name__)


@dataclass
class Trajectories:
    """times_s [T] float64 (global seconds); xyz [M, T, 3] float32 (NaN = unknown); rgb [M, 3] uint8;
    members: per trajectory, the (camera name, track index) pairs it was triangulated from."""

    times_s: np.ndarray
    xyz: np.ndarray
    rgb: np.ndarray
    members: list[list[tuple[str, int]]]

    @property
    def n(self) -> int:
        return int(self.xyz.shape[0])


def triangulate_groups(scene: SceneSpec, tracks: list[CameraTracks], groups: list[list[tuple[int, int]]],
                       offsets: np.ndarray, rates: np.ndarray, times_s: np.ndarray, gate_px: float,
                       device: torch.device, min_angle_deg: float = 2.0, min_views: int = 2) -> np.ndarray:
    """[G, T, 3] float64 triangulated positions of each group at global times ``times_s`` (NaN = unknown).

    gate_px: maximum reprojection error (full-resolution pixels) of a view kept in a point. A point needs
    ``min_views`` agreeing views (but at most as many as its group has), must lie within [near, far] of every
    view used and be seen under rays at least ``min_angle_deg`` apart."""
    dt = torch.float64
    n_cams = len(scene.cameras)
    g_count, t_count = len(groups), len(times_s)
    uv = torch.full((g_count, n_cams, t_count, 2), float("nan"), dtype=dt, device=device)
    t_glob = torch.as_tensor(times_s, dtype=dt, device=device)
    for c in range(n_cams):
        rows = [(gi, t) for gi, g in enumerate(groups) for cc, t in g if cc == c]
        if not rows:
            continue
        gi = torch.as_tensor([r[0] for r in rows], device=device)
        ti = [r[1] for r in rows]
        tau = (t_glob - float(offsets[c])) / float(rates[c])
        xy = torch.as_tensor(tracks[c].xy[ti], dtype=dt, device=device)
        uv[gi, c] = sample_linear(xy, torch.as_tensor(tracks[c].tau_s, dtype=dt, device=device), tau)
    proj = torch.as_tensor(projection_matrices(scene.cameras), dtype=dt, device=device)
    flat = uv.permute(0, 2, 1, 3).reshape(-1, n_cams, 2)                      # [G*T, C, 2]
    mask = torch.isfinite(flat).all(-1)
    pts = triangulate_dlt(proj, flat, mask)
    for _ in range(2):  # gate views by reprojection error and depth range, re-triangulate
        rep, depth = project(proj[None], pts[:, None, :].expand(-1, n_cams, -1))
        err = (rep - flat).norm(dim=-1)
        mask = mask & torch.nan_to_num(err, nan=float("inf")).le(gate_px) & (depth >= scene.near) & (depth <= scene.far)
        pts = triangulate_dlt(proj, flat, mask)
    rep, _ = project(proj[None], pts[:, None, :].expand(-1, n_cams, -1))
    err = torch.where(mask, (rep - flat).norm(dim=-1), torch.zeros((), dtype=dt, device=device))
    # widest angle between the viewing rays of the views used
    centers = torch.as_tensor(np.stack([c.center for c in scene.cameras]), dtype=dt, device=device)
    rays = pts[:, None, :] - centers[None]
    rays = rays / rays.norm(dim=-1, keepdim=True).clamp_min(1e-12)
    cos = torch.einsum("nad,nbd->nab", rays, rays)
    both = mask[:, :, None] & mask[:, None, :]
    min_cos = torch.where(both, cos, torch.ones_like(cos)).flatten(1).amin(1)
    narrow = torch.nan_to_num(min_cos, nan=1.0) > np.cos(np.radians(min_angle_deg))
    need = torch.as_tensor([max(2, min(min_views, len(g))) for g in groups], device=device)
    need = need[:, None].expand(g_count, t_count).reshape(-1)
    bad = (mask.sum(1) < need) | (err.amax(1) > gate_px) | narrow
    pts[bad] = float("nan")
    return pts.reshape(g_count, t_count, 3).cpu().numpy()


def build_trajectories(scene: SceneSpec, tracks: list[CameraTracks], offsets: np.ndarray, rates: np.ndarray,
                       aligned: np.ndarray, cfg: AlignConfig, device: torch.device) -> Trajectories:
    """Match, group and triangulate the tracks of all aligned cameras (see module docstring)."""
    ref = scene.camera_index(scene.reference_camera)
    cams = [k for k in range(len(scene.cameras)) if aligned[k] and tracks[k].n_tracks > 0]
    votes = consistent_links(scene, tracks, cams, offsets, rates, 0.5 * cfg.epipolar_gate_px,
                             max(cfg.min_overlap_frames, 8), cfg.match_max_angle_deg, device)
    links = best_links(votes)
    groups = [g for g in group_links([t.n_tracks for t in tracks], links) if len(g) >= min(cfg.min_views, len(cams))]
    fps = scene.cameras[ref].fps
    starts = [offsets[k] + rates[k] * tracks[k].tau_s[0] for k in cams] or [0.0]
    ends = [offsets[k] + rates[k] * tracks[k].tau_s[-1] for k in cams] or [0.0]
    lo, hi = min(starts), max(ends)
    times = lo + np.arange(int(np.floor((hi - lo) * fps + 1e-9)) + 1) / fps
    gate = cfg.reproj_gate_px / max(min(t.track_scale for t in tracks), 1e-6)
    if not groups:
        return Trajectories(times, np.zeros((0, len(times), 3), np.float32), np.zeros((0, 3), np.uint8), [])
    xyz = triangulate_groups(scene, tracks, groups, offsets, rates, times, gate, device, min_views=cfg.min_views)
    keep = np.isfinite(xyz).all(-1).sum(1) >= 2
    rgb = []
    for g in groups:
        own = [(c, t) for c, t in g if c == ref] or g
        c, t = own[0]
        col = tracks[c].rgb[t] if tracks[c].rgb is not None else np.array([200, 200, 200], np.uint8)
        rgb.append(col)
    names = scene.camera_names
    members = [[(names[c], int(t)) for c, t in g] for g, k in zip(groups, keep) if k]
    log.info("trajectories: %d track links, %d groups, %d triangulated", len(links), len(groups), int(keep.sum()))
    return Trajectories(times, xyz[keep].astype(np.float32), np.asarray(rgb, np.uint8).reshape(-1, 3)[keep], members)
