"""Optional per-camera appearance compensation during stage 2 (``appearance.enabled``).

Cameras of one rig rarely agree on colour: phones and action cameras pick their own exposure and white balance,
and even studio rigs such as N3V's differ per camera. One 4D model cannot match every camera's colours at once;
without compensation it averages them and bakes the differences into view-dependent colour. Here each training
camera k gets a per-channel affine colour map applied to the RENDERED image before the loss:

    image_k = render * exp(log_gain_k) + bias_k          (log_gain_k, bias_k: [3], RGB; zero-initialised)

Gauge: a common gain/bias of every camera is indistinguishable from a change of the scene's colours. When the
reference camera trains it keeps the identity map (the model's colours are its colours); when it is held out,
the maps are centred instead (mean log gain and mean bias over the training cameras are zero: the model's colours
are the rig's average, the best guess for a held-out camera). Held-out (test) cameras are rendered without a map.
Outputs: ``M/appearance.json`` (per camera gains and biases) at every weights save and at the end.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from sync4dgs.model.folder import write_appearance
from sync4dgs.train.config import AppearanceConfig
from sync4dgs.train.feature import OwnOptimizerFeature

log = logging.getLogger(__name__)


def apply_color_affine(image: Tensor, log_gain: Tensor, bias: Tensor) -> Tensor:
    """``image * exp(log_gain) + bias``. image: [..., 3] linear values in [0, 1]; log_gain, bias: [3]."""
    return image * log_gain.exp() + bias


class CameraAppearance(torch.nn.Module):
    """Learnable colour maps of C training cameras: ``log_gain`` [C, 3], ``bias`` [C, 3].

    ``gauge_index`` k: effective values are ``raw * mask`` with mask 0 for camera k, so it stays exactly the
    identity under any optimiser. ``gauge_index`` None: effective values are ``raw - mean over cameras`` (centred).
    """

    def __init__(self, n_cameras: int, gauge_index: int | None = 0, device: torch.device | str = "cpu"):
        super().__init__()
        f = dict(dtype=torch.float32, device=device)
        mask = torch.ones(n_cameras, 1, **f)
        if gauge_index is not None:
            mask[gauge_index] = 0.0
        self.register_buffer("mask", mask)
        self.log_gain = torch.nn.Parameter(torch.zeros(n_cameras, 3, **f))
        self.bias = torch.nn.Parameter(torch.zeros(n_cameras, 3, **f))
        self.gauge_index = gauge_index

    def __len__(self) -> int:
        return self.log_gain.shape[0]

    def maps(self, k: int) -> tuple[Tensor, Tensor]:
        """(log gain [3], bias [3]) of camera ``k`` (effective: masked or centred, see the class docstring)."""
        if self.gauge_index is None:
            return self.log_gain[k] - self.log_gain.mean(0), self.bias[k] - self.bias.mean(0)
        m = self.mask[k]
        return self.log_gain[k] * m, self.bias[k] * m

    def forward(self, image: Tensor, k: int) -> Tensor:
        """Camera ``k``'s view of a rendered ``image`` [H, W, 3]."""
        log_gain, bias = self.maps(k)
        return apply_color_affine(image, log_gain, bias)


class AppearanceLearner(OwnOptimizerFeature):
    """Learns :class:`CameraAppearance` with its own Adam from ``cfg.start_iter`` on.

    Args:
        appearance: the maps of the training cameras (cam_pos order).
        cfg: AppearanceConfig.
        names: training camera names (cam_pos order), for the saved file.
        model_path: where ``appearance.json`` is written (None: never).
        save_iterations: iterations at which weights are saved (the file is refreshed there too).

    A :class:`sync4dgs.train.feature.CameraFeature` contributing the image (:meth:`adjust_image`). Under
    torchrun its gradients are averaged over ranks with every other trainable (sync4dgs/train/distributed/hooks.py);
    rank 0 alone writes the file.
    """

    name = "appearance"

    def __init__(self, appearance: CameraAppearance, cfg: AppearanceConfig, names: list[str],
                 model_path: Path | None = None, save_iterations: list[int] | None = None):
        if len(names) != len(appearance):
            raise ValueError(f"{len(appearance)} cameras but {len(names)} names")
        self.appearance, self.cfg, self.names = appearance, cfg, list(names)
        self.model_path = None if model_path is None else Path(model_path)
        self.save_iterations = set(save_iterations or [])
        self.optimizer = torch.optim.Adam(appearance.parameters(), lr=cfg.lr)

    def learning(self, step: int) -> bool:
        return step > self.cfg.start_iter

    def apply(self, image: Tensor, cam_pos: int, step: int) -> Tensor:
        """The rendered ``image`` [H, W, 3] as training camera ``cam_pos`` sees it (differentiable in the maps
        while learning). Up to ``start_iter`` the maps have never been stepped, i.e. are the identity: the image
        is returned as is (no work, no gradient)."""
        if not self.learning(step):
            return image
        return self.appearance(image, cam_pos)

    def adjust_image(self, image: Tensor, cam_pos: int, step: int) -> Tensor:
        return self.apply(image, cam_pos, step)

    def write(self, iteration: int) -> Path:
        return write_appearance(self.model_path, appearance_dict(self.appearance, self.names, iteration))

    state_key = "appearance"
    missing_state_note = "checkpoint has no appearance state; camera colour maps start at the identity"

    def learned_module(self) -> torch.nn.Module:
        return self.appearance


@torch.no_grad()
def appearance_dict(appearance: CameraAppearance, names: list[str], iteration: int) -> dict[str, Any]:
    """JSON-ready per-camera maps: ``{"cameras": {name: {"gain": [3], "bias": [3]}}, ...}``."""
    cams = {}
    for k, name in enumerate(names):
        log_gain, bias = (x.double().cpu() for x in appearance.maps(k))
        cams[name] = {"gain": log_gain.exp().tolist(), "bias": bias.tolist()}
    gauge = names[appearance.gauge_index] if appearance.gauge_index is not None else None
    return {"iteration": int(iteration), "gauge_camera": gauge,
            "convention": "camera image = render * gain + bias (per RGB channel, values in [0, 1]); held-out "
                          "cameras use gain 1, bias 0; gauge: gauge_camera keeps gain 1, bias 0, or (null) the "
                          "geometric mean gain and the mean bias over the training cameras are 1 and 0",
            "cameras": cams}


def build_appearance_learner(cfg: AppearanceConfig, train_names: list[str], reference_camera: str,
                             device: torch.device, model_path: Path | None,
                             save_iterations: list[int]) -> AppearanceLearner:
    """The learner for the session's training cameras (gauge: the reference camera if it trains, else centred)."""
    gauge = train_names.index(reference_camera) if reference_camera in train_names else None
    log.info("appearance compensation of %d training cameras from iteration %d; gauge: %s", len(train_names),
             cfg.start_iter, f"{train_names[gauge]} keeps the identity" if gauge is not None
             else "maps centred over the training cameras (the reference camera is held out)")
    return AppearanceLearner(CameraAppearance(len(train_names), gauge, device), cfg, train_names, model_path,
                             save_iterations)
