"""Procedural solid textures and Lambert shading (pure torch, any device, any leading shape).

Textures are evaluated at object-local 3D points (metres), so they move with their object: a point on a
moving object keeps its colour, which point trackers need. One "uber" material mixes three patterns:

* checker: a 3D checkerboard of ``checker_m`` cells whose every cell has its own random tint
  (distinctive corners for SIFT/KLT, not a repetitive pattern) and alternating brightness;
* noise: two octaves of 3D value noise with feature size ``noise_m``;
* stripes: ``sin`` stripes of period ``stripe_m`` along ``stripe_dir``.

Random values come from one fixed random lattice of 128^3 floats (drawn on the CPU with a fixed seed, so it is
identical on every device), indexed with wrapped int32 cell coordinates shifted per material; patterns repeat
only every 128 cells (>= 15 m for the room's noise, far more than the room for its checker).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import torch

LATTICE_BITS = 7                       # random lattice of (2**7)^3 values: repeats every 128 cells
LATTICE_SEED = 0x5EED5EED

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
    checker would flicker between cells from float rounding. ``seed`` picks the material's shift into the
    random lattice (different seeds, unrelated patterns).
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
        """The ``N_MATERIAL_PARAMS`` floats the shader reads (the seed goes separately, see material_offsets)."""
        d = np.asarray(self.stripe_dir, dtype=np.float64)
        d = d / np.linalg.norm(d)
        return [*self.base_rgb, self.checker_m, self.checker_w, self.noise_m, self.noise_w, self.stripe_m,
                self.stripe_w, *d.tolist(), *self.checker_offset]

    def to_dict(self) -> dict:
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(self).items()}


def make_lattice(device: torch.device | str) -> torch.Tensor:
    """The random lattice: float32 [2**(3 * LATTICE_BITS)] uniform in [0, 1), drawn on the CPU with a fixed
    seed (identical on every device) and moved to ``device``."""
    n = 1 << (3 * LATTICE_BITS)
    return torch.rand(n, generator=torch.Generator().manual_seed(LATTICE_SEED)).to(device)


def material_offsets(seed: int) -> tuple[int, int, int]:
    """A material's integer shift into the lattice (so materials get unrelated patterns)."""
    m = (1 << LATTICE_BITS) - 1
    h = (int(seed) * 2654435761) & 0xFFFFFFFF
    return (h & m, (h >> LATTICE_BITS) & m, (h >> (2 * LATTICE_BITS)) & m)


def _lattice_index(ix: torch.Tensor, iy: torch.Tensor, iz: torch.Tensor) -> torch.Tensor:
    """int32 lattice coordinates (any values; wrapped) -> int32 flat index."""
    m, b = (1 << LATTICE_BITS) - 1, LATTICE_BITS
    return ((ix & m) << (2 * b)) | ((iy & m) << b) | (iz & m)


def _lookup(lattice: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    return torch.index_select(lattice, 0, index.reshape(-1)).reshape(index.shape)


def lattice_values(lattice: torch.Tensor, cell: torch.Tensor) -> torch.Tensor:
    """Random value in [0, 1) of each int32 lattice cell [..., 3] -> [...]."""
    return _lookup(lattice, _lattice_index(cell[..., 0], cell[..., 1], cell[..., 2]))


def value_noise(lattice: torch.Tensor, p: torch.Tensor, offset: torch.Tensor) -> torch.Tensor:
    """Smooth 3D value noise in [0, 1]: p [..., 3] (lattice units), offset int32 [..., 3] -> [...]."""
    pf = torch.floor(p)
    f = p - pf
    u = f * f * (3.0 - 2.0 * f)
    i = pf.to(torch.int32) + offset
    m, b = (1 << LATTICE_BITS) - 1, LATTICE_BITS
    xs = (((i[..., 0] & m) << (2 * b)), (((i[..., 0] + 1) & m) << (2 * b)))
    ys = (((i[..., 1] & m) << b), (((i[..., 1] + 1) & m) << b))
    zs = ((i[..., 2] & m), ((i[..., 2] + 1) & m))
    ux, uy, uz = u[..., 0], u[..., 1], u[..., 2]
    planes = []
    for z in zs:
        rows = []
        for y in ys:
            yz = y | z
            v0, v1 = _lookup(lattice, xs[0] | yz), _lookup(lattice, xs[1] | yz)
            rows.append(v0 + (v1 - v0) * ux)
        planes.append(rows[0] + (rows[1] - rows[0]) * uy)
    return planes[0] + (planes[1] - planes[0]) * uz


def albedo(p_local: torch.Tensor, params: torch.Tensor, offset: torch.Tensor, lattice: torch.Tensor) -> torch.Tensor:
    """Material colour at object-local points.

    Args:
        p_local: [..., 3] float32 points in metres (object frame).
        params: [..., N_MATERIAL_PARAMS] material parameter vectors (see ``Material.param_vector``).
        offset: [..., 3] int32 per-material lattice shifts (see ``material_offsets``).
        lattice: the random lattice (``make_lattice``) on the same device.
    Returns:
        [..., 3] float32 albedo in [0, 1].
    """
    base = params[..., 0:3]
    checker_m, checker_w = params[..., 3:4], params[..., 4:5]
    noise_m, noise_w = params[..., 5:6], params[..., 6:7]
    stripe_m, stripe_w = params[..., 7:8], params[..., 8:9]
    stripe_dir, checker_off = params[..., 9:12], params[..., 12:15]

    cell = torch.floor(p_local / checker_m + checker_off).to(torch.int32)
    tint = torch.stack([lattice_values(lattice, cell + offset + k) for k in (11, 47, 89)], -1)
    parity = ((cell[..., 0] + cell[..., 1] + cell[..., 2]) & 1).to(torch.float32).unsqueeze(-1)
    checker = (0.4 + 0.6 * tint) * (0.55 + 0.45 * parity)
    col = base * (1.0 - checker_w + checker_w * checker)

    q = p_local / noise_m
    n = 0.65 * value_noise(lattice, q, offset) + 0.35 * value_noise(lattice, 2.03 * q, offset + 61)
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
        n = normal_world
        ndl = n[..., 0] * float(ld[0]) + n[..., 1] * float(ld[1]) + n[..., 2] * float(ld[2])
        shade = shade + k * ndl.clamp_min(0.0)
    return (albedo_rgb * shade.unsqueeze(-1)).clamp(0.0, 1.0) ** (1.0 / GAMMA)
