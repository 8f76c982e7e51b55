"""Fixtures for the multi-process tests: the trainer's tiny Gaussian scene (tests/train/conftest.py, loaded
by path), and a single-process reference that trains with a batch of ``world_size`` views per iteration."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import torch

from sync4dgs.render import render
from sync4dgs.train.callbacks import StepInfo
from sync4dgs.train.session import Session
from sync4dgs.train.strategy.static import StaticDensifier, block_info
from sync4dgs.train.trainer import Trainer

_spec = importlib.util.spec_from_file_location("_train_fixtures", Path(__file__).parents[1] / "train" / "conftest.py")
_train_fixtures = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_train_fixtures)

FAST = _train_fixtures.FAST
gaussian_scene = _train_fixtures.gaussian_scene      # session-scoped tiny scene on disk (re-exported fixture)
make_cfg = _train_fixtures.make_cfg
_one_thread = _train_fixtures._one_thread


def reference_step(s: Session, trainer: Trainer, step: int, batch: int) -> None:
    """One iteration of a SINGLE process that renders ``batch`` views (drawn in a row from the session's seeded
    samplers) and averages their gradients: what ``batch`` ranks do together. Densification statistics are
    accumulated from every view; decisions are taken once, after the optimiser step (as the callbacks do)."""
    state, model, cfg = s.state, s.model, s.cfg
    for cb in s.all_callbacks:
        cb.on_step_start(state, step)
    s.schedule.apply(state.optimizers, step)
    infos = []
    for _ in range(batch):
        cam, frame = s.sampler.next()
        background = s.background.next()
        gt = s.frames.get(cam, frame)
        t = s.time.t_global_s(s.time_index[cam], s.tau_s[cam][frame])
        sh = trainer.active_sh_degree(step)
        n_static = model.n_static
        rows = model.visible_dynamic_rows(t) if cfg.train.cull_invisible and model.n_dynamic else None
        out = render(model.at_time(t, sh_degree=sh, dynamic_rows=rows), s.cameras[cam], backend=cfg.render.backend,
                     sh_degree=sh,
                     background=background, near=cfg.render.near or s.scene.near,
                     far=cfg.render.far or s.scene.far, antialiased=cfg.render.antialiased, render_depth=False)
        losses = s.objective(out.image[0], gt, model, step)
        info = StepInfo(step, cam, frame, t.detach(), n_static, out, gt, losses, dynamic_rows=rows)
        for cb in s.all_callbacks:
            cb.pre_backward(state, info)
        losses["total"].backward()            # gradients of the views accumulate
        infos.append(info)
    for p in [*model.parameters(), *s.time.time_model.parameters()]:
        if p.grad is not None:
            p.grad /= batch
    s.time.post_backward(state, infos[-1])    # steps the time maps with the averaged gradient
    for info in infos:                        # per-view statistics (dynamic densifier, conversion)
        for cb in s.callbacks:
            cb.post_backward(state, info)
    for opt in state.optimizers_flat():
        opt.step()
        opt.zero_grad(set_to_none=True)
    state.step = step
    static = next(cb for cb in s.callbacks if isinstance(cb, StaticDensifier))
    for info in infos[:-1]:                   # the static strategy reads the last view in its after_step
        if static.cfg.enabled and step < static.cfg.refine_stop_iter and info.n_static:
            binfo = block_info(info, 0, info.n_static)
            if binfo is not None:
                static.strategy._update_state(model.static, static.state, binfo)
    for cb in s.all_callbacks:
        cb.after_step(state, infos[-1])


def run_reference(s: Session, iterations: int, batch: int) -> Session:
    """Train ``s`` for ``iterations`` with :func:`reference_step` (callbacks' start hooks included)."""
    trainer = Trainer(s)
    for cb in s.all_callbacks:
        cb.on_train_start(s.state)
    with torch.enable_grad():
        for step in range(s.state.step + 1, iterations + 1):
            reference_step(s, trainer, step, batch)
    return s


@pytest.fixture(scope="session")
def fast_overrides() -> dict[str, str]:
    """The trainer tests' fast settings for the tiny scene (CPU, torch backend, Adam, no TensorBoard)."""
    return dict(FAST)


@pytest.fixture(scope="session")
def batch_reference():
    """run_reference(session, iterations, batch) -> session."""
    return run_reference
