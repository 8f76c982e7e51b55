"""Blob-centroid tracks (the stage-1 fallback for soft, corner-less moving content): weighted centroids of compact
foreground components, mutual-nearest linking, and tracks that follow a soft moving blob's true centre."""

from __future__ import annotations

import numpy as np

from sync4dgs.sync.align.blobs import frame_blobs, link_blobs
from sync4dgs.sync.align.klt import foreground_masks_and_differences


def _soft_blob(h: int, w: int, cx: float, cy: float, sigma: float) -> np.ndarray:
    ys, xs = np.mgrid[0:h, 0:w]
    return np.exp(-((xs - cx) ** 2 + (ys - cy) ** 2) / (2 * sigma ** 2))


def test_weighted_centroid_of_a_soft_blob_is_its_centre_and_areas_filter():
    weight = 200 * _soft_blob(40, 50, 17.3, 21.6, 2.5)
    mask = weight > 20
    pts = frame_blobs(mask, weight, min_area_px=4, max_area_px=400)
    assert pts.shape == (1, 2)
    np.testing.assert_allclose(pts[0], [17.3, 21.6], atol=0.05)
    assert frame_blobs(mask, weight, min_area_px=4, max_area_px=int(mask.sum()) - 1).shape == (0, 2)   # too big
    assert frame_blobs(mask, weight, min_area_px=int(mask.sum()) + 1, max_area_px=400).shape == (0, 2)  # too small
    assert frame_blobs(np.zeros_like(mask), weight, 4, 400).shape == (0, 2)


def test_linking_is_mutual_nearest_within_the_jump():
    frames = [np.array([[10.0, 10.0], [30.0, 10.0]], np.float32),
              np.array([[11.0, 10.5], [31.0, 9.5]], np.float32),
              np.array([[12.0, 11.0]], np.float32),                 # the second blob vanishes
              np.array([[40.0, 40.0]], np.float32)]                 # a jump: a new track, not a continuation
    xy = link_blobs(frames, max_jump_px=5.0)
    assert xy.shape == (3, 4, 2)
    np.testing.assert_array_equal(xy[0, :3], [[10, 10], [11, 10.5], [12, 11]])
    assert np.isnan(xy[0, 3]).all()
    np.testing.assert_array_equal(xy[1, :2], [[30, 10], [31, 9.5]])
    assert np.isnan(xy[1, 2:]).all()
    assert np.isnan(xy[2, :3]).all() and np.array_equal(xy[2, 3], [40, 40])
    assert link_blobs([np.zeros((0, 2), np.float32)] * 3, 5.0).shape == (0, 3, 2)


def test_blob_tracks_follow_a_soft_moving_blob_over_a_textured_background():
    rng = np.random.default_rng(0)
    h, w, t = 60, 80, 24
    background = rng.integers(40, 80, (h, w, 3)).astype(np.float64)
    centres = [(15 + 2.1 * i, 30 + 8 * np.sin(0.3 * i)) for i in range(t)]
    rgb = np.stack([np.clip(background + 150 * _soft_blob(h, w, cx, cy, 2.5)[..., None], 0, 255)
                    for cx, cy in centres]).round().astype(np.uint8)
    masks, diffs = foreground_masks_and_differences(rgb, threshold=12.0, bg_frames=24)
    xy = link_blobs([frame_blobs(m, d, 4, int(0.05 * h * w)) for m, d in zip(masks, diffs)], max_jump_px=8.0)
    longest = xy[np.isfinite(xy[..., 0]).sum(1).argmax()]
    seen = np.isfinite(longest[:, 0])
    assert seen.sum() >= t - 2
    err = np.linalg.norm(longest[seen] - np.array(centres)[seen], axis=1)
    assert err.max() < 0.35, err


def test_cameras_with_few_klt_tracks_get_blob_tracks_in_full_resolution_pixels():
    import cv2

    from sync4dgs.data.scene import CameraSpec, FrameSource
    from sync4dgs.sync.align.config import AlignConfig
    from sync4dgs.sync.align.klt import SmallFrames, _with_blob_tracks
    from sync4dgs.sync.align.tracks import CameraTracks

    h, w, t = 60, 80, 24
    centres = [(15 + 2.1 * i, 30.0) for i in range(t)]
    rgb = np.stack([np.clip(50 + 150 * _soft_blob(h, w, cx, cy, 2.5)[..., None], 0, 255).repeat(3, -1)
                    for cx, cy in centres]).round().astype(np.uint8)
    gray = np.stack([cv2.cvtColor(f, cv2.COLOR_RGB2GRAY) for f in rgb])
    masks, diffs = foreground_masks_and_differences(rgb, 12.0, 24)
    cam = CameraSpec("c", 2 * w, 2 * h, np.eye(3), np.eye(3), np.zeros(3), 10.0, t, FrameSource("images", "x"))
    small = SmallFrames(rgb, gray, 0.5, 0.5)                        # tracked at half resolution
    none = CameraTracks("c", np.zeros((0, t, 2), np.float32), cam.tau_s(), 0.5, None, np.zeros((0, 3), np.uint8))
    out = _with_blob_tracks(none, small, masks, diffs, cam, AlignConfig(blob_max_area_fraction=0.05))
    assert out.n_tracks == 1 and out.rgb.shape == (1, 3)
    assert out.with_blobs and out.subset(np.array([0])).with_blobs and not none.with_blobs   # pairs score tracks
    seen = out.valid[0]
    full = (np.array(centres) + 0.5) / 0.5                          # OpenCV small coords -> scene full-res pixels
    np.testing.assert_allclose(out.xy[0][seen], full[seen], atol=0.7)


def test_a_small_fast_blob_is_followed_past_a_slow_spurious_blob_next_to_it():
    # a ball moving 20 px per frame (faster than the 12-px jump) and a flickering blob 4 px from its first position
    ball = [np.array([[10.0 + 20 * i, 50.0 + 2 * i]], np.float32) for i in range(8)]
    frames = [np.concatenate([b, [[14.0, 50.0]]]).astype(np.float32) if i in (1, 3) else b
              for i, b in enumerate(ball)]
    xy = link_blobs(frames, max_jump_px=12.0, max_speed_px=40.0)
    longest = xy[np.isfinite(xy[..., 0]).sum(1).argmax()]
    np.testing.assert_array_equal(longest, np.concatenate(ball))       # one track, every frame, no detour
    # without a speed allowance the fast ball gives no track longer than one frame
    assert np.isfinite(link_blobs(ball, max_jump_px=12.0)[..., 0]).sum(1).max() == 1


def test_a_fast_track_needs_three_consistent_positions():
    # two blobs far apart in consecutive frames, then nothing near the continuation: not linked
    frames = [np.array([[10.0, 10.0]], np.float32), np.array([[35.0, 10.0]], np.float32),
              np.array([[10.0, 40.0]], np.float32)]
    xy = link_blobs(frames, max_jump_px=5.0, max_speed_px=40.0)
    assert np.isfinite(xy[..., 0]).sum(1).max() == 1
