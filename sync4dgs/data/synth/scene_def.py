"""The synthetic world: textured primitives with rigid motions (world units are metres, world +z is up).

The default scene (:func:`build_default_scene`) is a closed room (floor, ceiling, four walls as textured
rectangles) with a few static textured objects, which dominate every view so that calibration from static
content works, and four moving textured objects with different kinds of 3D motion:

* ``orbiter``: a sphere on a tilted circular orbit with a vertical bob, spinning;
* ``accelerator``: a box on a uniformly accelerated parabola across the room, tumbling faster and faster;
* ``fast_ball``: a small sphere on a fast 3D Lissajous curve (up to ~5 m/s);
* ``occluder``: a thin panel sweeping sideways between the cameras and the orbiter, occluding it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from sync4dgs.data.synth.motion import Accelerating, Lissajous, Motion, Orbit, Static, Sweep, motion_from_dict
from sync4dgs.data.synth.textures import Material

PRIMITIVE_KINDS = ("sphere", "box", "plane")

# Where the action happens (the camera rig looks here), metres.
ACTION_CENTER_M = (0.0, 1.2, 1.1)
# Room extent: x in [-4.5, 4.5], y in [-5.5, 5.0], z in [0, 3.2] (metres).
ROOM_MIN_M = (-4.5, -5.5, 0.0)
ROOM_MAX_M = (4.5, 5.0, 3.2)


@dataclass
class Primitive:
    """One textured rigid object.

    kind: "sphere" (``size[0]`` = radius), "box" (``size`` = half extents along local x, y, z) or "plane" (a
        rectangle in the local z = 0 plane, half extents ``size[0]``, ``size[1]`` along local x, y).
    All sizes in metres, in the object frame given by ``motion.pose(t)``.
    """

    name: str
    kind: str
    size: tuple[float, float, float]
    material: Material
    motion: Motion = field(default_factory=Static)

    def __post_init__(self) -> None:
        if self.kind not in PRIMITIVE_KINDS:
            raise ValueError(f"primitive {self.name}: kind must be one of {PRIMITIVE_KINDS}, got {self.kind!r}")

    @property
    def is_static(self) -> bool:
        return self.motion.is_static

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "kind": self.kind, "size": list(self.size), "static": self.is_static,
                "material": self.material.to_dict(), "motion": self.motion.to_dict()}

    @staticmethod
    def from_dict(d: dict[str, Any]) -> "Primitive":
        m = dict(d["material"])
        mat = Material(**{k: (tuple(v) if isinstance(v, list) else v) for k, v in m.items()})
        return Primitive(d["name"], d["kind"], tuple(d["size"]), mat, motion_from_dict(d["motion"]))


@dataclass
class SceneDef:
    """A list of primitives plus the time span (seconds, global clock) the cameras cover."""

    primitives: list[Primitive]
    time_span_s: tuple[float, float] = (0.0, 1.0)

    @property
    def moving(self) -> list[Primitive]:
        return [p for p in self.primitives if not p.is_static]

    @property
    def static(self) -> list[Primitive]:
        return [p for p in self.primitives if p.is_static]

    def primitive(self, name: str) -> Primitive:
        for p in self.primitives:
            if p.name == name:
                return p
        raise KeyError(f"no primitive named {name!r} (have {[p.name for p in self.primitives]})")

    def to_dict(self) -> dict[str, Any]:
        return {"time_span_s": list(self.time_span_s), "primitives": [p.to_dict() for p in self.primitives]}

    @staticmethod
    def from_dict(d: dict[str, Any]) -> "SceneDef":
        return SceneDef([Primitive.from_dict(p) for p in d["primitives"]], tuple(d["time_span_s"]))


def _rand_material(rng: np.random.Generator, base: tuple[float, float, float], checker_m: float, checker_w: float,
                   noise_m: float, noise_w: float, stripe_w: float = 0.0, stripe_m: float = 0.3) -> Material:
    """A material with seeded colour jitter, stripe direction, checker offset and hash seed."""
    jitter = rng.uniform(-0.08, 0.08, 3)
    col = tuple(float(v) for v in np.clip(np.asarray(base) + jitter, 0.05, 1.0))
    sd = rng.normal(size=3)
    return Material(base_rgb=col, checker_m=checker_m, checker_w=checker_w, noise_m=noise_m, noise_w=noise_w,
                    stripe_m=stripe_m, stripe_w=stripe_w, stripe_dir=tuple(float(v) for v in sd / np.linalg.norm(sd)),
                    checker_offset=tuple(float(v) for v in rng.uniform(0.2, 0.8, 3)),
                    seed=int(rng.integers(0, 2**30)))


def _room(rng: np.random.Generator) -> list[Primitive]:
    """Six rectangles closing the room; each is 1 cm larger than needed so corners have no gaps."""
    lo, hi = np.asarray(ROOM_MIN_M), np.asarray(ROOM_MAX_M)
    mid, half = (lo + hi) / 2, (hi - lo) / 2 + 0.01
    x_axis, y_axis = (1.0, 0.0, 0.0), (0.0, 1.0, 0.0)
    r90 = np.pi / 2
    specs = [  # name, centre, (half_u, half_v), rotation axis, angle, base colour
        ("floor", (mid[0], mid[1], lo[2]), (half[0], half[1]), x_axis, 0.0, (0.62, 0.5, 0.38)),
        ("ceiling", (mid[0], mid[1], hi[2]), (half[0], half[1]), x_axis, 0.0, (0.85, 0.85, 0.8)),
        ("wall_back", (mid[0], hi[1], mid[2]), (half[0], half[2]), x_axis, r90, (0.75, 0.72, 0.62)),
        ("wall_front", (mid[0], lo[1], mid[2]), (half[0], half[2]), x_axis, r90, (0.6, 0.65, 0.7)),
        ("wall_left", (lo[0], mid[1], mid[2]), (half[2], half[1]), y_axis, r90, (0.55, 0.68, 0.6)),
        ("wall_right", (hi[0], mid[1], mid[2]), (half[2], half[1]), y_axis, r90, (0.7, 0.58, 0.6)),
    ]
    out = []
    for name, c, (hu, hv), axis, ang, base in specs:
        mat = _rand_material(rng, base, checker_m=0.55, checker_w=0.6, noise_m=0.12, noise_w=0.7,
                             stripe_w=0.15, stripe_m=0.9)
        out.append(Primitive(name, "plane", (float(hu), float(hv), 0.0), mat,
                             Static(spin_axis=axis, position=tuple(float(v) for v in c), angle_rad=ang)))
    return out


def _static_objects(rng: np.random.Generator) -> list[Primitive]:
    z_axis, x_axis = (0.0, 0.0, 1.0), (1.0, 0.0, 0.0)

    def mat(base):
        return _rand_material(rng, base, checker_m=0.18, checker_w=0.7, noise_m=0.06, noise_w=0.6, stripe_w=0.2,
                              stripe_m=0.25)

    return [
        Primitive("cabinet", "box", (0.5, 0.35, 0.9), mat((0.55, 0.4, 0.3)),
                  Static(spin_axis=z_axis, position=(2.7, 3.3, 0.9), angle_rad=0.3)),
        Primitive("crate", "box", (0.4, 0.4, 0.4), mat((0.7, 0.6, 0.35)),
                  Static(spin_axis=z_axis, position=(-2.5, 3.0, 0.4), angle_rad=-0.4)),
        Primitive("table", "box", (0.9, 0.5, 0.05), mat((0.45, 0.3, 0.2)),
                  Static(spin_axis=z_axis, position=(-2.3, 0.6, 0.75), angle_rad=0.15)),
        Primitive("pillar", "box", (0.15, 0.15, 0.6), mat((0.8, 0.8, 0.75)),
                  Static(spin_axis=z_axis, position=(1.4, 3.8, 0.6), angle_rad=0.7)),
        Primitive("globe", "sphere", (0.3, 0.3, 0.3), mat((0.3, 0.55, 0.8)),
                  Static(spin_axis=(0.3, 1.0, 0.2), position=(1.4, 3.8, 1.5), angle_rad=0.9)),
        Primitive("poster", "plane", (0.9, 0.6, 0.0), mat((0.9, 0.85, 0.7)),
                  Static(spin_axis=x_axis, position=(-0.8, ROOM_MAX_M[1] - 0.02, 1.8), angle_rad=np.pi / 2)),
        Primitive("rug", "plane", (1.2, 0.8, 0.0), mat((0.6, 0.25, 0.25)),
                  Static(spin_axis=z_axis, position=(0.4, 2.0, 0.01), angle_rad=0.25)),
    ]


def _moving_objects(rng: np.random.Generator, t0_s: float, t1_s: float) -> list[Primitive]:
    def mat(base, checker_m):
        return _rand_material(rng, base, checker_m=checker_m, checker_w=0.85, noise_m=checker_m / 3, noise_w=0.5,
                              stripe_w=0.0)

    ph = rng.uniform(0.0, 2.0 * np.pi, 6)
    cx, cy, cz = ACTION_CENTER_M
    return [
        Primitive("orbiter", "sphere", (0.28, 0.28, 0.28), mat((0.95, 0.55, 0.2), 0.1),
                  Orbit(spin_axis=(0.3, 0.2, 1.0), spin_rate_rad_s=1.5, center_m=(cx, cy + 0.2, cz + 0.1),
                        radius_m=1.0, period_s=4.5, phase_rad=float(ph[0]), tilt_rad=0.35, bob_m=0.15,
                        bob_period_s=1.7)),
        Primitive("accelerator", "box", (0.22, 0.16, 0.12), mat((0.3, 0.8, 0.4), 0.08),
                  Accelerating(spin_axis=(1.0, 0.5, 0.2), spin_rate_rad_s=2.0, start_m=(cx - 1.6, cy - 0.8, 0.5),
                               end_m=(cx + 1.5, cy + 1.0, 1.9), bulge_m=(0.0, -0.3, 0.45), t0_s=float(t0_s),
                               t1_s=float(t1_s))),
        Primitive("fast_ball", "sphere", (0.12, 0.12, 0.12), mat((0.95, 0.95, 0.95), 0.05),
                  Lissajous(spin_axis=(0.0, 1.0, 0.3), spin_rate_rad_s=4.0, center_m=(cx + 0.3, cy + 0.6, cz + 0.3),
                            amplitude_m=(0.9, 0.5, 0.4), freq_hz=(0.9, 1.4, 1.1),
                            phase_rad=(float(ph[1]), float(ph[2]), float(ph[3])))),
        Primitive("occluder", "box", (0.25, 0.03, 0.32), mat((0.9, 0.9, 0.3), 0.12),
                  Sweep(spin_axis=(0.0, 0.0, 1.0), spin_rate_rad_s=0.4, center_m=(cx, cy - 1.5, cz + 0.1),
                        direction=(1.0, 0.0, 0.0), amplitude_m=1.4, period_s=3.3, phase_rad=float(ph[4]),
                        rise_m=0.2)),
    ]


def build_default_scene(seed: int, time_span_s: tuple[float, float]) -> SceneDef:
    """The default room scene, deterministic given ``seed`` (colours, texture seeds, motion phases).

    ``time_span_s``: (first, last) global time in seconds that any camera captures; the accelerating object
    starts from rest at the first and arrives at the end of its path at the last.
    """
    t0, t1 = float(time_span_s[0]), float(time_span_s[1])
    if not t1 > t0:
        t1 = t0 + 1.0
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), 0x5CE4E]))
    prims = _room(rng) + _static_objects(rng) + _moving_objects(rng, t0, t1)
    return SceneDef(prims, (t0, t1))
