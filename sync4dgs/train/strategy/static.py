"""Static set densification: gsplat's DefaultStrategy (3DGS clone / split / prune) on ``model.static``.

The renderer draws static then dynamic Gaussians in one call, so the static block of the render's
``means2d`` gradient / ``radii`` ([C, N, 2], rows ``:n_static``) is handed to the strategy.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from gsplat.strategy import DefaultStrategy
from torch import Tensor

from sync4dgs.train.callbacks import Callback, StepInfo, TrainState
from sync4dgs.train.config import StaticDensifyConfig

log = logging.getLogger(__name__)

NEVER = 10 ** 12
REFINE_STAT_OPS = {"grad2d": "sum", "count": "sum", "radii": "max"}   # what gsplat's refinement reads


@dataclass
class _GradView:
    """Stands in for the means2d tensor: DefaultStrategy reads only ``.grad``."""

    grad: Tensor


def block_info(info: StepInfo, start: int, stop: int) -> dict[str, Any] | None:
    """gsplat strategy ``info`` restricted to Gaussians [start, stop) of the render (None if no gradient)."""
    m2d = info.out.info.get("means2d", info.out.means2d)
    if m2d is None or m2d.grad is None or m2d.dim() != 3:
        return None
    return {
        "means2d": _GradView(m2d.grad[:, start:stop]),
        "radii": info.out.radii[:, start:stop],
        "width": info.out.info.get("width", info.out.image.shape[-2]),
        "height": info.out.info.get("height", info.out.image.shape[-3]),
        "n_cameras": info.out.image.shape[0],
        "gaussian_ids": None,
    }


class SyncFreeDefaultStrategy(DefaultStrategy):
    """gsplat's DefaultStrategy with its per-step statistics update written as masked sums (non-packed
    layout): identical numbers, but no ``nonzero`` and hence no host-device sync on every iteration.

    ``before_refine(state)``, when set, runs right before each clone/split/prune decision (multi-process
    training combines the running statistics of every rank there).
    """

    before_refine: Callable[[dict[str, Any]], None] | None = None

    def _update_state(self, params, state: dict[str, Any], info: dict[str, Any], packed: bool = False) -> None:
        if packed:
            super()._update_state(params, state, info, packed=True)
            return
        grads = info[self.key_for_gradient].grad.clone()                   # [C, N, 2]
        grads[..., 0] *= info["width"] / 2.0 * info["n_cameras"]
        grads[..., 1] *= info["height"] / 2.0 * info["n_cameras"]
        n = len(next(iter(params.values())))
        for key in ("grad2d", "count") + (("radii",) if self.refine_scale2d_stop_iter > 0 else ()):
            if state.get(key) is None:
                state[key] = torch.zeros(n, device=grads.device)
        visible = (info["radii"] > 0).all(dim=-1)                           # [C, N]
        state["grad2d"] += (grads.norm(dim=-1) * visible).sum(dim=0)
        state["count"] += visible.sum(dim=0).to(state["count"].dtype)
        if self.refine_scale2d_stop_iter > 0:
            r = info["radii"].max(dim=-1).values * visible / float(max(info["width"], info["height"]))
            state["radii"] = torch.maximum(state["radii"], r.max(dim=0).values)

    def _grow_gs(self, params, optimizers, state: dict[str, Any], step: int) -> tuple[int, int]:
        if self.before_refine is not None:
            self.before_refine(state)
        return super()._grow_gs(params, optimizers, state, step)


class StaticDensifier(Callback):
    """3DGS adaptive density control of the static set via gsplat's DefaultStrategy."""

    name = "static_densify"

    def __init__(self, cfg: StaticDensifyConfig, extent: float):
        self.cfg = cfg
        self.strategy = SyncFreeDefaultStrategy(
            prune_opa=cfg.prune_opa, grow_grad2d=cfg.grow_grad2d, grow_scale3d=cfg.grow_scale3d,
            prune_scale3d=cfg.prune_scale3d, refine_start_iter=cfg.refine_start_iter,
            refine_stop_iter=cfg.refine_stop_iter, refine_every=cfg.refine_every,
            reset_every=cfg.reset_every if cfg.reset_every > 0 else NEVER)
        self.state = self.strategy.initialize_state(scene_scale=extent)
        self.strategy.before_refine = lambda st: self.combine_stats(st, self._refine_ops(st))

    @staticmethod
    def _refine_ops(state: dict[str, Any]) -> dict[str, str]:
        return {k: op for k, op in REFINE_STAT_OPS.items() if state.get(k) is not None}

    def running_stats(self) -> list[tuple[dict[str, Any], dict[str, str]]]:
        return [(self.state, self._refine_ops(self.state))]

    def on_train_start(self, state: TrainState) -> None:
        self.strategy.check_sanity(state.model.static, state.optimizers["static"])

    def after_step(self, state: TrainState, info: StepInfo) -> None:
        if not self.cfg.enabled or info.step >= self.cfg.refine_stop_iter:
            return
        sinfo = block_info(info, 0, info.n_static)
        if sinfo is None or info.n_static == 0:
            return
        n_before = state.model.n_static
        self.strategy.step_post_backward(state.model.static, state.optimizers["static"], self.state,
                                         info.step, sinfo, packed=False)
        if state.model.n_static != n_before:
            log.debug("step %d: static %d -> %d", info.step, n_before, state.model.n_static)

    def state_dict(self) -> dict[str, Any]:
        return {"state": dict(self.state)}

    def load_state_dict(self, d: dict[str, Any]) -> None:
        self.state = dict(d["state"])
