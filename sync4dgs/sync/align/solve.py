"""Global time maps from pairwise measurements: RANSAC over spanning trees, then weighted least squares.

A pair measurement (A, B) says ``tau_A = d + rho * tau_B`` for B's frames, i.e. with the global maps
``t = o_X + r_X tau_X``: ``r_B = rho r_A`` and ``o_B - o_A = r_A d`` (d in seconds of A's clock). Each pair
may carry a few candidate (rho, d) - the best local minima of its score - with weights in [0, 1].

Algorithm: hypotheses are spanning trees of the camera graph (the maximum-weight tree, then random trees
with randomly chosen candidates); a hypothesis propagates maps from the reference (o = 0, r = 1) and is
scored by the total weight of pairs that agree with it (|offset residual| <= tol_s, |log-rate residual|
<= tol_rate). A local search then moves single cameras to where more of their own pairs agree. The best
hypothesis' inliers are refit by weighted least squares (log rates first, then offsets),
re-selecting inliers a few times. Cameras not connected to the reference through inliers are "unaligned".
A camera's confidence is the strength of the evidence linking it to the reference: the min-cut of the inlier
pairs' weights between the two (support.graph_confidence), so a group of cameras attached through one pair
gets at most that pair's weight, however well connected it is inside.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np

from sync4dgs.sync.align.support import graph_confidence

log = logging.getLogger(__name__)


@dataclass
class PairMeasurement:
    """Candidates (rho, d_s, weight) for pair (a, b) (camera indices), best first."""

    a: int
    b: int
    candidates: list[tuple[float, float, float]]


@dataclass
class GlobalSolution:
    """offsets_s [C], rates [C], aligned [C] bool, confidence [C] in [0, 1] (min-cut support, see the module
    docstring), inliers: (pair index, candidate index) of every pair that agrees with the solution,
    residuals_s: offset residual of each inlier pair, paths [C] int: edge-disjoint inlier paths from the
    reference (None if not computed), sigma_s [C]: standard deviation of each offset (s; inf = not estimated;
    None if not computed, see offset_sigmas)."""

    offsets_s: np.ndarray
    rates: np.ndarray
    aligned: np.ndarray
    confidence: np.ndarray
    inliers: list[tuple[int, int]] = field(default_factory=list)
    residuals_s: list[float] = field(default_factory=list)
    paths: np.ndarray | None = None
    sigma_s: np.ndarray | None = None


def camera_status(aligned: bool, confidence: float, is_reference: bool, min_confidence: float,
                  paths: int | None = None, required_paths: int = 1) -> str:
    """TimeMaps status of one camera: "reference"; "unaligned" (no estimate); "aligned" when the support
    confidence reaches ``min_confidence`` and (when ``paths`` is given) at least ``required_paths``
    edge-disjoint inlier paths link it to the reference; else "low_confidence" (an estimate that little, or
    no cross-checked, evidence backs)."""
    if is_reference:
        return "reference"
    if not aligned:
        return "unaligned"
    if paths is not None and paths < required_paths:
        return "low_confidence"
    return "aligned" if confidence >= min_confidence else "low_confidence"


def required_paths(n_cameras: int, pairs: list[tuple[int, int]], min_paths: int) -> np.ndarray:
    """[C] int: the support paths each camera needs to be "aligned": min(min_paths, the number of scored
    pairs touching it), so a camera with a single possible pair (a two-camera rig) is not held back."""
    deg = np.zeros(n_cameras, int)
    for a, b in pairs:
        deg[a] += 1
        deg[b] += 1
    return np.minimum(min_paths, np.maximum(deg, 1))


def _propagate(n: int, ref: int,
               edges: list[tuple[int, int, float, float]]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Maps along tree edges (a, b, rho, d) from ``ref``: returns (offsets, rates, reached)."""
    adj: dict[int, list[tuple[int, int, float, float]]] = {}
    for a, b, rho, d in edges:
        adj.setdefault(a, []).append((a, b, rho, d))
        adj.setdefault(b, []).append((a, b, rho, d))
    o, r = np.zeros(n), np.ones(n)
    reached = np.zeros(n, bool)
    reached[ref] = True
    stack = [ref]
    while stack:
        x = stack.pop()
        for a, b, rho, d in adj.get(x, []):
            if a == x and not reached[b]:
                r[b], o[b] = r[a] * rho, o[a] + r[a] * d
                reached[b] = True
                stack.append(b)
            elif b == x and not reached[a]:
                r[a] = r[b] / rho
                o[a] = o[b] - r[a] * d
                reached[a] = True
                stack.append(a)
    return o, r, reached


def _spanning_tree(n: int, pairs: list[PairMeasurement], weights: np.ndarray,
                   choice: np.ndarray) -> list[tuple[int, int, float, float]]:
    """Maximum spanning forest (Kruskal) with edge weights ``weights`` and candidate ``choice`` per pair."""
    parent = list(range(n))

    def find(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    edges = []
    for k in np.argsort(-weights, kind="stable"):
        if weights[k] <= 0:
            break
        p = pairs[k]
        ra, rb = find(p.a), find(p.b)
        if ra != rb:
            parent[ra] = rb
            rho, d, _ = p.candidates[choice[k]]
            edges.append((p.a, p.b, rho, d))
    return edges


def agreeing_candidate(p: PairMeasurement, o: np.ndarray, r: np.ndarray, tol_s: float,
                       tol_rate: float) -> tuple[int, float]:
    """(index, weight) of pair ``p``'s heaviest candidate that agrees with the maps o (s), r [C] within tol_s
    (offset residual, s) and tol_rate (log-rate residual); (-1, 0.0) when none does."""
    best_w, best_c = 0.0, -1
    for c, (rho, d, w) in enumerate(p.candidates):
        res_d = (o[p.b] - o[p.a]) / r[p.a] - d
        res_r = np.log(r[p.b] / r[p.a]) - np.log(rho)
        if abs(res_d) <= tol_s and abs(res_r) <= tol_rate and w > best_w:
            best_w, best_c = w, c
    return best_c, best_w


def agreement(pairs: list[PairMeasurement], o: np.ndarray, r: np.ndarray, reached: np.ndarray, tol_s: float,
              tol_rate: float) -> tuple[float, list[tuple[int, int]]]:
    """Over the pairs between two ``reached`` cameras: the summed weight of each pair's heaviest candidate that
    agrees with the maps o (s), r [C] (agreeing_candidate), and those pairs as inliers (pair index, candidate
    index)."""
    score, inl = 0.0, []
    for k, p in enumerate(pairs):
        if not (reached[p.a] and reached[p.b]):
            continue
        best_c, best_w = agreeing_candidate(p, o, r, tol_s, tol_rate)
        if best_c >= 0:
            score += best_w
            inl.append((k, best_c))
    return score, inl


def _move_single_cameras(n: int, ref: int, pairs: list[PairMeasurement], o: np.ndarray, r: np.ndarray,
                         reached: np.ndarray, tol_s: float, tol_rate: float, fix_rates: bool,
                         sweeps: int = 3) -> None:
    """Local search after RANSAC (in place on o, r [n]): a camera left at a wrong position by the best tree (its
    pairs disagree with it) is moved to the position implied by one of its pairs' candidates when that makes
    strictly more of its own pairs' weight agree (rates kept when ``fix_rates``). Fixes single cameras that the
    random trees never placed right (a whole group attached through a wrong pair is not moved)."""
    inc: dict[int, list[int]] = {}
    for k, p in enumerate(pairs):
        inc.setdefault(p.a, []).append(k)
        inc.setdefault(p.b, []).append(k)

    def own_score(x: int) -> float:
        sub = [pairs[k] for k in inc.get(x, [])]
        return agreement(sub, o, r, reached, tol_s, tol_rate)[0]

    for _ in range(sweeps):
        moved = False
        for x in range(n):
            if x == ref or not reached[x]:
                continue
            best, best_pos = own_score(x), (o[x], r[x])
            for k in inc.get(x, []):
                p = pairs[k]
                other = p.b if p.a == x else p.a
                if not reached[other]:
                    continue
                for rho, d, _ in p.candidates:
                    if x == p.b:
                        cand = (o[p.a] + r[p.a] * d, r[p.a] * rho)
                    else:
                        ra = r[p.b] / rho
                        cand = (o[p.b] - ra * d, ra)
                    keep = (o[x], r[x])
                    if fix_rates:
                        cand = (cand[0], r[x])
                    o[x], r[x] = cand
                    sc = own_score(x)
                    o[x], r[x] = keep
                    if sc > best + 1e-9:
                        best, best_pos = sc, cand
            if (o[x], r[x]) != best_pos:
                o[x], r[x] = best_pos
                moved = True
        if not moved:
            break


def _least_squares(n: int, ref: int, pairs: list[PairMeasurement], inl: list[tuple[int, int]],
                   known_rates: np.ndarray | None, reached: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Weighted LS over the inlier graph: log rates (unless known), then offsets (reference pinned to (0, 1))."""
    idx = {c: i for i, c in enumerate([c for c in range(n) if reached[c] and c != ref])}
    o = np.zeros(n)
    r = np.ones(n) if known_rates is None else np.asarray(known_rates, float).copy()
    if not idx:
        return o, r
    rows_a, rows_b, wts, rhos, ds = [], [], [], [], []
    for k, c in inl:
        p = pairs[k]
        if not (reached[p.a] and reached[p.b]):
            continue
        rho, d, w = p.candidates[c]
        rows_a.append(p.a), rows_b.append(p.b), wts.append(max(w, 1e-3)), rhos.append(rho), ds.append(d)
    m = len(wts)
    sw = np.sqrt(np.asarray(wts))

    def solve(rhs: np.ndarray, coef_a: np.ndarray) -> np.ndarray:
        a_mat = np.zeros((m, len(idx)))
        for i in range(m):
            if rows_b[i] in idx:
                a_mat[i, idx[rows_b[i]]] += 1.0
            if rows_a[i] in idx:
                a_mat[i, idx[rows_a[i]]] -= coef_a[i]
        x, *_ = np.linalg.lstsq(a_mat * sw[:, None], rhs * sw, rcond=None)
        return x

    if known_rates is None:
        x = solve(np.log(np.asarray(rhos)), np.ones(m))
        for c, i in idx.items():
            r[c] = float(np.exp(x[i]))
    # o_b - o_a = r_a d  (r known): linear in offsets
    rhs = np.asarray([r[a] * d for a, d in zip(rows_a, ds)])
    x = solve(rhs, np.ones(m))
    for c, i in idx.items():
        o[c] = float(x[i])
    return o, r


def _connected(n: int, ref: int, pairs: list[PairMeasurement], inl: list[tuple[int, int]]) -> np.ndarray:
    edges = [(pairs[k].a, pairs[k].b, 1.0, 0.0) for k, _ in inl]
    return _propagate(n, ref, edges)[2]


def solve_global(n: int, ref: int, pairs: list[PairMeasurement], tol_s: float, tol_rate: float,
                 known_rates: np.ndarray | None = None, n_trees: int = 48, min_weight: float = 0.0,
                 seed: int = 0) -> GlobalSolution:
    """Robust global time maps for ``n`` cameras (see module docstring). Pairs below ``min_weight`` are ignored.

    known_rates: [n] rates to keep fixed (e.g. all ones when frame rates are trusted); None = estimate them."""
    keep = [k for k, p in enumerate(pairs) if p.candidates and p.candidates[0][2] >= min_weight]
    pairs = [pairs[k] for k in keep]
    rng = np.random.default_rng(seed)
    if not pairs:
        aligned = np.zeros(n, bool)
        aligned[ref] = True
        conf = aligned.astype(float)
        return GlobalSolution(np.zeros(n), np.ones(n) if known_rates is None else np.asarray(known_rates, float),
                              aligned, conf)
    base_w = np.array([p.candidates[0][2] for p in pairs])
    best: tuple = (-1.0, [], None, None, None)
    for trial in range(n_trees + 1):
        if trial == 0:
            w, choice = base_w, np.zeros(len(pairs), int)
        else:
            w = base_w * rng.uniform(0.0, 1.0, len(pairs))
            choice = np.array([rng.choice(len(p.candidates), p=np.asarray([c[2] for c in p.candidates]) /
                                          max(sum(c[2] for c in p.candidates), 1e-12))
                               if sum(c[2] for c in p.candidates) > 0 else 0 for p in pairs])
        o, r, reached = _propagate(n, ref, _spanning_tree(n, pairs, w, choice))
        score, inl = agreement(pairs, o, r, reached, tol_s, tol_rate)
        if score > best[0]:
            best = (score, inl, o, r, reached)
    _, inl, o, r, reached = best
    _move_single_cameras(n, ref, pairs, o, r, reached, tol_s, tol_rate, known_rates is not None)
    _, inl = agreement(pairs, o, r, reached, tol_s, tol_rate)
    o, r = np.zeros(n), np.ones(n)
    for _ in range(6):
        reached = _connected(n, ref, pairs, inl)
        o, r = _least_squares(n, ref, pairs, inl, known_rates, reached)
        _, new_inl = agreement(pairs, o, r, reached, tol_s, tol_rate)
        if new_inl == inl:
            break
        inl = new_inl
    _, inl = agreement(pairs, o, r, reached, tol_s, tol_rate)  # the inliers of the final maps
    reached = _connected(n, ref, pairs, inl)
    res = [float((o[pairs[k].b] - o[pairs[k].a]) / r[pairs[k].a] - pairs[k].candidates[c][1]) for k, c in inl]
    support = graph_confidence(n, ref, [(pairs[k].a, pairs[k].b, pairs[k].candidates[c][2]) for k, c in inl])
    conf = np.where(reached, support.confidence, 0.0)
    o = np.where(reached, o, 0.0)
    r = np.where(reached, r, 1.0)
    return GlobalSolution(o, r, reached, conf, [(keep[k], c) for k, c in inl], res, support.paths)


def offset_sigmas(n: int, ref: int, pairs: list[PairMeasurement], inliers: list[tuple[int, int]],
                  pair_sigmas_s: list[float], o: np.ndarray, r: np.ndarray, aligned: np.ndarray) -> np.ndarray:
    """Standard deviation [n] (seconds of the global clock) of every camera's offset; 0 at the reference, inf
    where not estimated (not aligned, or tied to the reference only through pairs without a sigma).

    Each inlier pair k with a finite pair_sigmas_s[k] (seconds of A's clock) says o_b - o_a = r_a d_k; the
    offsets' covariance is that of the weighted least squares over those pairs (reference pinned),
    (A^T W A)^-1 with W = 1 / (r_a sigma_k)^2, scaled by chi^2 / (degrees of freedom) when the pairs' residuals
    at the offsets ``o`` are larger than their sigmas allow (a cycle of pairs that does not close)."""
    sig = np.full(n, np.inf)
    sig[ref] = 0.0
    measured = [(k, c) for k, c in inliers
                if aligned[pairs[k].a] and aligned[pairs[k].b] and np.isfinite(pair_sigmas_s[k])]
    used = [(pairs[k], c, pair_sigmas_s[k]) for k, c in measured]
    tied = _connected(n, ref, pairs, measured)
    cams = [c for c in range(n) if tied[c] and c != ref]
    if not cams:
        return sig
    idx = {c: i for i, c in enumerate(cams)}
    rows, rhs, var = [], [], []
    for p, c, s_k in used:
        if not (tied[p.a] and tied[p.b]):
            continue
        row = np.zeros(len(cams))
        if p.b in idx:
            row[idx[p.b]] += 1.0
        if p.a in idx:
            row[idx[p.a]] -= 1.0
        rows.append(row)
        rhs.append(r[p.a] * p.candidates[c][1])
        var.append(max((r[p.a] * s_k) ** 2, 1e-18))
    a_mat, w = np.asarray(rows), 1.0 / np.asarray(var)
    res = a_mat @ np.array([o[c] for c in cams]) - np.asarray(rhs)
    dof = len(rows) - len(cams)
    scale = max(1.0, float(np.sum(w * res ** 2)) / dof) if dof > 0 else 1.0
    cov = np.linalg.inv(a_mat.T @ (a_mat * w[:, None])) * scale
    for c, i in idx.items():
        sig[c] = float(np.sqrt(max(cov[i, i], 0.0)))
    return sig
