"""Time-map learning controls: warm-up, late freeze, held-out cameras, gauge when the reference is held out."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from sync4dgs.timemap import TimeMap, TimeMaps
from sync4dgs.sync.timemodel import CameraTimeModel
from sync4dgs.train.callbacks import StepInfo
from sync4dgs.train.config import TimeConfig
from sync4dgs.train.timectl import TimeController

NAMES = ["cam00", "cam01", "cam02", "cam03"]
INIT_OFFSETS = np.array([0.0, 0.5, -0.2, 0.1])
INIT = TimeMaps("cam00", {"cam00": TimeMap(0, 1, 1, "reference"), "cam01": TimeMap(0.5), "cam02": TimeMap(-0.2),
                          "cam03": TimeMap(0.1)})


def _step(ctl, step, grad):
    ctl.time_model.offsets_s.grad = torch.tensor(grad, dtype=torch.float32)
    info = StepInfo(step, 0, 0, torch.zeros(()), 0, None, None, {})
    ctl.post_backward(None, info)


def _ctl(trained, total=0, **cfg):
    tm = CameraTimeModel(NAMES, "cam00", INIT)
    return TimeController(tm, TimeConfig(**{"offset_lr": 0.01, "warmup_iterations": 5, "evidence_z": 0.0, **cfg}),
                          np.tile([0.0, 1.0], (4, 1)), trained=trained, total_iterations=total)


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


def _walk(ctl, grads):
    """Feed one camera per step (as training does: one rendered view per iteration); returns offsets [steps, 4]."""
    out = []
    for step, (cam, g) in enumerate(grads, start=1):
        vec = [0.0] * 4
        vec[cam] = g
        _step(ctl, step, vec)
        out.append(ctl.offsets_rates()[0].copy())
    return np.array(out)


def _visits(rng, n, mean):
    """n (camera, gradient) samples: cameras 1..3 in turn, gradient = mean[cam] + unit Gaussian noise."""
    return [(1 + i % 3, float(mean[1 + i % 3] + rng.normal())) for i in range(n)]


def test_evidence_gate_stops_the_noise_walk_but_follows_a_consistent_pull():
    rng = np.random.default_rng(0)
    noise = _visits(rng, 600, [0, 0, 0, 0])                    # offsets already right: zero-mean gradients
    free = _walk(_ctl([0, 1, 2, 3], warmup_iterations=0, evidence_z=0.0), noise)
    gated = _walk(_ctl([0, 1, 2, 3], warmup_iterations=0, evidence_z=3.0), noise)
    drift_free = np.abs(free[-1, 1:] - INIT_OFFSETS[1:]).mean()
    drift_gated = np.abs(gated[-1, 1:] - INIT_OFFSETS[1:]).mean()
    assert drift_gated < 0.35 * drift_free, (drift_gated, drift_free)
    # a wrong offset (positive mean gradient, 1 noise sigma) still moves down nearly as fast as without the gate
    pull = _visits(np.random.default_rng(1), 300, [0, 1.0, 0, 0])
    free = _walk(_ctl([0, 1, 2, 3], warmup_iterations=0, evidence_z=0.0), pull)
    gated = _walk(_ctl([0, 1, 2, 3], warmup_iterations=0, evidence_z=3.0), pull)
    assert gated[-1, 1] < INIT_OFFSETS[1] - 0.5 * (INIT_OFFSETS[1] - free[-1, 1])
    assert (INIT_OFFSETS[1] - free[-1, 1]) > 0.3


def test_evidence_statistics_resume_exactly():
    rng = np.random.default_rng(2)
    visits = _visits(rng, 40, [0, 0.5, -0.5, 0])
    a = _ctl([0, 1, 2, 3], warmup_iterations=0, evidence_z=3.0)
    _walk(a, visits[:20])
    b = _ctl([0, 1, 2, 3], warmup_iterations=0, evidence_z=3.0)
    b.load_state_dict(a.state_dict())
    ra, rb = _walk(a, visits[20:]), _walk(b, visits[20:])
    np.testing.assert_array_equal(ra, rb)


def test_offset_learning_rate_decays_log_linearly_after_warmup():
    ctl = _ctl([0, 1, 2, 3], total=105, warmup_iterations=5, offset_lr=1e-2, offset_lr_final=1e-4)
    assert ctl.lr_factor(5) == pytest.approx(1.0)
    assert ctl.lr_factor(55) == pytest.approx(0.1)
    assert ctl.lr_factor(105) == pytest.approx(0.01)
    ctl.scale_lr(0.5)                                          # the NaN guard's cut multiplies the schedule
    assert ctl.lr_factor(105) == pytest.approx(0.005)
    const = _ctl([0, 1, 2, 3], total=105, offset_lr_final=0.0)
    assert const.lr_factor(80) == 1.0


def test_uncertain_cameras_bypass_the_evidence_gate():
    """A camera whose initial map is uncertain (no stage-1 estimate) moves on its first gradients; a confident
    one waits for agreeing evidence."""
    tm = CameraTimeModel(NAMES, "cam00", INIT)
    ctl = TimeController(tm, TimeConfig(offset_lr=0.01, warmup_iterations=0, evidence_z=3.0),
                         np.tile([0.0, 1.0], (4, 1)), ungated=[2])
    _step(ctl, 1, [0.0, 1.0, 1.0, 0.0])
    off = ctl.offsets_rates()[0]
    assert off[1] == pytest.approx(INIT_OFFSETS[1]) and off[2] < INIT_OFFSETS[2]
