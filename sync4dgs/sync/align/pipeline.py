"""Stage-1 alignment of a whole scene: observe cameras, score pairs, solve globally, refine, triangulate.

Steps (see docs/align.md):
1. Per camera: foreground masks (temporal-median background; with fg_mode "auto" also motion masks where the
   median masks leave a camera short of "aligned", see align_scene) and moving-point KLT tracks (or tracks read
   from ``tracks_dir``), at tracking resolution.
2. Camera pairs sharing a view; every candidate (rate ratio, offset) scored by two epipolar cues.
3. Robust global solve (RANSAC over spanning trees + weighted least squares), reference pinned to (0, 1).
   Rates: "1" scores ratio 1 only; a list scores every ratio the listed true frame rates allow; "auto" scores
   ratio 1 and, where the rate-1 lag drifts along the video, the nearby ratios of common frame rates, keeping
   ratio 1 unless another scores clearly better, and rates other than 1 only where they explain clearly more
   pair evidence than the rate-1 solution (``_unit_rates_unless_needed``).
4. Sub-frame refinement of every pair's offset around the global solution; global solve again.
5. 3D trajectories: cross-view track matches triangulated with the final time maps.
The method never reads ground truth.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from sync4dgs.data.scene import CameraSpec, SceneSpec
from sync4dgs.errors import SyncError
from sync4dgs.sync.align.ambiguity import other_readings
from sync4dgs.sync.align.config import AlignConfig, RateSpec
from sync4dgs.sync.align.geometry import fundamental_matrix
from sync4dgs.sync.align.klt import observe_camera
from sync4dgs.sync.align.pairs import (PENCIL_CAP_PX, FineEstimate, PairData, at_unit_ratio, coarse_pair, fine_pair,
                                      select_pairs)
from sync4dgs.sync.align.pencil import PackedMasks
from sync4dgs.sync.align.reproj import refine_offsets_by_reprojection
from sync4dgs.sync.align.rotations import RotationFit, refine_rotations
from sync4dgs.sync.align.solve import (GlobalSolution, PairMeasurement, agreement, camera_status, offset_sigmas,
                                      required_paths, solve_global)
from sync4dgs.sync.align.support import graph_confidence, support_weight
from sync4dgs.sync.align.trackfine import track_fine_pair
from sync4dgs.sync.align.tracks import CameraTracks, load_camera_tracks
from sync4dgs.sync.align.trajectories import Trajectories, build_trajectories, link_groups, time_grid
from sync4dgs.timemap import TimeMap, TimeMaps
from sync4dgs.utils.device import resolve_device

log = logging.getLogger(__name__)

_MIN_FG_FRAMES = 3
# fg_mode "auto": with as many "aligned" cameras, the motion masks' result must raise the total camera confidence
# by this factor to be used (a near tie is no evidence: on caliscope's 2-camera session, 0.34 vs 0.33)
_MOTION_CONFIDENCE_GAIN = 1.25


@dataclass
class PairReport:
    """What the plot and the JSON report show of a pair: names, lag grid (s), combined score curve of the best
    ratio, the coarse and refined estimates, and whether the global solution kept the pair."""

    cam_a: str
    cam_b: str
    lags_s: np.ndarray
    curve: np.ndarray
    coarse_ratio: float
    coarse_lag_s: float
    confidence: float
    cues: dict[str, float]
    fine_ratio: float | None = None
    fine_lag_s: float | None = None
    fine_sharpness: float | None = None
    fine_sigma_s: float | None = None       # the refined offset's bootstrap spread (s; silscore, trackfine)
    fine_cue: str | None = None             # what refined it: "pencil", "tracks" or "both" (inverse-variance mean)
    inlier: bool = False
    shared_frames: int = 0

    def to_dict(self) -> dict:
        return {"cam_a": self.cam_a, "cam_b": self.cam_b, "coarse_ratio": self.coarse_ratio,
                "coarse_lag_s": self.coarse_lag_s, "confidence": self.confidence, "cues": self.cues,
                "shared_frames": self.shared_frames, "fine_ratio": self.fine_ratio, "fine_lag_s": self.fine_lag_s,
                "fine_sharpness": self.fine_sharpness, "fine_sigma_s": self.fine_sigma_s, "fine_cue": self.fine_cue,
                "inlier": self.inlier}


@dataclass
class AlignResult:
    """Stage-1 output: time maps (status per camera), pair reports, 3D trajectories, timings (seconds),
    moving tracks per camera, camera centres [C, 3] and the rig's mean "up" direction [3] (for plots)."""

    time_maps: TimeMaps
    pairs: list[PairReport]
    trajectories: Trajectories | None
    config: AlignConfig
    timings_s: dict[str, float] = field(default_factory=dict)
    n_tracks: dict[str, int] = field(default_factory=dict)
    camera_centers: np.ndarray | None = None
    up: np.ndarray | None = None


_MERGE_REL = 0.003  # candidate ratios closer than this are not told apart by the coarse search


def _ratios(spec: RateSpec, fps_a: float, fps_b: float) -> list[float]:
    """Candidate rate ratios r_B / r_A when each camera's true rate is one of the allowed frame rates
    (nearly equal ratios merged, 1 kept exactly)."""
    if spec.mode == "fixed" or not spec.true_fps:
        return [1.0]
    # integer frame rates first, so that merged near-duplicates (30 vs 29.97) keep the plain value
    rates = sorted(spec.true_fps, key=lambda f: (f != round(f), f))
    vals = [(fps_b / fb) / (fps_a / fa) for fa in rates for fb in rates]
    out = [1.0] if any(abs(v - 1) < _MERGE_REL for v in vals) else []
    for v in vals:
        if 0.5 <= v <= 2.0 and all(abs(v / o - 1) >= _MERGE_REL for o in out):
            out.append(v)
    return sorted(out)


def _observe(scene: SceneSpec, cfg: AlignConfig,
             tracks_dir: Path | None) -> tuple[list[CameraTracks], list[PackedMasks]]:
    """Track every camera; cameras are independent, so they run in a thread pool (OpenCV's KLT and image
    decoding release the GIL). Results are in camera order and identical to a sequential run."""

    def one(cam: CameraSpec) -> tuple[CameraTracks, PackedMasks]:
        external = load_camera_tracks(tracks_dir / f"{cam.name}.npz", cam) if tracks_dir is not None else None
        return observe_camera(scene, cam, cfg, external)

    workers = max(1, min(len(scene.cameras), os.cpu_count() or 1))
    with ThreadPoolExecutor(max_workers=workers) as pool:
        results = list(tqdm(pool.map(one, scene.cameras), total=len(scene.cameras), desc="align: tracking",
                            unit="cam", leave=False))
    return [r[0] for r in results], [r[1] for r in results]


def _has_motion(tr: CameraTracks, pm: PackedMasks) -> bool:
    fg_frames = sum(int(np.unpackbits(pm.bits[i]).sum() >= 20) for i in range(len(pm)))
    return fg_frames >= _MIN_FG_FRAMES or tr.n_tracks >= 5


def _measurements(data: list[PairData]) -> list[PairMeasurement]:
    return [PairMeasurement(p.a, p.b, [(r, d, w) for r, d, w in p.score.candidates]) for p in data]


def _frame_s(scene: SceneSpec) -> float:
    """Median frame interval (s) of the scene's cameras: the unit of the solve's frame tolerances."""
    return float(np.median([1.0 / c.fps for c in scene.cameras]))


def _solve(scene: SceneSpec, ref: int, meas: list[PairMeasurement], cfg: AlignConfig, tol_frames: float,
           tol_rate: float, known_rates: np.ndarray | None, min_weight: float | None = None) -> GlobalSolution:
    return solve_global(len(scene.cameras), ref, meas, tol_frames * _frame_s(scene), tol_rate, known_rates,
                        cfg.ransac_trees, cfg.min_pair_confidence if min_weight is None else min_weight, cfg.seed)


def _agreeing_weight(meas: list[PairMeasurement], sol: GlobalSolution, tol_s: float, tol_rate: float,
                     touching: np.ndarray) -> float:
    """Total weight of the pair candidates that agree with ``sol``, over the pairs of two aligned cameras of
    which at least one is in ``touching`` [C] bool."""
    near = [p for p in meas if touching[p.a] or touching[p.b]]
    return agreement(near, sol.offsets_s, sol.rates, sol.aligned, tol_s, tol_rate)[0]


def _unit_rates_unless_needed(scene: SceneSpec, ref: int, data: list[PairData], sol: GlobalSolution,
                              cfg: AlignConfig) -> tuple[list[PairData], GlobalSolution, dict]:
    """Rates "auto": keep a solution with rates other than 1 only when it explains clearly more of the pair
    evidence than the rate-1 model does (``cfg.auto_rate_gain``); else the pairs at ratio 1 and their solve.
    The evidence compared is that of the pairs touching a camera given a rate other than 1 (the other pairs
    would only dilute the comparison: one mislabelled camera among twenty keeps its rate).

    A single pair whose curve at another ratio happens to score lower (near-periodic motion, short clips) must
    not give a whole group of cameras a wrong clock rate: on the fast-occlusion scene (12 cameras whose frame
    rates are all given right) one such bridge pair at ratio 0.8 set the rates of five cameras to 0.8."""
    tol_s, tol_rate = cfg.inlier_tol_frames * _frame_s(scene), cfg.inlier_tol_rate
    other_rate = sol.aligned & (np.abs(np.log(sol.rates)) > tol_rate)
    if not other_rate.any():
        return data, sol, {}
    unit = [at_unit_ratio(p, scene.cameras[p.a], scene.cameras[p.b], cfg) for p in data]
    sol_unit = _solve(scene, ref, _measurements(unit), cfg, cfg.inlier_tol_frames, tol_rate, np.ones(len(sol.rates)))
    w_free = _agreeing_weight(_measurements(data), sol, tol_s, tol_rate, other_rate)
    w_unit = _agreeing_weight(_measurements(unit), sol_unit, tol_s, tol_rate, other_rate)
    keep = w_free >= cfg.auto_rate_gain * w_unit
    info = {"weight_with_rates": round(w_free, 4), "weight_rate_1": round(w_unit, 4),
            "kept": "rates" if keep else "rate_1"}
    others = {scene.cameras[k].name: round(float(sol.rates[k]), 5) for k in np.nonzero(other_rate)[0]}
    log.info("rates auto: rates other than 1 (%s) explain pair weight %.3f, rate 1 explains %.3f: %s", others,
             w_free, w_unit, "keeping them" if keep else f"keeping rate 1 (needs {cfg.auto_rate_gain:g}x)")
    return (data, sol, info) if keep else (unit, sol_unit, info)


def align_scene(scene: SceneSpec, config: AlignConfig | None = None,
                tracks_dir: str | Path | None = None) -> AlignResult:
    """Estimate every camera's time map (offset_s, rate) relative to ``scene.reference_camera``.

    Raises SyncError when alignment is impossible (fewer than two cameras, no motion anywhere, a reference
    camera that shows no motion). Cameras that cannot be aligned get status "unaligned" and confidence 0.
    With ``fg_mode="auto"`` (the default) the scene is aligned with temporal-median masks, and, when that
    leaves some camera short of "aligned", also with motion masks; the result with more "aligned" cameras, or
    with as many and a total confidence at least 1.25x the median result's, is returned (``extra["fg_mode"]``
    says which, with both counts and totals).
    """
    cfg = (config or AlignConfig()).validate()
    if cfg.fg_mode != "auto":
        return _align_with_masks(scene, cfg, tracks_dir)
    first = _align_with_masks(scene, dataclasses.replace(cfg, fg_mode="median"), tracks_dir)
    info = {"mode": "auto", "used": "median", "aligned_median": _n_aligned(first.time_maps),
            "confidence_median": _total_confidence(first.time_maps)}
    if all(m.status in ("aligned", "reference") for m in first.time_maps.cameras.values()):
        first.time_maps.extra["fg_mode"] = info
        return first
    try:
        second = _align_with_masks(scene, dataclasses.replace(cfg, fg_mode="motion"), tracks_dir)
    except SyncError as e:     # e.g. no camera shows motion under motion masks: the median result stands
        log.info("fg_mode auto: motion masks give no alignment (%s); keeping the median masks' result", e)
        first.time_maps.extra["fg_mode"] = {**info, "aligned_motion": None, "confidence_motion": None}
        return first
    info["aligned_motion"] = _n_aligned(second.time_maps)
    info["confidence_motion"] = _total_confidence(second.time_maps)
    use_motion = info["aligned_motion"] > info["aligned_median"] or (
        info["aligned_motion"] == info["aligned_median"] and info["confidence_motion"] > 0
        and info["confidence_motion"] >= _MOTION_CONFIDENCE_GAIN * info["confidence_median"])
    info["used"] = "motion" if use_motion else "median"
    log.info("fg_mode auto: not every camera aligned with median masks; aligned cameras / total confidence %d / %.2f "
             "(median) vs %d / %.2f (motion masks): using %s masks", info["aligned_median"],
             info["confidence_median"], info["aligned_motion"], info["confidence_motion"], info["used"])
    chosen = second if use_motion else first
    chosen.time_maps.extra["fg_mode"] = info
    chosen.timings_s["total"] = first.timings_s["total"] + second.timings_s["total"]
    chosen.time_maps.extra["timings_s"]["total"] = round(chosen.timings_s["total"], 3)
    return chosen


def _n_aligned(maps: TimeMaps) -> int:
    return sum(m.status == "aligned" for m in maps.cameras.values())


def _total_confidence(maps: TimeMaps) -> float:
    """Sum of the non-reference cameras' confidences (an unaligned camera counts 0)."""
    return round(float(sum(m.confidence for m in maps.cameras.values() if m.status != "reference")), 4)


def _align_with_masks(scene: SceneSpec, cfg: AlignConfig, tracks_dir: str | Path | None) -> AlignResult:
    """``align_scene`` with one kind of foreground masks (``cfg.fg_mode`` "median" or "motion")."""
    spec = cfg.rate_spec()
    device = resolve_device(cfg.device)
    names = scene.camera_names
    if len(names) < 2:
        raise SyncError(f"alignment needs at least two cameras; scene {scene.root} has {len(names)}")
    ref = scene.camera_index(scene.reference_camera)
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    tracks, masks = _observe(scene, cfg, None if tracks_dir is None else Path(tracks_dir))
    timings["observe"] = time.perf_counter() - t0
    moving = [k for k in range(len(names)) if _has_motion(tracks[k], masks[k])]
    if not moving:
        raise SyncError(f"no moving content found in any camera of {scene.root}; nothing to align on")
    if ref not in moving:
        raise SyncError(f"reference camera {names[ref]} shows no moving content, so no camera can be aligned to it; "
                        "choose another reference_camera in scene.json")
    still = [names[k] for k in range(len(names)) if k not in moving]
    if still:
        log.warning("cameras without moving content (will be unaligned): %s", still)
    t1 = time.perf_counter()
    pair_idx = select_pairs(scene, moving, cfg)
    data = _score_pairs(scene, pair_idx, tracks, masks, cfg, spec, device)
    known = np.ones(len(names)) if spec.mode == "fixed" else None   # rates to keep fixed in the solve
    sol = _solve(scene, ref, _measurements(data), cfg, cfg.inlier_tol_frames, cfg.inlier_tol_rate, known)
    rotation_fits: list[RotationFit] = []
    misfit: list[int] = []   # cameras the calibration check found not to fit their calibration
    if cfg.rotation_check != "off" and int(sol.aligned.sum()) >= 2:
        offsets_chk, check = _offsets_for_check(data, sol)
        cams, rotation_fits = refine_rotations(
            scene.cameras, masks, pair_idx, offsets_chk, sol.rates, sol.aligned, PENCIL_CAP_PX,
            cfg.rotation_min_gain, cfg.rotation_max_deg, device, check)
        for f in rotation_fits:
            if f.found:
                log.warning("camera %s does not fit its calibration: a turn of %.2f deg about its centre fits its "
                            "partners better (pencil cost %.2f -> %.2f px); %s", f.camera, f.angle_deg,
                            f.cost_before_px, f.cost_after_px,
                            "stage 1 uses the turned camera" if cfg.rotation_check == "apply" else
                            "stage 1 keeps the calibration (--align.rotation_check apply would use the turn)")
        misfit = [names.index(f.camera) for f in rotation_fits if f.found]
        if cfg.rotation_check == "apply" and misfit:  # score and solve again, with the turned cameras
            scene = dataclasses.replace(scene, cameras=cams)
            data = _score_pairs(scene, pair_idx, tracks, masks, cfg, spec, device)
            sol = _solve(scene, ref, _measurements(data), cfg, cfg.inlier_tol_frames, cfg.inlier_tol_rate, known)
    auto_rates: dict = {}
    if spec.mode == "auto":
        data, sol, auto_rates = _unit_rates_unless_needed(scene, ref, data, sol, cfg)
    readings, ambiguous = np.zeros(len(names)), []
    if cfg.max_other_reading > 0:
        readings = other_readings(_measurements(data), sol, ref, cfg.inlier_tol_frames * _frame_s(scene),
                                  cfg.inlier_tol_rate)
        ambiguous = [k for k in range(len(names)) if readings[k] >= cfg.max_other_reading]
    if ambiguous:
        log.warning("cameras whose pairs back another offset nearly as well (e.g. one motion period away; at most "
                    "low_confidence): %s", {names[k]: round(float(readings[k]), 2) for k in ambiguous})
    timings["coarse"] = time.perf_counter() - t1
    t2 = time.perf_counter()
    reports = [PairReport(names[p.a], names[p.b], p.score.lags_s, p.score.curves[int(np.argmin(np.abs(
        p.score.ratios - p.score.best_ratio)))], p.score.best_ratio, p.score.best_lag_s, p.score.confidence,
        p.cue_confidence, shared_frames=p.shared_frames) for p in data]
    if cfg.refine:  # rates are products of discrete candidates: keep them, refine offsets
        sol = _refine(scene, ref, data, reports, sol, cfg, sol.rates.copy(), device)
    inlier_pairs = {k for k, _ in sol.inliers}
    for k, rep in enumerate(reports):
        rep.inlier = k in inlier_pairs
    timings["refine"] = time.perf_counter() - t2
    t3 = time.perf_counter()
    groups = link_groups(scene, tracks, sol.offsets_s, sol.rates, sol.aligned, cfg, device)
    if cfg.reproj_refine and groups:
        gate = cfg.reproj_gate_px / max(min(t.track_scale for t in tracks), 1e-6)
        sol.offsets_s = refine_offsets_by_reprojection(
            scene, tracks, groups, sol.offsets_s, sol.rates, sol.aligned,
            time_grid(scene, tracks, sol.offsets_s, sol.rates, sol.aligned), gate, device)
    traj = build_trajectories(scene, tracks, sol.offsets_s, sol.rates, sol.aligned, cfg, device, groups)
    timings["trajectories"] = time.perf_counter() - t3
    timings["total"] = time.perf_counter() - t0
    extra = {"method": "sync4dgs.align (epipolar pencil + KLT tracks)", "rates": cfg.rates,
             "max_offset_s": cfg.max_offset_s, "pairs": [r.to_dict() for r in reports],
             "n_tracks": {n: tracks[k].n_tracks for k, n in enumerate(names)},
             "support_paths": {n: int(sol.paths[k]) for k, n in enumerate(names)} if sol.paths is not None else {},
             "timings_s": {k: round(v, 3) for k, v in timings.items()}}
    if cfg.rotation_check != "off":
        extra["rotation_check"] = {"mode": cfg.rotation_check,
                                   "applied": cfg.rotation_check == "apply" and bool(misfit),
                                   "cameras": {f.camera: f.to_dict() for f in rotation_fits}}
    if auto_rates:
        extra["auto_rates"] = auto_rates
    extra["other_readings"] = {n: round(float(readings[k]), 3) for k, n in enumerate(names)}
    # measured with epipolar geometry that does not fit, or with evidence that also fits another offset:
    # the confidence stays below "aligned"
    doubtful = ambiguous + (misfit if cfg.rotation_check == "report" else [])
    if sol.sigma_s is not None:
        sigma_frames = sol.sigma_s / np.array([sol.rates[k] / c.fps for k, c in enumerate(scene.cameras)])
        extra["sigma_frames"] = {n: round(float(sigma_frames[k]), 3) if np.isfinite(sigma_frames[k]) else None
                                 for k, n in enumerate(names)}
        if cfg.max_aligned_sigma_frames > 0:
            imprecise = [k for k in range(len(names)) if k != ref and sol.aligned[k] and np.isfinite(sigma_frames[k])
                         and sigma_frames[k] > cfg.max_aligned_sigma_frames]
            if imprecise:
                log.warning("cameras whose offsets are uncertain by more than %.2f frame (at most low_confidence; "
                            "standard deviation in frames): %s", cfg.max_aligned_sigma_frames,
                            {names[k]: round(float(sigma_frames[k]), 2) for k in imprecise})
            doubtful = doubtful + imprecise
    if doubtful:
        sol.confidence[doubtful] = np.minimum(sol.confidence[doubtful], 0.99 * cfg.min_aligned_confidence)
    need = required_paths(len(names), [(p.a, p.b) for p in data if p.score.candidates], cfg.min_support_paths)
    tm = _time_maps(names, ref, sol, extra, cfg.min_aligned_confidence, need)
    weak = [n for n, m in tm.cameras.items() if m.status == "low_confidence"]
    if weak:
        log.warning("cameras aligned with low confidence (little independent evidence links them to the "
                    "reference; their offsets may be wrong): %s", weak)
    centers = np.stack([c.center for c in scene.cameras])
    up = -np.mean([c.R[1] for c in scene.cameras], axis=0)  # image "up" (-y) in world coordinates
    return AlignResult(tm, reports, traj, cfg, timings, {n: tracks[k].n_tracks for k, n in enumerate(names)},
                       centers, up)


def _offsets_for_check(data: list[PairData], sol: GlobalSolution) -> tuple[np.ndarray, np.ndarray]:
    """Offsets [C] (s) and cameras to check [C] bool for the calibration check: the solution's, plus every
    camera left unaligned at rate 1 that has a scored pair with an aligned camera, at the offset that pair's
    most confident estimate gives (a camera that does not fit its calibration is often exactly the one no pair
    can align; rotations.py says when a rough offset suffices)."""
    offsets, check = sol.offsets_s.copy(), sol.aligned.copy()
    best: dict[int, float] = {}
    for p in data:
        if abs(p.score.best_ratio - 1.0) > 1e-9 or not p.score.candidates:
            continue
        for k, other, sign in ((p.b, p.a, 1.0), (p.a, p.b, -1.0)):
            if not sol.aligned[k] and sol.aligned[other] and p.score.confidence > best.get(k, -1.0):
                best[k] = p.score.confidence
                offsets[k] = sol.offsets_s[other] + sign * p.score.best_lag_s * sol.rates[other]
                check[k] = True
    return offsets, check


def _score_pairs(scene: SceneSpec, pair_idx: list[tuple[int, int]], tracks: list[CameraTracks],
                 masks: list[PackedMasks], cfg: AlignConfig, spec: RateSpec, device: torch.device) -> list[PairData]:
    """Coarse scores of every selected pair (all candidate ratios and offsets)."""
    cs = scene.cameras
    return [coarse_pair(cs[a], cs[b], a, b, masks[a], masks[b], tracks[a], tracks[b],
                        _ratios(spec, cs[a].fps, cs[b].fps), cfg, device, auto=spec.mode == "auto")
            for a, b in tqdm(pair_idx, desc="align: scoring pairs", unit="pair", leave=False)]


def _time_maps(names: list[str], ref: int, sol: GlobalSolution, extra: dict, min_confidence: float,
               need_paths: np.ndarray) -> TimeMaps:
    cams = {}
    for k, n in enumerate(names):
        paths = None if sol.paths is None else int(sol.paths[k])
        status = camera_status(bool(sol.aligned[k]), float(sol.confidence[k]), k == ref, min_confidence, paths,
                               int(need_paths[k]))
        if status == "reference":
            cams[n] = TimeMap(0.0, 1.0, 1.0, status)
        elif status == "unaligned":
            cams[n] = TimeMap(0.0, 1.0, 0.0, status)
        else:
            cams[n] = TimeMap(float(sol.offsets_s[k]), float(sol.rates[k]), float(sol.confidence[k]), status)
    return TimeMaps(names[ref], cams, extra)


def _track_fine(scene: SceneSpec, p: PairData, rho: float, d0: float, cfg: AlignConfig,
                device: torch.device) -> FineEstimate | None:
    """The pair's sub-frame offset from the tracks its track cue scored (trackfine.py), around d0 (s, A's clock)."""
    ca, cb = scene.cameras[p.a], scene.cameras[p.b]
    ta, tb = p.tracks
    return track_fine_pair(ta, tb, fundamental_matrix(ca, cb), (ca.width, ca.height), rho, d0, cfg.min_overlap_frames,
                           cfg.score_truncate_px, device)


def _unless_shifted(est: FineEstimate | None, coarse_lag_s: float, max_shift_s: float) -> FineEstimate | None:
    """``est`` unless its minimum lies more than ``max_shift_s`` from the pair's coarse candidate (an untrusted
    cue's sub-frame minimum that far off means a distorted cost, e.g. a calibration error): then None."""
    return None if est is not None and abs(est.d_s - coarse_lag_s) > max_shift_s else est


def _with_track_estimate(pencil: FineEstimate | None, track: FineEstimate | None) -> FineEstimate | None:
    """One refined estimate of a pair from its pencil and track refinements (same rate ratio): the
    inverse-variance mean of the offsets where both have a finite spread, else the one that has a spread (the
    pencil estimate when neither has); the spread of the mean is sqrt(1 / (1/s_p^2 + 1/s_t^2))."""
    if track is None or not np.isfinite(track.sigma_s) or track.sharpness <= 0:
        return pencil
    if pencil is None or not np.isfinite(pencil.sigma_s) or pencil.sharpness <= 0:
        return track
    wp, wt = 1.0 / max(pencil.sigma_s, 1e-9) ** 2, 1.0 / max(track.sigma_s, 1e-9) ** 2
    d = (wp * pencil.d_s + wt * track.d_s) / (wp + wt)
    return FineEstimate(pencil.rho, float(d), max(pencil.sharpness, track.sharpness), pencil.cost_px,
                        float(np.sqrt(1.0 / (wp + wt))))


def _refine(scene: SceneSpec, ref: int, data: list[PairData], reports: list[PairReport], sol: GlobalSolution,
            cfg: AlignConfig, rates: np.ndarray, device: torch.device) -> GlobalSolution:
    """Sub-frame refinement of every pair's offset around the global solution ``sol`` (at ``rates``), then a
    tight global solve of the offsets."""
    meas: list[PairMeasurement] = []
    sigmas: list[float] = []                    # each refined pair's offset standard deviation (s of A's clock)
    chosen = dict(sol.inliers)                  # pair index -> candidate index agreeing with the coarse solution
    coarse_w = {k: data[k].score.candidates[c][2] for k, c in chosen.items()}
    # what each pair contributes to the confidence: less when it agrees only through a runner-up candidate
    support_w = {k: support_weight(data[k].score.candidates, c, cfg.runner_up_support) for k, c in chosen.items()}
    for k, p in enumerate(tqdm(data, desc="align: refining pairs", unit="pair", leave=False)):
        h_a = float(np.median(np.diff(scene.cameras[p.a].tau_s())))
        sigmas.append(float("nan"))            # a pair kept at its coarse estimate has no measured spread
        if k not in chosen or not (sol.aligned[p.a] and sol.aligned[p.b]):
            meas.append(PairMeasurement(p.a, p.b, []))
            continue
        rho0 = sol.rates[p.b] / sol.rates[p.a]
        d0 = (sol.offsets_s[p.b] - sol.offsets_s[p.a]) / sol.rates[p.a]
        fe = fine_pair(p.profiles, rho0, d0, device) if p.profiles is not None else None
        # a weak pencil cue (real footage: silhouettes differ between views) may put its sub-frame minimum
        # frames away from the coarse estimate that the track cue made; then keep the coarse candidate
        coarse_lag, max_shift = p.score.candidates[chosen[k]][1], cfg.fine_max_shift_frames * h_a
        if fe is not None and p.cue_confidence.get("pencil", 0.0) < cfg.pencil_trusted_confidence:
            fe = _unless_shifted(fe, coarse_lag, max_shift)
        if cfg.track_refine and p.tracks is not None and p.cue_confidence.get("tracks", 0.0) > 0:
            # the same rule for the track refinement (a fallback cue, never "trusted")
            ft = _unless_shifted(_track_fine(scene, p, rho0, d0, cfg, device), coarse_lag, max_shift)
            pencil, fe = fe, _with_track_estimate(fe, ft)
            cue = "pencil" if fe is pencil else "tracks" if fe is ft else "both"
        else:
            cue = "pencil"
        if fe is not None and fe.sharpness > 0:
            reports[k].fine_ratio, reports[k].fine_lag_s, reports[k].fine_sharpness = fe.rho, fe.d_s, fe.sharpness
            reports[k].fine_cue = cue
            if np.isfinite(fe.sigma_s):  # a spread of 0 (every resample at one grid step) is floored at 0.02 frame
                sigmas[-1] = reports[k].fine_sigma_s = max(fe.sigma_s, 0.02 * h_a)
                w_fine = coarse_w[k] * (0.1 * h_a / max(sigmas[-1], 0.1 * h_a)) ** 2
            else:
                w_fine = fe.sharpness * coarse_w[k]
            meas.append(PairMeasurement(p.a, p.b, [(fe.rho, fe.d_s, max(w_fine, 1e-3))]))
        else:
            # no pencil cue: keep the coarse candidate that agrees with the coarse solution
            rho, d, w = p.score.candidates[chosen[k]]
            meas.append(PairMeasurement(p.a, p.b, [(rho, d, max(0.04 * w, 1e-4))]))
    fine = _solve(scene, ref, meas, cfg, 0.5, 0.003, rates, min_weight=0.0)
    # confidence = support of the coarse evidence (candidate weights, overlap-discounted) over the pairs that
    # agree with the fine solution: sharpness measures sub-frame precision, not whether the lag is right
    support = graph_confidence(len(scene.cameras), ref, [(data[k].a, data[k].b, support_w[k])
                                                         for k, _ in fine.inliers if k in support_w])
    fine.confidence = np.where(fine.aligned, support.confidence, 0.0)
    fine.paths = support.paths
    fine.sigma_s = offset_sigmas(len(scene.cameras), ref, meas, fine.inliers, sigmas, fine.offsets_s, fine.rates,
                                 fine.aligned)
    # cameras the fine stage could not keep fall back to their coarse estimates
    keep = fine.aligned | ~sol.aligned
    if not keep.all():
        lost = np.nonzero(~keep)[0]
        log.warning("fine stage lost %s; keeping their coarse estimates", [scene.cameras[k].name for k in lost])
        fine.offsets_s[lost], fine.rates[lost] = sol.offsets_s[lost], sol.rates[lost]
        fine.aligned[lost], fine.confidence[lost] = True, 0.5 * sol.confidence[lost]
        fine.sigma_s[lost] = np.inf
    return fine
