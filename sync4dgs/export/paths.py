"""Free-viewpoint camera paths through a rig of static cameras (pure numpy, float64, no I/O).

Conventions: poses are world-to-camera OpenCV (``x_cam = R @ x_world + t``; x right, y down, z forward);
intrinsics ``K`` in pixels. A path is a :class:`CameraPath` of M poses sharing one output image size.

* :func:`interpolate_path` passes through the given cameras (ordered by azimuth around the rig's look-at
  point): centripetal Catmull-Rom on the camera centres, slerp on the rotations, linear blend of the
  normalised intrinsics; frames are spread so that translation + rotation advance evenly (no jumps).
* :func:`orbit_path` circles the look-at point of the cameras (the least-squares point nearest to every
  optical axis) at the rig's mean radius and height. A rig that surrounds the scene (azimuth span > 180
  deg) gets a full circle; a forward-facing rig gets a smooth back-and-forth sweep across its own span, so
  the path never looks at the unobserved back of the scene. Both are closed loops.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sync4dgs.errors import ConfigError
from sync4dgs.export.rotations import rotation_angle_between, rotmat_to_quat, slerp
from sync4dgs.utils.geometry import look_at, quat_to_rotmat

PATH_KINDS = ("orbit", "interp", "camera")


@dataclass
class PathSpec:
    """A parsed ``--path`` value: kind "orbit" | "interp" | "camera" (then ``camera`` names it)."""

    kind: str
    camera: str | None = None


def parse_path_spec(spec: str) -> PathSpec:
    """Parse ``orbit`` | ``interp`` | ``camera:<name>`` (ConfigError otherwise)."""
    if spec in ("orbit", "interp"):
        return PathSpec(spec)
    if spec.startswith("camera:") and len(spec) > len("camera:"):
        return PathSpec("camera", spec[len("camera:"):])
    raise ConfigError(f"--path must be 'orbit', 'interp' or 'camera:<name>', got {spec!r}")


@dataclass
class CameraPath:
    """M camera poses for one output size.

    viewmats: [M, 4, 4] float64 world-to-camera (OpenCV). Ks: [M, 3, 3] float64 pixels for width x height.
    """

    viewmats: np.ndarray
    Ks: np.ndarray
    width: int
    height: int

    def __len__(self) -> int:
        return int(self.viewmats.shape[0])

    @property
    def centers(self) -> np.ndarray:
        """[M, 3] camera centres in world coordinates."""
        R, t = self.viewmats[:, :3, :3], self.viewmats[:, :3, 3]
        return -np.einsum("mji,mj->mi", R, t)


def make_viewmats(R_c2w: np.ndarray, centers: np.ndarray) -> np.ndarray:
    """[M, 3, 3] camera-to-world rotations + [M, 3] centres -> [M, 4, 4] world-to-camera matrices."""
    M = R_c2w.shape[0]
    vm = np.tile(np.eye(4), (M, 1, 1))
    Rw = np.transpose(R_c2w, (0, 2, 1))
    vm[:, :3, :3] = Rw
    vm[:, :3, 3] = -np.einsum("mij,mj->mi", Rw, centers)
    return vm


def camera_centers(R_w2c: np.ndarray, t: np.ndarray) -> np.ndarray:
    """[C, 3, 3] rotations + [C, 3] translations (world-to-camera) -> [C, 3] centres."""
    return -np.einsum("cji,cj->ci", R_w2c, t)


def look_at_point(R_w2c: np.ndarray, t: np.ndarray, prior_depth: float | None = None) -> np.ndarray:
    """[3] point nearest (least squares) to every camera's optical axis: the rig's look-at point.

    Nearly parallel axes leave the depth along the mean view direction undetermined; a weak Tikhonov
    prior pulls that component to ``prior_depth`` (scene units; default: the rig's spread, at least 1)
    in front of the mean camera centre.
    """
    c = camera_centers(R_w2c, t)
    d = R_w2c[:, 2, :]  # optical axes (camera +z) in world coordinates
    d = d / np.linalg.norm(d, axis=1, keepdims=True)
    P = np.eye(3)[None] - d[:, :, None] * d[:, None, :]
    A = P.sum(0)
    b = np.einsum("cij,cj->i", P, c)
    if prior_depth is None:
        spread = float(np.linalg.norm(c - c.mean(0), axis=1).max()) if len(c) > 1 else 0.0
        prior_depth = max(spread, 1.0)
    d_mean = d.mean(0)
    d_mean /= max(np.linalg.norm(d_mean), 1e-12)
    prior = c.mean(0) + prior_depth * d_mean
    lam = 1e-3 * len(c)
    return np.linalg.solve(A + lam * np.eye(3), b + lam * prior)


def mean_up(R_w2c: np.ndarray) -> np.ndarray:
    """[3] unit world "up" direction: the mean of the cameras' image-up axes (-y in OpenCV)."""
    up = -R_w2c[:, 1, :].mean(0)
    n = np.linalg.norm(up)
    if n < 1e-9:
        raise ConfigError("cannot derive an up direction: the cameras' up axes cancel out")
    return up / n


def _plane_basis(up: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    a = np.eye(3)[np.argmin(np.abs(up))]
    e1 = np.cross(up, a)
    e1 /= np.linalg.norm(e1)
    return e1, np.cross(up, e1)


def azimuths(centers: np.ndarray, pivot: np.ndarray, up: np.ndarray) -> np.ndarray:
    """[C] azimuth (radians, in (-pi, pi]) of each centre around ``pivot`` in the plane normal to ``up``."""
    e1, e2 = _plane_basis(up)
    rel = centers - pivot
    return np.arctan2(rel @ e2, rel @ e1)


def order_by_azimuth(R_w2c: np.ndarray, t: np.ndarray) -> np.ndarray:
    """[C] camera indices sorted by azimuth around the look-at point, starting after the widest gap
    (so a forward-facing rig is ordered left to right and a ring starts where it is open)."""
    c = camera_centers(R_w2c, t)
    if len(c) < 3:
        return np.arange(len(c))
    az = azimuths(c, look_at_point(R_w2c, t), mean_up(R_w2c))
    order = np.argsort(az)
    gaps = np.diff(np.concatenate([az[order], az[order[:1]] + 2 * np.pi]))
    start = (int(np.argmax(gaps)) + 1) % len(order)
    return np.roll(order, -start)


def catmull_rom(points: np.ndarray, seg: np.ndarray, u: np.ndarray, alpha: float = 0.5) -> np.ndarray:
    """Catmull-Rom spline through ``points`` [C, D] (centripetal for alpha=0.5), evaluated on segment
    ``seg`` [M] int (between points seg and seg+1) at local parameter ``u`` [M] in [0, 1] -> [M, D].

    End tangents use reflected phantom points. Passes exactly through every point at u = 0 / 1.
    """
    P = np.asarray(points, dtype=np.float64)
    if len(P) == 1:
        return np.repeat(P, len(seg), 0)
    ext = np.concatenate([2 * P[:1] - P[1:2], P, 2 * P[-1:] - P[-2:-1]], 0)
    p0, p1, p2, p3 = ext[seg], ext[seg + 1], ext[seg + 2], ext[seg + 3]

    def knot(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return np.maximum(np.linalg.norm(b - a, axis=1), 1e-9) ** alpha

    t0 = np.zeros(len(seg))
    t1 = t0 + knot(p0, p1)
    t2 = t1 + knot(p1, p2)
    t3 = t2 + knot(p2, p3)
    tt = (t1 + (t2 - t1) * u)[:, None]
    t0, t1, t2, t3 = (x[:, None] for x in (t0, t1, t2, t3))
    a1 = (t1 - tt) / (t1 - t0) * p0 + (tt - t0) / (t1 - t0) * p1
    a2 = (t2 - tt) / (t2 - t1) * p1 + (tt - t1) / (t2 - t1) * p2
    a3 = (t3 - tt) / (t3 - t2) * p2 + (tt - t2) / (t3 - t2) * p3
    b1 = (t2 - tt) / (t2 - t0) * a1 + (tt - t0) / (t2 - t0) * a2
    b2 = (t3 - tt) / (t3 - t1) * a2 + (tt - t1) / (t3 - t1) * a3
    out = (t2 - tt) / (t2 - t1) * b1 + (tt - t1) / (t2 - t1) * b2
    # exact endpoints (the formula is exact up to rounding; make it bit-exact)
    out[u <= 0.0] = p1[u <= 0.0]
    out[u >= 1.0] = p2[u >= 1.0]
    return out


def normalized_intrinsics(K: np.ndarray, width: int, height: int) -> np.ndarray:
    """[3, 3] pixels -> [4] (fy / H, fx / fy, cx / W, cy / H): size-free, keeps the vertical field of view."""
    return np.array([K[1, 1] / height, K[0, 0] / K[1, 1], K[0, 2] / width, K[1, 2] / height])


def intrinsics_from_normalized(nk: np.ndarray, width: int, height: int) -> np.ndarray:
    """Inverse of :func:`normalized_intrinsics` for an output ``width`` x ``height``."""
    fy = nk[0] * height
    return np.array([[fy * nk[1], 0.0, nk[2] * width], [0.0, fy, nk[3] * height], [0.0, 0.0, 1.0]])


def interpolate_path(R_w2c: np.ndarray, t: np.ndarray, Ks: np.ndarray, sizes: np.ndarray, n_frames: int,
                     width: int, height: int) -> CameraPath:
    """A smooth open path through the given cameras, in the given order (see :func:`order_by_azimuth`).

    Args:
        R_w2c: [C, 3, 3], t: [C, 3] world-to-camera poses; Ks: [C, 3, 3] pixels; sizes: [C, 2] (width, height).
        n_frames: M >= 2 output poses; frame 0 is camera 0 and frame M-1 is camera C-1 exactly.
        width, height: output image size in pixels.
    """
    C = len(R_w2c)
    if C < 1 or n_frames < 2:
        raise ConfigError(f"an interpolated path needs >= 1 camera and >= 2 frames, got {C} and {n_frames}")
    centers = camera_centers(R_w2c, t)
    quats = rotmat_to_quat(np.transpose(R_w2c, (0, 2, 1)))
    nks = np.stack([normalized_intrinsics(K, int(w), int(h)) for K, (w, h) in zip(Ks, sizes)])
    if C == 1:
        seg, u = np.zeros(n_frames, dtype=int), np.zeros(n_frames)
        centers, quats, nks = (np.concatenate([x, x]) for x in (centers, quats, nks))
    else:
        # Spread frames so translation and rotation both advance evenly (each normalised by its total).
        chord = np.linalg.norm(np.diff(centers, axis=0), axis=1)
        angle = np.array([rotation_angle_between(quat_to_rotmat(quats[i]), quat_to_rotmat(quats[i + 1]))
                          for i in range(C - 1)])
        w = chord / max(chord.sum(), 1e-12) + angle / max(angle.sum(), 1e-12)
        if w.sum() <= 0:
            w = np.ones(C - 1)
        cum = np.concatenate([[0.0], np.cumsum(w)]) / w.sum()
        s = np.linspace(0.0, 1.0, n_frames)
        seg = np.clip(np.searchsorted(cum, s, side="right") - 1, 0, C - 2)
        u = np.clip((s - cum[seg]) / np.maximum(cum[seg + 1] - cum[seg], 1e-12), 0.0, 1.0)
        u[-1], seg[-1] = 1.0, C - 2
    pos = catmull_rom(centers, seg, u)
    R_c2w = np.stack([quat_to_rotmat(slerp(quats[i], quats[i + 1], ui)) for i, ui in zip(seg, u)])
    nk = (1 - u)[:, None] * nks[seg] + u[:, None] * nks[seg + 1]
    K_out = np.stack([intrinsics_from_normalized(k, width, height) for k in nk])
    return CameraPath(make_viewmats(R_c2w, pos), K_out, int(width), int(height))


def orbit_path(R_w2c: np.ndarray, t: np.ndarray, K: np.ndarray, size: tuple[int, int], n_frames: int,
               width: int, height: int, *, pivot: np.ndarray | None = None, radius_scale: float = 1.0) -> CameraPath:
    """A closed loop of ``n_frames`` poses around the rig's look-at point (module docstring).

    Args:
        R_w2c: [C, 3, 3], t: [C, 3] the rig (world-to-camera). K: [3, 3] pixels of a camera of ``size``
            (width, height) whose field of view the path uses. pivot: [3] override of the look-at point.
        radius_scale: multiplies the rig's mean horizontal distance to the pivot.
    """
    if n_frames < 2:
        raise ConfigError(f"an orbit needs >= 2 frames, got {n_frames}")
    centers = camera_centers(R_w2c, t)
    pivot = look_at_point(R_w2c, t) if pivot is None else np.asarray(pivot, dtype=np.float64)
    up = mean_up(R_w2c)
    rel = centers - pivot
    height_up = float((rel @ up).mean())
    radial = rel - np.outer(rel @ up, up)
    radius = float(np.linalg.norm(radial, axis=1).mean()) * radius_scale
    if radius < 1e-9:
        raise ConfigError("cannot orbit: the cameras sit on the axis through their look-at point")
    az = azimuths(centers, pivot, up)
    s = np.arange(n_frames) / n_frames
    if len(az) >= 2:
        srt = np.sort(az)
        gaps = np.diff(np.concatenate([srt, srt[:1] + 2 * np.pi]))
        g = int(np.argmax(gaps))
        span = 2 * np.pi - gaps[g]
        mid = srt[(g + 1) % len(srt)] + span / 2
    else:
        span, mid = 0.0, float(az[0])
    if span > np.pi:
        a = az[0] + 2 * np.pi * s
    else:  # forward-facing rig: sweep across (a little beyond) its own span and back
        half = max(span / 2, np.deg2rad(10.0))
        a = mid + half * np.sin(2 * np.pi * s)
    e1, e2 = _plane_basis(up)
    pos = pivot + height_up * up + radius * (np.cos(a)[:, None] * e1 + np.sin(a)[:, None] * e2)
    R_c2w = np.stack([look_at(p, pivot, up, parallel_ok=True)[0].T for p in pos])
    k = intrinsics_from_normalized(normalized_intrinsics(K, *size), width, height)
    return CameraPath(make_viewmats(R_c2w, pos), np.repeat(k[None], n_frames, 0), int(width), int(height))
