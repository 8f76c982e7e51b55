"""Standard 3DGS PLY (the INRIA layout) for one instant of a 4D model.

Vertex properties, all float32, in this order (62 in all)::

    x y z  nx ny nz  f_dc_0..2  f_rest_0..44  opacity  scale_0..2  rot_0..3

``f_rest`` is channel-major as INRIA writes it: ``f_rest[c * 15 + k]`` is SH coefficient k+1 of colour
channel c; bands above the model's SH degree are zero. ``opacity`` is a logit, ``scale_*`` are natural
logs, ``rot`` is a wxyz quaternion (normalised here). Normals are zero. Readable by the common splat
viewers (SuperSplat, antimatter15/splat, gsplat's, nerfstudio's, the INRIA SIBR viewer).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from sync4dgs.errors import DataFormatError
from sync4dgs.render.types import Gaussians
from sync4dgs.utils.atomic import atomic_path

SH_C0 = 0.28209479177387814
N_REST_PER_CHANNEL = 15  # SH degree 3: 16 bases, minus DC
PROPERTY_NAMES = (["x", "y", "z", "nx", "ny", "nz", "f_dc_0", "f_dc_1", "f_dc_2"]
                  + [f"f_rest_{i}" for i in range(3 * N_REST_PER_CHANNEL)]
                  + ["opacity", "scale_0", "scale_1", "scale_2", "rot_0", "rot_1", "rot_2", "rot_3"])
_OPACITY_EPS = 1e-7


def gaussians_to_ply_array(g: Gaussians, min_opacity: float = 0.0) -> np.ndarray:
    """Activated Gaussians (render.types.Gaussians; colours SH [N, B, 3] with B <= 16, or RGB [N, 3])
    -> structured float32 array [N'] with :data:`PROPERTY_NAMES` fields (N' = those with opacity >=
    ``min_opacity``)."""
    means = g.means.detach().cpu().double().numpy()
    quats = g.quats.detach().cpu().double().numpy()
    scales = g.scales.detach().cpu().double().numpy()
    opac = g.opacities.detach().cpu().double().numpy().reshape(-1)
    colors = g.colors.detach().cpu().double().numpy()
    N = means.shape[0]
    if colors.ndim == 2:  # plain RGB -> SH degree 0
        colors = ((colors - 0.5) / SH_C0)[:, None, :]
    if colors.ndim != 3 or colors.shape[2] != 3 or colors.shape[1] > 1 + N_REST_PER_CHANNEL:
        raise ValueError(f"colours must be [N, B<=16, 3] SH or [N, 3] RGB, got {tuple(g.colors.shape)}")
    keep = opac >= min_opacity
    rest = np.zeros((N, N_REST_PER_CHANNEL, 3))
    rest[:, : colors.shape[1] - 1] = colors[:, 1:]
    rest_cm = np.transpose(rest, (0, 2, 1)).reshape(N, -1)  # channel-major
    p = np.clip(opac, _OPACITY_EPS, 1.0 - _OPACITY_EPS)
    q = quats / np.maximum(np.linalg.norm(quats, axis=1, keepdims=True), 1e-12)
    cols = np.concatenate([means, np.zeros((N, 3)), colors[:, 0], rest_cm, np.log(p / (1.0 - p))[:, None],
                           np.log(np.maximum(scales, 1e-30)), q], axis=1)
    arr = np.empty(int(keep.sum()), dtype=[(n, "f4") for n in PROPERTY_NAMES])
    for j, name in enumerate(PROPERTY_NAMES):
        arr[name] = cols[keep, j]
    return arr


def write_ply(path: str | Path, g: Gaussians, min_opacity: float = 0.0) -> int:
    """Write activated Gaussians as a binary little-endian 3DGS PLY (atomically). Returns the vertex count."""
    from plyfile import PlyData, PlyElement  # noqa: PLC0415

    arr = gaussians_to_ply_array(g, min_opacity)
    with atomic_path(path) as tmp:
        PlyData([PlyElement.describe(arr, "vertex")], text=False).write(str(tmp))
    return int(arr.shape[0])


def read_ply(path: str | Path, sh_degree: int = 3) -> Gaussians:
    """Read a 3DGS PLY back to activated Gaussians (float32, CPU); colours [N, (sh_degree+1)^2, 3].

    Raises DataFormatError naming the file when a required property is missing.
    """
    from plyfile import PlyData  # noqa: PLC0415

    path = Path(path)
    try:
        v = PlyData.read(str(path))["vertex"]
    except (OSError, KeyError, ValueError) as e:
        raise DataFormatError(path, f"not a readable PLY with a 'vertex' element: {e}") from e
    names = set(v.data.dtype.names or ())
    required = {"x", "y", "z", "f_dc_0", "f_dc_1", "f_dc_2", "opacity", "scale_0", "scale_1", "scale_2",
                "rot_0", "rot_1", "rot_2", "rot_3"}
    if not required <= names:
        raise DataFormatError(path, f"missing 3DGS properties {sorted(required - names)}")

    def col(*keys: str) -> np.ndarray:
        return np.stack([np.asarray(v[k], dtype=np.float64) for k in keys], axis=1)

    n_rest = sum(1 for n in names if n.startswith("f_rest_"))
    if n_rest % 3:
        raise DataFormatError(path, f"{n_rest} f_rest properties is not a multiple of 3")
    per_ch = n_rest // 3
    rest = col(*[f"f_rest_{i}" for i in range(n_rest)]) if n_rest else np.zeros((len(v.data), 0))
    rest = np.transpose(rest.reshape(-1, 3, per_ch), (0, 2, 1))
    B = (sh_degree + 1) ** 2
    sh = np.zeros((rest.shape[0], B, 3))
    sh[:, 0] = col("f_dc_0", "f_dc_1", "f_dc_2")
    k = min(B - 1, per_ch)
    sh[:, 1:1 + k] = rest[:, :k]
    logit = np.asarray(v["opacity"], dtype=np.float64)

    def t(a: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(np.ascontiguousarray(a)).float()

    return Gaussians(means=t(col("x", "y", "z")), quats=t(col("rot_0", "rot_1", "rot_2", "rot_3")),
                     scales=t(np.exp(col("scale_0", "scale_1", "scale_2"))),
                     opacities=t(1.0 / (1.0 + np.exp(-logit))), colors=t(sh))
