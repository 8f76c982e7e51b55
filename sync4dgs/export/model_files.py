"""Open what the export/video/viewer commands are pointed at (never imports the trainer).

``--model_path`` may be a model folder (``M/point_cloud/iteration_<n>/model.pt``), a ``model.pt`` file, or a
4D ``.npz`` written by ``sync4dgs export --format npz``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from sync4dgs.data.scene import SceneSpec
from sync4dgs.model.folder import folder_of_model_file


def load_model_any(model_path: str | Path, iteration: int | None = None,
                   device: str | torch.device = "cpu") -> Any:
    """Load a TrainedModel from a model folder, a model.pt or a 4D .npz (``iteration`` applies to folders)."""
    from sync4dgs.export.npz import load_npz  # noqa: PLC0415
    from sync4dgs.model.io import load_trained  # noqa: PLC0415

    p = Path(model_path)
    trained = load_npz(p, device) if p.suffix == ".npz" else load_trained(p, iteration, device=device)
    trained.model.eval()
    return trained


def model_folder_of(model_path: str | Path) -> Path:
    """The model folder a path belongs to (``M`` for ``M``, ``M/point_cloud/iteration_n/model.pt``, ``x.npz``)."""
    p = Path(model_path)
    if p.is_file():
        m = folder_of_model_file(p) if p.suffix == ".pt" else None
        return m if m is not None else p.parent
    return p


def scene_for(trained: Any, model_path: str | Path | None = None,
              source_path: str | Path | None = None) -> SceneSpec:
    """The scene a model was trained on: ``source_path`` if given, else the one its metadata / the model
    folder's config.json records. DataFormatError (asking for --source_path) when none is known."""
    from sync4dgs.eval.loading import resolve_scene  # noqa: PLC0415

    folder = model_folder_of(model_path) if model_path is not None else Path(".")
    return resolve_scene(folder, source_path, getattr(trained, "meta", None) or {})
