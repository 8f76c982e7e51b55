"""CameraTimeModel: gauge fixing, gradients through at_time, TimeMaps round trips."""

from __future__ import annotations

import math

import pytest
import torch

from sync4dgs.timemap import TimeMap, TimeMaps
from sync4dgs.sync.timemodel import CameraTimeModel

NAMES = ["cam00", "cam01", "cam02", "cam03"]


def _maps(ref="cam00"):
    return TimeMaps(ref, {"cam00": TimeMap(0.0, 1.0, 1.0, "reference"), "cam01": TimeMap(0.4, 1.0, 0.9),
                          "cam02": TimeMap(-0.25, 1.01, 0.5), "cam03": TimeMap(1.5, 0.99, 0.7)})


def test_initial_values_and_global_time():
    tm = CameraTimeModel(NAMES, "cam01", _maps(), learn_rate=True, dtype=torch.float64)
    assert tm.reference_index == 1
    # re-gauged to cam01: o -> o - 0.4
    torch.testing.assert_close(tm.offset_values_s(), torch.tensor([-0.4, 0.0, -0.65, 1.1], dtype=torch.float64))
    t = tm.t_global_s(3, 2.0)
    assert math.isclose(float(t.detach()), 1.1 + 0.99 * 2.0, rel_tol=1e-12)
    idx = torch.tensor([0, 2])
    tau = torch.tensor([1.0, 3.0], dtype=torch.float64)
    torch.testing.assert_close(tm.t_global_s(idx, tau).detach(),
                               torch.tensor([-0.4 + 1.0, -0.65 + 1.01 * 3.0], dtype=torch.float64))


@pytest.mark.parametrize("opt_cls,kwargs", [(torch.optim.Adam, {"lr": 0.1}),
                                            (torch.optim.AdamW, {"lr": 0.1, "weight_decay": 0.5}),
                                            (torch.optim.SGD, {"lr": 0.5, "momentum": 0.9, "weight_decay": 0.3})])
def test_reference_camera_stays_exactly_at_zero_one_under_optimisers(opt_cls, kwargs):
    tm = CameraTimeModel(NAMES, "cam00", _maps(), learn_rate=True)
    opt = opt_cls([tm.offsets_s, tm.rates], **kwargs)
    for step in range(20):
        opt.zero_grad()
        tau = torch.linspace(0, 3, 4)
        loss = ((tm.t_global_s(torch.arange(4), tau) - 5.0) ** 2).sum()
        loss.backward()
        assert float(tm.offsets_s.grad[0]) == 0.0 and float(tm.rates.grad[0]) == 0.0
        opt.step()
    assert float(tm.offset_values_s()[0].detach()) == 0.0
    assert float(tm.rate_values()[0].detach()) == 1.0
    assert float(tm.t_global_s(0, 2.5).detach()) == 2.5
    assert float((tm.offset_values_s()[1:] - torch.tensor([0.4, -0.25, 1.5])).abs().sum().detach()) > 0.1
    maps = tm.to_time_maps()
    assert maps.cameras["cam00"].offset_s == 0.0 and maps.cameras["cam00"].rate == 1.0
    assert maps.cameras["cam00"].status == "reference" and maps.cameras["cam02"].status == "aligned"


def test_rate_is_fixed_unless_learned():
    tm = CameraTimeModel(NAMES, "cam00", _maps())
    assert not tm.rates.requires_grad and tm.offsets_s.requires_grad
    torch.testing.assert_close(tm.rate_values(), torch.tensor([1.0, 1.0, 1.01, 0.99]))


def test_gradient_of_a_render_quantity_wrt_offset_matches_finite_differences(model64):
    tm = CameraTimeModel(NAMES, "cam00", _maps(), dtype=torch.float64)
    cam, tau = 2, 0.8

    def quantity(model_time):
        g = model64.at_time(model_time)
        return (g.means[model64.n_static:] ** 2).sum() + g.opacities.sum()

    q = quantity(tm.t_global_s(cam, tau))
    (grad,) = torch.autograd.grad(q, tm.offsets_s)
    assert grad[0] == 0 and grad[1] == 0 and grad[3] == 0
    h = 1e-6
    base = float(tm.t_global_s(cam, tau).detach())
    with torch.no_grad():
        fd = (quantity(base + h) - quantity(base - h)) / (2 * h)
    assert abs(float(fd)) > 1e-3
    assert abs(float(grad[2]) - float(fd)) < 1e-6 * max(1.0, abs(float(fd)))


def test_time_maps_round_trip_and_missing_cameras():
    tm = CameraTimeModel.from_time_maps(_maps())
    maps = tm.to_time_maps()
    for n in NAMES:
        assert math.isclose(maps.cameras[n].offset_s, _maps().cameras[n].offset_s, abs_tol=1e-6)
        assert math.isclose(maps.cameras[n].rate, _maps().cameras[n].rate, rel_tol=1e-6)
    assert maps.reference_camera == "cam00" and math.isclose(maps.cameras["cam02"].confidence, 0.5)
    tm2 = CameraTimeModel(NAMES + ["cam04"], "cam00", _maps())
    assert float(tm2.offset_values_s()[4].detach()) == 0.0
    tm2.load_time_maps_(TimeMaps("cam00", {"cam04": TimeMap(0.7, 1.0)}))
    assert math.isclose(float(tm2.offset_values_s()[4].detach()), 0.7, rel_tol=1e-6)
    with pytest.raises(ValueError, match="reference camera"):
        CameraTimeModel(NAMES, "camXX")
