"""Static -> dynamic conversion (Ex4DGS paper §4.3, in the clean form: evaluate the static line at keyframes).

A converted Gaussian gets keyframe positions = its static position at every keyframe time (constant unless a
velocity is known), its rotation copied to every keyframe, its scale/colour/opacity logit copied, and a
temporal-opacity plateau over the whole keyframe grid [first, last keyframe time] with falloff width = the
grid's span. Hence, inside the grid, ``at_time`` renders it exactly as before (position, rotation, scale,
colour, opacity) when its velocity is zero. The converted rows leave the static dict and are appended at
the end of the dynamic dict.
"""

from __future__ import annotations

from collections.abc import MutableMapping
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from sync4dgs.model import ops
from sync4dgs.model.gaussians4d import STATIC_MOTION_KEY, Gaussians4D
from sync4dgs.model.temporal import logwidth_for


@torch.no_grad()
def convert_static_to_dynamic(model: Gaussians4D, mask: Tensor, velocity_hint: Tensor | None = None, *,
                              static_optimizers: ops.Optimizers = None,
                              dynamic_optimizers: ops.Optimizers = None,
                              static_state: MutableMapping[str, Any] | None = None,
                              dynamic_state: MutableMapping[str, Any] | None = None) -> int:
    """Move the selected static Gaussians into the dynamic set; returns how many were converted.

    Args:
        model: modified in place (model.static / model.dynamic get new Parameter objects).
        mask: [Ns] bool (or long indices) of static Gaussians to convert.
        velocity_hint: optional [M, 3] (one per selected) or [Ns, 3] velocity in world units per SECOND; the
            keyframes become means + v * (t_k - static_t_anchor_s). Default: the static velocities when
            config.static_motion, else zero (keyframes all equal to the current position).
        static_optimizers / dynamic_optimizers: optimisers holding the static / dynamic parameters (see
            ops.update_params: a dict name -> optimizer, one optimizer or a list). When given, static moments
            are removed in lock-step and the new dynamic rows get zero moments; otherwise the caller must
            rebuild that optimiser state (every tensor of both dicts is a new Parameter).
        static_state / dynamic_state: optional running-statistics dicts resized alike (new rows zero).
    """
    sel = torch.where(mask)[0] if mask.dtype == torch.bool else mask.long()
    m = int(sel.numel())
    if m == 0:
        return 0
    p = model.static
    means = p["means"][sel]
    if velocity_hint is not None:
        vel = velocity_hint.to(means)
        vel = vel[sel] if vel.shape[0] == model.n_static and vel.shape[0] != m else vel
        if vel.shape != (m, 3):
            raise ValueError(f"velocity_hint must be [{m}, 3] or [{model.n_static}, 3], got {tuple(vel.shape)}")
    elif model.config.static_motion:
        vel = p[STATIC_MOTION_KEY][sel]
    else:
        vel = torch.zeros_like(means)
    key_times = model.keyframe_times_s().to(means)                                   # [K]
    K = key_times.shape[0]
    key_means = means[:, None] + vel[:, None] * (key_times - model.static_t_anchor_s)[None, :, None]
    key_quats = F.normalize(p["quats"][sel], dim=-1)[:, None].expand(m, K, 4).contiguous()
    first, last = key_times[0], key_times[-1]
    span = max(float(last - first), float(model.key_interval_s))
    floor = model.config.temporal_width_floor_s
    new = {"key_means": key_means, "key_quats": key_quats, "scales": p["scales"][sel],
           "opacities": p["opacities"][sel], "sh0": p["sh0"][sel], "shN": p["shN"][sel],
           "t_center": torch.stack([first, last]).expand(m, 2).contiguous(),
           "t_logwidth": torch.full((m, 2), logwidth_for(span + floor, floor), dtype=means.dtype,
                                    device=means.device)}
    ops.append(model.dynamic, new, dynamic_optimizers, dynamic_state)
    keep = torch.ones(model.n_static, dtype=torch.bool, device=sel.device)
    keep[sel] = False
    ops.select(model.static, keep, static_optimizers, static_state)
    return m
