"""Which global time each evaluated frame is rendered at (pure functions).

Frame ``i`` of camera ``k`` is rendered at ``t_global_s = offset_s[k] + rate[k] * tau_s[k][i]`` (seconds, on the
model's reference clock), with the time map chosen as follows:

* a TRAINING camera uses the model's learned map (``time_maps.json`` / the saved weights);
* a TEST camera (held out, so the model has no learned map for it) uses, in this order:
  1. (0, 1) if it is the model's reference camera (its clock IS global time);
  2. its map in ``--test_time_maps FILE`` (e.g. the scene's ``gt_sync.json``), re-gauged to the model's reference
     camera when that file uses another reference;
  3. the estimate training started from, kept in the model's time maps (stage 1 aligns every camera, held-out
     ones included, from their own videos' tracks), when its confidence is at least
     :data:`MIN_ESTIMATE_CONFIDENCE`; stage 2 never changes it;
  4. the identity (0, 1) otherwise, i.e. the assumption that it started with the reference camera (logged).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from sync4dgs.data.scene import CameraSpec, SceneSpec
from sync4dgs.errors import DataFormatError
from sync4dgs.timemap import TimeMap, TimeMaps, global_time_s, rereference

log = logging.getLogger(__name__)

MIN_ESTIMATE_CONFIDENCE = 0.5        # stage-1 "aligned" estimates; "low_confidence" ones are below


@dataclass
class EvalTimeMap:
    """The time map used to render one camera, and where it came from.

    source: "learned" | "reference" | "test_time_maps" | "initial_estimate" | "identity".
    """

    camera: str
    offset_s: float
    rate: float
    source: str

    def to_dict(self) -> dict:
        return {"offset_s": self.offset_s, "rate": self.rate, "source": self.source}


def eval_time_map(scene: SceneSpec, cam: CameraSpec, learned: TimeMaps,
                  test_time_maps: TimeMaps | None = None) -> EvalTimeMap:
    """Choose the time map for ``cam`` (module docstring). DataFormatError if a training camera has no map."""
    ref = learned.reference_camera
    if cam.name not in scene.test_cameras:
        if cam.name not in learned.cameras:
            raise DataFormatError(None, f"the model has no time map for training camera {cam.name!r} "
                                        f"(it has {sorted(learned.cameras)}); was it trained on this scene?")
        m = learned.cameras[cam.name]
        return EvalTimeMap(cam.name, m.offset_s, m.rate, "learned")
    if cam.name == ref:
        return EvalTimeMap(cam.name, 0.0, 1.0, "reference")
    if test_time_maps is not None and cam.name in test_time_maps.cameras:
        try:
            m = rereference(test_time_maps, ref).cameras[cam.name]
        except KeyError as e:
            raise DataFormatError(None, f"test time maps do not contain the model's reference camera {ref!r}, so "
                                        f"{cam.name!r} cannot be expressed on the model's clock") from e
        return EvalTimeMap(cam.name, m.offset_s, m.rate, "test_time_maps")
    est = learned.cameras.get(cam.name)
    if est is not None and est.confidence >= MIN_ESTIMATE_CONFIDENCE:
        log.info("test camera %s: using the estimate training started from (offset %+.4f s, rate %.6f, "
                 "confidence %.2f)", cam.name, est.offset_s, est.rate, est.confidence)
        return EvalTimeMap(cam.name, est.offset_s, est.rate, "initial_estimate")
    log.warning("test camera %s: no time map given (--test_time_maps); assuming it started with the reference "
                "camera %s (offset 0, rate 1)", cam.name, ref)
    return EvalTimeMap(cam.name, 0.0, 1.0, "identity")


def frame_global_times_s(cam: CameraSpec, tm: EvalTimeMap | TimeMap, frame_idx: np.ndarray | None = None) -> np.ndarray:
    """[F] global times (s) of the given frames (default all) of ``cam`` under time map ``tm``."""
    tau = cam.tau_s()
    if frame_idx is not None:
        tau = tau[np.asarray(frame_idx, dtype=np.int64)]
    return np.asarray(global_time_s(float(tm.offset_s), float(tm.rate), tau), dtype=np.float64)


def select_frames(n_frames: int, stride: int = 1, max_frames: int | None = None) -> np.ndarray:
    """[F] frame indices 0, stride, 2*stride, ... (at most ``max_frames``, evenly spread when capped)."""
    if stride < 1:
        raise ValueError(f"frame stride must be >= 1, got {stride}")
    idx = np.arange(0, n_frames, stride, dtype=np.int64)
    if max_frames is not None and 0 < max_frames < len(idx):
        idx = idx[np.unique(np.round(np.linspace(0, len(idx) - 1, max_frames)).astype(np.int64))]
    return idx
