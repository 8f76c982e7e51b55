"""Procedural solid textures and Lambert shading (pure torch, any device, any leading shape).

Textures are evaluated at object-local 3D points (metres), so they move with their object: a point on a
moving object keeps its colour, which point trackers need. One "uber" material mixes three patterns:

* checker: a 3D checkerboard of ``checker_m`` cells whose every cell has its own hashed random tint
  (distinctive corners for SIFT/KLT, not a repetitive pattern) and alternating brightness;
* noise: two octaves of hashed 3D value noise with feature size ``noise_m``;
* stripes: ``sin`` stripes of period ``stripe_m`` along ``stripe_dir``.

Hashing uses int64 arithmetic kept below 2**63 (no overflow), so results are identical for identical inputs on
the same device.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import torch

_MASK31 = 0x7FFFFFFF
_P1, _P2, _P3 = 73856093, 19349663, 83492791
_LCG_A, _LCG_C = 1103515245, 12345
_INV_2_24 = 1.0 / float(1 << 24)

# Lights: unit directions towards the lights (world, z up) and their intensities; plus ambient.
LIGHT_DIRS = ((0.35, -0.65, 0.68), (-0.6, 0.25, 0.45))
LIGHT_INTENSITIES = (0.7, 0.3)
AMBIENT = 0.45
GAMMA = 1.25

N_MATERIAL_PARAMS = 15


@dataclass
class Material:
    """Surface appearance. Lengths in metres (object-local), weights in [0, 1], colours linear RGB in [0, 1].

    ``checker_offset`` (fractions of a cell) keeps axis-aligned surfaces away from cell boundaries, where the
    checker would flicker between cells from float rounding.
    """

    base_rgb: tuple[float, float, float] = (0.8, 0.8, 0.8)
    checker_m: float = 0.5
    checker_w: float = 0.0
    noise_m: float = 0.2
    noise_w: float = 0.0
    stripe_m: float = 0.3
    stripe_w: float = 0.0
    stripe_dir: tuple[float, float, float] = (1.0, 0.0, 0.0)
    checker_offset: tuple[float, float, float] = (0.37, 0.29, 0.43)
    seed: int = 0

    def param_vector(self) -> list[float]:
        """The ``N_MATERIAL_PARAMS`` floats the shader reads (seed goes separately)."""
        d = np.asarray(self.stripe_dir, dtype=np.float64)
        d = d / np.linalg.norm(d)
        return [*self.base_rgb, self.checker_m, self.checker_w, self.noise_m, self.noise_w, self.stripe_m,
                self.stripe_w, *d.tolist(), *self.checker_offset]

    def to_dict(self) -> dict:
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(self).items()}


def _mix(h: torch.Tensor) -> torch.Tensor:
    """One round of integer mixing on 31-bit non-negative int64 values."""
    h = (h * _LCG_A + _LCG_C) & _MASK31
    h = h ^ (h >> 13)
    return (h * _LCG_A + _LCG_C) & _MASK31


def hash3(ix: torch.Tensor, iy: torch.Tensor, iz: torch.Tensor, seed: torch.Tensor) -> torch.Tensor:
    """Hash int64 lattice coordinates (and a per-material int64 seed) to 31-bit non-negative int64."""
    return _mix(((ix * _P1) ^ (iy * _P2) ^ (iz * _P3) ^ seed) & _MASK31)


def hash_to_unit(h: torch.Tensor) -> torch.Tensor:
    """31-bit hash -> float32 in [0, 1) (uses the 24 high bits)."""
    return (h >> 7).to(torch.float32) * _INV_2_24


def value_noise(p: torch.Tensor, seed: torch.Tensor) -> torch.Tensor:
    """Smooth 3D value noise in [0, 1]: p [..., 3] (lattice units), seed int64 [...] -> [...]."""
    pf = torch.floor(p)
    f = p - pf
    u = f * f * (3.0 - 2.0 * f)
    i = pf.to(torch.int64)
    hx = (i[..., 0] * _P1, (i[..., 0] + 1) * _P1)
    hy = (i[..., 1] * _P2, (i[..., 1] + 1) * _P2)
    hz = (i[..., 2] * _P3, (i[..., 2] + 1) * _P3)
    ux, uy, uz = u[..., 0], u[..., 1], u[..., 2]
    out_z = []
    for dz in (0, 1):
        out_y = []
        for dy in (0, 1):
            base = hy[dy] ^ hz[dz] ^ seed
            v0 = hash_to_unit(_mix((hx[0] ^ base) & _MASK31))
            v1 = hash_to_unit(_mix((hx[1] ^ base) & _MASK31))
            out_y.append(v0 + (v1 - v0) * ux)
        out_z.append(out_y[0] + (out_y[1] - out_y[0]) * uy)
    return out_z[0] + (out_z[1] - out_z[0]) * uz


def albedo(p_local: torch.Tensor, params: torch.Tensor, seed: torch.Tensor) -> torch.Tensor:
    """Material colour at object-local points.

    Args:
        p_local: [..., 3] float32 points in metres (object frame).
        params: [..., N_MATERIAL_PARAMS] material parameter vectors (see ``Material.param_vector``).
        seed: [...] int64 per-material seeds.
    Returns:
        [..., 3] float32 albedo in [0, 1].
    """
    base = params[..., 0:3]
    checker_m, checker_w = params[..., 3:4], params[..., 4:5]
    noise_m, noise_w = params[..., 5:6], params[..., 6:7]
    stripe_m, stripe_w = params[..., 7:8], params[..., 8:9]
    stripe_dir, checker_off = params[..., 9:12], params[..., 12:15]

    cell = torch.floor(p_local / checker_m + checker_off).to(torch.int64)
    h = hash3(cell[..., 0], cell[..., 1], cell[..., 2], seed + 1)
    tint = torch.stack([hash_to_unit(h), hash_to_unit(_mix(h ^ 0x5BD1E995)), hash_to_unit(_mix(h ^ 0x1B873593))], -1)
    parity = ((cell[..., 0] + cell[..., 1] + cell[..., 2]) & 1).to(torch.float32).unsqueeze(-1)
    checker = (0.4 + 0.6 * tint) * (0.55 + 0.45 * parity)
    col = base * (1.0 - checker_w + checker_w * checker)

    q = p_local / noise_m
    n = 0.65 * value_noise(q, seed + 7) + 0.35 * value_noise(2.03 * q, seed + 11)
    col = col * (1.0 - noise_w + noise_w * (0.35 + 1.3 * n.unsqueeze(-1)))

    s = torch.sin((2.0 * torch.pi) * (p_local * stripe_dir).sum(-1, keepdim=True) / stripe_m)
    col = col * (1.0 - stripe_w + stripe_w * (0.6 + 0.4 * s))
    return col.clamp(0.0, 1.0)


def lambert(albedo_rgb: torch.Tensor, normal_world: torch.Tensor) -> torch.Tensor:
    """Lambert shading with ambient, then a mild display gamma 1/GAMMA: albedo [..., 3], unit normals [..., 3] (facing
    the viewer) -> display RGB [..., 3] in [0, 1]. View-independent, so every camera sees the same colour."""
    shade = torch.full_like(normal_world[..., 0], AMBIENT)
    for d, k in zip(LIGHT_DIRS, LIGHT_INTENSITIES):
        ld = np.asarray(d, dtype=np.float64)
        ld = ld / np.linalg.norm(ld)
        ndl = normal_world[..., 0] * float(ld[0]) + normal_world[..., 1] * float(ld[1]) + normal_world[..., 2] * float(ld[2])
        shade = shade + k * ndl.clamp_min(0.0)
    return (albedo_rgb * shade.unsqueeze(-1)).clamp(0.0, 1.0) ** (1.0 / GAMMA)
