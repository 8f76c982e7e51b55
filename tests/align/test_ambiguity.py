"""Other readings of the pair evidence (sync4dgs/sync/align/ambiguity.py): a camera group one motion period off,
which the pairs linking it to the rest back as well as the true offsets, is found; a well-determined rig, and a
single wrong candidate, are not."""

import numpy as np

from sync4dgs.sync.align.ambiguity import other_readings
from sync4dgs.sync.align.solve import PairMeasurement, solve_global

FPS = 30.0
TOL_S = 1.5 / FPS
PERIOD = 0.9   # seconds


def _readings(n: int, meas: list[PairMeasurement]) -> tuple[np.ndarray, np.ndarray]:
    sol = solve_global(n, 0, meas, TOL_S, 0.01, known_rates=np.ones(n), n_trees=32)
    return sol.offsets_s, other_readings(meas, sol, 0, TOL_S, 0.01)


def _truth(seed: int) -> np.ndarray:
    return np.r_[0.0, np.random.default_rng(seed).uniform(-0.5, 0.5, 5)]


def test_a_well_determined_rig_has_no_other_reading():
    truth = _truth(0)
    rng = np.random.default_rng(10)
    meas = []
    for a in range(6):
        for b in range(a + 1, 6):
            d = truth[b] - truth[a]
            cands = [(1.0, d + rng.uniform(-0.1, 0.1) / FPS, 0.7)]
            if rng.uniform() < 0.3:                                  # an occasional unrelated second minimum
                cands.append((1.0, d + rng.uniform(0.3, 1.0), 0.3))
            meas.append(PairMeasurement(a, b, cands))
    offsets, readings = _readings(6, meas)
    np.testing.assert_allclose(offsets, truth, atol=0.2 / FPS)
    assert np.all(readings < 0.6), readings


def test_a_group_one_period_off_is_found():
    # near-periodic motion: every pair has a second minimum one period away, nearly as deep; the pairs linking
    # {3, 4, 5} to {0, 1, 2} prefer the reading with that group one period off
    truth = _truth(1)
    meas = []
    for a in range(6):
        for b in range(a + 1, 6):
            d = truth[b] - truth[a]
            shifted = (a < 3) != (b < 3)
            best, second = (d + PERIOD, d) if shifted else (d, d + PERIOD)
            meas.append(PairMeasurement(a, b, [(1.0, best, 0.5), (1.0, second, 0.4)]))
    offsets, readings = _readings(6, meas)
    np.testing.assert_allclose(offsets[3:] - truth[3:], PERIOD, atol=1e-6)    # the solve takes the wrong reading
    assert np.all(readings[3:] >= 0.6), readings                             # ... and the check says so
    assert readings[0] == 0.0


def test_one_pair_with_a_strong_wrong_candidate_is_not_another_reading():
    truth = _truth(2)
    meas = [PairMeasurement(a, b, [(1.0, truth[b] - truth[a], 0.7)]) for a in range(6) for b in range(a + 1, 6)]
    meas[4] = PairMeasurement(meas[4].a, meas[4].b, [(1.0, truth[meas[4].b] - truth[meas[4].a], 0.6),
                                                     (1.0, truth[meas[4].b] - truth[meas[4].a] + 0.5, 0.59)])
    _, readings = _readings(6, meas)
    assert np.all(readings < 0.3), readings


def test_the_check_is_configurable_and_bad_values_name_the_key(tmp_path):
    import pytest

    from sync4dgs.data.scene import load_scene
    from sync4dgs.data.synth.toyscene import ToySceneConfig, make_toy_scene
    from sync4dgs.errors import ConfigError
    from sync4dgs.sync.align import AlignConfig, align_scene

    with pytest.raises(ConfigError, match="align.max_other_reading"):
        AlignConfig(max_other_reading=-0.1).validate()
    make_toy_scene(tmp_path, ToySceneConfig(n_cameras=4, width=160, height=120, n_frames=36,
                                            offsets_s=[0.0, 0.1, -0.13, 0.2], arc_deg=90, seed=3))
    scene = load_scene(tmp_path)
    on = align_scene(scene, AlignConfig(max_offset_s=0.5, rates="1", device="cpu"))
    off = align_scene(scene, AlignConfig(max_offset_s=0.5, rates="1", device="cpu", max_other_reading=0))
    assert set(on.time_maps.extra["other_readings"]) == set(scene.camera_names)
    assert all(v == 0.0 for v in off.time_maps.extra["other_readings"].values())     # 0: not computed
    for n in scene.camera_names:                                                    # a clear rig: same result
        assert on.time_maps.cameras[n].status == off.time_maps.cameras[n].status
        assert on.time_maps.cameras[n].offset_s == off.time_maps.cameras[n].offset_s
