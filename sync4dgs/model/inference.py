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

Compact mode (``InferenceView(model, compact=True)``, used by eval, export and the viewer): a dynamic Gaussian whose
effective opacity (opacity x temporal opacity) is below the rasterizer's alpha threshold (1/255, gsplat and our
torch renderer alike) contributes to no pixel, so rendering without it gives the same image. Temporally local
Gaussians (moving-content seeds) are visible for a few frames each, so at any time most of them are invisible.
The view computes each row's visibility interval [on, off] (seconds) exactly from its temporal opacity, sorts the
rows into time buckets of a quarter keyframe interval, and per frame evaluates only the static rows, the
long-lived dynamic rows (visible over more than ``LONG_LIVED_BUCKETS`` buckets) and the bucket's rows. The output
then has N = n_static + (rows that may be visible at t) rows, in that order; the image is unchanged (tests render
both). When some time bucket keeps more than ``COMPACT_MAX_FRACTION`` of the dynamic rows, the view fills every row
as in the default mode (the gathers would cost as much as they save). The default (``compact=False``) returns every
row, as ``Gaussians4D.at_time``.

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

from sync4dgs.render.conventions import ALPHA_THRESHOLD   # the rasterizer skips alpha below this
from sync4dgs.render.types import Gaussians

__all__ = ["InferenceView", "visibility_intervals"]

CULL_MARGIN = 0.5               # rows are kept down to this x the threshold (float rounding never drops a row)
BUCKETS_PER_KEY_INTERVAL = 4    # compact mode: time buckets per keyframe interval
LONG_LIVED_BUCKETS = 8          # rows visible over more buckets than this are evaluated at every time
COMPACT_MAX_FRACTION = 0.5      # compact only pays when every bucket leaves out at least half the dynamic rows (the
                                # gathers cost about as much as evaluating the rows); else the view fills every row
MAX_BUCKETS = 1 << 16


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
    compact: "_Buckets | None" = None  # compact mode only


@dataclass
class _Buckets:
    """Compact mode: which dynamic rows may be visible in each time bucket, and per-row constants to gather."""

    t0_s: float                       # start of bucket 0 (s)
    width_s: float                    # bucket width (s)
    offsets: list[int]                # bucket b's rows are flat[offsets[b]:offsets[b + 1]]
    flat: Tensor                      # [P] int64 dynamic row indices, grouped by bucket
    always: Tensor                    # [L] int64 long-lived rows (evaluated at every time)
    scales: Tensor                    # [Nd, 3] activated scales
    colors: Tensor                    # [Nd, B, 3]
    means0: Tensor | None             # [Nd, 3] (one keyframe only)
    quats0: Tensor | None             # [Nd, 4] (one keyframe only)

    def rows_at(self, t_s: float) -> Tensor:
        """[A] int64 dynamic rows that may be visible at t (s): long-lived rows, then the bucket's."""
        b = math.floor((t_s - self.t0_s) / self.width_s)
        if not 0 <= b < len(self.offsets) - 1:
            return self.always
        part = self.flat[self.offsets[b]:self.offsets[b + 1]]
        return torch.cat([self.always, part]) if self.always.numel() else part


class InferenceView:
    """Fast ``at_time`` for rendering a :class:`Gaussians4D` whose parameters need no gradient.

    Args:
        model: the Gaussians4D (held by reference; the view follows its current parameters).
        compact: leave out dynamic rows that are invisible at the requested time (same image; see the module
            docstring). Default False: every row, as ``Gaussians4D.at_time``.
    """

    def __init__(self, model: Any, compact: bool = False):
        self._model_ref = weakref.ref(model)      # weak: caches keyed by the model may hold views
        self.compact = bool(compact)
        self._states: dict[int, _State] = {}
        self.rebuilds = 0            # how often the precomputed state was (re)built: for tests / diagnostics

    @property
    def model(self) -> Any:
        model = self._model_ref()
        if model is None:
            raise ReferenceError("the model of this InferenceView no longer exists")
        return model

    def dynamic_rows_at(self, t_global_s: float, sh_degree: int | None = None) -> Tensor | None:
        """Compact mode: [A] int64 indices (into the model's dynamic set) of the dynamic rows that ``at_time(t)``
        returns after the static ones, in that order; None when the view is not compact."""
        if not self.compact:
            return None
        with torch.inference_mode(False), torch.no_grad():
            st = self._state(self.model._num_bases(sh_degree))
        if st.compact is None:        # no dynamic rows, or too few invisible ones: every row is returned
            return torch.arange(self.model.n_dynamic, dtype=torch.int64, device=st.out.means.device)
        return st.compact.rows_at(float(t_global_s))

    def invalidate(self) -> None:
        """Drop the precomputed state (needed only after in-place edits of inference-mode tensors)."""
        self._states.clear()

    def at_time(self, t_global_s: float | Tensor, sh_degree: int | None = None) -> Gaussians:
        """Gaussians at global time ``t_global_s`` (seconds; a float, or a 0-d tensor = one host sync).

        Returns render.types.Gaussians (N = n_static + n_dynamic, static rows first, colours
        [N, (d+1)^2, 3]; compact mode: N = n_static + the dynamic rows that may be visible at t) that alias this
        view's buffers: valid until the next call; do not modify.
        """
        t = float(t_global_s)
        bases = self.model._num_bases(sh_degree)
        with torch.inference_mode(False), torch.no_grad():   # buffers stay normal tensors (in-place writes)
            st = self._state(bases)
            if st.compact is None:
                self._fill(st, t)
                return st.out
            n = self._fill_compact(st, t)
        o = st.out
        return Gaussians(means=o.means[:n], quats=o.quats[:n], scales=o.scales[:n], opacities=o.opacities[:n],
                         colors=o.colors[:n])

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
            st = self._build(model, bases, [weakref.ref(t) for t in tensors], signature, self.compact)
            self._states[bases] = st
            self.rebuilds += 1
        return st

    @staticmethod
    def _build(m: Any, bases: int, refs: list[weakref.ref], signature: tuple, compact: bool = False) -> _State:
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
        if compact:
            InferenceView._make_compact(st, out, dt if K > 1 else 1.0)
        return st

    @staticmethod
    def _make_compact(st: _State, out: Gaussians, key_interval_s: float) -> None:
        """Bucket the dynamic rows by visibility interval; the output buffer keeps n_static + the largest bucket."""
        ns = st.n_static
        on, off = visibility_intervals(st.centres, st.widths, st.log_base)
        seen = on <= off
        width = key_interval_s / BUCKETS_PER_KEY_INTERVAL
        rows = torch.nonzero(seen).squeeze(1)
        dev = on.device
        if rows.numel() == 0:
            t0, nb = 0.0, 0
            first = last = torch.zeros(0, dtype=torch.int64, device=dev)
        else:
            t0 = float(on[rows].min())
            nb = min(MAX_BUCKETS, int(math.floor((float(off[rows].max()) - t0) / width)) + 1)
            width = max(width, (float(off[rows].max()) - t0) / nb * (1 + 1e-9))
            first = ((on[rows] - t0) / width).floor().clamp(0, nb - 1).long()
            last = ((off[rows] - t0) / width).floor().clamp(0, nb - 1).long()
        long_lived = (last - first + 1) > LONG_LIVED_BUCKETS
        always = rows[long_lived]
        rows, first, span = rows[~long_lived], first[~long_lived], (last - first + 1)[~long_lived]
        pair_rows = torch.repeat_interleave(rows, span)                       # one entry per (row, bucket)
        start = torch.repeat_interleave(torch.cumsum(span, 0) - span, span)
        pair_bucket = torch.repeat_interleave(first, span) + torch.arange(pair_rows.numel(), device=dev) - start
        order = torch.argsort(pair_bucket, stable=True)
        counts = torch.bincount(pair_bucket, minlength=nb).tolist() if nb else []
        offsets = [0]
        for c in counts:
            offsets.append(offsets[-1] + int(c))
        n_max = ns + int(always.numel()) + (max(counts) if counts else 0)
        nd = int(st.centres.shape[1])
        if n_max - ns > COMPACT_MAX_FRACTION * nd:                            # not worth it: fill every row
            return
        dyn = slice(ns, ns + nd)
        b = _Buckets(t0_s=t0, width_s=width, offsets=offsets, flat=pair_rows[order].contiguous(), always=always,
                     scales=out.scales[dyn].clone(), colors=out.colors[dyn].clone(),
                     means0=out.means[dyn].clone() if st.keys is None else None,
                     quats0=out.quats[dyn].clone() if st.q1 is None else None)
        st.compact = b
        if n_max < out.means.shape[0]:                                        # shrink the output buffers
            st.out = Gaussians(means=out.means[:n_max].clone(), quats=out.quats[:n_max].clone(),
                               scales=out.scales[:n_max].clone(), opacities=out.opacities[:n_max].clone(),
                               colors=out.colors[:n_max].clone())
        a = n_max - ns
        st.scratch = torch.empty(2, a, device=dev, dtype=out.means.dtype)
        if st.q1 is not None:
            st.qtmp = torch.empty(a, 4, device=dev, dtype=out.means.dtype)
            st.qnorm = torch.empty(a, 1, device=dev, dtype=out.means.dtype)

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

    def _fill_compact(self, st: _State, t: float) -> int:
        """Compact mode: static rows, then the dynamic rows that may be visible at t; returns the row count."""
        out, ns, c = st.out, st.n_static, st.compact
        if st.static_vel is not None:
            torch.add(st.static_means, st.static_vel, alpha=t - st.anchor_s, out=out.means[:ns])
        if st.centres is None:
            return ns
        idx = c.rows_at(t)
        a = int(idx.numel())
        rows = slice(ns, ns + a)
        K = st.num_keys
        n, u = segment_coordinates(t, st.t0_s, st.dt_s, K)
        means = out.means[rows]
        if st.keys is None:
            torch.index_select(c.means0, 0, idx, out=means)
        elif st.keys.shape[0] == K + 2:                                     # hermite on padded keys
            w = catmull_rom_weights(u)
            torch.mul(st.keys[n].index_select(0, idx), w[0], out=means)
            for j in range(1, 4):
                means.add_(st.keys[n + j].index_select(0, idx), alpha=w[j])
        else:
            torch.mul(st.keys[n].index_select(0, idx), 1.0 - u, out=means)
            means.add_(st.keys[n + 1].index_select(0, idx), alpha=u)
        if st.q1 is None:
            torch.index_select(c.quats0, 0, idx, out=out.quats[rows])
        else:
            om = None if st.omega_pi is None else st.omega_pi[n].index_select(0, idx)
            self._blend(st.q0[n].index_select(0, idx), st.q1[n].index_select(0, idx), om, u, out.quats[rows],
                        st.qtmp[:a], st.qnorm[:a])
        torch.index_select(c.scales, 0, idx, out=out.scales[rows])
        torch.index_select(c.colors, 0, idx, out=out.colors[rows])
        x = st.scratch[:, :a]                                               # temporal opacity
        torch.sub(st.centres.index_select(1, idx), t, out=x)
        x.div_(st.widths.index_select(1, idx)).clamp_min_(0.0)
        x.mul_(x)
        opac = out.opacities[rows]
        torch.sum(x, dim=0, out=opac)
        torch.sub(st.log_base.index_select(0, idx), opac, out=opac)
        opac.exp_()
        return ns + a

    @staticmethod
    def _rotations(st: _State, n: int, u: float, out: Tensor) -> None:
        """Blend of keyframes n and n+1 into ``out`` [Nd, 4] (unit norm)."""
        InferenceView._blend(st.q0[n], st.q1[n], st.omega_pi[n] if st.omega_pi is not None else None, u, out,
                             st.qtmp, st.qnorm)

    @staticmethod
    def _blend(q0: Tensor, q1: Tensor, omega_pi: Tensor | None, u: float, out: Tensor, tmp: Tensor,
               qnorm: Tensor) -> None:
        """Slerp (``omega_pi`` [M] given) or nlerp of unit quaternions q0, q1 [M, 4] at u into ``out`` [M, 4]."""
        if omega_pi is None:                                                # nlerp
            torch.mul(q1, u, out=tmp)
            tmp.add_(q0, alpha=1.0 - u)
        else:
            # slerp: w0 = sin((1-u) w) / sin w, w1 = sin(u w) / sin w; the common 1/sin(w) cancels in the
            # normalisation, and sin(a w) = a w sinc(a w / pi) is exact (and finite) at w = 0
            big, small, a = (q1, q0, u) if u >= 0.5 else (q0, q1, 1.0 - u)
            om = omega_pi
            wb = torch.sinc(om * a)                                          # weight / a of the nearer key
            ws = torch.sinc(om * (1.0 - a))
            torch.mul(big, wb.unsqueeze(-1), out=tmp)
            tmp.addcmul_(small, ws.unsqueeze(-1), value=(1.0 - a) / a)
        torch.linalg.vector_norm(tmp, dim=-1, keepdim=True, out=qnorm)
        torch.div(tmp, qnorm.clamp_min_(1e-12), out=out)


def visibility_intervals(centres: Tensor, widths: Tensor, log_base: Tensor,
                         alpha: float = ALPHA_THRESHOLD * CULL_MARGIN) -> tuple[Tensor, Tensor]:
    """Times (s) between which each dynamic Gaussian's effective opacity is at least ``alpha``.

    Args:
        centres: [2, Nd] sorted appear / disappear centres (s); widths: [2, Nd] +appear width, -disappear width (s)
            (the view's layout); log_base: [Nd] log of the base opacity.
    Returns:
        (on, off), each [Nd] seconds; on > off for a row that never reaches ``alpha``. Exact: the opacity is
        exp(log_base - x^2) with x the distance outside [centre 0, centre 1] in widths.
    """
    reach = torch.sqrt((log_base - math.log(alpha)).clamp_min(0.0))
    on = centres[0] - widths[0] * reach
    off = centres[1] - widths[1] * reach
    never = log_base < math.log(alpha)
    return torch.where(never, torch.ones_like(on), on), torch.where(never, torch.zeros_like(off), off)
