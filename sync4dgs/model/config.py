"""Typed configuration of the 4D Gaussian model (re-exported by sync4dgs.model.gaussians4d)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

from sync4dgs.errors import ConfigError
from sync4dgs.model.interp import POSITION_MODES, ROTATION_MODES


@dataclass
class ModelConfig:
    """Hyper-parameters of :class:`Gaussians4D` (times in SECONDS unless the name says frames)."""

    # Maximum SH degree stored (colours have (sh_degree+1)^2 bases).
    sh_degree: int = 3
    # Keyframe spacing in frames of the reference camera (converted to seconds with its fps by the caller).
    keyframe_interval_frames: int = 10
    # Position interpolation between keyframes: "hermite" (uniform Catmull-Rom) or "linear".
    interpolation: str = "hermite"
    # Rotation interpolation between keyframes: "slerp" or "nlerp".
    rotation_interp: str = "slerp"
    # The keyframed interior extends this far beyond the requested time range on both sides (seconds).
    time_margin_s: float = 0.5
    # Initial (activated) opacity of new Gaussians.
    init_opacity: float = 0.1
    # Floor added to exp(t_logwidth) in the temporal opacity (seconds).
    temporal_width_floor_s: float = 0.01
    # Initial temporal falloff width of trajectory-initialised dynamic Gaussians (seconds; <= 0: one keyframe
    # interval).
    init_temporal_width_s: float = 0.0
    # Scale of trajectory-initialised dynamic Gaussians relative to the nearest-neighbour rule.
    trajectory_scale_factor: float = 0.5
    # Opt-in Ex4DGS static drift: adds static["velocities"] [Ns, 3] (world units per second); the static
    # position becomes means + velocities * (t - static_t_anchor_s). Off by default (contract keys only).
    static_motion: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.sh_degree, int) or not 0 <= self.sh_degree <= 4:
            raise ConfigError(f"model.sh_degree must be an integer in [0, 4], got {self.sh_degree!r}")
        if not isinstance(self.keyframe_interval_frames, int) or self.keyframe_interval_frames < 1:
            raise ConfigError(f"model.keyframe_interval_frames must be an integer >= 1, "
                              f"got {self.keyframe_interval_frames!r}")
        if self.interpolation not in POSITION_MODES:
            raise ConfigError(f"model.interpolation must be one of {POSITION_MODES}, got {self.interpolation!r}")
        if self.rotation_interp not in ROTATION_MODES:
            raise ConfigError(f"model.rotation_interp must be one of {ROTATION_MODES}, "
                              f"got {self.rotation_interp!r}")
        if not self.time_margin_s >= 0:
            raise ConfigError(f"model.time_margin_s must be >= 0, got {self.time_margin_s!r}")
        if not 0 < self.init_opacity < 1:
            raise ConfigError(f"model.init_opacity must be in (0, 1), got {self.init_opacity!r}")
        if not self.temporal_width_floor_s > 0:
            raise ConfigError(f"model.temporal_width_floor_s must be > 0, got {self.temporal_width_floor_s!r}")
        if not self.trajectory_scale_factor > 0:
            raise ConfigError(f"model.trajectory_scale_factor must be > 0, got {self.trajectory_scale_factor!r}")

    @property
    def num_sh_bases(self) -> int:
        return (self.sh_degree + 1) ** 2

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "ModelConfig":
        """Build from a dict; unknown keys raise ConfigError naming them."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ConfigError(f"unknown model config key(s): {', '.join(unknown)}")
        return cls(**d)
