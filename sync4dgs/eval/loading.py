"""Open a trained model folder and the scene it was trained on (without importing the trainer)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from sync4dgs.data.scene import SCENE_FILE, SceneSpec, load_scene
from sync4dgs.errors import DataFormatError
from sync4dgs.eval import layout
from sync4dgs.model import folder
from sync4dgs.utils.device import resolve_device

log = logging.getLogger(__name__)

# keys under which the trainer may record the scene folder (meta of the weights, or config.json)
_SCENE_KEYS = ("source_path", "scene_path", "scene", "scene_root")


def _scene_from_dict(d: dict[str, Any]) -> str | None:
    for k in _SCENE_KEYS:
        v = d.get(k)
        if isinstance(v, str) and v:
            return v
    for sub in ("data", "paths", "meta"):
        if isinstance(d.get(sub), dict):
            v = _scene_from_dict(d[sub])
            if v:
                return v
    return None


def recorded_scene_path(model_path: str | Path, meta: dict[str, Any] | None = None) -> Path | None:
    """The scene folder recorded by training (weights' meta, then M/config.json), or None."""
    model_path = Path(model_path)
    found = _scene_from_dict(meta or {})
    if found is None:
        found = _scene_from_dict(folder.read_config(model_path) or {})
    if found is None:
        return None
    p = Path(found)
    if not p.is_absolute() and not (p / SCENE_FILE).is_file() and (model_path / p / SCENE_FILE).is_file():
        p = model_path / p
    return p


def resolve_scene(model_path: str | Path, source_path: str | Path | None, meta: dict[str, Any] | None) -> SceneSpec:
    """Load ``source_path`` or, if None, the scene recorded in the model; clear error when neither exists."""
    if source_path is None:
        source_path = recorded_scene_path(model_path, meta)
        if source_path is None:
            raise DataFormatError(model_path, "the model does not record its scene folder; pass --source_path SCENE")
        log.info("scene from the model's record: %s", source_path)
    return load_scene(source_path)


@dataclass
class OpenedModel:
    """A trained model ready for evaluation.

    trained: sync4dgs.model.io.TrainedModel (model on ``device``, time_maps, iteration, meta).
    """

    model_path: Path
    trained: Any
    scene: SceneSpec
    device: torch.device

    @property
    def iteration(self) -> int:
        return int(self.trained.iteration)

    @property
    def weights_path(self) -> Path:
        return folder.model_file(self.model_path, self.iteration)


def open_model(model_path: str | Path, source_path: str | Path | None = None, iteration: int | None = None,
               device: str | torch.device | None = "auto") -> OpenedModel:
    """Load weights (``iteration`` or the latest) and the scene; DataFormatError naming what is missing."""
    from sync4dgs.model.io import load_trained  # noqa: PLC0415

    model_path = Path(model_path)
    it = layout.resolve_iteration(model_path, iteration)
    dev = device if isinstance(device, torch.device) else resolve_device(device)
    trained = load_trained(model_path, it, device=dev)
    trained.model.eval()
    scene = resolve_scene(model_path, source_path, getattr(trained, "meta", None))
    return OpenedModel(model_path, trained, scene, dev)
