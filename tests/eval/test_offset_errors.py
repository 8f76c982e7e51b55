"""Offset errors against ground truth: sign, units (frames at each camera's own fps, ms), gauge, statistics."""

from __future__ import annotations

import numpy as np
import pytest

from sync4dgs.eval.offset_errors import offset_errors
from sync4dgs.timemap import TimeMap, TimeMaps, rereference


def _maps(ref: str, offsets: dict[str, float], rates: dict[str, float] | None = None) -> TimeMaps:
    rates = rates or {}
    return TimeMaps(ref, {n: TimeMap(o, rates.get(n, 1.0), 1.0, "reference" if n == ref else "aligned")
                          for n, o in offsets.items()})


FPS = {"cam00": 30.0, "cam01": 30.0, "cam02": 25.0, "cam03": 60.0}


def test_errors_sign_and_units():
    truth = _maps("cam00", {"cam00": 0.0, "cam01": 0.5, "cam02": -0.2, "cam03": 1.0})
    # cam01 estimated 1 frame (1/30 s) late, cam02 2 frames (at 25 fps) early, cam03 exact
    est = _maps("cam00", {"cam00": 0.0, "cam01": 0.5 + 1 / 30, "cam02": -0.2 - 2 / 25, "cam03": 1.0})
    r = offset_errors(est, truth, FPS)
    pc = r["per_camera"]
    assert pc["cam01"]["error_frames"] == pytest.approx(1.0)
    assert pc["cam01"]["error_ms"] == pytest.approx(1000 / 30)
    assert pc["cam02"]["error_frames"] == pytest.approx(-2.0)
    assert pc["cam02"]["error_ms"] == pytest.approx(-80.0)
    assert pc["cam03"]["error_frames"] == pytest.approx(0.0, abs=1e-12)
    assert pc["cam00"]["is_reference"]
    s = r["summary"]
    assert s["n_cameras"] == 3                      # reference excluded
    assert s["mae_frames"] == pytest.approx(1.0)    # (1 + 2 + 0) / 3
    assert s["median_frames"] == pytest.approx(1.0)
    assert s["max_frames"] == pytest.approx(2.0)
    assert s["mae_ms"] == pytest.approx((1000 / 30 + 80 + 0) / 3)
    assert s["max_ms"] == pytest.approx(80.0)
    assert s["pct_within_0.5_frame"] == pytest.approx(100 / 3)
    assert s["pct_within_1_frame"] == pytest.approx(200 / 3)
    assert r["regauged_from"] is None and r["missing"] == []


def test_rate_error_and_clip_time_error():
    truth = _maps("cam00", {"cam00": 0.0, "cam01": 0.1})
    est = _maps("cam00", {"cam00": 0.0, "cam01": 0.1}, {"cam01": 1.01})
    tau = {"cam01": np.arange(31) / 30.0}           # 0 .. 1 s
    r = offset_errors(est, truth, FPS, tau)
    c = r["per_camera"]["cam01"]
    assert c["error_s"] == pytest.approx(0.0)
    assert c["rate_error"] == pytest.approx(0.01)
    # |0.01 * tau| averaged over tau = 0..1 s -> 5 ms
    assert c["mean_abs_time_error_ms"] == pytest.approx(5.0)
    assert r["summary"]["rate_max"] == pytest.approx(0.01)


def test_regauge_to_other_reference():
    m = _maps("cam00", {"cam00": 0.0, "cam01": 0.5, "cam02": -0.25}, {"cam01": 2.0})
    g = rereference(m, "cam01")
    assert g.reference_camera == "cam01"
    assert g.cameras["cam01"].offset_s == 0.0 and g.cameras["cam01"].rate == 1.0
    assert g.cameras["cam01"].status == "reference" and g.cameras["cam00"].status == "aligned"
    assert g.cameras["cam00"].offset_s == pytest.approx(-0.25) and g.cameras["cam00"].rate == pytest.approx(0.5)
    # the same physical instant maps consistently: cam02 local 0 s is global -0.25 s (cam00 clock)
    # = cam01 local (-0.25 - 0.5)/2 s
    assert g.cameras["cam02"].offset_s == pytest.approx((-0.25 - 0.5) / 2)
    with pytest.raises(KeyError, match="no time map"):
        rereference(m, "cam09")


def test_estimate_in_other_gauge_is_regauged():
    truth = _maps("cam00", {"cam00": 0.0, "cam01": 0.5, "cam02": 0.2})
    # perfect estimate expressed relative to cam01
    est = _maps("cam01", {"cam00": -0.5, "cam01": 0.0, "cam02": -0.3})
    r = offset_errors(est, truth, FPS)
    assert r["regauged_from"] == "cam01"
    assert r["summary"]["max_frames"] == pytest.approx(0.0, abs=1e-12)


def test_missing_cameras_listed():
    truth = _maps("cam00", {"cam00": 0.0, "cam01": 0.5, "cam02": 0.2})
    est = _maps("cam00", {"cam00": 0.0, "cam01": 0.5})
    r = offset_errors(est, truth, FPS)
    assert r["missing"] == ["cam02"]
    assert r["summary"]["n_cameras"] == 1
    est_noref = _maps("cam01", {"cam01": 0.0, "cam02": 0.1})
    r2 = offset_errors(est_noref, truth, FPS)
    assert r2["summary"] == {"n_cameras": 0} and "cannot compare" in r2["note"]


def test_unaligned_cameras_are_counted_not_scored():
    truth = _maps("cam00", {"cam00": 0.0, "cam01": 0.5, "cam02": 0.2})
    est = _maps("cam00", {"cam00": 0.0, "cam01": 0.5, "cam02": 0.0})
    est.cameras["cam02"].status = "unaligned"
    r = offset_errors(est, truth, FPS)
    assert r["unaligned"] == ["cam02"] and "cam02" not in r["per_camera"]
    assert r["summary"]["n_cameras"] == 1 and r["summary"]["n_unaligned"] == 1
    assert r["summary"]["max_frames"] == pytest.approx(0.0)
