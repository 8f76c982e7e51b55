"""Free-viewpoint video of a trained 4D model: camera paths x times -> H.264 mp4.

Path kinds (``--path``):

* ``interp``: a smooth path through the training cameras ordered by azimuth (export/paths.py);
* ``orbit``: a closed loop around the cameras' look-at point (full circle, or a sweep for a forward rig);
* ``camera:<name>``: that camera's own fixed view, rendered at the frame times of the REFERENCE camera's
  timeline (its capture clock is irrelevant: this is "what cam k would have seen, in sync with the reference").

Times are global seconds on the model's reference clock. By default the video spans the reference camera's
capture range ``[tau_0, tau_last]`` in real time at ``fps``. ``time_range=(a, b)`` restricts/overrides it;
``freeze_time=t`` renders every frame at ``t`` (bullet time: frozen scene, moving camera).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from sync4dgs.data.scene import CameraSpec, SceneSpec
from sync4dgs.errors import ConfigError
from sync4dgs.eval.render_views import ViewRenderSettings, settings_from_meta
from sync4dgs.export.paths import CameraPath, PathSpec, interpolate_path, orbit_path, order_by_azimuth, parse_path_spec
from sync4dgs.export.rendering import render_view, to_uint8
from sync4dgs.utils.device import resolve_device

log = logging.getLogger(__name__)

DEFAULT_FPS = 30.0
FROZEN_DURATION_S = 4.0  # length of a bullet-time video when neither n_frames nor a time range sets it


@dataclass
class VideoPlan:
    """What to render: M poses and M global times (seconds), played at ``fps``."""

    path: CameraPath
    times_s: np.ndarray
    fps: float

    def __len__(self) -> int:
        return len(self.path)


def _output_size(cam: CameraSpec, width: int | None, height: int | None) -> tuple[int, int]:
    if width is None and height is None:
        return int(cam.width), int(cam.height)
    if width is None:
        return max(2, int(round(height * cam.width / cam.height))), int(height)
    if height is None:
        return int(width), max(2, int(round(width * cam.height / cam.width)))
    return int(width), int(height)


def _time_range(scene: SceneSpec, time_range: tuple[float, float] | None) -> tuple[float, float]:
    if time_range is not None:
        a, b = float(time_range[0]), float(time_range[1])
        if not (np.isfinite(a) and np.isfinite(b) and b >= a):
            raise ConfigError(f"time range must be finite with start <= end, got {time_range}")
        return a, b
    tau = scene.camera(scene.reference_camera).tau_s()
    return float(tau[0]), float(tau[-1])


def plan_video(scene: SceneSpec, spec: PathSpec | str, *, reference_camera: str | None = None,
               time_range: tuple[float, float] | None = None, freeze_time: float | None = None,
               fps: float | None = None, n_frames: int | None = None, width: int | None = None,
               height: int | None = None) -> VideoPlan:
    """Poses and times of a free-viewpoint video (pure: no model needed).

    Args:
        scene: the scene the model was trained on (cameras; its training cameras define interp/orbit).
        spec: "orbit" | "interp" | "camera:<name>" or a parsed PathSpec.
        reference_camera: the model's reference camera (its clock is global time); default the scene's.
        time_range: (a, b) global seconds; freeze_time: one global time (s) for every frame.
        fps: playback rate (default 30, or the reference camera's fps for ``camera:``).
        n_frames: number of frames (default: real-time over the time range, or 4 s when frozen).
        width, height: output size in pixels (default: the reference / named camera's; one given keeps aspect).
    """
    spec = parse_path_spec(spec) if isinstance(spec, str) else spec
    ref_name = reference_camera or scene.reference_camera
    ref = scene.camera(ref_name)
    if spec.kind == "camera":
        try:
            cam = scene.camera(spec.camera or "")
        except KeyError as e:
            raise ConfigError(f"--path camera:{spec.camera}: no such camera (have {scene.camera_names})") from e
        fps = float(fps or ref.fps)
        tau = ref.tau_s()  # reference clock: its local time IS global time
        a, b = _time_range(scene, time_range)
        times = tau[(tau >= a - 1e-9) & (tau <= b + 1e-9)] if n_frames is None else np.linspace(a, b, n_frames)
        if freeze_time is not None:
            times = np.full(max(len(times), 2) if n_frames is None else n_frames, float(freeze_time))
        if len(times) == 0:
            raise ConfigError(f"time range {a}..{b} s contains no frame of the reference camera {ref_name}")
        w, h = _output_size(cam, width, height)
        K = cam.K.copy()
        K[0] *= w / cam.width
        K[1] *= h / cam.height
        M = len(times)
        path = CameraPath(np.repeat(cam.viewmat[None], M, 0), np.repeat(K[None], M, 0), w, h)
        return VideoPlan(path, np.asarray(times, dtype=np.float64), fps)

    fps = float(fps or DEFAULT_FPS)
    if freeze_time is not None:
        M = n_frames or int(round(FROZEN_DURATION_S * fps))
        times = np.full(M, float(freeze_time))
    else:
        a, b = _time_range(scene, time_range)
        M = n_frames or max(2, int(round((b - a) * fps)) + 1)
        times = np.linspace(a, b, M)
    if M < 2:
        raise ConfigError(f"a camera path needs at least 2 frames, got {M}")
    cams = scene.train_cameras or scene.cameras
    R = np.stack([c.R for c in cams])
    t = np.stack([c.t for c in cams])
    w, h = _output_size(ref, width, height)
    if spec.kind == "interp":
        order = order_by_azimuth(R, t)
        Ks = np.stack([cams[i].K for i in order])
        sizes = np.array([[cams[i].width, cams[i].height] for i in order])
        path = interpolate_path(R[order], t[order], Ks, sizes, M, w, h)
    else:
        path = orbit_path(R, t, ref.K, (ref.width, ref.height), M, w, h)
    return VideoPlan(path, times, fps)


@dataclass
class VideoResult:
    """The written video: its path, frame count, playback fps, and the global time (s) of each frame."""

    path: Path
    n_frames: int
    fps: float
    times_s: np.ndarray


def render_path_video(trained: Any, path_spec: PathSpec | str, out_mp4: str | Path, *,
                      scene: SceneSpec | None = None, model_path: str | Path | None = None,
                      time_range: tuple[float, float] | None = None,
                      freeze_time: float | None = None, fps: float | None = None, n_frames: int | None = None,
                      width: int | None = None, height: int | None = None, device: str | torch.device = "auto",
                      settings: ViewRenderSettings | None = None, progress: bool = True) -> VideoResult:
    """Render a free-viewpoint video of a trained model to an H.264 mp4 (atomically).

    Args:
        trained: a TrainedModel (``.model`` Gaussians4D, ``.time_maps``, ``.meta``) or anything alike
            (e.g. :func:`sync4dgs.export.npz.load_npz`'s result).
        path_spec: "orbit" | "interp" | "camera:<name>" (module docstring).
        scene: the training scene; default: the one recorded in ``trained.meta`` or in ``model_path``'s
            config.json.
        time_range, freeze_time, fps, n_frames, width, height: see :func:`plan_video`.
        device: "auto" | "cpu" | "cuda[:i]"; settings: render settings (default: from the model's config).
    """
    from sync4dgs.data.video import write_video  # noqa: PLC0415
    from sync4dgs.export.model_files import scene_for  # noqa: PLC0415

    scene = scene if scene is not None else scene_for(trained, model_path)
    dev = resolve_device(device) if not isinstance(device, torch.device) else device
    settings = settings or settings_from_meta(getattr(trained, "meta", {}) or {}, scene)
    plan = plan_video(scene, path_spec, reference_camera=trained.time_maps.reference_camera,
                      time_range=time_range, freeze_time=freeze_time, fps=fps, n_frames=n_frames,
                      width=width, height=height)
    model = trained.model.to(dev)
    P = plan.path
    log.info("rendering %d frames (%dx%d) of path %s to %s", len(plan), P.width, P.height, path_spec, out_mp4)

    def frames():
        for i in tqdm(range(len(plan)), desc="render video", unit="frame", disable=not progress):
            yield to_uint8(render_view(model, float(plan.times_s[i]), P.viewmats[i], P.Ks[i], P.width, P.height,
                                       settings, dev))

    out = write_video(out_mp4, frames(), fps=plan.fps)
    return VideoResult(Path(out), len(plan), plan.fps, plan.times_s)
