"""Wall-clock seconds spent in named phases of a loop (where does an evaluation's time go?).

    clock = PhaseClock()
    for ...:
        with clock("read"):
            ...
        with clock("flip"):
            ...
    clock.seconds()   # {"read": 1.2, "flip": 30.5}

Only host wall time is measured: work queued on a GPU is charged to the phase that waits for it (e.g. the
device-to-host copy of a rendered image).
"""

from __future__ import annotations

import time
from contextlib import contextmanager
from typing import Iterator


class PhaseClock:
    """Accumulates wall seconds per phase name; phases may repeat and need not nest."""

    def __init__(self) -> None:
        self._seconds: dict[str, float] = {}

    @contextmanager
    def __call__(self, phase: str) -> Iterator[None]:
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self.add(phase, time.perf_counter() - t0)

    def add(self, phase: str, seconds: float) -> None:
        """Charge ``seconds`` to ``phase``."""
        self._seconds[phase] = self._seconds.get(phase, 0.0) + float(seconds)

    def seconds(self) -> dict[str, float]:
        """{phase: seconds}, in the order phases first appeared, rounded to milliseconds."""
        return {k: round(v, 3) for k, v in self._seconds.items()}
