"""Fixtures for eval tests: a tiny hand-built scene (PNG frames) and a real saved Gaussians4D model folder."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from sync4dgs.data.scene import CameraSpec, FrameSource, SceneSpec
from sync4dgs.model.config import ModelConfig
from sync4dgs.model.gaussians4d import Gaussians4D
from sync4dgs.model.io import save_model
from sync4dgs.timemap import TimeMap, TimeMaps
from sync4dgs.utils.geometry import look_at

W, H = 40, 32
N_FRAMES = 4
FPS = {"cam00": 10.0, "cam01": 10.0, "cam02": 8.0}
# truth used for gt_sync.json; the "learned" maps in the model differ slightly
TRUE_OFFSETS = {"cam00": 0.0, "cam01": 0.25, "cam02": -0.1}
LEARNED_OFFSETS = {"cam00": 0.0, "cam01": 0.25 + 0.05, "cam02": -0.1 - 0.0125}   # +0.5 frame, -0.1 frame
ITERATION = 7


def make_scene(root: Path) -> SceneSpec:
    """3 cameras around the origin; cam00 is the reference AND the test camera (as in the synth presets)."""
    rng = np.random.default_rng(0)
    cams = []
    for k, name in enumerate(FPS):
        ang = 2 * math.pi * k / 3
        R, t = look_at(np.array([3 * math.cos(ang), 3 * math.sin(ang), 0.5]), np.zeros(3))
        K = np.array([[30.0, 0, W / 2], [0, 30.0, H / 2], [0, 0, 1]])
        folder = root / "images" / name
        folder.mkdir(parents=True)
        for i in range(N_FRAMES):
            img = rng.integers(0, 256, (H, W, 3), dtype=np.uint8)
            cv2.imwrite(str(folder / f"{i:05d}.png"), img)
        cams.append(CameraSpec(name, W, H, K, R, t, FPS[name], N_FRAMES,
                               FrameSource("images", f"images/{name}", "{:05d}.png")))
    scene = SceneSpec(root=root, cameras=cams, reference_camera="cam00", test_cameras=["cam00"], near=0.1, far=20.0)
    scene.save()
    TimeMaps("cam00", {n: TimeMap(o, 1.0, 1.0, "reference" if n == "cam00" else "aligned")
                       for n, o in TRUE_OFFSETS.items()}).save(root / "gt_sync.json")
    return scene


def make_model(seed: int = 0) -> Gaussians4D:
    """20 static + 6 moving dynamic Gaussians near the origin, SH degree 1, keyframes every 0.2 s."""
    g = torch.Generator().manual_seed(seed)
    cfg = ModelConfig(sh_degree=1)
    ns, nd, K = 20, 6, 8
    static = {"means": torch.randn(ns, 3, generator=g) * 0.5, "quats": torch.randn(ns, 4, generator=g),
              "scales": torch.full((ns, 3), math.log(0.15)), "opacities": torch.full((ns,), 1.0),
              "sh0": torch.randn(ns, 1, 3, generator=g), "shN": 0.1 * torch.randn(ns, 3, 3, generator=g)}
    base = torch.randn(nd, 1, 3, generator=g) * 0.3
    vel = torch.randn(nd, 1, 3, generator=g)
    kt = torch.arange(K, dtype=torch.float32).view(1, K, 1) * 0.2
    dynamic = {"key_means": base + vel * kt, "key_quats": torch.randn(nd, K, 4, generator=g),
               "scales": torch.full((nd, 3), math.log(0.2)), "opacities": torch.full((nd,), 2.0),
               "sh0": torch.randn(nd, 1, 3, generator=g), "shN": 0.1 * torch.randn(nd, 3, 3, generator=g),
               "t_center": torch.tensor([[-0.5, 1.5]]).repeat(nd, 1), "t_logwidth": torch.zeros(nd, 2)}
    return Gaussians4D(cfg, static, dynamic, key_t0_s=-0.4, key_interval_s=0.2)


def learned_maps() -> TimeMaps:
    """Time maps of the training cameras only (cam00 is held out but is the reference)."""
    return TimeMaps("cam00", {n: TimeMap(o, 1.0, 1.0, "reference" if n == "cam00" else "aligned")
                              for n, o in LEARNED_OFFSETS.items()})


@dataclass
class TinySetup:
    scene: SceneSpec
    model_path: Path
    model: Gaussians4D
    time_maps: TimeMaps


@pytest.fixture
def tiny(tmp_path) -> TinySetup:
    scene = make_scene(tmp_path / "scene")
    model = make_model()
    mp = tmp_path / "model"
    save_model(mp / "point_cloud" / f"iteration_{ITERATION}" / "model.pt", model, learned_maps(),
               {"source_path": str(scene.root), "config": {"train": {"background": [0.2, 0.3, 0.4]}}})
    return TinySetup(scene, mp, model, learned_maps())
