"""Velocities of the moving-content seeds from one instant to the next, by matching clusters of seeds.

The seeds of one instant (sync4dgs/train/moving_seed.py) are split into connected clusters (points closer than
``link`` x the instant's median footprint). A cluster is matched, in the previous and in the next instant, to the
cluster of similar mean colour and size whose centroid is nearest, within ``max_step_extents`` x its own extent;
its velocity is the mean centroid displacement per second over the matches found, and every point of the
cluster gets it. A centroid moves with a rigidly translating object, so unlike point-to-nearest-point matching
(biased towards zero for objects larger than their displacement) this follows objects that move more than
their own size between instants. Unmatched clusters get zero velocity. Units: scene units, seconds.
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


def cluster_velocities(times_s: list[float], xyz: list[np.ndarray], rgb: list[np.ndarray], footprint: list[float],
                       spacing_s: float) -> list[np.ndarray]:
    """Per instant a velocity [n_j, 3] for each of its points (see the module docstring).

    times_s [J] instants (s); xyz[j] [n_j, 3] and rgb[j] [n_j, 3] the seeds of instant j; footprint[j] its median
    footprint (scene units); only neighbours exactly one ``spacing_s`` away are matched."""
    labels = [cluster_labels(x, LINK * f) for x, f in zip(xyz, footprint)]
    summ = [_summaries(x, c, lab) for x, c, lab in zip(xyz, rgb, labels)]
    out = []
    for j, t in enumerate(times_s):
        cen, col, count, ext = summ[j]
        steps, hits = np.zeros_like(cen), np.zeros(len(cen))
        for jj in (j - 1, j + 1):
            if not (0 <= jj < len(times_s) and abs(abs(times_s[jj] - t) - spacing_s) < 1e-3 * spacing_s):
                continue
            cen2, col2, count2, _ = summ[jj]
            if len(cen2) == 0:
                continue
            dist = np.linalg.norm(cen[:, None] - cen2[None], axis=-1)                        # [m, m2]
            similar = ((np.abs(col[:, None] - col2[None]).max(-1) <= COLOUR_TOLERANCE)
                       & (np.maximum(count[:, None], count2[None]) <= SIZE_RATIO * np.minimum(count[:, None], count2[None])))
            dist = np.where(similar, dist, np.inf)
            best = dist.argmin(1)
            reach = MAX_STEP_EXTENTS * ext + LINK * footprint[j]
            ok = dist[np.arange(len(cen)), best] <= reach
            steps[ok] += (cen2[best[ok]] - cen[ok]) / (times_s[jj] - t)
            hits[ok] += 1
        v = np.where(hits[:, None] > 0, steps / np.maximum(hits, 1)[:, None], 0.0)
        out.append(v[labels[j]] if len(labels[j]) else np.zeros((0, 3)))
    return out


def seed_velocities(times_s: list[float], points: list, spacing_s: float) -> list[torch.Tensor]:
    """:func:`cluster_velocities` of SweepPoints per instant; tensors [n_j, 3] on the points' device/dtype."""
    xyz = [p.xyz.detach().cpu().double().numpy() for p in points]
    rgb = [p.rgb.detach().cpu().double().numpy() for p in points]
    foot = [float(p.footprint.median()) if p.footprint.numel() else 0.0 for p in points]
    vel = cluster_velocities(times_s, xyz, rgb, foot, spacing_s)
    return [torch.as_tensor(v, dtype=p.xyz.dtype, device=p.xyz.device) for v, p in zip(vel, points)]
