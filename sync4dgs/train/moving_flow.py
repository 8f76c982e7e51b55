"""Velocities of the moving-content seeds from one instant to the next, by matching clusters of seeds.

The seeds of one instant (sync4dgs/train/moving_seed.py) are split into connected clusters (points closer than
``link`` x the instant's median footprint). A cluster is matched, in the previous and in the next instant, to the
cluster of similar mean colour and size whose centroid is nearest, within ``max_step_extents`` x its own extent,
and followed that way through up to ``instants`` instants each way; its velocity is the least-squares slope of
its centroids over those instants (for 1 instant: the mean centroid displacement per second to the matched
neighbours), and every point of the cluster gets it. A centroid moves with a rigidly translating object, so unlike
point-to-nearest-point matching (biased towards zero for objects larger than their displacement) this follows
objects that move more than their own size between instants.

**Absorbed clusters (motion-aware split).** When a small object touches another moving object at an instant, their
seeds form one cluster, which matches the larger object and would give the small one its velocity. A cluster D of
a neighbouring instant that found no match at this instant, moved there by its own velocity, lands inside a larger
cluster C (the one with most points around the prediction) of a different mean colour: the largest connected piece of
the points of C within D's matching reach of that prediction whose colour is nearer D's mean colour than C's is split
off into a cluster of its own (when it could match D: at least ``SPLIT_MIN_POINTS`` points, similar size and colour),
and matching and velocities are redone. ``split_passes`` rounds: a part split off at one instant is the unmatched
cluster that finds the object at the next instant it touches.

Units: scene units, seconds.
"""

from __future__ import annotations

import numpy as np
import torch
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from scipy.spatial import cKDTree

LINK = 2.5                 # points closer than this x the median footprint belong to one cluster
COLOUR_TOLERANCE = 0.2     # max |mean colour difference| (0..1, any channel) of matched clusters
SIZE_RATIO = 3.0           # matched clusters differ in point count by at most this factor
MAX_STEP_EXTENTS = 5.0     # a cluster moves at most this many of its own extents (plus one link) per instant
SPLIT_PASSES = 2           # motion-aware splits of absorbed clusters, each followed by matching again (0: off)
SPLIT_MIN_POINTS = 3       # an absorbed cluster D, and the part split off for it, have at least this many points


def step_reach(ext: np.ndarray, footprint: float) -> np.ndarray:
    """How far (scene units) a cluster of RMS extent ``ext`` may move in one instant: MAX_STEP_EXTENTS x its
    extent plus one link of its instant's ``footprint``."""
    return MAX_STEP_EXTENTS * ext + LINK * footprint


def cluster_labels(xyz: np.ndarray, radius: float) -> np.ndarray:
    """[n] connected-component labels of points ``xyz`` [n, 3] linked when closer than ``radius``."""
    n = len(xyz)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    pairs = cKDTree(xyz).query_pairs(radius, output_type="ndarray")
    graph = coo_matrix((np.ones(len(pairs)), (pairs[:, 0], pairs[:, 1])), shape=(n, n))
    return connected_components(graph, directed=False)[1]


def _summaries(xyz: np.ndarray, rgb: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, ...]:
    """Per cluster: centroid [m,3], mean colour [m,3], point count [m], extent [m] (RMS distance to centroid)."""
    m = int(labels.max()) + 1 if len(labels) else 0
    count = np.bincount(labels, minlength=m).astype(np.float64)
    cen = np.stack([np.bincount(labels, xyz[:, k], m) for k in range(3)], 1) / count[:, None]
    col = np.stack([np.bincount(labels, rgb[:, k], m) for k in range(3)], 1) / count[:, None]
    ext = np.sqrt(np.bincount(labels, ((xyz - cen[labels]) ** 2).sum(1), m) / count)
    return cen, col, count, ext


def _matches(summ: list[tuple[np.ndarray, ...]], footprint: list[float], times_s: list[float], j: int, jj: int,
             spacing_s: float) -> np.ndarray:
    """[m_j] index of each cluster of instant j's best match among instant jj's clusters (-1: none; jj must be
    exactly one ``spacing_s`` away)."""
    cen, col, count, ext = summ[j]
    out = np.full(len(cen), -1, dtype=np.int64)
    if not (0 <= jj < len(times_s) and abs(abs(times_s[jj] - times_s[j]) - spacing_s) < 1e-3 * spacing_s):
        return out
    cen2, col2, count2, _ = summ[jj]
    if len(cen2) == 0 or len(cen) == 0:
        return out
    reach = step_reach(ext, footprint[j])
    # candidate pairs (i, k): centroids within reach (k-d tree; a hair wider, then the exact test below)
    lists = cKDTree(cen2).query_ball_point(cen, reach * (1 + 1e-9) + 1e-12)
    lens = np.fromiter(map(len, lists), dtype=np.int64, count=len(lists))
    if lens.sum() == 0:
        return out
    i = np.repeat(np.arange(len(cen)), lens)
    k = np.concatenate([np.asarray(c, dtype=np.int64) for c in lists if c])
    dist = np.linalg.norm(cen[i] - cen2[k], axis=-1)
    keep = ((dist <= reach[i]) & (np.abs(col[i] - col2[k]).max(-1) <= COLOUR_TOLERANCE)
            & (np.maximum(count[i], count2[k]) <= SIZE_RATIO * np.minimum(count[i], count2[k])))
    i, k, dist = i[keep], k[keep], dist[keep]
    order = np.lexsort((k, dist, i))                     # per cluster i: the nearest similar one (ties: lowest k)
    i, k = i[order], k[order]
    first = np.r_[True, i[1:] != i[:-1]] if len(i) else np.zeros(0, bool)
    out[i[first]] = k[first]
    return out


def _fit_velocities(summ: list[tuple[np.ndarray, ...]], fwd: list[np.ndarray], bwd: list[np.ndarray],
                    times_s: list[float], j: int, instants: int) -> np.ndarray:
    """[m_j, 3] velocity of instant j's clusters: the least-squares slope of the centroids followed through up to
    ``instants`` matches each way (zero where nothing matched)."""
    t = times_s[j]
    cen = summ[j][0]
    # least-squares slope over the followed centroids, from running sums (t relative to instant j)
    n, st, stt = np.ones(len(cen)), np.zeros(len(cen)), np.zeros(len(cen))
    sp, stp = cen.copy(), np.zeros_like(cen)
    for step, links in ((1, fwd), (-1, bwd)):
        cur, alive, k = np.arange(len(cen)), np.ones(len(cen), bool), j
        for _ in range(instants):
            if not (0 <= k + step < len(times_s)) or not alive.any():
                break
            nxt = np.where(alive, links[k][cur], -1)
            alive = nxt >= 0
            k, cur = k + step, np.where(alive, nxt, 0)
            dt, pos = times_s[k] - t, summ[k][0][cur] if len(summ[k][0]) else np.zeros_like(cen)
            n += alive
            st += alive * dt
            stt += alive * dt * dt
            sp += alive[:, None] * pos
            stp += (alive * dt)[:, None] * pos
    den = stt - st * st / n
    moved = den > 0                                        # at least one match
    return np.where(moved[:, None], (stp - st[:, None] * sp / n[:, None]) / np.where(moved, den, 1.0)[:, None], 0.0)


def _split_absorbed(j: int, xyz: list[np.ndarray], rgb: list[np.ndarray], labels: list[np.ndarray],
                    summ: list[tuple[np.ndarray, ...]], fwd: list[np.ndarray], bwd: list[np.ndarray],
                    vel: list[np.ndarray], footprint: list[float], times_s: list[float], spacing_s: float
                    ) -> np.ndarray:
    """Instant j's labels with the parts of clusters that absorbed an unmatched neighbouring cluster split off
    (module docstring, "Absorbed clusters"); the labels unchanged when there is none."""
    lab = labels[j].copy()
    if len(lab) == 0:
        return lab
    tree = cKDTree(xyz[j])
    next_label = first_new = int(lab.max()) + 1
    sizes = np.bincount(lab)
    col_sums = np.stack([np.bincount(lab, rgb[j][:, k]) for k in range(3)], 1)
    for k, links in ((j - 1, fwd), (j + 1, bwd)):
        if not (0 <= k < len(times_s)) or abs(abs(times_s[k] - times_s[j]) - spacing_s) >= 1e-3 * spacing_s:
            continue
        cen, col, count, ext = summ[k]
        for d in np.nonzero((links[k] < 0) & (count >= SPLIT_MIN_POINTS))[0]:
            p = cen[d] + vel[k][d] * (times_s[j] - times_s[k])      # where D is predicted at instant j
            around = np.asarray(tree.query_ball_point(p, ext[d] + LINK * footprint[j]), dtype=np.int64)
            around = around[(lab[around] < first_new) & (sizes[lab[around]] >= 2 * count[d])]
            # ^ points near p of clusters larger than D (parts split off here are never split again)
            if len(around) == 0:
                continue                                            # no larger cluster swallowed D here
            c = np.bincount(lab[around]).argmax()                   # the one with most points around p
            c_col = col_sums[c] / sizes[c]
            if np.abs(c_col - col[d]).max() <= COLOUR_TOLERANCE:
                continue                                            # same colour: D's own match failed elsewhere
            near = np.asarray(tree.query_ball_point(p, step_reach(ext[d], footprint[k])), dtype=np.int64)
            near = near[lab[near] == c]
            c_rgb = rgb[j][near]
            idx = near[np.abs(c_rgb - col[d]).max(1) < np.abs(c_rgb - c_col).max(1)]
            if len(idx) > 1:                                        # one connected piece of them: the largest
                sub = cluster_labels(xyz[j][idx], LINK * footprint[j])
                idx = idx[sub == np.bincount(sub).argmax()]
            n_part = len(idx)
            if (n_part < SPLIT_MIN_POINTS or n_part > 0.7 * sizes[c]
                    or max(n_part, count[d]) > SIZE_RATIO * min(n_part, count[d])
                    or np.abs(rgb[j][idx].mean(0) - col[d]).max() > COLOUR_TOLERANCE):
                continue                                            # the part would not match D: no split
            lab[idx] = next_label
            sizes = np.append(sizes, n_part)
            sizes[c] -= n_part
            col_sums = np.append(col_sums, rgb[j][idx].sum(0)[None], 0)
            col_sums[c] -= rgb[j][idx].sum(0)
            next_label += 1
    return lab


def cluster_velocities(times_s: list[float], xyz: list[np.ndarray], rgb: list[np.ndarray], footprint: list[float],
                       spacing_s: float, instants: int = 1, split_passes: int = SPLIT_PASSES) -> list[np.ndarray]:
    """Per instant a velocity [n_j, 3] for each of its points (see the module docstring).

    times_s [J] instants (s); xyz[j] [n_j, 3] and rgb[j] [n_j, 3] the seeds of instant j; footprint[j] its median
    footprint (scene units); neighbours are matched one ``spacing_s`` apart. A cluster is followed through up to
    ``instants`` matches forward and backward (each step the best match of the previous one), and its velocity is
    the least-squares slope of its centroids over those instants (with ``instants`` = 1: the mean displacement to
    the matched neighbours, per second). ``split_passes``: motion-aware splits of absorbed clusters (0: none)."""
    J = len(times_s)
    labels = [cluster_labels(x, LINK * f) for x, f in zip(xyz, footprint)]
    summ = [_summaries(x, c, lab) for x, c, lab in zip(xyz, rgb, labels)]
    fwd = [_matches(summ, footprint, times_s, j, j + 1, spacing_s) for j in range(J)]
    bwd = [_matches(summ, footprint, times_s, j, j - 1, spacing_s) for j in range(J)]
    fits = [_fit_velocities(summ, fwd, bwd, times_s, j, instants) for j in range(J)]
    for _ in range(split_passes):
        split = [_split_absorbed(j, xyz, rgb, labels, summ, fwd, bwd, fits, footprint, times_s, spacing_s)
                 for j in range(J)]
        changed = [j for j in range(J) if not np.array_equal(split[j], labels[j])]
        if not changed:
            break
        labels = split                     # parts take new labels after the existing ones: still 0..m-1
        for j in changed:
            summ[j] = _summaries(xyz[j], rgb[j], labels[j])
        for j in sorted({i for j in changed for i in (j - 1, j, j + 1) if 0 <= i < J}):   # matches touching them
            fwd[j] = _matches(summ, footprint, times_s, j, j + 1, spacing_s)
            bwd[j] = _matches(summ, footprint, times_s, j, j - 1, spacing_s)
        fits = [_fit_velocities(summ, fwd, bwd, times_s, j, instants) for j in range(J)]
    return [v[lab] if len(lab) else np.zeros((0, 3)) for v, lab in zip(fits, labels)]


def seed_velocities(times_s: list[float], points: list, spacing_s: float, instants: int = 1,
                    split_passes: int = SPLIT_PASSES) -> list[torch.Tensor]:
    """:func:`cluster_velocities` of SweepPoints per instant; tensors [n_j, 3] on the points' device/dtype.

    First-hypothesis points (SweepPoints.hypotheses() 0) are clustered and followed among themselves, so a
    second-hypothesis point at a wrong depth cannot bridge, and move, their clusters (their velocities are the same
    as without second points). A second-hypothesis point takes the velocity of the nearest first-hypothesis point
    within one cluster link (taken to lie on that object), else that of its own cluster among the second points."""
    ranks = [p.hypotheses().detach().cpu().numpy() for p in points]
    xyz_all = [p.xyz.detach().cpu().double().numpy() for p in points]
    rgb_all = [p.rgb.detach().cpu().double().numpy() for p in points]
    foot_all = [p.footprint.detach().cpu().double().numpy() for p in points]
    out = [np.zeros((len(r), 3)) for r in ranks]

    def lower_median(x: np.ndarray) -> float:       # torch.median's convention (the lower middle value)
        return float(np.sort(x)[(len(x) - 1) // 2])

    def velocities_of(sel: list[np.ndarray]) -> list[np.ndarray]:
        foot = [lower_median(f[m]) if m.any() else 0.0 for f, m in zip(foot_all, sel)]
        return cluster_velocities(times_s, [x[m] for x, m in zip(xyz_all, sel)],
                                  [c[m] for c, m in zip(rgb_all, sel)], foot, spacing_s, instants, split_passes)

    first = [r == 0 for r in ranks]
    for o, m, v in zip(out, first, velocities_of(first)):
        o[m] = v
    second = [r > 0 for r in ranks]
    if not any(m.any() for m in second):
        return [torch.as_tensor(v, dtype=p.xyz.dtype, device=p.xyz.device) for v, p in zip(out, points)]
    own = velocities_of(second)
    for j, (o, m1, m2) in enumerate(zip(out, first, second)):
        if not m2.any():
            continue
        v2 = own[j]
        if m1.any():
            link = LINK * lower_median(foot_all[j][m1])
            dist, idx = cKDTree(xyz_all[j][m1]).query(xyz_all[j][m2], distance_upper_bound=link)
            near = np.isfinite(dist)
            v2[near] = o[m1][idx[near]]
        o[m2] = v2
    return [torch.as_tensor(v, dtype=p.xyz.dtype, device=p.xyz.device) for v, p in zip(out, points)]
