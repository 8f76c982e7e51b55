"""Keyframe-aware densification of the dynamic set (Ex4DGS §2.7).

Statistics since the last refinement: mean screen-space gradient norm of each dynamic Gaussian's projected
centre (pixels scaled to [-1, 1] like gsplat) over the iterations where it was visible. Every
``refine_every`` iterations:

* clone (grad >= threshold, max scale <= grow_scale3d x extent): exact copy appended;
* split (grad >= threshold, larger): two children offset by eps ~ N(0, (k s)^2) rotated by every
  keyframe's rotation, scales / 1.6, parent removed (sync4dgs.model.ops.split_dynamic);
* prune: base opacity sigmoid(o) < prune_opa.

All dynamic tensors, their optimiser moments and the statistics move in lock-step (sync4dgs.model.ops).
"""

from __future__ import annotations

import logging
from typing import Any

import torch

from sync4dgs.model import ops as mops
from sync4dgs.model.temporal import logwidth_for
from sync4dgs.train.callbacks import Callback, StepInfo, TrainState
from sync4dgs.train.config import DynamicDensifyConfig
from sync4dgs.train.strategy.static import block_info

log = logging.getLogger(__name__)

RESET_WIDTH_KEYFRAMES = 7.4   # Ex4DGS resets children's log-widths to 2 keyframe units: e^2 ~ 7.4 keyframes
STAT_OPS = {"grad2d": "sum", "count": "sum"}


def accumulate_grad_stats(stats: dict[str, torch.Tensor], binfo: dict[str, Any], n_rows: int,
                          rows: torch.Tensor | None = None) -> None:
    """Add one iteration's screen-space gradient norms (gsplat normalisation) to ``stats`` in place.

    stats: {"grad2d": [n_rows], "count": [n_rows]} (created on first use). binfo: block_info() of the rendered
    rows; ``rows`` [A]: which of the n_rows each rendered row is (None: rendered row i is row i).
    Masked sums instead of index lists, so there is no host-device sync.
    """
    grads = binfo["means2d"].grad.clone()                                  # [C, n, 2]
    grads[..., 0] *= binfo["width"] / 2.0 * binfo["n_cameras"]
    grads[..., 1] *= binfo["height"] / 2.0 * binfo["n_cameras"]
    if stats.get("grad2d") is None or stats["grad2d"].shape[0] != n_rows:
        stats["grad2d"] = torch.zeros(n_rows, device=grads.device)
        stats["count"] = torch.zeros(n_rows, device=grads.device)
    visible = (binfo["radii"] > 0).all(dim=-1)                              # [C, n]
    grad = (grads.norm(dim=-1) * visible).sum(dim=0)
    count = visible.sum(dim=0).to(stats["count"].dtype)
    if rows is None:
        stats["grad2d"] += grad
        stats["count"] += count
    else:
        stats["grad2d"].index_add_(0, rows, grad.to(stats["grad2d"].dtype))
        stats["count"].index_add_(0, rows, count)


class DynamicDensifier(Callback):
    """Clone / split / prune of dynamic Gaussians, keyframe tensors and optimiser states in lock-step."""

    name = "dynamic_densify"

    def __init__(self, cfg: DynamicDensifyConfig, extent: float):
        self.cfg = cfg
        self.extent = extent
        self.state: dict[str, Any] = {"grad2d": None, "count": None}

    def post_backward(self, state: TrainState, info: StepInfo) -> None:
        if not self.cfg.enabled or info.step >= self.cfg.refine_stop_iter:
            return
        nd = info.out.radii.shape[1] - info.n_static                     # dynamic rows rendered
        if nd <= 0:
            return
        binfo = block_info(info, info.n_static, info.n_static + nd)
        if binfo is not None:
            accumulate_grad_stats(self.state, binfo, state.model.n_dynamic, info.dynamic_rows)

    def after_step(self, state: TrainState, info: StepInfo) -> None:
        cfg = self.cfg
        if not cfg.enabled or not (cfg.refine_start_iter < info.step < cfg.refine_stop_iter):
            return
        if info.step % cfg.refine_every != 0 or self.state["grad2d"] is None:
            return
        model = state.model
        if self.state["grad2d"].shape[0] != model.n_dynamic:   # the set changed size since accumulation
            self.reset()
            return
        self.combine_stats(self.state, STAT_OPS)
        n_clone, n_split, n_prune = self.refine(model, state.optimizers["dynamic"])
        log.debug("step %d dynamic: +%d clone, +%d split, -%d pruned -> %d", info.step, n_clone, n_split,
                  n_prune, model.n_dynamic)
        self.reset()

    @torch.no_grad()
    def refine(self, model, optimizers) -> tuple[int, int, int]:
        """One clone/split/prune pass; returns (#cloned, #split parents, #pruned)."""
        params = model.dynamic
        grads = self.state["grad2d"] / self.state["count"].clamp_min(1)
        high = grads > self.cfg.grow_grad2d
        small = torch.exp(params["scales"]).max(dim=-1).values <= self.cfg.grow_scale3d * self.extent
        clone, split = high & small, high & ~small
        kw = self._temporal_kwargs(model)
        n_clone, n_split = int(clone.sum()), int(split.sum())
        if n_clone:
            mops.clone_dynamic(params, clone, optimizers, self.state, **kw)
            split = torch.cat([split, split.new_zeros(n_clone)])
        if n_split:
            mops.split_dynamic(params, split, optimizers, self.state,
                               offset_std_factor=self.cfg.split_noise_scale, **kw)
        prune = torch.sigmoid(params["opacities"]) < self.cfg.prune_opa
        n_prune = int(prune.sum())
        if n_prune:
            mops.remove(params, prune, optimizers, self.state)
        return n_clone, n_split, n_prune

    def _temporal_kwargs(self, model) -> dict[str, Any]:
        if not self.cfg.temporal_jitter:
            return {}
        interval_s = float(model.key_interval_s)
        frame_s = interval_s / max(model.config.keyframe_interval_frames, 1)
        floor = model.config.temporal_width_floor_s
        return {"temporal_jitter_min_s": 2 * frame_s,
                "reset_logwidth": logwidth_for(RESET_WIDTH_KEYFRAMES * interval_s + floor, floor)}

    def reset(self) -> None:
        for k in ("grad2d", "count"):
            if self.state[k] is not None:
                self.state[k].zero_()

    def state_dict(self) -> dict[str, Any]:
        return {"state": dict(self.state)}

    def load_state_dict(self, d: dict[str, Any]) -> None:
        self.state = dict(d["state"])

    def running_stats(self) -> list[tuple[dict[str, Any], dict[str, str]]]:
        return [(self.state, {k: op for k, op in STAT_OPS.items() if self.state.get(k) is not None})]
