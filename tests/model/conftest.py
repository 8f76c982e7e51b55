"""Fixtures for the model tests: small random 4D models (float64 for derivative checks)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from sync4dgs.model import Gaussians4D, ModelConfig
from sync4dgs.model.initialize import local_dynamic_rows, model_from_points
from sync4dgs.render.conventions import look_at_viewmat
from sync4dgs.render.types import RenderCameras

FPS = 30.0
T_RANGE = (0.0, 2.0)


def make_trajectories(rng: np.random.Generator, m: int = 6, t: int = 61) -> dict:
    """Smooth tracks sampled at 30 fps over T_RANGE, with NaN gaps and one all-NaN track."""
    times = np.linspace(*T_RANGE, t)
    phase = rng.uniform(0, 2 * np.pi, size=(m, 1))
    xyz = np.stack([np.cos(times[None] + phase), np.sin(2 * times[None] + phase),
                    0.3 * times[None] + np.arange(m)[:, None]], axis=-1)
    xyz[0, :10] = np.nan          # appears late
    xyz[1, 20:30] = np.nan        # gap in the middle
    xyz[2, -15:] = np.nan         # disappears early
    xyz[3] = np.nan               # never valid -> dropped
    rgb = rng.integers(0, 256, size=(m, 3), dtype=np.uint8)
    return {"times_s": times, "xyz": xyz, "rgb": rgb}


def randomize_dynamic(model: Gaussians4D, seed: int = 0) -> Gaussians4D:
    """Give the dynamic set non-trivial rotations, temporal windows and colours (in place)."""
    g = torch.Generator().manual_seed(seed)
    d = model.dynamic
    with torch.no_grad():
        d["key_means"].add_(0.2 * torch.randn(d["key_means"].shape, generator=g, dtype=d["key_means"].dtype))
        d["key_quats"].copy_(torch.randn(d["key_quats"].shape, generator=g, dtype=d["key_quats"].dtype))
        d["t_center"].copy_(torch.tensor([0.4, 1.5], dtype=d["t_center"].dtype)
                            + 0.1 * torch.randn(d["t_center"].shape, generator=g, dtype=d["t_center"].dtype))
        d["t_logwidth"].fill_(-1.5)
        d["shN"].normal_(0, 0.1, generator=g)
        model.static["shN"].normal_(0, 0.1, generator=g)
        model.static["quats"].normal_(0, 1, generator=g)
    return model


def _local_seed_rows(model: Gaussians4D, m: int, seed: int, spread_frames: int, extent: float,
                     scale: float) -> tuple[dict[str, torch.Tensor], torch.Generator]:
    """Rows (for ``ops.append(model.dynamic, ...)``) of ``m`` float64 temporally local dynamic Gaussians like
    moving-content seeds: instants on a 1/30 s grid over ``spread_frames`` frames after the first interior keyframe,
    visible ~2 frames each, positions ~N(0, extent^2), random velocities, isotropic ``scale``; and the generator
    that drew them (for further draws)."""
    g = torch.Generator().manual_seed(seed)
    t0, dt = float(model.key_t0_s), float(model.key_interval_s)
    t_s = t0 + dt + torch.floor(torch.rand(m, generator=g, dtype=torch.float64) * spread_frames) / 30.0
    rows = local_dynamic_rows(
        xyz=extent * torch.randn(m, 3, generator=g, dtype=torch.float64),
        velocity=torch.randn(m, 3, generator=g, dtype=torch.float64),
        rgb01=torch.rand(m, 3, generator=g, dtype=torch.float64),
        log_scales=torch.full((m,), math.log(scale), dtype=torch.float64), t_s=t_s,
        plateau_half_s=0.25 / 30, falloff_s=0.35 / 30, key_times_s=model.keyframe_times_s().detach(),
        config=model.config)
    return rows, g


@pytest.fixture
def local_seed_rows():
    """local_seed_rows(model, m, seed, spread_frames, extent, scale) -> (rows, generator): see _local_seed_rows."""
    return _local_seed_rows


@pytest.fixture
def small_camera() -> RenderCameras:
    """One float64 48x32 camera 4 units from the origin, looking at it."""
    return RenderCameras(look_at_viewmat(torch.tensor([0.0, -4.0, 0.5], dtype=torch.float64),
                                         torch.zeros(3, dtype=torch.float64))[None],
                         torch.tensor([[[40.0, 0, 24], [0, 40.0, 16], [0, 0, 1]]], dtype=torch.float64), 48, 32)


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(1234)


@pytest.fixture
def model64(rng) -> Gaussians4D:
    xyz = rng.normal(size=(40, 3))
    rgb = rng.integers(0, 256, size=(40, 3), dtype=np.uint8)
    m = model_from_points(xyz, rgb, T_RANGE, ModelConfig(sh_degree=2, time_margin_s=0.3),
                          make_trajectories(rng), fps_ref=FPS)
    return randomize_dynamic(m.double())
