"""Vectorised ray casting of a :class:`SceneDef` (pure torch; CPU or CUDA).

Rays are batched as ``[B, P]``: B frames (each with its own camera centre and capture time) times P rays.
Every operation is elementwise (rotations are written as explicit sums, not matmuls), so a ray's result does
not depend on which batch or tile it was cast in.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from sync4dgs.data.synth.scene_def import PRIMITIVE_KINDS, SceneDef
from sync4dgs.data.synth.textures import N_MATERIAL_PARAMS, albedo, lambert

T_MIN = 1e-4  # metres: ignore hits closer than this to the ray origin
BACKGROUND_RGB = (0.0, 0.0, 0.0)  # only visible if a ray leaves the room


@dataclass
class Hits:
    """Closest hits of a ray batch.

    t: [B, P] float32 ray parameter = distance in metres along unit directions (inf where nothing was hit).
    prim: [B, P] int64 primitive index into ``SceneDef.primitives`` (-1 where nothing was hit).
    p_local: [B, P, 3] float32 hit point in the hit object's frame (0 where nothing was hit).
    n_world: [B, P, 3] float32 unit normal in world coordinates, facing the ray origin.
    """

    t: torch.Tensor
    prim: torch.Tensor
    p_local: torch.Tensor
    n_world: torch.Tensor


class PackedScene:
    """A SceneDef with its tables on ``device``: material params float32 [K, 15], seeds int64 [K], kinds int64 [K]
    (index into PRIMITIVE_KINDS), sizes float32 [K, 3]."""

    def __init__(self, scene: SceneDef, device: torch.device | str):
        self.scene = scene
        self.device = torch.device(device)
        prims = scene.primitives
        self.params = torch.tensor([p.material.param_vector() for p in prims], dtype=torch.float32,
                                   device=self.device).reshape(len(prims), N_MATERIAL_PARAMS)
        self.seeds = torch.tensor([int(p.material.seed) for p in prims], dtype=torch.int64, device=self.device)
        self.kinds = torch.tensor([PRIMITIVE_KINDS.index(p.kind) for p in prims], dtype=torch.int64, device=self.device)
        self.sizes = torch.tensor([list(p.size) for p in prims], dtype=torch.float32, device=self.device).reshape(-1, 3)


def _dot_cols(d: torch.Tensor, R: torch.Tensor, j: int) -> torch.Tensor:
    """``(R^T d)_j`` = d . R[:, j] for d [B, P, 3], R [B, 3, 3] -> [B, P] (elementwise, batch-independent)."""
    return d[..., 0] * R[:, None, 0, j] + d[..., 1] * R[:, None, 1, j] + d[..., 2] * R[:, None, 2, j]


def _sign_not_zero(x: torch.Tensor) -> torch.Tensor:
    return torch.where(x < 0, -1.0, 1.0).to(x.dtype)


def _safe(x: torch.Tensor) -> torch.Tensor:
    """Replace |x| < 1e-12 by 1e-12 (for divisions by direction components)."""
    return torch.where(x.abs() < 1e-12, torch.full_like(x, 1e-12), x)


def _t_sphere(oc: torch.Tensor, d: torch.Tensor, r: float) -> torch.Tensor:
    """Ray parameter of the entry hit on a sphere. oc [B, 1, 3] = origin - centre, d [B, P, 3] unit."""
    b = d[..., 0] * oc[..., 0] + d[..., 1] * oc[..., 1] + d[..., 2] * oc[..., 2]
    c = (oc * oc).sum(-1) - r * r
    disc = b * b - c
    t = -b - torch.sqrt(disc.clamp_min(0.0))
    return torch.where((disc >= 0) & (t > T_MIN), t, torch.inf)


def _t_box(o: torch.Tensor, d: torch.Tensor, R: torch.Tensor, half: tuple[float, float, float]) -> torch.Tensor:
    """Slab test against a solid box seen from outside. o [B, 1, 3] origin in the box frame."""
    t_near = t_far = None
    for j in range(3):
        inv = 1.0 / _safe(_dot_cols(d, R, j))
        t1 = (-half[j] - o[..., j]) * inv
        t2 = (half[j] - o[..., j]) * inv
        lo, hi = torch.minimum(t1, t2), torch.maximum(t1, t2)
        t_near = lo if t_near is None else torch.maximum(t_near, lo)
        t_far = hi if t_far is None else torch.minimum(t_far, hi)
    return torch.where((t_far >= t_near) & (t_near > T_MIN), t_near, torch.inf)


def _t_plane(o: torch.Tensor, d: torch.Tensor, R: torch.Tensor, half_u: float, half_v: float) -> torch.Tensor:
    """Rectangle |x| <= half_u, |y| <= half_v in the local z = 0 plane. o [B, 1, 3] origin in the plane frame."""
    t = -o[..., 2] / _safe(_dot_cols(d, R, 2))
    tt = torch.where(torch.isfinite(t), t, 0.0).clamp(-1e6, 1e6)
    inside = ((o[..., 0] + tt * _dot_cols(d, R, 0)).abs() <= half_u) & ((o[..., 1] + tt * _dot_cols(d, R, 1)).abs() <= half_v)
    return torch.where(inside & (t > T_MIN), t, torch.inf)


def _poses(scene: SceneDef, times_s: np.ndarray, origins: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-frame poses of every primitive: R [B, K, 3, 3], c [B, K, 3], origin in object frames [B, K, 3]."""
    Rs, cs = zip(*(p.motion.pose(times_s) for p in scene.primitives))
    R, c = np.stack(Rs, 1), np.stack(cs, 1)
    o_local = np.einsum("bkji,bkj->bki", R, origins[:, None] - c)               # R^T (o - c), float64
    return R, c, o_local


def _local_normals(p_local: torch.Tensor, kind: torch.Tensor, size: torch.Tensor) -> torch.Tensor:
    """Outward object-frame normals [N, 3] of hit points p_local [N, 3] given per-ray kind [N] and size [N, 3]."""
    sphere_n = p_local / size[:, 0:1]
    q = p_local.abs() / size.clamp_min(1e-9)
    axis = q.argmax(-1)
    box_n = torch.nn.functional.one_hot(axis, 3).to(p_local.dtype) * _sign_not_zero(p_local)
    plane_n = torch.zeros_like(p_local)
    plane_n[:, 2] = 1.0
    k = kind.unsqueeze(-1)
    return torch.where(k == 0, sphere_n, torch.where(k == 1, box_n, plane_n))


def intersect(packed: PackedScene, origins: np.ndarray, dirs: torch.Tensor, times_s: np.ndarray) -> Hits:
    """Closest hits of rays against every primitive at per-frame times.

    Args:
        origins: [B, 3] float64 ray origins (camera centres), world metres.
        dirs: [B, P, 3] float32 unit directions in world coordinates, on ``packed.device``.
        times_s: [B] float64 global times (seconds) at which each frame's objects are posed.
    """
    dev, B, P = dirs.device, dirs.shape[0], dirs.shape[1]
    times_s = np.asarray(times_s, dtype=np.float64).reshape(B)
    origins = np.asarray(origins, dtype=np.float64).reshape(B, 3)
    R64, c64, o64 = _poses(packed.scene, times_s, origins)
    R_all = torch.as_tensor(R64, dtype=torch.float32, device=dev)                   # [B, K, 3, 3]
    o_all = torch.as_tensor(o64, dtype=torch.float32, device=dev)                   # [B, K, 3]
    oc_all = torch.as_tensor(origins[:, None] - c64, dtype=torch.float32, device=dev)
    best_t = torch.full((B, P), torch.inf, dtype=torch.float32, device=dev)
    best_id = torch.full((B, P), -1, dtype=torch.int64, device=dev)
    for k, prim in enumerate(packed.scene.primitives):
        if prim.kind == "sphere":
            t = _t_sphere(oc_all[:, k:k + 1], dirs, prim.size[0])
        elif prim.kind == "box":
            t = _t_box(o_all[:, k:k + 1], dirs, R_all[:, k], prim.size)
        else:
            t = _t_plane(o_all[:, k:k + 1], dirs, R_all[:, k], prim.size[0], prim.size[1])
        closer = t < best_t
        best_t = torch.where(closer, t, best_t)
        best_id = torch.where(closer, k, best_id)
    # Resolve hit points and normals once, for the winners only.
    hit = best_id >= 0
    idx = best_id.clamp_min(0)
    flat = (torch.arange(B, device=dev)[:, None] * len(packed.scene.primitives) + idx).reshape(-1)
    R = R_all.reshape(-1, 3, 3)[flat]                                                # [B*P, 3, 3]
    o = o_all.reshape(-1, 3)[flat]
    d = dirs.reshape(-1, 3)
    tt = torch.where(hit, best_t, 0.0).reshape(-1, 1)
    d_local = d[:, 0:1] * R[:, 0] + d[:, 1:2] * R[:, 1] + d[:, 2:3] * R[:, 2]        # R^T d
    p_local = o + tt * d_local
    n_local = _local_normals(p_local, packed.kinds[idx].reshape(-1), packed.sizes[idx].reshape(-1, 3))
    n_world = n_local[:, 0:1] * R[:, :, 0] + n_local[:, 1:2] * R[:, :, 1] + n_local[:, 2:3] * R[:, :, 2]
    facing = torch.where((n_world * d).sum(-1, keepdim=True) > 0, -1.0, 1.0)
    zero = torch.zeros((), dtype=torch.float32, device=dev)
    h3 = hit.reshape(-1, 1)
    return Hits(best_t, best_id, torch.where(h3, p_local, zero).reshape(B, P, 3),
                torch.where(h3, n_world * facing, zero).reshape(B, P, 3))


def shade(packed: PackedScene, hits: Hits) -> torch.Tensor:
    """Linear RGB [B, P, 3] in [0, 1] of the hits (Lambert + ambient on procedural albedo)."""
    idx = hits.prim.clamp_min(0)
    rgb = lambert(albedo(hits.p_local, packed.params[idx], packed.seeds[idx]), hits.n_world)
    bg = torch.tensor(BACKGROUND_RGB, dtype=rgb.dtype, device=rgb.device)
    return torch.where((hits.prim >= 0).unsqueeze(-1), rgb, bg)


def camera_rays(K: np.ndarray, R: np.ndarray, width: int, row0: int, row1: int, supersample: int,
                device: torch.device) -> torch.Tensor:
    """Unit world directions [P, 3] (float32) of rows ``row0:row1`` of a pinhole camera.

    Pixel (i, j) covers [j, j+1] x [i, i+1] in continuous pixel coordinates (centre at +0.5, the convention of
    sync4dgs/data/scene.py); with ``supersample`` = S it is sampled at the S x S sub-pixel centres. Rays are
    ordered row-major over (i, si, j, sj): P = (row1 - row0) * S * width * S.
    """
    S = int(supersample)
    sub = (torch.arange(S, dtype=torch.float64, device=device) + 0.5) / S
    v = (torch.arange(row0, row1, dtype=torch.float64, device=device)[:, None] + sub[None]).reshape(-1)
    u = (torch.arange(width, dtype=torch.float64, device=device)[:, None] + sub[None]).reshape(-1)
    Kinv = torch.as_tensor(np.linalg.inv(np.asarray(K, dtype=np.float64)), device=device)
    c2w = torch.as_tensor(np.asarray(R, dtype=np.float64).T, device=device)
    M = c2w @ Kinv                                                 # pixel (u, v, 1) -> world direction
    vv, uu = torch.meshgrid(v, u, indexing="ij")
    d = uu[..., None] * M[:, 0] + vv[..., None] * M[:, 1] + M[:, 2]
    d = d / torch.linalg.norm(d, dim=-1, keepdim=True)
    return d.reshape(-1, 3).to(torch.float32)
