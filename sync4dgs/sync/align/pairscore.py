"""Coarse pairwise time maps from the epipolar consistency of two cameras' point trajectories.

For cameras A and B with fundamental matrix F (``x_B^T F x_A = 0``), a candidate relative time map is a
rate ratio ``rho = r_B / r_A`` and an offset ``d = (o_B - o_A) / r_A`` (seconds on A's clock): B's frame at
local time ``tau_B`` shows the moment A sees at ``tau_A = d + rho * tau_B``. Both cameras' tracks are
resampled (linear in time) on a uniform grid of step ``h`` in A-clock seconds, so every candidate offset
is an integer lag ``L = d / h``. For every track pair (i of A, j of B) and every lag, the mean squared
symmetric point-to-epipolar-line distance over the samples both tracks share is

    D[i, j, L] = sum_n vA[i,n] vB[j,n-L] (dB(i,n; j,n-L)^2 + dA(...)^2) / (2 * N[i, j, L])

Because a squared point-line distance is a bilinear form of the line's and the point's second moments
(6 channels each), the sums over n are cross-correlations: all lags of all track pairs come out of one batch
of FFTs (float64, on the configured device). The lag score is a robust mean over tracks of the best-matching
partner's D (truncated at ``score_truncate_px``^2), averaged over both directions (A->B, B->A); lags
with too little overlap are NaN. Units: D and the curves are squared pixels of the tracking resolution.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np
import torch

from sync4dgs.sync.align.resample import sample_linear
from sync4dgs.sync.align.tracks import CameraTracks

log = logging.getLogger(__name__)

_CHUNK_ELEMS = 6_000_000  # complex128 elements per FFT product chunk (~100 MB)


@dataclass
class PairScore:
    """The coarse score of one camera pair.

    ratios: [R] candidate rate ratios r_B / r_A. lags_s: [L] candidate offsets d (seconds, A's clock).
    curves: [R, L] scores, lower = more consistent (here: robust mean squared epipolar distance in tracking
    px^2; pairs.py also stores combined, median-normalised curves), NaN where overlap is too small.
    best_ratio, best_lag_s: the minimum (lag refined to sub-step by a parabola). confidence: in [0, 1],
    1 - best / (best score outside ±window of the minimum). candidates: (ratio, lag_s, weight) of the best
    few local minima, best first (for robust global solving). n_a, n_b: tracks scored.
    """

    cam_a: str
    cam_b: str
    ratios: np.ndarray
    lags_s: np.ndarray
    curves: np.ndarray
    best_ratio: float = 1.0
    best_lag_s: float = 0.0
    confidence: float = 0.0
    candidates: list[tuple[float, float, float]] = field(default_factory=list)
    n_a: int = 0
    n_b: int = 0

    def to_dict(self) -> dict:
        return {"cam_a": self.cam_a, "cam_b": self.cam_b, "best_ratio": self.best_ratio,
                "best_lag_s": self.best_lag_s, "confidence": self.confidence, "n_tracks": [self.n_a, self.n_b],
                "candidates": [list(map(float, c)) for c in self.candidates]}


def _hom(p: torch.Tensor) -> torch.Tensor:
    return torch.cat([p, torch.ones_like(p[..., :1])], -1)


def line_channels(p: torch.Tensor, f: torch.Tensor, px_scale: float) -> torch.Tensor:
    """[M, N, 2] normalised points -> [M, 6, N] second moments of their epipolar lines (scaled so ℓ·b is px).

    Invalid (NaN) samples give zeros."""
    valid = torch.isfinite(p).all(-1)
    l = _hom(torch.nan_to_num(p)) @ f.T
    l = l / torch.sqrt(l[..., 0] ** 2 + l[..., 1] ** 2).clamp_min(1e-12)[..., None] * px_scale
    a, b, c = l[..., 0], l[..., 1], l[..., 2]
    ch = torch.stack([a * a, b * b, c * c, 2 * a * b, 2 * a * c, 2 * b * c], 1)
    return ch * valid[:, None, :].to(ch.dtype)


def point_channels(p: torch.Tensor) -> torch.Tensor:
    """[M, N, 2] normalised points -> [M, 6, N] monomials (x², y², 1, xy, x, y); zeros where invalid."""
    valid = torch.isfinite(p).all(-1)
    q = torch.nan_to_num(p)
    x, y = q[..., 0], q[..., 1]
    ch = torch.stack([x * x, y * y, torch.ones_like(x), x * y, x, y], 1)
    return ch * valid[:, None, :].to(ch.dtype)


def _normalise(xy: torch.Tensor, t: np.ndarray) -> torch.Tensor:
    tt = torch.as_tensor(t, dtype=xy.dtype, device=xy.device)
    return xy @ tt[:2, :2].T + tt[:2, 2]


def lag_scores(xa: torch.Tensor, xb: torch.Tensor, f_n: torch.Tensor, px_a: float, px_b: float, max_lag: int,
               min_overlap: int, trunc_px: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Scores of all integer lags -max_lag..max_lag for tracks resampled on a common grid.

    Args:
        xa: [MA, NA, 2], xb: [MB, NB, 2] normalised coordinates (NaN = no sample). f_n: [3, 3] F in normalised
        coordinates. px_a, px_b: tracking pixels per normalised unit in A and B.
    Returns:
        (score [2*max_lag+1] float64 (NaN = unusable lag), coverage [2*max_lag+1]: fraction of tracks of both
        cameras that found a partner with enough overlap).
    """
    ma, na, _ = xa.shape
    mb, nb, _ = xb.shape
    nfft = max(na, nb) + max_lag + 1
    lags = torch.arange(-max_lag, max_lag + 1, device=xa.device)
    idx = lags % nfft
    # channels: X side (A, indexed by n) pairs with Y side (B, indexed by n - L)
    x_ch = torch.cat([line_channels(xa, f_n, px_b), point_channels(xa)], 1)          # [MA, 12, NA]
    y_ch = torch.cat([point_channels(xb), line_channels(xb, f_n.T, px_a)], 1)        # [MB, 12, NB]
    x_f = torch.fft.rfft(x_ch, n=nfft)
    y_f = torch.fft.rfft(y_ch, n=nfft).conj()
    va = torch.isfinite(xa).all(-1).to(xa.dtype)
    vb = torch.isfinite(xb).all(-1).to(xb.dtype)
    va_f = torch.fft.rfft(va, n=nfft)
    vb_f = torch.fft.rfft(vb, n=nfft).conj()
    trunc2 = trunc_px * trunc_px
    best_a = torch.full((ma, len(lags)), float("inf"), dtype=xa.dtype, device=xa.device)
    best_b = torch.full((mb, len(lags)), float("inf"), dtype=xa.dtype, device=xa.device)
    chunk = max(1, _CHUNK_ELEMS // max(1, mb * x_f.shape[-1] * 2))
    for s in range(0, ma, chunk):
        e = min(ma, s + chunk)
        c = torch.fft.irfft(torch.einsum("ipf,jpf->ijf", x_f[s:e], y_f), n=nfft)[..., idx]     # [c, MB, L]
        n = torch.fft.irfft(va_f[s:e, None, :] * vb_f[None], n=nfft)[..., idx].round()
        d = c / (2 * n.clamp_min(1))
        d = torch.where(n >= min_overlap, d.clamp_min(0), torch.full_like(d, float("inf")))
        best_a[s:e] = d.min(1).values
        best_b = torch.minimum(best_b, d.min(0).values)
    has_a, has_b = torch.isfinite(best_a), torch.isfinite(best_b)
    sa = torch.where(has_a, best_a.clamp_max(trunc2), torch.zeros_like(best_a)).sum(0)
    sb = torch.where(has_b, best_b.clamp_max(trunc2), torch.zeros_like(best_b)).sum(0)
    ca, cb = has_a.sum(0).to(xa.dtype), has_b.sum(0).to(xa.dtype)
    score = 0.5 * (sa / ca.clamp_min(1) + sb / cb.clamp_min(1))
    coverage = 0.5 * (ca / max(ma, 1) + cb / max(mb, 1))
    score = torch.where((ca > 0) & (cb > 0), score, torch.full_like(score, float("nan")))
    return score, coverage


def select_tracks(tr: CameraTracks, k: int) -> CameraTracks:
    """The ``k`` tracks with the longest image paths (most timing information)."""
    order = np.argsort(-tr.motion_px(), kind="stable")[:k]
    return tr.subset(np.sort(order))


def score_pair(ta: CameraTracks, tb: CameraTracks, f: np.ndarray, norm_a: np.ndarray, norm_b: np.ndarray,
               ratios: list[float], max_offset_s: float, min_overlap: int, trunc_px: float,
               window_s: float, device: torch.device) -> PairScore:
    """Score every candidate (ratio, offset) of cameras A and B (see module docstring).

    f: [3, 3] pixel fundamental matrix (x_B^T F x_A = 0); norm_a/norm_b: [3, 3] pixel normalisers.
    """
    dt = torch.float64
    tau_a = torch.as_tensor(ta.tau_s, dtype=dt, device=device)
    tau_b = torch.as_tensor(tb.tau_s, dtype=dt, device=device)
    h = float(np.median(np.diff(ta.tau_s))) if len(ta.tau_s) > 1 else 1.0
    max_lag = int(np.ceil(max_offset_s / h))
    lags_s = np.arange(-max_lag, max_lag + 1) * h
    f_n = torch.as_tensor(np.linalg.inv(norm_b).T @ f @ np.linalg.inv(norm_a), dtype=dt, device=device)
    px_a = ta.track_scale / norm_a[0, 0]
    px_b = tb.track_scale / norm_b[0, 0]
    xa_px = torch.as_tensor(ta.xy, dtype=dt, device=device)
    xb_px = torch.as_tensor(tb.xy, dtype=dt, device=device)
    grid_a = torch.arange(int(np.floor(ta.tau_s[-1] / h + 1e-9)) + 1, dtype=dt, device=device) * h
    xa = _normalise(sample_linear(xa_px, tau_a, grid_a), norm_a)
    curves = np.full((len(ratios), len(lags_s)), np.nan)
    coverage = np.zeros_like(curves)
    for r, rho in enumerate(ratios):
        grid_b = torch.arange(int(np.floor(rho * tb.tau_s[-1] / h + 1e-9)) + 1, dtype=dt, device=device) * h
        xb = _normalise(sample_linear(xb_px, tau_b, grid_b / rho), norm_b)
        # grids are in A-clock seconds: B's sample m sits at rho * tau_B = m h
        s, c = lag_scores(xa, xb, f_n, px_a, px_b, max_lag, min_overlap, trunc_px)
        curves[r], coverage[r] = s.cpu().numpy(), c.cpu().numpy()
    # lags where few tracks find partners are unreliable: require half the best coverage
    curves[coverage < 0.5 * np.nanmax(coverage, initial=0.0)] = np.nan
    out = PairScore(ta.camera, tb.camera, np.asarray(ratios, float), lags_s, curves, n_a=ta.n_tracks, n_b=tb.n_tracks)
    summarise(out, window_s)
    return out


def _parabola_vertex(y0: float, y1: float, y2: float) -> float:
    """Offset in (-0.5, 0.5) steps of the vertex of the parabola through (-1, y0), (0, y1), (1, y2)."""
    den = y0 - 2 * y1 + y2
    if not np.isfinite(den) or den <= 0:
        return 0.0
    return float(np.clip(0.5 * (y0 - y2) / den, -0.5, 0.5))


def ambiguity_confidence(x: float) -> float:
    """Confidence of a curve's minimum from x = best / runner-up (the best score at a different lag), in [0, 1].

    The runner-up is itself a candidate (weight ``c * x`` for a confidence c, see :func:`summarise`); in
    capacities ``-log(1 - w)`` (support.py) the evidence for the best lag *over* the runner-up's lag is
    ``-log(1 - c) + log(1 - c x)``. With c = 1 - x that margin is ``-log(x / (1 - x + x^2))``, i.e.
    confidence ``(1 - x)^2 / (1 - x + x^2)``: 0 when the two minima are equal (a periodic ambiguity), close to
    1 - x when the runner-up is much worse. Plain ``1 - x`` would count a runner-up 25% worse as a 0.25-weight
    pair, and five such pairs of one camera as 0.76 evidence, however often the runner-up lag is the truth."""
    if not np.isfinite(x) or x < 0:
        return 0.0
    x = min(float(x), 1.0)
    return float((1 - x) ** 2 / (1 - x + x * x))


_GAP_MIN_LAGS = 20  # the noise level of a curve is only estimated from at least this many finite lags


def gap_confidence(row: np.ndarray, best: float, runner: float, gap_sigmas: float) -> float:
    """Significance of a curve's minimum: (runner-up - best) in units of ``gap_sigmas`` robust standard
    deviations of the curve over lags (1.4826 MAD), clipped to [0, 1]; 0 when off (gap_sigmas <= 0) or when
    fewer than 20 lags are finite. Unlike 1 - best / runner-up it does not fall when every lag's score carries
    the same floor (e.g. the spurious best partners of tracks that have no true partner in the other view)."""
    vals = row[np.isfinite(row)]
    if gap_sigmas <= 0 or len(vals) < _GAP_MIN_LAGS or not np.isfinite(runner):
        return 0.0
    sigma = 1.4826 * float(np.median(np.abs(vals - np.median(vals))))
    if not sigma > 0:
        return 0.0
    return float(np.clip((runner - best) / (gap_sigmas * sigma), 0.0, 1.0))


def local_minima(curves: np.ndarray) -> np.ndarray:
    """[R, L] bool: the lags of each row of ``curves`` that are minima rising (or level) on BOTH sides, with both
    neighbours scored. A lag at the end of the searched range, or next to an unscored (NaN, too little overlap)
    lag, cannot be told from a slope that goes on falling beyond it, so it is never a minimum: a pair whose true
    offset lies outside ``max_offset_s`` then gets no confident lag at the window's edge (caliscope's
    post_optimization recording, drops 0,3,5,2: a pencil minimum at exactly -3.0 s won over the true lag)."""
    finite = np.isfinite(curves)
    ok = finite.copy()
    ok[:, 0] = ok[:, -1] = False
    ok[:, 1:-1] &= finite[:, :-2] & finite[:, 2:]
    c = np.where(finite, curves, np.inf)
    ok[:, 1:-1] &= (c[:, 1:-1] <= c[:, :-2]) & (c[:, 1:-1] <= c[:, 2:])
    return ok


def summarise(ps: PairScore, window_s: float, n_candidates: int = 3, gap_sigmas: float = 0.0,
              ambiguity: bool = False) -> None:
    """Fill best_ratio, best_lag_s, confidence and candidates of ``ps`` from its curves (in place).

    confidence = 1 - x with x = best / (best outside +-window_s of the minimum) - or, when ``ambiguity``,
    the evidence for the best lag over that runner-up lag (:func:`ambiguity_confidence`; used for the pair
    weights that the global solve adds up) - or, when ``gap_sigmas`` > 0 and larger, the minimum's
    significance (:func:`gap_confidence`)."""
    cur = ps.curves
    minima = local_minima(cur)
    if not minima.any():
        ps.confidence, ps.candidates = 0.0, []
        return
    h = float(ps.lags_s[1] - ps.lags_s[0]) if len(ps.lags_s) > 1 else 1.0
    w = max(1, int(round(window_s / h)))
    r, l = np.unravel_index(np.nanargmin(np.where(minima, cur, np.nan)), cur.shape)
    best = cur[r, l]
    row = cur[r]
    outside = np.ones(len(row), bool)
    outside[max(0, l - w): l + w + 1] = False
    runner = np.nanmin(row[outside], initial=np.inf) if np.isfinite(row[outside]).any() else np.inf
    if not np.isfinite(runner) or runner <= 0:
        conf = 0.0
    else:
        conf = ambiguity_confidence(best / runner) if ambiguity else float(np.clip(1.0 - best / runner, 0.0, 1.0))
    conf = max(conf, gap_confidence(row, best, runner, gap_sigmas))
    frac = _parabola_vertex(row[l - 1], best, row[l + 1])      # a local minimum has both neighbours
    ps.best_ratio, ps.best_lag_s, ps.confidence = float(ps.ratios[r]), float(ps.lags_s[l] + frac * h), conf
    # local minima of every ratio's curve, best first, separated by the window
    cands: list[tuple[float, float, float]] = []
    taken: list[tuple[int, int]] = []
    flat = np.where(minima, cur, np.inf)
    for k in np.argsort(flat, axis=None):
        rr, ll = np.unravel_index(k, cur.shape)
        if not np.isfinite(flat[rr, ll]) or len(cands) >= n_candidates:
            break
        if any(rr == r0 and abs(ll - l0) <= w for r0, l0 in taken):
            continue
        weight = conf if not cands else conf * float(best / max(flat[rr, ll], 1e-12))
        lag = ps.best_lag_s if not cands else float(ps.lags_s[ll])
        cands.append((float(ps.ratios[rr]), lag, weight))
        taken.append((rr, ll))
    ps.candidates = cands
