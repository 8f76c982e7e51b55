"""Initial Gaussians4D from a point cloud (all static) and optional stage-1 trajectories (dynamic).

Static points follow 3DGS/Ex4DGS: SH dc = (rgb - 0.5) / 0.28209, other SH 0, isotropic log-scale =
log sqrt(mean squared distance to the 3 nearest neighbours), identity rotation, opacity config.init_opacity.

Keyframe grid (seconds): spacing dt = ``keyframe_interval_s`` or config.keyframe_interval_frames / fps_ref.
The interior [t0 + dt, t0 + (K-2) dt] covers [t_min - margin, t_max + margin] (margin = config.time_margin_s),
with one guard keyframe on each side, so K >= 4.

Trajectories (stage-1 npz contents): ``times_s`` [T] global seconds, ``xyz`` [M, T, 3] world positions with
NaN where a track is missing, ``rgb`` [M, 3] (uint8 0..255 or float 0..1). Each track with at least one
valid sample becomes one dynamic Gaussian: keyframe positions = the track linearly interpolated at the
keyframe times (across NaN gaps; held constant before its first / after its last valid sample), identity
rotations, temporal opacity plateau over [first valid time, last valid time] with falloff width
config.init_temporal_width_s (<= 0: dt), colour from rgb, scale = config.trajectory_scale_factor x the
nearest-neighbour rule evaluated among all static points and the tracks' mid-span positions.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
from scipy.spatial import cKDTree
from torch import Tensor

from sync4dgs.errors import ConfigError, DataFormatError
from sync4dgs.model.config import ModelConfig
from sync4dgs.model.gaussians4d import Gaussians4D
from sync4dgs.model.temporal import logwidth_for

log = logging.getLogger(__name__)

SH_C0 = 0.28209479177387814
FALLBACK_SCALE = 0.01  # world units; used when there are too few points for a neighbour distance


def rgb_to_sh0(rgb01: np.ndarray) -> np.ndarray:
    """[N, 3] colours in [0, 1] -> [N, 3] degree-0 SH coefficients."""
    return (rgb01 - 0.5) / SH_C0


def as_rgb01(rgb: np.ndarray | Tensor) -> np.ndarray:
    """uint8 0..255 or float 0..1 colours -> float64 [N, 3] in [0, 1]."""
    arr = rgb.detach().cpu().numpy() if isinstance(rgb, Tensor) else np.asarray(rgb)
    if np.issubdtype(arr.dtype, np.integer):
        return arr.astype(np.float64) / 255.0
    return np.clip(arr.astype(np.float64), 0.0, 1.0)


def knn_log_scales(xyz: np.ndarray, k: int = 3) -> np.ndarray:
    """[N] isotropic log-scales: log sqrt(mean squared distance to the k nearest other points)."""
    n = len(xyz)
    if n == 0:
        return np.zeros(0)
    if n == 1:
        return np.full(1, math.log(FALLBACK_SCALE))
    kk = min(k, n - 1)
    dist, _ = cKDTree(xyz).query(xyz, k=kk + 1)
    mean_sq = np.mean(np.asarray(dist).reshape(n, kk + 1)[:, 1:] ** 2, axis=1)
    return 0.5 * np.log(np.maximum(mean_sq, 1e-7))


def keyframe_grid(t_range_s: tuple[float, float], margin_s: float, dt_s: float) -> tuple[float, int]:
    """(t0_s, K) of a grid whose interior covers [t_min - margin, t_max + margin] with one guard each side."""
    t_min, t_max = float(t_range_s[0]), float(t_range_s[1])
    if not (math.isfinite(t_min) and math.isfinite(t_max)) or t_min > t_max:
        raise ValueError(f"invalid time range {t_range_s} s")
    lo, hi = t_min - margin_s, t_max + margin_s
    n_segments = max(1, math.ceil((hi - lo) / dt_s - 1e-9))
    return lo - dt_s, n_segments + 3


def trajectory_keyframes(times_s: np.ndarray, xyz: np.ndarray, key_times_s: np.ndarray
                         ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Sample tracks at keyframe times.

    Args: times_s [T]; xyz [M, T, 3] with NaN gaps; key_times_s [K].
    Returns: kept [M'] indices of tracks with >= 1 valid sample, keys [M', K, 3], span [M', 2] (first/last
        valid time, s), mid [M', 3] (position at the middle valid sample).
    """
    order = np.argsort(times_s, kind="stable")
    times_s, xyz = times_s[order], xyz[:, order]
    valid = np.isfinite(xyz).all(axis=-1)                                    # [M, T]
    kept = np.nonzero(valid.any(axis=1))[0]
    keys = np.empty((len(kept), len(key_times_s), 3))
    span = np.empty((len(kept), 2))
    mid = np.empty((len(kept), 3))
    for row, m in enumerate(kept):
        tv = times_s[valid[m]]
        pv = xyz[m, valid[m]]
        for c in range(3):
            keys[row, :, c] = np.interp(key_times_s, tv, pv[:, c])
        span[row] = tv[0], tv[-1]
        mid[row] = pv[len(pv) // 2]
    return kept, keys, span, mid


def _check_trajectories(traj: Mapping[str, Any]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    for key in ("times_s", "xyz", "rgb"):
        if key not in traj:
            raise DataFormatError(None, f"trajectories: missing array {key!r}")
    times = np.asarray(traj["times_s"], dtype=np.float64)
    xyz = np.asarray(traj["xyz"], dtype=np.float64)
    rgb = np.asarray(traj["rgb"])
    if times.ndim != 1 or xyz.ndim != 3 or xyz.shape[1:] != (len(times), 3):
        raise DataFormatError(None, f"trajectories: need times_s [T] and xyz [M, T, 3], got "
                                    f"{times.shape} and {xyz.shape}")
    if rgb.shape != (xyz.shape[0], 3):
        raise DataFormatError(None, f"trajectories: rgb must be [M, 3] = [{xyz.shape[0]}, 3], got {rgb.shape}")
    if not np.isfinite(times).all():
        raise DataFormatError(None, "trajectories: times_s has non-finite values")
    return times, xyz, rgb


def _resolve_interval(config: ModelConfig, keyframe_interval_s: float | None, fps_ref: float | None) -> float:
    if keyframe_interval_s is None:
        if fps_ref is None or not fps_ref > 0:
            raise ConfigError("model_from_points needs keyframe_interval_s (seconds) or fps_ref (> 0) "
                              "to convert model.keyframe_interval_frames to seconds")
        keyframe_interval_s = config.keyframe_interval_frames / fps_ref
    if not keyframe_interval_s > 0:
        raise ConfigError(f"keyframe interval must be > 0 s, got {keyframe_interval_s}")
    return float(keyframe_interval_s)


def model_from_points(xyz: np.ndarray | Tensor, rgb: np.ndarray | Tensor, t_range_s: tuple[float, float],
                      config: ModelConfig, trajectories: Mapping[str, Any] | None = None, *,
                      keyframe_interval_s: float | None = None, fps_ref: float | None = None,
                      device: str | torch.device = "cpu") -> Gaussians4D:
    """Initial model: every point static (xyz [N, 3] world units, rgb [N, 3] uint8 or [0, 1]); optional dynamic
    Gaussians from stage-1 trajectories. Keyframe spacing: ``keyframe_interval_s`` (seconds) if given, else
    config.keyframe_interval_frames / fps_ref. See the module docstring for the details."""
    return build_initial_model(Gaussians4D, xyz, rgb, t_range_s, config, trajectories,
                               keyframe_interval_s=keyframe_interval_s, fps_ref=fps_ref, device=device)


def build_initial_model(cls: type["Gaussians4D"], xyz: np.ndarray | Tensor, rgb: np.ndarray | Tensor,
                        t_range_s: tuple[float, float], config: ModelConfig,
                        trajectories: Mapping[str, Any] | None, *, keyframe_interval_s: float | None,
                        fps_ref: float | None, device: str | torch.device) -> "Gaussians4D":
    """See the module docstring. Returns a float32 model on ``device``."""
    dt = _resolve_interval(config, keyframe_interval_s, fps_ref)
    t0, K = keyframe_grid(t_range_s, config.time_margin_s, dt)
    pts = xyz.detach().cpu().numpy() if isinstance(xyz, Tensor) else np.asarray(xyz)
    pts = pts.astype(np.float64).reshape(-1, 3)
    cols = as_rgb01(rgb).reshape(-1, 3)
    if len(cols) != len(pts):
        raise DataFormatError(None, f"point cloud: {len(pts)} positions but {len(cols)} colours")
    finite = np.isfinite(pts).all(axis=1)
    if not finite.all():
        log.warning("point cloud: dropping %d points with non-finite coordinates", int((~finite).sum()))
        pts, cols = pts[finite], cols[finite]

    kept = np.zeros(0, dtype=np.int64)
    keys = np.zeros((0, K, 3))
    span = np.zeros((0, 2))
    mid = np.zeros((0, 3))
    traj_rgb = np.zeros((0, 3))
    if trajectories is not None:
        times, txyz, trgb = _check_trajectories(trajectories)
        kept, keys, span, mid = trajectory_keyframes(times, txyz, t0 + dt * np.arange(K))
        traj_rgb = as_rgb01(trgb)[kept]
        log.info("initialised %d dynamic Gaussians from %d trajectories", len(kept), txyz.shape[0])

    log_scales = knn_log_scales(np.concatenate([pts, mid]))
    s_static, s_traj = log_scales[: len(pts)], log_scales[len(pts):] + math.log(config.trajectory_scale_factor)
    b = config.num_sh_bases
    f32 = dict(dtype=torch.float32, device=device)
    logit = math.log(config.init_opacity / (1 - config.init_opacity))

    def common(n: int, log_s: np.ndarray, colours: np.ndarray) -> dict[str, Tensor]:
        return {"scales": torch.tensor(log_s, **f32)[:, None].expand(n, 3).contiguous(),
                "opacities": torch.full((n,), logit, **f32),
                "sh0": torch.tensor(rgb_to_sh0(colours), **f32).reshape(n, 1, 3),
                "shN": torch.zeros((n, b - 1, 3), **f32)}

    ns, nd = len(pts), len(kept)
    identity = torch.tensor([1.0, 0.0, 0.0, 0.0], **f32)
    static = {"means": torch.tensor(pts, **f32).reshape(ns, 3), "quats": identity.expand(ns, 4).contiguous(),
              **common(ns, s_static, cols)}
    if config.static_motion:
        static["velocities"] = torch.zeros((ns, 3), **f32)
    width = config.init_temporal_width_s if config.init_temporal_width_s > 0 else dt
    width = max(width, 2 * config.temporal_width_floor_s)
    dynamic = {"key_means": torch.tensor(keys, **f32).reshape(nd, K, 3),
               "key_quats": identity.expand(nd, K, 4).contiguous(),
               "t_center": torch.tensor(span, **f32).reshape(nd, 2),
               "t_logwidth": torch.full((nd, 2), logwidth_for(width, config.temporal_width_floor_s), **f32),
               **common(nd, s_traj, traj_rgb)}
    return cls(config, static, dynamic, key_t0_s=t0, key_interval_s=dt, static_t_anchor_s=float(t_range_s[0]))


def local_dynamic_rows(xyz: Tensor, velocity: Tensor, rgb01: Tensor, log_scales: Tensor, t_s: Tensor,
                       plateau_half_s: float, falloff_s: float, key_times_s: Tensor, config: ModelConfig
                       ) -> dict[str, Tensor]:
    """Rows of temporally local dynamic Gaussians (for ``ops.append(model.dynamic, ...)``).

    Args: xyz [M,3] positions at t_s, velocity [M,3] scene units per second (keyframe k at
        xyz + velocity (key_times_s[k] - t_s)), rgb01 [M,3] colours in [0,1], log_scales [M] isotropic,
        t_s [M] the instant each was seen (global seconds), key_times_s [K] the model's keyframe times (s);
        plateau_half_s / falloff_s (seconds): temporal opacity is 1 on [t - plateau_half_s, t + plateau_half_s]
        and falls off with width falloff_s outside.
    Returns float tensors on xyz's device with the trailing shapes of Gaussians4D's dynamic parameters.
    """
    m, num_keyframes = int(xyz.shape[0]), int(key_times_s.shape[0])
    f = dict(dtype=xyz.dtype, device=xyz.device)
    floor = config.temporal_width_floor_s
    logit = math.log(config.init_opacity / (1 - config.init_opacity))
    dt = key_times_s.to(**f)[None, :, None] - t_s.to(**f)[:, None, None]                  # [M, K, 1]
    return {"key_means": (xyz[:, None, :] + velocity.to(**f)[:, None, :] * dt).contiguous(),
            "key_quats": torch.tensor([1.0, 0.0, 0.0, 0.0], **f).expand(m, num_keyframes, 4).contiguous(),
            "scales": log_scales[:, None].expand(m, 3).contiguous().to(**f),
            "opacities": torch.full((m,), logit, **f),
            "sh0": ((rgb01.to(**f) - 0.5) / SH_C0).reshape(m, 1, 3),
            "shN": torch.zeros((m, config.num_sh_bases - 1, 3), **f),
            "t_center": torch.stack([t_s - plateau_half_s, t_s + plateau_half_s], dim=-1).to(**f),
            "t_logwidth": torch.full((m, 2), logwidth_for(falloff_s + floor, floor), **f)}
