"""Optimisers of the Gaussians (one single-group optimiser per parameter, gsplat's convention) and the
learning-rate schedule (log-linear decay of positions, a global scale lowered by the NaN guard)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict

import torch

from sync4dgs.errors import ConfigError
from sync4dgs.train.config import OptimConfig

# parameters whose learning rate is multiplied by the scene extent and decays over training
DECAYING = {"static": ("means", "means_final"), "dynamic": ("key_means", "key_means_final")}


def _optimizer_cls(kind: str) -> type[torch.optim.Optimizer]:
    kinds = {"adam": torch.optim.Adam, "radam": torch.optim.RAdam}
    if kind not in kinds:
        raise ConfigError(f"optim.optimizer must be one of {sorted(kinds)}, got {kind!r}")
    return kinds[kind]


def base_lrs(cfg: OptimConfig, which: str, names: list[str], extent: float) -> dict[str, float]:
    """Initial learning rate of every parameter of the ``which`` ("static"/"dynamic") set."""
    table = asdict(cfg.static if which == "static" else cfg.dynamic)
    decaying, _final = DECAYING[which]
    out = {}
    for name in names:
        lr = table.get(name, table["other"])
        out[name] = lr * extent if name == decaying else lr
    return out


def build_optimizers(params: Mapping[str, torch.nn.Parameter], lrs: dict[str, float],
                     kind: str) -> dict[str, torch.optim.Optimizer]:
    """One optimiser per trainable parameter, keyed like ``params``."""
    cls = _optimizer_cls(kind)
    return {name: cls([p], lr=lrs[name], eps=1e-15) for name, p in params.items() if p.requires_grad}


class LRSchedule:
    """Sets every group's learning rate for a step: base lr x (log-linear decay for positions) x ``scale``.

    ``scale`` starts at 1 and is lowered by the NaN guard. Host-side only (no device syncs).
    """

    def __init__(self, cfg: OptimConfig, extent: float):
        self.cfg = cfg
        self.extent = extent
        self.scale = 1.0
        self._tables: dict[str, dict[str, float]] = {}     # asdict() per lookup was ~14 deep copies a step

    def _table(self, which: str) -> dict[str, float]:
        table = self._tables.get(which)
        if table is None:
            table = self._tables[which] = asdict(self.cfg.static if which == "static" else self.cfg.dynamic)
        return table

    def lr(self, which: str, name: str, step: int) -> float:
        table = self._table(which)
        decaying, final_key = DECAYING[which]
        if name != decaying:
            return table.get(name, table["other"]) * self.scale
        t = min(max(step / max(self.cfg.means_decay_iterations, 1), 0.0), 1.0)
        lr0, lr1 = table[decaying] * self.extent, table[final_key] * self.extent
        return math.exp((1 - t) * math.log(lr0) + t * math.log(lr1)) * self.scale

    def apply(self, optimizers: dict[str, dict[str, torch.optim.Optimizer]], step: int) -> None:
        for which, opts in optimizers.items():
            for name, opt in opts.items():
                opt.param_groups[0]["lr"] = self.lr(which, name, step)

    def state_dict(self) -> dict:
        return {"scale": self.scale}

    def load_state_dict(self, d: dict) -> None:
        self.scale = float(d["scale"])


# ------------------------------------------------------------------------------------ batched optimiser step
def _batchable(opt: torch.optim.Optimizer) -> bool:
    """A plain single-parameter Adam / RAdam whose update :func:`step_all` reproduces."""
    if type(opt) not in (torch.optim.Adam, torch.optim.RAdam) or len(opt.param_groups) != 1:
        return False
    g = opt.param_groups[0]
    if len(g["params"]) != 1 or g.get("weight_decay", 0) != 0 or g.get("maximize") or g.get("capturable"):
        return False
    if g.get("differentiable") or g.get("fused") or g.get("amsgrad") or torch.is_tensor(g["lr"]):
        return False
    if any(torch.is_tensor(b) for b in g["betas"]):
        return False
    if opt._optimizer_step_pre_hooks or opt._optimizer_step_post_hooks:
        return False
    p = g["params"][0]
    st = opt.state.get(p)
    if st and (not torch.is_tensor(st.get("step")) or not st["step"].is_cpu):
        return False
    return not p.is_complex() and (p.grad is None or not p.grad.is_sparse)


def step_all(optimizers: list[torch.optim.Optimizer], set_to_none: bool = True) -> None:
    """``opt.step(); opt.zero_grad(set_to_none)`` for every optimiser, with ONE foreach update per (kind,
    hyper-parameters, device, dtype) instead of one per optimiser (the per-parameter convention of gsplat
    strategies costs ~14 optimiser steps per iteration, each with its own Python and launch overhead).

    Same maths and the same state layout ("step", "exp_avg", "exp_avg_sq") as torch's foreach Adam/RAdam, with
    each parameter's own learning rate; anything else (other optimisers, weight decay, amsgrad, hooks, fused,
    capturable) falls back to its own ``step()``. Parameters without a gradient are skipped, as torch does.
    """
    batches: dict[tuple, list[tuple[torch.Tensor, dict, float]]] = {}
    for opt in optimizers:
        if not _batchable(opt):
            opt.step()
            continue
        g = opt.param_groups[0]
        p = g["params"][0]
        if p.grad is None:
            continue
        st = opt.state[p]
        if not st:
            st["step"] = torch.tensor(0.0, dtype=_scalar_dtype())
            st["exp_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
            st["exp_avg_sq"] = torch.zeros_like(p, memory_format=torch.preserve_format)
        key = (type(opt), float(g["betas"][0]), float(g["betas"][1]), float(g["eps"]), p.device, p.dtype)
        batches.setdefault(key, []).append((p, st, float(g["lr"])))
    with torch.no_grad():
        for (kind, beta1, beta2, eps, _dev, _dtype), items in batches.items():
            _foreach_update(kind is torch.optim.RAdam, items, beta1, beta2, eps)
    for opt in optimizers:
        opt.zero_grad(set_to_none=set_to_none)


def _scalar_dtype() -> torch.dtype:
    return torch.float64 if torch.get_default_dtype() == torch.float64 else torch.float32


def _foreach_update(radam: bool, items: list[tuple[torch.Tensor, dict, float]], beta1: float, beta2: float,
                    eps: float) -> None:
    """torch's _multi_tensor_adam / _multi_tensor_radam (non-capturable branch) with per-tensor lr."""
    params = [p for p, _, _ in items]
    grads = [p.grad for p in params]
    exp_avgs = [st["exp_avg"] for _, st, _ in items]
    exp_avg_sqs = [st["exp_avg_sq"] for _, st, _ in items]
    steps = [st["step"] for _, st, _ in items]
    lrs = [lr for _, _, lr in items]
    torch._foreach_add_(steps, torch.tensor(1.0, device="cpu"), alpha=1.0)
    torch._foreach_lerp_(exp_avgs, grads, 1 - beta1)
    torch._foreach_mul_(exp_avg_sqs, beta2)
    torch._foreach_addcmul_(exp_avg_sqs, grads, grads, 1 - beta2)
    del grads
    n = [s.item() for s in steps]                      # CPU tensors: no device sync
    bc1 = [1 - beta1 ** k for k in n]
    if not radam:
        step_size = [(lr / bc) * -1 for lr, bc in zip(lrs, bc1)]
        bc2_sqrt = [(1 - beta2 ** k) ** 0.5 for k in n]
        denom = torch._foreach_sqrt(exp_avg_sqs)
        torch._foreach_div_(denom, bc2_sqrt)
        torch._foreach_add_(denom, eps)
        torch._foreach_addcdiv_(params, exp_avgs, denom, step_size)
        return
    rho_inf = 2 / (1 - beta2) - 1
    rho_t = [rho_inf - 2 * k * (beta2 ** k) / (1 - beta2 ** k) for k in n]
    rect = [((r - 4) * (r - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * r)) ** 0.5 if r > 5 else 0
            for r in rho_t]
    unrectified = [0 if r > 0 else 1.0 for r in rect]
    unrect_step = [(lr * u / bc) * -1 for lr, u, bc in zip(lrs, unrectified, bc1)]
    bc2 = [((1 - beta2 ** k) ** 0.5) * (lr * r / bc) * -1 for k, lr, r, bc in zip(n, lrs, rect, bc1)]
    buffer = torch._foreach_sqrt(exp_avg_sqs)
    torch._foreach_add_(buffer, eps)
    torch._foreach_div_(buffer, bc2)
    torch._foreach_reciprocal_(buffer)
    torch._foreach_add_(buffer, unrect_step)
    torch._foreach_addcmul_(params, exp_avgs, buffer)
