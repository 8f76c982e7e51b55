"""Fast, no-grad evaluation of a :class:`Gaussians4D` for rendering (eval, export, viewer, FPS measurements).

``Gaussians4D.at_time`` is differentiable in the parameters AND in time, and so re-activates every tensor and
concatenates the static and dynamic sets on every call (~100 small kernel launches). When nothing needs
gradients, almost all of that is constant between frames: :class:`InferenceView` precomputes it once per
model version and, per frame, evaluates only the time-dependent dynamic quantities (positions, rotations,
temporal opacity: ~20 launches, no host-device sync, no allocation of the N-row output) straight into a
preallocated output buffer whose static rows never change.

Same function as ``at_time`` (tests compare both in float64): positions by uniform Catmull-Rom (or linear)
interpolation, rotations by slerp (or nlerp), opacity x temporal opacity, colours as SH [N, B, 3]. Differences
are floating-point rounding only: slerp weights are written with sinc (exact for small angles, where
``at_time`` switches to the normalised linear blend; the two agree to ~1e-6 there), the Hermite basis is
evaluated on the host in float64, and the base opacity is applied in log space.

Cache validity: the precomputed state is keyed by the identity (weak references), storage pointer and in-place
version counter (``Tensor._version``) of every parameter and buffer, plus the config fields it depends on. Any
optimiser step, densification (new Parameter objects), ``ensure_time_domain`` (in-place buffer update) or
``.to()`` therefore rebuilds it on the next call. Tensors created under ``torch.inference_mode`` have no version
counter: if you modify such parameters in place, call :meth:`InferenceView.invalidate`.

The returned :class:`Gaussians` ALIAS the view's buffers: they are valid until the next ``at_time`` call of the
same view and must not be modified. Use one view per thread. The view refers to its model weakly.
"""

from __future__ import annotations

import math
import weakref
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from sync4dgs.render.types import Gaussians

__all__ = ["InferenceView"]


def _tracked(model: Any) -> list[Tensor]:
    """Every tensor the cached state is computed from."""
    return [*model.static.values(), *model.dynamic.values(), *model.buffers()]


def _signature(model: Any, tensors: list[Tensor]) -> tuple:
    """Storage pointer, in-place version counter, shape and dtype of ``tensors`` + the config fields used."""
    cfg = model.config
    return (cfg.interpolation, cfg.rotation_interp, cfg.temporal_width_floor_s, cfg.static_motion,
            *((t.data_ptr(), -1 if t.is_inference() else t._version, t.shape, t.dtype) for t in tensors))


def catmull_rom_weights(u: float) -> tuple[float, float, float, float]:
    """Weights of keyframes (n-1, n, n+1, n+2) of the uniform Catmull-Rom segment n at local parameter u.

    Same curve as :func:`sync4dgs.model.interp.catmull_rom` (Hermite with tangents (p1-p_prev)/2,
    (p_next-p0)/2), rearranged as one weighted sum: h00 p0 + h10 m0 + h01 p1 + h11 m1.
    """
    u2 = u * u
    u3 = u2 * u
    h00, h10 = 2 * u3 - 3 * u2 + 1, u3 - 2 * u2 + u
    h01, h11 = -2 * u3 + 3 * u2, u3 - u2
    return -0.5 * h10, h00 - 0.5 * h11, h01 + 0.5 * h10, 0.5 * h11


def segment_coordinates(t_s: float, t0_s: float, dt_s: float, num_keys: int) -> tuple[int, float]:
    """Host-side twin of :func:`sync4dgs.model.interp.keyframe_coordinates` for one time (seconds)."""
    s = min(max((t_s - t0_s) / dt_s, 0.0), float(max(num_keys - 1, 0)))
    n = int(min(max(math.floor(s), 0), max(num_keys - 2, 0)))
    return n, s - n


@dataclass
class _State:
    """Precomputed tensors of one model version and SH degree (see InferenceView)."""

    refs: list[weakref.ref]   # the tracked tensors (weakly: identity check without keeping old ones alive)
    signature: tuple
    out: Gaussians            # [N] output buffers; static rows (and dynamic scales/colours) filled once
    n_static: int
    num_keys: int
    t0_s: float
    dt_s: float
    anchor_s: float
    static_means: Tensor | None       # [Ns, 3] (static_motion only)
    static_vel: Tensor | None         # [Ns, 3]
    keys: Tensor | None               # positions, keyframe-major [K(+2 padded for hermite), Nd, 3]
    q0: Tensor | None                 # [K, Nd, 4] unit keyframe rotations
    q1: Tensor | None                 # [K-1, Nd, 4] q0[j+1] flipped onto the short arc from q0[j]
    omega_pi: Tensor | None           # [K-1, Nd] half-angle of segment j, divided by pi (slerp)
    centres: Tensor | None            # [2, Nd] appear / disappear centre (s), sorted
    widths: Tensor | None             # [2, Nd] +width of the appear side, -width of the disappear side (s)
    log_base: Tensor | None           # [Nd] log(sigmoid(opacity))
    scratch: Tensor | None            # [2, Nd] temporal work buffer
    qtmp: Tensor | None               # [Nd, 4] rotation work buffer
    qnorm: Tensor | None              # [Nd, 1]


class InferenceView:
    """Fast ``at_time`` for rendering a :class:`Gaussians4D` whose parameters need no gradient.

    Args:
        model: the Gaussians4D (held by reference; the view follows its current parameters).
    """

    def __init__(self, model: Any):
        self._model_ref = weakref.ref(model)      # weak: caches keyed by the model may hold views
        self._states: dict[int, _State] = {}
        self.rebuilds = 0            # how often the precomputed state was (re)built: for tests / diagnostics

    @property
    def model(self) -> Any:
        model = self._model_ref()
        if model is None:
            raise ReferenceError("the model of this InferenceView no longer exists")
        return model

    def invalidate(self) -> None:
        """Drop the precomputed state (needed only after in-place edits of inference-mode tensors)."""
        self._states.clear()

    def at_time(self, t_global_s: float | Tensor, sh_degree: int | None = None) -> Gaussians:
        """Gaussians at global time ``t_global_s`` (seconds; a float, or a 0-d tensor = one host sync).

        Returns render.types.Gaussians (N = n_static + n_dynamic, static rows first, colours
        [N, (d+1)^2, 3]) that alias this view's buffers: valid until the next call; do not modify.
        """
        t = float(t_global_s)
        bases = self.model._num_bases(sh_degree)
        with torch.inference_mode(False), torch.no_grad():   # buffers stay normal tensors (in-place writes)
            st = self._state(bases)
            self._fill(st, t)
        return st.out

    # ---------------------------------------------------------------------------------------------- build
    def _state(self, bases: int) -> _State:
        model = self.model
        tensors = _tracked(model)
        signature = _signature(model, tensors)

        def current(st: _State) -> bool:
            return (st.signature == signature and len(st.refs) == len(tensors)
                    and all(r() is t for r, t in zip(st.refs, tensors)))

        st = self._states.get(bases)
        if st is None or not current(st):
            self._states = {b: s for b, s in self._states.items() if current(s)}
            st = self._build(model, bases, [weakref.ref(t) for t in tensors], signature)
            self._states[bases] = st
            self.rebuilds += 1
        return st

    @staticmethod
    def _build(m: Any, bases: int, refs: list[weakref.ref], signature: tuple) -> _State:
        cfg = m.config
        s, d = m.static, m.dynamic
        ns, nd, K = m.n_static, m.n_dynamic, m.num_keyframes
        n = ns + nd
        ref = s["means"]
        dev, dtype = ref.device, ref.dtype
        out = Gaussians(means=torch.empty(n, 3, device=dev, dtype=dtype),
                        quats=torch.empty(n, 4, device=dev, dtype=dtype),
                        scales=torch.empty(n, 3, device=dev, dtype=dtype),
                        opacities=torch.empty(n, device=dev, dtype=dtype),
                        colors=torch.empty(n, bases, 3, device=dev, dtype=dtype))
        t0, dt, anchor = (float(x) for x in (m.key_t0_s, m.key_interval_s, m.static_t_anchor_s))
        for rows, p in ((slice(0, ns), s), (slice(ns, n), d)):
            out.scales[rows] = torch.exp(p["scales"])
            out.colors[rows, :1] = p["sh0"]
            if bases > 1:
                out.colors[rows, 1:] = p["shN"][:, : bases - 1]
        out.means[:ns] = s["means"]
        out.quats[:ns] = F.normalize(s["quats"], dim=-1)
        out.opacities[:ns] = torch.sigmoid(s["opacities"])
        st = _State(refs=refs, signature=signature, out=out, n_static=ns, num_keys=K, t0_s=t0, dt_s=dt,
                    anchor_s=anchor, static_means=None, static_vel=None, keys=None, q0=None, q1=None, omega_pi=None,
                    centres=None, widths=None, log_base=None, scratch=None, qtmp=None, qnorm=None)
        if cfg.static_motion:
            st.static_means, st.static_vel = s["means"].detach(), s["velocities"].detach()
        if nd == 0:
            return st
        km = d["key_means"].detach().transpose(0, 1)                        # [K, Nd, 3]
        if K == 1:
            out.means[ns:] = km[0]
        elif cfg.interpolation == "hermite":                                # clamped neighbours as padding
            st.keys = torch.cat([km[:1], km, km[-1:]]).contiguous()         # [K+2, Nd, 3]
        else:
            st.keys = km.contiguous()
        q = F.normalize(d["key_quats"].detach(), dim=-1).transpose(0, 1).contiguous()   # [K, Nd, 4]
        if K == 1:
            out.quats[ns:] = q[0]
        else:
            q0, q1 = q[:-1], q[1:]
            sign = torch.where((q0 * q1).sum(-1, keepdim=True) < 0, -1.0, 1.0).to(dtype)
            q1 = q1 * sign
            st.q0, st.q1 = q, q1
            if cfg.rotation_interp == "slerp":                               # stable half-angle
                omega = 2 * torch.atan2((q1 - q0).norm(dim=-1), (q1 + q0).norm(dim=-1))
                st.omega_pi = omega / math.pi
            st.qtmp = torch.empty(nd, 4, device=dev, dtype=dtype)
            st.qnorm = torch.empty(nd, 1, device=dev, dtype=dtype)
        c, w = d["t_center"].detach(), torch.exp(d["t_logwidth"].detach()) + cfg.temporal_width_floor_s
        swap = c[:, 0] > c[:, 1]
        st.centres = torch.stack([torch.minimum(c[:, 0], c[:, 1]), torch.maximum(c[:, 0], c[:, 1])])
        st.widths = torch.stack([torch.where(swap, w[:, 1], w[:, 0]), -torch.where(swap, w[:, 0], w[:, 1])])
        st.log_base = F.logsigmoid(d["opacities"].detach())
        st.scratch = torch.empty(2, nd, device=dev, dtype=dtype)
        return st

    # ---------------------------------------------------------------------------------------- per frame
    def _fill(self, st: _State, t: float) -> None:
        out, ns = st.out, st.n_static
        if st.static_vel is not None:
            torch.add(st.static_means, st.static_vel, alpha=t - st.anchor_s, out=out.means[:ns])
        if st.centres is None:
            return
        K = st.num_keys
        n, u = segment_coordinates(t, st.t0_s, st.dt_s, K)
        if st.keys is not None:
            means = out.means[ns:]
            if st.keys.shape[0] == K + 2:                                   # hermite on padded keys
                w = catmull_rom_weights(u)
                torch.mul(st.keys[n], w[0], out=means)
                for j in range(1, 4):
                    means.add_(st.keys[n + j], alpha=w[j])
            else:
                torch.mul(st.keys[n], 1.0 - u, out=means)
                means.add_(st.keys[n + 1], alpha=u)
        if st.q1 is not None:
            self._rotations(st, n, u, out.quats[ns:])
        x = st.scratch                                                      # temporal opacity
        torch.sub(st.centres, t, out=x)
        x.div_(st.widths).clamp_min_(0.0)
        x.mul_(x)
        opac = out.opacities[ns:]
        torch.sum(x, dim=0, out=opac)
        torch.sub(st.log_base, opac, out=opac)
        opac.exp_()

    @staticmethod
    def _rotations(st: _State, n: int, u: float, out: Tensor) -> None:
        """Blend of keyframes n and n+1 into ``out`` [Nd, 4] (unit norm)."""
        q0, q1, tmp = st.q0[n], st.q1[n], st.qtmp
        if st.omega_pi is None:                                             # nlerp
            torch.mul(q1, u, out=tmp)
            tmp.add_(q0, alpha=1.0 - u)
        else:
            # slerp: w0 = sin((1-u) w) / sin w, w1 = sin(u w) / sin w; the common 1/sin(w) cancels in the
            # normalisation, and sin(a w) = a w sinc(a w / pi) is exact (and finite) at w = 0
            big, small, a = (q1, q0, u) if u >= 0.5 else (q0, q1, 1.0 - u)
            om = st.omega_pi[n]
            wb = torch.sinc(om * a)                                          # weight / a of the nearer key
            ws = torch.sinc(om * (1.0 - a))
            torch.mul(big, wb.unsqueeze(-1), out=tmp)
            tmp.addcmul_(small, ws.unsqueeze(-1), value=(1.0 - a) / a)
        torch.linalg.vector_norm(tmp, dim=-1, keepdim=True, out=st.qnorm)
        torch.div(tmp, st.qnorm.clamp_min_(1e-12), out=out)
