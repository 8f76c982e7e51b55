"""Errors of estimated per-camera time maps against ground truth (pure functions, no I/O).

Both inputs follow the time convention of :mod:`sync4dgs.timemap`
(``t_global_s = offset_s + rate * tau_s``, reference camera at (0, 1)). Offsets are only comparable in the same
gauge, so both maps are first re-expressed relative to the ground truth's reference camera (:func:`sync4dgs.timemap.rereference`);
when the estimate used another reference this is reported (``regauged_from``).

Signed error = estimate - truth. A camera whose estimate is +1 frame means the estimate places its first frame
one frame (of THAT camera's fps) later on the global clock than the truth does.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from sync4dgs.timemap import TimeMaps, rereference


@dataclass
class CameraOffsetError:
    """One camera's error. Units in the field names; frames are of this camera's own fps."""

    camera: str
    fps: float
    truth_offset_s: float
    estimate_offset_s: float
    truth_rate: float
    estimate_rate: float
    mean_abs_time_error_s: float      # mean over this camera's frames of |t_est - t_true| (= |offset error| if rates match)

    @property
    def error_s(self) -> float:
        return self.estimate_offset_s - self.truth_offset_s

    @property
    def error_frames(self) -> float:
        return self.error_s * self.fps

    @property
    def rate_error(self) -> float:
        return self.estimate_rate - self.truth_rate

    def to_dict(self) -> dict[str, Any]:
        return {"fps": self.fps, "truth_offset_s": self.truth_offset_s, "estimate_offset_s": self.estimate_offset_s,
                "error_s": self.error_s, "error_ms": 1000.0 * self.error_s, "error_frames": self.error_frames,
                "truth_rate": self.truth_rate, "estimate_rate": self.estimate_rate, "rate_error": self.rate_error,
                "mean_abs_time_error_ms": 1000.0 * self.mean_abs_time_error_s}


def _summary(errors: list[CameraOffsetError]) -> dict[str, Any]:
    """Aggregate statistics over cameras (empty list -> counts only)."""
    if not errors:
        return {"n_cameras": 0}
    f = np.abs([e.error_frames for e in errors])
    s = np.abs([e.error_s for e in errors])
    r = np.abs([e.rate_error for e in errors])
    return {
        "n_cameras": len(errors),
        "mae_frames": float(f.mean()), "median_frames": float(np.median(f)), "max_frames": float(f.max()),
        "mae_ms": float(1000 * s.mean()), "median_ms": float(1000 * np.median(s)), "max_ms": float(1000 * s.max()),
        "pct_within_0.5_frame": float(100.0 * np.mean(f <= 0.5)),
        "pct_within_1_frame": float(100.0 * np.mean(f <= 1.0)),
        "rate_mae": float(r.mean()), "rate_max": float(r.max()),
    }


def offset_errors(estimate: TimeMaps, truth: TimeMaps, fps: dict[str, float],
                  tau_s: dict[str, np.ndarray] | None = None, cameras: list[str] | None = None) -> dict[str, Any]:
    """Compare ``estimate`` with ``truth`` camera by camera.

    Args:
        estimate, truth: time maps (any gauges; both are re-gauged to ``truth.reference_camera``).
        fps: frames per second of each camera (converts seconds to that camera's frames).
        tau_s: optional local frame times per camera (seconds) for the mean time error over the clip;
            default: the offset error alone (as if one frame at tau = 0).
        cameras: cameras to evaluate (default: all with a map in both and an fps); the common reference camera
            is listed but excluded from the statistics (its error is 0 by construction).
    Returns a JSON-ready dict: reference_camera, regauged_from (or None), per_camera {name: ...},
    summary {n_cameras, mae/median/max in frames and ms, pct within 0.5 and 1 frame, rate errors, n_unaligned},
    missing (cameras in ``cameras``/truth without an estimate), unaligned (cameras the estimate marks
    "unaligned": no offset was found, so they are left out of the statistics and counted in n_unaligned).
    """
    ref = truth.reference_camera
    t = rereference(truth, ref)
    regauged_from = None
    if estimate.reference_camera != ref:
        regauged_from = estimate.reference_camera
    if ref not in estimate.cameras:
        return {"reference_camera": ref, "regauged_from": regauged_from, "per_camera": {}, "summary": {"n_cameras": 0},
                "missing": sorted(truth.cameras), "note": f"estimate has no map for the truth's reference {ref!r}; "
                                                          "cannot compare in a common gauge"}
    e = rereference(estimate, ref)
    names = cameras if cameras is not None else [n for n in truth.cameras if n in fps]
    per_camera, errors, missing, unaligned = {}, [], [], []
    for n in names:
        if n not in e.cameras or n not in t.cameras:
            missing.append(n)
            continue
        if estimate.cameras[n].status == "unaligned":     # the estimator gave up on this camera
            unaligned.append(n)
            continue
        te, tt = e.cameras[n], t.cameras[n]
        tau = np.asarray(tau_s[n], dtype=np.float64) if tau_s and n in tau_s else np.zeros(1)
        mate = float(np.mean(np.abs((te.offset_s + te.rate * tau) - (tt.offset_s + tt.rate * tau))))
        err = CameraOffsetError(n, float(fps[n]), tt.offset_s, te.offset_s, tt.rate, te.rate, mate)
        per_camera[n] = {**err.to_dict(), "is_reference": n == ref}
        if n != ref:
            errors.append(err)
    return {"reference_camera": ref, "regauged_from": regauged_from, "per_camera": per_camera,
            "summary": {**_summary(errors), "n_unaligned": len(unaligned)}, "missing": missing,
            "unaligned": unaligned}
