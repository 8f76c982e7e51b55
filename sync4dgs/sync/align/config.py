"""Configuration of stage-1 alignment (one typed dataclass) and the parsing of the ``--rates`` option.

:class:`AlignConfig` is the ``align`` section of the experiment config (sync4dgs/train/config.py): a config
file's ``"align": {...}``, ``--align.rates 30,25,24`` on ``sync4dgs train`` / ``sync4dgs align``, recorded in
``M/config.json``.

Units: seconds for times (``*_s``), pixels of the *tracking* resolution for image thresholds (``*_px``;
tracking runs on frames downscaled so that their longer side is at most ``track_max_side``), frames where
a name says ``*_frames``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

from sync4dgs.errors import ConfigError

# Frame rates a consumer or broadcast camera may really record at (used by ``rates="auto"``).
COMMON_FPS = (23.976, 24.0, 25.0, 29.97, 30.0, 48.0, 50.0, 59.94, 60.0)


@dataclass
class RateSpec:
    """How per-camera clock rates are treated.

    mode: "fixed" (every rate is 1: metadata frame rates are trusted), "list" (each camera's true frame rate
    is one of ``true_fps``; its rate is fps_meta / fps_true relative to the reference), or "auto" (rate 1,
    unless a camera cannot be aligned at rate 1 but can with a rate from :data:`COMMON_FPS`; small drifts are
    then refined continuously).
    """

    mode: str = "auto"
    true_fps: tuple[float, ...] = ()


def parse_rates(text: str | RateSpec) -> RateSpec:
    """Parse ``auto`` | ``1`` | ``30,25,24`` (frames per second) into a RateSpec (ConfigError if malformed)."""
    if isinstance(text, RateSpec):
        return text
    s = str(text).strip().lower()
    if s == "auto":
        return RateSpec("auto", COMMON_FPS)
    if s in ("1", "1.0", "fixed"):
        return RateSpec("fixed", ())
    try:
        vals = tuple(float(v) for v in s.split(",") if v.strip())
    except ValueError as e:
        raise ConfigError(f"align.rates (--rates) must be 'auto', '1' or a comma-separated list of frame rates, "
                          f"got {text!r}") from e
    if not vals or any(not (v > 0) for v in vals):
        raise ConfigError(f"align.rates (--rates) list must hold positive frame rates, got {text!r}")
    return RateSpec("list", tuple(sorted(set(vals), reverse=True)))


@dataclass
class AlignConfig:
    """Every setting of stage-1 alignment.

    Search: max_offset_s (seconds, ± around zero), rates ("auto" | "1" | "30,25,24", see RateSpec),
    device ("auto" | "cpu" | "cuda[:i]"), seed (RANSAC sampling).

    Tracking (pixels of the tracking resolution): track_max_side (longer side of the frames tracked),
    max_tracks (active tracks per camera at once), min_track_frames, min_track_motion_px (tracks moving
    less are dropped as static), fb_max_err_px (forward-backward KLT check), template_ncc (a track ends when
    its patch correlates less than this with its seed patch: bounds drift), klt_win, klt_levels,
    reseed_every_frames, feature_min_distance_px, fg_threshold (grey levels above the temporal-median
    background), bg_frames (frames sampled for the background), fg_mode ("median": every pixel that differs
    from the background; "motion": gain-compensated background AND within flow_near_px of a pixel whose DIS
    optical flow to a neighbouring frame exceeds flow_min_px - for real footage, see motion.py; "auto": median,
    and where that leaves a camera short of "aligned" also motion, keeping the result with more "aligned"
    cameras, or as many and at least 1.25x the total camera confidence - pipeline.align_scene).

    Blob fallback (sync4dgs/sync/align/blobs.py): a camera with fewer than blob_tracks_below moving KLT tracks
    (soft, untextured moving content) also gets centroid tracks of its compact foreground components (area
    blob_min_area_px .. blob_max_area_fraction of the image), linked frame to frame within blob_max_jump_px of
    each track's constant-velocity prediction (a track's second blob: within blob_max_speed_frac of the image's
    longer side per frame, so small fast objects are followed);
    0 disables it.

    Pair scoring: track_cue ("fallback": score tracks only for pairs whose silhouette-pencil cue is below
    pencil_trusted_confidence or that involve a camera with blob-centroid tracks; "always"; "never"), score_tracks (tracks per camera entering the coarse
    score, the most moving ones), score_truncate_px (robust truncation of epipolar distances),
    min_overlap_frames (samples two tracks must share), max_pairs_per_camera (partners per camera, closest viewing directions),
    min_shared_view (fraction of one view the other could see), confidence_window_s (the runner-up of a
    score curve is the best score outside ±window of the minimum), confidence_gap_sigmas (a pair's confidence
    is also at least (runner-up - best) / (this many robust standard deviations of the curve), which a
    lag-independent floor of the score does not lower; 0 = off; pairscore.gap_confidence), confidence_margin
    (the pair weight, before that floor, is the evidence for the best lag over the runner-up lag,
    (1 - x)^2 / (1 - x + x^2) for x = best / runner-up, instead of 1 - x: a near-equal second minimum, e.g. one
    motion period away, then adds next to nothing to a camera's confidence; pairscore.ambiguity_confidence).

    Global solve: min_pair_confidence, inlier_tol_frames (offset residual, in median frame intervals),
    inlier_tol_rate (relative), ransac_trees. Evidence (support.py): a pair candidate under which the two
    cameras share fewer than min_shared_frames frames gets weight 0; its weight is scaled linearly up to full
    at full_shared_frames. A camera's confidence is the min-cut of pair weights between it and the reference;
    below min_aligned_confidence its status is "low_confidence" (offset still reported) instead of "aligned".
    min_support_paths: a camera is "aligned" only when at least min(min_support_paths, its scored pairs)
    edge-disjoint paths of inlier pairs (after refinement, within 0.5 frame) link it to the reference: a camera
    held by a single chain of pairs has no cross-check, and one pair 1-2 frames off then goes unnoticed
    (real footage, e.g. Pose2Sim's Demo_SinglePerson); 1 = off.
    runner_up_support: a pair whose own best lag candidate disagrees with the solution, and which agrees only
    through a runner-up candidate, backs the confidence and the support paths with this fraction of that
    candidate's weight (0 = not at all: its own evidence prefers another lag; 1 = as much as a best candidate).
    Found on a real recording given with wrong intrinsics (Pose2Sim demo, benchmarks/pose2sim_n3v_parity.py): the
    global solve chose runner-up lags of two pairs 31 frames off, and both cameras came out "aligned".
    max_other_reading (ambiguity.py): a camera is at most "low_confidence" when another reading of the pair
    evidence - the camera, and every camera that moves along with it, shifted to an offset one of its pairs'
    candidates implies - keeps at least this fraction of the agreeing weight of the pairs linking the shifted
    group to the rest (e.g. a group one motion period off under near-periodic motion); 0 = off.
    auto_rate_gain (rates "auto"): when the coarse solve gives some camera a rate other than 1, the pairs are
    also solved at ratio 1 only (every rate 1), and the rates other than 1 are kept only when their solution's
    agreeing weight over the pairs touching those cameras is at least this multiple of the rate-1 solution's over
    the same pairs (otherwise the rate-1 solution, with its pair candidates, is used from there on); offsets.json's
    extra["auto_rates"] gives both weights.
    Offset uncertainty: offsets.json's extra["sigma_frames"] gives every camera's offset standard deviation
    (frames of its own clock; solve.offset_sigmas): each refined pair's spread under a block bootstrap over time
    (silscore.fine_lag_spread), propagated through the least squares of the inlier pairs and inflated when they
    disagree more than their spreads allow; None for a camera tied to the reference only through pairs kept at
    their coarse estimates. It measures how much the offset depends on which moments of the video carry it, not
    a calibration's bias (RESULTS.md, session 19: 2-8x the true error on synthetic rigs, a third of it on
    Pose2Sim's double-exposure set). max_aligned_sigma_frames: a camera is "aligned" only when that standard
    deviation, where it has one, is at most this (0 = off).

    Refinement: refine (continuous sub-frame refinement of every pair; a pair whose pencil cue is below
    pencil_trusted_confidence keeps its coarse estimate when the pencil refinement would move it by more than
    fine_max_shift_frames frames of its first camera), track_refine (pairs that the track cue scored are also
    refined from their tracks, trackfine.py; where both cues give a spread, the pair's offset is their
    inverse-variance mean), reproj_refine (then correct each
    camera's offset against the 3D trajectories of the other cameras, by reprojection; see reproj.py).

    Calibration check (rotations.py): rotation_check ("off"; "report": after the coarse solve, fit a small
    rotation of every aligned camera (and of every unaligned one, at its best pair's offset) about its centre
    that makes its moving silhouettes' tangent epipolar planes agree with its partners' at the solved offsets,
    and warn about the cameras where a turn lowers the pencil cost by the fraction rotation_min_gain within
    rotation_max_deg, which are then at most "low_confidence" (measured with epipolar geometry that does not
    fit); "apply": also score and solve the pairs again with those cameras turned (stage 1 only);
    offsets.json's extra["rotation_check"] lists it all).
    On Pose2Sim's real recording "apply" raised confidences without making the offsets better (RESULTS.md,
    session 17), so it is not for unattended use.

    3D trajectories: epipolar_gate_px (2x the largest RMS epipolar distance of linked tracks), min_views
    (cameras a trajectory must be linked in, when that many are aligned), match_max_angle_deg (cameras
    further apart are not linked directly), reproj_gate_px (triangulation gating).
    """

    max_offset_s: float = 3.0
    rates: str = "auto"
    device: str = "auto"
    seed: int = 0
    # tracking
    track_max_side: int = 640
    max_tracks: int = 300
    min_track_frames: int = 6
    min_track_motion_px: float = 2.0
    fb_max_err_px: float = 0.5
    template_ncc: float = 0.8
    klt_win: int = 9
    klt_levels: int = 3
    reseed_every_frames: int = 2
    feature_min_distance_px: int = 4
    fg_threshold: float = 12.0
    bg_frames: int = 40
    fg_mode: str = "auto"
    flow_min_px: float = 1.0
    flow_near_px: int = 4
    blob_tracks_below: int = 20
    blob_min_area_px: int = 4
    blob_max_area_fraction: float = 0.01
    blob_max_jump_px: float = 12.0
    blob_max_speed_frac: float = 0.15
    # pair scoring
    track_cue: str = "fallback"
    pencil_trusted_confidence: float = 0.3
    score_tracks: int = 256
    score_truncate_px: float = 3.0
    min_overlap_frames: int = 6
    max_pairs_per_camera: int = 6
    min_shared_view: float = 0.2
    confidence_window_s: float = 0.2
    confidence_gap_sigmas: float = 8.0
    confidence_margin: bool = False
    # global solve
    min_pair_confidence: float = 0.15
    min_shared_frames: float = 6.0
    full_shared_frames: float = 20.0
    min_aligned_confidence: float = 0.5
    min_support_paths: int = 2
    runner_up_support: float = 0.0
    max_other_reading: float = 0.75
    auto_rate_gain: float = 1.25
    max_aligned_sigma_frames: float = 0.4
    inlier_tol_frames: float = 1.5
    inlier_tol_rate: float = 0.01
    ransac_trees: int = 48
    # refinement and triangulation
    refine: bool = True
    fine_max_shift_frames: float = 0.5
    track_refine: bool = True
    reproj_refine: bool = False
    rotation_check: str = "off"
    rotation_min_gain: float = 0.2
    rotation_max_deg: float = 3.0
    min_views: int = 3
    match_max_angle_deg: float = 75.0
    epipolar_gate_px: float = 1.2
    reproj_gate_px: float = 2.0

    def rate_spec(self) -> RateSpec:
        return parse_rates(self.rates)

    def validate(self) -> "AlignConfig":
        """Raise ConfigError naming the bad setting; returns self."""
        if not self.max_offset_s > 0:
            raise ConfigError(f"align.max_offset_s must be positive, got {self.max_offset_s}")
        self.rate_spec()
        for name in ("track_max_side", "max_tracks", "min_track_frames", "klt_win", "klt_levels",
                     "reseed_every_frames", "bg_frames", "score_tracks", "min_overlap_frames",
                     "max_pairs_per_camera", "ransac_trees", "min_views"):
            if int(getattr(self, name)) < 1:
                raise ConfigError(f"align.{name} must be >= 1, got {getattr(self, name)}")
        for name in ("fb_max_err_px", "score_truncate_px", "epipolar_gate_px", "reproj_gate_px",
                     "inlier_tol_frames", "inlier_tol_rate"):
            if not float(getattr(self, name)) > 0:
                raise ConfigError(f"align.{name} must be positive, got {getattr(self, name)}")
        if not 0 <= self.min_shared_frames <= self.full_shared_frames:
            raise ConfigError(f"align.min_shared_frames: need 0 <= min_shared_frames <= align.full_shared_frames, "
                              f"got {self.min_shared_frames}, {self.full_shared_frames}")
        if not 0 <= self.runner_up_support <= 1:
            raise ConfigError(f"align.runner_up_support must be in [0, 1], got {self.runner_up_support}")
        if self.min_support_paths < 1:
            raise ConfigError(f"align.min_support_paths must be >= 1, got {self.min_support_paths}")
        if self.max_aligned_sigma_frames < 0:
            raise ConfigError(f"align.max_aligned_sigma_frames must be >= 0 (0 = off), got "
                              f"{self.max_aligned_sigma_frames}")
        if not 0 <= self.min_aligned_confidence <= 1:
            raise ConfigError(f"align.min_aligned_confidence must be in [0, 1], got {self.min_aligned_confidence}")
        for name, ok, need in (("flow_min_px", self.flow_min_px > 0, "positive"),
                               ("flow_near_px", self.flow_near_px >= 0, ">= 0"),
                               ("confidence_gap_sigmas", self.confidence_gap_sigmas >= 0, ">= 0"),
                               ("fine_max_shift_frames", self.fine_max_shift_frames > 0, "positive"),
                               ("rotation_min_gain", 0 <= self.rotation_min_gain < 1, "in [0, 1)"),
                               ("rotation_max_deg", self.rotation_max_deg > 0, "positive"),
                               ("blob_max_speed_frac", 0 <= self.blob_max_speed_frac <= 1, "in [0, 1]"),
                               ("max_other_reading", self.max_other_reading >= 0, ">= 0"),
                               ("auto_rate_gain", self.auto_rate_gain >= 1, ">= 1")):
            if not ok:
                raise ConfigError(f"align.{name} must be {need}, got {getattr(self, name)}")
        if self.fg_mode not in ("auto", "median", "motion"):
            raise ConfigError(f"align.fg_mode must be 'auto', 'median' or 'motion', got {self.fg_mode!r}")
        if self.rotation_check not in ("off", "report", "apply"):
            raise ConfigError(f"align.rotation_check must be 'off', 'report' or 'apply', got {self.rotation_check!r}")
        if self.track_cue not in ("fallback", "always", "never"):
            raise ConfigError(f"align.track_cue must be 'fallback', 'always' or 'never', got {self.track_cue!r}")
        return self

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @staticmethod
    def from_dict(d: dict[str, Any]) -> "AlignConfig":
        known = {f.name for f in fields(AlignConfig)}
        unknown = set(d) - known
        if unknown:
            raise ConfigError(f"align: unknown settings {sorted(unknown)}")
        return AlignConfig(**d).validate()
