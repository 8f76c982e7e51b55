"""sync4dgs.data.frame_check: every frame of a scene decoded once, the first damaged one named."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from sync4dgs.data.frame_check import check_image, check_scene_frames
from sync4dgs.data.scene import CameraSpec, FrameSource, SceneSpec
from sync4dgs.data.video import have_pyav, write_video
from sync4dgs.errors import DataFormatError

W, H = 32, 24


def _frames(n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.stack([cv2.GaussianBlur(rng.integers(0, 256, (H, W, 3), dtype=np.uint8), (5, 5), 1.5)
                     for _ in range(n)])


def _cam(name: str, n: int, frames: FrameSource) -> CameraSpec:
    K = np.array([[30.0, 0, W / 2], [0, 30.0, H / 2], [0, 0, 1]])
    return CameraSpec(name, W, H, K, np.eye(3), np.array([0.0, 0.0, 3.0]), 10.0, n, frames)


def _image_scene(root, n_cams=2, n=4, ext=".png") -> SceneSpec:
    cams = []
    for k in range(n_cams):
        name = f"cam{k:02d}"
        (root / "frames" / name).mkdir(parents=True)
        for i, img in enumerate(_frames(n, k)):
            assert cv2.imwrite(str(root / "frames" / name / f"{i:05d}{ext}"), img)
        cams.append(_cam(name, n, FrameSource("images", f"frames/{name}", "{:05d}" + ext)))
    return SceneSpec(root=root, cameras=cams, reference_camera="cam00")


def _zero_tail(path, keep=0.5):
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)] + bytes(len(data) - int(len(data) * keep)))


@pytest.mark.parametrize("ext", [".png", ".jpg"])
def test_intact_frames_pass_and_are_counted(tmp_path, ext):
    scene = _image_scene(tmp_path, n_cams=2, n=4, ext=ext)
    assert check_scene_frames(scene, threads=2, progress=False) == 8


def test_the_first_damaged_frame_is_reported_whatever_the_threads(tmp_path):
    scene = _image_scene(tmp_path, n_cams=2, n=5)
    _zero_tail(tmp_path / "frames" / "cam01" / "00001.png")
    _zero_tail(tmp_path / "frames" / "cam00" / "00003.png")
    for threads in (1, 2, 4):
        with pytest.raises(DataFormatError) as e:
            check_scene_frames(scene, threads=threads, progress=False)
        assert e.value.path.name == "00003.png" and "camera cam00, frame 3" in e.value.reason


@pytest.mark.parametrize("ext", [".png", ".jpg"])
@pytest.mark.parametrize("damage", ["truncated", "zero-tail", "zeroed", "cut-2", "wrong-size"])
def test_damaged_image_is_named_with_its_frame(tmp_path, ext, damage):
    scene = _image_scene(tmp_path, n_cams=1, n=3, ext=ext)
    path = tmp_path / "frames" / "cam00" / f"00002{ext}"
    data = path.read_bytes()
    if damage == "truncated":
        path.write_bytes(data[: int(len(data) * 0.8)])
    elif damage == "zero-tail":
        _zero_tail(path, 0.6)
    elif damage == "zeroed":
        path.write_bytes(bytes(len(data)))
    elif damage == "cut-2":                       # PNG: IEND's CRC cut; JPEG: the end-of-image marker
        path.write_bytes(data[:-2])
    else:
        assert cv2.imwrite(str(path), np.zeros((H + 2, W, 3), np.uint8))
    with pytest.raises(DataFormatError) as e:
        check_image(path, scene.cameras[0], 2)
    assert e.value.path.name == path.name and "frame 2" in e.value.reason
    if damage == "wrong-size":
        assert f"expected {W}x{H}" in e.value.reason


def test_an_integer_multiple_of_the_camera_size_is_accepted(tmp_path):
    scene = _image_scene(tmp_path, n_cams=1, n=1)
    path = tmp_path / "frames" / "cam00" / "00000.png"
    assert cv2.imwrite(str(path), np.zeros((2 * H, 2 * W, 3), np.uint8))     # a --downscale 2 source
    assert check_scene_frames(scene, progress=False) == 1


@pytest.mark.skipif(not have_pyav(), reason="needs PyAV")
def test_video_damage_after_the_used_window_is_not_reported(tmp_path):
    """Only the frames the scene uses are decoded: a window [1, 3) of a 6-frame video whose frame 4 is damaged
    passes; the whole video does not, naming frame 4."""
    import av  # noqa: PLC0415

    video = tmp_path / "cam00.mp4"
    write_video(video, _frames(6, 0), fps=10, crf=10)
    with av.open(str(video)) as c:
        packets = sorted((p.pts, p.pos, p.size) for p in c.demux(c.streams.video[0]) if p.size > 0)
    _, pos, size = packets[4]
    data = bytearray(video.read_bytes())
    data[pos:pos + size] = bytes(size)
    video.write_bytes(bytes(data))
    window = SceneSpec(root=tmp_path, cameras=[_cam("cam00", 2, FrameSource("video", "cam00.mp4", start=1, stop=3))],
                       reference_camera="cam00")
    assert check_scene_frames(window, progress=False) == 2
    whole = SceneSpec(root=tmp_path, cameras=[_cam("cam00", 6, FrameSource("video", "cam00.mp4"))],
                      reference_camera="cam00")
    with pytest.raises(DataFormatError) as e:
        check_scene_frames(whole, progress=False)
    assert e.value.path == video.resolve() and "camera cam00: frame 4 does not decode" in e.value.reason


@pytest.mark.skipif(not have_pyav(), reason="needs PyAV")
def test_video_shorter_than_the_scene_says(tmp_path):
    write_video(tmp_path / "cam00.mp4", _frames(3, 0), fps=10, crf=10)
    scene = SceneSpec(root=tmp_path, cameras=[_cam("cam00", 5, FrameSource("video", "cam00.mp4"))],
                      reference_camera="cam00")
    with pytest.raises(DataFormatError, match=r"stops decoding after 3 frame\(s\); the scene uses frames 0..4"):
        check_scene_frames(scene, progress=False)
