"""How much evidence backs a time map: shared frames of a pair, and camera-graph confidence.

Two failure modes make a pairwise or per-camera confidence lie:

* **Little temporal overlap.** At a candidate lag where two clips share only a few frames, a score curve's
  minimum is decided by a handful of samples; with short clips and large offsets such spurious minima can be
  deep and isolated (high peak confidence) and yet wrong. :func:`shared_frames` counts the frames two
  cameras share under a candidate map and :func:`overlap_factor` scales a candidate's weight from 0 (fewer
  than ``min_frames``: the candidate cannot decide anything) to 1 (``full_frames`` or more).
* **A weakly attached group of cameras.** A camera deep inside a well-connected group has many consistent
  pairs, yet the whole group may hang on the reference through one wrong pair. A camera's alignment is only
  as trustworthy as the evidence linking it to the reference: :func:`graph_confidence` takes, per camera, the
  minimum cut between the reference and the camera over the inlier pairs, each pair's capacity being
  ``-log(1 - w)`` for its weight w in [0, 1]; confidence = ``1 - exp(-cut)``. So the cut that isolates the
  camera alone gives the classic ``1 - prod(1 - w)`` over its own pairs, a group hanging on one pair gets at
  most that pair's weight, and two independent (edge-disjoint) links of weights w1, w2 give
  ``1 - (1 - w1)(1 - w2)``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import sparse
from scipy.sparse.csgraph import maximum_flow

_W_MAX = 0.999          # pair weights are clipped below 1 (capacity -log(1 - w) stays finite)
_CAP_SCALE = 10_000     # capacities are integers for scipy's max-flow: 1e-4 resolution in -log(1 - w)


def shared_frames(tau_a: np.ndarray, tau_b: np.ndarray, rho: float, d_s: float) -> int:
    """Frames two cameras share under the candidate map ``tau_A = d_s + rho * tau_B``.

    tau_a: [TA], tau_b: [TB] local capture times (seconds, increasing). Returns the smaller of: A's frames
    inside B's recording (mapped to A's clock) and B's frames inside A's recording."""
    tau_a, tau_b = np.asarray(tau_a, float), np.asarray(tau_b, float)
    if not len(tau_a) or not len(tau_b) or not rho > 0:
        return 0
    lo_b, hi_b = d_s + rho * tau_b[0], d_s + rho * tau_b[-1]            # B's span on A's clock
    lo_a, hi_a = (tau_a[0] - d_s) / rho, (tau_a[-1] - d_s) / rho          # A's span on B's clock
    eps = 1e-9
    in_a = int(np.count_nonzero((tau_a >= lo_b - eps) & (tau_a <= hi_b + eps)))
    in_b = int(np.count_nonzero((tau_b >= lo_a - eps) & (tau_b <= hi_a + eps)))
    return min(in_a, in_b)


def overlap_factor(n_shared: float, min_frames: float, full_frames: float) -> float:
    """Weight multiplier in [0, 1] for a candidate backed by ``n_shared`` shared frames: 0 below
    ``min_frames``, linear up to 1 at ``full_frames``."""
    if n_shared < min_frames:
        return 0.0
    if full_frames <= min_frames:
        return 1.0
    return float(np.clip((n_shared - min_frames) / (full_frames - min_frames), 0.0, 1.0))


def support_weight(candidates: list[tuple[float, float, float]], chosen: int, runner_up: float) -> float:
    """Weight with which a pair backs a solution that agrees with its candidate ``chosen``: that candidate's
    weight when it is the pair's best (highest weight; ties count as best), else ``runner_up`` x that weight (the
    pair's own evidence prefers another lag, so it is at best weak support). candidates: (ratio, lag_s, weight)."""
    w = float(candidates[chosen][2])
    best = max(float(c[2]) for c in candidates)
    return w if w >= best else float(runner_up) * w


@dataclass
class GraphSupport:
    """Per-camera support of a solution: confidence [C] in [0, 1] (1 - exp(-min cut), reference 1, cameras not
    reached 0) and paths [C] int (edge-disjoint inlier paths to the reference; reference: number of cameras)."""

    confidence: np.ndarray
    paths: np.ndarray


def _max_flows(n: int, ref: int, edges: list[tuple[int, int, int]]) -> np.ndarray:
    """[n] max-flow values (integer capacities) from ``ref`` to every camera over undirected ``edges``."""
    cap: dict[tuple[int, int], int] = {}
    for a, b, c in edges:
        if a == b or c <= 0:
            continue
        cap[(a, b)] = cap.get((a, b), 0) + c
        cap[(b, a)] = cap.get((b, a), 0) + c
    out = np.zeros(n, np.int64)
    if not cap:
        return out
    keys = list(cap)
    graph = sparse.csr_matrix((np.asarray([cap[k] for k in keys], np.int32),
                               (np.asarray([k[0] for k in keys]), np.asarray([k[1] for k in keys]))), shape=(n, n))
    for k in range(n):
        if k != ref:
            out[k] = maximum_flow(graph, ref, k).flow_value
    return out


def graph_confidence(n: int, ref: int, edges: list[tuple[int, int, float]]) -> GraphSupport:
    """Confidence of every camera's link to the reference over weighted inlier pairs (see module docstring).

    edges: (camera a, camera b, weight in [0, 1]) of the pairs that agree with the solution (several pairs of
    the same cameras add up). Cameras not connected to ``ref`` get 0."""
    w = [(a, b, float(np.clip(x, 0.0, _W_MAX))) for a, b, x in edges]
    caps = [(a, b, int(round(-np.log1p(-x) * _CAP_SCALE))) for a, b, x in w]
    cut = _max_flows(n, ref, caps).astype(float) / _CAP_SCALE
    conf = 1.0 - np.exp(-cut)
    conf[ref] = 1.0
    paths = _max_flows(n, ref, [(a, b, 1) for a, b, x in w if x > 0])
    paths[ref] = n
    return GraphSupport(conf, paths)
