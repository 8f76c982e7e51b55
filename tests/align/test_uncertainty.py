"""Offset uncertainty: a refined pair's bootstrap spread, and its propagation to every camera's offset."""

import numpy as np
import pytest
import torch

from sync4dgs.errors import ConfigError
from sync4dgs.sync.align.config import AlignConfig
from sync4dgs.sync.align.pencil import PairProfiles, signed_distance
from sync4dgs.sync.align.silscore import fine_lag_spread
from sync4dgs.sync.align.solve import PairMeasurement, offset_sigmas

FPS = 30.0
CPU = torch.device("cpu")


def _profiles(speed_bins: float, lag_frames: float, n_frames: int = 60, n_bins: int = 200,
              seed: int = 0) -> PairProfiles:
    """Both cameras see the same epipolar planes occupied by a run of 20 bins whose centre moves at
    ``speed_bins`` per frame (a sine, so it turns), B's clock ``lag_frames`` behind A's; occupancy is
    quantised to whole bins, plus one bin of seeded jitter on each run end."""
    rng = np.random.default_rng(seed)
    h = 1.0 / FPS

    def occ_at(times_s: np.ndarray) -> np.ndarray:
        centre = n_bins / 2 + speed_bins * FPS * np.sin(2 * np.pi * 0.4 * times_s) / (2 * np.pi * 0.4)
        occ = np.zeros((len(times_s), n_bins), bool)
        for i, c in enumerate(centre):
            lo, hi = int(round(c - 10)) + rng.integers(-1, 2), int(round(c + 10)) + rng.integers(-1, 2)
            occ[i, max(lo, 0):min(hi, n_bins)] = True
        return occ

    tau = np.arange(n_frames) * h
    occ_a, occ_b = occ_at(tau), occ_at(tau + lag_frames * h)
    no_border = np.zeros_like(occ_a)
    sdf_a, unk_a = signed_distance(occ_a, no_border, cap=12)
    sdf_b, unk_b = signed_distance(occ_b, no_border, cap=12)
    return PairProfiles(sdf_a, unk_a, sdf_b, unk_b, tau, tau.copy(), px_per_bin=0.5)


def test_spread_is_small_for_fast_motion_and_large_for_slow_motion():
    # tau_A = d + tau_B: B's frame i shows A's time i + lag, so d = -lag
    fast = fine_lag_spread(_profiles(2.0, 0.4), 1.0, -0.4 / FPS, 6.0, CPU)
    slow = fine_lag_spread(_profiles(0.15, 0.4), 1.0, -0.4 / FPS, 6.0, CPU)
    assert np.isfinite(fast) and np.isfinite(slow)
    assert fast * FPS < 0.15          # the 1-bin jitter moves a 2-bin/frame edge by well under a frame
    assert slow > 3 * fast            # the same jitter on a slow edge is several frames' worth of motion


def test_spread_is_deterministic_and_needs_three_blocks():
    pp = _profiles(1.0, 0.0)
    assert fine_lag_spread(pp, 1.0, 0.0, 6.0, CPU) == fine_lag_spread(pp, 1.0, 0.0, 6.0, CPU)
    short = _profiles(1.0, 0.0, n_frames=8)      # 8 frames = 2 blocks of 5
    assert np.isnan(fine_lag_spread(short, 1.0, 0.0, 6.0, CPU))


def _pair(a, b, d):
    return PairMeasurement(a, b, [(1.0, d, 1.0)])


def test_sigmas_add_along_a_chain_and_average_over_parallel_pairs():
    pairs = [_pair(0, 1, 0.10), _pair(1, 2, 0.05), _pair(0, 3, 0.20), _pair(0, 3, 0.20)]
    o = np.array([0.0, 0.10, 0.15, 0.20])
    sig = offset_sigmas(4, 0, pairs, [(k, 0) for k in range(4)], [0.003, 0.004, 0.006, 0.006], o, np.ones(4),
                        np.ones(4, bool))
    np.testing.assert_allclose(sig, [0.0, 0.003, 0.005, 0.006 / np.sqrt(2)], rtol=1e-9)


def test_sigmas_grow_when_the_pairs_do_not_close():
    # two pairs say cam01 is 0.10 s and 0.16 s behind, each +-0.003 s: chi^2 / dof = 200 inflates the sigma
    pairs = [_pair(0, 1, 0.10), _pair(0, 1, 0.16)]
    o = np.array([0.0, 0.13])
    sig = offset_sigmas(2, 0, pairs, [(0, 0), (1, 0)], [0.003, 0.003], o, np.ones(2), np.ones(2, bool))
    np.testing.assert_allclose(sig[1], 0.003 / np.sqrt(2) * np.sqrt(200), rtol=1e-9)


def test_cameras_without_measured_pairs_get_no_sigma():
    pairs = [_pair(0, 1, 0.1), _pair(1, 2, 0.1), _pair(0, 3, 0.1)]
    aligned = np.array([True, True, True, False])
    sig = offset_sigmas(4, 0, pairs, [(0, 0), (1, 0), (2, 0)], [float("nan"), 0.003, 0.003], np.zeros(4),
                        np.ones(4), aligned)
    assert sig[0] == 0.0 and np.isinf(sig[1:]).all()   # cam01-02 hang on an unmeasured pair; cam03 unaligned


def test_sigma_gate_setting_is_validated():
    assert AlignConfig().max_aligned_sigma_frames > 0
    with pytest.raises(ConfigError, match="max_aligned_sigma_frames"):
        AlignConfig(max_aligned_sigma_frames=-1).validate()


def test_align_reports_sigmas_and_the_gate_downgrades_imprecise_cameras(tmp_path):
    from sync4dgs.data.scene import load_scene
    from sync4dgs.data.synth.toyscene import ToySceneConfig, make_toy_scene
    from sync4dgs.sync.align import align_scene

    make_toy_scene(tmp_path, ToySceneConfig(n_cameras=4, width=128, height=96, n_frames=40,
                                            offsets_s=[0.0, 0.1, -0.1, 0.2], arc_deg=90, seed=7))
    scene = load_scene(tmp_path)
    off = align_scene(scene, AlignConfig(max_offset_s=0.5, rates="1", max_aligned_sigma_frames=0.0))
    sig = off.time_maps.extra["sigma_frames"]
    assert sig["cam00"] == 0.0
    aligned = [n for n, m in off.time_maps.cameras.items() if m.status == "aligned"]
    assert aligned and all(sig[n] is not None and 0 < sig[n] < 1.0 for n in aligned)
    refined = [p for p in off.pairs if p.fine_lag_s is not None]
    assert refined and all(p.to_dict()["fine_sigma_s"] > 0 for p in refined)
    assert all(p.to_dict()["fine_cue"] in ("pencil", "tracks", "both") for p in refined)
    strict = align_scene(scene, AlignConfig(max_offset_s=0.5, rates="1", max_aligned_sigma_frames=1e-3))
    for n in aligned:   # same offsets, but none is precise to a thousandth of a frame
        assert strict.time_maps.cameras[n].status == "low_confidence"
        assert strict.time_maps.cameras[n].offset_s == off.time_maps.cameras[n].offset_s
