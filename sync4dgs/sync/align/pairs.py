"""Which camera pairs to compare, and the per-pair coarse (two cues combined) and fine estimates.

Cues (both epipolar, both weights-free):
* ``pencil``: silhouette boundaries in the pencil of epipolar planes (pencil.py, silscore.py) - dense,
  correspondence-free, precise; needs a usable foreground (static background).
* ``tracks``: KLT point trajectories, best-partner epipolar distance (pairscore.py) - needs texture.
Each cue's lag curve is divided by its median (so both are relative dissimilarities) and the two are
averaged with weights equal to their own peak confidences; the fine stage uses the pencil cue.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace

import numpy as np
import torch

from sync4dgs.data.scene import CameraSpec, SceneSpec
from sync4dgs.sync.align.config import AlignConfig
from sync4dgs.sync.align.geometry import fundamental_matrix, normalizer, shared_view_fraction, viewing_angle_deg
from sync4dgs.sync.align.pairscore import PairScore, score_pair, select_tracks, summarise
from sync4dgs.sync.align.pencil import PackedMasks, PairProfiles, pair_profiles
from sync4dgs.sync.align.silscore import coarse_curves, drift_ratio, fine_costs, fine_lag_spread
from sync4dgs.sync.align.support import overlap_factor, shared_frames
from sync4dgs.sync.align.tracks import CameraTracks

log = logging.getLogger(__name__)

PENCIL_CAP_PX = 6.0     # clamp of boundary distances (tracking pixels)
AUTO_MARGIN = 0.85      # "auto": a ratio other than 1 must score below this fraction of ratio 1's best score
AUTO_MIN_DRIFT = 0.01   # "auto": relative rate difference the drift probe must suggest before others are scored
MIN_SCORE_TRACKS = 5    # a camera with fewer moving tracks gives no track cue


def select_pairs(scene: SceneSpec, cams: list[int], cfg: AlignConfig) -> list[tuple[int, int]]:
    """Pairs (a < b, scene camera indices) that share a view; each camera keeps its ``max_pairs_per_camera``
    partners with the most similar viewing directions; bridging pairs are added until the graph is connected."""
    cs = scene.cameras
    cand = []
    for i, a in enumerate(cams):
        for b in cams[i + 1:]:
            shared = min(shared_view_fraction(cs[a], cs[b], scene.near, scene.far),
                         shared_view_fraction(cs[b], cs[a], scene.near, scene.far))
            if shared >= cfg.min_shared_view:
                cand.append((viewing_angle_deg(cs[a], cs[b]), a, b))
    cand.sort()
    chosen: set[tuple[int, int]] = set()
    for c in cams:
        mine = [(ang, a, b) for ang, a, b in cand if c in (a, b)][: cfg.max_pairs_per_camera]
        chosen.update((a, b) for _, a, b in mine)
    parent = {c: c for c in cams}

    def find(x: int) -> int:
        while parent[x] != x:
            x = parent[x]
        return x

    for a, b in chosen:
        parent[find(a)] = find(b)
    for _, a, b in cand:  # bridge components with the most similar remaining pairs
        if find(a) != find(b):
            parent[find(a)] = find(b)
            chosen.add((a, b))
    return sorted(chosen)


@dataclass
class PairData:
    """Per-pair inputs kept between the coarse and fine stages."""

    a: int
    b: int
    profiles: PairProfiles | None
    score: PairScore
    cue_confidence: dict[str, float]
    shared_frames: int = 0      # frames both cameras record under the best candidate (after the overlap discount)
    tracks: tuple[CameraTracks, CameraTracks] | None = None   # the tracks the track cue scored (A, B), if it ran


def _relative(curves: np.ndarray) -> np.ndarray:
    med = np.nanmedian(curves) if np.isfinite(curves).any() else np.nan
    return curves / med if np.isfinite(med) and med > 0 else np.full_like(curves, np.nan)


def _confidence(name_a: str, name_b: str, ratios: list[float], lags_s: np.ndarray, curves: np.ndarray,
                window_s: float) -> float:
    probe = PairScore(name_a, name_b, np.asarray(ratios, float), lags_s, curves)
    summarise(probe, window_s)
    return probe.confidence


def _combine(cues: dict[str, np.ndarray], conf: dict[str, float]) -> np.ndarray | None:
    """Confidence-weighted mean of the cues' median-normalised curves (NaN-aware); None if no cue is usable.

    A lag is scored (not NaN) only where the cues finite there hold at least half of the total confidence:
    otherwise a cue of negligible confidence alone would decide the lags where the trusted cue has no data
    (e.g. the edges of the lag range, where few tracks overlap) - and its spurious minimum there would look
    perfectly confident."""
    num, den, total = None, None, 0.0
    for name, cur in cues.items():
        if conf[name] <= 0:
            continue
        rel = _relative(cur)
        ok = np.isfinite(rel)
        n, d = np.where(ok, conf[name] * rel, 0.0), ok * conf[name]
        num, den = (n, d) if num is None else (num + n, den + d)
        total += conf[name]
    if num is None:
        return None
    return np.where((den > 0) & (den >= 0.5 * total), num / np.maximum(den, 1e-12), np.nan)


def _auto_ratios(profiles: PairProfiles | None, ratios: list[float], cfg: AlignConfig,
                 device: torch.device) -> list[float]:
    """Rates "auto": ratio 1, plus the allowed ratios within ±6% of what the rate-1 lag's drift suggests."""
    est = drift_ratio(profiles, cfg.max_offset_s, PENCIL_CAP_PX, device) if profiles is not None else None
    if est is None or abs(est - 1) <= AUTO_MIN_DRIFT:
        return [1.0]
    return [1.0] + [r for r in ratios if abs(r / est - 1) < 0.06 and abs(r - 1) > 1e-9]


def coarse_pair(cam_a: CameraSpec, cam_b: CameraSpec, a: int, b: int, masks_a: PackedMasks, masks_b: PackedMasks,
                tracks_a: CameraTracks, tracks_b: CameraTracks, ratios: list[float], cfg: AlignConfig,
                device: torch.device, auto: bool = False) -> PairData:
    """Score every (ratio, offset) of a pair with both cues and combine them.

    auto (rates "auto"): ``ratios`` are the allowed alternatives; only those within ±6% of the ratio that the
    drift of the rate-1 lag suggests (silscore.drift_ratio) are scored, next to 1, and a ratio other than 1 is
    kept only if its best combined score is below AUTO_MARGIN times the best score at ratio 1."""
    profiles = pair_profiles(cam_a, cam_b, masks_a, masks_b, PENCIL_CAP_PX)
    if auto:
        ratios = _auto_ratios(profiles, ratios, cfg, device)
    cues: dict[str, np.ndarray] = {}
    conf: dict[str, float] = {}
    lags_s = None
    scored_tracks = None
    if profiles is not None:
        lags_s, cost, weight = coarse_curves(profiles, ratios, cfg.max_offset_s, PENCIL_CAP_PX, device)
        cost[weight < 0.5] = np.nan
        cues["pencil"] = cost
        conf["pencil"] = _confidence(cam_a.name, cam_b.name, ratios, lags_s, cost, cfg.confidence_window_s)
    # "fallback": tracks also score pairs whose pencil cue is weak, and pairs of a camera whose moving content is
    # soft blobs (its silhouettes' boundaries are then imprecise; its blob-centroid tracks are not)
    use_tracks = cfg.track_cue == "always" or (cfg.track_cue == "fallback" and (
        conf.get("pencil", 0.0) < cfg.pencil_trusted_confidence or tracks_a.with_blobs or tracks_b.with_blobs))
    if use_tracks and tracks_a.n_tracks >= MIN_SCORE_TRACKS and tracks_b.n_tracks >= MIN_SCORE_TRACKS:
        ta, tb = select_tracks(tracks_a, cfg.score_tracks), select_tracks(tracks_b, cfg.score_tracks)
        ps = score_pair(ta, tb, fundamental_matrix(cam_a, cam_b), normalizer(cam_a), normalizer(cam_b), ratios,
                        cfg.max_offset_s, cfg.min_overlap_frames, cfg.score_truncate_px, cfg.confidence_window_s,
                        device)
        lags_s = ps.lags_s if lags_s is None else lags_s      # both cues use A's frame step and range
        cues["tracks"], conf["tracks"] = ps.curves, ps.confidence
        scored_tracks = (ta, tb)
    combined = _combine(cues, conf)
    if combined is None:
        lags_s = np.zeros(1) if lags_s is None else lags_s
        combined = np.full((len(ratios), len(lags_s)), np.nan)
    elif auto and len(ratios) > 1 and np.isfinite(combined[0]).any():   # ratios[0] == 1
        best_unit = np.nanmin(combined[0])
        for r in range(1, len(ratios)):
            if not np.nanmin(combined[r], initial=np.inf) < AUTO_MARGIN * best_unit:
                combined[r] = np.nan
    score = PairScore(cam_a.name, cam_b.name, np.asarray(ratios, float), lags_s, combined)
    n_shared = _summarise_discounted(score, cam_a, cam_b, cfg)
    log.debug("pair %s-%s: lag %.4f s ratio %.4f conf %.2f cues %s shared frames %d", cam_a.name, cam_b.name,
              score.best_lag_s, score.best_ratio, score.confidence, conf, n_shared)
    return PairData(a, b, profiles, score, conf, n_shared, scored_tracks)


def at_unit_ratio(p: PairData, cam_a: CameraSpec, cam_b: CameraSpec, cfg: AlignConfig) -> PairData:
    """``p`` with its combined score restricted to rate ratio 1 (rates "auto": the evidence of the rate-1 model),
    summarised and overlap-discounted like the coarse score; ``p`` itself when ratio 1 is all it scored."""
    ratios = p.score.ratios
    if len(ratios) == 1 and abs(float(ratios[0]) - 1.0) < 1e-12:
        return p
    unit = np.nonzero(np.abs(ratios - 1.0) < 1e-12)[0]
    curves = p.score.curves[unit[:1]] if len(unit) else np.full((1, len(p.score.lags_s)), np.nan)
    score = PairScore(p.score.cam_a, p.score.cam_b, np.ones(1), p.score.lags_s, curves.copy())
    return replace(p, score=score, shared_frames=_summarise_discounted(score, cam_a, cam_b, cfg))


def _summarise_discounted(score: PairScore, cam_a: CameraSpec, cam_b: CameraSpec, cfg: AlignConfig) -> int:
    """Summarise a pair's combined curves (best lag, confidence, candidates) and discount the candidates by the
    frames the cameras share under each (in place); returns the best candidate's shared frames."""
    summarise(score, cfg.confidence_window_s, gap_sigmas=cfg.confidence_gap_sigmas, ambiguity=cfg.confidence_margin)
    return discount_by_overlap(score, cam_a.tau_s(), cam_b.tau_s(), cfg.min_shared_frames, cfg.full_shared_frames)


def discount_by_overlap(score: PairScore, tau_a: np.ndarray, tau_b: np.ndarray, min_frames: float,
                        full_frames: float) -> int:
    """Scale every candidate's weight of ``score`` by the overlap factor of the frames the two cameras share
    under it (support.overlap_factor), drop candidates that fall to 0 and re-sort the rest (in place); the
    best remaining candidate becomes best_ratio / best_lag_s / confidence (0 and no candidates if none is
    left). tau_a [TA], tau_b [TB]: local capture times (s). Returns the shared frames of the best candidate."""
    kept: list[tuple[float, float, float, int]] = []
    for rho, d, w in score.candidates:
        n = shared_frames(tau_a, tau_b, rho, d)
        f = overlap_factor(n, min_frames, full_frames)
        if w * f > 0:
            kept.append((rho, d, w * f, n))
    kept.sort(key=lambda c: -c[2])
    score.candidates = [(rho, d, w) for rho, d, w, _ in kept]
    if not kept:
        score.confidence = 0.0
        return 0
    score.best_ratio, score.best_lag_s, score.confidence = kept[0][0], kept[0][1], kept[0][2]
    return kept[0][3]


def refine_1d(values: np.ndarray, costs: np.ndarray) -> tuple[float, float]:
    """Minimum of a sampled cost (local parabola over +-2 samples): returns (argmin value, min cost)."""
    if not np.isfinite(costs).any():
        return float("nan"), float("nan")
    k = int(np.nanargmin(costs))
    best = float(values[k])
    if 2 <= k < len(values) - 2 and np.isfinite(costs[k - 2:k + 3]).all():
        p = np.polyfit(np.arange(-2, 3), costs[k - 2:k + 3], 2)
        if p[0] > 0:
            step = values[1] - values[0]
            best += float(np.clip(-p[1] / (2 * p[0]), -2, 2)) * step
    return best, float(costs[k])


@dataclass
class FineEstimate:
    """Refined relative map of a pair: rho, d_s (tau_A = d + rho tau_B), sharpness in [0, 1], cost (px), and
    sigma_s: the offset's spread under a block bootstrap over time (seconds of A's clock; NaN = not estimable,
    see silscore.fine_lag_spread)."""

    rho: float
    d_s: float
    sharpness: float
    cost_px: float
    sigma_s: float = float("nan")


def fine_pair(pp: PairProfiles, rho: float, d0: float, device: torch.device, window_frames: float = 1.5,
              step_frames: float = 0.02) -> FineEstimate | None:
    """Sub-frame refinement of a pair's offset around d0 (seconds of A's clock) at the rate ratio ``rho``.

    The exact pencil cost is evaluated on a grid of +-window_frames (A frames) in steps of step_frames and its
    minimum refined by a local parabola; sharpness = 1 - min / (mean cost one frame either side); sigma_s = the
    minimum's spread under a block bootstrap over time (silscore.fine_lag_spread)."""
    h = float(np.median(np.diff(pp.tau_a)))
    grid = d0 + np.arange(-window_frames, window_frames + 1e-9, step_frames) * h
    cost = fine_costs(pp, grid, np.array([rho]), PENCIL_CAP_PX, device)[0][0]
    d, best = refine_1d(grid, cost)
    if not np.isfinite(d):
        return None
    around = fine_costs(pp, np.array([d - h, d + h]), np.array([rho]), PENCIL_CAP_PX, device)[0][0]
    sharp = float(np.clip(1 - best / max(np.nanmean(around), 1e-12), 0, 1)) if np.isfinite(around).all() else 0.0
    sigma = fine_lag_spread(pp, rho, d, PENCIL_CAP_PX, device, window_frames=window_frames)
    return FineEstimate(float(rho), float(d), sharp, best, sigma)
