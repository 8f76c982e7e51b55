"""The plug-in protocol of per-camera learned features (time maps, camera refinement, appearance compensation).

A :class:`CameraFeature` is a training callback that may contribute, per training camera ``cam_pos``:

=================  ==========================================================================================
to                 through
=================  ==========================================================================================
the camera         :meth:`CameraFeature.adjust_camera` (RenderCameras C=1 the view is rendered with)
the image          :meth:`CameraFeature.adjust_image` (the rendered [H, W, 3] image as the camera recorded it)
the optimiser      its own ``optimizer`` stepped right after backward while :meth:`learning`
                   (:class:`OwnOptimizerFeature`), :meth:`scale_lr` (NaN-guard cuts), :meth:`watched_parameters`
the ranks          :meth:`replicated_modules`: tensors identical on every rank; their gradients are averaged over
                   ranks in ONE place, sync4dgs/train/distributed/hooks.py (``DistributedHooks.average_gradients``)
the checkpoint     ``state_dict`` / ``load_state_dict`` under the callback's ``name``
the saved files    :meth:`save` at the weights' save iterations and at the end (rank 0 only), through
                   sync4dgs/model/folder.py
=================  ==========================================================================================

The session loops over its features (``Session.features``: every CameraFeature among its callbacks, the time
controller first) for each of these; nothing else in the loop knows which features exist. Adding a feature is one
builder in ``sync4dgs.train.setup.CAMERA_FEATURES`` (docs/architecture.md, "Per-camera features").
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from sync4dgs.render.types import RenderCameras
from sync4dgs.train.callbacks import Callback, StepInfo, TrainState
from sync4dgs.train.ranks import is_main_process

log = logging.getLogger(__name__)


class CameraFeature(Callback):
    """A per-camera learned feature; every contribution defaults to "none" (see the module docstring)."""

    def adjust_camera(self, camera: RenderCameras, cam_pos: int, step: int) -> RenderCameras:
        """The camera training camera ``cam_pos`` is rendered with at iteration ``step`` (default: ``camera``)."""
        return camera

    def adjust_image(self, image: Tensor, cam_pos: int, step: int) -> Tensor:
        """The rendered ``image`` [H, W, 3] (values in [0, 1]) as camera ``cam_pos`` recorded it (default: as is)."""
        return image

    def parameters(self) -> list[Tensor]:
        """The tensors this feature's optimiser updates (default: none)."""
        return []

    def watched_parameters(self) -> list[Tensor]:
        """Tensors the NaN guard checks (default: :meth:`parameters`)."""
        return self.parameters()

    def replicated_modules(self) -> list[tuple[str, torch.nn.Module]]:
        """(prefix, module) whose parameters and buffers every rank holds identically; their trainable
        parameters' gradients are averaged over ranks by the distributed hooks (default: none)."""
        return []

    def scale_lr(self, factor: float) -> None:
        """Multiply the learning rates by ``factor`` (the NaN guard's cut; default: nothing to scale)."""

    def save(self, iteration: int) -> Path | None:
        """Write the feature's file into the model folder; its path, or None (default: no file)."""
        return None


def fill_missing_gradients(params: list[Tensor]) -> None:
    """Give every ``param.grad`` that is None a zero gradient (an optimiser then steps every parameter)."""
    for p in params:
        if p.grad is None:
            p.grad = torch.zeros_like(p)


class OwnOptimizerFeature(CameraFeature):
    """A feature with its own ``optimizer``: it steps right after backward while :meth:`learning` (the distributed
    hooks have averaged the gradients over ranks by then), writes its output file (:meth:`write`, rank 0 only) at
    the weights' save iterations and at the end, and follows the NaN guard's learning-rate cuts.

    Subclasses set ``optimizer``, ``model_path`` (None: never write), ``save_iterations``, the learned module
    (:meth:`learned_module`) with its checkpoint key ``state_key``, and implement :meth:`learning` and :meth:`write`.
    :meth:`apply_update` is the update itself (default: fill missing gradients with zeros, one optimiser step).
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
        return [p for g in self.optimizer.param_groups for p in g["params"]]

    def replicated_modules(self) -> list[tuple[str, torch.nn.Module]]:
        return [(self.name, self.learned_module())]

    def apply_update(self, step: int) -> None:
        """One update of the feature's parameters from their (rank-averaged) gradients."""
        fill_missing_gradients(self.parameters())
        self.optimizer.step()

    def post_backward(self, state: TrainState, info: StepInfo) -> None:
        if self.learning(info.step):
            self.apply_update(info.step)
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
