"""Raw-videos reader: SfM calibration of static cameras, true timestamps (VFR), unregistered cameras."""

from __future__ import annotations

import numpy as np
import pytest

from sync4dgs.data.frames import open_frames
from sync4dgs.data.readers import detect_format, prepare
from sync4dgs.data.readers.videos import median_image, sample_indices
from sync4dgs.data.scene import load_scene
from sync4dgs.data.video import write_video
from sync4dgs.errors import DataFormatError

VFR_PTS = np.cumsum([0.0] + [0.03 + 0.01 * (i % 3) for i in range(7)])



@pytest.fixture(scope="module")
def phone_rig(kit):
    cams = kit.make_rig(n=4, W=400, H=300, f=320.0, spread=1.5)
    frames = kit.render_videos(kit.Room(seed=0), cams, 8, starts={"cam01": 3, "cam02": 5, "cam03": 1})
    return cams, frames


def _write(folder, cams, frames):
    folder.mkdir(parents=True)
    for c in cams:
        write_video(folder / f"{c.name}.mp4", frames[c.name], fps=30, crf=12,
                    pts_s=VFR_PTS if c.name == "cam03" else None)
    return folder


def test_helpers():
    assert sample_indices(2, 10, 3) == [2, 6, 9]
    assert sample_indices(0, 2, 15) == [0, 1]
    frames = [np.full((2, 2, 3), v, np.uint8) for v in (10, 200, 12)]
    assert median_image(frames)[0, 0, 0] == 12


def test_calibration_recovers_poses_up_to_similarity(kit, phone_rig, tmp_path):
    cams, frames = phone_rig
    src = _write(tmp_path / "phones", cams, frames)
    assert detect_format(src) == "videos"
    scene = prepare(src, tmp_path / "scene", shared_intrinsics=True)
    assert scene.camera_names == [c.name for c in cams]
    assert scene.reference_camera == "cam00" and scene.test_cameras == []
    ref = scene.cameras[0]
    for got, gt in zip(scene.cameras, cams):
        err = kit.rotation_angle_deg(got.R @ ref.R.T, gt.R @ cams[0].R.T)
        assert err < 0.5, (got.name, err)
    s, R, t = kit.similarity(np.stack([c.center for c in scene.cameras]), np.stack([-c.R.T @ c.t for c in cams]))
    aligned = s * np.stack([c.center for c in scene.cameras]) @ R.T + t
    spread = np.ptp(np.stack([-c.R.T @ c.t for c in cams]), axis=0).max()
    assert np.abs(aligned - np.stack([-c.R.T @ c.t for c in cams])).max() < 0.03 * spread
    calib = scene.source["calibration"]
    for name in scene.camera_names:
        assert 0 < calib[name]["reprojection_error_px"] < 1.0 and calib[name]["observations"] > 50
    # container timestamps are kept: cam03 is variable frame rate
    cam3 = scene.camera("cam03")
    np.testing.assert_allclose(cam3.frame_times_s, VFR_PTS, atol=1e-4)
    assert scene.camera("cam00").frame_times_s is None and scene.camera("cam00").fps == pytest.approx(30.0)
    f = open_frames(load_scene(tmp_path / "scene"), "cam03")
    assert len(f) == 8 and f[7].shape == (cam3.height, cam3.width, 3)
    assert scene.source["points"]["method"] == "sfm" and scene.source["points"]["count"] >= 100


def test_unregistered_camera_is_named(kit, phone_rig, tmp_path):
    cams, frames = phone_rig
    src = _write(tmp_path / "phones", cams[:3], frames)
    stranger = kit.make_rig(n=1, W=400, H=300, f=320.0)[0]
    other_room = kit.Room(seed=7)
    imgs = np.stack([other_room.render(stranger.K, stranger.R, stranger.t, 400, 300)] * 4)
    imgs[:, :, :, 0] = 255 - imgs[:, :, :, 0]
    write_video(src / "zz_elsewhere.mp4", np.ascontiguousarray(imgs[:, ::-1]), fps=30)
    with pytest.raises(DataFormatError, match=r"did not register in SfM: \['zz_elsewhere'\]"):
        prepare(src, tmp_path / "scene", shared_intrinsics=True)
    assert not (tmp_path / "scene").exists()
