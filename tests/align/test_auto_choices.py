"""Stage 1's automatic choices: rates "auto" (pipeline._unit_rates_unless_needed) and fg_mode "auto" (align_scene).

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


# ---- fg_mode "auto": median masks, and motion masks where the median result leaves a camera short of aligned ----

def _result(fg_mode: str, statuses: dict[str, tuple[str, float]]):
    from sync4dgs.sync.align.pipeline import AlignResult
    from sync4dgs.timemap import TimeMap, TimeMaps

    cams = {"c0": TimeMap(0.0, 1.0, 1.0, "reference")}
    cams.update({n: TimeMap(0.1, 1.0, c, s) for n, (s, c) in statuses.items()})
    return AlignResult(TimeMaps("c0", cams, {"timings_s": {"total": 2.0}}), [], None,
                       AlignConfig(fg_mode=fg_mode), {"total": 2.0})


@pytest.fixture
def calls(monkeypatch):
    """Replace the one-mask alignment by canned results per mask kind; returns the list of kinds asked for."""
    from sync4dgs.errors import SyncError
    from sync4dgs.sync.align import pipeline

    asked: list[str] = []
    canned: dict = {}

    def fake(scene, cfg, tracks_dir):
        asked.append(cfg.fg_mode)
        out = canned[cfg.fg_mode]
        if isinstance(out, SyncError):
            raise out
        return out

    monkeypatch.setattr(pipeline, "_align_with_masks", fake)
    return asked, canned


def test_auto_masks_stop_at_median_when_every_camera_is_aligned(calls):
    from sync4dgs.sync.align.pipeline import align_scene

    asked, canned = calls
    canned["median"] = _result("median", {"c1": ("aligned", 0.9), "c2": ("aligned", 0.8)})
    res = align_scene(_scene(), AlignConfig())
    assert asked == ["median"] and res is canned["median"]
    assert res.time_maps.extra["fg_mode"] == {"mode": "auto", "used": "median", "aligned_median": 2,
                                              "confidence_median": 1.7}
    from sync4dgs.sync.align.report import mask_choice_note

    assert mask_choice_note(res.time_maps) is None              # one pass: nothing to say


def test_auto_masks_keep_the_more_confident_result(calls):
    from sync4dgs.sync.align.pipeline import align_scene

    asked, canned = calls
    canned["median"] = _result("median", {"c1": ("low_confidence", 0.3), "c2": ("unaligned", 0.0)})
    canned["motion"] = _result("motion", {"c1": ("aligned", 0.7), "c2": ("low_confidence", 0.4)})
    res = align_scene(_scene(), AlignConfig())
    assert asked == ["median", "motion"] and res is canned["motion"]
    info = res.time_maps.extra["fg_mode"]
    assert info["used"] == "motion" and info["confidence_median"] == 0.3 and info["confidence_motion"] == 1.1
    assert info["aligned_median"] == 0 and info["aligned_motion"] == 1
    assert res.timings_s["total"] == 4.0 and res.time_maps.extra["timings_s"]["total"] == 4.0   # both passes
    from sync4dgs.sync.align.report import mask_choice_note

    assert mask_choice_note(res.time_maps) == ("foreground masks: motion (median masks: 0 cameras aligned, total "
                                               "confidence 0.30; motion masks: 1 aligned, 1.10)")
    # the other way round the median result stands
    asked.clear()
    canned["median"], canned["motion"] = canned["motion"], canned["median"]
    canned["median"].time_maps.extra.pop("fg_mode")
    assert align_scene(_scene(), AlignConfig()) is canned["median"] and asked == ["median", "motion"]


def test_auto_masks_count_aligned_cameras_before_confidence(calls):
    """Two aligned cameras beat one aligned and one low_confidence camera of larger total confidence (an
    unaligned camera without motion, e.g. a frozen video, asks for the motion masks, which must not cost the
    median result's aligned cameras)."""
    from sync4dgs.sync.align.pipeline import align_scene

    asked, canned = calls
    canned["median"] = _result("median", {"c1": ("aligned", 0.55), "c2": ("aligned", 0.55), "c3": ("unaligned", 0.0)})
    canned["motion"] = _result("motion", {"c1": ("low_confidence", 0.49), "c2": ("aligned", 0.95),
                                          "c3": ("unaligned", 0.0)})
    res = align_scene(_scene(), AlignConfig())
    assert asked == ["median", "motion"] and res is canned["median"]
    assert res.time_maps.extra["fg_mode"]["used"] == "median"


def test_auto_masks_need_a_clear_confidence_gain_when_as_many_cameras_are_aligned(calls):
    from sync4dgs.sync.align.pipeline import align_scene

    asked, canned = calls
    canned["median"] = _result("median", {"c1": ("low_confidence", 0.33)})
    canned["motion"] = _result("motion", {"c1": ("low_confidence", 0.34)})
    assert align_scene(_scene(), AlignConfig()) is canned["median"]          # a near tie: the median result
    canned["median"] = _result("median", {"c1": ("low_confidence", 0.2)})
    assert align_scene(_scene(), AlignConfig()) is canned["motion"]          # 1.7x: the motion masks' result


def test_auto_masks_keep_median_when_motion_masks_find_nothing(calls):
    from sync4dgs.errors import SyncError
    from sync4dgs.sync.align.pipeline import align_scene

    asked, canned = calls
    canned["median"] = _result("median", {"c1": ("low_confidence", 0.3), "c2": ("aligned", 0.6)})
    canned["motion"] = SyncError("no moving content found in any camera")
    res = align_scene(_scene(), AlignConfig())
    assert res is canned["median"] and res.time_maps.extra["fg_mode"]["confidence_motion"] is None
    # an explicit mode runs that mode only
    asked.clear()
    assert align_scene(_scene(), AlignConfig(fg_mode="median")) is canned["median"] and asked == ["median"]
    with pytest.raises(SyncError):
        align_scene(_scene(), AlignConfig(fg_mode="motion"))
