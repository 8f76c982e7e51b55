"""Ground truth beyond images: 3D positions of points on the moving objects at any global time.

Useful to test stage 1 (triangulated trajectories) against the truth: a point fixed on a moving object's
surface (object frame) moves rigidly with it, ``x_world(t) = R(t) @ x_local + c(t)``.
"""

from __future__ import annotations

import numpy as np

from sync4dgs.data.synth.scene_def import Primitive, SceneDef


def surface_points_local(prim: Primitive, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` points uniformly on a primitive's surface, in its object frame (metres): float64 [n, 3]."""
    if prim.kind == "sphere":
        v = rng.normal(size=(n, 3))
        return prim.size[0] * v / np.linalg.norm(v, axis=1, keepdims=True)
    if prim.kind == "plane":
        u = rng.uniform(-1.0, 1.0, size=(n, 2)) * np.asarray(prim.size[:2])
        return np.concatenate([u, np.zeros((n, 1))], axis=1)
    half = np.asarray(prim.size, dtype=np.float64)
    areas = np.array([half[1] * half[2], half[0] * half[2], half[0] * half[1]])  # faces normal to x, y, z
    axis = rng.choice(3, size=n, p=areas / areas.sum())
    pts = rng.uniform(-1.0, 1.0, size=(n, 3)) * half
    side = np.where(rng.uniform(size=n) < 0.5, -1.0, 1.0)
    pts[np.arange(n), axis] = side * half[axis]
    return pts


def object_points_world(prim: Primitive, points_local: np.ndarray, times_s) -> np.ndarray:
    """World positions [T, P, 3] (metres) of object-frame points [P, 3] at global times ``times_s`` [T] (s)."""
    R, c = prim.motion.pose(np.asarray(times_s, dtype=np.float64).reshape(-1))
    return np.einsum("tij,pj->tpi", R, np.asarray(points_local, dtype=np.float64)) + c[:, None, :]


def object_centers(scene: SceneDef, times_s) -> dict[str, np.ndarray]:
    """Centre trajectory [T, 3] (metres) of every moving object at global times ``times_s`` [T] (seconds)."""
    t = np.asarray(times_s, dtype=np.float64).reshape(-1)
    return {p.name: p.motion.pose(t)[1] for p in scene.moving}


def moving_points_world(scene: SceneDef, times_s, n_per_object: int = 32, seed: int = 0
                        ) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Sample ``n_per_object`` surface points on every moving object and follow them over time.

    Returns ``{object name: (points_local [P, 3], points_world [T, P, 3])}`` for global times ``times_s``
    [T] (seconds); deterministic given ``seed``.
    """
    rng = np.random.default_rng(seed)
    out = {}
    for prim in scene.moving:
        local = surface_points_local(prim, n_per_object, rng)
        out[prim.name] = (local, object_points_world(prim, local, times_s))
    return out
