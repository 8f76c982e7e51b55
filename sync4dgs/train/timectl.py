"""Stage 2's learnable camera time maps as a training feature.

Wraps a :class:`sync4dgs.sync.timemodel.CameraTimeModel` (per-camera ``offset_s``/``rate``, reference fixed)
with its own Adam optimiser, a warm-up (time gradients are discarded until geometry has settled), an optional
late freeze, and keeps the model's keyframed time domain covering every camera's capture times under the
current maps (growing keyframes when offsets move; optimiser moments are padded in lock-step).
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import torch
from torch import Tensor

from sync4dgs.sync.timemap import TimeMaps
from sync4dgs.train.callbacks import Callback, StepInfo, TrainState
from sync4dgs.train.config import TimeConfig

log = logging.getLogger(__name__)


class TimeController(Callback):
    """Learns (or holds fixed) the per-camera time maps.

    Args:
        time_model: CameraTimeModel over ALL scene cameras (camera_names order).
        cfg: TimeConfig.
        tau_first_last_s: [C, 2] float, first and last local capture time (s) of each time-model camera.
        fixed: True = never learn (oracle/naive benchmark modes, or time.learn = false).
    """

    name = "time"

    def __init__(self, time_model: torch.nn.Module, cfg: TimeConfig, tau_first_last_s: np.ndarray,
                 fixed: bool = False):
        self.time_model = time_model
        self.cfg = cfg
        self.fixed = fixed or not cfg.learn
        self.tau_first_last_s = np.asarray(tau_first_last_s, dtype=np.float64)
        groups = [{"params": [time_model.offsets_s], "lr": cfg.offset_lr}]
        if cfg.learn_rate and time_model.rates.requires_grad:
            groups.append({"params": [time_model.rates], "lr": cfg.rate_lr})
        self.optimizer = torch.optim.Adam(groups, lr=cfg.offset_lr)
        if self.fixed:
            for p in time_model.parameters():
                p.requires_grad_(False)

    # ------------------------------------------------------------------------------------------- queries
    def t_global_s(self, cam_idx: int, tau_s: float) -> Tensor:
        """[] global time (s) of local time ``tau_s`` of time-model camera ``cam_idx`` (differentiable)."""
        return self.time_model.t_global_s(cam_idx, tau_s)

    def learning(self, step: int) -> bool:
        if self.fixed or step <= self.cfg.warmup_iterations:
            return False
        return self.cfg.freeze_after <= 0 or step <= self.cfg.freeze_after

    def offsets_rates(self) -> tuple[np.ndarray, np.ndarray]:
        """Current (offsets_s [C], rates [C]) as numpy (host sync)."""
        with torch.no_grad():
            return (self.time_model.offset_values_s().detach().double().cpu().numpy(),
                    self.time_model.rate_values().detach().double().cpu().numpy())

    def time_range_s(self) -> tuple[float, float]:
        """(min, max) global capture time over every camera under the current maps (host sync)."""
        off, rate = self.offsets_rates()
        t = off[:, None] + rate[:, None] * self.tau_first_last_s
        return float(t.min()), float(t.max())

    def time_maps(self) -> TimeMaps:
        return self.time_model.to_time_maps()

    # ------------------------------------------------------------------------------------------- hooks
    def on_train_start(self, state: TrainState) -> None:
        if state.step == 0:      # a resumed run continues with the domain it checkpointed
            self.sync_domain(state)

    def post_backward(self, state: TrainState, info: StepInfo) -> None:
        if self.learning(info.step):
            self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)

    def after_step(self, state: TrainState, info: StepInfo) -> None:
        if self.learning(info.step) and info.step % self.cfg.sync_every == 0:
            self.sync_domain(state)

    def sync_domain(self, state: TrainState) -> bool:
        """Grow the model's keyframes to cover every camera's capture times; True if they grew."""
        t_min, t_max = self.time_range_s()
        grew = state.model.ensure_time_domain(t_min, t_max, optimizers=state.optimizers["dynamic"])
        if grew:
            log.info("time domain grown to cover [%.3f, %.3f] s: %d keyframes", t_min, t_max,
                     state.model.num_keyframes)
        return grew

    def scale_lr(self, factor: float) -> None:
        for g in self.optimizer.param_groups:
            g["lr"] *= factor

    def state_dict(self) -> dict[str, Any]:
        return {"time_model": self.time_model.state_dict(), "optimizer": self.optimizer.state_dict()}

    def load_state_dict(self, d: dict[str, Any]) -> None:
        self.time_model.load_state_dict(d["time_model"])
        self.optimizer.load_state_dict(d["optimizer"])
