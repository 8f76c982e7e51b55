"""The training loop. It only orchestrates: sample a view -> time -> Gaussians at t -> render -> loss ->
backward -> callbacks -> optimiser steps. Every feature (time maps, densification, conversion, logging,
checkpoints, NaN guard) is a callback (sync4dgs.train.callbacks) or a loss term (sync4dgs.train.objective).
"""

from __future__ import annotations

import time

from sync4dgs.render import render
from sync4dgs.train.callbacks import StepInfo
from sync4dgs.train.optim import step_all
from sync4dgs.train.session import Session


class Trainer:
    """Runs iterations ``session.state.step + 1 .. iterations`` of one session."""

    def __init__(self, session: Session):
        self.session = session
        self.train_seconds = 0.0
        self.last_info: StepInfo | None = None

    def active_sh_degree(self, step: int) -> int:
        cfg = self.session.cfg
        return min(step // max(cfg.train.sh_degree_interval, 1), cfg.model.sh_degree)

    def step(self, step: int) -> StepInfo:
        """One iteration (1-based ``step``)."""
        s = self.session
        state, cfg, model = s.state, s.cfg, s.model
        callbacks = s.all_callbacks
        for cb in callbacks:
            cb.on_step_start(state, step)
        s.schedule.apply(state.optimizers, step)

        cam_pos, frame = s.sampler.next()
        gt = s.frames.get(cam_pos, frame)
        upcoming = s.sampler.peek()
        if upcoming is not None:                 # streamed frames: decode the next one while this step runs
            s.frames.prefetch(*upcoming)
        t_global = s.time.t_global_s(s.time_index[cam_pos], s.tau_s[cam_pos][frame])
        sh_degree = self.active_sh_degree(step)
        n_static = model.n_static
        rows = model.visible_dynamic_rows(t_global) if cfg.train.cull_invisible and model.n_dynamic else None
        gaussians = model.at_time(t_global, sh_degree=sh_degree, dynamic_rows=rows)
        out = render(gaussians, s.render_camera(cam_pos, step), backend=cfg.render.backend, sh_degree=sh_degree,
                     background=s.background.next(), near=cfg.render.near or s.scene.near,
                     far=cfg.render.far or s.scene.far, antialiased=cfg.render.antialiased,
                     render_depth=False)
        losses = s.objective(s.camera_image(out.image[0], cam_pos, step), gt, model, step)
        info = StepInfo(step=step, cam_pos=cam_pos, frame_idx=frame, t_global_s=t_global.detach(),
                        n_static=n_static, out=out, gt=gt, losses=losses, dynamic_rows=rows)

        for cb in callbacks:
            cb.pre_backward(state, info)
        losses["total"].backward()
        if s.distributed is not None:          # multi-process: average gradients over ranks (one bucket)
            s.distributed.average_gradients()
        for cb in callbacks:
            cb.post_backward(state, info)
        step_all(state.optimizers_flat())   # one foreach update for all Gaussian optimisers (same maths)
        state.step = step
        for cb in callbacks:
            cb.after_step(state, info)
        state.step = step
        return info

    def run(self) -> None:
        """Train until ``train.iterations``; callbacks get on_train_start / on_train_end around the loop."""
        s = self.session
        for cb in s.all_callbacks:
            cb.on_train_start(s.state)
        t0 = time.perf_counter()
        try:
            for step in range(s.state.step + 1, s.cfg.train.iterations + 1):
                self.last_info = self.step(step)
        finally:
            self.train_seconds += time.perf_counter() - t0
            s.frames.close()
            for cb in s.all_callbacks:
                cb.on_train_end(s.state)
