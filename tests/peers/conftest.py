"""Small canonical scenes (random PNG frames, known time maps) for the Ex4DGS converter and scorer tests.

The tests exercise our own scripts in benchmarks/peers/ex4dgs/ only; Ex4DGS itself is not needed.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from sync4dgs.data.points import save_points
from sync4dgs.data.scene import CameraSpec, FrameSource, SceneSpec
from sync4dgs.render.conventions import look_at_viewmat
from sync4dgs.timemap import TimeMap, TimeMaps

PEER_DIR = Path(__file__).resolve().parents[2] / "benchmarks" / "peers" / "ex4dgs"
W, H = 24, 16


@pytest.fixture
def peer_module():
    """peer_module(name) imports benchmarks/peers/ex4dgs/<name>.py."""
    def load(name: str):
        if str(PEER_DIR) not in sys.path:
            sys.path.insert(0, str(PEER_DIR))
        return __import__(name)
    return load


def make_scene(root: Path, cams: list[tuple[str, float, int, float]], test: str, reference: str,
               cx_shift: float = 0.0) -> SceneSpec:
    """A scene with cameras ``(name, fps, n_frames, true offset_s)`` on an arc, random PNG frames, 50 points and
    gt_sync.json. ``cx_shift`` moves the principal points (px)."""
    import cv2  # noqa: PLC0415

    rng = np.random.default_rng(7)
    specs = []
    for k, (name, fps, n, _) in enumerate(cams):
        ang = np.deg2rad(-30 + 60 * k / max(1, len(cams) - 1))
        eye = torch.tensor([3 * np.sin(ang), -3 * np.cos(ang), 0.4], dtype=torch.float64)
        vm = look_at_viewmat(eye, torch.zeros(3, dtype=torch.float64)).numpy()
        K = np.array([[30.0 + k, 0, W / 2 + cx_shift], [0, 31.0 + k, H / 2], [0, 0, 1.0]])
        cam = CameraSpec(name=name, width=W, height=H, K=K, R=vm[:3, :3], t=vm[:3, 3], fps=fps, n_frames=n,
                         frames=FrameSource("images", f"frames/{name}", "{:05d}.png"))
        folder = root / cam.frames.path
        folder.mkdir(parents=True)
        for i in range(n):
            cv2.imwrite(str(folder / f"{i:05d}.png"), rng.integers(0, 256, (H, W, 3), dtype=np.uint8))
        specs.append(cam)
    scene = SceneSpec(root=root, cameras=specs, reference_camera=reference, test_cameras=[test], near=0.5, far=9.0)
    scene.save()
    save_points(scene.points_path, rng.uniform(-1, 1, (50, 3)), rng.integers(0, 256, (50, 3), dtype=np.uint8))
    TimeMaps(reference, {name: TimeMap(off, 1.0, 1.0, "reference" if name == reference else "aligned")
                         for name, _, _, off in cams}).save(scene.gt_sync_path)
    return scene


@pytest.fixture
def whole_frame_scene(tmp_path) -> SceneSpec:
    """Test camera 'left' (the reference), training cameras 'cam00' (+2 frames) and 'cam05' (-3 frames), 30 fps."""
    return make_scene(tmp_path / "whole", [("left", 30.0, 10, 0.0), ("cam00", 30.0, 10, 2 / 30),
                                           ("cam05", 30.0, 12, -3 / 30)], test="left", reference="left")


@pytest.fixture
def subframe_scene(tmp_path) -> SceneSpec:
    """Reference/test 'r' at 30 fps, 'a' offset by 1.4 reference frames, 'b' at 25 fps offset by -0.3 frames."""
    return make_scene(tmp_path / "sub", [("r", 30.0, 15, 0.0), ("a", 30.0, 15, 1.4 / 30), ("b", 25.0, 13, -0.3 / 30)],
                      test="r", reference="r")
