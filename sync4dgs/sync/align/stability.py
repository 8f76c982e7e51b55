"""Is a camera's offset stable when part of the pair evidence is left out? An honesty check of the global solve.

The global solve (solve.py) picks the offsets that most pair candidates agree with. When the evidence has two
self-consistent readings - near-periodic motion, where each pair's lag curve has a second minimum one period
away, so a group of cameras can agree among themselves one period off - the solution may take the wrong one
and still look well supported. Re-solving with random subsets of the pairs shows it: a camera whose offset
moves by more than ``tol_frames`` of its own frames in a sizeable fraction of the re-solves rests on evidence
that does not single out one offset, and is reported at most ``low_confidence``. A well-determined scene gives
the same offsets from every subset (a subset that leaves a camera unconnected says nothing about it).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from sync4dgs.sync.align.solve import GlobalSolution, PairMeasurement


def offset_flips(meas: list[PairMeasurement], sol: GlobalSolution, frame_s: np.ndarray,
                 solve: Callable[[list[PairMeasurement]], GlobalSolution], resamples: int, keep_fraction: float,
                 tol_frames: float, seed: int) -> np.ndarray:
    """[C] fraction of ``resamples`` re-solves in which each camera, aligned in ``sol`` and in the re-solve,
    moved by more than ``tol_frames`` of its frames (``frame_s`` [C], seconds per frame) from ``sol``'s offset
    (seconds on the reference's clock). Each re-solve keeps a random ``keep_fraction`` of the scored pairs (the
    dropped ones lose their candidates); a re-solve that leaves a camera unaligned does not count as a move.
    Deterministic for a given ``seed``."""
    n = len(sol.offsets_s)
    flips = np.zeros(n)
    scored = [k for k, m in enumerate(meas) if m.candidates]
    if resamples <= 0 or len(scored) < 3:
        return flips
    rng = np.random.default_rng(seed)
    n_keep = max(2, int(round(keep_fraction * len(scored))))
    for _ in range(resamples):
        kept = set(rng.choice(scored, size=n_keep, replace=False).tolist())
        sub = [m if k in kept else PairMeasurement(m.a, m.b, []) for k, m in enumerate(meas)]
        alt = solve(sub)
        both = sol.aligned & alt.aligned
        moved = np.abs(alt.offsets_s - sol.offsets_s) > tol_frames * frame_s
        flips += both & moved
    return flips / resamples
