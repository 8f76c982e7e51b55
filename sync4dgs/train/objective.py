"""The training objective as named loss terms (each a pure function from sync4dgs.train.losses)."""

from __future__ import annotations

import torch
from torch import Tensor

from sync4dgs.model.gaussians4d import STATIC_MOTION_KEY
from sync4dgs.train import losses
from sync4dgs.train.config import LossConfig


class Objective:
    """photometric ((1-l) L1 + l D-SSIM) + static drift + motion smoothness + rotation smoothness.

    Regularisers are active after ``reg_from_iter`` and skipped when their weight is 0 or the model lacks the
    tensor (no static velocities / no dynamic Gaussians).
    """

    def __init__(self, cfg: LossConfig):
        self.cfg = cfg

    def __call__(self, image: Tensor, gt: Tensor, model: torch.nn.Module, step: int) -> dict[str, Tensor]:
        """image, gt: [H, W, 3] in [0, 1]. Returns {"photo", ..., "total"} scalar tensors."""
        cfg = self.cfg
        terms = {"photo": losses.photometric_loss(image, gt, cfg.lambda_dssim)}
        if step > cfg.reg_from_iter:
            if cfg.static_drift > 0 and STATIC_MOTION_KEY in model.static:
                terms["static_drift"] = cfg.static_drift * losses.static_drift(model.static[STATIC_MOTION_KEY])
            if model.n_dynamic > 0:
                if cfg.motion_smooth > 0:
                    terms["motion_smooth"] = cfg.motion_smooth * losses.motion_smoothness(
                        model.dynamic["key_means"])
                if cfg.rotation_smooth > 0:
                    terms["rotation_smooth"] = cfg.rotation_smooth * losses.rotation_smoothness(
                        model.dynamic["key_quats"])
        total = terms["photo"]
        for k, v in terms.items():
            if k != "photo":
                total = total + v
        terms["total"] = total
        return terms
