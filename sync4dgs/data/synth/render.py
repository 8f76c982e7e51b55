"""Render synthetic views at continuous global times, in memory-bounded chunks.

Public entry points:

* :func:`render_view` — one image of any pinhole camera at any global time (seconds).
* :func:`render_frames` — many frames of one camera, yielded chunk by chunk (bounded memory).
* :func:`render_frames_with_masks` — the same, with the true moving-object mask of every pixel.
* :func:`render_geometry` — per-pixel hit point / depth / primitive id (ground truth geometry).

Cameras are OpenCV world-to-camera ``x_cam = R @ x_world + t`` with pinhole ``K`` in pixels; pixel (i, j)
spans [j, j+1] x [i, i+1] in continuous pixel coordinates.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

import numpy as np
import torch

from sync4dgs.data.synth.raycast import (PackedScene, PoseTables, camera_rays, closest_hits, intersect, resolve_hits,
                                         shade)
from sync4dgs.data.synth.scene_def import SceneDef
from sync4dgs.utils.device import resolve_device

# Default ray budget per chunk (rays = pixels x supersample^2 x frames). Peak memory is roughly 0.1 KB per
# ray for the per-frame (moving objects) pass and 0.6 KB per ray for a row tile of the static pass.
DEFAULT_MAX_RAYS = {"cpu": 1 << 21, "cuda": 1 << 25}


def _packed(scene: SceneDef | PackedScene, device: torch.device) -> PackedScene:
    if isinstance(scene, PackedScene) and scene.device == device:
        return scene
    return PackedScene(scene.scene if isinstance(scene, PackedScene) else scene, device)


def _max_rays(device: torch.device, max_rays: int | None) -> int:
    return int(max_rays) if max_rays else DEFAULT_MAX_RAYS.get(device.type, 1 << 21)


def _camera_center(R: np.ndarray, t: np.ndarray) -> np.ndarray:
    return -np.asarray(R, dtype=np.float64).T @ np.asarray(t, dtype=np.float64).reshape(3)


@dataclass
class _StaticLayer:
    """What one camera sees of the static primitives (time-independent), per supersampled ray [P]:
    distance ``t`` (inf = nothing), primitive id ``prim`` (-1 = nothing) and colour ``rgb`` [P, 3]."""

    t: torch.Tensor
    prim: torch.Tensor
    rgb: torch.Tensor


def _static_layer(packed: PackedScene, dirs: torch.Tensor, origin: np.ndarray) -> _StaticLayer:
    static_ids = [k for k, p in enumerate(packed.scene.primitives) if p.is_static]
    poses = PoseTables.build(packed.scene, origin[None], np.zeros(1), dirs.device)
    t, prim = closest_hits(packed, static_ids, poses, dirs[None])
    frame = torch.zeros(dirs.shape[0], dtype=torch.int64, device=dirs.device)
    rgb = shade(packed, resolve_hits(packed, poses, t[0], prim[0], frame, dirs))
    return _StaticLayer(t[0], prim[0], rgb)


def _composite(packed: PackedScene, static: _StaticLayer, dirs: torch.Tensor, origin: np.ndarray,
               times_s: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    """Colours [B, P, 3] of rays ``dirs`` [P, 3] at B times: the static layer, with moving objects in front of it
    ray-cast, resolved and shaded only where they are hit (a small fraction of the rays); and the bool [B, P]
    mask of the rays that hit a moving object in front of the static scene."""
    B = len(times_s)
    rgb = static.rgb.unsqueeze(0).expand(B, -1, -1).clone()
    moving_ids = [k for k, p in enumerate(packed.scene.primitives) if not p.is_static]
    if not moving_ids:
        return rgb, torch.zeros(rgb.shape[:2], dtype=torch.bool, device=rgb.device)
    poses = PoseTables.build(packed.scene, np.broadcast_to(origin, (B, 3)), times_s, dirs.device)
    t, prim = closest_hits(packed, moving_ids, poses, dirs[None])
    hit = t < static.t[None]
    b, p = torch.nonzero(hit, as_tuple=True)
    if b.numel():
        rgb[b, p] = shade(packed, resolve_hits(packed, poses, t[b, p], prim[b, p], b, dirs[p]))
    return rgb, hit


def _box_average(rgb: torch.Tensor, rows: int, width: int, S: int) -> torch.Tensor:
    """[B, rows*S*width*S, 3] sub-pixel colours -> [B, rows, width, 3] pixel means (fixed summation order)."""
    x = rgb.reshape(rgb.shape[0], rows, S, width, S, 3)
    if S == 1:
        return x[:, :, 0, :, 0]
    acc = x[:, :, 0, :, 0]
    for a in range(S):
        for c in range(S):
            if a or c:
                acc = acc + x[:, :, a, :, c]
    return acc * (1.0 / (S * S))


def render_frames(scene: SceneDef | PackedScene, K: np.ndarray, R: np.ndarray, t: np.ndarray, width: int,
                  height: int, times_s, device: str | torch.device | None = "cpu", supersample: int = 2,
                  max_rays: int | None = None) -> Iterator[tuple[int, torch.Tensor]]:
    """Render one camera at many global times, chunk by chunk.

    The static part of the scene is ray-cast and shaded once per camera; each frame then only casts rays
    against the moving objects. Every ray's result is independent of how frames are batched or rows tiled.

    Args:
        times_s: [T] global times in seconds (one per frame).
        supersample: S; each pixel averages S x S sub-pixel rays (anti-aliasing). Must match the generator's
            ``SynthConfig.supersample`` to reproduce its frames.
        max_rays: ray budget per chunk (default by device, see ``DEFAULT_MAX_RAYS``).
    Yields:
        ``(first_frame_index, images)`` with images float32 [b, height, width, 3] in [0, 1] on ``device``;
        frames are batched when several fit the budget, otherwise each frame is rendered in row tiles.
    """
    for i0, images, _ in render_frames_with_masks(scene, K, R, t, width, height, times_s, device, supersample,
                                                  max_rays):
        yield i0, images


def render_frames_with_masks(scene: SceneDef | PackedScene, K: np.ndarray, R: np.ndarray, t: np.ndarray,
                             width: int, height: int, times_s, device: str | torch.device | None = "cpu",
                             supersample: int = 2, max_rays: int | None = None
                             ) -> Iterator[tuple[int, torch.Tensor, torch.Tensor]]:
    """:func:`render_frames` (same images, bit for bit) that also yields the true moving-object masks.

    Yields ``(first_frame_index, images, masks)``: images as :func:`render_frames`, masks bool [b, height, width]
    on ``device``, True where at least one of the pixel's S x S sub-pixel rays hits a moving object in front
    of the static scene (the pixel's colour contains some of a moving object).
    """
    dev = device if isinstance(device, torch.device) else resolve_device(device)
    packed = _packed(scene, dev)
    times = np.asarray(times_s, dtype=np.float64).reshape(-1)
    S = int(supersample)
    origin = _camera_center(R, t)
    rays_per_row = width * S * S
    budget = _max_rays(dev, max_rays)
    rows_per_tile = max(1, min(height, budget // rays_per_row))
    tiles = [(r0, min(height, r0 + rows_per_tile)) for r0 in range(0, height, rows_per_tile)]
    with torch.inference_mode():  # (never held across a yield: it would leak into the caller)
        dirs = [camera_rays(K, R, width, r0, r1, S, dev) for r0, r1 in tiles]
        static = [_static_layer(packed, d, origin) for d in dirs]
    per_chunk = max(1, budget // (rays_per_row * rows_per_tile))
    for i0 in range(0, len(times), per_chunk):
        ts = times[i0:i0 + per_chunk]
        with torch.inference_mode():
            parts, mparts = [], []
            for (r0, r1), d, st in zip(tiles, dirs, static):
                rgb, hit = _composite(packed, st, d, origin, ts)
                parts.append(_box_average(rgb, r1 - r0, width, S))
                mparts.append(hit.reshape(len(ts), r1 - r0, S, width, S).any(dim=4).any(dim=2))
            images = parts[0] if len(parts) == 1 else torch.cat(parts, dim=1)
            masks = mparts[0] if len(mparts) == 1 else torch.cat(mparts, dim=1)
        yield i0, images, masks


def render_view(scene: SceneDef | PackedScene, K: np.ndarray, R: np.ndarray, t: np.ndarray, width: int,
                height: int, t_global_s: float, device: str | torch.device | None = "cpu",
                supersample: int = 2, max_rays: int | None = None) -> torch.Tensor:
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
    dev = device if isinstance(device, torch.device) else resolve_device(device)
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
