"""Demo tables and the offsets plot."""

from __future__ import annotations

import cv2
import pytest

from sync4dgs.eval.demo_report import (OFFSET_COLUMNS, QUALITY_COLUMNS, format_offset_table, format_quality_table,
                                       offset_rows, plot_offsets)
from sync4dgs.timemap import TimeMap, TimeMaps


def _maps(ref, offs):
    return TimeMaps(ref, {n: TimeMap(o, 1.0) for n, o in offs.items()})


def test_offset_rows_regauge_and_units():
    truth = _maps("cam00", {"cam00": 0.0, "cam01": 0.2, "cam02": -0.1})
    stage1 = _maps("cam00", {"cam00": 0.0, "cam01": 0.2 + 1 / 30})             # cam02 not estimated
    stage2 = _maps("cam01", {"cam00": -0.2, "cam01": 0.0, "cam02": -0.3})       # other gauge, exact
    rows = offset_rows(["cam00", "cam01", "cam02"], {"cam00": 30, "cam01": 30, "cam02": 25}, truth, stage1, stage2)
    assert rows[1].stage1_s == pytest.approx(0.2 + 1 / 30)
    assert rows[2].stage1_s is None
    assert rows[2].stage2_s == pytest.approx(-0.1)
    text = format_offset_table(rows)
    lines = text.splitlines()
    assert lines[0].split() == list(OFFSET_COLUMNS)
    assert lines[3].split() == ["cam01", "30", "+6.00", "+200.0", "+7.00", "+233.3", "+6.00", "+200.0"]
    assert lines[4].split() == ["cam02", "25", "-2.50", "-100.0", "-", "-", "-2.50", "-100.0"]


def test_quality_table_and_plot(tmp_path):
    q = format_quality_table([{"run": "naive", "time_maps": "fixed (0, 1)", "psnr": 20.123, "ssim": 0.81234,
                               "flip": 0.2, "n_images": 24}])
    header, _, row = q.splitlines()
    assert header.split() == "run time maps PSNR[dB] SSIM FLIP images".split()
    assert len(QUALITY_COLUMNS) == 6
    assert row.split() == ["naive", "fixed", "(0,", "1)", "20.12", "0.8123", "0.2000", "24"]
    truth = _maps("cam00", {"cam00": 0.0, "cam01": 0.2})
    rows = offset_rows(["cam00", "cam01"], {"cam00": 30, "cam01": 30}, truth, None, truth)
    p = plot_offsets(rows, tmp_path / "sub" / "offsets.png", size=(640, 480))
    img = cv2.imread(str(p))
    assert img.shape == (480, 640, 3) and (img < 128).any()
