"""Calibration check of stage 1: small rotation corrections for cameras whose video does not fit the calibration.

Calibrated rigs drift: a camera bumped after calibration (or calibrated in another session) keeps its centre but
points slightly off. A rotation error of 1 degree moves epipolar lines by about f * pi / 180 pixels (7 px at a 420-px
focal length), more than the track cue's truncation (``score_truncate_px``, 3 px), so every pair with that camera
loses its timing evidence. Measured on Pose2Sim's Demo_SinglePerson: cam03 is about 1 degree off (found
independently from the OpenPose keypoints shipped with it), and its pairs were up to 5 frames off
(benchmarks/RESULTS.md, session 17).

The measure is the silhouette pencil (pencil.py): the epipolar planes tangent to the moving silhouettes must be
the same in both views at the same instant. Given the time maps of the coarse solution, each aligned camera's
(and each camera to ``check`` that stage 1 left unaligned, at an offset one of its pairs gives) rotation about
its own centre is fitted (Nelder-Mead over an axis-angle vector, start steps of 0.5 degree) to
minimise the mean pencil cost (boundary chamfer distance, tracking pixels; silscore.fine_costs) over its pairs at
their solved offsets. With slow motion that cost hardly depends on the offset within a few frames but rises with
any rotation error (Pose2Sim's recording: 4.80-4.95 px at ±1-2 frames, 4.01 px with the keypoint-fitted
rotation); with faster motion a wrong offset can fit as well as the right rotation, and a camera that stage 1
already put several frames off is missed (toy scene, 1.5 degrees: 4.3 frames off, 9 % gain). A correction is
kept only when it lowers the camera's cost by the fraction ``rotation_min_gain`` and is at most
``rotation_max_deg``; otherwise the calibration stands; a camera whose pairs count fewer than MIN_BOUNDARIES silhouette boundaries is not
checked. Cameras are checked worst first, each against its partners as corrected so far.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import torch
from scipy.optimize import minimize
from scipy.spatial.transform import Rotation

from sync4dgs.data.scene import CameraSpec
from sync4dgs.sync.align.pencil import PackedMasks, pair_profiles
from sync4dgs.sync.align.silscore import fine_costs


_START_STEP_DEG = 0.5     # Nelder-Mead's initial simplex
_XTOL_DEG = 0.02          # ... and its tolerance on the rotation
_MAX_EVALS = 150
MIN_BOUNDARIES = 400      # a camera whose pairs count fewer silhouette boundaries is not checked: with few
                          # boundaries a 3-parameter turn fits their noise (a 4-camera 160x120 toy scene: 1.3 deg
                          # "found" on an exact calibration with 106 boundaries)


@dataclass
class RotationFit:
    """The rotation check of one camera.

    rotvec: [3] axis-angle (radians) applied on the left of the world-to-camera rotation (camera axes), centre
    kept: R' = dR R, t' = dR t (zero when not found). angle_deg: the fitted turn's angle (also when not found).
    cost_before_px / cost_after_px: mean pencil cost of the camera's pairs at the solved offsets (tracking
    pixels) with the calibrated and the fitted rotation (both the calibrated one's when not checked).
    found: whether the turn passes the rule (gain, bound); it is then used for the cameras checked after it.
    n_pairs: pairs scored. n_boundaries: silhouette boundaries they count (fewer than MIN_BOUNDARIES: not
    checked).
    """

    camera: str
    rotvec: np.ndarray
    angle_deg: float
    cost_before_px: float
    cost_after_px: float
    found: bool
    n_pairs: int
    n_boundaries: int = 0

    def to_dict(self) -> dict:
        return {"rotvec": [float(v) for v in self.rotvec], "angle_deg": self.angle_deg,
                "cost_before_px": self.cost_before_px, "cost_after_px": self.cost_after_px,
                "found": self.found, "n_pairs": self.n_pairs,
                "n_boundaries": self.n_boundaries}


def rotate_camera(cam: CameraSpec, rotvec: np.ndarray) -> CameraSpec:
    """``cam`` turned by the axis-angle ``rotvec`` [3] (radians, camera axes) about its own centre."""
    d = Rotation.from_rotvec(np.asarray(rotvec, np.float64)).as_matrix()
    return dataclasses.replace(cam, R=d @ cam.R, t=d @ cam.t)


def pair_pencil_costs(cams: list[CameraSpec], masks: list[PackedMasks], k: int, partners: list[int],
                      offsets_s: np.ndarray, rates: np.ndarray, cap_px: float, device: torch.device,
                      rotvec: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Pencil cost of camera k's pairs with ``partners`` at the time maps (offsets_s, rates [C]; global = offset +
    rate * local), camera k turned by ``rotvec``: (summed boundary distances [P] in tracking px, boundaries
    counted [P]); 0, 0 for a pair that cannot be scored."""
    ck = cams[k] if rotvec is None else rotate_camera(cams[k], rotvec)
    sums, counts = np.zeros(len(partners)), np.zeros(len(partners))
    for i, p in enumerate(partners):
        a, b = (k, p) if k < p else (p, k)
        ca, cb = (ck, cams[p]) if k < p else (cams[p], ck)
        pp = pair_profiles(ca, cb, masks[a], masks[b], cap_px)
        if pp is None:
            continue
        rho = rates[b] / rates[a]
        d = (offsets_s[b] - offsets_s[a]) / rates[a]
        c, n = fine_costs(pp, np.array([d]), np.array([rho]), cap_px, device)
        if n[0, 0] > 0 and np.isfinite(c[0, 0]):
            sums[i], counts[i] = float(c[0, 0]) * n[0, 0], n[0, 0]
    return sums, counts


def camera_pencil_cost(cams: list[CameraSpec], masks: list[PackedMasks], k: int, partners: list[int],
                       offsets_s: np.ndarray, rates: np.ndarray, cap_px: float, device: torch.device,
                       rotvec: np.ndarray | None = None, counts_at_start: np.ndarray | None = None) -> float:
    """Mean boundary distance (tracking px) of camera k's pairs (see :func:`pair_pencil_costs`); NaN when no
    pair can be scored. With ``counts_at_start`` [P] (the boundaries each pair counted with the calibrated
    rotation), a boundary no longer counted costs ``cap_px``, as the farthest one: a rotation must not lower
    the cost by turning the silhouettes out of the pairs' shared planes."""
    sums, counts = pair_pencil_costs(cams, masks, k, partners, offsets_s, rates, cap_px, device, rotvec)
    if counts_at_start is not None:
        sums = sums + cap_px * np.maximum(counts_at_start - counts, 0)
        counts = np.maximum(counts, counts_at_start)
    return float(sums.sum() / counts.sum()) if counts.sum() > 0 else float("nan")


def refine_rotations(cams: list[CameraSpec], masks: list[PackedMasks], pairs: list[tuple[int, int]],
                     offsets_s: np.ndarray, rates: np.ndarray, aligned: np.ndarray, cap_px: float, min_gain: float,
                     max_deg: float, device: torch.device,
                     check: np.ndarray | None = None) -> tuple[list[CameraSpec], list[RotationFit]]:
    """Cameras with the turns found (the others unchanged) and one RotationFit per camera checked.

    cams, masks: per scene camera; pairs: (a, b) camera indices scored in stage 1; offsets_s / rates [C]: the
    time maps; aligned [C] bool: the cameras whose time maps are trusted as partners; check [C] bool (default:
    ``aligned``): the cameras to check, each against its aligned partners (a camera not aligned can be checked
    at an offset taken from one of its pairs)."""
    cams = list(cams)
    check = aligned if check is None else check
    nbrs = {k: sorted({b if a == k else a for a, b in pairs if k in (a, b) and aligned[b if a == k else a]})
            for k in range(len(cams))}
    order = [k for k in range(len(cams)) if check[k] and nbrs[k]]
    before = {k: camera_pencil_cost(cams, masks, k, nbrs[k], offsets_s, rates, cap_px, device) for k in order}
    fits = []
    bound = np.radians(max_deg)
    for k in sorted((k for k in order if np.isfinite(before[k])), key=lambda k: -before[k]):
        sums, n0 = pair_pencil_costs(cams, masks, k, nbrs[k], offsets_s, rates, cap_px, device)  # partners as turned
        c0 = float(sums.sum() / n0.sum()) if n0.sum() > 0 else float("nan")
        if n0.sum() < MIN_BOUNDARIES:
            fits.append(RotationFit(cams[k].name, np.zeros(3), 0.0, c0, c0, False, len(nbrs[k]), int(n0.sum())))
            continue

        def objective(w: np.ndarray) -> float:
            if np.linalg.norm(w) > bound:
                return c0 * (1 + np.linalg.norm(w) / bound)
            c = camera_pencil_cost(cams, masks, k, nbrs[k], offsets_s, rates, cap_px, device, w, n0)
            return c if np.isfinite(c) else 10 * c0

        simplex = np.radians(_START_STEP_DEG) * np.vstack([np.zeros(3), np.eye(3)])
        res = minimize(objective, np.zeros(3), method="Nelder-Mead",
                       options={"initial_simplex": simplex, "xatol": np.radians(_XTOL_DEG), "fatol": 1e-4 * c0,
                                "maxfev": _MAX_EVALS})
        rv, c1 = np.asarray(res.x, np.float64), float(res.fun)
        keep = bool(np.linalg.norm(rv) <= bound and c1 <= (1.0 - min_gain) * c0)
        if keep:
            cams[k] = rotate_camera(cams[k], rv)
        fits.append(RotationFit(cams[k].name, rv if keep else np.zeros(3), float(np.degrees(np.linalg.norm(rv))),
                                c0, c1, keep, len(nbrs[k]), int(n0.sum())))
    return cams, sorted(fits, key=lambda f: f.camera)
