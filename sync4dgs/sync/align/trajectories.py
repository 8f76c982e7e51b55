"""3D trajectories from aligned 2D tracks: cross-view track matching, multi-view grouping, DLT triangulation.

With the time maps known, a track i of camera A and a track j of camera B are the same physical point when
j (interpolated at A's capture instants) stays on i's epipolar lines over a long common stretch. Candidates are
scored for all track pairs at once (the mean squared symmetric epipolar distance is a bilinear form of
per-frame line/point moments, so it is one matrix product per pair); a match must be clearly better than the
runner-up in both directions. Matches are grouped across cameras (union-find; groups holding two tracks of
one camera are dropped) and triangulated on a uniform grid of global time (the reference camera's frame
rate) by DLT over the views that see the point at that instant, gated by reprojection error.

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
from sync4dgs.sync.align.geometry import fundamental_matrix, projection_matrices, project, triangulate_dlt
from sync4dgs.sync.align.pairscore import _line_channels, _point_channels
from sync4dgs.sync.align.resample import sample_linear
from sync4dgs.sync.align.tracks import CameraTracks

log = logging.getLogger(__name__)

_RATIO = 0.7  # a match's combined score must be below this fraction of the runner-up's (both directions)


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


def _pair_distances(ta: CameraTracks, tb: CameraTracks, f: np.ndarray, rho: float, d: float,
                    device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean squared symmetric epipolar distance (tracking px^2) of every track pair over their common instants,
    B interpolated at A's frames under ``tau_B = (tau_A - d) / rho``. Returns (D [MA, MB], count [MA, MB])."""
    dt = torch.float64
    xa = torch.as_tensor(ta.xy, dtype=dt, device=device)
    tau_b = torch.as_tensor(tb.tau_s, dtype=dt, device=device)
    q = (torch.as_tensor(ta.tau_s, dtype=dt, device=device) - d) / rho
    xb = sample_linear(torch.as_tensor(tb.xy, dtype=dt, device=device), tau_b, q)        # [MB, TA, 2]
    f_t = torch.as_tensor(f, dtype=dt, device=device)
    # px units: lines scaled so that l.b is a full-resolution pixel distance; converted to tracking px below
    la, pb = _line_channels(xa, f_t, 1.0), _point_channels(xb)
    lb, pa = _line_channels(xb, f_t.T, 1.0), _point_channels(xa)
    num = torch.einsum("ipn,jpn->ij", la, pb) * tb.track_scale ** 2 + torch.einsum("ipn,jpn->ij", pa, lb) * ta.track_scale ** 2
    va = torch.isfinite(xa).all(-1).to(dt)
    vb = torch.isfinite(xb).all(-1).to(dt)
    cnt = va @ vb.T
    return num / (2 * cnt.clamp_min(1)), cnt


def _grouped_samples(tr: CameraTracks, per_track: int) -> tuple[np.ndarray, np.ndarray]:
    """Up to ``per_track`` descriptor rows per track, grouped by track: (track id [R], desc [R, D])."""
    d = tr.desc
    order = np.lexsort((d.frame, d.track))
    tk, ds = d.track[order], d.desc[order]
    starts = np.searchsorted(tk, np.arange(tr.n_tracks))
    counts = np.bincount(tk, minlength=tr.n_tracks)
    pick = [starts[m] + np.unique(np.linspace(0, counts[m] - 1, min(per_track, counts[m])).round().astype(int))
            for m in range(tr.n_tracks) if counts[m]]
    pick = np.concatenate(pick) if pick else np.zeros(0, np.int64)
    return tk[pick], ds[pick]


def descriptor_distances(ta: CameraTracks, tb: CameraTracks, per_track: int = 4) -> np.ndarray:
    """[MA, MB] smallest squared distance between unit SIFT descriptors of two tracks (a few samples each);
    inf where a track has no descriptor. Values are in [0, 4]; same points are typically below 0.3."""
    out = np.full((ta.n_tracks, tb.n_tracks), np.inf, np.float32)
    if ta.desc is None or tb.desc is None or not len(ta.desc.track) or not len(tb.desc.track):
        return out
    ia, da = _grouped_samples(ta, per_track)
    ib, db = _grouped_samples(tb, per_track)
    dist = np.maximum(2.0 - 2.0 * (da @ db.T), 0.0).astype(np.float32)
    ua, sa = np.unique(ia, return_index=True)
    ub, sb = np.unique(ib, return_index=True)
    red = np.minimum.reduceat(np.minimum.reduceat(dist, sa, axis=0), sb, axis=1)
    out[np.ix_(ua, ub)] = red
    return out


def match_tracks(ta: CameraTracks, tb: CameraTracks, f: np.ndarray, rho: float, d: float, cfg: AlignConfig,
                 device: torch.device) -> np.ndarray:
    """[K, 2] index pairs (i in A, j in B) of tracks that are the same point (see module docstring)."""
    if ta.n_tracks == 0 or tb.n_tracks == 0:
        return np.zeros((0, 2), np.int64)
    dist, cnt = _pair_distances(ta, tb, f, rho, d, device)
    gate2 = cfg.epipolar_gate_px ** 2 / 4.0
    desc = torch.as_tensor(descriptor_distances(ta, tb), dtype=dist.dtype, device=dist.device)
    ok = (cnt >= max(cfg.min_overlap_frames, 8)) & (dist < gate2) & (desc < cfg.desc_gate)
    dd = torch.where(ok, dist / gate2 + desc / cfg.desc_gate, torch.full_like(dist, float("inf")))
    if dd.shape[1] < 2 or dd.shape[0] < 2:
        return np.zeros((0, 2), np.int64)
    two_a = dd.topk(2, dim=1, largest=False)
    two_b = dd.topk(2, dim=0, largest=False)
    i = torch.arange(dd.shape[0], device=dd.device)
    j = two_a.indices[:, 0]
    best = two_a.values[:, 0]
    mutual = two_b.indices[0, j] == i
    clear_a = best < _RATIO * two_a.values[:, 1]
    clear_b = best < _RATIO * two_b.values[1, j]
    keep = mutual & clear_a & clear_b & torch.isfinite(best)
    return torch.stack([i[keep], j[keep]], 1).cpu().numpy()


def _groups(n_cams: int, sizes: list[int], matches: dict[tuple[int, int], np.ndarray]) -> list[list[tuple[int, int]]]:
    """Union-find over (camera, track) nodes; drops groups with two tracks of one camera."""
    base = np.concatenate([[0], np.cumsum(sizes)])
    parent = np.arange(base[-1])

    def find(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for (a, b), m in matches.items():
        for i, j in m:
            ra, rb = find(base[a] + i), find(base[b] + j)
            if ra != rb:
                parent[ra] = rb
    groups: dict[int, list[tuple[int, int]]] = {}
    for c in range(n_cams):
        for t in range(sizes[c]):
            groups.setdefault(find(base[c] + t), []).append((c, t))
    out = []
    for g in groups.values():
        cams = [c for c, _ in g]
        if len(g) >= 2 and len(set(cams)) == len(cams):
            out.append(g)
    return out


def triangulate_groups(scene: SceneSpec, tracks: list[CameraTracks], groups: list[list[tuple[int, int]]],
                       offsets: np.ndarray, rates: np.ndarray, times_s: np.ndarray, gate_px: float,
                       device: torch.device, min_angle_deg: float = 2.0) -> np.ndarray:
    """[G, T, 3] float64 triangulated positions of each group at global times ``times_s`` (NaN = unknown).

    gate_px: maximum reprojection error (full-resolution pixels) of a view kept in a point. A point must lie
    within [near, far] of every view used and be seen under rays at least ``min_angle_deg`` apart."""
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
    bad = (mask.sum(1) < 2) | (err.amax(1) > gate_px) | narrow
    pts[bad] = float("nan")
    return pts.reshape(g_count, t_count, 3).cpu().numpy()


def build_trajectories(scene: SceneSpec, tracks: list[CameraTracks], offsets: np.ndarray, rates: np.ndarray,
                       aligned: np.ndarray, cfg: AlignConfig, device: torch.device) -> Trajectories:
    """Match, group and triangulate the tracks of all aligned cameras (see module docstring)."""
    ref = scene.camera_index(scene.reference_camera)
    cams = [k for k in range(len(scene.cameras)) if aligned[k] and tracks[k].n_tracks > 0]
    matches: dict[tuple[int, int], np.ndarray] = {}
    for x, a in enumerate(cams):
        for b in cams[x + 1:]:
            rho = rates[b] / rates[a]
            d = (offsets[b] - offsets[a]) / rates[a]
            m = match_tracks(tracks[a], tracks[b], fundamental_matrix(scene.cameras[a], scene.cameras[b]), rho, d,
                             cfg, device)
            if len(m):
                matches[(a, b)] = m
    groups = _groups(len(scene.cameras), [t.n_tracks for t in tracks], matches)
    fps = scene.cameras[ref].fps
    starts = [offsets[k] + rates[k] * tracks[k].tau_s[0] for k in cams] or [0.0]
    ends = [offsets[k] + rates[k] * tracks[k].tau_s[-1] for k in cams] or [0.0]
    lo, hi = min(starts), max(ends)
    times = lo + np.arange(int(np.floor((hi - lo) * fps + 1e-9)) + 1) / fps
    gate = cfg.reproj_gate_px / max(min(t.track_scale for t in tracks), 1e-6)
    if not groups:
        return Trajectories(times, np.zeros((0, len(times), 3), np.float32), np.zeros((0, 3), np.uint8), [])
    xyz = triangulate_groups(scene, tracks, groups, offsets, rates, times, gate, device)
    keep = np.isfinite(xyz).all(-1).sum(1) >= 2
    rgb = []
    for g in groups:
        own = [(c, t) for c, t in g if c == ref] or g
        c, t = own[0]
        col = tracks[c].rgb[t] if tracks[c].rgb is not None else np.array([200, 200, 200], np.uint8)
        rgb.append(col)
    names = scene.camera_names
    members = [[(names[c], int(t)) for c, t in g] for g, k in zip(groups, keep) if k]
    log.info("trajectories: %d matched track pairs, %d groups, %d triangulated", sum(len(m) for m in matches.values()),
             len(groups), int(keep.sum()))
    return Trajectories(times, xyz[keep].astype(np.float32), np.asarray(rgb, np.uint8).reshape(-1, 3)[keep], members)
