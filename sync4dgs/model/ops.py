"""Parameter surgery on Gaussian parameter dicts, keeping optimiser moments and running stats in lock-step.

Mirrors gsplat 1.5.3's ``gsplat/strategy/ops.py``: every op builds a ``param_fn(name, tensor) -> tensor``
and a ``state_fn(key, moment) -> moment`` and hands them to :func:`update_params`, which replaces each
parameter in ``params`` (a ``torch.nn.ParameterDict`` or plain dict) and in every optimiser that holds it
(moments such as ``exp_avg``/``exp_avg_sq`` are transformed; 0-d entries such as ``step`` are kept).
Works for the static dict ([N, ...] tensors) and the dynamic dict (including [N, K, ...] keyframe tensors):
row ops act on dim 0, keyframe ops on dim 1.

``optimizers`` may be a dict name -> optimizer (gsplat style), a single optimizer, a list of optimizers or
None; the parameter is found by identity in the optimisers' param groups. ``state`` is an optional dict of
per-Gaussian running statistics (e.g. gsplat strategy state): every tensor with >= 1 dimension in it is
resized along dim 0 like the rows; other entries are left alone.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, MutableMapping
from typing import Any, Union

import torch
from torch import Tensor

from sync4dgs.utils.geometry import quat_to_rotmat

ParamDict = MutableMapping[str, Tensor]
Optimizers = Union[Mapping[str, torch.optim.Optimizer], Iterable[torch.optim.Optimizer],
                   torch.optim.Optimizer, None]


def _optimizers_for(name: str, optimizers: Optimizers) -> list[torch.optim.Optimizer]:
    if optimizers is None:
        return []
    if isinstance(optimizers, torch.optim.Optimizer):
        return [optimizers]
    if isinstance(optimizers, Mapping):
        # the optimiser registered under the name first, then every other one (found by identity)
        candidates = ([optimizers[name]] if name in optimizers else []) + list(optimizers.values())
    else:
        candidates = list(optimizers)
    seen: dict[int, torch.optim.Optimizer] = {}
    for opt in candidates:
        seen.setdefault(id(opt), opt)
    return list(seen.values())


def _swap_in_optimizer(opt: torch.optim.Optimizer, old: Tensor, new: Tensor,
                       state_fn: Callable[[str, Tensor], Tensor]) -> bool:
    for group in opt.param_groups:
        for i, p in enumerate(group["params"]):
            if p is old:
                group["params"][i] = new
                st = opt.state.pop(old, None)
                if st is not None:
                    opt.state[new] = {k: (state_fn(k, v) if torch.is_tensor(v) and v.dim() > 0 else v)
                                      for k, v in st.items()}
                return True
    return False


@torch.no_grad()
def update_params(params: ParamDict, param_fn: Callable[[str, Tensor], Tensor],
                  state_fn: Callable[[str, Tensor], Tensor], optimizers: Optimizers = None,
                  names: Iterable[str] | None = None) -> None:
    """Replace ``params[name]`` by ``param_fn(name, old)`` (as a Parameter keeping requires_grad) and
    transform the optimiser moments of the old parameter with ``state_fn(state_key, value)``."""
    for name in list(params.keys()) if names is None else list(names):
        old = params[name]
        new = torch.nn.Parameter(param_fn(name, old).contiguous(), requires_grad=old.requires_grad)
        params[name] = new
        for opt in _optimizers_for(name, optimizers):
            if _swap_in_optimizer(opt, old, new, state_fn):
                break


def update_running_state(state: MutableMapping[str, Any] | None, fn: Callable[[Tensor], Tensor]) -> None:
    """Apply a row op to every tensor (dim >= 1) of a running-statistics dict, in place."""
    if state is None:
        return
    for k, v in list(state.items()):
        if torch.is_tensor(v) and v.dim() > 0:
            state[k] = fn(v)


def _rows(mask_or_index: Tensor) -> Tensor:
    return torch.where(mask_or_index)[0] if mask_or_index.dtype == torch.bool else mask_or_index.long()


def _zeros_rows(v: Tensor, m: int) -> Tensor:
    return torch.zeros((m, *v.shape[1:]), dtype=v.dtype, device=v.device)


def num_rows(params: Mapping[str, Tensor]) -> int:
    """Common first dimension of all tensors in ``params`` (ValueError if they disagree)."""
    sizes = {k: int(v.shape[0]) for k, v in params.items()}
    if len(set(sizes.values())) > 1:
        raise ValueError(f"parameter tensors disagree on the number of Gaussians: {sizes}")
    return next(iter(sizes.values()), 0)


@torch.no_grad()
def select(params: ParamDict, keep: Tensor, optimizers: Optimizers = None,
           state: MutableMapping[str, Any] | None = None) -> None:
    """Keep only the rows in ``keep`` ([N] bool mask or long indices), in place (moments indexed alike)."""
    idx = _rows(keep)
    update_params(params, lambda _n, p: p[idx], lambda _k, v: v[idx], optimizers)
    update_running_state(state, lambda v: v[idx])


def remove(params: ParamDict, mask: Tensor, optimizers: Optimizers = None,
           state: MutableMapping[str, Any] | None = None) -> None:
    """Remove the rows where ``mask`` ([N] bool) is True, in place."""
    select(params, ~mask, optimizers, state)


@torch.no_grad()
def append(params: ParamDict, new_values: Mapping[str, Tensor], optimizers: Optimizers = None,
           state: MutableMapping[str, Any] | None = None, state_rows: Tensor | None = None) -> None:
    """Append rows: ``new_values[name]`` [M, ...] for EVERY key of ``params``. New moments are zero.

    Running-state rows are copied from ``state_rows`` (indices into the old rows) when given, else zero.
    """
    missing = sorted(set(params.keys()) - set(new_values.keys()))
    if missing:
        raise KeyError(f"append: new values missing for {missing}")
    m = num_rows({k: new_values[k] for k in params.keys()})
    for k in params.keys():
        if tuple(new_values[k].shape[1:]) != tuple(params[k].shape[1:]):
            raise ValueError(f"append: {k} has trailing shape {tuple(new_values[k].shape[1:])}, "
                             f"expected {tuple(params[k].shape[1:])}")
    update_params(params, lambda n, p: torch.cat([p, new_values[n].to(p)]),
                  lambda _k, v: torch.cat([v, _zeros_rows(v, m)]), optimizers)
    if state_rows is None:
        update_running_state(state, lambda v: torch.cat([v, _zeros_rows(v, m)]))
    else:
        update_running_state(state, lambda v: torch.cat([v, v[state_rows]]))


def jitter_temporal_centers(t_center: Tensor, min_jitter_s: float,
                            generator: torch.Generator | None = None) -> Tensor:
    """Ex4DGS jitter for new dynamic Gaussians: c_j += l * N(0, 1), l = max(|c1 - c0| / 3, min_jitter_s).

    t_center: [M, 2] seconds -> [M, 2].
    """
    spread = ((t_center[:, 1] - t_center[:, 0]).abs() / 3).clamp_min(min_jitter_s)
    noise = torch.randn(t_center.shape, generator=generator, dtype=t_center.dtype, device=t_center.device)
    return t_center + spread[:, None] * noise


def _fresh_temporal(values: dict[str, Tensor], temporal_jitter_min_s: float | None,
                    reset_logwidth: float | None, generator: torch.Generator | None) -> None:
    if temporal_jitter_min_s is not None and "t_center" in values:
        values["t_center"] = jitter_temporal_centers(values["t_center"], temporal_jitter_min_s, generator)
    if reset_logwidth is not None and "t_logwidth" in values:
        values["t_logwidth"] = torch.full_like(values["t_logwidth"], reset_logwidth)


@torch.no_grad()
def clone_dynamic(params: ParamDict, mask: Tensor, optimizers: Optimizers = None,
                  state: MutableMapping[str, Any] | None = None, *, temporal_jitter_min_s: float | None = None,
                  reset_logwidth: float | None = None, generator: torch.Generator | None = None) -> None:
    """Append an exact copy of the selected dynamic Gaussians (optionally with jittered temporal centres /
    reset log-widths). Copies go to the end; their moments are zero; running-state rows are copied."""
    sel = _rows(mask)
    new = {k: v[sel].clone() for k, v in params.items()}
    _fresh_temporal(new, temporal_jitter_min_s, reset_logwidth, generator)
    append(params, new, optimizers, state, state_rows=sel)


@torch.no_grad()
def split_dynamic(params: ParamDict, mask: Tensor, optimizers: Optimizers = None,
                  state: MutableMapping[str, Any] | None = None, *, n_children: int = 2,
                  offset_std_factor: float = 2.0, scale_divisor: float = 1.6,
                  temporal_jitter_min_s: float | None = None, reset_logwidth: float | None = None,
                  generator: torch.Generator | None = None) -> None:
    """Ex4DGS dynamic split: each selected Gaussian is replaced by ``n_children`` children.

    Child c of parent i draws ONE offset eps ~ N(0, (offset_std_factor * s_i)^2) per axis (s_i = exp(log-
    scale)), applied at every keyframe k in that keyframe's frame: key_means[k] + R(key_quats[k]) @ eps.
    Child scales = s_i / scale_divisor; other values copied. Parents are removed; children are appended
    (order: all first children, then all second children, ...). Children's moments are zero; their
    running-state rows repeat the parent's (gsplat convention).
    """
    sel = _rows(mask)
    keep = torch.ones(num_rows(params), dtype=torch.bool, device=sel.device)
    keep[sel] = False
    rest = torch.where(keep)[0]
    m = int(sel.numel())
    scales = torch.exp(params["scales"][sel])                                      # [M, 3]
    noise = torch.randn((n_children, m, 3), generator=generator, dtype=scales.dtype, device=scales.device)
    eps = offset_std_factor * scales[None] * noise                                 # [C, M, 3]
    rot = quat_to_rotmat(params["key_quats"][sel])                                 # [M, K, 3, 3]
    offsets = torch.einsum("mkij,cmj->cmki", rot, eps)                             # [C, M, K, 3]
    children: dict[str, Tensor] = {}
    for name, p in params.items():
        if name == "key_means":
            children[name] = (p[sel][None] + offsets).reshape(n_children * m, *p.shape[1:])
        elif name == "scales":
            children[name] = torch.log(scales / scale_divisor).repeat(n_children, 1)
        else:
            children[name] = p[sel].repeat(n_children, *([1] * (p.dim() - 1)))
    _fresh_temporal(children, temporal_jitter_min_s, reset_logwidth, generator)
    update_params(params, lambda n, p: torch.cat([p[rest], children[n].to(p)]),
                  lambda _k, v: torch.cat([v[rest], _zeros_rows(v, n_children * m)]), optimizers)
    update_running_state(state, lambda v: torch.cat([v[rest], v[sel].repeat(n_children, *([1] * (v.dim() - 1)))]))


def extrapolate_keyframes(key: Tensor, n_before: int, n_after: int, mode: str = "linear") -> Tensor:
    """Grow a keyframe tensor [N, K, D] to [N, n_before + K + n_after, D].

    mode "linear": new keyframes continue the end segments' constant step (P[0] - j (P[1] - P[0]) before,
    P[K-1] + j (P[K-1] - P[K-2]) after); "hold": repeat the end keyframes (used for quaternions).
    With K == 1 both modes hold.
    """
    K = key.shape[1]
    parts = []
    if n_before > 0:
        j = torch.arange(n_before, 0, -1, dtype=key.dtype, device=key.device)[None, :, None]  # n_before..1
        step = key[:, 1:2] - key[:, 0:1] if (mode == "linear" and K > 1) else torch.zeros_like(key[:, 0:1])
        parts.append(key[:, 0:1] - j * step)
    parts.append(key)
    if n_after > 0:
        j = torch.arange(1, n_after + 1, dtype=key.dtype, device=key.device)[None, :, None]
        step = key[:, -1:] - key[:, -2:-1] if (mode == "linear" and K > 1) else torch.zeros_like(key[:, 0:1])
        parts.append(key[:, -1:] + j * step)
    return torch.cat(parts, dim=1)


def pad_keyframe_moment(v: Tensor, n_before: int, n_after: int) -> Tensor:
    """Zero-pad an optimiser moment [N, K, D] along the keyframe axis (aligned with extrapolate_keyframes)."""
    shape = list(v.shape)
    before = v.new_zeros([shape[0], n_before, *shape[2:]])
    after = v.new_zeros([shape[0], n_after, *shape[2:]])
    return torch.cat([before, v, after], dim=1)


KEYFRAME_PARAMS = {"key_means": "linear", "key_quats": "hold"}


@torch.no_grad()
def extend_keyframes(params: ParamDict, n_before: int, n_after: int, optimizers: Optimizers = None) -> None:
    """Grow ``key_means`` (linear extrapolation) and ``key_quats`` (held) of a dynamic dict along K, in place;
    their optimiser moments are zero-padded at the same positions. Other tensors are untouched."""
    update_params(params, lambda n, p: extrapolate_keyframes(p, n_before, n_after, KEYFRAME_PARAMS[n]),
                  lambda _k, v: pad_keyframe_moment(v, n_before, n_after), optimizers,
                  names=list(KEYFRAME_PARAMS))
