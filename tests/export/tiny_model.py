"""A tiny scene (4 cameras, scene.json only) and a tiny Gaussians4D saved with the model API.

Shared by tests/export and tests/viewer (loaded by file path from their conftest.py).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch

from sync4dgs.data.scene import CameraSpec, FrameSource, SceneSpec
from sync4dgs.model.config import ModelConfig
from sync4dgs.model.gaussians4d import Gaussians4D
from sync4dgs.model.io import model_file, save_model
from sync4dgs.timemap import TimeMap, TimeMaps
from sync4dgs.utils.geometry import look_at

W, H, FPS, N_FRAMES = 32, 24, 10.0, 10
CAMERAS = ("cam00", "cam01", "cam02", "cam03")
OFFSETS_S = {"cam00": 0.0, "cam01": 0.1, "cam02": -0.05, "cam03": 0.2}


def make_scene(root: Path) -> SceneSpec:
    """A forward-facing arc of 4 cameras 3 units from the origin (world up = -y), 32x24 px, 10 fps, 10 frames."""
    cams = []
    for i, name in enumerate(CAMERAS):
        a = math.radians(-30 + 20 * i)
        pos = np.array([3 * math.sin(a), -0.4, -3 * math.cos(a)])
        R, t = look_at(pos, np.zeros(3), np.array([0.0, -1.0, 0.0]))
        K = np.array([[30.0, 0, W / 2], [0, 30.0, H / 2], [0, 0, 1]])
        cams.append(CameraSpec(name, W, H, K, R, t, FPS, N_FRAMES, FrameSource("video", f"videos/{name}.mp4")))
    scene = SceneSpec(root=root, cameras=cams, reference_camera="cam00", test_cameras=[], near=0.1, far=20.0)
    scene.save()
    return scene


def make_model(seed: int = 0, sh_degree: int = 1) -> Gaussians4D:
    """40 static Gaussians in a ball + 12 dynamic ones sweeping along x over t in [0, 0.9] s."""
    g = torch.Generator().manual_seed(seed)
    cfg = ModelConfig(sh_degree=sh_degree, keyframe_interval_frames=5)
    B = (sh_degree + 1) ** 2
    Ns, Nd, K = 40, 12, 6
    static = {
        "means": torch.randn(Ns, 3, generator=g) * 0.5,
        "quats": torch.nn.functional.normalize(torch.randn(Ns, 4, generator=g), dim=-1),
        "scales": torch.full((Ns, 3), math.log(0.12)) + 0.2 * torch.randn(Ns, 3, generator=g),
        "opacities": torch.full((Ns,), 1.5),
        "sh0": torch.randn(Ns, 1, 3, generator=g) * 1.2,
        "shN": torch.randn(Ns, B - 1, 3, generator=g) * 0.2,
    }
    key_t0_s, dt = -0.5, 0.4
    tk = key_t0_s + dt * torch.arange(K)
    base = torch.randn(Nd, 1, 3, generator=g) * 0.3
    key_means = base + torch.stack([1.2 * tk, torch.zeros(K), torch.zeros(K)], -1)[None] - torch.tensor([0.5, 0, 0])
    dynamic = {
        "key_means": key_means,
        "key_quats": torch.nn.functional.normalize(torch.randn(Nd, K, 4, generator=g), dim=-1),
        "scales": torch.full((Nd, 3), math.log(0.15)),
        "opacities": torch.full((Nd,), 2.0),
        "sh0": torch.randn(Nd, 1, 3, generator=g) * 1.5,
        "shN": torch.randn(Nd, B - 1, 3, generator=g) * 0.2,
        "t_center": torch.tensor([[0.0, 0.6]]).repeat(Nd, 1) + 0.1 * torch.randn(Nd, 2, generator=g),
        "t_logwidth": torch.full((Nd, 2), math.log(0.2)),
    }
    return Gaussians4D(cfg, static, dynamic, key_t0_s, dt)


def time_maps() -> TimeMaps:
    return TimeMaps("cam00", {n: TimeMap(o, 1.0, 1.0, "reference" if n == "cam00" else "aligned")
                              for n, o in OFFSETS_S.items()})


def make_model_folder(root: Path, iteration: int = 7, with_trajectories: bool = True) -> tuple[Path, Path]:
    """Write SCENE (scene.json) and M (point_cloud/iteration_<n>/model.pt [+ stage1/trajectories.npz]).

    Returns (model folder, scene folder).
    """
    scene_root = root / "scene"
    make_scene(scene_root)
    m = root / "model"
    save_model(model_file(m, iteration), make_model(), time_maps(), {"source_path": str(scene_root)})
    if with_trajectories:
        rng = np.random.default_rng(0)
        times = np.arange(N_FRAMES) / FPS
        xyz = rng.normal(scale=0.3, size=(5, 1, 3)) + np.stack([times, 0 * times, 0 * times], -1)[None]
        xyz[0, 6:] = np.nan
        (m / "stage1").mkdir(parents=True)
        np.savez(m / "stage1" / "trajectories.npz", times_s=times, xyz=xyz,
                 rgb=rng.integers(0, 255, size=(5, 3)).astype(np.uint8))
    return m, scene_root
