"""A tiny scene (2 cameras, 32x24 px, 6 frames) and a tiny saved model for smoke tests of the benchmark scripts."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from sync4dgs.data.points import save_points
from sync4dgs.data.scene import CameraSpec, FrameSource, SceneSpec
from sync4dgs.render.conventions import look_at_viewmat

BENCH_DIR = Path(__file__).resolve().parents[2] / "benchmarks"
W, H, N_FRAMES, FPS = 32, 24, 6, 10.0


def _import_bench(name: str):
    if str(BENCH_DIR) not in sys.path:
        sys.path.insert(0, str(BENCH_DIR))
    return __import__(name)


@pytest.fixture
def bench_module():
    """bench_module(name) imports benchmarks/<name>.py as a module."""
    return _import_bench


@pytest.fixture(autouse=True)
def _one_thread(torch_single_thread):
    yield


@pytest.fixture(scope="session")
def tiny_scene(tmp_path_factory) -> SceneSpec:
    import cv2

    root = tmp_path_factory.mktemp("bench_scene")
    rng = np.random.default_rng(0)
    cams = []
    for i, x in enumerate((-0.6, 0.6)):
        eye = torch.tensor([x, -3.0, 0.3], dtype=torch.float64)
        vm = look_at_viewmat(eye, torch.zeros(3, dtype=torch.float64)).numpy()
        K = np.array([[40.0, 0, W / 2], [0, 40.0, H / 2], [0, 0, 1.0]])
        cam = CameraSpec(name=f"cam{i:02d}", width=W, height=H, K=K, R=vm[:3, :3], t=vm[:3, 3], fps=FPS,
                         n_frames=N_FRAMES, frames=FrameSource("images", f"frames/cam{i:02d}", "{:05d}.png"))
        folder = root / cam.frames.path
        folder.mkdir(parents=True)
        for f in range(N_FRAMES):
            cv2.imwrite(str(folder / f"{f:05d}.png"), rng.integers(0, 256, (H, W, 3), dtype=np.uint8))
        cams.append(cam)
    scene = SceneSpec(root=root, cameras=cams, reference_camera="cam00", test_cameras=[], near=0.5, far=20.0)
    scene.save()
    save_points(scene.points_path, rng.uniform(-1, 1, (60, 3)), rng.integers(0, 256, (60, 3), dtype=np.uint8))
    return scene
