"""The synthetic camera rig (geometry) and each camera's capture clock (timing).

Geometry: cameras on an arc in front of the action, roughly like the N3V rig: all face the scene, heights
alternate between two rows with a little jitter, look-at points are jittered. ``cam00`` sits nearest the arc's
middle (the N3V reference/test camera). Extrinsics are OpenCV world-to-camera (x right, y down, z forward).

Timing (the sync4dgs/timemap.py convention): frame ``i`` of camera ``k`` is captured at global time
``t_global_s = offset_s[k] + rate[k] * i / fps[k]``. cam00 has offset 0 and rate 1.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sync4dgs.data.synth.scene_def import ACTION_CENTER_M
from sync4dgs.utils.geometry import look_at

WORLD_UP = np.array([0.0, 0.0, 1.0])


@dataclass
class RigCamera:
    """A pinhole camera: K [3, 3] pixels, R [3, 3] and t [3] OpenCV world-to-camera, image size in pixels."""

    name: str
    K: np.ndarray
    R: np.ndarray
    t: np.ndarray
    width: int
    height: int

    @property
    def center(self) -> np.ndarray:
        """[3] camera centre in world metres."""
        return -self.R.T @ self.t


@dataclass
class CameraClock:
    """When a camera captures: ``t_global_s(i) = offset_s + rate * i / fps`` for i in [0, n_frames)."""

    fps: float
    n_frames: int
    offset_s: float = 0.0
    rate: float = 1.0

    def times_s(self) -> np.ndarray:
        """[n_frames] float64 global capture times in seconds."""
        return self.offset_s + self.rate * np.arange(self.n_frames, dtype=np.float64) / self.fps


def intrinsics(width: int, height: int, hfov_deg: float) -> np.ndarray:
    """Pinhole K with square pixels and the principal point at the image centre (w/2, h/2)."""
    f = 0.5 * width / np.tan(np.deg2rad(hfov_deg) / 2.0)
    return np.array([[f, 0.0, width / 2.0], [0.0, f, height / 2.0], [0.0, 0.0, 1.0]])


def make_rig(n_cams: int, width: int, height: int, rng: np.random.Generator, hfov_deg: float = 65.0,
             radius_m: float = 4.2) -> list[RigCamera]:
    """``n_cams`` cameras ``cam00``..: an arc of radius ``radius_m`` around the action centre, spanning up to
    80 degrees (10 degrees between neighbours for small rigs), two height rows, jittered look-at points."""
    target0 = np.asarray(ACTION_CENTER_M, dtype=np.float64)
    span = np.deg2rad(min(80.0, 10.0 * max(n_cams - 1, 1)))
    angles = np.linspace(-span / 2, span / 2, n_cams) if n_cams > 1 else np.zeros(1)
    order = [int(np.argmin(np.abs(angles)))] + [i for i in range(n_cams) if i != int(np.argmin(np.abs(angles)))]
    cams = []
    K = intrinsics(width, height, hfov_deg)
    for k, idx in enumerate(order):
        a = angles[idx]
        r = radius_m + rng.uniform(-0.15, 0.15)
        height_m = 1.25 + (0.22 if idx % 2 else -0.12) + rng.uniform(-0.05, 0.05)
        center = target0 + np.array([r * np.sin(a), -r * np.cos(a), 0.0])
        center[2] = height_m
        target = target0 + rng.uniform(-0.15, 0.15, 3)
        R, t = look_at(center, target)
        cams.append(RigCamera(f"cam{k:02d}", K.copy(), R, t, width, height))
    return cams


def assign_frame_rates(n_cams: int, fps: float, fps_mix: tuple[float, ...] | None) -> list[float]:
    """cam00 keeps ``fps``; cameras 1.. cycle through ``fps_mix`` (all ``fps`` if None/empty)."""
    if not fps_mix:
        return [float(fps)] * n_cams
    return [float(fps)] + [float(fps_mix[(k - 1) % len(fps_mix)]) for k in range(1, n_cams)]


def make_clocks(n_cams: int, fps: float, n_frames: int, max_offset_s: float, subframe: bool,
                fps_mix: tuple[float, ...] | None, rng: np.random.Generator) -> list[CameraClock]:
    """Per-camera capture clocks.

    Every camera films the same duration ``n_frames / fps`` seconds, so a camera at ``fps_k`` has
    ``round(n_frames * fps_k / fps)`` frames. Offsets are uniform in [-max_offset_s, max_offset_s], rounded to
    whole reference frames (1 / fps); with ``subframe`` a uniform part in [-0.5, 0.5) reference frames is added
    (then clipped to the range). The same random draws are made either way, so switching ``subframe`` changes
    only the sub-frame part. cam00: offset 0, rate 1.
    """
    rates = assign_frame_rates(n_cams, fps, fps_mix)
    u = rng.uniform(-max_offset_s, max_offset_s, n_cams)
    frac = rng.uniform(-0.5, 0.5, n_cams)
    clocks = []
    for k in range(n_cams):
        n_k = max(1, int(round(n_frames * rates[k] / fps)))
        off = np.round(u[k] * fps) / fps
        if subframe:
            off = float(np.clip(off + frac[k] / fps, -max_offset_s, max_offset_s))
        clocks.append(CameraClock(rates[k], n_k, 0.0 if k == 0 else float(off), 1.0))
    return clocks


def time_span_s(clocks: list[CameraClock]) -> tuple[float, float]:
    """(first, last) global capture time over all cameras, seconds."""
    return (min(float(c.times_s()[0]) for c in clocks), max(float(c.times_s()[-1]) for c in clocks))


def overlap_fraction(a: CameraClock, b: CameraClock) -> float:
    """Fraction of camera ``b``'s capture interval that camera ``a`` also covers (0..1)."""
    ta, tb = a.times_s(), b.times_s()
    lo, hi = max(ta[0], tb[0]), min(ta[-1], tb[-1])
    return float(max(0.0, hi - lo) / max(tb[-1] - tb[0], 1e-9))
