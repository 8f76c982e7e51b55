"""PhaseClock: wall seconds accumulate per phase name, in first-seen order, also when the phase raises."""

from __future__ import annotations

import pytest

from sync4dgs.utils.phases import PhaseClock


def test_phases_accumulate_in_order():
    clock = PhaseClock()
    clock.add("b", 0.25)
    with clock("a"):
        pass
    clock.add("b", 0.5)
    s = clock.seconds()
    assert list(s) == ["b", "a"]
    assert s["b"] == pytest.approx(0.75) and 0.0 <= s["a"] < 1.0


def test_phase_is_charged_when_it_raises():
    clock = PhaseClock()
    with pytest.raises(KeyError):
        with clock("lookup"):
            raise KeyError("x")
    assert "lookup" in clock.seconds()
