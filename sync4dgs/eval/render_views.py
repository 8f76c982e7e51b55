"""Render a trained model at every frame of the scene's cameras and write the 3DGS folder layout.

Library part of ``sync4dgs render`` (the CLI only parses arguments). Output layout: :mod:`sync4dgs.eval.layout`.
Each frame ``i`` of camera ``k`` is rendered at ``t_global_s = offset_s[k] + rate[k] * tau_s[k][i]`` with the
time map chosen by :func:`sync4dgs.eval.frame_times.eval_time_map`.
"""

from __future__ import annotations

import os
import weakref
from concurrent.futures import Future, ThreadPoolExecutor

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator

import numpy as np
import torch
from tqdm import tqdm

from sync4dgs.data.frames import open_frames, read_image
from sync4dgs.data.scene import CameraSpec, SceneSpec
from sync4dgs.data.video import have_pyav, write_video
from sync4dgs.errors import DataFormatError
from sync4dgs.eval import layout
from sync4dgs.eval.frame_times import EvalTimeMap, eval_time_map, frame_global_times_s, select_frames
from sync4dgs.eval.cpu_threads import eval_cpu_threads, torch_threads
from sync4dgs.eval.loading import open_model
from sync4dgs.eval.motion_regions import RegionMasks
from sync4dgs.model import folder as model_folder

if TYPE_CHECKING:
    from sync4dgs.eval.test_time_fit import FitSettings
from sync4dgs.render.types import RenderCameras
from sync4dgs.timemap import TimeMaps, load_time_maps
from sync4dgs.utils.atomic import atomic_dir, write_json
from sync4dgs.utils.phases import PhaseClock

log = logging.getLogger(__name__)
DEFAULT_MONTAGE_FRAMES = 4


@dataclass
class ViewRenderSettings:
    """How frames are rendered.

    backend: "auto" (gsplat on CUDA, reference torch rasterizer on CPU) | "torch" | "gsplat".
    background: RGB in [0, 1] behind the Gaussians. near/far: depth culling range (scene units).
    sh_degree: SH degree to evaluate (None = the model's). antialiased: gsplat's antialiased mode.
    """

    backend: str = "auto"
    background: tuple[float, float, float] = (0.0, 0.0, 0.0)
    near: float = 0.01
    far: float = 100.0
    sh_degree: int | None = None
    antialiased: bool = False


def settings_from_meta(meta: dict[str, Any], scene: SceneSpec, backend: str | None = None) -> ViewRenderSettings:
    """Rendering settings of a trained model: the config recorded in its meta (train.background, render.near/far/
    antialiased, model.sh_degree), falling back to the scene's near/far and a black background. A model trained
    over a fixed background (meta ``background``: e.g. the scene's empty white background found by
    train.detect_void) renders over that colour.

    The backend is ``backend`` if given, else "auto" (gsplat on CUDA, the torch reference on CPU), whatever
    backend training used: both rasterise the same model (render/parity.py checks they agree).
    """
    cfg = meta.get("config") or {}
    train_cfg, render_cfg, model_cfg = cfg.get("train", {}), cfg.get("render", {}), cfg.get("model", {})
    bg = train_cfg.get("background", [0.0, 0.0, 0.0])
    used = meta.get("background") or {}          # what training composited over (sync4dgs/train/background.py)
    if used.get("random") is False and used.get("rgb") is not None:
        bg = used["rgb"]
    near = float(render_cfg.get("near") or 0.0) or scene.near
    far = float(render_cfg.get("far") or 0.0) or scene.far
    return ViewRenderSettings(
        backend=backend or "auto",
        background=(float(bg[0]), float(bg[1]), float(bg[2])),
        near=near, far=far,
        sh_degree=model_cfg.get("sh_degree"),
        antialiased=bool(render_cfg.get("antialiased", False)),
    )


def render_cameras_for(cam: CameraSpec, device: torch.device, dtype: torch.dtype = torch.float32) -> RenderCameras:
    """One scene camera as a renderer camera batch (C = 1) on ``device``."""
    viewmat = torch.as_tensor(cam.viewmat, dtype=dtype, device=device)[None]
    K = torch.as_tensor(cam.K, dtype=dtype, device=device)[None]
    return RenderCameras(viewmats=viewmat, Ks=K, width=int(cam.width), height=int(cam.height))


_VIEWS: "weakref.WeakKeyDictionary[Any, Any]" = weakref.WeakKeyDictionary()


def inference_view_of(model: Any) -> Any | None:
    """The model's cached fast evaluator for rendering (``model.inference_view()``, sync4dgs/model/inference.py),
    or None for models without one. One view per model for eval, export and the viewer; it rebuilds itself when
    the model's parameters change; the cache holds models weakly.

    Not the compact view (which leaves out the dynamic Gaussians invisible at the frame's time, same image): both
    rasterizers already drop a Gaussian of alpha < 1/255 at projection, so the compact view's gathers cost more
    than they save. Measured with benchmarks/fps_bench.py: N3V-scale model (173k static + 390k dynamic), H200,
    1352x1014: 788 FPS full vs 665 compact; CPU demo model, 160x120: no difference beyond noise (2026-12-03)."""
    if not hasattr(model, "inference_view"):
        return None
    view = _VIEWS.get(model)
    if view is None:
        view = _VIEWS[model] = model.inference_view()
    return view


class FrameRenderer:
    """Renders frames of one model with fixed settings, caching everything that does not change per frame: the
    model's time-invariant part (``model.inference_view()``, rebuilt automatically when parameters change), the
    camera tensors and the background (so a frame costs no host-to-device copy and no host sync of ours).

    ``model`` is a Gaussians4D (or anything with ``at_time(t_global_s, sh_degree)``, evaluated plainly).
    """

    def __init__(self, model: Any, settings: ViewRenderSettings, device: torch.device):
        self.settings = settings
        self.device = torch.device(device)
        self._model_ref = weakref.ref(model)
        self.view = inference_view_of(model)
        self._cameras: dict[tuple, RenderCameras] = {}
        self._background: torch.Tensor | None = None

    def cameras(self, cam: CameraSpec, dtype: torch.dtype) -> RenderCameras:
        """``cam`` as a renderer camera (cached by its calibration, size and dtype)."""
        viewmat, K = np.asarray(cam.viewmat, dtype=np.float64), np.asarray(cam.K, dtype=np.float64)
        key = (viewmat.tobytes(), K.tobytes(), int(cam.width), int(cam.height), dtype)
        rc = self._cameras.get(key)
        if rc is None:
            if len(self._cameras) >= MAX_CACHED_CAMERAS:
                self._cameras.clear()
            rc = self._cameras[key] = render_cameras_for(cam, self.device, dtype)
        return rc

    def background(self, dtype: torch.dtype) -> torch.Tensor:
        if self._background is None or self._background.dtype != dtype:
            self._background = torch.tensor(self.settings.background, dtype=dtype, device=self.device)
        return self._background

    def __call__(self, cam: CameraSpec, t_global_s: float) -> tuple[torch.Tensor, str]:
        """(image [H, W, 3] float in [0, 1] on the device, backend name) of ``cam`` at ``t_global_s`` seconds."""
        settings = self.settings
        with torch.inference_mode():
            if self.view is not None:
                gaussians = self.view.at_time(float(t_global_s), sh_degree=settings.sh_degree)
            else:
                model = self._model_ref()
                if model is None:
                    raise ReferenceError("the model of this FrameRenderer no longer exists")
                gaussians = model.at_time(float(t_global_s), sh_degree=settings.sh_degree)
            dtype = gaussians.means.dtype
            image, backend = render_with_settings(gaussians, self.cameras(cam, dtype), self.background(dtype),
                                                  settings)
            return image.clamp(0.0, 1.0), backend


def render_with_settings(gaussians: Any, cameras: RenderCameras, background: torch.Tensor,
                         settings: ViewRenderSettings) -> tuple[torch.Tensor, str]:
    """(image [H, W, 3] unclamped, backend name): ``gaussians`` rendered by ``cameras`` (C=1) with the view
    settings; the SH degree defaults to what the colours carry. Differentiable unless called under no-grad."""
    from sync4dgs.render import render  # noqa: PLC0415  (heavy backends load only when rendering)

    sh_degree = settings.sh_degree
    if sh_degree is None and gaussians.colors.ndim == 3:
        sh_degree = int(round(gaussians.colors.shape[1] ** 0.5)) - 1
    out = render(gaussians, cameras, backend=settings.backend, sh_degree=sh_degree, background=background,
                 near=settings.near, far=settings.far, antialiased=settings.antialiased, render_depth=False)
    return out.image[0], str(out.info.get("backend", settings.backend))


MAX_CACHED_CAMERAS = 256
_RENDERERS: "weakref.WeakKeyDictionary[Any, FrameRenderer]" = weakref.WeakKeyDictionary()


def frame_renderer(model: Any, settings: ViewRenderSettings, device: torch.device) -> FrameRenderer:
    """The cached :class:`FrameRenderer` of ``model`` for these settings/device (created on first use; the cache
    holds the model weakly)."""
    device = torch.device(device)
    r = _RENDERERS.get(model)
    if r is None or r.settings != settings or r.device != device:
        r = _RENDERERS[model] = FrameRenderer(model, settings, device)
    return r


def render_frame(model: Any, cam: CameraSpec, t_global_s: float, settings: ViewRenderSettings,
                 device: torch.device) -> tuple[torch.Tensor, str]:
    """Render ``model`` (a Gaussians4D) seen by ``cam`` at global time ``t_global_s`` (seconds).

    Returns (image [H, W, 3] float in [0, 1] on ``device``, name of the backend that rendered it). The image is a
    fresh tensor created under inference mode. Repeated calls reuse :func:`frame_renderer`'s caches.
    """
    return frame_renderer(model, settings, device)(cam, t_global_s)


def to_uint8(img: torch.Tensor) -> np.ndarray:
    """[H, W, 3] float in [0, 1] -> uint8 [H, W, 3] (rounded)."""
    return (img.detach().clamp(0, 1) * 255.0 + 0.5).to(torch.uint8).cpu().numpy()


def write_png(path: Path, img: np.ndarray) -> None:
    """Write an RGB uint8 [H, W, 3] PNG (DataFormatError if OpenCV cannot write it)."""
    import cv2  # noqa: PLC0415

    if not cv2.imwrite(str(path), cv2.cvtColor(np.ascontiguousarray(img), cv2.COLOR_RGB2BGR)):
        raise DataFormatError(path, "could not write PNG")


def read_png(path: Path) -> np.ndarray:
    """Read an RGB uint8 [H, W, 3] PNG (DataFormatError if missing or unreadable)."""
    return read_image(path)


@dataclass
class SplitRender:
    """What one split's rendering produced."""

    split: str
    iteration: int
    folder: Path
    n_images: int
    cameras: dict[str, dict[str, Any]] = field(default_factory=dict)   # name -> time map, frames, video
    seconds: dict[str, float] = field(default_factory=dict)   # wall seconds per phase (see render_split)


def split_cameras(scene: SceneSpec, split: str) -> list[CameraSpec]:
    if split == "test":
        return [scene.camera(n) for n in scene.test_cameras]
    if split == "train":
        return list(scene.train_cameras)
    raise ValueError(f"unknown split {split!r} (expected one of {layout.SPLITS})")


def _video_frames(folder: Path, cam: str, frames: np.ndarray) -> Iterator[np.ndarray]:
    for i in frames:
        yield read_png(folder / layout.image_name(cam, int(i)))


def render_split(model: Any, learned: TimeMaps, iteration: int, scene: SceneSpec, model_path: str | Path,
                 split: str, settings: ViewRenderSettings, device: torch.device, *,
                 test_time_maps: TimeMaps | None = None, frame_stride: int = 1, max_frames: int | None = None,
                 write_gt: bool = True, write_videos: bool = True, progress: bool = True,
                 color_maps: dict[str, tuple[list[float], list[float]]] | None = None,
                 fit_test_times: "FitSettings | None" = None) -> SplitRender:
    """Render every selected frame of the split's cameras into ``M/<split>/ours_<iteration>/`` (atomically).

    Args:
        model: a Gaussians4D (``at_time(t_global_s, sh_degree)``) on ``device``.
        learned: the model's time maps (its gauge defines global time).
        frame_stride / max_frames: evaluate every ``frame_stride``-th frame (at most ``max_frames`` per camera).
        color_maps: {camera: (gain [3], bias [3])}: those cameras' renders become ``render * gain + bias`` (the
            learned per-camera colour maps of appearance compensation, ``M/appearance.json``).
        fit_test_times: fit every held-out non-reference camera's offset to its own frames first
            (sync4dgs/eval/test_time_fit.py; Sync-NeRF's protocol); None = no fit (stricter).
    Returns a SplitRender; the folder also gets ``render_info.json`` (time map and times of every frame, and
    ``seconds``: wall seconds per phase: test_time_fit, render (model evaluation + rasterisation + copy to the
    host), gt_read, png_write (waiting for the encoder threads), video).
    """
    clock = PhaseClock()
    cams = split_cameras(scene, split)
    out_dir = layout.split_dir(model_path, split, iteration)
    plan: list[tuple[CameraSpec, EvalTimeMap, np.ndarray, np.ndarray]] = []
    fits: dict[str, dict[str, Any]] = {}
    for cam in cams:
        tm = eval_time_map(scene, cam, learned, test_time_maps)
        if fit_test_times is not None and cam.name in scene.test_cameras and tm.source != "reference":
            from sync4dgs.eval.test_time_fit import fit_test_offset  # noqa: PLC0415

            with clock("test_time_fit"):
                fit = fit_test_offset(model, cam, open_frames(scene, cam), tm,
                                      differentiable_renderer(settings, device), device, fit_test_times)
            log.info("test camera %s: fitted offset %+.5f s (from %+.5f s, %s); L1 %.5f -> %.5f", cam.name,
                     fit.offset_s, fit.initial_offset_s, tm.source, fit.loss_initial, fit.loss_final)
            fits[cam.name] = {**fit.to_dict(), "initial_source": tm.source}
            tm = EvalTimeMap(cam.name, fit.offset_s, tm.rate, "test_time_fit")
        idx = select_frames(cam.n_frames, frame_stride, max_frames)
        plan.append((cam, tm, idx, frame_global_times_s(cam, tm, idx)))
    total = sum(len(p[2]) for p in plan)
    info: dict[str, Any] = {"split": split, "iteration": iteration, "scene": str(scene.root),
                            "reference_camera": learned.reference_camera, "backend": settings.backend,
                            "device": str(device), "background": list(settings.background),
                            "time_convention": "t_global_s = offset_s + rate * tau_s (model's reference clock)",
                            "cameras": {}}
    result = SplitRender(split, iteration, out_dir, total)
    if write_videos and not have_pyav():
        log.warning("PyAV is not installed: writing PNGs only, no mp4 per camera (pip install av)")
        write_videos = False
    with atomic_dir(out_dir) as tmp, ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 1)) as pool:
        pending: list[Future] = []
        rdir, gdir, vdir = tmp / "renders", tmp / "gt", tmp / "videos"
        rdir.mkdir()
        if write_gt:
            gdir.mkdir()
        bar = tqdm(total=total, desc=f"render {split}", unit="img", disable=not progress)
        renderer = FrameRenderer(model, settings, device)
        for cam, tm, idx, times in plan:
            frames = open_frames(scene, cam) if write_gt else None
            cmap = (color_maps or {}).get(cam.name)
            gain, bias = ((torch.tensor(x, dtype=torch.float32, device=device) for x in cmap) if cmap is not None
                          else (None, None))
            for i, t in zip(idx, times):
                with clock("render"):
                    img, used_backend = renderer(cam, t)
                    if gain is not None:
                        img = img * gain.to(img.dtype) + bias.to(img.dtype)
                    host = to_uint8(img)
                info["backend_used"] = used_backend
                # PNG encoding dominates at N3V resolution: encode in a thread pool (cv2 releases the GIL)
                pending.append(pool.submit(write_png, rdir / layout.image_name(cam.name, int(i)), host))
                if frames is not None:
                    with clock("gt_read"):
                        gt_frame = frames[int(i)]
                    pending.append(pool.submit(write_png, gdir / layout.image_name(cam.name, int(i)), gt_frame))
                bar.update(1)
            with clock("png_write"):
                for fut in pending:
                    fut.result()  # re-raises a failed write
            pending.clear()
            entry = {**tm.to_dict(), "frames": idx.tolist(), "t_global_s": times.tolist(), "fps": cam.fps}
            if cmap is not None:
                entry["color_map"] = {"gain": list(cmap[0]), "bias": list(cmap[1])}
            if cam.name in fits:
                entry["test_time_fit"] = fits[cam.name]
            if write_videos and len(idx) > 0:
                vdir.mkdir(exist_ok=True)
                tau = cam.tau_s()[idx]
                with clock("video"):
                    write_video(vdir / f"{cam.name}.mp4", _video_frames(rdir, cam.name, idx),
                                fps=cam.fps / frame_stride, pts_s=(tau - tau[0]).tolist())
                entry["video"] = f"videos/{cam.name}.mp4"
            info["cameras"][cam.name] = entry
            result.cameras[cam.name] = entry
        bar.close()
        result.seconds = info["seconds"] = clock.seconds()
        write_json(tmp / layout.RENDER_INFO_FILE, info)
    log.info("rendered %d %s images into %s (seconds per phase: %s)", total, split, out_dir, result.seconds)
    return result


def differentiable_renderer(settings: ViewRenderSettings, device: torch.device):
    """``(gaussians, cam) -> image [H, W, 3]`` with gradients, for fits. Its camera and background tensors are
    its own: :class:`FrameRenderer`'s are made under inference mode and cannot be saved for backward."""
    background = torch.tensor(settings.background, dtype=torch.float32, device=device)
    cameras: dict[str, RenderCameras] = {}

    def fn(gaussians, cam: CameraSpec) -> torch.Tensor:
        rc = cameras.get(cam.name)
        if rc is None:
            rc = cameras[cam.name] = render_cameras_for(cam, device)
        return render_with_settings(gaussians, rc, background, settings)[0]
    return fn


def render_model(model_path: str | Path, source_path: str | Path | None = None, iteration: int | None = None, *,
                 splits: tuple[str, ...] = layout.SPLITS, device: str | torch.device | None = "auto",
                 backend: str | None = None, test_time_maps: str | Path | None = None, frame_stride: int = 1,
                 max_frames: int | None = None, write_videos: bool = True, progress: bool = True,
                 fit_test_times: "FitSettings | None" = None, cpu_threads: int | None = None,
                 montage_frames: int = DEFAULT_MONTAGE_FRAMES) -> list[SplitRender]:
    """Load ``M`` (weights of ``iteration`` or the latest) and its scene, render the requested splits.

    Splits without cameras (e.g. a scene with no test cameras) are skipped with a log message.
    ``test_time_maps``: a TimeMaps JSON (e.g. the scene's gt_sync.json) giving held-out cameras' clocks.
    Training cameras are rendered through their learned colour maps when ``M/appearance.json`` exists (appearance
    compensation); held-out cameras never are. ``cpu_threads``: torch threads on the CPU (None/0 = the model's
    ``train.cpu_threads``, else torch's default; sync4dgs/eval/cpu_threads.py). ``montage_frames``: evenly spaced
    test frames in ``M/test/ours_N/montage.png`` (0 = no montage; sync4dgs/eval/montage.py).
    """
    opened = open_model(model_path, source_path, iteration, device)
    with torch_threads(eval_cpu_threads(opened.trained.meta, cpu_threads), opened.device):
        return _render_opened(opened, splits, backend, test_time_maps, frame_stride, max_frames, write_videos,
                              progress, fit_test_times, montage_frames)


def _render_opened(opened: Any, splits: tuple[str, ...], backend: str | None, test_time_maps: str | Path | None,
                   frame_stride: int, max_frames: int | None, write_videos: bool, progress: bool,
                   fit_test_times: "FitSettings | None", montage_frames: int) -> list[SplitRender]:
    """:func:`render_model` of an opened model (see there)."""
    color_maps = load_color_maps(opened.model_path)
    ttm = load_time_maps(test_time_maps) if test_time_maps is not None else None
    settings = settings_from_meta(opened.trained.meta or {}, opened.scene, backend)
    out = []
    for split in splits:
        if not split_cameras(opened.scene, split):
            log.info("split %s: the scene has no %s cameras; skipped", split, split)
            continue
        out.append(render_split(opened.trained.model, opened.trained.time_maps, opened.iteration, opened.scene,
                                opened.model_path, split, settings, opened.device, test_time_maps=ttm,
                                frame_stride=frame_stride, max_frames=max_frames, write_videos=write_videos,
                                progress=progress, color_maps=color_maps if split == "train" else None,
                                fit_test_times=fit_test_times))
        if split == "test" and montage_frames > 0:
            from sync4dgs.eval.montage import write_split_montage  # noqa: PLC0415

            write_split_montage(out[-1].folder, RegionMasks(opened.scene), montage_frames)
    return out


def load_color_maps(model_path: str | Path) -> dict[str, tuple[list[float], list[float]]] | None:
    """{camera: (gain [3], bias [3])} from ``M/appearance.json`` (None when the model has none)."""
    return model_folder.read_appearance(model_path)
