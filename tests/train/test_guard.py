"""NaN guard: a non-finite parameter is caught, the last good state restored and learning rates lowered."""

from __future__ import annotations

import pytest
import torch

from sync4dgs.train.callbacks import Callback
from sync4dgs.train.guard import NaNGuard, TrainingDivergedError
from sync4dgs.train.setup import build_session
from sync4dgs.train.trainer import Trainer


class _Poison(Callback):
    name = "poison"

    def __init__(self, steps):
        self.steps = set(steps)

    def after_step(self, state, info):
        if info.step in self.steps or "all" in self.steps:
            with torch.no_grad():
                state.model.static["means"][0, 0] = float("nan")


class _Record(Callback):
    name = "record"

    def __init__(self):
        self.means = {}

    def after_step(self, state, info):
        self.means[info.step] = state.model.static["means"].detach().clone()


def _session(scene, make_cfg, tmp_path, poison_steps, iterations):
    cfg = make_cfg({"train.iterations": str(iterations), "guard.check_every": "5", "guard.max_restores": "2",
                    "time.align": "false", "time.warmup_iterations": "0"})
    s = build_session(scene, tmp_path / "m", cfg, progress=False)
    guard_at = next(i for i, cb in enumerate(s.callbacks) if isinstance(cb, NaNGuard))
    s.callbacks.insert(guard_at, _Poison(poison_steps))
    rec = _Record()
    s.callbacks.append(rec)
    return s, rec


def test_guard_restores_last_good_state_and_lowers_lrs(gaussian_scene, make_cfg, tmp_path):
    s, rec = _session(gaussian_scene, make_cfg, tmp_path, [7], 14)
    lr_time = s.time.optimizer.param_groups[0]["lr"]
    Trainer(s).run()
    guard = next(cb for cb in s.callbacks if isinstance(cb, NaNGuard))
    assert guard.n_restores == 1
    assert s.schedule.scale == pytest.approx(0.5)
    assert s.time.optimizer.param_groups[0]["lr"] == pytest.approx(0.5 * lr_time)
    assert torch.isfinite(rec.means[6]).all() and not torch.isfinite(rec.means[7]).all()
    torch.testing.assert_close(rec.means[10], rec.means[5])          # restored to the step-5 snapshot
    assert all(torch.isfinite(p).all() for p in s.model.parameters())
    assert torch.isfinite(rec.means[14]).all()


def test_guard_gives_up_after_max_restores(gaussian_scene, make_cfg, tmp_path):
    s, _ = _session(gaussian_scene, make_cfg, tmp_path, ["all"], 30)
    with pytest.raises(TrainingDivergedError, match="non-finite"):
        Trainer(s).run()
