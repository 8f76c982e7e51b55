"""Static -> dynamic conversion (Ex4DGS §2.6), as a training callback.

Motion statistic per static Gaussian, accumulated over the iterations since the last conversion where it was
visible: the mean screen-space gradient norm of its projected centre (a static Gaussian that sits on a moving
object is pulled in changing directions as time changes, so its gradient stays high). With a static velocity
parameter (model.config.static_motion) the score is the velocity norm instead, as in Ex4DGS.
Every ``every`` iterations in [start_iter, stop_iter), the top ``fraction`` of the candidates (visible at
least ``min_visible_count`` times) become dynamic (sync4dgs.model.convert.convert_static_to_dynamic: keyframes
at their position, so the render is unchanged at the moment of conversion).

The accumulators live in the static densifier's running state (keys ``motion_score``/``motion_count``), so
gsplat's clone/split/prune resize them together with the static parameters.
"""

from __future__ import annotations

import logging
from typing import Any

import torch

from sync4dgs.model.convert import convert_static_to_dynamic
from sync4dgs.model.gaussians4d import STATIC_MOTION_KEY
from sync4dgs.train.callbacks import Callback, StepInfo, TrainState
from sync4dgs.train.config import ConvertConfig
from sync4dgs.train.strategy.dynamic import DynamicDensifier, accumulate_grad_stats
from sync4dgs.train.strategy.static import StaticDensifier, block_info

log = logging.getLogger(__name__)

SCORE, COUNT = "motion_score", "motion_count"
STAT_OPS = {SCORE: "sum", COUNT: "sum"}


def select_top_fraction(score: torch.Tensor, eligible: torch.Tensor, fraction: float) -> torch.Tensor:
    """[N] bool: the ``ceil(fraction * #eligible)`` eligible entries with the highest score."""
    n_eligible = int(eligible.sum())
    k = min(n_eligible, max(1, int(round(fraction * n_eligible)))) if n_eligible else 0
    mask = torch.zeros_like(eligible)
    if k == 0:
        return mask
    masked = torch.where(eligible, score, torch.full_like(score, -float("inf")))
    mask[torch.topk(masked, k).indices] = True
    return mask


class StaticToDynamic(Callback):
    """Periodically converts the most "moving" static Gaussians into dynamic ones."""

    name = "convert"

    def __init__(self, cfg: ConvertConfig, static: StaticDensifier, dynamic: DynamicDensifier):
        self.cfg = cfg
        self.static = static
        self.dynamic = dynamic
        self.n_converted_total = 0

    def _active(self, step: int) -> bool:
        return self.cfg.enabled and self.cfg.start_iter <= step < self.cfg.stop_iter

    def post_backward(self, state: TrainState, info: StepInfo) -> None:
        if not self._active(info.step) or info.n_static == 0:
            return
        binfo = block_info(info, 0, info.n_static)
        if binfo is None:
            return
        stats = {"grad2d": self.static.state.get(SCORE), "count": self.static.state.get(COUNT)}
        accumulate_grad_stats(stats, binfo, info.n_static)
        self.static.state[SCORE], self.static.state[COUNT] = stats["grad2d"], stats["count"]

    def after_step(self, state: TrainState, info: StepInfo) -> None:
        if not self._active(info.step) or info.step % self.cfg.every != 0 or info.step == 0:
            return
        model = state.model
        if self.static.state.get(SCORE) is None or self.static.state[SCORE].shape[0] != model.n_static:
            return
        self.combine_stats(self.static.state, STAT_OPS)
        score, count = self.static.state[SCORE], self.static.state[COUNT]
        if model.config.static_motion:
            score = model.static[STATIC_MOTION_KEY].detach().norm(dim=-1)
        else:
            score = score / count.clamp_min(1)
        mask = select_top_fraction(score, count >= self.cfg.min_visible_count, self.cfg.fraction)
        n = convert_static_to_dynamic(model, mask, static_optimizers=state.optimizers["static"],
                                      dynamic_optimizers=state.optimizers["dynamic"],
                                      static_state=self.static.state, dynamic_state=self.dynamic.state)
        self.n_converted_total += n
        self.static.state[SCORE].zero_()
        self.static.state[COUNT].zero_()
        if n:
            log.info("step %d: %d static Gaussians became dynamic (static %d, dynamic %d)", info.step, n,
                     model.n_static, model.n_dynamic)

    def state_dict(self) -> dict[str, Any]:
        return {"n_converted_total": self.n_converted_total}

    def load_state_dict(self, d: dict[str, Any]) -> None:
        self.n_converted_total = int(d["n_converted_total"])

    def running_stats(self) -> list[tuple[dict[str, Any], dict[str, str]]]:
        """The motion accumulators (kept in the static densifier's state)."""
        return [(self.static.state, {k: op for k, op in STAT_OPS.items() if self.static.state.get(k) is not None})]
