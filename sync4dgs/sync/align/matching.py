"""Cross-view correspondences of aligned 2D tracks by three-view epipolar consistency (no appearance needed).

With time maps known, track i of camera A and track j of camera B can be the same physical point only if j,
interpolated at A's capture instants, stays on i's epipolar lines over their common stretch. Two views alone
are ambiguous when points move along epipolar lines, so a correspondence is accepted only inside a
consistent triple: (i in A, j in B, k in C) with all three pairs epipolar-consistent and j the only track of B
linking i and k. Triples vote for pairwise links; each track keeps, per other camera, its best-supported
partner; links are joined into multi-view groups (union-find), and groups holding two tracks of one camera
are dropped.

The mean squared symmetric epipolar distance of all track pairs is a matrix product per chunk of frames (a
squared point-line distance is a bilinear form of per-frame line and point second moments); only tracks
active in a chunk enter it, and the consistent pairs are kept as sparse matrices.
"""

from __future__ import annotations

import itertools
import logging

import numpy as np
import torch
from scipy import sparse

from sync4dgs.data.scene import SceneSpec
from sync4dgs.sync.align.geometry import fundamental_matrix, viewing_angle_deg
from sync4dgs.sync.align.pairscore import line_channels, point_channels
from sync4dgs.sync.align.resample import sample_linear
from sync4dgs.sync.align.tracks import CameraTracks

log = logging.getLogger(__name__)

_TRIANGLES_PER_PAIR = 4


def pair_mean_distances(ta: CameraTracks, tb: CameraTracks, f: np.ndarray, rho: float, d: float,
                        device: torch.device, chunk_frames: int = 48) -> tuple[np.ndarray, ...]:
    """Mean squared symmetric epipolar distance of every pair of tracks (i of A, j of B) that share an instant.

    B is interpolated at A's frames under ``tau_B = (tau_A - d) / rho`` (d seconds of A's clock). Sums are
    accumulated over chunks of A's frames, each with only the tracks active in it, so cost and memory follow the
    tracks' actual overlaps. Returns (rows [K] int64 track of A, cols [K] int64 track of B, mean_sq [K] float64
    tracking px^2, common [K] float64 number of common frames) of the K pairs with at least one common frame."""
    dt = torch.float64
    xa_all = torch.as_tensor(ta.xy, dtype=dt, device=device)
    q = (torch.as_tensor(ta.tau_s, dtype=dt, device=device) - d) / rho
    xb_all = sample_linear(torch.as_tensor(tb.xy, dtype=dt, device=device),
                           torch.as_tensor(tb.tau_s, dtype=dt, device=device), q)     # [MB, TA, 2]
    va_all, vb_all = torch.isfinite(xa_all).all(-1), torch.isfinite(xb_all).all(-1)
    f_t = torch.as_tensor(f, dtype=dt, device=device)
    keys, nums, cnts = [], [], []
    mb = xb_all.shape[0]
    for s0 in range(0, xa_all.shape[1], chunk_frames):
        sl = slice(s0, s0 + chunk_frames)
        ia = torch.nonzero(va_all[:, sl].any(1)).ravel()
        ib = torch.nonzero(vb_all[:, sl].any(1)).ravel()
        if not len(ia) or not len(ib):
            continue
        xa, xb = xa_all[ia, sl], xb_all[ib, sl]
        la, pa = line_channels(xa, f_t, 1.0), point_channels(xa)                      # full-resolution px
        lb, pb = line_channels(xb, f_t.T, 1.0), point_channels(xb)
        num = (la.reshape(len(ia), -1) @ pb.reshape(len(ib), -1).T) * tb.track_scale ** 2 + \
            (pa.reshape(len(ia), -1) @ lb.reshape(len(ib), -1).T) * ta.track_scale ** 2
        cnt = va_all[ia, sl].to(dt) @ vb_all[ib, sl].to(dt).T
        r, c = torch.nonzero(cnt > 0, as_tuple=True)
        keys.append((ia[r] * mb + ib[c]).cpu().numpy())
        nums.append(num[r, c].cpu().numpy())
        cnts.append(cnt[r, c].cpu().numpy())
    if not keys:
        empty = np.zeros(0, np.int64)
        return empty, empty, np.zeros(0), np.zeros(0)
    uniq, inv = np.unique(np.concatenate(keys), return_inverse=True)
    num = np.bincount(inv, weights=np.concatenate(nums))
    cnt = np.bincount(inv, weights=np.concatenate(cnts))
    return uniq // mb, uniq % mb, num / (2 * np.maximum(cnt, 1)), cnt


def consistent_pairs(ta: CameraTracks, tb: CameraTracks, f: np.ndarray, rho: float, d: float, gate_px: float,
                     min_overlap: int, device: torch.device, chunk_frames: int = 48) -> sparse.csr_matrix:
    """[MA, MB] sparse 0/1 matrix of track pairs whose RMS symmetric epipolar distance (tracking px) over their
    common instants is below ``gate_px``, with at least ``min_overlap`` common frames (pair_mean_distances)."""
    rows, cols, mean_sq, cnt = pair_mean_distances(ta, tb, f, rho, d, device, chunk_frames)
    ok = (cnt >= min_overlap) & (mean_sq < gate_px ** 2)
    return sparse.csr_matrix((np.ones(int(ok.sum()), np.float32), (rows[ok], cols[ok])),
                             shape=(ta.n_tracks, tb.n_tracks))


def consistent_links(scene: SceneSpec, tracks: list[CameraTracks], cams: list[int], offsets: np.ndarray,
                     rates: np.ndarray, gate_px: float, min_overlap: int, max_angle_deg: float,
                     device: torch.device) -> dict[tuple[int, int, int, int], int]:
    """Votes {(a, i, b, j): triples supporting it} for links between tracks of aligned cameras ``cams``.

    gate_px: largest RMS epipolar distance (tracking pixels) of a consistent pair; min_overlap: frames.
    """
    cs = scene.cameras
    near: dict[tuple[int, int], sparse.csr_matrix] = {}
    for a, b in itertools.combinations(cams, 2):
        if viewing_angle_deg(cs[a], cs[b]) > max_angle_deg or not tracks[a].n_tracks or not tracks[b].n_tracks:
            continue
        near[(a, b)] = consistent_pairs(tracks[a], tracks[b], fundamental_matrix(cs[a], cs[b]), rates[b] / rates[a],
                                        (offsets[b] - offsets[a]) / rates[a], gate_px, min_overlap, device)

    def edge(x: int, y: int) -> sparse.csr_matrix:
        return near[(x, y)] if x < y else near[(y, x)].T.tocsr()

    votes: dict[tuple[int, int, int, int], int] = {}
    for (a, b), e_ab in near.items():
        thirds = [c for c in cams
                  if c not in (a, b) and (min(a, c), max(a, c)) in near and (min(b, c), max(b, c)) in near]
        thirds.sort(key=lambda c: viewing_angle_deg(cs[a], cs[c]) + viewing_angle_deg(cs[b], cs[c]))
        for c in thirds[:_TRIANGLES_PER_PAIR]:
            e_bc = edge(b, c).tocsc()
            paths = (e_ab @ e_bc).multiply(edge(a, c)).tocoo()   # [MA, MC]: linking j's where (i, k) consistent
            for i, k in zip(paths.row[paths.data == 1], paths.col[paths.data == 1]):
                js = np.intersect1d(e_ab.indices[e_ab.indptr[i]:e_ab.indptr[i + 1]],
                                    e_bc.indices[e_bc.indptr[k]:e_bc.indptr[k + 1]])
                key = (a, int(i), b, int(js[0]))
                votes[key] = votes.get(key, 0) + 1
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
