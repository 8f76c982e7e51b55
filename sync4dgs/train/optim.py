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

    def lr(self, which: str, name: str, step: int) -> float:
        table = asdict(self.cfg.static if which == "static" else self.cfg.dynamic)
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
