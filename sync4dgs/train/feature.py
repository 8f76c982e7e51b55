"""Base of training features that own an optimiser (camera refinement, appearance compensation)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from sync4dgs.train.callbacks import Callback, StepInfo, TrainState
from sync4dgs.train.ranks import is_main_process, mean_gradients_over_ranks

log = logging.getLogger(__name__)


class OwnOptimizerFeature(Callback):
    """A callback with its own ``optimizer``: it steps right after backward while :meth:`learning` (with the
    gradient averaged over ranks under torchrun), writes its output file (:meth:`write`, rank 0 only) at the
    weights' save iterations and at the end, and follows the NaN guard's learning-rate cuts.

    Subclasses set ``optimizer``, ``model_path`` (None: never write), ``save_iterations``, the learned module
    (:meth:`learned_module`) with its checkpoint key ``state_key``, and implement :meth:`learning` and :meth:`write`.
    """

    optimizer: torch.optim.Optimizer
    model_path: Path | None = None
    save_iterations: set[int] = set()
    state_key: str = "module"
    missing_state_note: str = "checkpoint has no state for this feature; it starts from its initial values"

    def learned_module(self) -> torch.nn.Module:
        raise NotImplementedError

    def learning(self, step: int) -> bool:
        raise NotImplementedError

    def write(self, iteration: int) -> Path:
        """Write the feature's file under ``model_path``; returns its path."""
        raise NotImplementedError

    def parameters(self) -> list[Tensor]:
        """The tensors this feature's optimiser updates."""
        return [p for g in self.optimizer.param_groups for p in g["params"]]

    def post_backward(self, state: TrainState, info: StepInfo) -> None:
        if self.learning(info.step):
            mean_gradients_over_ranks(self.parameters())
            self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)

    def after_step(self, state: TrainState, info: StepInfo) -> None:
        if info.step in self.save_iterations:
            self.save(info.step)

    def on_train_end(self, state: TrainState) -> None:
        self.save(state.step)

    def save(self, iteration: int) -> Path | None:
        """Write the feature's file (rank 0 only); returns its path (None when not written)."""
        if self.model_path is None or not is_main_process():
            return None
        return self.write(iteration)

    def scale_lr(self, factor: float) -> None:
        for g in self.optimizer.param_groups:
            g["lr"] *= factor

    def state_dict(self) -> dict[str, Any]:
        return {self.state_key: self.learned_module().state_dict(), "optimizer": self.optimizer.state_dict()}

    def load_state_dict(self, d: dict[str, Any]) -> None:
        if not d:                              # a checkpoint written without this feature
            log.warning(self.missing_state_note)
            return
        self.learned_module().load_state_dict(d[self.state_key])
        self.optimizer.load_state_dict(d["optimizer"])
