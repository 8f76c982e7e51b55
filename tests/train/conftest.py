"""A tiny canonical scene rendered from KNOWN Gaussians at KNOWN per-camera offsets (reference renderer).

4 cameras on an arc (32x24 px), 12 frames at 10 fps each; a static backdrop of coloured Gaussians and two
blobs moving on circles (1.5 world units/s, about 2 px per frame). True offsets (s): cam00 0 (reference),
cam01 +0.1, cam02 -0.1, cam03 +0.2. Written with points3d.ply (backdrop), gt_sync.json and
stage1/trajectories.npz (the blobs' true tracks, sampled every 0.05 s), like a stage-1 output would give.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch

from sync4dgs.data.points import save_points
from sync4dgs.data.scene import CameraSpec, FrameSource, SceneSpec
from sync4dgs.render import RenderCameras, render
from sync4dgs.render.conventions import look_at_viewmat, rgb_to_sh_dc
from sync4dgs.render.types import Gaussians
from sync4dgs.timemap import TimeMap, TimeMaps

W, H, FX = 32, 24, 44.0
FPS, N_FRAMES = 10.0, 12
TRUE_OFFSETS = {"cam00": 0.0, "cam01": 0.1, "cam02": -0.1, "cam03": 0.2}
BLOB_SPEED = 3.0          # rad/s on a circle of radius 0.5 -> 1.5 units/s
BLOB_RADIUS = 0.5


@pytest.fixture(autouse=True)
def _one_thread(torch_single_thread):
    """Tiny CPU renders are far faster (and timing-stable) single-threaded on a shared 2-core machine."""
    yield


def blob_positions(t_s: float | np.ndarray) -> np.ndarray:
    """[..., 2, 3] world positions of the two blobs at global time(s) t_s."""
    t = np.asarray(t_s, dtype=np.float64)[..., None]
    phase = np.array([0.0, math.pi])
    ang = BLOB_SPEED * t + phase
    return np.stack([BLOB_RADIUS * np.cos(ang), 0.4 * np.sin(ang), 0.3 + 0.0 * ang], axis=-1)


def _backdrop(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    xs, zs = np.meshgrid(np.linspace(-2.2, 2.2, 9), np.linspace(-1.2, 1.2, 5))
    xyz = np.stack([xs.ravel(), np.full(xs.size, 1.2), zs.ravel()], 1)   # a wall behind the origin (+y)
    rgb = rng.uniform(0.1, 0.9, (len(xyz), 3))
    return xyz, rgb


def _gaussians_at(t_s: float, wall_xyz: np.ndarray, wall_rgb: np.ndarray) -> Gaussians:
    blobs = blob_positions(t_s)
    means = np.concatenate([wall_xyz, blobs])
    rgb = np.concatenate([wall_rgb, np.array([[1.0, 0.9, 0.1], [0.1, 0.9, 1.0]])])
    scales = np.concatenate([np.full((len(wall_xyz), 3), 0.32), np.full((2, 3), 0.16)])
    n = len(means)
    f = dict(dtype=torch.float32)
    return Gaussians(means=torch.tensor(means, **f), quats=torch.tensor([[1.0, 0, 0, 0]] * n, **f),
                     scales=torch.tensor(scales, **f), opacities=torch.full((n,), 0.97, **f),
                     colors=rgb_to_sh_dc(torch.tensor(rgb, **f))[:, None, :])


def _cameras() -> list[CameraSpec]:
    cams = []
    for i, ang in enumerate(np.deg2rad([-28.0, -9.0, 10.0, 27.0])):
        eye = torch.tensor([3.6 * math.sin(ang), -3.6 * math.cos(ang), 0.4], dtype=torch.float64)
        vm = look_at_viewmat(eye, torch.tensor([0.0, 0.0, 0.2], dtype=torch.float64)).numpy()
        K = np.array([[FX, 0, W / 2], [0, FX, H / 2], [0, 0, 1.0]])
        cams.append(CameraSpec(name=f"cam{i:02d}", width=W, height=H, K=K, R=vm[:3, :3], t=vm[:3, 3], fps=FPS,
                               n_frames=N_FRAMES, frames=FrameSource("images", f"frames/cam{i:02d}", "{:05d}.png")))
    return cams


def make_gaussian_scene(root: Path) -> SceneSpec:
    import cv2

    rng = np.random.default_rng(0)
    wall_xyz, wall_rgb = _backdrop(rng)
    cams = _cameras()
    for cam in cams:
        rc = RenderCameras(viewmats=torch.tensor(cam.viewmat, dtype=torch.float32)[None],
                           Ks=torch.tensor(cam.K, dtype=torch.float32)[None], width=W, height=H)
        folder = root / cam.frames.path
        folder.mkdir(parents=True, exist_ok=True)
        for i, tau in enumerate(cam.tau_s()):
            g = _gaussians_at(TRUE_OFFSETS[cam.name] + tau, wall_xyz, wall_rgb)
            with torch.no_grad():
                img = render(g, rc, backend="torch", sh_degree=0, background=torch.zeros(3)).image[0]
            arr = (img.clamp(0, 1).numpy() * 255 + 0.5).astype(np.uint8)
            cv2.imwrite(str(folder / f"{i:05d}.png"), cv2.cvtColor(arr, cv2.COLOR_RGB2BGR))
    scene = SceneSpec(root=root, cameras=cams, reference_camera="cam00", test_cameras=[], near=0.5, far=20.0)
    scene.save()
    save_points(scene.points_path, wall_xyz, (wall_rgb * 255).astype(np.uint8))
    TimeMaps("cam00", {n: TimeMap(o, 1.0, 1.0, "reference" if n == "cam00" else "aligned")
                       for n, o in TRUE_OFFSETS.items()}).save(scene.gt_sync_path)
    times = np.arange(-0.4, 1.65, 0.05)
    (root / "stage1").mkdir()
    np.savez(root / "stage1" / "trajectories.npz", times_s=times,
             xyz=blob_positions(times).transpose(1, 0, 2), rgb=np.array([[255, 230, 25], [25, 230, 255]], np.uint8))
    return scene


@pytest.fixture(scope="session")
def gaussian_scene(tmp_path_factory) -> SceneSpec:
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return make_gaussian_scene(tmp_path_factory.mktemp("gscene"))
    finally:
        torch.set_num_threads(n)


def write_offsets(path: Path, offsets: dict[str, float]) -> Path:
    """A stage-1-style offsets.json with the given offsets (seconds)."""
    TimeMaps("cam00", {n: TimeMap(o, 1.0, 0.9, "reference" if n == "cam00" else "aligned")
                       for n, o in offsets.items()}).save(path)
    return path


# Settings for this tiny scene: Adam (RAdam's rectification warm-up is slow over a few hundred steps) and higher
# Gaussian learning rates than the 30k-iteration defaults, so geometry settles in a few hundred iterations;
# frequent logging; no TensorBoard (speed).
FAST = {"optim.optimizer": "adam", "train.device": "cpu", "render.backend": "torch", "model.sh_degree": "0",
        "model.keyframe_interval_frames": "2", "model.time_margin_s": "0.1", "model.init_opacity": "0.8",
        "model.trajectory_scale_factor": "0.3",
        "optim.static.means": "1e-3", "optim.static.means_final": "1e-4", "optim.dynamic.key_means": "1e-3",
        "optim.dynamic.key_means_final": "1e-4", "optim.static.sh0": "0.02", "optim.dynamic.sh0": "0.02",
        "optim.static.scales": "0.01", "optim.dynamic.scales": "0.01", "time.offset_lr": "0.005",
        "time.sync_every": "10", "log.log_every": "10", "log.tensorboard": "false", "log.progress": "false",
        "guard.check_every": "10", "train.checkpoint_every": "0"}


@pytest.fixture
def make_cfg():
    """make_cfg(**overrides) -> ExperimentConfig for the tiny Gaussian scene (dotted keys via dict)."""
    from sync4dgs.train import load_config

    def _make(overrides: dict[str, str] | None = None):
        return load_config(None, {**FAST, **(overrides or {})})
    return _make


@pytest.fixture
def offsets_file():
    return write_offsets


@pytest.fixture(scope="session")
def held_out_reference_scene(gaussian_scene, tmp_path_factory) -> SceneSpec:
    """The same capture with the reference camera cam00 held out as the test camera (as N3V's cam00)."""
    import shutil

    from sync4dgs.data.scene import load_scene

    root = tmp_path_factory.mktemp("gscene_heldout") / "scene"
    shutil.copytree(gaussian_scene.root, root)
    scene = load_scene(root)
    scene.test_cameras = ["cam00"]
    scene.save()
    return scene
