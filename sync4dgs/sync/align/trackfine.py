"""Sub-frame refinement of a pair's offset from its point tracks, with a block-bootstrap spread.

The coarse track cue (pairscore.py) scores integer lags of A's frame step and places the minimum by a parabola
through three lags. Here the lag is continuous: for a candidate ``tau_A = d + rho * tau_B`` (d seconds of A's
clock) B's tracks are interpolated linearly in time at the instants of A's resampled track grid, and the cost is
the pooled mean over matched track pairs and samples of the symmetric squared point-to-epipolar-line distance

    e = (dist_B(x_B, F x_A)^2 + dist_A(x_A, F^T x_B)^2) / 2,   truncated at ``trunc_px``^2   [tracking px^2]

Each track's partner in the other view is fixed once, at the starting offset ``d0`` (the best partner of every
track of A and of B, kept when its mean distance there is below the truncation): within a window of +-1.5 frames
the same physical point stays the best partner, and a fixed pairing lets the cost be summed per block of time
for the bootstrap. The cost is evaluated on a grid of ``step_frames`` around ``d0`` and its minimum refined by a
local parabola; the spread is the standard deviation of that minimum over a two-way bootstrap that resamples
blocks of time and image regions of A's tracks (silscore.bootstrap_minimum_spread, shared with the pencil cue's
time-block spread), so that the fine solve can weigh both cues by inverse variance and a part of the scene that
pulls the lag its own way widens the spread. Real footage where silhouettes are unusable (a person and a board
moving before a textured, changing background) is where this cue carries the sub-frame precision.
"""

from __future__ import annotations

import numpy as np
import torch

from sync4dgs.sync.align.geometry import epipolar_distance
from sync4dgs.sync.align.matching import pair_mean_distances
from sync4dgs.sync.align.pairs import FineEstimate, refine_1d
from sync4dgs.sync.align.resample import sample_linear
from sync4dgs.sync.align.silscore import bootstrap_minimum_spread
from sync4dgs.sync.align.tracks import CameraTracks

MAX_PAIRS = 4096   # matched track pairs kept (the lowest distances at d0): bounds memory and time
REGION_GRID = 3    # the bootstrap also resamples the cells of a REGION_GRID x REGION_GRID grid over A's image


def _regions(xa: torch.Tensor, size: tuple[int, int]) -> np.ndarray:
    """[P] int64 cell (row-major, REGION_GRID x REGION_GRID over the image of ``size`` (width, height) px) of
    the mean position of each track xa [P, N, 2] (full-resolution pixels, NaN = missing)."""
    mean = torch.nanmean(xa, 1).cpu().numpy()
    cx = np.clip((mean[:, 0] / size[0] * REGION_GRID).astype(np.int64), 0, REGION_GRID - 1)
    cy = np.clip((mean[:, 1] / size[1] * REGION_GRID).astype(np.int64), 0, REGION_GRID - 1)
    return cy * REGION_GRID + cx


def _epipolar_sq(xa: torch.Tensor, xb: torch.Tensor, f: torch.Tensor, s_a: float, s_b: float) -> torch.Tensor:
    """Symmetric squared point-to-epipolar-line distance [..., N] (tracking px^2) of full-resolution pixel
    points xa, xb [..., N, 2] under F (x_b^T F x_a = 0); NaN where either point is missing: geometry's
    epipolar_distance in the two cameras' tracking pixels (F rescaled to them)."""
    scale_a = torch.tensor([s_a, s_a, 1.0], dtype=f.dtype, device=f.device)
    scale_b = torch.tensor([s_b, s_b, 1.0], dtype=f.dtype, device=f.device)
    f_track = f / scale_b[:, None] / scale_a[None, :]
    return epipolar_distance(f_track, xa * s_a, xb * s_b) ** 2


def _partners(ta: CameraTracks, tb: CameraTracks, f: np.ndarray, rho: float, d0: float, min_overlap: int,
              trunc_px: float, device: torch.device) -> tuple[np.ndarray, np.ndarray]:
    """Best partners at the offset ``d0``: (ia, jb) [P] int64, the pairs (i, best j of i) and (best i of j, j),
    deduplicated, whose mean symmetric squared epipolar distance over >= ``min_overlap`` common frames
    (matching.pair_mean_distances) is below ``trunc_px``^2; at most MAX_PAIRS, the closest first."""
    rows, cols, mean_sq, cnt = pair_mean_distances(ta, tb, f, rho, d0, device)
    ok = (cnt >= min_overlap) & (mean_sq < trunc_px * trunc_px)
    rows, cols, mean_sq = rows[ok], cols[ok], mean_sq[ok]
    order = np.argsort(mean_sq, kind="stable")
    best_of_a = order[np.unique(rows[order], return_index=True)[1]]      # first (closest) entry of every row
    best_of_b = order[np.unique(cols[order], return_index=True)[1]]
    keep = np.union1d(best_of_a, best_of_b)
    keep = keep[np.argsort(mean_sq[keep], kind="stable")][:MAX_PAIRS]
    return rows[keep], cols[keep]


def track_fine_pair(ta: CameraTracks, tb: CameraTracks, f: np.ndarray, size_a: tuple[int, int], rho: float,
                    d0: float, min_overlap: int, trunc_px: float, device: torch.device, window_frames: float = 1.5,
                    step_frames: float = 0.05, block_frames: int = 5, n_boot: int = 200,
                    seed: int = 0) -> FineEstimate | None:
    """Sub-frame offset of a pair from its tracks, around ``d0`` (seconds of A's clock) at rate ratio ``rho``.

    ta, tb: the pair's scored tracks (full-resolution pixels; tracking scale in ``track_scale``); f: [3, 3] pixel
    F (x_B^T F x_A = 0); size_a: A's image (width, height) in pixels, cut into REGION_GRID x REGION_GRID regions
    for the bootstrap. Returns FineEstimate (rho, d_s, sharpness = 1 - min / mean cost one frame either side,
    cost in tracking px^2, sigma_s = the minimum's spread in seconds under a two-way bootstrap of 5-frame blocks
    and image regions of A's tracks, NaN below 3 blocks), or None when no track pair matches at ``d0`` or the
    cost has no finite value."""
    if ta.n_tracks == 0 or tb.n_tracks == 0 or len(ta.tau_s) < 2:
        return None
    dt = torch.float64
    h = float(np.median(np.diff(ta.tau_s)))
    tau_a = torch.as_tensor(ta.tau_s, dtype=dt, device=device)
    tau_b = torch.as_tensor(tb.tau_s, dtype=dt, device=device)
    grid_a = torch.arange(int(np.floor(ta.tau_s[-1] / h + 1e-9)) + 1, dtype=dt, device=device) * h
    xa_all = sample_linear(torch.as_tensor(ta.xy, dtype=dt, device=device), tau_a, grid_a)      # [MA, N, 2]
    xb_px = torch.as_tensor(tb.xy, dtype=dt, device=device)
    s_a, s_b = float(ta.track_scale), float(tb.track_scale)
    ia, jb = _partners(ta, tb, f, rho, d0, min_overlap, trunc_px, device)
    if len(ia) == 0:
        return None
    f_t = torch.as_tensor(f, dtype=dt, device=device)
    xa = xa_all[torch.as_tensor(ia, device=device)]                                              # [P, N, 2]
    xb_m = xb_px[torch.as_tensor(jb, device=device)]
    n = len(grid_a)
    block = torch.as_tensor(np.arange(n) // block_frames, device=device)
    nb = int(block.max()) + 1
    region = torch.as_tensor(_regions(xa, size_a), device=device)
    ng = int(region.max()) + 1
    cell = (region[:, None] * nb + block[None, :]).reshape(-1)         # [P * N] (region, block) of each sample
    grid = d0 + np.arange(-window_frames, window_frames + 1e-9, step_frames) * h
    num = torch.zeros(len(grid), ng * nb, dtype=dt, device=device)
    den = torch.zeros_like(num)
    t2 = trunc_px * trunc_px
    for g, d in enumerate(grid):
        e = _epipolar_sq(xa, sample_linear(xb_m, tau_b, (grid_a - float(d)) / rho), f_t, s_a, s_b)   # [P, N]
        ok = torch.isfinite(e)
        num[g].index_add_(0, cell, torch.where(ok, e.clamp_max(t2), torch.zeros_like(e)).reshape(-1))
        den[g].index_add_(0, cell, ok.to(dt).reshape(-1))
    num, den = num.reshape(len(grid), ng, nb), den.reshape(len(grid), ng, nb)
    keep_b, keep_g = den.sum((0, 1)) > 0, den.sum((0, 2)) > 0
    num, den = num[:, keep_g][:, :, keep_b], den[:, keep_g][:, :, keep_b]
    total = den.sum((1, 2)).cpu().numpy()
    ok = total >= min_overlap          # offsets where the matched tracks barely overlap are not scored
    if not ok.any():
        return None
    grid, num, den = grid[ok], num[torch.as_tensor(ok, device=device)], den[torch.as_tensor(ok, device=device)]
    cost = (num.sum((1, 2)) / den.sum((1, 2))).cpu().numpy()
    k = int(np.nanargmin(cost))
    d_best, c_best = refine_1d(grid, cost)            # local parabola, as the pencil's fine_pair
    one = int(round(1.0 / step_frames))
    around = [cost[i] for i in (k - one, k + one) if 0 <= i < len(cost) and np.isfinite(cost[i])]
    sharp = float(np.clip(1 - c_best / max(np.mean(around), 1e-12), 0, 1)) if around else 0.0
    enough = num.shape[2] >= 3 and len(grid) >= 3
    sigma = bootstrap_minimum_spread(grid, num, den, n_boot, seed) if enough else float("nan")
    return FineEstimate(float(rho), d_best, sharp, c_best, sigma)
