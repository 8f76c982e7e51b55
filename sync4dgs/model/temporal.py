"""Temporal opacity of dynamic Gaussians (Ex4DGS paper Eq. 10, log-parameterised widths, all in SECONDS).

    sigma_t(t) = exp(-((t - a) / w_a)^2)   t < a
               = 1                         a <= t <= b
               = exp(-((t - b) / w_b)^2)   t > b

with a = min(c0, c1), b = max(c0, c1) and w_j = exp(logwidth_j) + width_floor_s, where each width stays
attached to its own centre (if c0 > c1 the appear side uses w1). Written as
``exp(-(relu(a - t)/w_a)^2 - (relu(t - b)/w_b)^2)``, which is continuous with a continuous first derivative
in t (and smooth everywhere except at a and b), so gradients w.r.t. time are well defined everywhere.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor


def temporal_widths_s(t_logwidth: Tensor, width_floor_s: float) -> Tensor:
    """Falloff widths in seconds: exp(logwidth) + floor. [N, 2] -> [N, 2]."""
    return torch.exp(t_logwidth) + width_floor_s


def temporal_opacity(t_s: Tensor | float, t_center: Tensor, t_logwidth: Tensor,
                     width_floor_s: float = 0.01) -> Tensor:
    """Temporal opacity factor in (0, 1].

    Args:
        t_s: [] or [N] global time(s), seconds.
        t_center: [N, 2] appear / disappear centres, seconds (either order).
        t_logwidth: [N, 2] log of the falloff widths (seconds) attached to centre 0 / centre 1.
        width_floor_s: added to exp(logwidth) so widths never collapse to zero.
    Returns:
        [N] opacity multipliers (exactly 1 between the centres).
    """
    c0, c1 = t_center[:, 0], t_center[:, 1]
    w = temporal_widths_s(t_logwidth, width_floor_s)
    swap = c0 > c1
    a = torch.minimum(c0, c1)
    b = torch.maximum(c0, c1)
    w_a = torch.where(swap, w[:, 1], w[:, 0])
    w_b = torch.where(swap, w[:, 0], w[:, 1])
    before = torch.relu(a - t_s) / w_a
    after = torch.relu(t_s - b) / w_b
    return torch.exp(-(before * before) - (after * after))


def logwidth_for(width_s: float, width_floor_s: float) -> float:
    """Inverse of :func:`temporal_widths_s` for a single width (seconds); width must exceed the floor."""
    if width_s <= width_floor_s:
        raise ValueError(f"temporal width {width_s} s must exceed the floor {width_floor_s} s")
    return math.log(width_s - width_floor_s)
