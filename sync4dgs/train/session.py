"""A training session: every live object of one run, with a state dict for checkpoints and NaN-guard snapshots.

Built by :func:`sync4dgs.train.setup.build_session`; driven by :class:`sync4dgs.train.trainer.Trainer`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import torch
from torch import Tensor

from sync4dgs.data.scene import SceneSpec
from sync4dgs.render.types import RenderCameras
from sync4dgs.train.background import BackgroundChoice
from sync4dgs.train.callbacks import Callback, TrainState
from sync4dgs.train.config import ExperimentConfig
from sync4dgs.train.feature import CameraFeature
from sync4dgs.train.framebank import FrameBank
from sync4dgs.train.objective import Objective
from sync4dgs.train.optim import LRSchedule, base_lrs, build_optimizers
from sync4dgs.train.sampler import BackgroundSampler, ViewSampler
from sync4dgs.train.timectl import TimeController

FeatureT = TypeVar("FeatureT", bound=CameraFeature)


@dataclass
class Session:
    """Everything one run needs.

    cameras: one RenderCameras (C=1) per training camera; tau_s: per training camera, each frame's local
    capture time (s); time_index: training camera position -> index in the time model.
    distributed: None in a single process; under torchrun the rank's hooks
    (sync4dgs.train.distributed.DistributedHooks: gradient averaging, statistics, replica checks).
    Per-camera learned features (sync4dgs/train/feature.py) are callbacks; :attr:`features` lists them, the time
    controller ``time`` first, and the session loops over them for cameras, images, learning-rate cuts and the
    tensors the NaN guard watches.
    """

    cfg: ExperimentConfig
    scene: SceneSpec
    model_path: Path
    device: torch.device
    state: TrainState
    time: TimeController
    frames: FrameBank
    sampler: ViewSampler
    background: BackgroundSampler
    cameras: list[RenderCameras]
    tau_s: list[list[float]]
    time_index: list[int]
    schedule: LRSchedule
    objective: Objective
    callbacks: list[Callback] = field(default_factory=list)
    distributed: Any = None
    background_choice: BackgroundChoice | None = None   # what ``background`` draws and why (train/background.py)

    @property
    def features(self) -> list[CameraFeature]:
        """The per-camera learned features, in callback order (the time controller first)."""
        return [cb for cb in self.all_callbacks if isinstance(cb, CameraFeature)]

    def feature(self, kind: type[FeatureT]) -> FeatureT | None:
        """The session's feature of class ``kind`` (e.g. CameraRefiner), or None when it is off."""
        return next((f for f in self.features if isinstance(f, kind)), None)

    def render_camera(self, cam_pos: int, step: int) -> RenderCameras:
        """RenderCameras (C=1) of training camera ``cam_pos`` at iteration ``step``: the calibrated one, as each
        feature adjusts it (e.g. refined by sync4dgs.train.camrefine.CameraRefiner)."""
        camera = self.cameras[cam_pos]
        for f in self.features:
            camera = f.adjust_camera(camera, cam_pos, step)
        return camera

    def camera_image(self, image: Tensor, cam_pos: int, step: int) -> Tensor:
        """The rendered ``image`` [H, W, 3] as training camera ``cam_pos`` recorded it, as each feature adjusts
        it (e.g. through the camera's colour map, sync4dgs.train.appearance)."""
        for f in self.features:
            image = f.adjust_image(image, cam_pos, step)
        return image

    def scale_lrs(self, factor: float) -> None:
        """The NaN guard's learning-rate cut: Gaussians and every feature."""
        self.schedule.scale *= factor
        for f in self.features:
            f.scale_lr(factor)

    def watched_parameters(self) -> list[Tensor]:
        """Every tensor the NaN guard checks: the Gaussians', then each feature's."""
        return [*self.model.parameters(), *(p for f in self.features for p in f.watched_parameters())]

    @property
    def model(self):
        return self.state.model

    @property
    def all_callbacks(self) -> list[Callback]:
        """The time controller first (it steps its optimiser right after backward), then the features."""
        return [self.time, *self.callbacks]

    def build_optimizers(self) -> None:
        """(Re)create the Gaussian optimisers for the model's current parameters."""
        kind, model, extent = self.cfg.optim.optimizer, self.model, self.state.extent
        self.state.optimizers = {
            "static": build_optimizers(model.static, base_lrs(self.cfg.optim, "static", list(model.static),
                                                              extent), kind),
            "dynamic": build_optimizers(model.dynamic, base_lrs(self.cfg.optim, "dynamic", list(model.dynamic),
                                                                extent), kind),
        }

    # ------------------------------------------------------------------------------------ state dicts
    def state_dict(self, with_rng: bool = True) -> dict[str, Any]:
        d: dict[str, Any] = {
            "iteration": self.state.step,
            "model": self.model.state_dict(),
            "optimizers": {which: {n: o.state_dict() for n, o in opts.items()}
                           for which, opts in self.state.optimizers.items()},
            "callbacks": {cb.name: cb.state_dict() for cb in self.all_callbacks},
            "schedule": self.schedule.state_dict(),
            "config": self.cfg.to_dict(),
        }
        if with_rng:
            d["rng"] = {"torch": torch.get_rng_state(), "sampler": self.sampler.state_dict(),
                        "background": self.background.state_dict()}
            if self.device.type == "cuda":
                d["rng"]["cuda"] = torch.cuda.get_rng_state(self.device)
        return d

    def load_state_dict(self, d: dict[str, Any]) -> None:
        """Restore a state dict (model tensors may have any sizes; optimisers are rebuilt for them)."""
        restore_model_tensors(self.model, d["model"], self.device)
        self.build_optimizers()
        for which, opts in self.state.optimizers.items():
            for name, opt in opts.items():
                opt.load_state_dict(d["optimizers"][which][name])
        for cb in self.all_callbacks:
            cb.load_state_dict(d["callbacks"].get(cb.name, {}))
        self.schedule.load_state_dict(d["schedule"])
        self.state.step = int(d["iteration"])
        if "rng" in d:
            torch.set_rng_state(d["rng"]["torch"].cpu())
            self.sampler.load_state_dict(d["rng"]["sampler"])
            self.background.load_state_dict(d["rng"]["background"])
            if self.device.type == "cuda" and "cuda" in d["rng"]:
                torch.cuda.set_rng_state(d["rng"]["cuda"].cpu(), self.device)


@torch.no_grad()
def restore_model_tensors(model: torch.nn.Module, sd: dict[str, torch.Tensor], device: torch.device) -> None:
    """Load ``model.state_dict()``-style tensors into ``model`` whatever their sizes: parameters of the static/
    dynamic ParameterDicts are replaced by new Parameters, buffers are overwritten."""
    for key, value in sd.items():
        owner, _, name = key.rpartition(".")
        module = model.get_submodule(owner) if owner else model
        if isinstance(module, torch.nn.ParameterDict):
            requires_grad = module[name].requires_grad if name in module else True
            module[name] = torch.nn.Parameter(value.detach().clone().to(device), requires_grad=requires_grad)
        elif name in module._buffers:
            module._buffers[name] = value.detach().clone().to(device)
        else:
            raise KeyError(f"checkpoint tensor {key!r} has no place in the model")
