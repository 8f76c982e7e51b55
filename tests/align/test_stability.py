"""The stability check of the global solve (sync4dgs/sync/align/stability.py): a camera whose offset moves when
part of the pair evidence is left out is flagged; a well-determined rig is not."""

import numpy as np

from sync4dgs.sync.align.solve import PairMeasurement, solve_global
from sync4dgs.sync.align.stability import offset_flips

FPS = 30.0
TOL_S = 1.5 / FPS
PERIOD = 0.9   # seconds


def _solve(n: int, meas: list[PairMeasurement]):
    return solve_global(n, 0, meas, TOL_S, 0.01, known_rates=np.ones(n), n_trees=32)


def _flips(n: int, meas: list[PairMeasurement]) -> np.ndarray:
    sol = _solve(n, meas)
    return offset_flips(meas, sol, np.full(n, 1 / FPS), lambda m: _solve(n, m), 12, 0.7, 1.5, seed=0)


def test_a_well_determined_rig_is_stable():
    rng = np.random.default_rng(0)
    truth = np.r_[0.0, rng.uniform(-0.5, 0.5, 5)]
    meas = [PairMeasurement(a, b, [(1.0, truth[b] - truth[a] + rng.uniform(-0.1, 0.1) / FPS, 0.7),
                                   (1.0, truth[b] - truth[a] + PERIOD, 0.2)])
            for a in range(6) for b in range(a + 1, 6)]
    assert np.all(_flips(6, meas) == 0.0)


def test_a_camera_group_one_period_off_is_not_stable():
    # near-periodic motion: every pair has a second, almost as good, minimum one period away; the pairs inside
    # {3, 4, 5} agree with each other either way, and the pairs linking the groups split between the readings
    rng = np.random.default_rng(1)
    truth = np.r_[0.0, rng.uniform(-0.5, 0.5, 5)]
    meas = []
    for a in range(6):
        for b in range(a + 1, 6):
            d = truth[b] - truth[a]
            across = (a < 3) != (b < 3)
            shifted = across and rng.uniform() < 0.5
            best, other = (d + PERIOD, d) if shifted else (d, d + PERIOD)
            meas.append(PairMeasurement(a, b, [(1.0, best, 0.5), (1.0, other, 0.45)]))
    flips = _flips(6, meas)
    assert np.all(flips[:3] <= 0.25)
    assert np.all(flips[3:] > 0.25), flips
