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
    """Linear interpolation of tracks ``xy`` [M, T, D] (D = 2 for pixels, 3 for points) at local times
    ``query_s`` [N] -> [M, N, D].

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
