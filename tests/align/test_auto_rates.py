"""Rates "auto": a clock rate other than 1 only where the pair evidence insists (pipeline._unit_rates_unless_needed).

Pair scores are built directly (lag curves with one Gaussian dip per allowed ratio), so the decision is tested
without rendering: one bridge pair whose curve at ratio 0.8 dips a little deeper than at ratio 1 must not give
the cameras behind it a rate of 0.8, while a camera whose every pair insists on 0.8 keeps it.
"""

from pathlib import Path

import numpy as np
import pytest

from sync4dgs.data.scene import CameraSpec, FrameSource, SceneSpec
from sync4dgs.sync.align.config import AlignConfig
from sync4dgs.sync.align.pairs import PairData, at_unit_ratio, discount_by_overlap
from sync4dgs.sync.align.pairscore import PairScore, summarise
from sync4dgs.sync.align.pipeline import _measurements, _solve, _unit_rates_unless_needed

FPS, N_FRAMES = 30.0, 90
OFFSETS = np.array([0.0, 0.1, -0.2, 0.15, 0.05])        # true offsets (s); every true rate is 1
LAGS = np.arange(-30, 31) / FPS                          # candidate lags (s), one frame apart


def _scene() -> SceneSpec:
    cams = [CameraSpec(f"c{k}", 64, 48, np.diag([50.0, 50.0, 1.0]), np.eye(3), np.array([k, 0.0, 0.0]), FPS, N_FRAMES,
                       FrameSource("images", f"frames/c{k}")) for k in range(len(OFFSETS))]
    return SceneSpec(Path("."), cams, "c0")


def _pair(scene: SceneSpec, cfg: AlignConfig, a: int, b: int, dips: dict[float, tuple[float, float]]) -> PairData:
    """A pair whose curve at ratio rho dips by depth at lag (s): dips = {rho: (lag, depth)}; other ratios NaN."""
    ratios = sorted(dips)
    curves = np.stack([1.0 - dips[r][1] * np.exp(-((LAGS - dips[r][0]) / 0.05) ** 2) for r in ratios])
    score = PairScore(f"c{a}", f"c{b}", np.asarray(ratios), LAGS, curves)
    summarise(score, cfg.confidence_window_s, gap_sigmas=cfg.confidence_gap_sigmas)
    discount_by_overlap(score, scene.cameras[a].tau_s(), scene.cameras[b].tau_s(), cfg.min_shared_frames,
                        cfg.full_shared_frames)
    return PairData(a, b, None, score, {})


def _true(a: int, b: int) -> float:
    return float(OFFSETS[b] - OFFSETS[a])


@pytest.fixture
def cfg():
    return AlignConfig(confidence_gap_sigmas=0.0)


def _rig(scene, cfg, bridge):
    """Cameras {0, 1, 2} and {3, 4}, each group tied firmly inside; between them a weak rate-1 pair (2, 3)
    and the bridge pair (1, 4)."""
    firm = [(0, 1), (1, 2), (0, 2), (3, 4)]
    data = [_pair(scene, cfg, a, b, {1.0: (_true(a, b), 0.6)}) for a, b in firm]
    data.append(_pair(scene, cfg, 2, 3, {1.0: (_true(2, 3), 0.3)}))
    data.append(_pair(scene, cfg, 1, 4, bridge))
    return data


def test_one_pair_preferring_another_ratio_does_not_change_the_rates(cfg):
    scene = _scene()
    # the bridge pair's curve dips deeper at ratio 0.8 (a wrong lag) than at ratio 1 (the true lag)
    data = _rig(scene, cfg, {1.0: (_true(1, 4), 0.3), 0.8: (-0.3, 0.7)})
    free = _solve(scene, 0, _measurements(data), cfg, cfg.inlier_tol_frames, cfg.inlier_tol_rate, None)
    assert free.rates[3] == pytest.approx(0.8) and free.rates[4] == pytest.approx(0.8)   # the failure it prevents
    kept, sol, info = _unit_rates_unless_needed(scene, 0, data, free, cfg)
    assert info["kept"] == "rate_1" and info["weight_with_rates"] > info["weight_rate_1"] > 0
    np.testing.assert_allclose(sol.rates, 1.0)
    assert sol.aligned.all()
    np.testing.assert_allclose(sol.offsets_s, OFFSETS, atol=0.5 / FPS)
    # from there on every pair carries its rate-1 candidates only
    assert all(abs(rho - 1.0) < 1e-12 for p in kept for rho, _, _ in p.score.candidates)


def test_a_camera_whose_pairs_all_insist_on_another_rate_keeps_it(cfg):
    scene = _scene()
    data = _rig(scene, cfg, {1.0: (_true(1, 4), 0.3), 0.8: (-0.3, 0.7)})
    # camera 4 really runs at 0.8: all three of its pairs dip deeply at 0.8 only (their ratio-1 curves are shallow)
    truth_r4 = {a: (float((0.05 - OFFSETS[a])), 0.8) for a in (1, 2, 3)}
    data = [p for p in data if 4 not in (p.a, p.b)]
    data += [_pair(scene, cfg, a, 4, {1.0: (0.0, 0.05), 0.8: truth_r4[a]}) for a in (1, 2, 3)]
    # many more rate-1 pairs elsewhere in the rig do not dilute the evidence of camera 4's own pairs
    data += [_pair(scene, cfg, a, b, {1.0: (_true(a, b), 0.6)}) for a, b in [(0, 1), (1, 2), (0, 2), (0, 3)] * 4]
    free = _solve(scene, 0, _measurements(data), cfg, cfg.inlier_tol_frames, cfg.inlier_tol_rate, None)
    assert free.rates[4] == pytest.approx(0.8)
    kept, sol, info = _unit_rates_unless_needed(scene, 0, data, free, cfg)
    assert info["kept"] == "rates" and info["weight_with_rates"] >= cfg.auto_rate_gain * info["weight_rate_1"]
    assert kept is data and sol is free


def test_rate_1_solutions_and_rate_1_pairs_pass_through(cfg):
    scene = _scene()
    data = _rig(scene, cfg, {1.0: (_true(1, 4), 0.5)})
    free = _solve(scene, 0, _measurements(data), cfg, cfg.inlier_tol_frames, cfg.inlier_tol_rate, None)
    np.testing.assert_allclose(free.rates, 1.0)
    kept, sol, info = _unit_rates_unless_needed(scene, 0, data, free, cfg)
    assert kept is data and sol is free and info == {}
    assert at_unit_ratio(data[0], scene.cameras[0], scene.cameras[1], cfg) is data[0]


def test_auto_rate_gain_below_1_is_a_config_error():
    from sync4dgs.errors import ConfigError

    with pytest.raises(ConfigError, match="auto_rate_gain"):
        AlignConfig(auto_rate_gain=0.9).validate()
