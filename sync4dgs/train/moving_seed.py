"""Seed temporally local dynamic Gaussians on the moving content, from the training videos (no stage-1 tracks needed).

Why: a static Gaussian converted to dynamic, or a sparse stage-1 trajectory, only gets photometric gradients
where it already overlaps the moving object; an object that moves more than its own size between keyframes is
never caught, and the renders show the static room without it. Seeding puts Gaussians where the moving content
is at every instant, so training only has to refine them locally.

Steps (config section ``moving``, :class:`~sync4dgs.train.config.MovingSeedConfig`):

1. Seed times every ``spacing_frames`` reference frames over the capture range (global seconds, current maps).
2. Per training camera: frames area-downscaled (long side <= ``max_side``), the temporal median of the camera
   (sync4dgs/data/motion_mask.py), and at each seed time the camera's nearest frame (within ``frame_tolerance``
   frames) with its moving-pixel mask.
3. Mask-and-colour plane sweep across the cameras (sync4dgs/train/moving_sweep.py), one point per voxel of the
   median grid footprint, at most ``max_points_per_time`` points.
4. Velocities by matching clusters of seeds between neighbouring instants, over ``velocity_instants`` instants each
   way, on ALL the voxel points of each instant (steadier centroids than the capped subset; ``velocity``,
   sync4dgs/train/moving_flow.py).
5. Each point becomes a dynamic Gaussian moving with its velocity through the keyframes, with temporal opacity 1 on
   ``t ± plateau_fraction x spacing`` and falloff ``falloff_fraction x spacing`` (seconds), opacity
   ``init_opacity``, colour of its source pixel, isotropic scale = ``scale_fraction`` x its footprint.

Held-out (test) cameras are never read, nor cameras whose initial clock has confidence < 0.5. Frames come from
the trainer's frame bank when one is given (already decoded, on the device or in RAM: no second decode of the
videos), else from the scene's files.
"""

from __future__ import annotations

import logging
import math
import os
from concurrent.futures import ThreadPoolExecutor
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor
from tqdm import tqdm

from sync4dgs.data.frames import open_frames
from sync4dgs.data.motion_mask import moving_mask, temporal_median
from sync4dgs.data.scene import CameraSpec, SceneSpec
from sync4dgs.model import ops
from sync4dgs.model.gaussians4d import Gaussians4D
from sync4dgs.model.initialize import local_dynamic_rows
from sync4dgs.timemap import TimeMap, TimeMaps, global_time_s
from sync4dgs.train.config import MovingSeedConfig
from sync4dgs.train.moving_flow import seed_velocities
from sync4dgs.train.moving_velocity import TimedViews, refine_instant
from sync4dgs.train.moving_sweep import (SweepPoints, SweepSettings, SweepViews, sweep_moving_points, voxel_select,
                                         voxel_subset)

log = logging.getLogger(__name__)
TRUSTED_CONFIDENCE = 0.5       # cameras with a less certain initial clock are not used for seeding
READ_THREADS = min(8, os.cpu_count() or 1)   # frames read and downscaled in parallel
MIN_DT_FRACTION = 0.1          # velocity refinement: frames closer to the instant than this x the window are skipped

# (camera, frame index) -> uint8 [H, W, 3] frame, a numpy array or a tensor on any device (e.g. FrameBank.peek)
FrameReader = Callable[[CameraSpec, int], "np.ndarray | torch.Tensor"]


class _Frames:
    """len() and [i] over one camera's frames through a FrameReader."""

    def __init__(self, read: FrameReader, cam: CameraSpec):
        self._read, self._cam = read, cam

    def __len__(self) -> int:
        return self._cam.n_frames

    def __getitem__(self, i: int):
        return self._read(self._cam, int(i))


@dataclass
class _CameraVideo:
    """One training camera, downscaled: K [3,3] for the downscaled image, its background, frame access."""

    cam: CameraSpec
    K: np.ndarray
    size: tuple[int, int]            # (w, h) downscaled
    background: np.ndarray           # [h, w, 3] float32 in [0, 1]
    tau_s: np.ndarray
    time_map: TimeMap
    tolerance_frames: float

    def frame_at(self, t_global_s: float) -> int | None:
        """Index of the frame nearest to global time t (s), or None if none lies within ``tolerance_frames``."""
        tau = (t_global_s - self.time_map.offset_s) / self.time_map.rate
        i = int(np.clip(np.searchsorted(self.tau_s, tau), 1, len(self.tau_s) - 1)) if len(self.tau_s) > 1 else 0
        if len(self.tau_s) > 1 and abs(self.tau_s[i - 1] - tau) < abs(self.tau_s[i] - tau):
            i -= 1
        return i if abs(self.tau_s[i] - tau) * self.cam.fps <= self.tolerance_frames else None


def _downscale(img: "np.ndarray | torch.Tensor", size: tuple[int, int]) -> np.ndarray:
    """uint8 [H, W, 3] (numpy, or a tensor on any device: averaged there) -> uint8 numpy [h, w, 3] of size (w, h),
    by area averaging."""
    if isinstance(img, torch.Tensor):
        if (img.shape[1], img.shape[0]) != size:
            x = F.interpolate(img.permute(2, 0, 1)[None].float(), size=(size[1], size[0]), mode="area")
            img = x[0].permute(1, 2, 0).round_().clamp_(0, 255).to(torch.uint8)
        return img.cpu().numpy()
    import cv2  # noqa: PLC0415

    if (img.shape[1], img.shape[0]) == size:
        return img
    return cv2.resize(img, size, interpolation=cv2.INTER_AREA)


def _open_video(scene: SceneSpec, cam: CameraSpec, maps: TimeMaps, cfg: MovingSeedConfig,
                read: FrameReader | None) -> tuple[_CameraVideo, object]:
    factor = max(1, math.ceil(max(cam.width, cam.height) / cfg.max_side))
    size = (max(1, cam.width // factor), max(1, cam.height // factor))
    K = cam.K.astype(np.float64).copy()
    K[0] *= size[0] / cam.width
    K[1] *= size[1] / cam.height
    src = open_frames(scene, cam) if read is None else _Frames(read, cam)
    step = max(1, len(src) // 48)
    background = temporal_median(np.stack([_downscale(src[i], size) for i in range(0, len(src), step)]))
    return (_CameraVideo(cam, K, size, background, cam.tau_s(), maps.cameras.get(cam.name, TimeMap()),
                        cfg.frame_tolerance), src)


def _open_videos(scene: SceneSpec, cams: list[CameraSpec], maps: TimeMaps, cfg: MovingSeedConfig,
                 pool: ThreadPoolExecutor, read: FrameReader | None) -> tuple[list, list]:
    opened = list(pool.map(lambda cam: _open_video(scene, cam, maps, cfg, read), cams))
    return [v for v, _ in opened], [s for _, s in opened]


def seed_times_s(t_range_s: tuple[float, float], spacing_s: float) -> np.ndarray:
    """Seed instants (s) every ``spacing_s`` from the range's start to its end (inclusive)."""
    lo, hi = t_range_s
    n = int(math.floor((hi - lo) / spacing_s + 1e-9)) + 1
    return lo + spacing_s * np.arange(max(n, 1))


def _frame_and_mask(video: _CameraVideo, source, i: int, threshold: float) -> tuple[np.ndarray, np.ndarray]:
    """Frame i of a camera, downscaled (float32 [h, w, 3] in [0, 1]), and its moving mask (bool [h, w])."""
    img = _downscale(source[i], video.size).astype(np.float32) / 255.0
    return img, moving_mask(img[None], video.background, threshold)[0]


def _sweep_views(videos: list[_CameraVideo], loaded: list[tuple[np.ndarray, np.ndarray]],
                 device: torch.device) -> SweepViews:
    """SweepViews of frames ``loaded`` [(image, mask)] of the cameras ``videos`` (one entry per view)."""
    f32 = dict(dtype=torch.float32, device=device)
    return SweepViews(Ks=torch.tensor(np.stack([v.K for v in videos]), **f32),
                      Rs=torch.tensor(np.stack([v.cam.R for v in videos]), **f32),
                      ts=torch.tensor(np.stack([v.cam.t for v in videos]), **f32),
                      images=torch.tensor(np.stack([im for im, _ in loaded]), **f32),
                      masks=torch.tensor(np.stack([m for _, m in loaded]), device=device))


def _views_at(t_s: float, videos: list[_CameraVideo], sources: list, pool: ThreadPoolExecutor, threshold: float,
              device: torch.device) -> SweepViews | None:
    """The cameras' frames nearest to global time t (s), downscaled, with their moving masks; None if < 2."""
    picks = [(v, s, v.frame_at(t_s)) for v, s in zip(videos, sources)]
    picks = [(v, s, i) for v, s, i in picks if i is not None]
    if len(picks) < 2:
        return None
    loaded = list(pool.map(lambda p: _frame_and_mask(p[0], p[1], p[2], threshold), picks))
    return _sweep_views([v for v, _, _ in picks], loaded, device)


class _FramesAround:
    """Downscaled frames + moving masks of every camera frame near an instant (cached: neighbouring instants share
    frames), as moving_velocity.TimedViews."""

    def __init__(self, videos: list[_CameraVideo], sources: list, pool: ThreadPoolExecutor, threshold: float,
                 device: torch.device):
        self.videos, self.sources, self.pool, self.threshold, self.device = videos, sources, pool, threshold, device
        self.global_s = [global_time_s(v.time_map.offset_s, v.time_map.rate, v.tau_s) for v in videos]
        self._cache: dict[tuple[int, int], tuple[np.ndarray, np.ndarray]] = {}

    def _load(self, key: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
        return _frame_and_mask(self.videos[key[0]], self.sources[key[0]], key[1], self.threshold)

    def at(self, t_s: float, window_s: float) -> TimedViews:
        """Every frame with |capture time - t_s| <= window_s (global seconds)."""
        keys = [(c, int(i)) for c, g in enumerate(self.global_s)        # frames AT the instant carry no motion
                for i in np.nonzero((np.abs(g - t_s) <= window_s * (1 + 1e-6))
                                    & (np.abs(g - t_s) >= MIN_DT_FRACTION * window_s))[0]]
        for k, loaded in zip(todo := [k for k in keys if k not in self._cache], self.pool.map(self._load, todo)):
            self._cache[k] = loaded
        for k in [k for k in self._cache if abs(self.global_s[k[0]][k[1]] - t_s) > 2 * window_s + 1e-9]:
            del self._cache[k]                     # instants are visited in time order
        f32 = dict(dtype=torch.float32, device=self.device)
        if not keys:                               # no frame near the instant: nothing to refine against
            h, w = self.videos[0].size[1], self.videos[0].size[0]
            return TimedViews(SweepViews(torch.zeros(0, 3, 3, **f32), torch.zeros(0, 3, 3, **f32),
                                         torch.zeros(0, 3, **f32), torch.zeros(0, h, w, 3, **f32),
                                         torch.zeros(0, h, w, dtype=torch.bool, device=self.device)),
                              torch.zeros(0, **f32))
        views = _sweep_views([self.videos[c] for c, _ in keys], [self._cache[k] for k in keys], self.device)
        return TimedViews(views, torch.tensor([self.global_s[c][i] - t_s for c, i in keys], **f32))


def sweep_settings(scene: SceneSpec, cfg: MovingSeedConfig) -> SweepSettings:
    """The plane-sweep settings of config section ``moving`` for ``scene`` (depths between its near and far)."""
    return SweepSettings(near=scene.near, far=min(scene.far, scene.near * 1000), stride=cfg.stride_px,
                         depth_samples=cfg.depth_samples, min_views=cfg.min_views, min_agreement=cfg.min_agreement,
                         photo_tolerance=cfg.photo_tolerance, agreement_weight=cfg.agreement_weight,
                         depth_hypotheses=cfg.depth_hypotheses, photo_best_fraction=cfg.photo_best_fraction)


def collect_moving_points(scene: SceneSpec, cams: list[CameraSpec], maps: TimeMaps, t_range_s: tuple[float, float],
                          cfg: MovingSeedConfig, device: torch.device, seed: int = 0, progress: bool = True,
                          read: FrameReader | None = None) -> tuple[list[float], list[SweepPoints]]:
    """(seed times s, points per time, at most ``max_points_per_time``) on the moving content of the training
    cameras ``cams``; frames through ``read`` when given, else from the scene's files."""
    times, voxels, keep, _ = collect_moving_voxels(scene, cams, maps, t_range_s, cfg, device, seed, progress, read,
                                                   with_velocities=False)
    return times, [voxel_subset(v, k) for v, k in zip(voxels, keep)]


def collect_moving_voxels(scene: SceneSpec, cams: list[CameraSpec], maps: TimeMaps, t_range_s: tuple[float, float],
                          cfg: MovingSeedConfig, device: torch.device, seed: int = 0, progress: bool = True,
                          read: FrameReader | None = None, with_velocities: bool = True
                          ) -> tuple[list[float], list[SweepPoints], list[Tensor], list[Tensor] | None]:
    """(seed times s, one point per voxel per time, indices of the capped subset per time, velocities [n_j, 3]
    per time of the voxel points (scene units / s; None with ``velocity`` off or ``with_velocities`` False)): see
    :func:`collect_moving_points`, which returns the subsets."""
    ref = scene.camera(scene.reference_camera)
    spacing = cfg.spacing_frames / ref.fps
    with ThreadPoolExecutor(max_workers=min(READ_THREADS, max(1, len(cams)))) as pool:   # decoding releases the GIL
        videos, sources = _open_videos(scene, cams, maps, cfg, pool, read)
        settings = sweep_settings(scene, cfg)
        gen = torch.Generator().manual_seed(seed)
        times, voxels, keep = [], [], []
        for t in tqdm(seed_times_s(t_range_s, spacing), desc="seeding moving content", unit="t", disable=not progress,
                      leave=False):
            views = _views_at(float(t), videos, sources, pool, cfg.threshold, device)
            if views is None:
                continue
            pts = sweep_moving_points(views, settings, gen)
            if pts.xyz.shape[0] == 0:
                continue
            voxel = float(pts.footprint.median())
            times.append(float(t))
            v, k = voxel_select(pts, voxel, cfg.max_points_per_time, gen, cfg.max_second_points())
            voxels.append(v)
            keep.append(k)
        velocities = (seed_velocities(times, voxels, spacing, cfg.velocity_instants, cfg.velocity_split_passes)
                      if cfg.velocity and with_velocities else None)
        if velocities is not None and cfg.velocity_refine:
            frames = _FramesAround(videos, sources, pool, cfg.threshold, device)
            window = 1.0 / ref.fps             # the frames within one reference frame of each instant
            velocities = [refine_instant(v, vel, frames.at(t, window), spacing, cfg.photo_tolerance, gen)
                          for t, v, vel in tqdm(list(zip(times, voxels, velocities)), desc="seed velocities",
                                                unit="t", disable=not progress, leave=False)]
    return times, voxels, keep, velocities


@torch.no_grad()
def seed_moving_gaussians(model: Gaussians4D, scene: SceneSpec, maps: TimeMaps, t_range_s: tuple[float, float],
                          cfg: MovingSeedConfig, seed: int = 0, progress: bool = True, maps_fixed: bool = False,
                          read: FrameReader | None = None) -> int:
    """Append seeded temporally local dynamic Gaussians to ``model`` (before its optimisers exist).

    Returns the number added. Time maps ``maps`` place each camera's frames in global time (seconds). Unless the
    maps are fixed for the run (``maps_fixed``: oracle / naive runs), cameras whose map has confidence < 0.5 are
    not used. ``read`` gives a camera's frame (e.g. from the trainer's frame bank); default: the scene's files.
    """
    if not cfg.enabled:
        return 0
    cams = [c for c in scene.train_cameras
            if maps_fixed or maps.cameras.get(c.name, TimeMap()).confidence >= TRUSTED_CONFIDENCE]
    if len(cams) < 2:
        log.info("moving content: no seeds (fewer than 2 training cameras with a trusted clock)")
        return 0
    device = model.key_t0_s.device
    started = time.perf_counter()
    times, voxels, keep, velocities = collect_moving_voxels(scene, cams, maps, t_range_s, cfg, device, seed,
                                                            progress, read)
    if not voxels:
        log.info("moving content: no seeds (no moving pixels agreed across the training cameras)")
        return 0
    rows = seed_rows(model, scene, cfg, times, voxels, keep, velocities)
    ops.append(model.dynamic, rows)
    n = int(rows["opacities"].shape[0])
    log.info("moving content: seeded %d dynamic Gaussians at %d instants (%.0f per instant) in %.1f s", n,
             len(times), n / len(times), time.perf_counter() - started)
    return n


def seed_rows(model: Gaussians4D, scene: SceneSpec, cfg: MovingSeedConfig, times: list[float],
              voxels: list[SweepPoints], keep: list[Tensor], velocities: list[Tensor] | None) -> dict[str, Tensor]:
    """New dynamic rows (model.dynamic's keys) for the capped points ``keep`` of each instant's voxel points:
    temporally local Gaussians around their instant (``times``, global s), moving with ``velocities`` (scene
    units / s; None: at rest), colour of the source pixel, scale ``scale_fraction`` x footprint."""
    device = model.key_t0_s.device
    spacing = cfg.spacing_frames / scene.camera(scene.reference_camera).fps
    points = [voxel_subset(v, k) for v, k in zip(voxels, keep)]
    xyz = torch.cat([p.xyz for p in points]).to(device)
    if velocities is not None:   # from clusters of ALL the voxel points of each instant (steadier centroids)
        velocity = torch.cat([v[k] for v, k in zip(velocities, keep)]).to(xyz)
    else:
        velocity = torch.zeros_like(xyz)
    rows = local_dynamic_rows(
        xyz=xyz, velocity=velocity, rgb01=torch.cat([p.rgb for p in points]).to(xyz),
        log_scales=torch.log((cfg.scale_fraction * torch.cat([p.footprint for p in points])).clamp_min(1e-6)
                             ).to(xyz),
        t_s=torch.cat([torch.full((p.xyz.shape[0],), t, dtype=xyz.dtype, device=device) for t, p in
                       zip(times, points)]),
        plateau_half_s=cfg.plateau_fraction * spacing, falloff_s=cfg.falloff_fraction * spacing,
        key_times_s=model.keyframe_times_s().detach(), config=_with_opacity(model, cfg.init_opacity))
    second = torch.cat([p.hypotheses() for p in points]).to(device) > 0
    if second.any():             # second depth hypotheses start fainter: the wrong ones fade out sooner
        o = cfg.second_opacity
        rows["opacities"][second] = math.log(o / (1 - o))
    return rows


def _with_opacity(model: Gaussians4D, opacity: float):
    from dataclasses import replace  # noqa: PLC0415

    return replace(model.config, init_opacity=opacity)
