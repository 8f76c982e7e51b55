"""Video I/O keeps exact timestamps; frame access is lazy and validated."""

import numpy as np
import pytest

from sync4dgs.data.frames import open_frames
from sync4dgs.data.scene import CameraSpec, FrameSource, SceneSpec
from sync4dgs.data.video import probe_video, read_video, write_video
from sync4dgs.errors import DataFormatError


def _frames(n=6, h=32, w=48, seed=0):
    # smooth content: yuv420 chroma subsampling is exact enough on it
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    out = []
    for i in range(n):
        r = 127 + 100 * np.sin((xx + 3 * i + seed) / 9.0)
        g = 127 + 100 * np.cos(yy / 7.0)
        b = 127 + 80 * np.sin((xx + yy) / 11.0)
        out.append(np.stack([r, g, b], -1).astype(np.uint8))
    return np.stack(out)


def test_write_read_roundtrip_cfr(tmp_path):
    fr = _frames()
    p = write_video(tmp_path / "a.mp4", fr, fps=25, crf=0)
    info = probe_video(p)
    assert (info.width, info.height, info.n_frames) == (48, 32, 6)
    assert info.fps == pytest.approx(25.0)
    got, t = read_video(p)
    assert got.shape == fr.shape
    np.testing.assert_allclose(t, np.arange(6) / 25.0, atol=1e-4)
    assert np.abs(got.astype(int) - fr.astype(int)).mean() < 3.0  # yuv420 chroma subsampling only


def test_variable_frame_rate_timestamps_preserved(tmp_path):
    pts = [0.0, 0.021, 0.07, 0.095, 0.15, 0.2]
    p = write_video(tmp_path / "vfr.mp4", _frames(), fps=30, pts_s=pts)
    _, t = read_video(p)
    np.testing.assert_allclose(t, pts, atol=1e-4)


def test_missing_and_corrupt_video(tmp_path):
    with pytest.raises(DataFormatError, match="not found"):
        probe_video(tmp_path / "none.mp4")
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"not a video at all" * 10)
    with pytest.raises(DataFormatError, match="bad.mp4"):
        read_video(bad)


def _scene(tmp_path, src, n, w=48, h=32):
    cam = CameraSpec("cam00", w, h, np.array([[40.0, 0, w / 2], [0, 40.0, h / 2], [0, 0, 1]]), np.eye(3),
                     np.zeros(3), 25.0, n, src)
    return SceneSpec(tmp_path, [cam], "cam00")


def test_video_cache_lazy_access_and_downscale(tmp_path):
    fr = _frames(n=5, h=64, w=96)
    write_video(tmp_path / "cam00.mp4", fr, fps=25, crf=0)
    scene = _scene(tmp_path, FrameSource("video", "cam00.mp4"), 5)  # camera is half the video's size
    frames = open_frames(scene, "cam00")
    assert len(frames) == 5 and frames[4].shape == (32, 48, 3) and frames[4].dtype == np.uint8
    assert (tmp_path / "cache/frames/cam00.npy").is_file()
    with pytest.raises(IndexError):
        frames[5]


def test_video_frame_count_mismatch_is_reported(tmp_path):
    write_video(tmp_path / "cam00.mp4", _frames(n=4), fps=25)
    scene = _scene(tmp_path, FrameSource("video", "cam00.mp4"), 7)
    with pytest.raises(DataFormatError, match="decoded 4 frames"):
        open_frames(scene, "cam00")
    assert not (tmp_path / "cache/frames/cam00.npy").exists()  # nothing half-written


def test_image_folder_and_bad_image(tmp_path):
    import cv2

    d = tmp_path / "frames/cam00"
    d.mkdir(parents=True)
    fr = _frames(n=2)
    for i, f in enumerate(fr):
        cv2.imwrite(str(d / f"{i:05d}.png"), f[..., ::-1])
    scene = _scene(tmp_path, FrameSource("images", "frames/cam00", "{:05d}.png"), 2)
    frames = open_frames(scene, "cam00")
    np.testing.assert_array_equal(frames[1], fr[1])
    (d / "00001.png").write_bytes(b"garbage")
    with pytest.raises(DataFormatError, match="00001.png"):
        frames[1]
