"""Ex4DGS progressive training window (``progressive.enabled``): views are sampled only from global times up to
a window end that grows during training (Ex4DGS: 11 frames at first, +10 frames every 400 iterations on N3V).

Cameras are unsynchronized, so the window is in GLOBAL time under the CURRENT time maps: view (k, i) is eligible
when ``offset_k + rate_k * tau_k[i] <= start_s + window_frames / fps_ref`` (seconds on the reference clock),
where ``start_s`` is the first global time at which EVERY training camera records (the latest first-frame time),
so each training camera has views in the window from the start. The maps move in training: the eligible set is
re-evaluated (one host sync, vectorised over all views) at every growth step and every ``refresh_every``
iterations; a changed set starts a new seeded permutation in the :class:`~sync4dgs.train.sampler.ViewSampler`,
whose state (eligible set included) goes into checkpoints, so a resumed run samples exactly the same views.
"""

from __future__ import annotations

import logging

import numpy as np

from sync4dgs.train.callbacks import Callback, TrainState
from sync4dgs.train.config import ProgressiveConfig
from sync4dgs.train.sampler import ViewSampler

log = logging.getLogger(__name__)

WINDOW_TOLERANCE_FRAMES = 1e-3      # a view exactly at the window end is in (Ex4DGS: timestamp <= sample_len)


# ------------------------------------------------------------------------------------------ pure schedule
def growth_steps(step: int, cfg: ProgressiveConfig) -> int:
    """Growth steps done before iteration ``step`` (1-based) samples its view.

    Ex4DGS grows after iteration ``it`` when ``it % grow_every == 0`` and ``it > max(grow_from_iter,
    grow_every)``; the grown window is used from iteration ``it + 1`` on.
    """
    first = max(cfg.grow_from_iter, cfg.grow_every)
    return max((step - 1) // cfg.grow_every - first // cfg.grow_every, 0)


def window_frames(step: int, cfg: ProgressiveConfig) -> int:
    """Window length (frames of the reference camera) used to sample iteration ``step``."""
    return cfg.start_frames + cfg.step_frames * growth_steps(step, cfg)


def eligible_views(t_view_s: np.ndarray, cam_of_view: np.ndarray, n_frames_window: float,
                   fps_ref: float) -> np.ndarray:
    """[F] bool: views whose global time is inside the window.

    t_view_s: [F] global capture time (s) of every view; cam_of_view: [F] its camera (0..K-1);
    n_frames_window: window length in frames of the reference camera (``fps_ref`` frames per second).
    """
    t_view_s = np.asarray(t_view_s, dtype=np.float64)
    cam_of_view = np.asarray(cam_of_view, dtype=np.int64)
    if not np.isfinite(t_view_s).all():       # non-finite time maps: nothing is eligible (the caller decides)
        return np.zeros(t_view_s.shape, dtype=bool)
    first = np.full(int(cam_of_view.max()) + 1, np.inf)
    np.minimum.at(first, cam_of_view, t_view_s)
    finite = first[np.isfinite(first)]
    return t_view_s <= finite.max() + (n_frames_window + WINDOW_TOLERANCE_FRAMES) / fps_ref


# ------------------------------------------------------------------------------------------ feature
class ProgressiveWindow(Callback):
    """Keeps the sampler's eligible views inside the growing window.

    Args:
        cfg: ProgressiveConfig.
        sampler: the session's (base) ViewSampler.
        offsets_rates: returns the current (offsets_s [C], rates [C]) of the time model (numpy; a host sync).
        view_time_index: [F] time-model index of each sampler view (``sampler.pairs`` order).
        view_tau_s: [F] local capture time (s) of each view.
        fps_ref: frame rate of the reference camera (window lengths are its frames).
        refresh_every: re-evaluate the set every N iterations (growth steps always do).
    """

    name = "progressive"

    def __init__(self, cfg: ProgressiveConfig, sampler: ViewSampler, offsets_rates, view_time_index: np.ndarray,
                 view_tau_s: np.ndarray, fps_ref: float, refresh_every: int):
        if fps_ref <= 0:
            raise ValueError(f"reference frame rate must be > 0, got {fps_ref}")
        self.cfg, self.sampler, self.offsets_rates = cfg, sampler, offsets_rates
        self.view_time_index = np.asarray(view_time_index, dtype=np.int64)
        self.view_tau_s = np.asarray(view_tau_s, dtype=np.float64)
        self.view_cam = sampler.pairs[:, 0].numpy()
        if self.view_time_index.shape != (len(sampler),) or self.view_tau_s.shape != (len(sampler),):
            raise ValueError(f"view tables must have {len(sampler)} entries")
        self.fps_ref = float(fps_ref)
        self.refresh_every = max(int(refresh_every), 1)

    def due(self, step: int) -> bool:
        """Re-evaluate before sampling iteration ``step``: after a growth step or every ``refresh_every``."""
        return step > 1 and (growth_steps(step, self.cfg) != growth_steps(step - 1, self.cfg)
                             or (step - 1) % self.refresh_every == 0)

    def view_times_s(self) -> np.ndarray:
        """[F] global time (s) of every view under the current time maps."""
        off, rate = self.offsets_rates()
        return off[self.view_time_index] + rate[self.view_time_index] * self.view_tau_s

    def refresh(self, step: int) -> bool:
        """Set the sampler's eligible views for iteration ``step``; True if the set changed."""
        frames = window_frames(step, self.cfg)
        mask = eligible_views(self.view_times_s(), self.view_cam, frames, self.fps_ref)
        if not mask.any():                    # only non-finite maps get here; the NaN guard deals with those
            log.warning("progressive window selects no view at iteration %d; sampling every view", step)
            mask = None
        changed = self.sampler.set_eligible(mask)
        if changed:
            log.info("iteration %d: progressive window %d frames -> %d of %d views eligible", step, frames,
                     self.sampler.n_eligible, len(self.sampler))
        return changed

    def on_train_start(self, state: TrainState) -> None:
        if state.step == 0:                   # a resumed run continues with the checkpointed sampler state
            self.refresh(1)

    def on_step_start(self, state: TrainState, step: int) -> None:
        if self.due(step):
            self.refresh(step)


def build_progressive_window(cfg: ProgressiveConfig, sampler: ViewSampler, time_ctl, time_index: list[int],
                             tau_s: list[list[float]], fps_ref: float, refresh_every: int) -> ProgressiveWindow:
    """The window for a session (``time_index``/``tau_s``: per training camera, as Session holds them)."""
    pairs = sampler.pairs.numpy()
    view_time_index = np.asarray(time_index, dtype=np.int64)[pairs[:, 0]]
    view_tau_s = np.array([tau_s[c][f] for c, f in pairs], dtype=np.float64)
    return ProgressiveWindow(cfg, sampler, time_ctl.offsets_rates, view_time_index, view_tau_s, fps_ref,
                             refresh_every)
