"""Unit tests of the alignment building blocks (pure functions; no rendering)."""

import numpy as np
import pytest
import torch

from sync4dgs.data.scene import CameraSpec, FrameSource
from sync4dgs.errors import ConfigError, DataFormatError
from sync4dgs.sync.align.config import AlignConfig, parse_rates
from sync4dgs.sync.align.geometry import epipolar_distance, fundamental_matrix, triangulate_dlt, projection_matrices
from sync4dgs.sync.align.pairscore import PairScore, local_minima, summarise
from sync4dgs.sync.align.pencil import signed_distance
from sync4dgs.sync.align.resample import sample_linear
from sync4dgs.sync.align.solve import PairMeasurement, solve_global
from sync4dgs.sync.align.tracks import load_camera_tracks
from sync4dgs.utils.geometry import look_at


def _cam(name, center, target=(0.0, 0.0, 0.0), w=160, h=120, fps=30.0, n=10):
    R, t = look_at(center, target)
    K = np.array([[150.0, 0, w / 2], [0, 150.0, h / 2], [0, 0, 1]])
    return CameraSpec(name, w, h, K, R, t, fps, n, FrameSource("images", f"frames/{name}", "{:05d}.png"))


def test_parse_rates_modes_and_errors():
    assert parse_rates("1").mode == "fixed"
    assert parse_rates("auto").mode == "auto"
    spec = parse_rates("30, 25,24")
    assert spec.mode == "list" and spec.true_fps == (30.0, 25.0, 24.0)
    for bad in ("fast", "30,-1", ""):
        with pytest.raises(ConfigError):
            parse_rates(bad)
    with pytest.raises(ConfigError, match="max_offset_s"):
        AlignConfig(max_offset_s=0).validate()
    with pytest.raises(ConfigError, match="unknown"):
        AlignConfig.from_dict({"max_offset": 1.0})


def test_fundamental_matrix_is_satisfied_by_projections():
    a, b = _cam("a", [5, 0, 1]), _cam("b", [3, 4, 1.5])
    rng = np.random.default_rng(0)
    pts = rng.uniform(-1, 1, (50, 3))
    f = torch.as_tensor(fundamental_matrix(a, b))
    d = epipolar_distance(f, torch.as_tensor(a.project(pts)), torch.as_tensor(b.project(pts)))
    assert d.max() < 1e-6
    # moving the B point across its epipolar line by 3 px gives a 3 px distance
    xb = b.project(pts) + np.array([0.0, 3.0])
    d2 = epipolar_distance(f, torch.as_tensor(a.project(pts)), torch.as_tensor(xb))
    assert 0.5 < float(d2.median()) < 3.01


def test_triangulation_is_exact_and_needs_two_views():
    cams = [_cam("a", [5, 0, 1]), _cam("b", [3, 4, 1.5]), _cam("c", [0, 5, 2])]
    rng = np.random.default_rng(1)
    pts = rng.uniform(-1, 1, (20, 3))
    uv = torch.as_tensor(np.stack([c.project(pts) for c in cams], 1))
    proj = torch.as_tensor(projection_matrices(cams))
    mask = torch.ones(20, 3, dtype=torch.bool)
    mask[0, 1:] = False
    out = triangulate_dlt(proj, uv, mask).numpy()
    np.testing.assert_allclose(out[1:], pts[1:], atol=1e-8)
    assert np.isnan(out[0]).all()


def test_linear_resampling_respects_visibility():
    tau = torch.arange(10, dtype=torch.float64) / 10
    xy = torch.stack([tau * 10, (tau * 10) ** 2], -1)[None]          # x = frame, y = frame^2
    xy[0, 7] = float("nan")
    q = torch.tensor([0.25, 0.55, 0.65, 1.5], dtype=torch.float64)
    lin = sample_linear(xy, tau, q)[0]
    assert lin[0, 0].item() == pytest.approx(2.5) and lin[0, 1].item() == pytest.approx(6.5)
    assert torch.isnan(lin[2]).all() and torch.isnan(lin[3]).all()   # next to an invisible frame / outside


def test_signed_distance_marks_border_runs_untrusted():
    occ = np.zeros((1, 20), bool)
    occ[0, 3:7] = True          # trusted run: boundaries at 3 and 7
    occ[0, 12:15] = True        # touches the image border -> untrusted
    bord = np.zeros_like(occ)
    bord[0, 13] = True
    sdf, unknown = signed_distance(occ, bord, cap=10)
    assert sdf[0, 3] == 0 and sdf[0, 7] == 0
    assert sdf[0, 5] == -2 and sdf[0, 1] == 2
    assert sdf[0, 12] != 0 and unknown[0, 12:16].all() and not unknown[0, 3:8].any()


def test_global_solve_rejects_outlier_pairs_and_reports_unreachable_cameras():
    truth = np.array([0.0, 0.5, -0.3, 1.2, 0.8])
    pairs = []
    for a in range(4):
        for b in range(a + 1, 4):
            pairs.append(PairMeasurement(a, b, [(1.0, truth[b] - truth[a] + 0.001 * (a - b), 0.8)]))
    pairs[2] = PairMeasurement(0, 3, [(1.0, 2.0, 0.9), (1.0, truth[3] - truth[0], 0.5)])  # wrong best candidate
    pairs.append(PairMeasurement(1, 2, [(1.0, 5.0, 0.95)]))                               # gross outlier
    sol = solve_global(5, 0, pairs, tol_s=0.05, tol_rate=0.01, known_rates=np.ones(5), n_trees=32)
    np.testing.assert_allclose(sol.offsets_s[:4], truth[:4], atol=0.005)
    assert sol.aligned.tolist() == [True, True, True, True, False]
    assert sol.confidence[4] == 0 and sol.offsets_s[4] == 0


def test_global_solve_recovers_rates_from_ratio_chain():
    rates = np.array([1.0, 1.2, 1.25, 1.0])
    offs = np.array([0.0, 0.3, -0.2, 0.1])
    pairs = [PairMeasurement(a, b, [(rates[b] / rates[a], (offs[b] - offs[a]) / rates[a], 0.9)])
             for a in range(4) for b in range(a + 1, 4)]
    sol = solve_global(4, 0, pairs, tol_s=0.05, tol_rate=0.01)
    np.testing.assert_allclose(sol.rates, rates, rtol=1e-9)
    np.testing.assert_allclose(sol.offsets_s, offs, atol=1e-9)


def test_track_file_validation(tmp_path):
    cam = _cam("cam00", [5, 0, 1], n=12)
    good = np.full((3, 12, 2), np.nan, np.float32)
    good[:, 2:9] = [40.0, 50.0]
    np.savez(tmp_path / "cam00.npz", tracks=good, depth=np.ones((3, 12)))
    tr = load_camera_tracks(tmp_path / "cam00.npz", cam)
    assert tr.xy.shape == (3, 12, 2) and tr.valid.sum() == 21 and tr.depth.shape == (3, 12)
    np.savez(tmp_path / "bad1.npz", tracks=good[:, :10])
    with pytest.raises(DataFormatError, match="10 frames"):
        load_camera_tracks(tmp_path / "bad1.npz", cam)
    np.savez(tmp_path / "bad2.npz", points=good)
    with pytest.raises(DataFormatError, match="missing array 'tracks'"):
        load_camera_tracks(tmp_path / "bad2.npz", cam)
    np.savez(tmp_path / "bad3.npz", tracks=good * 100)
    with pytest.raises(DataFormatError, match="outside"):
        load_camera_tracks(tmp_path / "bad3.npz", cam)
    with pytest.raises(DataFormatError, match="not found"):
        load_camera_tracks(tmp_path / "none.npz", cam)


def test_a_lag_at_the_window_edge_or_next_to_an_unscored_lag_is_never_a_minimum():
    # row 0: its lowest value at the left end of the range (a slope that may go on falling), a dip at index 4;
    # row 1: its lowest value next to an unscored lag (too little overlap), a dip at index 2
    curves = np.array([[0.1, 0.5, 0.9, 0.6, 0.3, 0.7, 0.8],
                       [0.9, 0.6, 0.4, 0.8, 0.2, np.nan, 0.9]])
    assert local_minima(curves).tolist() == [[False, False, False, False, True, False, False],
                                             [False, False, True, False, False, False, False]]
    ps = PairScore("a", "b", np.array([1.0]), np.arange(7) * 0.1, curves[:1].copy())
    summarise(ps, window_s=0.15)
    assert abs(ps.best_lag_s - 0.4) < 0.02          # the dip (parabola), not the edge's lower value at lag 0
    assert ps.confidence == 0.0                     # ... and no confidence in it: the edge is lower still
    assert [round(c[1], 2) for c in ps.candidates] == [round(ps.best_lag_s, 2)]
