"""Shared plumbing of the benchmark scenes rendered by Gaussian splatting (the pure-torch reference rasteriser) instead
of our synth ray caster: benchmarks/other_renderer_scene.py and benchmarks/fast_occlusion_scene.py describe WHAT
moves; this module builds the Gaussians, the cameras on an arc, renders every camera's frames at its own capture
times and writes the canonical scene (scene.json, PNG frames, points3d.ply, gt_sync.json)."""
from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import torch

from sync4dgs.data.points import save_points
from sync4dgs.data.scene import CameraSpec, FrameSource, SceneSpec
from sync4dgs.render import RenderCameras, render
from sync4dgs.render.conventions import look_at_viewmat, rgb_to_sh_dc
from sync4dgs.render.types import Gaussians
from sync4dgs.timemap import TimeMap, TimeMaps


def splats(means: np.ndarray, rgb: np.ndarray, scales: np.ndarray, opacity: float) -> Gaussians:
    """Isotropic, unrotated Gaussians: means [N, 3], colours [N, 3] in [0, 1], scales [N, 3], one opacity."""
    n = len(means); f = dict(dtype=torch.float32)
    return Gaussians(means=torch.tensor(means, **f), quats=torch.tensor([[1.0, 0, 0, 0]] * n, **f),
                     scales=torch.tensor(scales, **f), opacities=torch.full((n,), opacity, **f),
                     colors=rgb_to_sh_dc(torch.tensor(rgb, **f))[:, None, :])


def arc_cameras(fps: dict[str, float], n_ref_frames: int, angles_deg: np.ndarray, radius: float, height: float,
                target: tuple[float, float, float], width: int, height_px: int, fx: float) -> list[CameraSpec]:
    """One static camera per name of ``fps`` (in order) at ``radius`` around the origin (angle 0 looks along +y),
    ``height`` above it, looking at ``target``; each films n_ref_frames x its fps / 30 frames."""
    cams = []
    for (name, rate), ang in zip(fps.items(), np.deg2rad(angles_deg)):
        eye = torch.tensor([radius * math.sin(ang), -radius * math.cos(ang), height], dtype=torch.float64)
        vm = look_at_viewmat(eye, torch.tensor(target, dtype=torch.float64)).numpy()
        K = np.array([[fx, 0, width / 2], [0, fx, height_px / 2], [0, 0, 1.0]])
        cams.append(CameraSpec(name=name, width=width, height=height_px, K=K, R=vm[:3, :3], t=vm[:3, 3], fps=rate,
                               n_frames=int(round(n_ref_frames * rate / 30.0)),
                               frames=FrameSource("images", f"frames/{name}", "{:05d}.png")))
    return cams


def write_scene(root: Path, cams: list[CameraSpec], gaussians_at: Callable[[float], Gaussians],
                offsets_s: dict[str, float], points_xyz: np.ndarray, points_rgb01: np.ndarray) -> SceneSpec:
    """Render camera c's frame i at global time offsets_s[c] + tau_i (black background, 2 CPU threads), then write
    the scene (cam00 reference and test camera, near 0.5, far 20), its initial points and the true time maps."""
    torch.set_num_threads(2)
    for cam in cams:
        rc = RenderCameras(viewmats=torch.tensor(cam.viewmat, dtype=torch.float32)[None],
                           Ks=torch.tensor(cam.K, dtype=torch.float32)[None], width=cam.width, height=cam.height)
        folder = root / cam.frames.path; folder.mkdir(parents=True, exist_ok=True)
        for i, tau in enumerate(cam.tau_s()):
            with torch.no_grad():
                img = render(gaussians_at(offsets_s[cam.name] + tau), rc, backend="torch", sh_degree=0,
                             background=torch.zeros(3)).image[0]
            arr = (img.clamp(0, 1).numpy() * 255 + 0.5).astype(np.uint8)
            cv2.imwrite(str(folder / f"{i:05d}.png"), cv2.cvtColor(arr, cv2.COLOR_RGB2BGR))
    scene = SceneSpec(root=root, cameras=cams, reference_camera="cam00", test_cameras=["cam00"], near=0.5, far=20.0)
    scene.save()
    save_points(scene.points_path, points_xyz, (points_rgb01 * 255).astype(np.uint8))
    TimeMaps("cam00", {n: TimeMap(o, 1.0, 1.0, "reference" if n == "cam00" else "aligned")
                       for n, o in offsets_s.items()}).save(scene.gt_sync_path)
    return scene
