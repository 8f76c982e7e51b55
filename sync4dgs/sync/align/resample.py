"""Time interpolation of 2D tracks (pure torch functions).

Tracks are [M, T, 2] pixel positions sampled at a camera's local frame times ``tau_s`` [T] (seconds,
strictly increasing; may be irregular), NaN where invisible. Query times are local times of the same camera.
"""

from __future__ import annotations

import torch


def fractional_index(tau_s: torch.Tensor, query_s: torch.Tensor) -> torch.Tensor:
    """Continuous frame index of local times ``query_s`` (any shape) on the frame clock ``tau_s`` [T].

    Piecewise linear in time (exact for irregular frame times), extrapolated linearly beyond the ends;
    differentiable with respect to ``query_s``.
    """
    t = tau_s.shape[0]
    k = torch.searchsorted(tau_s.detach().contiguous(), query_s.detach().contiguous(), right=True) - 1
    k = k.clamp(0, t - 2)
    t0, t1 = tau_s[k], tau_s[k + 1]
    return k.to(query_s.dtype) + (query_s - t0) / (t1 - t0)


def sample_linear(xy: torch.Tensor, tau_s: torch.Tensor, query_s: torch.Tensor) -> torch.Tensor:
    """Linear interpolation of tracks ``xy`` [M, T, 2] at local times ``query_s`` [N] -> [M, N, 2].

    NaN where the query is outside [tau_0, tau_{T-1}] or either neighbouring frame is invisible.
    """
    t = xy.shape[1]
    u = fractional_index(tau_s, query_s)
    inside = (u >= 0) & (u <= t - 1)
    k = u.floor().long().clamp(0, t - 2)
    f = (u - k.to(u.dtype)).clamp(0, 1)[None, :, None]
    p0, p1 = xy[:, k], xy[:, k + 1]
    out = p0 * (1 - f) + p1 * f
    # an exact hit on a frame needs only that frame
    exact0 = (f[0, :, 0] == 0)
    out = torch.where(exact0[None, :, None] & torch.isfinite(p0), p0, out)
    return torch.where(inside[None, :, None], out, torch.full_like(out, float("nan")))


def sample_cubic(xy: torch.Tensor, tau_s: torch.Tensor, idx: torch.Tensor, query_s: torch.Tensor) -> torch.Tensor:
    """Catmull-Rom interpolation of selected tracks at per-sample times (differentiable in ``query_s``).

    Args:
        xy: [M, T, 2] tracks. tau_s: [T]. idx: [N] track index of each sample. query_s: [N] local times.
    Returns:
        [N, 2]; NaN where the two bracketing frames are not both visible. Missing outer neighbours fall back to
        linear extrapolation of the bracketing segment (so the curve is linear there).
    """
    t = xy.shape[1]
    u = fractional_index(tau_s, query_s)
    k = u.detach().floor().long().clamp(0, t - 2)
    f = (u - k.to(u.dtype))[:, None]
    p1, p2 = xy[idx, k], xy[idx, k + 1]
    p0 = xy[idx, (k - 1).clamp_min(0)]
    p3 = xy[idx, (k + 2).clamp_max(t - 1)]
    p0 = torch.where(torch.isfinite(p0) & (k >= 1)[:, None], p0, 2 * p1 - p2)
    p3 = torch.where(torch.isfinite(p3) & (k + 2 <= t - 1)[:, None], p3, 2 * p2 - p1)
    f2, f3 = f * f, f * f * f
    out = 0.5 * ((2 * p1) + (-p0 + p2) * f + (2 * p0 - 5 * p1 + 4 * p2 - p3) * f2 + (-p0 + 3 * p1 - 3 * p2 + p3) * f3)
    ok = torch.isfinite(p1).all(-1) & torch.isfinite(p2).all(-1) & (u >= 0) & (u <= t - 1)
    return torch.where(ok[:, None], out, torch.full_like(out, float("nan")))
