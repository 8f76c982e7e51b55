"""Moving / static region masks of a scene's cameras for the region metrics and the montage.

* ``moving`` / ``static``: estimated from the ground truth alone (sync4dgs/data/motion_mask.py): frame i's
  pixels that differ from the camera's own temporal median by more than ``threshold``. The median is taken over
  ALL the camera's frames (at most 64 evenly spaced, :func:`median_frame_indices`), not only the evaluated
  ones, so it does not depend on ``--frame_stride`` / ``--max_frames``.
* ``moving_true`` / ``static_true``: the synthetic generator's true masks, when ``<scene>/gt_masks/<cam>.npz``
  exists (sync4dgs/data/gt_masks.py).

Masks are bool [H, W] numpy arrays; backgrounds float32 [H, W, 3] in [0, 1].
"""

from __future__ import annotations

import logging

import numpy as np

from sync4dgs.data.frames import open_frames
from sync4dgs.data.gt_masks import gt_mask_path, load_gt_masks
from sync4dgs.data.motion_mask import DEFAULT_THRESHOLD, median_frame_indices, moving_mask, temporal_median
from sync4dgs.data.scene import SceneSpec
from sync4dgs.errors import DataFormatError

log = logging.getLogger(__name__)


def camera_background(scene: SceneSpec, camera: str) -> np.ndarray:
    """Temporal median [H, W, 3] float32 in [0, 1] of all of ``camera``'s ground-truth frames (reads only the
    frames the median uses: equal to ``temporal_median`` of every frame)."""
    cam = scene.camera(camera)
    frames = open_frames(scene, cam)
    idx = median_frame_indices(len(frames))
    return temporal_median(np.stack([frames[int(i)] for i in idx]))


class RegionMasks:
    """Region masks of one scene's cameras, computed on first use and cached per camera.

    ``masks(camera, frame_idx, gt)`` -> {region: bool [H, W]} for a ground-truth frame ``gt`` uint8 [H, W, 3]
    (frame ``frame_idx`` of ``camera``): always "moving" and "static", plus "moving_true" and "static_true" when
    the scene has true masks for the camera. ``notes`` collects why a camera has no true masks (shape mismatch).
    """

    def __init__(self, scene: SceneSpec, threshold: float = DEFAULT_THRESHOLD):
        self.scene = scene
        self.threshold = float(threshold)
        self._background: dict[str, np.ndarray] = {}
        self._true: dict[str, np.ndarray | None] = {}
        self.notes: dict[str, str] = {}

    def background(self, camera: str) -> np.ndarray:
        """The camera's temporal median (:func:`camera_background`), cached."""
        if camera not in self._background:
            self._background[camera] = camera_background(self.scene, camera)
        return self._background[camera]

    def true_masks(self, camera: str) -> np.ndarray | None:
        """The generator's true masks bool [n_frames, H, W] of ``camera``, or None when the scene has none."""
        if camera not in self._true:
            path = gt_mask_path(self.scene.root, camera)
            masks = None
            if path.is_file():
                masks = load_gt_masks(path)
                cam = self.scene.camera(camera)
                if masks.shape != (cam.n_frames, cam.height, cam.width):
                    self.notes[camera] = (f"{path}: masks {masks.shape} do not match the camera's "
                                          f"{cam.n_frames} frames of {cam.width}x{cam.height}; ignored")
                    log.warning("%s", self.notes[camera])
                    masks = None
            self._true[camera] = masks
        return self._true[camera]

    def estimated(self, camera: str, gt: np.ndarray) -> np.ndarray:
        """Estimated moving mask bool [H, W] of a ground-truth frame ``gt`` [H, W, 3] of ``camera``."""
        bg = self.background(camera)
        if gt.shape != bg.shape:
            raise DataFormatError(self.scene.root, f"ground-truth image {gt.shape} of camera {camera} does not "
                                                   f"match its frames {bg.shape}")
        return moving_mask(gt, bg, self.threshold)[0]

    def masks(self, camera: str, frame_idx: int, gt: np.ndarray) -> dict[str, np.ndarray]:
        """{region: bool [H, W]} of frame ``frame_idx`` of ``camera`` (ground truth ``gt`` uint8 [H, W, 3]).

        A camera whose frames cannot be read (e.g. a moved video) gets no estimated regions (the reason goes to
        ``notes``): the full-frame metrics only need the PNGs."""
        out: dict[str, np.ndarray] = {}
        try:
            moving = self.estimated(camera, gt)
            out.update(moving=moving, static=~moving)
        except DataFormatError as e:
            if camera not in self.notes:
                self.notes[camera] = f"no moving/static regions: {e}"
                log.warning("camera %s: %s", camera, self.notes[camera])
        true = self.true_masks(camera)
        if true is not None:
            out["moving_true"] = true[frame_idx]
            out["static_true"] = ~true[frame_idx]
        return out
