"""Cross-view correspondences of aligned 2D tracks by three-view epipolar consistency (no appearance needed).

With time maps known, track i of camera A and track j of camera B can be the same physical point only if j,
interpolated at A's capture instants, stays on i's epipolar lines over their common stretch. Two views alone
are ambiguous when points move along epipolar lines, so a correspondence is accepted only inside a
consistent triple: (i in A, j in B, k in C) with all three pairs epipolar-consistent and j the only track of B
linking i and k. Triples vote for pairwise links; each track keeps, per other camera, its best-supported
partner; links are joined into multi-view groups (union-find), and groups holding two tracks of one camera
are dropped.

The mean squared symmetric epipolar distance of all track pairs is one matrix product per camera pair (a
squared point-line distance is a bilinear form of per-frame line and point second moments).
"""

from __future__ import annotations

import itertools
import logging

import numpy as np
import torch

from sync4dgs.data.scene import SceneSpec
from sync4dgs.sync.align.geometry import fundamental_matrix, viewing_angle_deg
from sync4dgs.sync.align.pairscore import _line_channels, _point_channels
from sync4dgs.sync.align.resample import sample_linear
from sync4dgs.sync.align.tracks import CameraTracks

log = logging.getLogger(__name__)

_TRIANGLES_PER_PAIR = 4


def pair_distances(ta: CameraTracks, tb: CameraTracks, f: np.ndarray, rho: float, d: float,
                   device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean squared symmetric epipolar distance (tracking px^2) of every track pair over their common instants,
    B interpolated at A's frames under ``tau_B = (tau_A - d) / rho``. Returns (D [MA, MB], count [MA, MB])."""
    dt = torch.float64
    xa = torch.as_tensor(ta.xy, dtype=dt, device=device)
    tau_b = torch.as_tensor(tb.tau_s, dtype=dt, device=device)
    q = (torch.as_tensor(ta.tau_s, dtype=dt, device=device) - d) / rho
    xb = sample_linear(torch.as_tensor(tb.xy, dtype=dt, device=device), tau_b, q)        # [MB, TA, 2]
    f_t = torch.as_tensor(f, dtype=dt, device=device)
    la, pb = _line_channels(xa, f_t, 1.0), _point_channels(xb)                            # full-res px
    lb, pa = _line_channels(xb, f_t.T, 1.0), _point_channels(xa)
    num = torch.einsum("ipn,jpn->ij", la, pb) * tb.track_scale ** 2 + \
        torch.einsum("ipn,jpn->ij", pa, lb) * ta.track_scale ** 2
    va = torch.isfinite(xa).all(-1).to(dt)
    vb = torch.isfinite(xb).all(-1).to(dt)
    cnt = va @ vb.T
    return num / (2 * cnt.clamp_min(1)), cnt


def consistent_links(scene: SceneSpec, tracks: list[CameraTracks], cams: list[int], offsets: np.ndarray,
                     rates: np.ndarray, gate_px: float, min_overlap: int, max_angle_deg: float,
                     device: torch.device) -> dict[tuple[int, int, int, int], int]:
    """Votes {(a, i, b, j): triples supporting it} for links between tracks of aligned cameras ``cams``.

    gate_px: largest RMS epipolar distance (tracking pixels) of a consistent pair; min_overlap: frames.
    """
    cs = scene.cameras
    near: dict[tuple[int, int], torch.Tensor] = {}
    for a, b in itertools.combinations(cams, 2):
        if viewing_angle_deg(cs[a], cs[b]) > max_angle_deg or not tracks[a].n_tracks or not tracks[b].n_tracks:
            continue
        dist, cnt = pair_distances(tracks[a], tracks[b], fundamental_matrix(cs[a], cs[b]), rates[b] / rates[a],
                                   (offsets[b] - offsets[a]) / rates[a], device)
        near[(a, b)] = ((dist < gate_px ** 2) & (cnt >= min_overlap)).to(torch.float32)
    votes: dict[tuple[int, int, int, int], int] = {}
    for (a, b), e_ab in near.items():
        thirds = [c for c in cams if c not in (a, b) and (min(a, c), max(a, c)) in near and (min(b, c), max(b, c)) in near]
        thirds.sort(key=lambda c: viewing_angle_deg(cs[a], cs[c]) + viewing_angle_deg(cs[b], cs[c]))
        for c in thirds[:_TRIANGLES_PER_PAIR]:
            e_ac = near[(a, c)] if a < c else near[(c, a)].T
            e_bc = near[(b, c)] if b < c else near[(c, b)].T
            paths = e_ab @ e_bc                                   # [MA, MC]: number of linking j
            ok = (paths == 1) & (e_ac > 0)
            ii, kk = torch.nonzero(ok, as_tuple=True)
            if not len(ii):
                continue
            jj = (e_ab[ii] * e_bc[:, kk].T).argmax(1)
            for i, j in zip(ii.tolist(), jj.tolist()):
                votes[(a, i, b, j)] = votes.get((a, i, b, j), 0) + 1
    return votes


def best_links(votes: dict[tuple[int, int, int, int], int]) -> list[tuple[int, int, int, int]]:
    """Keep a link only if it is the unique best-voted partner of both its tracks towards the other camera."""
    best_of: dict[tuple[int, int, int], list[tuple[int, int]]] = {}
    for (a, i, b, j), v in votes.items():
        best_of.setdefault((a, i, b), []).append((v, j))
        best_of.setdefault((b, j, a), []).append((v, i))

    def unique_best(key: tuple[int, int, int]) -> int | None:
        cand = sorted(best_of[key], reverse=True)
        if len(cand) > 1 and cand[0][0] == cand[1][0]:
            return None
        return cand[0][1]

    return [(a, i, b, j) for (a, i, b, j) in votes if unique_best((a, i, b)) == j and unique_best((b, j, a)) == i]


def group_links(sizes: list[int], links: list[tuple[int, int, int, int]]) -> list[list[tuple[int, int]]]:
    """Union-find over (camera, track) nodes; drops groups holding two tracks of one camera."""
    base = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
    parent = np.arange(base[-1])

    def find(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for a, i, b, j in links:
        ra, rb = find(base[a] + i), find(base[b] + j)
        if ra != rb:
            parent[ra] = rb
    groups: dict[int, list[tuple[int, int]]] = {}
    for a, i, b, j in links:
        for c, t in ((a, i), (b, j)):
            g = groups.setdefault(find(base[c] + t), [])
            if (c, t) not in g:
                g.append((c, t))
    out = []
    for g in groups.values():
        cams = [c for c, _ in g]
        if len(set(cams)) == len(cams):
            out.append(sorted(g))
    return out
