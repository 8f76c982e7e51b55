"""The time convention and per-camera time maps (pure functions + a small JSON format).

Frame ``i`` of camera ``k`` is captured at global time (seconds, reference camera's clock)::

    t_global_s = offset_s[k] + rate[k] * tau_s[k][i]

``tau_s`` is the frame's time on camera k's own clock, relative to its first frame. The reference camera
has offset 0 and rate 1. A camera whose video starts 0.5 s after the reference's has offset_s = +0.5.

The same JSON schema is used for stage-1 estimates (``offsets.json``), learned stage-2 maps
(``time_maps.json`` in a model folder) and ground truth (``gt_sync.json``)::

    {"version": 1, "reference_camera": "cam00",
     "cameras": {"cam00": {"offset_s": 0.0, "rate": 1.0, "confidence": 1.0, "status": "reference"}, ...}}
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from sync4dgs.errors import DataFormatError
from sync4dgs.utils.atomic import read_json_object, write_json

ArrayT = TypeVar("ArrayT")

TIME_MAP_VERSION = 1
STATUSES = ("reference", "aligned", "low_confidence", "unaligned", "fixed")


def global_time_s(offset_s: Any, rate: Any, tau_s: ArrayT) -> ArrayT:
    """Global time in seconds of local time(s) ``tau_s`` (numpy or torch; broadcasts)."""
    return offset_s + rate * tau_s


def local_time_s(t_global_s: Any, offset_s: Any, rate: Any) -> Any:
    """Inverse of :func:`global_time_s`: a camera's local time (s) of global time(s)."""
    return (t_global_s - offset_s) / rate


def seconds_to_frames(dt_s: Any, fps: float) -> Any:
    """Convert a duration in seconds to frames of a camera running at ``fps``."""
    return dt_s * fps


@dataclass
class TimeMap:
    """One camera's map from local to global time.

    offset_s: seconds; rate: dimensionless (1 = same clock speed as the reference);
    confidence: in [0, 1]; status: one of "reference", "aligned", "low_confidence" (estimated, but little
    evidence links it to the reference: may be wrong), "unaligned", "fixed".
    """

    offset_s: float = 0.0
    rate: float = 1.0
    confidence: float = 1.0
    status: str = "aligned"

    def to_dict(self) -> dict[str, Any]:
        return {"offset_s": float(self.offset_s), "rate": float(self.rate),
                "confidence": float(self.confidence), "status": self.status}


@dataclass
class TimeMaps:
    """Time maps for every camera of a scene, keyed by camera name."""

    reference_camera: str
    cameras: dict[str, TimeMap]
    extra: dict[str, Any] | None = None

    def offsets_s(self, names: list[str]) -> np.ndarray:
        """[len(names)] offsets in seconds, in the given camera order (KeyError if one is missing)."""
        return np.array([self.cameras[n].offset_s for n in names], dtype=np.float64)

    def rates(self, names: list[str]) -> np.ndarray:
        """[len(names)] rates, in the given camera order."""
        return np.array([self.cameras[n].rate for n in names], dtype=np.float64)

    @staticmethod
    def identity(names: list[str], reference_camera: str) -> "TimeMaps":
        """Every camera at (0, 1): the "naive" assumption that all videos started together."""
        return TimeMaps(reference_camera, {n: TimeMap(0.0, 1.0, 0.0 if n != reference_camera else 1.0,
                                                      "reference" if n == reference_camera else "fixed")
                                           for n in names})

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"version": TIME_MAP_VERSION, "reference_camera": self.reference_camera,
                             "cameras": {n: m.to_dict() for n, m in self.cameras.items()}}
        if self.extra:
            d["extra"] = self.extra
        return d

    def save(self, path: str | Path) -> None:
        write_json(path, self.to_dict())


def rereference(maps: TimeMaps, new_reference: str, old_reference_status: str = "aligned") -> TimeMaps:
    """``maps`` re-expressed on camera ``new_reference``'s clock (the one re-referencing of time maps).

    With old maps (o_k, r_k) the new global clock is camera R's local clock, tau_R = (o_k + r_k tau_k - o_R) / r_R,
    hence o'_k = (o_k - o_R) / r_R and r'_k = r_k / r_R (seconds; rates dimensionless). ``new_reference`` gets
    exactly (0, 1) and status "reference"; the OLD reference (status "reference") gets ``old_reference_status``
    ("aligned" for estimates, "fixed" for ground truth); every other status and every confidence is kept.
    Identity on the values when the references agree. KeyError (naming the camera) if ``new_reference`` has no map.
    """
    if new_reference not in maps.cameras:
        raise KeyError(f"cannot re-reference time maps: camera {new_reference!r} has no time map "
                       f"(have {sorted(maps.cameras)})")
    if old_reference_status not in STATUSES:
        raise ValueError(f"unknown time-map status {old_reference_status!r}; expected one of {STATUSES}")
    ref = maps.cameras[new_reference]
    cams = {}
    for name, m in maps.cameras.items():
        if name == new_reference:
            cams[name] = TimeMap(0.0, 1.0, m.confidence, "reference")
            continue
        status = old_reference_status if m.status == "reference" else m.status
        cams[name] = TimeMap((m.offset_s - ref.offset_s) / ref.rate, m.rate / ref.rate, m.confidence, status)
    return TimeMaps(new_reference, cams, maps.extra)


def load_time_maps(path: str | Path) -> TimeMaps:
    """Read an offsets.json / gt_sync.json / time_maps.json file (DataFormatError on problems)."""
    path = Path(path)
    if not path.is_file():
        raise DataFormatError(path, "time-map file not found")
    d = read_json_object(path)
    if d.get("version") != TIME_MAP_VERSION:
        raise DataFormatError(path, f"unsupported time-map version {d.get('version')!r}")
    try:
        cams = {}
        for name, m in d["cameras"].items():
            tm = TimeMap(float(m["offset_s"]), float(m.get("rate", 1.0)), float(m.get("confidence", 1.0)),
                         str(m.get("status", "aligned")))
            if tm.status not in STATUSES:
                raise ValueError(f"camera {name}: unknown status {tm.status!r}")
            if not (np.isfinite(tm.offset_s) and np.isfinite(tm.rate) and tm.rate > 0):
                raise ValueError(f"camera {name}: offset/rate must be finite and rate > 0")
            cams[str(name)] = tm
        ref = str(d["reference_camera"])
    except (KeyError, TypeError, ValueError, AttributeError) as e:
        raise DataFormatError(path, f"malformed time-map file: {e!r}") from e
    return TimeMaps(ref, cams, d.get("extra"))
