"""Render synthetic views at continuous global times, in memory-bounded chunks.

Public entry points:

* :func:`render_view` — one image of any pinhole camera at any global time (seconds).
* :func:`render_frames` — many frames of one camera, yielded chunk by chunk (bounded memory).
* :func:`render_geometry` — per-pixel hit point / depth / primitive id (ground truth geometry).

Cameras are OpenCV world-to-camera ``x_cam = R @ x_world + t`` with pinhole ``K`` in pixels; pixel (i, j)
spans [j, j+1] x [i, i+1] in continuous pixel coordinates.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

import numpy as np
import torch

from sync4dgs.data.synth.raycast import PackedScene, camera_rays, intersect, shade
from sync4dgs.data.synth.scene_def import SceneDef
from sync4dgs.utils.device import resolve_device

# Default ray budget per chunk (rays = pixels x supersample^2 x frames); bounds peak memory to roughly
# 0.6 KB per ray: ~1.2 GB on CPU, ~20 GB on CUDA.
DEFAULT_MAX_RAYS = {"cpu": 1 << 21, "cuda": 1 << 25}


def _packed(scene: SceneDef | PackedScene, device: torch.device) -> PackedScene:
    if isinstance(scene, PackedScene) and scene.device == device:
        return scene
    return PackedScene(scene.scene if isinstance(scene, PackedScene) else scene, device)


def _max_rays(device: torch.device, max_rays: int | None) -> int:
    return int(max_rays) if max_rays else DEFAULT_MAX_RAYS.get(device.type, 1 << 21)


def _camera_center(R: np.ndarray, t: np.ndarray) -> np.ndarray:
    return -np.asarray(R, dtype=np.float64).T @ np.asarray(t, dtype=np.float64).reshape(3)


@torch.inference_mode()
def _render_rows(packed: PackedScene, K, R, t, width: int, times_s: np.ndarray, row0: int, row1: int,
                 supersample: int) -> torch.Tensor:
    """Rows row0:row1 of B frames at ``times_s`` [B] -> float32 [B, row1-row0, width, 3] in [0, 1]."""
    S = int(supersample)
    dirs = camera_rays(K, R, width, row0, row1, S, packed.device)           # [P, 3]
    B = len(times_s)
    origins = np.broadcast_to(_camera_center(R, t), (B, 3))
    rgb = shade(packed, intersect(packed, origins, dirs.unsqueeze(0).expand(B, -1, -1), times_s))
    rgb = rgb.reshape(B, row1 - row0, S, width, S, 3)
    return rgb.mean(dim=(2, 4)) if S > 1 else rgb[:, :, 0, :, 0]


def render_frames(scene: SceneDef | PackedScene, K: np.ndarray, R: np.ndarray, t: np.ndarray, width: int,
                  height: int, times_s, device: str | torch.device | None = "cpu", supersample: int = 1,
                  max_rays: int | None = None) -> Iterator[tuple[int, torch.Tensor]]:
    """Render one camera at many global times, chunk by chunk.

    Args:
        times_s: [T] global times in seconds (one per frame).
        supersample: S; each pixel averages S x S sub-pixel rays (anti-aliasing).
        max_rays: ray budget per chunk (default by device, see ``DEFAULT_MAX_RAYS``).
    Yields:
        ``(first_frame_index, images)`` with images float32 [b, height, width, 3] in [0, 1] on ``device``;
        frames are batched when several fit the budget, otherwise each frame is rendered in row tiles.
    """
    dev = resolve_device(device) if not isinstance(device, torch.device) else device
    packed = _packed(scene, dev)
    times = np.asarray(times_s, dtype=np.float64).reshape(-1)
    rays_per_row = width * supersample * supersample
    budget = _max_rays(dev, max_rays)
    per_chunk = max(1, budget // (rays_per_row * height))
    rows_per_tile = max(1, min(height, budget // rays_per_row))
    for i0 in range(0, len(times), per_chunk):
        ts = times[i0:i0 + per_chunk]
        if rows_per_tile >= height:
            yield i0, _render_rows(packed, K, R, t, width, ts, 0, height, supersample)
            continue
        tiles = [_render_rows(packed, K, R, t, width, ts, r0, min(height, r0 + rows_per_tile), supersample)
                 for r0 in range(0, height, rows_per_tile)]
        yield i0, torch.cat(tiles, dim=1)


def render_view(scene: SceneDef | PackedScene, K: np.ndarray, R: np.ndarray, t: np.ndarray, width: int,
                height: int, t_global_s: float, device: str | torch.device | None = "cpu",
                supersample: int = 1, max_rays: int | None = None) -> torch.Tensor:
    """One view at global time ``t_global_s`` (seconds): float32 [height, width, 3] in [0, 1] on ``device``.

    ``supersample`` must match the generator's (``SynthConfig.supersample``) to reproduce its frames.
    """
    chunks = [img for _, img in render_frames(scene, K, R, t, width, height, [float(t_global_s)], device,
                                              supersample, max_rays)]
    return torch.cat(chunks, 0)[0]


@dataclass
class GeometryView:
    """Per-pixel ground-truth geometry at pixel centres (numpy, CPU).

    depth: [H, W] float64 camera-frame z in metres (inf where nothing was hit).
    prim: [H, W] int64 primitive index (-1 = nothing).
    points: [H, W, 3] float64 world hit points (nan where nothing was hit).
    rgb: [H, W, 3] float32 shaded colour at the pixel centre, in [0, 1].
    """

    depth: np.ndarray
    prim: np.ndarray
    points: np.ndarray
    rgb: np.ndarray


@torch.inference_mode()
def render_geometry(scene: SceneDef | PackedScene, K: np.ndarray, R: np.ndarray, t: np.ndarray, width: int,
                    height: int, t_global_s: float, device: str | torch.device | None = "cpu") -> GeometryView:
    """Hit geometry of every pixel centre of one view at global time ``t_global_s`` (seconds)."""
    dev = resolve_device(device) if not isinstance(device, torch.device) else device
    packed = _packed(scene, dev)
    dirs = camera_rays(K, R, width, 0, height, 1, dev)
    origin = _camera_center(R, t)
    hits = intersect(packed, origin[None], dirs[None], np.array([float(t_global_s)]))
    rgb = shade(packed, hits)[0].reshape(height, width, 3).cpu().numpy()
    dist = hits.t[0].double().cpu().numpy().reshape(height, width)
    d = dirs.double().cpu().numpy().reshape(height, width, 3)
    points = origin[None, None] + np.where(np.isfinite(dist), dist, np.nan)[..., None] * d
    Rm, tv = np.asarray(R, dtype=np.float64), np.asarray(t, dtype=np.float64).reshape(3)
    depth = np.where(np.isfinite(dist), (points @ Rm.T + tv)[..., 2], np.inf)
    return GeometryView(depth, hits.prim[0].cpu().numpy().reshape(height, width), points, rgb)
