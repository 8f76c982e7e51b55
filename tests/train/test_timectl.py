"""Time-map learning controls: warm-up, late freeze, held-out cameras, gauge when the reference is held out."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from sync4dgs.sync.timemap import TimeMap, TimeMaps
from sync4dgs.sync.timemodel import CameraTimeModel
from sync4dgs.train.callbacks import StepInfo
from sync4dgs.train.config import TimeConfig
from sync4dgs.train.timectl import TimeController

NAMES = ["cam00", "cam01", "cam02", "cam03"]
INIT = TimeMaps("cam00", {"cam00": TimeMap(0, 1, 1, "reference"), "cam01": TimeMap(0.5), "cam02": TimeMap(-0.2),
                          "cam03": TimeMap(0.1)})


def _step(ctl, step, grad):
    ctl.time_model.offsets_s.grad = torch.tensor(grad, dtype=torch.float32)
    info = StepInfo(step, 0, 0, torch.zeros(()), 0, None, None, {})
    ctl.post_backward(None, info)


def _ctl(trained, **cfg):
    tm = CameraTimeModel(NAMES, "cam00", INIT)
    return TimeController(tm, TimeConfig(**{"offset_lr": 0.01, "warmup_iterations": 5, **cfg}),
                          np.tile([0.0, 1.0], (4, 1)), trained=trained)


def test_warmup_and_freeze_gate_learning():
    ctl = _ctl([0, 1, 2, 3], freeze_after=8)
    assert [ctl.learning(s) for s in (1, 5, 6, 8, 9)] == [False, False, True, True, False]
    before = ctl.offsets_rates()[0].copy()
    _step(ctl, 3, [0.0, 1.0, 1.0, 1.0])                      # during warm-up: gradient discarded
    assert np.array_equal(ctl.offsets_rates()[0], before)
    assert ctl.time_model.offsets_s.grad is None
    _step(ctl, 6, [0.0, 1.0, -1.0, 0.0])
    after = ctl.offsets_rates()[0]
    assert after[0] == 0.0 and after[1] < before[1] and after[2] > before[2] and after[3] == before[3]


def test_fixed_maps_never_change():
    tm = CameraTimeModel(NAMES, "cam00", INIT)
    ctl = TimeController(tm, TimeConfig(warmup_iterations=0), np.tile([0.0, 1.0], (4, 1)), fixed=True)
    assert not any(p.requires_grad for p in tm.parameters()) and not ctl.learning(100)


def test_common_shift_is_removed_when_the_reference_is_held_out():
    ctl = _ctl([1, 2, 3], warmup_iterations=0)               # cam00 (reference) is a test camera
    before = ctl.offsets_rates()[0].copy()
    _step(ctl, 1, [0.0, 1.0, 1.0, 1.0])                      # pure common shift: invisible, must not move
    np.testing.assert_allclose(ctl.offsets_rates()[0], before, atol=1e-6)
    _step(ctl, 2, [0.0, 1.0, -1.0, 0.0])                     # relative motion is kept, mean held
    after = ctl.offsets_rates()[0]
    assert after[1] < before[1] and after[2] > before[2]
    assert after[1:].mean() == pytest.approx(before[1:].mean(), abs=1e-6) and after[0] == 0.0


def test_held_out_camera_keeps_its_map():
    ctl = _ctl([0, 1, 3], warmup_iterations=0)               # cam02 held out, reference trained
    _step(ctl, 1, [0.0, 1.0, 1.0, 1.0])
    off = ctl.offsets_rates()[0]
    assert off[2] == pytest.approx(-0.2) and off[1] < 0.5 and off[3] < 0.1
