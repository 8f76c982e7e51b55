"""Rigid motions of synthetic objects as pure functions of continuous global time (seconds).

Every motion maps times ``t_s`` (float64 [T], seconds on the reference camera's clock, any real value) to a
pose: ``R`` [T, 3, 3] object-to-world rotation and ``c`` [T, 3] object centre in world units (metres), so a
point ``x_local`` of the object is at ``R @ x_local + c`` in the world. All motions are defined (finite) for
every real time, so any camera clock, offset or frame rate can be rendered.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np


def axis_angle_to_matrix(axis: np.ndarray, angle: np.ndarray) -> np.ndarray:
    """Rodrigues' formula: unit-normalised ``axis`` [3] and angles [T] (radians) -> rotations [T, 3, 3]."""
    a = np.asarray(axis, dtype=np.float64)
    a = a / np.linalg.norm(a)
    ang = np.asarray(angle, dtype=np.float64).reshape(-1)
    k = np.array([[0.0, -a[2], a[1]], [a[2], 0.0, -a[0]], [-a[1], a[0], 0.0]])
    s, c = np.sin(ang)[:, None, None], np.cos(ang)[:, None, None]
    return np.eye(3)[None] + s * k[None] + (1.0 - c) * (k @ k)[None]


def _vec(v: Any) -> np.ndarray:
    return np.asarray(v, dtype=np.float64).reshape(3)


@dataclass
class Motion:
    """Base class. ``spin_axis``/``spin_rate_rad_s``: extra rotation about the object centre (rad/s)."""

    spin_axis: tuple[float, float, float] = (0.0, 0.0, 1.0)
    spin_rate_rad_s: float = 0.0

    kind = "motion"

    @property
    def is_static(self) -> bool:
        return False

    def center(self, t_s: np.ndarray) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def spin_angle(self, t_s: np.ndarray) -> np.ndarray:
        """[T] rotation angle (radians) about ``spin_axis``; default: constant rate."""
        return self.spin_rate_rad_s * t_s

    def pose(self, t_s: Any) -> tuple[np.ndarray, np.ndarray]:
        """Pose at times ``t_s`` (seconds, float64 [T]): ``(R [T, 3, 3], c [T, 3])``."""
        t = np.asarray(t_s, dtype=np.float64).reshape(-1)
        return axis_angle_to_matrix(np.asarray(self.spin_axis), self.spin_angle(t)), self.center(t)

    def to_dict(self) -> dict[str, Any]:
        d = {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(self).items()}
        return {"kind": self.kind, **d}


@dataclass
class Static(Motion):
    """Fixed pose: centre ``position`` (m), rotated by ``angle_rad`` about ``spin_axis`` (spin rate ignored)."""

    position: tuple[float, float, float] = (0.0, 0.0, 0.0)
    angle_rad: float = 0.0

    kind = "static"

    @property
    def is_static(self) -> bool:
        return True

    def center(self, t_s: np.ndarray) -> np.ndarray:
        return np.broadcast_to(_vec(self.position), (len(t_s), 3)).copy()

    def spin_angle(self, t_s: np.ndarray) -> np.ndarray:
        return np.full(len(t_s), self.angle_rad)


@dataclass
class Orbit(Motion):
    """Circular orbit of ``radius_m`` around ``center_m`` with period ``period_s``, in a plane tilted by
    ``tilt_rad`` about the world x axis, plus a vertical bob ``bob_m * sin(2 pi t / bob_period_s)``."""

    center_m: tuple[float, float, float] = (0.0, 0.0, 1.0)
    radius_m: float = 1.0
    period_s: float = 4.0
    phase_rad: float = 0.0
    tilt_rad: float = 0.0
    bob_m: float = 0.0
    bob_period_s: float = 1.0

    kind = "orbit"

    def center(self, t_s: np.ndarray) -> np.ndarray:
        th = self.phase_rad + 2.0 * np.pi * t_s / self.period_s
        circle = np.stack([np.cos(th), np.sin(th), np.zeros_like(th)], -1) * self.radius_m
        tilt = axis_angle_to_matrix(np.array([1.0, 0.0, 0.0]), np.array([self.tilt_rad]))[0]
        bob = self.bob_m * np.sin(2.0 * np.pi * t_s / self.bob_period_s)
        return _vec(self.center_m)[None] + circle @ tilt.T + bob[:, None] * np.array([0.0, 0.0, 1.0])


@dataclass
class Accelerating(Motion):
    """Uniformly accelerated motion on a parabola from ``start_m`` (at ``t0_s``) to ``end_m`` (at ``t1_s``)::

        s = (t - t0_s) / (t1_s - t0_s)
        c(t) = start + 4 * bulge * s * (1 - s) + (end - start) * s^2

    The acceleration ``(2 (end - start) - 8 bulge) / (t1 - t0)^2`` is constant; with a small ``bulge_m`` the
    object starts slowly (speed 4 |bulge| / (t1 - t0)) and speeds up along a curved (planar) path. The spin
    angle grows quadratically too (``spin_rate_rad_s`` is its mean rate over [t0, t1]). Defined for all t;
    the generator sets [t0, t1] to the time span the cameras cover."""

    start_m: tuple[float, float, float] = (0.0, 0.0, 1.0)
    end_m: tuple[float, float, float] = (1.0, 0.0, 1.0)
    bulge_m: tuple[float, float, float] = (0.0, 0.0, 0.0)
    t0_s: float = 0.0
    t1_s: float = 1.0

    kind = "accelerating"

    def _s(self, t_s: np.ndarray) -> np.ndarray:
        return (t_s - self.t0_s) / (self.t1_s - self.t0_s)

    def center(self, t_s: np.ndarray) -> np.ndarray:
        s = self._s(t_s)[:, None]
        start = _vec(self.start_m)[None]
        return start + 4.0 * _vec(self.bulge_m)[None] * s * (1.0 - s) + (_vec(self.end_m)[None] - start) * s * s

    def spin_angle(self, t_s: np.ndarray) -> np.ndarray:
        return self.spin_rate_rad_s * (self.t1_s - self.t0_s) * self._s(t_s) ** 2


@dataclass
class Lissajous(Motion):
    """Fast 3D Lissajous curve: ``c_j(t) = center_j + amp_j * sin(2 pi f_j t + phase_j)`` per axis j."""

    center_m: tuple[float, float, float] = (0.0, 0.0, 1.0)
    amplitude_m: tuple[float, float, float] = (0.5, 0.5, 0.3)
    freq_hz: tuple[float, float, float] = (1.0, 1.3, 0.7)
    phase_rad: tuple[float, float, float] = (0.0, 0.5, 1.0)

    kind = "lissajous"

    def center(self, t_s: np.ndarray) -> np.ndarray:
        arg = 2.0 * np.pi * t_s[:, None] * _vec(self.freq_hz)[None] + _vec(self.phase_rad)[None]
        return _vec(self.center_m)[None] + _vec(self.amplitude_m)[None] * np.sin(arg)


@dataclass
class Sweep(Motion):
    """Back-and-forth sweep along ``direction`` (unit-normalised): ``c(t) = center + amp * sin(2 pi t / period
    + phase) * direction`` plus a slow vertical drift ``rise_m * sin(pi t / period)``."""

    center_m: tuple[float, float, float] = (0.0, 0.0, 1.0)
    direction: tuple[float, float, float] = (1.0, 0.0, 0.0)
    amplitude_m: float = 1.0
    period_s: float = 3.0
    phase_rad: float = 0.0
    rise_m: float = 0.0

    kind = "sweep"

    def center(self, t_s: np.ndarray) -> np.ndarray:
        d = _vec(self.direction) / np.linalg.norm(self.direction)
        arg = 2.0 * np.pi * t_s / self.period_s + self.phase_rad
        rise = self.rise_m * np.sin(np.pi * t_s / self.period_s)
        return (_vec(self.center_m)[None] + (self.amplitude_m * np.sin(arg))[:, None] * d[None]
                + rise[:, None] * np.array([0.0, 0.0, 1.0]))


MOTION_KINDS: dict[str, type[Motion]] = {m.kind: m for m in (Static, Orbit, Accelerating, Lissajous, Sweep)}


def motion_from_dict(d: dict[str, Any]) -> Motion:
    """Inverse of ``Motion.to_dict`` (lists become tuples)."""
    d = dict(d)
    cls = MOTION_KINDS[d.pop("kind")]
    return cls(**{k: (tuple(v) if isinstance(v, list) else v) for k, v in d.items()})


__all__ = ["Motion", "Static", "Orbit", "Accelerating", "Lissajous", "Sweep", "axis_angle_to_matrix",
           "motion_from_dict", "MOTION_KINDS"]
