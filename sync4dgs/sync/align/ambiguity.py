"""Does the pair evidence have another reading as good as the chosen one? An honesty check of the global solve.

The global solve (solve.py) picks the offsets that most pair candidates agree with. Under near-periodic motion
each pair's lag curve has a second minimum about one period away, so a group of cameras can agree among
itself one period off, and the pairs that link the group to the other cameras back either reading about
equally (each through a different candidate). The solve then takes one of them, and every camera looks well
supported. ``other_readings`` shifts each camera - and every camera that moves along with it - by each offset
that one of its pairs' candidates implies, and compares the evidence of the pairs crossing between the
shifted group and the rest; a camera for which another reading holds up nearly as well is reported at most
``low_confidence`` (pipeline.py, ``AlignConfig.max_other_reading``).
"""

from __future__ import annotations

import logging

import numpy as np

from sync4dgs.sync.align.solve import GlobalSolution, PairMeasurement, agreeing_candidate

log = logging.getLogger(__name__)


def _agreeing_weight(p: PairMeasurement, o: np.ndarray, r: np.ndarray, tol_s: float, tol_rate: float) -> float:
    return agreeing_candidate(p, o, r, tol_s, tol_rate)[1]


def other_readings(meas: list[PairMeasurement], sol: GlobalSolution, ref: int, tol_s: float,
                   tol_rate: float) -> np.ndarray:
    """[C] for each aligned camera, how well the best *other reading* of the evidence holds up: the largest ratio
    W_alt / W_sol over alternatives, W the weight of the agreeing candidates of the pairs that cross between a
    group S of cameras and the rest, under the solution and with S shifted by one offset Δ (S's own pairs agree
    either way). Alternatives: every offset Δ that a candidate of one of camera k's pairs implies for k; S grows
    from {k} by every camera whose own pairs agree better when it moves along (so a group one motion period off
    is shifted as a whole); rates are kept, so only candidates of the solution's rate ratio propose shifts.
    1 means the pairs linking S to the rest back the other reading as much as the chosen one; a camera moved
    alone, or a group whose crossing pairs have no candidate at Δ, gives ~0. Offsets in seconds; tol_s and
    tol_rate: the solve's agreement tolerances."""
    o, r, aligned = sol.offsets_s, sol.rates, sol.aligned
    n = len(o)
    out = np.zeros(n)
    inc: dict[int, list[int]] = {}
    for k, p in enumerate(meas):
        if p.candidates and aligned[p.a] and aligned[p.b]:
            inc.setdefault(p.a, []).append(k)
            inc.setdefault(p.b, []).append(k)

    def own(x: int, oo: np.ndarray) -> float:
        return sum(_agreeing_weight(meas[k], oo, r, tol_s, tol_rate) for k in inc.get(x, []))

    for x in range(n):
        if x == ref or not aligned[x]:
            continue
        shifts: list[float] = []
        for k in inc.get(x, []):
            p = meas[k]
            for rho, d, _ in p.candidates:
                if abs(np.log(r[p.b] / r[p.a]) - np.log(rho)) > tol_rate:   # offsets move, rates stay
                    continue
                implied = o[p.a] + r[p.a] * d if x == p.b else o[p.b] - r[p.a] * d
                delta = implied - o[x]
                if abs(delta) > tol_s and all(abs(delta - s) > tol_s for s in shifts):
                    shifts.append(delta)
        for delta in shifts:
            group, moved = {x}, o.copy()
            moved[x] += delta
            grown = True
            while grown:
                grown = False
                for m in range(n):
                    if m in group or m == ref or not aligned[m]:
                        continue
                    trial = moved.copy()
                    trial[m] += delta
                    if own(m, trial) > own(m, moved):
                        group.add(m)
                        moved = trial
                        grown = True
            cut = [meas[k] for k in {k for g in group for k in inc.get(g, [])}
                   if (meas[k].a in group) != (meas[k].b in group)]
            w_sol = sum(_agreeing_weight(p, o, r, tol_s, tol_rate) for p in cut)
            w_alt = sum(_agreeing_weight(p, moved, r, tol_s, tol_rate) for p in cut)
            if w_sol > 0:
                ratio = w_alt / w_sol
                log.debug("camera %d shifted by %.3f s with %s: crossing pairs' weight %.2f -> %.2f", x, delta,
                          sorted(group), w_sol, w_alt)
                for g in group:
                    out[g] = max(out[g], ratio)
    return out
