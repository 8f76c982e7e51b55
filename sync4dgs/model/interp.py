"""Keyframe interpolation on a uniform time grid (pure torch, differentiable in the keyframes AND in time).

Grid convention: keyframe ``k`` (0 <= k < K) sits at time ``t0_s + k * dt_s`` (SECONDS). A query time ``t_s``
is mapped to the continuous keyframe coordinate ``s = (t_s - t0_s) / dt_s``; segment ``n = floor(s)`` and
local parameter ``u = s - n`` in [0, 1]. ``n`` is computed from a detached copy of ``s`` so that
``du/dt = 1 / dt_s`` exactly: nothing rounds time in the differentiable path.

Outside the keyframe range, time is CLAMPED to [t0_s, t0_s + (K-1) dt_s]: the curve holds its end value
and its derivative w.r.t. time is zero there (callers that learn time, e.g. per-camera offsets, should keep
their times inside the grid; see ``Gaussians4D.ensure_time_domain``).

Positions: uniform Catmull-Rom = cubic Hermite with tangents ``m_n = (P[n+1] - P[n-1]) / 2`` (in units of
one keyframe interval), neighbour indices clamped to [0, K-1] at the ends (so the first and last segment
use one-sided tangents); C1 continuous; exact at keyframes. Linear interpolation is the alternative.
Rotations: slerp (short arc, numerically safe near omega=0) or nlerp between keyframes n and n+1.
Quaternions are wxyz.
"""

from __future__ import annotations

import functools

import torch
import torch.nn.functional as F
from torch import Tensor

POSITION_MODES = ("hermite", "linear")
ROTATION_MODES = ("slerp", "nlerp")

# Below this angle between two unit quaternions (radians of omega = half the rotation angle) slerp is
# replaced by the normalised linear blend (the two agree to O(omega^2) there).
_SLERP_SMALL_ANGLE_COS = 1.0 - 1e-6


def keyframe_coordinates(t_s: Tensor, t0_s: Tensor | float, dt_s: Tensor | float, num_keys: int
                         ) -> tuple[Tensor, Tensor]:
    """Segment index and local parameter of time(s) ``t_s``.

    Args:
        t_s: [] or [N] times (seconds).
        t0_s, dt_s: time of keyframe 0 and keyframe spacing (seconds; python floats or 0-d tensors).
        num_keys: K >= 1.
    Returns:
        n: long tensor shaped like ``t_s``, in [0, max(K-2, 0)].
        u: float tensor shaped like ``t_s``, in [0, 1]; differentiable in t_s (du/dt = 1/dt inside the grid).
    """
    s = (t_s - t0_s) / dt_s
    s = s.clamp(0.0, float(max(num_keys - 1, 0)))
    n = torch.floor(s.detach()).clamp(0.0, float(max(num_keys - 2, 0)))
    u = s - n
    return n.long(), u


def neighbour_indices(n: Tensor, num_keys: int, first: int = -1, count: int = 4) -> Tensor:
    """Indices n+first .. n+first+count-1, clamped to [0, K-1]. n: [] or [N] long -> [count] or [N, count].

    Built with ``arange`` on n's device (no host->device copy, no sync).
    """
    off = torch.arange(first, first + count, dtype=torch.long, device=n.device)
    return (n.unsqueeze(-1) + off).clamp(0, num_keys - 1)


def gather_keys(key: Tensor, idx: Tensor) -> Tensor:
    """Pick keyframes. key: [N, K, D]; idx: [J] (same for all N) or [N, J] -> [N, J, D] (one index op)."""
    if idx.dim() == 1:
        return key.index_select(1, idx)
    return torch.gather(key, 1, idx.unsqueeze(-1).expand(-1, -1, key.shape[-1]))


def _expand_u(u: Tensor, like: Tensor) -> Tensor:
    """u: [] or [N] -> broadcastable against [N, D]."""
    return u.unsqueeze(-1) if u.dim() == 1 else u


def catmull_rom(p_prev: Tensor, p0: Tensor, p1: Tensor, p_next: Tensor, u: Tensor) -> Tensor:
    """Cubic Hermite segment from p0 (u=0) to p1 (u=1) with tangents (p1-p_prev)/2 and (p_next-p0)/2.

    All points [N, D]; u [] or [N] -> [N, D].
    """
    u = _expand_u(u, p0)
    u2 = u * u
    u3 = u2 * u
    h00 = 2 * u3 - 3 * u2 + 1
    h10 = u3 - 2 * u2 + u
    h01 = -2 * u3 + 3 * u2
    h11 = u3 - u2
    m0 = (p1 - p_prev) * 0.5
    m1 = (p_next - p0) * 0.5
    return h00 * p0 + h10 * m0 + h01 * p1 + h11 * m1


def hermite(P: Tensor, u: Tensor, n: Tensor) -> Tensor:
    """Evaluate the Catmull-Rom curve of keyframes ``P`` [N, K, D] in segment ``n`` at local parameter ``u``.

    n: [] or [N] long (segment index, 0 <= n <= K-2); u: [] or [N] in [0, 1] -> [N, D].
    """
    K = P.shape[1]
    if K == 1:
        return P[:, 0]
    q = gather_keys(P, neighbour_indices(n, K))
    if u.dim() == 0:          # one time for all rows: 4 weights, one batched product (few launches)
        return torch.matmul(catmull_rom_basis(u), q)
    return catmull_rom(q[:, 0], q[:, 1], q[:, 2], q[:, 3], u)


@functools.lru_cache(maxsize=16)
def _catmull_rom_matrix(device: torch.device, dtype: torch.dtype) -> Tensor:
    """[4, 4] M with weights (n-1, n, n+1, n+2) = M @ [1, u, u^2, u^3] (cached per device: no copy per call)."""
    m = [[0.0, -0.5, 1.0, -0.5],      # p_prev: -h10/2
         [1.0, 0.0, -2.5, 1.5],       # p0: h00 - h11/2
         [0.0, 0.5, 2.0, -1.5],       # p1: h01 + h10/2
         [0.0, 0.0, -0.5, 0.5]]       # p_next: h11/2
    with torch.inference_mode(False):  # a normal tensor even if first built under inference mode
        return torch.tensor(m, dtype=dtype, device=device)


def catmull_rom_basis(u: Tensor) -> Tensor:
    """[4] weights of keyframes (n-1, n, n+1, n+2) at local parameter u [] (differentiable in u).

    Same curve as :func:`catmull_rom`: h00 p0 + h10 (p1 - p_prev)/2 + h01 p1 + h11 (p_next - p0)/2.
    """
    u2 = u * u
    powers = torch.stack([torch.ones_like(u), u, u2, u2 * u])
    return _catmull_rom_matrix(u.device, u.dtype) @ powers


def lerp_segment(P: Tensor, u: Tensor, n: Tensor) -> Tensor:
    """Linear interpolation between keyframes n and n+1. P [N, K, D]; u, n [] or [N] -> [N, D]."""
    K = P.shape[1]
    if K == 1:
        return P[:, 0]
    q = gather_keys(P, neighbour_indices(n, K, 0, 2))
    return q[:, 0] + _expand_u(u, q[:, 0]) * (q[:, 1] - q[:, 0])


def interpolate_keyframes(key: Tensor, t_s: Tensor, t0_s: Tensor | float, dt_s: Tensor | float,
                          mode: str = "hermite") -> Tensor:
    """Positions (or any vectors) at time(s) ``t_s``. key: [N, K, D]; t_s: [] or [N] seconds -> [N, D]."""
    n, u = keyframe_coordinates(t_s, t0_s, dt_s, key.shape[1])
    if mode == "hermite":
        return hermite(key, u, n)
    if mode == "linear":
        return lerp_segment(key, u, n)
    raise ValueError(f"unknown interpolation mode {mode!r}; expected one of {POSITION_MODES}")


def catmull_rom_eval(key: Tensor, t_s: Tensor, t0_s: Tensor | float, dt_s: Tensor | float) -> Tensor:
    """Uniform Catmull-Rom of ``key`` [N, K, D] at time(s) ``t_s`` (seconds) -> [N, D]."""
    return interpolate_keyframes(key, t_s, t0_s, dt_s, "hermite")


def _short_arc(q0: Tensor, q1: Tensor) -> tuple[Tensor, Tensor]:
    """Flip q1 where needed so that q0 . q1 >= 0. Returns (q1', dot) with dot [..., 1] >= 0."""
    dot = (q0 * q1).sum(-1, keepdim=True)
    flip = dot < 0
    return torch.where(flip, -q1, q1), torch.where(flip, -dot, dot)


def nlerp(q0: Tensor, q1: Tensor, u: Tensor | float) -> Tensor:
    """Normalised linear blend of quaternions (short arc). q0, q1 [..., 4]; u broadcastable to [..., 1]."""
    return _nlerp_unit(F.normalize(q0, dim=-1), F.normalize(q1, dim=-1), u)


def slerp(q0: Tensor, q1: Tensor, u: Tensor | float) -> Tensor:
    """Spherical linear interpolation (short arc) of quaternions; output unit-norm.

    q0, q1: [..., 4] (normalised here); u: broadcastable to [..., 1] (e.g. [N, 1] or a scalar).
    Exact at u=0 / u=1 up to rounding. Near omega=0 the normalised linear blend is used; both branches are
    finite so gradients are never NaN.
    """
    return _slerp_unit(F.normalize(q0, dim=-1), F.normalize(q1, dim=-1), u)


def _nlerp_unit(q0: Tensor, q1: Tensor, u: Tensor | float) -> Tensor:
    """:func:`nlerp` of unit quaternions."""
    q1, _ = _short_arc(q0, q1)
    return F.normalize(q0 + u * (q1 - q0), dim=-1)


def _slerp_unit(q0: Tensor, q1: Tensor, u: Tensor | float) -> Tensor:
    """:func:`slerp` of unit quaternions."""
    q1, dot = _short_arc(q0, q1)
    small = dot > _SLERP_SMALL_ANGLE_COS
    omega = torch.acos(dot.clamp(-1.0, _SLERP_SMALL_ANGLE_COS))
    sin_omega = torch.sin(omega)
    if not torch.is_tensor(u):
        u = torch.full_like(dot, float(u))
    w0 = torch.sin((1 - u) * omega) / sin_omega
    w1 = torch.sin(u * omega) / sin_omega
    w0 = torch.where(small, 1 - u, w0)
    w1 = torch.where(small, u + torch.zeros_like(w1), w1)
    return F.normalize(w0 * q0 + w1 * q1, dim=-1)


def interpolate_rotations(key_quats: Tensor, t_s: Tensor, t0_s: Tensor | float, dt_s: Tensor | float,
                          mode: str = "slerp") -> Tensor:
    """Unit quaternions at time(s) t_s from keyframe quaternions [N, K, 4] -> [N, 4]."""
    n, u = keyframe_coordinates(t_s, t0_s, dt_s, key_quats.shape[1])
    return rotation_segment(key_quats, u, n, mode)


def rotation_segment(key_quats: Tensor, u: Tensor, n: Tensor, mode: str = "slerp") -> Tensor:
    """Blend keyframe quaternions n and n+1 at local parameter u. key_quats [N, K, 4]; u, n [] or [N]."""
    K = key_quats.shape[1]
    if K == 1:
        return F.normalize(key_quats[:, 0], dim=-1)
    if mode not in ROTATION_MODES:
        raise ValueError(f"unknown rotation interpolation {mode!r}; expected one of {ROTATION_MODES}")
    q = F.normalize(gather_keys(key_quats, neighbour_indices(n, K, 0, 2)), dim=-1)   # one normalise for both
    uu = _expand_u(u, q[:, 0])
    if mode == "slerp":
        return _slerp_unit(q[:, 0], q[:, 1], uu)
    return _nlerp_unit(q[:, 0], q[:, 1], uu)
