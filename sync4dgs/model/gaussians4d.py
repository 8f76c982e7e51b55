"""Ex4DGS-style explicit 4D Gaussians: a static set plus a keyframed dynamic set, as a function of global time.

Time is continuous global time in SECONDS (reference camera's clock, see sync4dgs/timemap.py).

Keyframe grid: keyframe k (0 <= k < K) at ``key_t0_s + k * key_interval_s``. The first and last keyframes are
GUARD keyframes: the "interior" [key_t0_s + dt, key_t0_s + (K-2) dt] is the range where Catmull-Rom uses
true neighbours on both sides; ``model_from_points`` (initialize.py) and ``ensure_time_domain`` keep the requested time range
plus ``config.time_margin_s`` inside the interior. Outside the whole grid, positions/rotations hold their
end values (time is clamped); temporal opacity is not clamped.

Parameters (raw, before activation):
    static:  means [Ns,3], quats [Ns,4] wxyz, scales [Ns,3] LOG, opacities [Ns] LOGIT, sh0 [Ns,1,3],
             shN [Ns,B-1,3] (+ velocities [Ns,3] world units / s when config.static_motion)
    dynamic: key_means [Nd,K,3], key_quats [Nd,K,4], scales [Nd,3] LOG, opacities [Nd] LOGIT, sh0 [Nd,1,3],
             shN [Nd,B-1,3], t_center [Nd,2] SECONDS, t_logwidth [Nd,2] log SECONDS
    buffers: key_t0_s [] s, key_interval_s [] s, static_t_anchor_s [] s
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import torch
import torch.nn.functional as F
from torch import Tensor

from sync4dgs.model import ops
from sync4dgs.model.config import ModelConfig
from sync4dgs.model.inference import CULL_MARGIN, InferenceView
from sync4dgs.model.interp import hermite, keyframe_coordinates, lerp_segment, rotation_segment
from sync4dgs.model.temporal import temporal_opacity
from sync4dgs.render.conventions import ALPHA_THRESHOLD
from sync4dgs.render.types import Gaussians

__all__ = ["ModelConfig", "Gaussians4D", "STATIC_KEYS", "DYNAMIC_KEYS"]

STATIC_KEYS = ("means", "quats", "scales", "opacities", "sh0", "shN")
STATIC_MOTION_KEY = "velocities"
DYNAMIC_KEYS = ("key_means", "key_quats", "scales", "opacities", "sh0", "shN", "t_center", "t_logwidth")


def _expected_shapes(config: ModelConfig, K: int) -> tuple[dict[str, tuple], dict[str, tuple]]:
    b = config.num_sh_bases
    static = {"means": (3,), "quats": (4,), "scales": (3,), "opacities": (), "sh0": (1, 3), "shN": (b - 1, 3)}
    if config.static_motion:
        static[STATIC_MOTION_KEY] = (3,)
    dynamic = {"key_means": (K, 3), "key_quats": (K, 4), "scales": (3,), "opacities": (), "sh0": (1, 3),
               "shN": (b - 1, 3), "t_center": (2,), "t_logwidth": (2,)}
    return static, dynamic


class Gaussians4D(torch.nn.Module):
    """Static + keyframed dynamic Gaussians; ``at_time(t)`` gives the activated set at global time t (s)."""

    def __init__(self, config: ModelConfig, static: Mapping[str, Tensor], dynamic: Mapping[str, Tensor],
                 key_t0_s: float, key_interval_s: float, static_t_anchor_s: float = 0.0):
        super().__init__()
        if not key_interval_s > 0:
            raise ValueError(f"key_interval_s must be > 0 seconds, got {key_interval_s}")
        self.config = config
        K = int(dynamic["key_means"].shape[1])
        if K < 1:
            raise ValueError("the keyframe grid needs at least one keyframe")
        exp_static, exp_dynamic = _expected_shapes(config, K)
        for label, given, expected in (("static", static, exp_static), ("dynamic", dynamic, exp_dynamic)):
            if set(given) != set(expected):
                raise ValueError(f"{label} parameters must have keys {sorted(expected)}, got {sorted(given)}")
            for k, tail in expected.items():
                if tuple(given[k].shape[1:]) != tail:
                    raise ValueError(f"{label}.{k}: shape {tuple(given[k].shape)}, expected [N, {tail}]")
            ops.num_rows(given)
        dtype = static["means"].dtype
        self.static = torch.nn.ParameterDict(
            {k: torch.nn.Parameter(static[k].detach().clone()) for k in exp_static})
        self.dynamic = torch.nn.ParameterDict(
            {k: torch.nn.Parameter(dynamic[k].detach().clone().to(dtype)) for k in exp_dynamic})
        dev = static["means"].device
        self.register_buffer("key_t0_s", torch.tensor(float(key_t0_s), dtype=dtype, device=dev))
        self.register_buffer("key_interval_s", torch.tensor(float(key_interval_s), dtype=dtype, device=dev))
        self.register_buffer("static_t_anchor_s", torch.tensor(float(static_t_anchor_s), dtype=dtype,
                                                               device=dev))

    # ----------------------------------------------------------------------------------------------- sizes
    @property
    def n_static(self) -> int:
        return int(self.static["means"].shape[0])

    @property
    def n_dynamic(self) -> int:
        return int(self.dynamic["key_means"].shape[0])

    @property
    def num_keyframes(self) -> int:
        return int(self.dynamic["key_means"].shape[1])

    def keyframe_times_s(self) -> Tensor:
        """[K] keyframe times in seconds."""
        k = torch.arange(self.num_keyframes, dtype=self.key_t0_s.dtype, device=self.key_t0_s.device)
        return self.key_t0_s + k * self.key_interval_s

    def interior_time_range_s(self) -> tuple[float, float]:
        """(start, end) seconds of the range served without guard keyframes (host sync; not for hot loops)."""
        t0, dt, K = float(self.key_t0_s), float(self.key_interval_s), self.num_keyframes
        return t0 + dt, t0 + max(K - 2, 1) * dt

    def num_parameters_bytes(self) -> int:
        """Bytes of all parameters and buffers as stored (what a saved model.pt holds, minus metadata)."""
        return sum(t.numel() * t.element_size() for t in (*self.parameters(), *self.buffers()))

    def size_mb(self) -> float:
        """Model size in MB (2**20 bytes) = num_parameters_bytes() / 2**20."""
        return self.num_parameters_bytes() / 2 ** 20

    # ---------------------------------------------------------------------------------------- evaluation
    def _time(self, t_global_s: Tensor | float) -> Tensor:
        ref = self.key_t0_s
        if not torch.is_tensor(t_global_s):   # a fill kernel, not a host->device copy
            return torch.full((), float(t_global_s), dtype=ref.dtype, device=ref.device)
        t = t_global_s.to(device=ref.device, dtype=ref.dtype)
        if t.dim() != 0:
            if t.numel() != 1:
                raise ValueError(f"at_time expects one time, got a tensor of shape {tuple(t.shape)}")
            t = t.reshape(())
        return t

    def _num_bases(self, sh_degree: int | None) -> int:
        d = self.config.sh_degree if sh_degree is None else int(sh_degree)
        if not 0 <= d <= self.config.sh_degree:
            raise ValueError(f"sh_degree {d} outside [0, {self.config.sh_degree}] (the model's maximum)")
        return (d + 1) ** 2

    @staticmethod
    def _colors(p: Mapping[str, Tensor], bases: int) -> Tensor:
        if bases == 1:
            return p["sh0"]
        return torch.cat([p["sh0"], p["shN"][:, : bases - 1]], dim=1)

    def static_at(self, t_global_s: Tensor | float, sh_degree: int | None = None) -> Gaussians:
        """Activated static Gaussians at time t (time-invariant unless config.static_motion)."""
        p = self.static
        means = p["means"]
        if self.config.static_motion:
            means = means + p[STATIC_MOTION_KEY] * (self._time(t_global_s) - self.static_t_anchor_s)
        return Gaussians(means=means, quats=F.normalize(p["quats"], dim=-1), scales=torch.exp(p["scales"]),
                         opacities=torch.sigmoid(p["opacities"]), colors=self._colors(p, self._num_bases(sh_degree)))

    def dynamic_at(self, t_global_s: Tensor | float, sh_degree: int | None = None,
                   rows: Tensor | None = None) -> Gaussians:
        """Activated dynamic Gaussians at time t: interpolated keyframes, opacity x temporal opacity.

        ``rows``: [A] int64 indices of the dynamic rows to evaluate (default: all); gradients flow back to
        exactly those rows of the parameters.
        """
        p = self.dynamic if rows is None else {k: v.index_select(0, rows) for k, v in self.dynamic.items()}
        t = self._time(t_global_s)
        n, u = keyframe_coordinates(t, self.key_t0_s, self.key_interval_s, self.num_keyframes)
        interp = hermite if self.config.interpolation == "hermite" else lerp_segment
        means = interp(p["key_means"], u, n)
        quats = rotation_segment(p["key_quats"], u, n, self.config.rotation_interp)
        opac = torch.sigmoid(p["opacities"]) * temporal_opacity(
            t, p["t_center"], p["t_logwidth"], self.config.temporal_width_floor_s)
        return Gaussians(means=means, quats=quats, scales=torch.exp(p["scales"]), opacities=opac,
                         colors=self._colors(p, self._num_bases(sh_degree)))

    @torch.no_grad()
    def visible_dynamic_rows(self, t_global_s: Tensor | float,
                             min_opacity: float = ALPHA_THRESHOLD * CULL_MARGIN) -> Tensor:
        """[A] int64 indices of the dynamic rows whose effective opacity (opacity x temporal opacity) at time t
        is at least ``min_opacity``. The rasterizer skips every alpha below 1/255, so leaving the other rows out
        of ``at_time(t, dynamic_rows=...)`` changes neither the image nor any gradient. One host sync."""
        p = self.dynamic
        t = self._time(t_global_s).detach()
        opac = torch.sigmoid(p["opacities"]) * temporal_opacity(
            t, p["t_center"], p["t_logwidth"], self.config.temporal_width_floor_s)
        return torch.nonzero(opac >= min_opacity).squeeze(1)

    def at_time(self, t_global_s: Tensor | float, sh_degree: int | None = None,
                dynamic_rows: Tensor | None = None) -> Gaussians:
        """All Gaussians at global time ``t_global_s`` (seconds; float or 0-d tensor, differentiable).

        Returns render.types.Gaussians with N = n_static + n_dynamic (static rows first), activated values
        and colours [N, (d+1)^2, 3] for d = sh_degree (default: config.sh_degree). No host syncs.
        ``dynamic_rows`` ([A] int64, e.g. :meth:`visible_dynamic_rows`): only those dynamic rows, in that order
        (N = n_static + A).
        """
        t = self._time(t_global_s)
        return Gaussians.concat([self.static_at(t, sh_degree), self.dynamic_at(t, sh_degree, dynamic_rows)])

    def inference_view(self, compact: bool = False) -> InferenceView:
        """A fast, no-grad ``at_time`` for rendering (eval, export, viewer): see sync4dgs/model/inference.py.

        The view precomputes everything time-invariant once per model version (rebuilt automatically after any
        in-place or structural parameter change) and writes each frame into a reused output buffer. ``compact``:
        leave out the dynamic rows invisible at the requested time (same image, fewer rows to rasterize).
        """
        return InferenceView(self, compact=compact)

    # ------------------------------------------------------------------------------------- time domain
    def ensure_time_domain(self, t_min_s: float, t_max_s: float, optimizers: ops.Optimizers = None) -> bool:
        """Grow the keyframe grid so that [t_min_s, t_max_s] lies inside its interior.

        Nothing happens (returns False) when the range is already inside. Otherwise keyframes are added at
        the start and/or end so that [t_min_s - margin, t_max_s + margin] is covered (margin =
        config.time_margin_s); new position keyframes continue the end segments linearly, new rotation
        keyframes repeat the end rotation. Returns True.

        Tensors that change shape (K grows): dynamic["key_means"] and dynamic["key_quats"] (new Parameter
        objects). Buffer key_t0_s moves back when keyframes are prepended. Values inside the old interior are
        unchanged. If ``optimizers`` (see ops.update_params) is given, their moments for these two tensors
        are zero-padded at the new keyframes; otherwise the caller must rebuild that optimiser state.
        """
        if not (math.isfinite(t_min_s) and math.isfinite(t_max_s)) or t_min_s > t_max_s:
            raise ValueError(f"invalid time range [{t_min_s}, {t_max_s}] s")
        lo, hi = self.interior_time_range_s()
        dt = float(self.key_interval_s)
        tol = 1e-9 * dt
        n_before = n_after = 0
        if t_min_s < lo - tol:
            n_before = math.ceil((lo - (t_min_s - self.config.time_margin_s)) / dt - 1e-9)
        if t_max_s > hi + tol:
            n_after = math.ceil(((t_max_s + self.config.time_margin_s) - hi) / dt - 1e-9)
        if n_before == 0 and n_after == 0:
            return False
        ops.extend_keyframes(self.dynamic, n_before, n_after, optimizers)
        with torch.no_grad():
            self.key_t0_s.sub_(n_before * dt)
        return True

    # --------------------------------------------------------------------------------- construction
    @classmethod
    def from_state_dict(cls, state_dict: Mapping[str, Tensor], config: ModelConfig) -> "Gaussians4D":
        """Rebuild a model (any sizes) from ``model.state_dict()`` (e.g. for resuming from a checkpoint)."""
        static = {k[len("static."):]: v for k, v in state_dict.items() if k.startswith("static.")}
        dynamic = {k[len("dynamic."):]: v for k, v in state_dict.items() if k.startswith("dynamic.")}
        return cls(config, static, dynamic, float(state_dict["key_t0_s"]), float(state_dict["key_interval_s"]),
                   float(state_dict.get("static_t_anchor_s", torch.tensor(0.0))))
