"""Sub-frame refinement of a pair from its point tracks (trackfine.py) and its combination with the pencil's."""

import numpy as np
import torch

from sync4dgs.data.scene import CameraSpec, FrameSource
from sync4dgs.sync.align.geometry import fundamental_matrix
from sync4dgs.sync.align.pairs import FineEstimate
from sync4dgs.sync.align.pipeline import _with_track_estimate
from sync4dgs.sync.align.trackfine import track_fine_pair
from sync4dgs.sync.align.tracks import CameraTracks
from sync4dgs.utils.geometry import look_at

FPS = 10.0          # a slow camera (as caliscope's ~6 fps recordings): a frame is a long time
CPU = torch.device("cpu")


def _cam(name, center, w=320, h=240, n=60):
    R, t = look_at(center, (0.0, 0.0, 0.0))
    K = np.array([[300.0, 0, w / 2], [0, 300.0, h / 2], [0, 0, 1]])
    return CameraSpec(name, w, h, K, R, t, FPS, n, FrameSource("images", f"frames/{name}", "{:05d}.png"))


def _points(t_s: np.ndarray, n_points: int = 24) -> np.ndarray:
    """[P, T, 3] points of a rigid board that swings and slides (smooth, turning motion), at times t_s."""
    rng = np.random.default_rng(5)
    local = rng.uniform(-0.3, 0.3, (n_points, 3)) * [1, 1, 0.1]
    ang = 0.8 * np.sin(2 * np.pi * 0.23 * t_s)
    shift = np.stack([0.6 * np.sin(2 * np.pi * 0.17 * t_s), 0.3 * np.cos(2 * np.pi * 0.11 * t_s),
                      0.2 * np.sin(2 * np.pi * 0.31 * t_s)], -1)
    ca, sa = np.cos(ang), np.sin(ang)
    rot = np.stack([np.stack([ca, -sa, 0 * ca], -1), np.stack([sa, ca, 0 * ca], -1),
                    np.stack([0 * ca, 0 * ca, 1 + 0 * ca], -1)], -2)          # [T, 3, 3] about z
    return np.einsum("tij,pj->pti", rot, local) + shift[None]


def _tracks(cam: CameraSpec, t_global: np.ndarray, noise_px: float, seed: int) -> CameraTracks:
    pts = _points(t_global)
    xy = np.stack([cam.project(pts[:, k]) for k in range(len(t_global))], 1)
    xy = xy + np.random.default_rng(seed).normal(0, noise_px, xy.shape)
    return CameraTracks(cam.name, xy.astype(np.float32), cam.tau_s(), track_scale=1.0)


def _pair(lag_frames: float, noise_px: float, seed: int = 0):
    """Cameras A and B 70 degrees apart; B's frame j shows the moment A's clock reads d + j / FPS with
    d = lag_frames / FPS (tau_A = d + tau_B)."""
    a, b = _cam("a", [0.0, -4.0, 0.5]), _cam("b", [4.0 * np.sin(1.2), -4.0 * np.cos(1.2), 0.8])
    d = lag_frames / FPS
    ta = _tracks(a, a.tau_s(), noise_px, seed)
    tb = _tracks(b, d + b.tau_s(), noise_px, seed + 1)
    return a, b, ta, tb, d


def _fine(a, b, ta, tb, d0, seed=0):
    return track_fine_pair(ta, tb, fundamental_matrix(a, b), (a.width, a.height), 1.0, d0, 6, 3.0, CPU,
                           seed=seed)


def test_subframe_offset_is_recovered_from_tracks_alone():
    for lag in (0.0, 0.37, -1.62):
        a, b, ta, tb, d = _pair(lag, noise_px=0.3)
        # start from the nearest whole frame, as the coarse track cue would
        est = _fine(a, b, ta, tb, np.round(lag) / FPS)
        assert est is not None
        assert abs(est.d_s - d) * FPS < 0.05, (lag, est.d_s * FPS)
        assert np.isfinite(est.sigma_s) and est.sigma_s * FPS < 0.1
        assert est.sharpness > 0.3


def test_spread_grows_with_track_noise_and_is_deterministic():
    a, b, ta, tb, d = _pair(0.4, noise_px=0.2)
    clean = _fine(a, b, ta, tb, 0.0)
    a, b, ta, tb, d = _pair(0.4, noise_px=2.0)
    noisy = _fine(a, b, ta, tb, 0.0)
    assert noisy.sigma_s > 3 * clean.sigma_s
    assert abs(noisy.d_s - d) * FPS < 0.3
    again = _fine(a, b, ta, tb, 0.0)
    assert (again.d_s, again.sigma_s) == (noisy.d_s, noisy.sigma_s)


def test_no_estimate_when_no_track_has_a_partner():
    a, b, ta, tb, _ = _pair(0.0, noise_px=0.3)
    far = CameraTracks("b", tb.xy + np.float32(40.0), tb.tau_s)       # 40 px off every epipolar line
    assert _fine(a, b, ta, far, 0.0) is None


def test_pencil_and_track_estimates_combine_by_inverse_variance():
    pencil = FineEstimate(1.0, 0.10, 0.2, 1.0, 0.02)
    track = FineEstimate(1.0, 0.13, 0.4, 2.0, 0.01)
    both = _with_track_estimate(pencil, track)
    np.testing.assert_allclose(both.d_s, (0.10 / 0.02 ** 2 + 0.13 / 0.01 ** 2) / (1 / 0.02 ** 2 + 1 / 0.01 ** 2))
    np.testing.assert_allclose(both.sigma_s, 1 / np.sqrt(1 / 0.02 ** 2 + 1 / 0.01 ** 2))
    assert _with_track_estimate(None, track) is track
    assert _with_track_estimate(pencil, None) is pencil
    unmeasured = FineEstimate(1.0, 0.5, 0.3, 1.0)                    # sigma NaN: precision unknown
    assert _with_track_estimate(pencil, unmeasured) is pencil
    assert _with_track_estimate(unmeasured, track) is track
