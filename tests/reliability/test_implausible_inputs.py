"""Implausible but well-formed inputs: refused with one line naming the camera, or flagged."""

from __future__ import annotations

import os

import numpy as np
import pytest

from sync4dgs.data.readers.common import check_camera_centres
from sync4dgs.data.scene import CameraSpec, FrameSource
from sync4dgs.errors import DataFormatError
from sync4dgs.timemap import TimeMap, TimeMaps
from sync4dgs.train.saving import flag_non_overlapping


def _cam(name="cam00", fx=100.0, center=(0.0, 0.0, 0.0)):
    K = np.array([[fx, 0, 32], [0, fx, 24], [0, 0, 1.0]])
    R = np.eye(3)
    return CameraSpec(name=name, width=64, height=48, K=K, R=R, t=-R @ np.asarray(center, float), fps=30.0,
                      n_frames=10, frames=FrameSource("images", f"frames/{name}", "{:05d}.png"))


@pytest.mark.parametrize("fx", [1e-30, 0.1, 1e9])
def test_implausible_focal_is_refused(fx):
    with pytest.raises(DataFormatError, match="cam07: focal lengths"):
        _cam("cam07", fx=fx).validate("scene.json")


def test_plausible_focals_pass():
    for fx in (5.0, 100.0, 50_000.0):
        _cam(fx=fx).validate("scene.json")


def test_far_translation_is_refused():
    with pytest.raises(DataFormatError, match="cam03: translation"):
        _cam("cam03", center=(1e30, 0, 0)).validate("poses_bounds.npy")


def test_outlier_camera_centre_is_refused():
    cams = [_cam(f"cam{i:02d}", center=(np.cos(a), np.sin(a), 0.0)) for i, a in enumerate(np.linspace(0, 3, 6))]
    check_camera_centres(cams, "poses_bounds.npy")                        # a normal rig passes
    cams.append(_cam("cam06", center=(5e4, 0.0, 0.0)))
    with pytest.raises(DataFormatError, match="cam06: centre"):
        check_camera_centres(cams, "poses_bounds.npy")


def test_still_image_renamed_as_video_is_refused(tmp_path):
    cv2 = pytest.importorskip("cv2")
    pytest.importorskip("av")
    from sync4dgs.data.video import video_timing

    cv2.imwrite(str(tmp_path / "x.png"), np.zeros((8, 8, 3), np.uint8))
    os.replace(tmp_path / "x.png", tmp_path / "cam01.mp4")
    with pytest.raises(DataFormatError, match="cam01.mp4.*still image"):
        video_timing(tmp_path / "cam01.mp4")


def test_offsets_beyond_any_overlap_are_flagged():
    clips = {n: (0.0, 0.4, 30.0) for n in ("cam00", "cam01", "cam02")}      # 0.4 s clips
    maps = TimeMaps("cam00", {"cam00": TimeMap(0.0, 1.0, 1.0, "reference"),
                              "cam01": TimeMap(-16.0, 1.0, 0.9, "aligned"),
                              "cam02": TimeMap(0.1, 1.0, 0.9, "aligned")})
    assert flag_non_overlapping(maps, clips) == ["cam01"]
    assert maps.cameras["cam01"].status == "unaligned" and maps.cameras["cam01"].confidence == 0.0
    assert maps.cameras["cam02"].status == "aligned"
    far = TimeMaps("cam00", {"cam00": TimeMap(0.0, 1.0, 1.0, "reference"), "cam01": TimeMap(-16.0, 1.0, 0.9, "aligned"),
                             "cam02": TimeMap(32.0, 1.0, 0.9, "aligned")})
    assert sorted(flag_non_overlapping(far, clips)) == ["cam01", "cam02"]
