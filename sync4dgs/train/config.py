"""Typed experiment configuration: nested dataclasses, JSON files with ``"extends"``, dotted CLI overrides.

A config file is a JSON object whose top-level keys are the sections of :class:`ExperimentConfig`
(``model``, ``train``, ``optim``, ``time``, ``render``, ``densify``, ``loss``, ``log``, ``guard``,
``distributed``, ``camera``, ``progressive``, ``appearance``, ``moving``, ``align``). A file may say ``"extends": "base.json"`` (a path relative to
itself, or a list of them); the parent is loaded first and the child's keys are merged over it, section by
section. Overrides are ``{"train.iterations": "100"}`` (dotted path) or ``{"iterations": "100"}`` when the leaf
name is unique across the whole config (``start_iter`` / ``stop_iter`` are not: ``densify.convert`` and
``camera`` both have them). The ``align`` section (stage 1, :class:`sync4dgs.sync.align.config.AlignConfig`, run by
``train`` unless ``--offsets`` / ``--no_align``) takes dotted keys only (``align.rates``), so it adds no flat
names and leaves every flat alias of stage 2 as it was. Unknown keys and values of the wrong type raise
:class:`ConfigError` naming the key.

Units: every time is in SECONDS unless the field name says ``_frames`` or ``_iterations``/``_every``
(training iterations). Learning rates of positions are multiplied by the scene extent (``*_lr`` documented).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sync4dgs.errors import ConfigError
from sync4dgs.model.config import ModelConfig
from sync4dgs.sync.align.config import AlignConfig
from sync4dgs.train.configio import (build_dataclass, config_leaves, parse_value, read_config_file, resolve_key,
                                     set_path)
from sync4dgs.train.validation import validate_config

CONFIG_SCHEMA_VERSION = 1


# ------------------------------------------------------------------------------------------------
# sections
# ------------------------------------------------------------------------------------------------
@dataclass
class TrainConfig:
    """The loop: iterations, sampling, background, frames, checkpoints."""

    iterations: int = 30_000
    seed: int = 0
    device: str = "auto"                       # "auto" | "cpu" | "cuda" | "cuda:1" ...
    random_background: bool = True             # uniform random RGB background each iteration (Ex4DGS)
    background: list[float] = field(default_factory=lambda: [0.0, 0.0, 0.0])  # used when not random
    detect_void: bool = True                   # with random backgrounds: if the frames show an empty pure black /
                                               # white background, train on that colour instead (train/background.py)
    void_fraction: float = 0.02                # ... when at least this fraction of sampled pixels is that colour
    sh_degree_interval: int = 1000             # active SH degree += 1 every this many iterations
    frames_on_device: str = "auto"             # "auto" (if it fits the budget) | "always" | "never" (stream)
    frames_budget_gb: float = 0.0              # 0 = automatic (CUDA: 60% of free memory; CPU: 4 GB)
    frames_host_cache: str = "auto"            # streamed frames: "auto" (decoded once into RAM if they fit half
                                               # of the available memory) | "always" | "never" (disk each sample)
    save_iterations: list[int] = field(default_factory=list)   # weights saved here and at the end
    checkpoint_every: int = 5000               # resume checkpoints (0 = only at the end)
    keep_checkpoints: int = 2                  # older checkpoints are deleted
    scene_extent: float = 0.0                  # 0 = 1.1 x max distance of training cameras from their mean
    cpu_threads: int = 0                       # torch intra-op threads while training on CPU (0 = torch default);
                                               # 1 is often much faster for small images on busy machines
    cull_invisible: bool = True                # each step evaluates and renders only the dynamic Gaussians visible
                                               # at its time (effective opacity >= 1/510); the rest get no pixel
                                               # and no gradient anyway (same image and gradients, one host sync)


@dataclass
class StaticLR:
    """Learning rates of the static set (Ex4DGS N3V values). ``means`` decays log-linearly."""

    means: float = 1.6e-4                      # x scene extent
    means_final: float = 1.6e-6                # x scene extent, reached at optim.means_decay_iterations
    quats: float = 1e-3
    scales: float = 5e-3
    opacities: float = 0.05
    sh0: float = 2.5e-3
    shN: float = 1.25e-4
    other: float = 1e-4                        # any extra per-Gaussian tensor the model adds (e.g. velocities)


@dataclass
class DynamicLR:
    """Learning rates of the dynamic set. ``key_means`` decays log-linearly; ``t_center`` is in SECONDS."""

    key_means: float = 1.6e-4                  # x scene extent
    key_means_final: float = 1.6e-5            # x scene extent
    key_quats: float = 1e-3
    scales: float = 5e-3
    opacities: float = 0.01
    sh0: float = 2.5e-3
    shN: float = 1.25e-4
    t_center: float = 3.3e-3                   # s/step (Ex4DGS 0.01 keyframe units x 1/3 s per keyframe)
    t_logwidth: float = 1e-4
    other: float = 1e-4


@dataclass
class OptimConfig:
    """Optimiser family and per-group learning rates of the Gaussians."""

    optimizer: str = "radam"                   # "radam" (Ex4DGS) | "adam"
    means_decay_iterations: int = 30_000       # length of the log-linear decay of static/dynamic means
    static: StaticLR = field(default_factory=StaticLR)
    dynamic: DynamicLR = field(default_factory=DynamicLR)


@dataclass
class TimeConfig:
    """Stage 2's learnable per-camera time maps ``t_global_s = offset_s + rate * tau_s``."""

    learn: bool = True                         # False = keep the initial maps fixed
    learn_rate: bool = False                   # also learn each camera's clock rate
    align: bool = True                         # run stage 1 (align_scene) to initialise, unless --offsets/--no_align
    offset_lr: float = 2e-4                    # Adam lr of offsets, seconds per step
    offset_lr_final: float = 0.0               # > 0: offset lr decays log-linearly from offset_lr (at the end of
                                               # the warm-up) to this at the last iteration; 0 = constant
    rate_lr: float = 1e-5                      # Adam lr of rates
    evidence_z: float = 3.0                    # a camera's time gradient is applied only when its recent
                                               # gradients agree: |mean| >= evidence_z x standard error over
                                               # that camera's last samples (0 = every gradient is applied)
    evidence_beta: float = 0.8                 # EMA factor of those per-camera gradient statistics (per sample
                                               # of the camera: about (1+b)/(1-b) = 9 samples)
    warmup_iterations: int = 1000              # time gradients are enabled after this many iterations
    freeze_after: int = 0                      # stop learning time maps after this iteration (0 = never)
    sync_every: int = 50                       # check the model's time domain / log offsets every N iterations
    hold_mean_offset: bool = True              # reference camera held out (not trained): keep the mean offset (and
                                               # rate) of the trained cameras at their initial values, since the
                                               # photometric loss cannot see a common time shift


@dataclass
class RenderConfig:
    """How training renders."""

    backend: str = "auto"                      # "auto" | "torch" | "gsplat"
    antialiased: bool = False
    near: float = 0.0                          # 0 = scene.near
    far: float = 0.0                           # 0 = scene.far


@dataclass
class StaticDensifyConfig:
    """gsplat DefaultStrategy on the static set (3DGS adaptive density control)."""

    enabled: bool = True
    grow_grad2d: float = 2e-4
    grow_scale3d: float = 0.01
    prune_opa: float = 0.01
    prune_scale3d: float = 0.1
    refine_start_iter: int = 500
    refine_stop_iter: int = 15_000
    refine_every: int = 300
    reset_every: int = 0                       # opacity reset period; 0 = never (Ex4DGS)


@dataclass
class DynamicDensifyConfig:
    """Keyframe-aware clone / split / prune of the dynamic set (Ex4DGS §2.7)."""

    enabled: bool = True
    grow_grad2d: float = 1e-4
    grow_scale3d: float = 0.01
    prune_opa: float = 0.01
    split_noise_scale: float = 2.0             # offset ~ N(0, k * scale), applied at every keyframe
    temporal_jitter: bool = False              # jitter new Gaussians' temporal centres (Ex4DGS; off: exact copies)
    refine_start_iter: int = 500
    refine_stop_iter: int = 15_000
    refine_every: int = 300


@dataclass
class ConvertConfig:
    """Static -> dynamic conversion (Ex4DGS §2.6): top fraction of visible static Gaussians by motion score."""

    enabled: bool = True
    fraction: float = 0.02                     # Ex4DGS eta = 2 %
    start_iter: int = 500
    stop_iter: int = 15_000
    every: int = 1000
    min_visible_count: int = 1                 # a candidate must have been visible this often since the last call


@dataclass
class DensifyConfig:
    static: StaticDensifyConfig = field(default_factory=StaticDensifyConfig)
    dynamic: DynamicDensifyConfig = field(default_factory=DynamicDensifyConfig)
    convert: ConvertConfig = field(default_factory=ConvertConfig)


@dataclass
class LossConfig:
    """Photometric loss and regularisers: (1-l)*L1 + l*(1-SSIM) + regularisers."""

    lambda_dssim: float = 0.2
    static_drift: float = 1e-4                 # weight of the static-velocity penalty (if the model has one)
    motion_smooth: float = 1e-4                # mean ||P[k+1]-P[k]|| over dynamic keyframes
    rotation_smooth: float = 0.0               # mean (1 - |<q_k, q_k+1>|)
    reg_from_iter: int = 500


@dataclass
class LogConfig:
    log_every: int = 50                        # scalars (loss, PSNR, #Gaussians, offsets) every N iterations
    tensorboard: bool = True
    progress: bool = True


@dataclass
class GuardConfig:
    """NaN/Inf guard: snapshot every ``check_every`` its; on a non-finite loss/parameter restore and lower LRs."""

    enabled: bool = True
    check_every: int = 50
    lr_factor: float = 0.5
    max_restores: int = 5


@dataclass
class DistributedConfig:
    """Multi-process (torchrun) data-parallel training; ignored by a single process (WORLD_SIZE unset)."""

    check_every: int = 1000                    # parameter checksum across ranks every N iterations (0 = never)
    check_tolerance: float = 0.0               # max |difference| allowed between ranks (they should be bit-identical)
    comm_backend: str = "auto"                 # "auto" (nccl on CUDA, gloo on CPU) | "nccl" | "gloo"
    timeout_s: float = 1800.0                  # collective timeout (s) before a stuck rank fails the run


@dataclass
class CameraConfig:
    """Optional per-training-camera pose / focal refinement (sync4dgs.train.camrefine); off for calibrated data.

    Pose deltas (axis-angle rotation, radians, and translation, scene units; camera frame) and a focal
    log-scale per training camera, learned by Adam between ``start_iter`` and ``stop_iter``. Start it at or
    before ``time.warmup_iterations`` so that poses settle before the time maps learn.
    """

    refine_pose: bool = False
    refine_focal: bool = False
    pose_lr: float = 1e-4                      # Adam lr: rotation rad/step; translation pose_lr x scene extent/step
    focal_lr: float = 1e-4                     # Adam lr of log(focal scale) per step
    start_iter: int = 500                      # deltas learn after this iteration
    stop_iter: int = 0                         # ... until this iteration (0 = until the end); kept afterwards

    def __post_init__(self):
        if self.pose_lr < 0 or self.focal_lr < 0:
            raise ValueError(f"camera.pose_lr / camera.focal_lr must be >= 0, got {self.pose_lr}, {self.focal_lr}")
        if self.start_iter < 0:
            raise ValueError(f"camera.start_iter must be >= 0, got {self.start_iter}")
        if self.stop_iter != 0 and self.stop_iter <= self.start_iter:
            raise ValueError(f"camera.stop_iter ({self.stop_iter}) must be 0 (never) or > camera.start_iter "
                             f"({self.start_iter})")

    @property
    def enabled(self) -> bool:
        return self.refine_pose or self.refine_focal


@dataclass
class AppearanceConfig:
    """Optional per-training-camera colour compensation (sync4dgs.train.appearance): a learned per-channel gain
    and bias applied to each camera's rendered image before the loss. Turn it on for rigs whose cameras differ
    in exposure or white balance (phones, action cameras); off for synthetic or colour-matched captures."""

    enabled: bool = False
    lr: float = 1e-3                           # Adam lr of log gain and bias per step
    start_iter: int = 500                      # maps learn after this iteration (geometry forms first)

    def __post_init__(self):
        if self.lr < 0:
            raise ValueError(f"appearance.lr must be >= 0, got {self.lr}")
        if self.start_iter < 0:
            raise ValueError(f"appearance.start_iter must be >= 0, got {self.start_iter}")


@dataclass
class ProgressiveConfig:
    """Ex4DGS progressive training window (sync4dgs.train.progressive): views are sampled only from global
    times <= a window end that grows during training. Lengths are in FRAMES of the reference camera.

    The window is ``[.., start + window_frames / fps_ref]`` where ``start`` is the first global time at which
    every training camera records; ``window_frames = start_frames + step_frames x (number of growth steps)``,
    growth steps happen after iterations that are multiples of ``grow_every`` strictly greater than
    ``max(grow_from_iter, grow_every)`` (Ex4DGS: 10 / 10 / 400 (N3V) / 500).
    """

    enabled: bool = False
    start_frames: int = 10                     # Ex4DGS start_duration (inclusive: 11 frames of the reference)
    step_frames: int = 10                      # Ex4DGS time_interval x progressive_step
    grow_every: int = 400                      # Ex4DGS progressive_growing_steps (iterations)
    grow_from_iter: int = 500                  # Ex4DGS extract_from_iter: no growth at or before this iteration
    refresh_every: int = 0                     # re-evaluate the eligible views under the moving time maps every N
                                               # iterations (0 = time.sync_every); growth steps always refresh

    def __post_init__(self):
        if self.start_frames < 0 or self.step_frames < 0:
            raise ValueError(f"progressive.start_frames / step_frames must be >= 0, got {self.start_frames}, "
                             f"{self.step_frames}")
        if self.grow_every <= 0:
            raise ValueError(f"progressive.grow_every must be > 0, got {self.grow_every}")
        if self.grow_from_iter < 0 or self.refresh_every < 0:
            raise ValueError(f"progressive.grow_from_iter / refresh_every must be >= 0, got {self.grow_from_iter}, "
                             f"{self.refresh_every}")


@dataclass
class MovingSeedConfig:
    """Seeding of temporally local dynamic Gaussians on the moving content (sync4dgs.train.moving_seed).

    At seed times every ``spacing_frames`` frames of the reference camera, each training camera's nearest frame
    (under the initial time maps) gives a moving-pixel mask (difference from the camera's temporal median >
    ``threshold``); a mask-and-colour plane sweep across the cameras puts 3D points on the moving content
    (sync4dgs.train.moving_sweep), and each point becomes a dynamic Gaussian visible around its seed time only.
    Cameras whose initial clock is uncertain (confidence < 0.5: stage-1 ``low_confidence`` / ``unaligned``) are
    left out, so a wrong clock is not baked into the seeds (stage 2 then learns it against them).
    Images are area-downscaled by an integer factor so their long side is at most ``max_side`` pixels.
    """

    enabled: bool = True
    spacing_frames: float = 1.0                # seed times, in frames of the reference camera
    frame_tolerance: float = 0.6               # a camera takes part at a seed time when it has a frame within this
                                               # many of its frames (cameras with sub-frame offsets see a fast
                                               # object up to this fraction of its per-frame motion away)
    threshold: float = 0.1                     # moving-pixel colour difference (0..1) in some channel
    max_side: int = 320                        # long side of the downscaled views (pixels)
    stride_px: int = 2                         # source pixel grid step in the downscaled views
    depth_samples: int = 64                    # inverse-depth samples between the scene's near and far
    min_views: int = 2                         # other cameras that must see a point inside their frame
    min_agreement: float = 0.6                 # fraction of those that must see moving pixels there (0.6: one
                                               # camera of four with a wrong clock does not veto a point)
    photo_tolerance: float = 0.2               # RMS colour error per channel (0..1) of the agreeing views
    photo_best_fraction: float = 0.5           # ... over the best-matching fraction of them (at least min_views;
                                               # 1: all): a view where another moving object hides the point
                                               # sees a moving pixel of another colour. 0.5 vs 1 (CPU, demo
                                               # config, 2026-12-08): demo moving region +0.27 dB (fast ball +0.56,
                                               # visible in every test frame), fast-occlusion scene +0.52, soft
                                               # blobs (no occlusion) -0.21 dB (3 seeds each)
    agreement_weight: float = 1e-3             # a pixel's depth: score = colour error (sum of squares over RGB) -
                                               # weight x agreeing views; 1e-3: colour first, agreement breaks ties.
                                               # 1.0 (agreement first) fixed the demo's fast ball's missing seeds
                                               # (+0.6 dB on it, outliers 18 -> 15 %) but cost 0.16-0.17 dB on the
                                               # moving region of the demo and of blobs (CPU, 2026-12-03)
    depth_hypotheses: int = 1                  # 2: ambiguous pixels also give a point at the agreement-first depth
                                               # (sync4dgs/train/moving_sweep.py); training drops the wrong one.
                                               # Demo, 2 seeds: fast ball missing in 9/7 -> 6/6 frames, moving
                                               # region -0.06/-0.24 dB (CPU, 2026-12-07), so off by default
    second_opacity: float = 0.3                # activated opacity of those second points (fainter: a wrong one
                                               # fades sooner; 0.3 / 0.1 vs 0.8: -0.15 vs -0.33 dB moving, demo)
    second_fraction: float = 0.25              # second points per instant at most this x max_points_per_time, on
                                               # top of the first-hypothesis points (those keep their full cap)
    max_points_per_time: int = 3000            # after one-per-voxel downsampling
    init_opacity: float = 0.8                  # activated opacity of seeded Gaussians
    scale_fraction: float = 0.5                # isotropic scale, x the point's footprint (grid cell at its depth);
                                               # 0.5/0.8 beat 1.0/0.5 on two renderers (H200, 2026-12-01)
    velocity: bool = True                      # seeds move with a velocity from the neighbouring instants' seeds
    velocity_instants: int = 2                 # a seed cluster is followed through this many instants each way;
                                               # its velocity is the line fit of its centroids (sync4dgs/train/
                                               # moving_flow.py)
    velocity_split_passes: int = 2             # rounds of motion-aware splits of clusters that absorbed a small
                                               # object (sync4dgs/train/moving_flow.py); demo, seeds 0/1/2, vs 0:
                                               # fast ball 21.45 +- 0.03 -> 21.83 +- 0.11 dB, faint in 11 -> 6 of
                                               # 144 test frames, moving region 26.09 -> 26.08 dB (CPU, 2026-12-07)
    velocity_refine: bool = False              # then refine each cluster's velocity against the camera frames
                                               # around its instant (sync4dgs/train/moving_velocity.py)
    plateau_fraction: float = 0.25             # temporal plateau half-width, x the seed spacing
    falloff_fraction: float = 0.35             # temporal falloff width, x the seed spacing
    refill_at: float = 0.0                     # error-driven second seeding at this fraction of train.iterations
                                               # (0: off; sync4dgs/train/moving_refill.py): the same sweep on the
                                               # moving pixels the model still gets wrong there
    refill_threshold: float = 0.1              # a pixel is wrong when rendered and recorded colours differ by more
                                               # than this (0..1) in some channel

    def max_second_points(self) -> int:
        """Second-hypothesis points per instant at most (0 with one depth hypothesis)."""
        if self.depth_hypotheses < 2:
            return 0
        return int(round(self.second_fraction * self.max_points_per_time))

    def __post_init__(self):
        if not self.spacing_frames > 0:
            raise ValueError(f"moving.spacing_frames must be > 0, got {self.spacing_frames}")
        if not 0 < self.frame_tolerance <= 1:
            raise ValueError(f"moving.frame_tolerance must be in (0, 1] frames, got {self.frame_tolerance}")
        if not 0 < self.threshold < 1:
            raise ValueError(f"moving.threshold must be in (0, 1), got {self.threshold}")
        if self.max_side < 8 or self.stride_px < 1 or self.depth_samples < 2:
            raise ValueError("moving.max_side must be >= 8, moving.stride_px >= 1, moving.depth_samples >= 2")
        if self.velocity_split_passes < 0:
            raise ValueError(f"moving.velocity_split_passes must be >= 0, got {self.velocity_split_passes}")
        if not 0 < self.photo_best_fraction <= 1:
            raise ValueError(f"moving.photo_best_fraction must be in (0, 1], got {self.photo_best_fraction}")
        if self.velocity_instants < 1:
            raise ValueError(f"moving.velocity_instants must be >= 1, got {self.velocity_instants}")
        if not 0 <= self.refill_at < 1:
            raise ValueError(f"moving.refill_at must be in [0, 1) (a fraction of train.iterations), got {self.refill_at}")
        if not 0 < self.refill_threshold < 1:
            raise ValueError(f"moving.refill_threshold must be in (0, 1), got {self.refill_threshold}")
        if not 0 <= self.second_fraction <= 1:
            raise ValueError(f"moving.second_fraction must be in [0, 1], got {self.second_fraction}")
        if not 0 < self.second_opacity < 1:
            raise ValueError(f"moving.second_opacity must be in (0, 1), got {self.second_opacity}")
        if self.depth_hypotheses not in (1, 2):
            raise ValueError(f"moving.depth_hypotheses must be 1 or 2, got {self.depth_hypotheses}")
        if not self.agreement_weight >= 0:
            raise ValueError(f"moving.agreement_weight must be >= 0, got {self.agreement_weight}")
        if self.min_views < 1 or not 0 < self.min_agreement <= 1 or not self.photo_tolerance > 0:
            raise ValueError("moving.min_views must be >= 1, moving.min_agreement in (0, 1], "
                             "moving.photo_tolerance > 0")
        if self.max_points_per_time < 1 or not 0 < self.init_opacity < 1:
            raise ValueError("moving.max_points_per_time must be >= 1 and moving.init_opacity in (0, 1)")
        if not self.scale_fraction > 0:
            raise ValueError(f"moving.scale_fraction must be > 0, got {self.scale_fraction}")
        if not self.plateau_fraction >= 0 or not self.falloff_fraction > 0:
            raise ValueError("moving.plateau_fraction must be >= 0 and moving.falloff_fraction > 0")


@dataclass
class ExperimentConfig:
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    time: TimeConfig = field(default_factory=TimeConfig)
    render: RenderConfig = field(default_factory=RenderConfig)
    densify: DensifyConfig = field(default_factory=DensifyConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    log: LogConfig = field(default_factory=LogConfig)
    guard: GuardConfig = field(default_factory=GuardConfig)
    distributed: DistributedConfig = field(default_factory=DistributedConfig)
    camera: CameraConfig = field(default_factory=CameraConfig)
    progressive: ProgressiveConfig = field(default_factory=ProgressiveConfig)
    appearance: AppearanceConfig = field(default_factory=AppearanceConfig)
    moving: MovingSeedConfig = field(default_factory=MovingSeedConfig)
    align: AlignConfig = field(default_factory=AlignConfig)     # stage 1 (dotted keys only: align.rates ...)

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["schema_version"] = CONFIG_SCHEMA_VERSION
        return d

    def save(self, path: str | Path) -> None:
        from sync4dgs.utils.atomic import write_json  # noqa: PLC0415

        write_json(path, self.to_dict())


def config_from_dict(d: dict[str, Any]) -> ExperimentConfig:
    """Build an ExperimentConfig from a (partial) nested dict; missing keys keep their defaults."""
    d = {k: v for k, v in d.items() if k not in ("schema_version", "extends")}
    cfg = build_dataclass(ExperimentConfig, d)
    validate_config(cfg)          # values (ranges, names, NaN), one ConfigError naming the key
    return cfg


def load_config(path: str | Path | None = None, overrides: dict[str, Any] | None = None) -> ExperimentConfig:
    """Load a config file (or the defaults when ``path`` is None) and apply overrides.

    Args:
        path: JSON config (may use ``"extends"``); None = built-in defaults.
        overrides: {key: value}; keys dotted (``"train.iterations"``) or flat when unique (``"iterations"``);
            values are text (parsed by the field's type, JSON for lists) or already-typed values.
    Raises:
        ConfigError naming the key for unknown keys, ambiguous flat keys and values of the wrong type.
    """
    d: dict[str, Any] = read_config_file(path) if path is not None else {}
    try:
        config_from_dict(d)   # validate the file on its own first, so errors name the file's keys
    except ConfigError as e:
        raise ConfigError(f"{path}: {e}") from e
    leaves = config_leaves(ExperimentConfig)
    for key, text in (overrides or {}).items():
        dotted = resolve_key(key, leaves)
        set_path(d, dotted, parse_value(text, leaves[dotted], dotted))
    return config_from_dict(d)
