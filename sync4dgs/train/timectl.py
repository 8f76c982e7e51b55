"""Stage 2's learnable camera time maps as a training feature.

Wraps a :class:`sync4dgs.sync.timemodel.CameraTimeModel` (per-camera ``offset_s``/``rate``, reference fixed)
with its own Adam optimiser, a warm-up (time gradients are discarded until geometry has settled), an optional
late freeze and log-linear learning-rate decay, and keeps the model's keyframed time domain covering every
camera's capture times under the current maps (growing keyframes when offsets move; optimiser moments are
padded in lock-step).

Evidence gate: one iteration renders one camera, so each camera's time gradient is a noisy sample. Adam
normalises step sizes, so zero-mean noise alone walks an offset by a fraction of ``offset_lr`` per step (over a
15k-iteration run that is ~0.1-0.2 frame at the default lr). With ``evidence_z > 0`` Adam still sees every
gradient, but a camera's Adam update is applied only while the exponential moving mean of that camera's recent
gradients is at least ``evidence_z`` standard errors from zero: a consistent pull (a wrong offset) moves it,
noise around the optimum mostly does not. All on the device, no host synchronisation.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import torch
from torch import Tensor

from sync4dgs.timemap import TimeMaps
from sync4dgs.train.callbacks import StepInfo, TrainState
from sync4dgs.train.config import TimeConfig
from sync4dgs.train.feature import OwnOptimizerFeature

log = logging.getLogger(__name__)


class TimeController(OwnOptimizerFeature):
    """Learns (or holds fixed) the per-camera time maps: the per-camera feature every session has
    (``Session.time``, first of ``Session.features``), with :class:`OwnOptimizerFeature`'s lifecycle (own Adam
    stepped after backward while :meth:`learning`, gradients averaged over ranks by the distributed hooks,
    NaN-guard cuts, checkpointed state). It writes no file of its own: the time maps are saved with the weights
    (sync4dgs/train/saving.py).

    Only the cameras in ``trained`` receive gradients (held-out cameras keep their initial maps). When the
    reference camera is not among them, a common shift of every trained camera's clock is invisible to the
    photometric loss (the scene's time axis would drift along); with ``cfg.hold_mean_offset`` the mean offset
    (and mean rate) of the trained cameras is then held at its initial value after every step.

    Args:
        time_model: CameraTimeModel over ALL scene cameras (camera_names order).
        cfg: TimeConfig.
        tau_first_last_s: [C, 2] float, first and last local capture time (s) of each time-model camera.
        trained: time-model indices of the training cameras (None = all).
        fixed: True = never learn (oracle/naive benchmark modes, or time.learn = false).
        total_iterations: the run's last iteration (end of the learning-rate decay).
        ungated: time-model indices of cameras whose initial map is uncertain (stage-1 "unaligned" /
            "low_confidence", or no estimate at all): the evidence gate does not hold them back.
    """

    name = "time"

    def __init__(self, time_model: torch.nn.Module, cfg: TimeConfig, tau_first_last_s: np.ndarray,
                 trained: list[int] | None = None, fixed: bool = False, total_iterations: int = 0,
                 ungated: list[int] | None = None):
        self.time_model = time_model
        self.cfg = cfg
        self.total_iterations = int(total_iterations)
        self._lr_scale = 1.0                           # lowered by the NaN guard
        self.fixed = fixed or not cfg.learn
        self.tau_first_last_s = np.asarray(tau_first_last_s, dtype=np.float64)
        n = len(time_model.camera_names)
        trained = list(range(n)) if trained is None else sorted(set(trained))
        mask = torch.zeros(n, dtype=time_model.offsets_s.dtype, device=time_model.offsets_s.device)
        mask[trained] = 1.0
        self._trained_mask = mask                      # [C] 1 for cameras whose maps are learned
        self._hold_mean = cfg.hold_mean_offset and time_model.reference_index not in trained and len(trained) > 0
        with torch.no_grad():
            self._mean0 = (self._mean(time_model.offsets_s), self._mean(time_model.rates))
        groups = [{"params": [time_model.offsets_s], "lr": cfg.offset_lr}]
        if cfg.learn_rate and time_model.rates.requires_grad:
            groups.append({"params": [time_model.rates], "lr": cfg.rate_lr})
        self.optimizer = torch.optim.Adam(groups, lr=cfg.offset_lr)
        self._base_lrs = [g["lr"] for g in self.optimizer.param_groups]
        zeros = torch.zeros(n, dtype=torch.float64, device=time_model.offsets_s.device)
        self._evidence = {"mean": zeros.clone(), "sq": zeros.clone(), "count": zeros.clone()}   # [C] each
        self._ungated = torch.zeros(n, dtype=torch.bool, device=time_model.offsets_s.device)
        self._ungated[sorted(set(ungated or []))] = True
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

    def _mean(self, v: Tensor) -> Tensor:
        return (v * self._trained_mask).sum() / self._trained_mask.sum().clamp_min(1.0)

    def lr_factor(self, step: int) -> float:
        """Multiplier of the base learning rates at ``step``: log-linear decay from 1 at the end of the warm-up
        to offset_lr_final / offset_lr at the last iteration (1 without decay), times the NaN guard's scale."""
        cfg = self.cfg
        if cfg.offset_lr_final <= 0 or self.total_iterations <= cfg.warmup_iterations:
            return self._lr_scale
        u = (step - cfg.warmup_iterations) / (self.total_iterations - cfg.warmup_iterations)
        u = min(max(u, 0.0), 1.0)
        return self._lr_scale * float(np.exp(u * np.log(cfg.offset_lr_final / cfg.offset_lr)))

    def evidence_gate(self, grad: Tensor) -> Tensor:
        """[C] 1.0 where a camera's recent time gradients agree (see module docstring) or the camera is ungated,
        else 0.0.

        ``grad``: [C] this step's offset gradient; cameras with a non-zero entry were rendered and update their
        statistics (exponential moving mean / mean square with bias correction, over that camera's samples)."""
        ev, beta = self._evidence, self.cfg.evidence_beta
        g = grad.detach().to(torch.float64)
        seen = g != 0
        ev["mean"] = torch.where(seen, beta * ev["mean"] + (1 - beta) * g, ev["mean"])
        ev["sq"] = torch.where(seen, beta * ev["sq"] + (1 - beta) * g * g, ev["sq"])
        ev["count"] = ev["count"] + seen
        debias = (1 - beta ** ev["count"]).clamp_min(1e-12)
        mean, sq = ev["mean"] / debias, ev["sq"] / debias
        n_eff = torch.minimum(ev["count"], torch.full_like(ev["count"], (1 + beta) / (1 - beta)))
        sem = ((sq - mean * mean).clamp_min(0) / n_eff.clamp_min(1.0)).sqrt()
        agree = ((mean.abs() >= self.cfg.evidence_z * sem) & (ev["count"] >= 3)) | self._ungated
        return agree.to(grad.dtype)

    # ---------------------------------------------------------------------- the feature's contributions
    def learned_module(self) -> torch.nn.Module:
        return self.time_model

    def watched_parameters(self) -> list[Tensor]:
        return list(self.time_model.parameters())

    def apply_update(self, step: int) -> None:
        """Masked, evidence-gated Adam step with the decayed learning rate; then the mean offset held if asked."""
        offsets, rates = self.time_model.offsets_s, self.time_model.rates
        for p in (offsets, rates):
            if p.grad is not None:
                p.grad.mul_(self._trained_mask)     # held-out cameras keep their maps
        gate = None
        if self.cfg.evidence_z > 0 and offsets.grad is not None:
            gate = self.evidence_gate(offsets.grad)
            before = [offsets.detach().clone(), rates.detach().clone()]
        factor = self.lr_factor(step)
        for g, base in zip(self.optimizer.param_groups, self._base_lrs):
            g["lr"] = base * factor
        self.optimizer.step()                       # Adam's moments see every gradient ...
        if gate is not None:                        # ... but only cameras with agreeing evidence move
            with torch.no_grad():
                for p, b in zip((offsets, rates), before):
                    p.copy_(b + (p - b) * gate)
        if self._hold_mean:
            with torch.no_grad():
                for p, m0 in zip((self.time_model.offsets_s, self.time_model.rates), self._mean0):
                    p.sub_((self._mean(p) - m0) * self._trained_mask)

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
        self._lr_scale *= factor

    def state_dict(self) -> dict[str, Any]:
        return {"time_model": self.time_model.state_dict(), "optimizer": self.optimizer.state_dict(),
                "mean0": torch.stack(self._mean0), "lr_scale": self._lr_scale,
                "evidence": {k: v.clone() for k, v in self._evidence.items()}, "ungated": self._ungated.clone()}

    def load_state_dict(self, d: dict[str, Any]) -> None:
        self.time_model.load_state_dict(d["time_model"])
        self.optimizer.load_state_dict(d["optimizer"])
        if "mean0" in d:
            self._mean0 = tuple(d["mean0"].to(self._trained_mask).unbind(0))
        self._lr_scale = float(d.get("lr_scale", 1.0))
        if "ungated" in d:                    # decided from the initial maps of the run, not the resumed ones
            self._ungated = d["ungated"].to(self._ungated)
        for k, v in d.get("evidence", {}).items():
            self._evidence[k] = v.to(self._evidence[k])
