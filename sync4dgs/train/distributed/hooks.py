"""Turning a built :class:`~sync4dgs.train.session.Session` into one rank of a data-parallel job.

Replicated state: the Gaussians (static and dynamic), the per-camera time maps, optimiser states, the samplers'
and torch's RNG states. Per rank: the rendered (camera, frame) sample of each iteration and the running
densification statistics accumulated from it. The invariant kept at all times is

    statistic of the job = sum (or max) over ranks of the ranks' running statistics,

so every decision combines them first (``Callback.combine_stats``) and a checkpoint gathers them on rank 0
(the other ranks then zero theirs): checkpoints hold no rank-specific state and resume on any number of ranks.
"""

from __future__ import annotations

import logging
from typing import Any

import torch
from torch import Tensor

from sync4dgs.train.callbacks import Callback, StatOps, StepInfo, TrainState
from sync4dgs.train.distributed.runtime import DistributedError, DistributedRuntime
from sync4dgs.train.distributed.samplers import RankSlotBackground, RankSlotViewSampler
from sync4dgs.train.guard import NaNGuard
from sync4dgs.train.monitor import Monitor
from sync4dgs.train.saving import Checkpointer
from sync4dgs.train.session import Session

log = logging.getLogger(__name__)


class DistributedDivergenceError(DistributedError):
    """Replicas that must be identical differ between ranks."""


def _replicated_modules(session: Session) -> list[tuple[str, torch.nn.Module]]:
    """(prefix, module) of the Gaussians, then of every per-camera feature (time maps first; feature.py)."""
    return [("model", session.model), *(item for f in session.features for item in f.replicated_modules())]


def named_trainables(session: Session) -> list[tuple[str, torch.nn.Parameter]]:
    """Every trainable tensor of the job, by name, in a fixed order: Gaussians, then each feature's (time maps,
    camera refinement, appearance, ...). Their gradients are averaged over ranks here and nowhere else."""
    return [(f"{prefix}.{n}", p) for prefix, module in _replicated_modules(session)
            for n, p in module.named_parameters() if p.requires_grad]


def named_replicas(session: Session) -> list[tuple[str, Tensor]]:
    """Every tensor that must be identical on all ranks: parameters and buffers of the Gaussians and features."""
    out = []
    for prefix, module in _replicated_modules(session):
        out += [(f"{prefix}.{n}", p) for n, p in module.named_parameters()]
        out += [(f"{prefix}.{n}", b) for n, b in module.named_buffers()]
    return out


class DistributedHooks:
    """What the trainer and the features call on each rank (``session.distributed``)."""

    def __init__(self, session: Session, runtime: DistributedRuntime):
        self.session = session
        self.rt = runtime

    # ------------------------------------------------------------------------------------------- gradients
    def average_gradients(self) -> None:
        """Replace every trainable's gradient (Gaussians and every per-camera feature: :func:`named_trainables`)
        by the mean over ranks (a missing gradient counts as zero; a parameter keeps ``grad=None`` only if no
        rank produced one). One flattened bucket per dtype. The one place gradients cross ranks."""
        params = named_trainables(self.session)
        if not params:
            return
        where = f"trainable parameters at iteration {self.session.state.step + 1}"
        self.rt.check_layout(params, where)                            # host-side (gloo): no device sync
        any_grad = self.rt.any_([p.grad is not None for _, p in params])
        grads = [(n, p.grad if p.grad is not None else torch.zeros_like(p)) for (n, p), g in zip(params, any_grad)
                 if g]
        if not grads:
            return
        self.rt.all_reduce_(grads, "sum", what="gradients", check=False)
        by_name = dict(grads)
        for name, p in params:
            if name in by_name:
                p.grad = by_name[name].div_(self.rt.world_size)

    # ------------------------------------------------------------------------------------------ statistics
    def combine_stats(self, state: dict[str, Any], ops: StatOps) -> None:
        """Make ``state[k]`` the job's statistic (sum / max over ranks) on every rank, in place."""
        for op in ("sum", "max"):
            keys = sorted(k for k, o in ops.items() if o == op)
            if keys:
                self.rt.all_reduce_([(k, state[k]) for k in keys], op, what=f"running statistics {keys}")

    def running_stats(self) -> list[tuple[dict[str, Any], StatOps]]:
        return [item for cb in self.session.all_callbacks for item in cb.running_stats()]

    def gather_stats_on_main(self) -> None:
        """Rank 0 gets the job's running statistics, the other ranks zero theirs (the invariant holds)."""
        for state, ops in self.running_stats():
            self.combine_stats(state, ops)
            if not self.rt.is_main:
                self.zero_stats(state, ops)

    @staticmethod
    def zero_stats(state: dict[str, Any], ops: StatOps) -> None:
        for k in ops:
            if state.get(k) is not None:
                state[k].zero_()

    # ---------------------------------------------------------------------------------------- replicas
    def broadcast_replicas(self) -> None:
        """Every rank takes rank 0's parameters, buffers, sampler and RNG states."""
        s = self.session
        self.rt.broadcast_(named_replicas(s), what="model replicas")
        states = self.rt.broadcast_object({
            "torch": torch.get_rng_state(), "sampler": s.sampler.state_dict(),
            "background": s.background.state_dict(),
            "cuda": torch.cuda.get_rng_state(s.device) if s.device.type == "cuda" else None})
        torch.set_rng_state(states["torch"])
        s.sampler.load_state_dict(states["sampler"])
        s.background.load_state_dict(states["background"])
        if states["cuda"] is not None and s.device.type == "cuda":
            torch.cuda.set_rng_state(states["cuda"], s.device)

    def check_replicas(self, step: int, tolerance: float) -> None:
        """DistributedDivergenceError on every rank if any replica differs from rank 0's by > ``tolerance``."""
        diff, name = self.rt.max_difference(named_replicas(self.session), what="model replicas")
        if not diff <= tolerance:
            raise DistributedDivergenceError(
                f"ranks diverged at iteration {step}: max |difference| between ranks = {diff:.6g} in {name} "
                f"(tolerance {tolerance:g}); replicas must stay identical (distributed.check_every)")
        log.debug("iteration %d: replicas identical on %d ranks (max difference %.3g)", step,
                  self.rt.world_size, diff)


class ReplicaCheck(Callback):
    """Every ``every`` iterations, verify that all ranks hold the same parameters (fail loudly if not)."""

    name = "distributed_check"

    def __init__(self, hooks: DistributedHooks, every: int, tolerance: float):
        self.hooks, self.every, self.tolerance = hooks, every, tolerance

    def after_step(self, state: TrainState, info: StepInfo) -> None:
        if self.every > 0 and info.step % self.every == 0:
            self.hooks.check_replicas(info.step, self.tolerance)


def attach(session: Session, runtime: DistributedRuntime, *, resumed: bool) -> DistributedHooks:
    """Make ``session`` (already built, checkpoint already loaded) one rank of the job; returns its hooks.

    Rank slots of the shared samplers; statistics combined before decisions; NaN-guard verdicts agreed; only
    rank 0 logs and writes; replicas (and RNG/sampler states) broadcast from rank 0; a replica check every
    ``distributed.check_every`` iterations. ``resumed``: the statistics loaded from the checkpoint are the
    job's, so ranks other than 0 zero theirs.
    """
    hooks = DistributedHooks(session, runtime)
    session.distributed = hooks
    rank, world = runtime.rank, runtime.world_size
    session.sampler = RankSlotViewSampler(session.sampler, rank, world)
    session.background = RankSlotBackground(session.background, rank, world)
    if not runtime.is_main:
        session.callbacks = [cb for cb in session.callbacks if not isinstance(cb, Monitor)]
    for cb in session.all_callbacks:
        cb.stats_sync = hooks.combine_stats
        if isinstance(cb, NaNGuard):
            cb.agree = runtime.all_true
        if isinstance(cb, Checkpointer):
            cb.prepare, cb.is_writer = hooks.gather_stats_on_main, runtime.is_main
            if not runtime.is_main:
                cb.save_weights_at = lambda _it: None
    cfg = session.cfg.distributed
    check = ReplicaCheck(hooks, cfg.check_every, cfg.check_tolerance)
    at = next((i for i, cb in enumerate(session.callbacks) if isinstance(cb, Checkpointer)), len(session.callbacks))
    session.callbacks.insert(at, check)          # verify before a checkpoint is written
    if resumed and not runtime.is_main:
        for state, ops in hooks.running_stats():
            hooks.zero_stats(state, ops)
    hooks.broadcast_replicas()
    return hooks
