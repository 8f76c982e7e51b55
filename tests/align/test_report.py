"""Stage-1 warnings: uncertain and missing offsets are named; a clean result gives none."""

from __future__ import annotations

from sync4dgs.sync.align import alignment_warnings
from sync4dgs.timemap import TimeMap, TimeMaps


def test_warnings_name_uncertain_and_unaligned_cameras():
    maps = TimeMaps("cam00", {"cam00": TimeMap(0.0, 1.0, 1.0, "reference"), "cam01": TimeMap(0.2, 1.0, 0.97, "aligned"),
                              "cam02": TimeMap(-1.0, 1.0, 0.2, "low_confidence"),
                              "cam03": TimeMap(0.0, 1.0, 0.0, "unaligned")})
    msgs = alignment_warnings(maps)
    assert len(msgs) == 2
    assert "1 of 4 cameras have an uncertain offset" in msgs[0] and "cam02" in msgs[0] and "cam01" not in msgs[0]
    assert "unaligned: cam03" in msgs[1]


def test_a_clean_alignment_has_no_warnings():
    maps = TimeMaps("cam00", {"cam00": TimeMap(0.0, 1.0, 1.0, "reference"), "cam01": TimeMap(0.2, 1.0, 0.97, "aligned")})
    assert alignment_warnings(maps) == []
