"""Error-driven second seeding of the moving content, once during training (config ``moving.refill_at``).

Why: the first seeding (sync4dgs/train/moving_seed.py) sweeps every moving pixel of every view at once. Where a
small object passes in front of a larger moving one, the large one's pixels agree along the small one's rays at
wrong depths too, and the small object gets few or no seeds at some instants (the fast ball of the demo scene: 0
seeds at 2 of 24 instants). Once the model has learned the large objects, the pixels it still gets wrong are
mostly those of what is missing, so the same sweep on those pixels alone is far less ambiguous.

At step ``round(refill_at x train.iterations)``, at every seed instant (the same times as the first seeding,
under the CURRENT time maps): each trusted training camera's nearest frame is rendered at its capture time, and a
pixel takes part when it is moving (its recorded colour differs from the camera's temporal median by more than
``moving.threshold``) and wrong (the render, after the camera's appearance map, differs from the recording by more
than ``moving.refill_threshold`` in some channel). Of the swept points, only those with no visible dynamic
Gaussian (effective opacity > 0.1 at the instant) within 2 footprints are kept: content the model is missing, not
the edge of an object it already has (without that test the refill seeded those edges too and cost the other
objects 0.7-0.9 dB on the demo scene; requiring the render to show the static scene instead missed a small object
in front of a larger moving one). The mask-and-colour sweep on those pixels gives points, capped
at ``max_points_per_time`` per instant; each becomes a dynamic Gaussian like a first seed (velocity from the
neighbouring instants' points, temporal opacity around its instant) and is appended with zero optimiser moments.
Held-out cameras are never read. Resumed runs do not seed twice (the callback's state records it). Under
torchrun it is skipped with a warning.
"""

from __future__ import annotations

import logging
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from scipy.spatial import cKDTree
from tqdm import tqdm

from sync4dgs.model import ops
from sync4dgs.render import render
from sync4dgs.timemap import TimeMap
from sync4dgs.train.callbacks import Callback, StepInfo, TrainState
from sync4dgs.train.moving_flow import seed_velocities
from sync4dgs.train.moving_seed import (READ_THREADS, TRUSTED_CONFIDENCE, _downscale, _open_videos, _sweep_views,
                                        seed_rows, seed_times_s, sweep_settings)
from sync4dgs.train.moving_sweep import sweep_moving_points, voxel_select, voxel_subset

NOVEL_RADIUS = 2.0       # a refill point is new when no visible dynamic Gaussian lies within this x its footprint
VISIBLE_OPACITY = 0.1    # effective opacity (opacity x temporal opacity) of a dynamic Gaussian counted as present

log = logging.getLogger(__name__)


def _area(img: torch.Tensor, size: tuple[int, int]) -> np.ndarray:
    """float [H, W, C] -> float32 numpy [h, w, C] of size (w, h), by area averaging."""
    if (img.shape[1], img.shape[0]) != size:
        img = F.interpolate(img.permute(2, 0, 1)[None], size=(size[1], size[0]), mode="area")[0].permute(1, 2, 0)
    return img.float().cpu().numpy()


def wrong_moving_pixels(rendered: torch.Tensor, recorded_u8: torch.Tensor, background: np.ndarray,
                        moving_threshold: float, wrong_threshold: float) -> np.ndarray:
    """bool [h, w] of the downscaled view whose temporal median is ``background`` (float [h, w, 3] in [0, 1]):
    pixels where the recording (uint8 [H, W, 3]) shows moving content (differs from the median by more than
    ``moving_threshold`` in some channel) and the render (float [H, W, 3] in [0, 1]) is wrong there (differs from
    the recording by more than ``wrong_threshold``)."""
    size = (background.shape[1], background.shape[0])
    rec = _area(recorded_u8.to(rendered.device).float() / 255.0, size)
    ren = _area(rendered.float().clamp(0, 1), size)
    return (np.abs(rec - background) > moving_threshold).any(-1) & (np.abs(ren - rec) > wrong_threshold).any(-1)


def novel_points(xyz: np.ndarray, footprint: np.ndarray, existing: np.ndarray, radius: float = NOVEL_RADIUS
                 ) -> np.ndarray:
    """bool [M]: points ``xyz`` [M, 3] with no ``existing`` point [N, 3] within ``radius`` x their footprint
    [M] (scene units): content the model does not have yet, not the edge of an object it already has."""
    if len(existing) == 0 or len(xyz) == 0:
        return np.ones(len(xyz), dtype=bool)
    d, _ = cKDTree(existing).query(xyz, k=1)
    return d > radius * footprint


@torch.no_grad()
def refill_moving_gaussians(session: Any, step: int, progress: bool = False) -> int:
    """Seed dynamic Gaussians on the moving pixels the model still renders wrong (see the module docstring);
    returns how many were appended to ``session.state.model``."""
    s, cfg = session, session.cfg.moving
    model, scene = s.state.model, s.scene
    started = time.perf_counter()
    maps = s.time.time_maps()
    train_cams = s.frames.cameras
    cams = [c for c in train_cams
            if s.time.fixed or maps.cameras.get(c.name, TimeMap()).confidence >= TRUSTED_CONFIDENCE]
    if len(cams) < 2:
        return 0
    pos_of = {c.name: i for i, c in enumerate(train_cams)}
    sh_degree = model.config.sh_degree
    bg = s.background_choice
    background = (torch.zeros(3, device=s.device) if bg is None or bg.random else
                  torch.tensor(bg.rgb, dtype=torch.float32, device=s.device))
    ref = scene.camera(scene.reference_camera)
    spacing = cfg.spacing_frames / ref.fps
    settings = sweep_settings(scene, cfg)
    gen = torch.Generator().manual_seed(s.cfg.train.seed + 1)
    sweep_device = model.key_t0_s.device

    def view_at(video, i: int) -> tuple[np.ndarray, np.ndarray]:
        """(recorded frame downscaled, float32 [h, w, 3] in [0, 1]; moving-and-wrong mask bool [h, w])."""
        pos = pos_of[video.cam.name]
        recorded = s.frames.peek(pos, i)
        recorded = recorded if isinstance(recorded, torch.Tensor) else torch.from_numpy(np.ascontiguousarray(recorded))
        t = s.time.t_global_s(s.time_index[pos], s.tau_s[pos][i])
        rows = model.visible_dynamic_rows(t) if model.n_dynamic else None
        out = render(model.at_time(t, sh_degree=sh_degree, dynamic_rows=rows), s.render_camera(pos, step),
                     backend=s.cfg.render.backend, sh_degree=sh_degree, background=background,
                     near=s.cfg.render.near or scene.near, far=s.cfg.render.far or scene.far,
                     antialiased=s.cfg.render.antialiased, render_depth=False)
        rendered = s.camera_image(out.image[0], pos, step)
        small = _downscale(recorded, video.size).astype(np.float32) / 255.0
        return small, wrong_moving_pixels(rendered, recorded, video.background, cfg.threshold, cfg.refill_threshold)

    with ThreadPoolExecutor(max_workers=min(READ_THREADS, len(cams))) as pool:
        videos, _ = _open_videos(scene, cams, maps, cfg, pool, lambda cam, i: s.frames.peek(pos_of[cam.name], i))
    times, voxels, keep = [], [], []
    t_lo, t_hi = s.time.time_range_s()
    for t in tqdm(seed_times_s((t_lo, t_hi), spacing), desc="refilling moving content", unit="t",
                  disable=not progress, leave=False):
        picks = [(v, v.frame_at(float(t))) for v in videos]
        picks = [(v, i) for v, i in picks if i is not None]
        if len(picks) < 2:
            continue
        loaded = [view_at(v, i) for v, i in picks]
        if sum(int(m.any()) for _, m in loaded) < 2:
            continue
        pts = sweep_moving_points(_sweep_views([v for v, _ in picks], loaded, sweep_device), settings, gen)
        if pts.xyz.shape[0] == 0:
            continue
        g = model.dynamic_at(float(t))
        existing = g.means[g.opacities > VISIBLE_OPACITY].detach().cpu().double().numpy()
        novel = torch.from_numpy(novel_points(pts.xyz.cpu().double().numpy(), pts.footprint.cpu().double().numpy(),
                                              existing)).to(pts.xyz.device)
        if not bool(novel.any()):
            continue
        pts = voxel_subset(pts, torch.nonzero(novel)[:, 0])
        v, k = voxel_select(pts, float(pts.footprint.median()), cfg.max_points_per_time, gen, cfg.max_second_points())
        times.append(float(t))
        voxels.append(v)
        keep.append(k)
    if not voxels:
        log.info("step %d: moving refill found no wrong moving pixels that agree across views", step)
        return 0
    velocities = (seed_velocities(times, voxels, spacing, cfg.velocity_instants, cfg.velocity_split_passes)
                  if cfg.velocity else None)
    rows = seed_rows(model, scene, cfg, times, voxels, keep, velocities)
    ops.append(model.dynamic, rows, optimizers=s.state.optimizers["dynamic"])
    n = int(rows["opacities"].shape[0])
    log.info("step %d: moving refill seeded %d dynamic Gaussians at %d instants (%.0f per instant) in %.1f s; "
             "dynamic %d", step, n, len(times), n / len(times), time.perf_counter() - started, model.n_dynamic)
    return n


class MovingRefill(Callback):
    """Runs :func:`refill_moving_gaussians` once, after step ``at_step``."""

    name = "moving_refill"

    def __init__(self, session: Any, at_step: int, progress: bool = False):
        self.session, self.at_step, self.progress = session, int(at_step), progress
        self.done = False
        self.n_added = 0

    def after_step(self, state: TrainState, info: StepInfo) -> None:
        if self.done or info.step != self.at_step:
            return
        if self.session.distributed is not None:   # ranks hold different frames: they would seed differently
            log.warning("moving.refill_at: the error-driven refill runs in single-process training only; skipped")
            self.done = True
            return
        self.n_added = refill_moving_gaussians(self.session, info.step, self.progress)
        self.done = True

    def state_dict(self) -> dict[str, Any]:
        return {"done": self.done, "n_added": self.n_added}

    def load_state_dict(self, d: dict[str, Any]) -> None:
        self.done, self.n_added = bool(d.get("done", False)), int(d.get("n_added", 0))
