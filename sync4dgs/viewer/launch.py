"""Build a :class:`Sync4DViewer` for a saved model folder / model.pt / 4D npz (used by ``sync4dgs view``)."""

from __future__ import annotations

import logging
from pathlib import Path

import torch

from sync4dgs.errors import DataFormatError
from sync4dgs.eval.render_views import ViewRenderSettings, settings_from_meta
from sync4dgs.data.scene import load_scene
from sync4dgs.eval.loading import recorded_scene_path
from sync4dgs.export.model_files import load_model_any, model_folder_of
from sync4dgs.model.folder import stage1_trajectories_path
from sync4dgs.utils.device import resolve_device
from sync4dgs.viewer.overlays import load_trajectories
from sync4dgs.viewer.server import Sync4DViewer, ViewerConfig

log = logging.getLogger(__name__)


def open_viewer(model_path: str | Path, *, iteration: int | None = None, source_path: str | Path | None = None,
                device: str | torch.device = "auto", backend: str | None = None,
                config: ViewerConfig | None = None) -> Sync4DViewer:
    """Load the model (+ its scene and stage-1 trajectories when available) and return an unstarted viewer.

    Without a usable recorded scene the viewer still runs (no frusta, time range from the model); a given
    ``source_path`` must load (DataFormatError otherwise).
    """
    dev = device if isinstance(device, torch.device) else resolve_device(device)
    trained = load_model_any(model_path, iteration, device=dev)
    scene = None
    if source_path is not None:
        scene = load_scene(source_path)
    else:
        recorded = recorded_scene_path(model_folder_of(model_path), trained.meta or {})
        try:
            scene = load_scene(recorded) if recorded is not None else None
        except DataFormatError as e:  # the scene moved or is broken: still show the model
            log.warning("viewer without cameras (pass --source_path SCENE): %s", e)
        if recorded is None:
            log.warning("the model records no scene folder; viewer without cameras (pass --source_path SCENE)")
    settings = settings_from_meta(trained.meta or {}, scene, backend) if scene is not None else \
        ViewRenderSettings(backend=backend or "auto")
    tracks_path = stage1_trajectories_path(model_folder_of(model_path))
    tracks = load_trajectories(tracks_path) if tracks_path.is_file() else None
    return Sync4DViewer(trained.model, trained.time_maps, scene=scene, trajectories=tracks, settings=settings,
                        device=dev, config=config, iteration=trained.iteration)
