"""NaN/Inf guard: keep an in-memory snapshot of the last good state; on a non-finite loss or parameter,
restore it and lower every learning rate instead of crashing or silently training on garbage.

Checks run every ``guard.check_every`` iterations (one host sync); the loss is accumulated on the device in
between, so a NaN anywhere in the window is caught.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import torch

from sync4dgs.errors import Sync4DGSError
from sync4dgs.train.callbacks import Callback, StepInfo, TrainState
from sync4dgs.train.checkpoint import clone_tree
from sync4dgs.train.config import GuardConfig

log = logging.getLogger(__name__)


class TrainingDivergedError(Sync4DGSError):
    """Training kept producing NaN/Inf after the allowed number of restores."""


def all_finite(tensors: list[torch.Tensor]) -> torch.Tensor:
    """[] bool tensor: every element of every tensor is finite (no host sync)."""
    flags = [torch.isfinite(t).all() for t in tensors if t.numel()]
    return torch.stack(flags).all() if flags else torch.tensor(True)


class NaNGuard(Callback):
    """Snapshot / restore around non-finite values.

    Args:
        cfg: GuardConfig.
        capture: returns the session state dict (without RNG), e.g. ``lambda: session.state_dict(False)``.
        restore: loads such a dict back.
        scale_lrs: multiplies every learning rate by a factor (Gaussians and time maps).
        watched: returns the tensors to check (parameters of the model and the time model).

    ``agree(ok) -> bool``, when set (multi-process training), turns this rank's verdict into the verdict of
    all ranks, so that every rank restores (or not) together.
    """

    name = "guard"

    def __init__(self, cfg: GuardConfig, capture: Callable[[], dict], restore: Callable[[dict], None],
                 scale_lrs: Callable[[float], None], watched: Callable[[], list[torch.Tensor]]):
        self.cfg = cfg
        self.capture, self.restore, self.scale_lrs, self.watched = capture, restore, scale_lrs, watched
        self.snapshot: dict[str, Any] | None = None
        self.n_restores = 0
        self._loss_acc: torch.Tensor | None = None
        self.agree: Callable[[bool], bool] | None = None

    def on_train_start(self, state: TrainState) -> None:
        if self.cfg.enabled:
            self.snapshot = clone_tree(self.capture())

    def after_step(self, state: TrainState, info: StepInfo) -> None:
        if not self.cfg.enabled:
            return
        loss = info.losses["total"].detach()
        self._loss_acc = loss.clone() if self._loss_acc is None else self._loss_acc + loss
        if info.step % self.cfg.check_every != 0:
            return
        ok = bool(torch.isfinite(self._loss_acc) & all_finite(self.watched()).to(self._loss_acc.device))
        self._loss_acc = None
        if self.agree is not None:
            ok = self.agree(ok)
        if ok:
            self.snapshot = clone_tree(self.capture())
            return
        self.n_restores += 1
        if self.n_restores > self.cfg.max_restores:
            raise TrainingDivergedError(f"non-finite loss/parameters at iteration {info.step} after "
                                        f"{self.cfg.max_restores} restores; lower the learning rates")
        n_restores = self.n_restores
        self.restore(clone_tree(self.snapshot))
        self.n_restores = n_restores
        self.scale_lrs(self.cfg.lr_factor)
        log.warning("iteration %d: non-finite loss or parameters; restored the state of iteration %d and "
                    "scaled learning rates by %g (restore %d/%d)", info.step, int(self.snapshot["iteration"]),
                    self.cfg.lr_factor, self.n_restores, self.cfg.max_restores)

    def state_dict(self) -> dict[str, Any]:
        return {"n_restores": self.n_restores}

    def load_state_dict(self, d: dict[str, Any]) -> None:
        self.n_restores = int(d.get("n_restores", 0))
