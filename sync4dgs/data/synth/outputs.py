"""Writers used by the generator: PNGs in a bounded thread pool, the static point cloud, depth bounds."""

from __future__ import annotations

import collections
import os
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import numpy as np
import torch

from sync4dgs.data.synth.raycast import PackedScene, PoseTables, closest_hits, resolve_hits, shade
from sync4dgs.data.synth.render import render_geometry
from sync4dgs.data.synth.rig import RigCamera
from sync4dgs.errors import DataFormatError


def to_uint8(images: torch.Tensor) -> np.ndarray:
    """float [..., 3] in [0, 1] (any device) -> uint8 numpy (round half up, as ``floor(x * 255 + 0.5)``)."""
    return torch.floor(images.clamp(0.0, 1.0) * 255.0 + 0.5).to(torch.uint8).cpu().numpy()


def write_png(path: Path, rgb: np.ndarray, compression: int) -> None:
    """Write RGB uint8 [H, W, 3] as a (lossless) PNG; DataFormatError naming the file on failure."""
    import cv2  # noqa: PLC0415

    ok = cv2.imwrite(str(path), np.ascontiguousarray(rgb[..., ::-1]), [cv2.IMWRITE_PNG_COMPRESSION, int(compression)])
    if not ok:
        raise DataFormatError(path, "could not write PNG")


class PngPool:
    """Write PNGs from a thread pool with at most ``max_pending`` images in flight (bounded memory)."""

    def __init__(self, workers: int | None, compression: int, max_pending: int | None = None):
        self.workers = workers or min(16, os.cpu_count() or 1)
        self.compression = compression
        self.max_pending = max_pending or 4 * self.workers
        self._pool = ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="synth-png")
        self._pending: collections.deque[Future] = collections.deque()

    def submit(self, path: Path, rgb: np.ndarray) -> None:
        while len(self._pending) >= self.max_pending:
            self._pending.popleft().result()
        self._pending.append(self._pool.submit(write_png, path, rgb, self.compression))

    def close(self) -> None:
        """Wait for every write (re-raising the first error) and stop the threads."""
        try:
            while self._pending:
                self._pending.popleft().result()
        finally:
            self._pool.shutdown(wait=True, cancel_futures=True)

    def __enter__(self) -> "PngPool":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def depth_bounds(packed: PackedScene, cam: RigCamera, t_s: float, max_side: int = 96) -> tuple[float, float]:
    """(min, max) camera-frame depth (metres) of everything a camera sees at time ``t_s``, from a render of
    at most ``max_side`` pixels across (intrinsics scaled accordingly)."""
    s = min(1.0, max_side / max(cam.width, cam.height))
    w, h = max(2, int(round(cam.width * s))), max(2, int(round(cam.height * s)))
    K = cam.K.copy()
    K[0] *= w / cam.width
    K[1] *= h / cam.height
    depth = render_geometry(packed, K, cam.R, cam.t, w, h, t_s, packed.device).depth
    finite = depth[np.isfinite(depth)]
    if finite.size == 0:
        raise DataFormatError(None, f"synth: camera {cam.name} sees nothing")
    return float(finite.min()), float(finite.max())


@torch.inference_mode()
def sample_static_points(packed: PackedScene, cams: list[RigCamera], t_s: float, n_points: int,
                         rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Points on the static surfaces seen by the cameras, with their colours.

    Casts ``n_points / len(cams)`` rays through uniformly random pixel positions of each camera against the
    static primitives only (moving objects do not hide the background: like SfM over many frames).
    Returns xyz float64 [M, 3] (metres) and rgb uint8 [M, 3], M <= n_points.
    """
    static_ids = [k for k, p in enumerate(packed.scene.primitives) if p.is_static]
    xyz, rgb = [], []
    per_cam = int(np.ceil(n_points / max(len(cams), 1)))
    for cam in cams:
        uv1 = np.stack([rng.uniform(0, cam.width, per_cam), rng.uniform(0, cam.height, per_cam),
                        np.ones(per_cam)], axis=1)
        d = uv1 @ np.linalg.inv(cam.K).T @ cam.R          # rows: R^T K^-1 (u, v, 1)
        d /= np.linalg.norm(d, axis=1, keepdims=True)
        dirs = torch.as_tensor(d, dtype=torch.float32, device=packed.device)
        poses = PoseTables.build(packed.scene, cam.center[None], np.array([t_s]), packed.device)
        t, prim = closest_hits(packed, static_ids, poses, dirs[None])
        hits = resolve_hits(packed, poses, t[0], prim[0], torch.zeros_like(prim[0]), dirs)
        keep = (prim[0] >= 0).cpu().numpy()
        dist = t[0].double().cpu().numpy()
        xyz.append((cam.center[None] + np.where(keep, dist, 0.0)[:, None] * d)[keep])
        rgb.append(to_uint8(shade(packed, hits))[keep])
    xyz_all, rgb_all = np.concatenate(xyz)[:n_points], np.concatenate(rgb)[:n_points]
    return xyz_all, rgb_all


def write_points_ply(path: Path, xyz: np.ndarray, rgb: np.ndarray) -> None:
    """Binary PLY with one ``vertex`` element: x, y, z float32 and red, green, blue uchar."""
    from plyfile import PlyData, PlyElement  # noqa: PLC0415

    v = np.empty(len(xyz), dtype=[("x", "f4"), ("y", "f4"), ("z", "f4"),
                                  ("red", "u1"), ("green", "u1"), ("blue", "u1")])
    for i, k in enumerate("xyz"):
        v[k] = xyz[:, i]
    for i, k in enumerate(("red", "green", "blue")):
        v[k] = rgb[:, i]
    PlyData([PlyElement.describe(v, "vertex")]).write(str(path))
