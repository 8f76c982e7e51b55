"""Pairwise time-map scores from epipolar-pencil profiles (see pencil.py): coarse (all lags) and fine (sub-frame).

Candidate relative time map of a pair: ``tau_A = d + rho * tau_B`` (d seconds on A's clock, rho = r_B / r_A).
The cost of a candidate is a robust chamfer distance between the two cameras' plane-occupancy boundaries
at the same instants, in both directions:

    cost = (sum_{A boundaries} D_B + sum_{B boundaries} D_A) / (number of boundaries counted)   [pixels]

where D_X is the other camera's distance-to-boundary (clamped at ``cap_px``) interpolated linearly in time at
the matching instant; boundaries falling where the other view's occupancy is untrusted are not counted.

Coarse: both profiles are resampled on a grid of step h (A's frame interval, A-clock seconds) and all integer
lags are scored at once by FFT cross-correlation (float64, on the configured device). Fine: the cost is
evaluated exactly (each camera's own boundaries at its own frames, the other camera interpolated) on a fine
grid of offsets (and rates) around the coarse minimum.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from sync4dgs.sync.align.pencil import PairProfiles


def _resample(sdf: np.ndarray, unknown: np.ndarray, tau: np.ndarray,
              query: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Linear-in-time resampling of sdf [T, E] at local times ``query`` [N]; unknown where out of range or
    either neighbouring frame is unknown. Returns (sdf [N, E], unknown [N, E])."""
    t = len(tau)
    k = np.clip(np.searchsorted(tau, query, side="right") - 1, 0, t - 2)
    f = ((query - tau[k]) / (tau[k + 1] - tau[k]))[:, None]
    inside = (query >= tau[0] - 1e-9) & (query <= tau[-1] + 1e-9)
    s = sdf[k] * (1 - f) + sdf[k + 1] * f
    exact0 = np.abs(f) < 1e-9
    exact1 = np.abs(f - 1) < 1e-9
    unk = np.where(exact0, unknown[k], np.where(exact1, unknown[k + 1], unknown[k] | unknown[k + 1]))
    unk = unk | ~inside[:, None]
    return s.astype(np.float32), unk


def _xcorr_sum(x: torch.Tensor, y: torch.Tensor, nfft: int, idx: torch.Tensor) -> torch.Tensor:
    """sum_e sum_n x[n, e] y[n - L, e] for the lags whose FFT indices are ``idx`` (x: [NA, E], y: [NB, E])."""
    xf = torch.fft.rfft(x, n=nfft, dim=0)
    yf = torch.fft.rfft(y, n=nfft, dim=0)
    return torch.fft.irfft((xf * yf.conj()).sum(1), n=nfft)[idx]


def _grid_arrays(sdf: np.ndarray, unknown: np.ndarray, tau: np.ndarray, query: np.ndarray, cap: float,
                 device: torch.device) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Boundary indicator E, clamped distance D (0 where unknown) and known-mask W on a time grid ([N, E] each)."""
    s, u = _resample(sdf, unknown, tau, query)
    dt = torch.float64
    e = torch.as_tensor((np.abs(s) <= 0.5) & ~u, dtype=dt, device=device)
    w = torch.as_tensor(~u, dtype=dt, device=device)
    d = torch.as_tensor(np.minimum(np.abs(s), cap), dtype=dt, device=device) * w
    return e, d, w


def _curve(a: tuple[torch.Tensor, ...], b: tuple[torch.Tensor, ...], lags: np.ndarray, px_per_bin: float,
           device: torch.device) -> tuple[np.ndarray, np.ndarray]:
    """Cost [L] (px, NaN = no data) and boundaries counted [L] of integer lags for gridded (E, D, W) of A and B."""
    ea, da, wa = a
    eb, db, wb = b
    nfft = max(ea.shape[0], eb.shape[0]) + int(np.abs(lags).max()) + 1
    idx = torch.as_tensor(lags % nfft, device=device)
    num = _xcorr_sum(ea, db, nfft, idx) + _xcorr_sum(da, eb, nfft, idx)
    den = _xcorr_sum(ea, wb, nfft, idx) + _xcorr_sum(wa, eb, nfft, idx)
    num, den = num.cpu().numpy(), den.cpu().numpy().round()
    return np.where(den > 0, num / np.maximum(den, 1) * px_per_bin, np.nan), den


def coarse_curves(pp: PairProfiles, ratios: list[float], max_offset_s: float, cap_px: float,
                  device: torch.device) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Costs of every (ratio, integer lag): returns (lags_s [L], cost [R, L] px (NaN = no data), weight [R, L]
    = boundaries counted, normalised by the maximum)."""
    h = float(np.median(np.diff(pp.tau_a))) if len(pp.tau_a) > 1 else 1.0
    lags = np.arange(-int(np.ceil(max_offset_s / h)), int(np.ceil(max_offset_s / h)) + 1)
    cap = cap_px / pp.px_per_bin
    grid_a = np.arange(int(np.floor(pp.tau_a[-1] / h + 1e-9)) + 1) * h
    ga = _grid_arrays(pp.sdf_a, pp.unknown_a, pp.tau_a, grid_a, cap, device)
    cost = np.full((len(ratios), len(lags)), np.nan)
    weight = np.zeros_like(cost)
    for r, rho in enumerate(ratios):
        grid_b = np.arange(int(np.floor(rho * pp.tau_b[-1] / h + 1e-9)) + 1) * h
        gb = _grid_arrays(pp.sdf_b, pp.unknown_b, pp.tau_b, grid_b / rho, cap, device)
        cost[r], weight[r] = _curve(ga, gb, lags, pp.px_per_bin, device)
    weight = weight / max(np.nanmax(weight), 1.0)
    return lags * h, cost, weight


def drift_ratio(pp: PairProfiles, max_offset_s: float, cap_px: float, device: torch.device, n_windows: int = 4,
                min_confidence: float = 0.15) -> float | None:
    """Estimate the rate ratio rho of a pair from how the best rate-1 lag drifts along A's video.

    A's frames are split into ``n_windows`` windows; each gives a best lag l (seconds) at its centre time t.
    With ``tau_A = d + rho tau_B``, the rate-1 lag is ``l(t) = (1 - 1/rho) t + d/rho``, so the slope s of a
    weighted line fit gives ``rho = 1 / (1 - s)``. None when fewer than three windows have a confident minimum.
    """
    h = float(np.median(np.diff(pp.tau_a))) if len(pp.tau_a) > 1 else 1.0
    lags = np.arange(-int(np.ceil(max_offset_s / h)), int(np.ceil(max_offset_s / h)) + 1)
    cap = cap_px / pp.px_per_bin
    grid_a = np.arange(int(np.floor(pp.tau_a[-1] / h + 1e-9)) + 1) * h
    ea, da, wa = _grid_arrays(pp.sdf_a, pp.unknown_a, pp.tau_a, grid_a, cap, device)
    gb = _grid_arrays(pp.sdf_b, pp.unknown_b, pp.tau_b, pp.tau_b[0] + np.arange(
        int(np.floor((pp.tau_b[-1] - pp.tau_b[0]) / h + 1e-9)) + 1) * h, cap, device)
    ts, ls, ws = [], [], []
    window = max(1, int(round(0.2 / h)))
    for part in np.array_split(np.arange(len(grid_a)), n_windows):
        m = torch.zeros(len(grid_a), 1, dtype=ea.dtype, device=device)
        m[part] = 1.0
        cur, _ = _curve((ea * m, da * m, wa * m), gb, lags, pp.px_per_bin, device)
        if not np.isfinite(cur).any():
            continue
        k = int(np.nanargmin(cur))
        outside = np.ones(len(cur), bool)
        outside[max(0, k - window): k + window + 1] = False
        runner = np.nanmin(cur[outside], initial=np.inf)
        conf = 1 - cur[k] / runner if np.isfinite(runner) and runner > 0 else 0.0
        if conf >= min_confidence:
            ts.append(grid_a[part].mean()), ls.append(lags[k] * h), ws.append(conf)
    if len(ts) < 3:
        return None
    slope = np.polyfit(np.asarray(ts), np.asarray(ls), 1, w=np.sqrt(ws))[0]
    return float(1.0 / (1.0 - slope)) if slope < 0.9 else None


@dataclass
class EdgeSamples:
    """Trusted plane-occupancy boundaries of one camera of a pair: frame [K] int64, pos [K] int64 (boundary)."""

    frame: np.ndarray
    pos: np.ndarray

    @staticmethod
    def of(sdf: np.ndarray, unknown: np.ndarray) -> "EdgeSamples":
        f, p = np.nonzero((sdf == 0) & ~unknown)
        return EdgeSamples(f.astype(np.int64), p.astype(np.int64))


def _distance_at(sdf: torch.Tensor, unknown: torch.Tensor, tau: torch.Tensor, query: torch.Tensor,
                 pos: torch.Tensor, cap: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Other camera's clamped |sdf| at local times ``query`` [..., K] and boundary positions ``pos`` [K].

    Returns (distance [..., K] in bins, valid [..., K])."""
    t = tau.shape[0]
    k = (torch.searchsorted(tau, query.contiguous(), right=True) - 1).clamp(0, t - 2)
    f = (query - tau[k]) / (tau[k + 1] - tau[k])
    p = pos.expand_as(k)
    s = sdf[k, p] * (1 - f) + sdf[k + 1, p] * f
    valid = (f >= -1e-9) & (f <= 1 + 1e-9) & ~unknown[k, p] & ~unknown[k + 1, p]
    return s.abs().clamp_max(cap), valid


def _profile_tensors(pp: PairProfiles, device: torch.device) -> tuple[torch.Tensor, ...]:
    """(tau_a, tau_b, sdf_a, sdf_b) as float64 and (unknown_a, unknown_b) as bool tensors on ``device``."""
    dt = torch.float64
    return (torch.as_tensor(pp.tau_a, dtype=dt, device=device), torch.as_tensor(pp.tau_b, dtype=dt, device=device),
            torch.as_tensor(pp.sdf_a, dtype=dt, device=device), torch.as_tensor(pp.sdf_b, dtype=dt, device=device),
            torch.as_tensor(pp.unknown_a, device=device), torch.as_tensor(pp.unknown_b, device=device))


def fine_costs(pp: PairProfiles, offsets_s: np.ndarray, ratios: np.ndarray, cap_px: float,
               device: torch.device) -> tuple[np.ndarray, np.ndarray]:
    """Exact costs of candidate maps (offsets_s [D] x ratios [R]).

    Returns (cost [R, D] in px, boundaries counted [R, D])."""
    dt = torch.float64
    cap = cap_px / pp.px_per_bin
    ea, eb = EdgeSamples.of(pp.sdf_a, pp.unknown_a), EdgeSamples.of(pp.sdf_b, pp.unknown_b)
    tau_a, tau_b, sdf_a, sdf_b, unk_a, unk_b = _profile_tensors(pp, device)
    d = torch.as_tensor(offsets_s, dtype=dt, device=device)[None, :, None]
    rho = torch.as_tensor(ratios, dtype=dt, device=device)[:, None, None]
    ta = tau_a[torch.as_tensor(ea.frame, device=device)][None, None, :]
    tb = tau_b[torch.as_tensor(eb.frame, device=device)][None, None, :]
    # A boundaries at tau_A -> B local time (tau_A - d) / rho ; B boundaries at tau_B -> A time d + rho tau_B
    dist1, ok1 = _distance_at(sdf_b, unk_b, tau_b, ((ta - d) / rho).expand(len(ratios), len(offsets_s), -1),
                              torch.as_tensor(ea.pos, device=device), cap)
    dist2, ok2 = _distance_at(sdf_a, unk_a, tau_a, (d + rho * tb).expand(len(ratios), len(offsets_s), -1),
                              torch.as_tensor(eb.pos, device=device), cap)
    num = (dist1 * ok1).sum(-1) + (dist2 * ok2).sum(-1)
    den = ok1.sum(-1) + ok2.sum(-1)
    cost = torch.where(den > 0, num / den.clamp_min(1) * pp.px_per_bin, torch.full_like(num, float("nan")))
    return cost.cpu().numpy(), den.cpu().numpy()


def fine_lag_spread(pp: PairProfiles, rho: float, d_s: float, cap_px: float, device: torch.device,
                    window_frames: float = 1.5, step_frames: float = 0.05, block_frames: int = 5,
                    n_boot: int = 200, seed: int = 0) -> float:
    """Standard deviation (seconds of A's clock) of a pair's sub-frame offset under a block bootstrap over time.

    The exact cost (fine_costs) is a mean over boundaries; here its numerator and denominator are summed per
    block of ``block_frames`` A frames (B's boundaries placed on A's clock at ``d_s + rho tau_B``) on a grid of
    +-window_frames around ``d_s`` in steps of ``step_frames``. Each of ``n_boot`` resamples draws the blocks
    with replacement (seeded), and its cost minimum (local parabola) is one estimate of the offset; the spread of
    those estimates says how much the offset depends on which moments of the video carry it (a slow or
    ambiguous silhouette gives a wide spread, a sharp one a narrow spread). Bounded by the window. NaN when
    fewer than 3 blocks hold boundaries (no spread can be estimated)."""
    dt = torch.float64
    h = float(np.median(np.diff(pp.tau_a))) if len(pp.tau_a) > 1 else 1.0
    grid = d_s + np.arange(-window_frames, window_frames + 1e-9, step_frames) * h
    ea, eb = EdgeSamples.of(pp.sdf_a, pp.unknown_a), EdgeSamples.of(pp.sdf_b, pp.unknown_b)
    t_all = np.concatenate([pp.tau_a[ea.frame], d_s + rho * pp.tau_b[eb.frame]])
    if len(t_all) == 0:
        return float("nan")
    block = np.floor((t_all - t_all.min()) / (block_frames * h)).astype(np.int64)
    _, block = np.unique(block, return_inverse=True)          # blocks that hold boundaries, numbered 0..nb-1
    nb = int(block.max()) + 1
    if nb < 3:
        return float("nan")
    cap = cap_px / pp.px_per_bin
    tau_a, tau_b, sdf_a, sdf_b, unk_a, unk_b = _profile_tensors(pp, device)
    ta = tau_a[torch.as_tensor(ea.frame, device=device)][None]
    tb = tau_b[torch.as_tensor(eb.frame, device=device)][None]
    pos_a, pos_b = torch.as_tensor(ea.pos, device=device), torch.as_tensor(eb.pos, device=device)
    blk = torch.as_tensor(block, device=device)
    num = torch.zeros(len(grid), nb, dtype=dt, device=device)
    den = torch.zeros_like(num)
    chunk = max(1, int(4e6 // max(len(t_all), 1)))           # grid offsets per step: bounded memory
    for g0 in range(0, len(grid), chunk):
        d = torch.as_tensor(grid[g0:g0 + chunk], dtype=dt, device=device)[:, None]
        dist1, ok1 = _distance_at(sdf_b, unk_b, tau_b, ((ta - d) / rho).contiguous(), pos_a, cap)
        dist2, ok2 = _distance_at(sdf_a, unk_a, tau_a, (d + rho * tb).contiguous(), pos_b, cap)
        dist = torch.cat([dist1 * ok1, dist2 * ok2], 1)
        ok = torch.cat([ok1, ok2], 1).to(dt)
        num[g0:g0 + chunk].index_add_(1, blk, dist)
        den[g0:g0 + chunk].index_add_(1, blk, ok)
    return bootstrap_minimum_spread(grid, num, den, n_boot, seed)


def bootstrap_minimum_spread(grid: np.ndarray, num: torch.Tensor, den: torch.Tensor, n_boot: int, seed: int) -> float:
    """Standard deviation of a pooled cost's minimum over a block bootstrap.

    grid: [L] offsets (seconds, uniform steps); num, den: [L, NB] float64 per-block sums of the cost's numerator
    and of its counts, or [L, G, NB] per group (e.g. image regions of point tracks) and block. Each of
    ``n_boot`` seeded resamples draws the NB blocks with replacement (and, for [L, G, NB], independently the G
    groups: a two-way bootstrap, so that a part of the scene that pulls the minimum its own way widens the
    spread); its cost sum(num) / sum(den) over the drawn blocks is minimised on the grid (local parabola, at
    most one step) and the spread of those minima is returned (seconds)."""
    nb = num.shape[-1]
    rng = np.random.default_rng(seed)

    def counts(n: int) -> torch.Tensor:
        return torch.as_tensor(np.stack([np.bincount(rng.integers(0, n, n), minlength=n) for _ in range(n_boot)]),
                               dtype=num.dtype, device=num.device)

    if num.dim() == 2:
        draws = counts(nb)
        cost = ((draws @ num.T) / (draws @ den.T).clamp_min(1)).cpu().numpy()
    else:
        blocks, groups = counts(nb), counts(num.shape[1])
        cost = (torch.einsum("ng,nb,lgb->nl", groups, blocks, num)
                / torch.einsum("ng,nb,lgb->nl", groups, blocks, den).clamp_min(1)).cpu().numpy()
    k = np.clip(np.argmin(cost, 1), 1, len(grid) - 2)
    rows = np.arange(n_boot)
    c0, c1, c2 = cost[rows, k - 1], cost[rows, k], cost[rows, k + 1]
    curv = c0 - 2 * c1 + c2
    shift = np.where(curv > 0, 0.5 * (c0 - c2) / np.where(curv > 0, curv, 1.0), 0.0)
    est = grid[k] + np.clip(shift, -1, 1) * (grid[1] - grid[0])
    return float(np.std(est))
