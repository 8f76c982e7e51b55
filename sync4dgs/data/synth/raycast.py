"""Vectorised ray casting of a :class:`SceneDef` (pure torch; CPU or CUDA).

Rays are batched as ``[B, P]``: B frames (each with its own camera centre and capture time) times P rays.
Every operation is elementwise (rotations are written as explicit sums, not matmuls, and reductions over
sub-pixels are explicit sums), so a ray's result does not depend on which batch or tile it was cast in, up to
last-bit differences of vectorised math kernels (sin, pow) at tensor tails.

Pipeline: ``closest_hits`` (ray parameter and primitive id per ray, for any subset of primitives) ->
``resolve_hits`` (object-frame hit point and world normal, for a flat list of rays) -> ``shade``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from sync4dgs.data.synth.scene_def import PRIMITIVE_KINDS, SceneDef
from sync4dgs.data.synth.textures import N_MATERIAL_PARAMS, albedo, lambert, make_lattice, material_offsets

T_MIN = 1e-4  # metres: ignore hits closer than this to the ray origin
BACKGROUND_RGB = (0.0, 0.0, 0.0)  # only visible if a ray leaves the room


@dataclass
class Hits:
    """Closest hits of rays; fields have the rays' leading shape (``[B, P]`` or a flat ``[N]``).

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
    """A SceneDef with its tables on ``device``: material params float32 [K, 15], lattice shifts int32 [K, 3],
    kinds int64 [K] (index into PRIMITIVE_KINDS), sizes float32 [K, 3], and the texture lattice."""

    def __init__(self, scene: SceneDef, device: torch.device | str):
        self.scene = scene
        self.device = torch.device(device)
        prims = scene.primitives
        self.params = torch.tensor([p.material.param_vector() for p in prims], dtype=torch.float32,
                                   device=self.device).reshape(len(prims), N_MATERIAL_PARAMS)
        self.offsets = torch.tensor([material_offsets(p.material.seed) for p in prims], dtype=torch.int32,
                                    device=self.device).reshape(-1, 3)
        self.lattice = make_lattice(self.device)
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
        inv = 1.0 / _dot_cols(d, R, j)  # +-inf for rays parallel to a slab: the min/max logic still holds
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
    inside_u = (o[..., 0] + tt * _dot_cols(d, R, 0)).abs() <= half_u
    inside = inside_u & ((o[..., 1] + tt * _dot_cols(d, R, 1)).abs() <= half_v)
    return torch.where(inside & (t > T_MIN), t, torch.inf)


@dataclass
class PoseTables:
    """Per-frame poses of every primitive on the device (float32, from float64 maths on the host).

    R: [B, K, 3, 3] object-to-world rotations; o_local: [B, K, 3] ray origin in each object frame;
    oc: [B, K, 3] origin minus object centre (world axes).
    """

    R: torch.Tensor
    o_local: torch.Tensor
    oc: torch.Tensor

    @staticmethod
    def build(scene: SceneDef, origins: np.ndarray, times_s: np.ndarray, device: torch.device) -> "PoseTables":
        """origins [B, 3] float64 (metres), times_s [B] float64 (seconds)."""
        times_s = np.asarray(times_s, dtype=np.float64).reshape(-1)
        origins = np.asarray(origins, dtype=np.float64).reshape(len(times_s), 3)
        Rs, cs = zip(*(p.motion.pose(times_s) for p in scene.primitives))
        R, c = np.stack(Rs, 1), np.stack(cs, 1)                                    # [B, K, 3, 3], [B, K, 3]
        oc = origins[:, None] - c
        o_local = np.einsum("bkji,bkj->bki", R, oc)                                # R^T (o - c)
        f32 = dict(dtype=torch.float32, device=device)
        return PoseTables(torch.as_tensor(R, **f32), torch.as_tensor(o_local, **f32), torch.as_tensor(oc, **f32))


def closest_hits(packed: PackedScene, prim_ids: list[int], poses: PoseTables, dirs: torch.Tensor
                 ) -> tuple[torch.Tensor, torch.Tensor]:
    """Closest hit among the primitives ``prim_ids`` (tested in order; ties keep the earlier one).

    Args:
        poses: pose tables for B frames.
        dirs: [B or 1, P, 3] float32 unit world directions (batch 1 broadcasts over frames).
    Returns:
        t [B, P] float32 (inf = no hit) and prim [B, P] int64 (-1 = no hit).
    """
    B, P = poses.R.shape[0], dirs.shape[1]
    best_t = torch.full((B, P), torch.inf, dtype=torch.float32, device=dirs.device)
    best_id = torch.full((B, P), -1, dtype=torch.int64, device=dirs.device)
    for k in prim_ids:
        prim = packed.scene.primitives[k]
        if prim.kind == "sphere":
            t = _t_sphere(poses.oc[:, k:k + 1], dirs, prim.size[0])
        elif prim.kind == "box":
            t = _t_box(poses.o_local[:, k:k + 1], dirs, poses.R[:, k], prim.size)
        else:
            t = _t_plane(poses.o_local[:, k:k + 1], dirs, poses.R[:, k], prim.size[0], prim.size[1])
        closer = t < best_t
        best_t = torch.where(closer, t, best_t)
        best_id = torch.where(closer, k, best_id)
    return best_t, best_id


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


def resolve_hits(packed: PackedScene, poses: PoseTables, t: torch.Tensor, prim: torch.Tensor, frame: torch.Tensor,
                 dirs: torch.Tensor) -> Hits:
    """Hit points and normals of a flat list of N rays.

    Args:
        t: [N] ray parameters (inf = no hit); prim: [N] primitive ids (-1 = no hit); frame: [N] int64 index
            into the pose tables' frames; dirs: [N, 3] unit world directions.
    Returns:
        Hits with [N]-shaped fields.
    """
    K = poses.R.shape[1]
    hit = prim >= 0
    idx = prim.clamp_min(0)
    flat = frame * K + idx
    R = poses.R.reshape(-1, 3, 3)[flat]                                             # [N, 3, 3]
    o = poses.o_local.reshape(-1, 3)[flat]
    tt = torch.where(hit, t, 0.0).unsqueeze(-1)
    d_local = dirs[:, 0:1] * R[:, 0] + dirs[:, 1:2] * R[:, 1] + dirs[:, 2:3] * R[:, 2]   # R^T d
    p_local = o + tt * d_local
    n_local = _local_normals(p_local, packed.kinds[idx], packed.sizes[idx])
    n_world = n_local[:, 0:1] * R[:, :, 0] + n_local[:, 1:2] * R[:, :, 1] + n_local[:, 2:3] * R[:, :, 2]
    facing = torch.where((n_world * dirs).sum(-1, keepdim=True) > 0, -1.0, 1.0)
    zero = torch.zeros((), dtype=torch.float32, device=dirs.device)
    h1 = hit.unsqueeze(-1)
    return Hits(t, prim, torch.where(h1, p_local, zero), torch.where(h1, n_world * facing, zero))


def intersect(packed: PackedScene, origins: np.ndarray, dirs: torch.Tensor, times_s: np.ndarray) -> Hits:
    """Closest hits of rays against every primitive at per-frame times (convenience for geometry queries).

    Args:
        origins: [B, 3] float64 ray origins (camera centres), world metres.
        dirs: [B, P, 3] float32 unit directions in world coordinates, on ``packed.device``.
        times_s: [B] float64 global times (seconds) at which each frame's objects are posed.
    Returns:
        Hits with [B, P]-shaped fields.
    """
    B, P = dirs.shape[0], dirs.shape[1]
    poses = PoseTables.build(packed.scene, origins, times_s, dirs.device)
    t, prim = closest_hits(packed, list(range(len(packed.scene.primitives))), poses, dirs)
    frame = torch.arange(B, device=dirs.device)[:, None].expand(B, P).reshape(-1)
    h = resolve_hits(packed, poses, t.reshape(-1), prim.reshape(-1), frame, dirs.reshape(-1, 3))
    return Hits(t, prim, h.p_local.reshape(B, P, 3), h.n_world.reshape(B, P, 3))


def shade(packed: PackedScene, hits: Hits) -> torch.Tensor:
    """Display RGB [..., 3] in [0, 1] of hits with any leading shape (Lambert + ambient on procedural albedo)."""
    idx = hits.prim.clamp_min(0)
    rgb = lambert(albedo(hits.p_local, packed.params[idx], packed.offsets[idx], packed.lattice), hits.n_world)
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
