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


def _sample_views(scene: SceneSpec, tracks: list[CameraTracks], groups: list[list[tuple[int, int]]],
                  offsets: np.ndarray, rates: np.ndarray, t_glob: torch.Tensor) -> torch.Tensor:
    """[G, C, T, 2] observations of each group's tracks at global times ``t_glob`` [T] (NaN = not seen)."""
    dt, device = t_glob.dtype, t_glob.device
    n_cams = len(scene.cameras)
    uv = torch.full((len(groups), n_cams, len(t_glob), 2), float("nan"), dtype=dt, device=device)
    for c in range(n_cams):
        rows = [(gi, t) for gi, g in enumerate(groups) for cc, t in g if cc == c]
        if not rows:
            continue
        gi = torch.as_tensor([r[0] for r in rows], device=device)
        xy = torch.as_tensor(tracks[c].xy[[r[1] for r in rows]], dtype=dt, device=device)
        tau = (t_glob - float(offsets[c])) / float(rates[c])
        uv[gi, c] = sample_linear(xy, torch.as_tensor(tracks[c].tau_s, dtype=dt, device=device), tau)
    return uv


def _gated_points(scene: SceneSpec, proj: torch.Tensor, flat: torch.Tensor, need: torch.Tensor, gate_px: float,
                  min_angle_deg: float) -> torch.Tensor:
    """DLT with reprojection / depth / ray-angle gating: flat [N, C, 2] observations, need [N] views -> [N, 3]."""
    n_cams = flat.shape[1]
    mask = torch.isfinite(flat).all(-1)
    pts = triangulate_dlt(proj, flat, mask)
    for _ in range(2):  # gate views by reprojection error and depth range, re-triangulate
        rep, depth = project(proj[None], pts[:, None, :].expand(-1, n_cams, -1))
        err = torch.nan_to_num((rep - flat).norm(dim=-1), nan=float("inf"))
        mask = mask & err.le(gate_px) & (depth >= scene.near) & (depth <= scene.far)
        pts = triangulate_dlt(proj, flat, mask)
    rep, _ = project(proj[None], pts[:, None, :].expand(-1, n_cams, -1))
    err = torch.where(mask, (rep - flat).norm(dim=-1), torch.zeros((), dtype=flat.dtype, device=flat.device))
    centers = torch.as_tensor(np.stack([c.center for c in scene.cameras]), dtype=flat.dtype, device=flat.device)
    rays = pts[:, None, :] - centers[None]
    rays = rays / rays.norm(dim=-1, keepdim=True).clamp_min(1e-12)
    cos = torch.einsum("nad,nbd->nab", rays, rays)                          # widest angle between used rays
    both = mask[:, :, None] & mask[:, None, :]
    min_cos = torch.where(both, cos, torch.ones_like(cos)).flatten(1).amin(1)
    narrow = torch.nan_to_num(min_cos, nan=1.0) > np.cos(np.radians(min_angle_deg))
    bad = (mask.sum(1) < need) | (err.amax(1) > gate_px) | narrow
    pts[bad] = float("nan")
    return pts


def triangulate_groups(scene: SceneSpec, tracks: list[CameraTracks], groups: list[list[tuple[int, int]]],
                       offsets: np.ndarray, rates: np.ndarray, times_s: np.ndarray, gate_px: float,
                       device: torch.device, min_angle_deg: float = 2.0, min_views: int = 2,
                       chunk: int = 64) -> np.ndarray:
    """[G, T, 3] float64 triangulated positions of each group at global times ``times_s`` (NaN = unknown).

    gate_px: maximum reprojection error (full-resolution pixels) of a view kept in a point. A point needs
    ``min_views`` agreeing views (but at most as many as its group has), must lie within [near, far] of every
    view used and be seen under rays at least ``min_angle_deg`` apart. Groups are processed ``chunk`` at a time."""
    dt = torch.float64
    t_glob = torch.as_tensor(times_s, dtype=dt, device=device)
    proj = torch.as_tensor(projection_matrices(scene.cameras), dtype=dt, device=device)
    out = np.full((len(groups), len(times_s), 3), np.nan)
    for s0 in range(0, len(groups), chunk):
        part = groups[s0:s0 + chunk]
        uv = _sample_views(scene, tracks, part, offsets, rates, t_glob)
        flat = uv.permute(0, 2, 1, 3).reshape(-1, uv.shape[1], 2)                # [g*T, C, 2]
        need = torch.as_tensor([max(2, min(min_views, len(g))) for g in part], device=device)
        need = need[:, None].expand(len(part), len(times_s)).reshape(-1)
        pts = _gated_points(scene, proj, flat, need, gate_px, min_angle_deg)
        out[s0:s0 + len(part)] = pts.reshape(len(part), len(times_s), 3).cpu().numpy()
    return out


def link_groups(scene: SceneSpec, tracks: list[CameraTracks], offsets: np.ndarray, rates: np.ndarray,
                aligned: np.ndarray, cfg: AlignConfig, device: torch.device) -> list[list[tuple[int, int]]]:
    """Multi-view track groups [(camera index, track index), ...] of the aligned cameras (matching.py)."""
    cams = [k for k in range(len(scene.cameras)) if aligned[k] and tracks[k].n_tracks > 0]
    votes = consistent_links(scene, tracks, cams, offsets, rates, 0.5 * cfg.epipolar_gate_px,
                             max(cfg.min_overlap_frames, 8), cfg.match_max_angle_deg, device)
    links = best_links(votes)
    groups = [g for g in group_links([t.n_tracks for t in tracks], links) if len(g) >= min(cfg.min_views, len(cams))]
    log.info("trajectories: %d track links, %d groups", len(links), len(groups))
    return groups


def time_grid(scene: SceneSpec, tracks: list[CameraTracks], offsets: np.ndarray, rates: np.ndarray,
              aligned: np.ndarray) -> np.ndarray:
    """Uniform global times [T] (seconds, the reference camera's frame rate) covering every aligned camera."""
    cams = [k for k in range(len(scene.cameras)) if aligned[k]]
    fps = scene.camera(scene.reference_camera).fps
    lo = min(offsets[k] + rates[k] * tracks[k].tau_s[0] for k in cams)
    hi = max(offsets[k] + rates[k] * tracks[k].tau_s[-1] for k in cams)
    return lo + np.arange(int(np.floor((hi - lo) * fps + 1e-9)) + 1) / fps


def build_trajectories(scene: SceneSpec, tracks: list[CameraTracks], offsets: np.ndarray, rates: np.ndarray,
                       aligned: np.ndarray, cfg: AlignConfig, device: torch.device,
                       groups: list[list[tuple[int, int]]] | None = None) -> Trajectories:
    """Triangulate the multi-view track groups (``link_groups`` unless given) with the final time maps."""
    ref = scene.camera_index(scene.reference_camera)
    if groups is None:
        groups = link_groups(scene, tracks, offsets, rates, aligned, cfg, device)
    times = time_grid(scene, tracks, offsets, rates, aligned)
    if not groups:
        return Trajectories(times, np.zeros((0, len(times), 3), np.float32), np.zeros((0, 3), np.uint8), [])
    gate = cfg.reproj_gate_px / max(min(t.track_scale for t in tracks), 1e-6)
    xyz = triangulate_groups(scene, tracks, groups, offsets, rates, times, gate, device, min_views=cfg.min_views)
    keep = np.isfinite(xyz).all(-1).sum(1) >= 2
    rgb = []
    for g in groups:
        c, t = ([(c, t) for c, t in g if c == ref] or g)[0]
        rgb.append(tracks[c].rgb[t] if tracks[c].rgb is not None else np.array([200, 200, 200], np.uint8))
    names = scene.camera_names
    members = [[(names[c], int(t)) for c, t in g] for g, k in zip(groups, keep) if k]
    log.info("trajectories: %d of %d groups triangulated", int(keep.sum()), len(groups))
    return Trajectories(times, xyz[keep].astype(np.float32), np.asarray(rgb, np.uint8).reshape(-1, 3)[keep], members)
