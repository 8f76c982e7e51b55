"""What the training loop shares with its features: the long-lived :class:`TrainState`, the per-step
:class:`StepInfo`, and the :class:`Callback` hooks every feature (strategies, time maps, logging,
checkpoints, NaN guard) implements. The loop calls, in order, per iteration:

    on_step_start -> (render, loss) -> pre_backward -> backward -> post_backward -> optimiser steps -> after_step
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor

from sync4dgs.render.types import RenderOutput


@dataclass
class TrainState:
    """Everything the features may read or edit.

    model: the Gaussians4D. optimizers: {"static": {name: opt}, "dynamic": {name: opt}} (one optimiser per
    parameter). extent: scene extent (world units) used to scale position LRs / thresholds.
    """

    model: Any
    optimizers: dict[str, dict[str, torch.optim.Optimizer]]
    extent: float
    step: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    def optimizers_flat(self) -> list[torch.optim.Optimizer]:
        """Every Gaussian optimiser (static and dynamic), for surgery that finds parameters by identity."""
        return [opt for opts in self.optimizers.values() for opt in opts.values()]


@dataclass
class StepInfo:
    """One iteration's data.

    cam_pos: index into the training cameras. frame_idx: frame of that camera. t_global_s: [] tensor (s).
    n_static: number of static Gaussians when rendered (render order is static then dynamic).
    out: the render; gt: [H, W, 3] float target; losses: named scalar terms, "total" included.
    dynamic_rows: [A] int64 indices of the dynamic Gaussians rendered after the static ones (train.cull_invisible),
        or None when all of them were (render rows n_static + i = dynamic row i).
    """

    step: int
    cam_pos: int
    frame_idx: int
    t_global_s: Tensor
    n_static: int
    out: RenderOutput
    gt: Tensor
    losses: dict[str, Tensor]
    dynamic_rows: Tensor | None = None


# {statistic key: "sum" | "max"}: how per-sample running statistics combine across samples (and ranks)
StatOps = dict[str, str]


class Callback:
    """Base class: override the hooks you need. ``state_dict``/``load_state_dict`` go into checkpoints.

    A feature that accumulates per-sample running statistics and decides from them (densification) lists them
    in :meth:`running_stats` and calls :meth:`combine_stats` right before deciding. In a single process that is
    a no-op; multi-process training (sync4dgs.train.distributed) sets ``stats_sync`` so every rank decides from
    the statistics of all ranks' samples.
    """

    name: str = "callback"
    stats_sync: Callable[[dict[str, Any], StatOps], None] | None = None

    def on_train_start(self, state: TrainState) -> None:
        pass

    def on_step_start(self, state: TrainState, step: int) -> None:
        pass

    def pre_backward(self, state: TrainState, info: StepInfo) -> None:
        pass

    def post_backward(self, state: TrainState, info: StepInfo) -> None:
        pass

    def after_step(self, state: TrainState, info: StepInfo) -> None:
        pass

    def on_train_end(self, state: TrainState) -> None:
        pass

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, d: dict[str, Any]) -> None:
        pass

    def running_stats(self) -> list[tuple[dict[str, Any], StatOps]]:
        """[(dict holding running statistics, {key: "sum" | "max"})] accumulated per rendered sample."""
        return []

    def combine_stats(self, state: dict[str, Any], ops: StatOps) -> None:
        """Make ``state[key]`` (for each key of ``ops``) the statistic over every rank's samples, in place."""
        if self.stats_sync is not None:
            self.stats_sync(state, ops)
