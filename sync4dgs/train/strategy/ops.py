"""Consistency checks for per-Gaussian parameters, optimiser states and running statistics.

The surgery itself (select / append / clone / split / extend keyframes, moments included) is
sync4dgs.model.ops (and gsplat.strategy.ops for the static set); this module checks the result.
Each parameter has its own single-group optimiser (gsplat's convention: ``optimizers[name]``).
"""

from __future__ import annotations

import torch
from torch import Tensor


def optimizer_param(opt: torch.optim.Optimizer) -> Tensor:
    """The one parameter an optimiser of this convention owns."""
    return opt.param_groups[0]["params"][0]


def lockstep_problems(params, optimizers: dict[str, torch.optim.Optimizer],
                      stats: dict[str, Tensor] | None = None) -> list[str]:
    """Every inconsistency between parameters, their optimisers and per-Gaussian statistics ([] = none):
    each optimiser must own the current parameter object, every per-element optimiser state must have the
    parameter's shape, every parameter and statistic must have the same number of rows."""
    problems = []
    n = None
    for name, p in params.items():
        n = p.shape[0] if n is None else n
        if p.shape[0] != n:
            problems.append(f"{name}: {p.shape[0]} rows, expected {n}")
        if name not in optimizers:
            if p.requires_grad:
                problems.append(f"{name}: trainable but has no optimiser")
            continue
        opt = optimizers[name]
        if optimizer_param(opt) is not p:
            problems.append(f"optimiser of {name!r} does not own the current parameter")
        for k, v in opt.state.get(optimizer_param(opt), {}).items():
            if isinstance(v, Tensor) and v.dim() > 0 and v.shape != p.shape:
                problems.append(f"{name}.{k}: state {tuple(v.shape)} vs parameter {tuple(p.shape)}")
    for k, v in (stats or {}).items():
        if isinstance(v, Tensor) and v.dim() > 0 and n is not None and v.shape[0] != n:
            problems.append(f"statistic {k!r} has {v.shape[0]} rows, expected {n}")
    return problems
