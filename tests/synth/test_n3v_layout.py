"""N3V layout through the CLI: videos at their true frame rates, LLFF poses_bounds, lossless test frames."""

import numpy as np

from sync4dgs.data.frames import read_image
from sync4dgs.data.synth import decode_poses_bounds, encode_poses_bounds, load_synth, render_view
from sync4dgs.data.synth.outputs import to_uint8
from sync4dgs.utils.geometry import look_at
from sync4dgs.data.video import probe_video, read_video
from sync4dgs.timemap import load_time_maps


def _psnr(a, b):
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return 10 * np.log10(255.0**2 / max(mse, 1e-12))


def test_cli_writes_the_n3v_layout(tiny_n3v_mixed):
    root = tiny_n3v_mixed
    names = sorted(p.name for p in root.iterdir())
    assert names == ["cam00.mp4", "cam01.mp4", "cam02.mp4", "cam03.mp4", "cam04.mp4", "gt", "gt_masks",
                     "gt_sync.json", "poses_bounds.npy", "synth_meta.json"]
    assert len(list((root / "gt" / "cam00").glob("*.png"))) == 24
    assert sorted(p.name for p in (root / "gt_masks").iterdir()) == [f"cam{k:02d}.npz" for k in range(5)]


def test_fps_mix_videos_have_matching_frame_rates(tiny_n3v_mixed):
    plan = load_synth(tiny_n3v_mixed)
    assert [c.fps for c in plan.clocks] == [30.0, 30.0, 25.0, 24.0, 30.0]
    gt = load_time_maps(tiny_n3v_mixed / "gt_sync.json")
    for cam, clk in zip(plan.cameras, plan.clocks):
        info = probe_video(tiny_n3v_mixed / f"{cam.name}.mp4")
        assert info.fps == clk.fps and info.n_frames == clk.n_frames
        assert (info.width, info.height) == (96, 72)
        assert gt.cameras[cam.name].rate == 1.0 and gt.extra["fps"][cam.name] == clk.fps
    assert [c.n_frames for c in plan.clocks] == [24, 24, 20, 19, 24]  # same duration at every rate


def test_videos_show_each_camera_at_its_own_capture_times(tiny_n3v_mixed):
    plan = load_synth(tiny_n3v_mixed)
    gt = load_time_maps(tiny_n3v_mixed / "gt_sync.json")
    ss = plan.config.supersample
    for k in (2, 3):  # 25 and 24 fps cameras with sub-frame offsets
        cam, clk = plan.cameras[k], plan.clocks[k]
        frames, tau = read_video(tiny_n3v_mixed / f"{cam.name}.mp4")
        np.testing.assert_allclose(tau, np.arange(clk.n_frames) / clk.fps, atol=1e-4)
        off = gt.cameras[cam.name].offset_s
        assert abs(off * 30 - round(off * 30)) > 1e-6  # sub-frame offset
        i = clk.n_frames // 2
        right = to_uint8(render_view(plan.scene, cam.K, cam.R, cam.t, 96, 72, off + i / clk.fps, "cpu", ss))
        naive = to_uint8(render_view(plan.scene, cam.K, cam.R, cam.t, 96, 72, i / clk.fps, "cpu", ss))
        assert _psnr(frames[i], right) > 30.0
        assert _psnr(frames[i], right) > _psnr(frames[i], naive) + 3.0


def test_gt_frames_of_the_test_camera_are_lossless(tiny_n3v_mixed):
    plan = load_synth(tiny_n3v_mixed)
    cam, clk = plan.cameras[0], plan.clocks[0]
    for i in (0, 23):
        want = to_uint8(render_view(plan.scene, cam.K, cam.R, cam.t, 96, 72, i / clk.fps, "cpu",
                                    plan.config.supersample))
        d = np.abs(read_image(tiny_n3v_mixed / "gt" / "cam00" / f"{i:05d}.png").astype(int) - want.astype(int))
        assert d.max() <= 1 and (d == 0).mean() > 0.999  # lossless (up to float rounding of the renderer)


def test_poses_bounds_round_trip(tiny_n3v_mixed):
    plan = load_synth(tiny_n3v_mixed)
    arr = np.load(tiny_n3v_mixed / "poses_bounds.npy")
    assert arr.shape == (5, 17) and arr.dtype == np.float64
    dec = decode_poses_bounds(arr)
    for k, cam in enumerate(plan.cameras):
        assert np.abs(dec["R"][k] - cam.R).max() < 1e-9
        assert np.abs(dec["t"][k] - cam.t).max() < 1e-9
        assert (dec["height"][k], dec["width"][k]) == (72, 96) and dec["focal"][k] == cam.K[0, 0]
        assert 0 < dec["near"][k] < dec["far"][k]


def test_llff_columns_follow_the_down_right_back_convention():
    # A camera at C = (1, 2, 3) looking along world +y with world +z up: image right = +x, down = -z, back = -y.
    C = np.array([1.0, 2.0, 3.0])
    R, t = look_at(C, C + np.array([0.0, 5.0, 0.0]))
    row = encode_poses_bounds(R[None], t[None], 480, 640, 500.0, 0.5, 20.0)[0]
    m = row[:15].reshape(3, 5)
    np.testing.assert_allclose(m[:, 0], [0, 0, -1], atol=1e-12)  # down
    np.testing.assert_allclose(m[:, 1], [1, 0, 0], atol=1e-12)   # right
    np.testing.assert_allclose(m[:, 2], [0, -1, 0], atol=1e-12)  # back (away from the view direction)
    np.testing.assert_allclose(m[:, 3], C, atol=1e-12)
    np.testing.assert_allclose(m[:, 4], [480, 640, 500], atol=0)
    assert tuple(row[15:]) == (0.5, 20.0)
