"""N3V reader: LLFF conversion, camera recovery (< 0.01 px), pairing rule, downscale/window, bad input."""

from __future__ import annotations

import numpy as np
import pytest

from sync4dgs.cli.main import main as cli_main
from sync4dgs.data.frames import open_frames
from sync4dgs.data.points import load_points
from sync4dgs.data.readers import prepare
from sync4dgs.data.readers.n3v import llff_to_opencv, pair_videos_with_poses
from sync4dgs.data.scene import load_scene
from sync4dgs.data.video import read_video, write_video
from sync4dgs.errors import DataFormatError
from sync4dgs.timemap import TimeMap, TimeMaps, load_time_maps


def test_llff_row_converts_to_opencv(kit, rig):
    rows = kit.encode_llff(rig, near=0.7, far=11.0)
    for c, row in zip(rig, rows):
        c2w, center, (h, w, f), (near, far) = llff_to_opencv(row)
        np.testing.assert_allclose(c2w.T, c.R, atol=1e-12)
        np.testing.assert_allclose(center, -c.R.T @ c.t, atol=1e-12)
        assert (h, w, f, near, far) == (c.H, c.W, c.K[0, 0], 0.7, 11.0)


def test_prepare_recovers_cameras_and_triangulates_points(kit, rig, rig_frames, n3v_dir, tmp_path):
    scene = prepare(n3v_dir, tmp_path / "scene")
    assert scene.camera_names == [c.name for c in rig]
    assert scene.reference_camera == "cam00" and scene.test_cameras == ["cam00"]
    norm = scene.normalization
    X = np.random.default_rng(1).uniform([-2, -1.5, 3], [2, 1.5, 7.5], (200, 3))  # original world units
    for got, gt in zip(scene.cameras, rig):
        err = np.abs(got.project(norm.to_scene(X)) - gt.project(X)).max()
        assert err < 0.01, (got.name, err)
        assert (got.width, got.height, got.n_frames, got.fps) == (320, 240, 6, 30.0)
        assert got.frame_times_s is None  # constant frame rate
    centers = np.stack([c.center for c in scene.cameras])
    np.testing.assert_allclose(centers.mean(0), 0, atol=1e-9)
    assert np.linalg.norm(centers, axis=1).max() == pytest.approx(1 / 1.1)
    assert scene.near == pytest.approx(0.5 * norm.scale) and scene.far == pytest.approx(12.0 * norm.scale)
    pts = load_points(scene.points_path)
    assert len(pts) >= 100 and scene.source["points"]["method"] == "triangulated"
    # triangulated points lie on the room's walls (original units)
    assert np.median(kit.wall_distance(norm.to_original(pts.xyz))) < 0.05
    # frames resolve to the original videos, in order
    reloaded = load_scene(tmp_path / "scene")
    f = open_frames(reloaded, "cam02")
    diffs = [np.abs(f[3].astype(int) - rig_frames["cam02"][j].astype(int)).mean() for j in range(6)]
    assert int(np.argmin(diffs)) == 3


def test_downscale_and_frame_window(kit, rig, n3v_dir, tmp_path):
    scene = prepare(n3v_dir, tmp_path / "scene", downscale=2, frames="2:5", points="random")
    cam = scene.camera("cam01")
    assert (cam.width, cam.height, cam.n_frames) == (160, 120, 3)
    np.testing.assert_allclose(cam.K, np.diag([0.5, 0.5, 1.0]) @ rig[1].K)
    assert (cam.frames.start, cam.frames.stop) == (2, 5)
    full, _ = read_video(n3v_dir / "cam01.mp4", downscale=2)
    frames = open_frames(load_scene(tmp_path / "scene"), "cam01")
    for i in range(3):
        np.testing.assert_array_equal(frames[i], full[2 + i])
    assert scene.source["points"]["method"] == "random_frustum"


def test_pairing_rule_cases():
    vids = ["cam00", "cam01", "cam02", "cam13"]
    pairs, skipped = pair_videos_with_poses(vids, 4)
    assert pairs == {"cam00": 0, "cam01": 1, "cam02": 2, "cam13": 3} and not skipped
    pairs, skipped = pair_videos_with_poses(vids, 4, exclude=["cam13"])  # equal counts: drop after pairing
    assert pairs == {"cam00": 0, "cam01": 1, "cam02": 2} and skipped == {"cam13": "excluded on request"}
    pairs, skipped = pair_videos_with_poses(vids, 3, exclude=["cam13"])  # video without a pose
    assert pairs == {"cam00": 0, "cam01": 1, "cam02": 2} and "without a pose" in skipped["cam13"]
    pairs, _ = pair_videos_with_poses(["cam00", "cam13", "cam14"], 2, known_unposed=("cam13",))
    assert pairs == {"cam00": 0, "cam14": 1}
    pairs, skipped = pair_videos_with_poses(["cam00", "cam02"], 3, pose_cameras=["cam00", "cam01", "cam02"])
    assert pairs == {"cam00": 0, "cam02": 2} and "row 1 (cam01)" in skipped
    with pytest.raises(DataFormatError, match="4 videos .* but 3 pose rows"):
        pair_videos_with_poses(vids, 3)
    with pytest.raises(DataFormatError, match="names 2 cameras but the file has 3 rows"):
        pair_videos_with_poses(vids, 3, pose_cameras=["cam00", "cam01"])


def test_coffee_martini_video_without_pose_is_skipped(kit, rig, rig_frames, tmp_path):
    """Sync-NeRF's coffee_martini: cam13.mp4 present, its pose row absent -> cam13 skipped, rest paired."""
    cams = rig[:4]
    folder = kit.write_n3v(tmp_path / "coffee_martini", cams, rig_frames)
    write_video(folder / "cam13.mp4", rig_frames["cam04"], fps=30)  # a video with no row in poses_bounds
    scene = prepare(folder, tmp_path / "scene", points="random")
    assert scene.camera_names == ["cam00", "cam01", "cam02", "cam03"]
    assert "cam13" in scene.source["skipped_cameras"]
    for got, gt in zip(scene.cameras, cams):  # no mis-pairing
        np.testing.assert_allclose(got.R, gt.R, atol=1e-9)
    # the same folder under another name: the pairing would be a guess -> clear error, nothing written
    other = folder.rename(tmp_path / "kitchen")
    with pytest.raises(DataFormatError, match="5 videos .* but 4 pose rows"):
        prepare(other, tmp_path / "scene2")
    assert not (tmp_path / "scene2").exists()
    assert cli_main(["prepare", str(other), "--out", str(tmp_path / "scene2")]) == 1
    scene = prepare(other, tmp_path / "scene3", points="random", exclude_cameras=["cam13"])
    assert scene.camera_names == ["cam00", "cam01", "cam02", "cam03"]


@pytest.mark.parametrize("defect, message", [
    ("nan", "contain NaN"),
    ("skewed", "not orthonormal"),
    ("shape", r"expected an \[N, 17\] array"),
])
def test_bad_poses_file(kit, n3v_dir, tmp_path, defect, message):
    arr = np.load(n3v_dir / "poses_bounds.npy")
    if defect == "nan":
        arr[2, 3] = np.nan
    elif defect == "skewed":
        arr[1, :15] = (arr[1, :15].reshape(3, 5) @ np.diag([1.0, 1.2, 1.0, 1.0, 1.0])).reshape(15)
    else:
        arr = arr[:, :15]
    np.save(n3v_dir / "poses_bounds.npy", arr)
    with pytest.raises(DataFormatError, match=message) as e:
        prepare(n3v_dir, tmp_path / "scene", points="random")
    assert e.value.path.name == "poses_bounds.npy"
    assert not (tmp_path / "scene").exists()
    assert not list(tmp_path.glob(".scene.*"))  # no temporary leftovers


def test_missing_and_corrupt_video(kit, n3v_dir, tmp_path):
    (n3v_dir / "cam02.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42 truncated garbage" * 4)
    with pytest.raises(DataFormatError) as e:
        prepare(n3v_dir, tmp_path / "scene", points="random")
    assert e.value.path.name == "cam02.mp4"
    (n3v_dir / "cam02.mp4").unlink()  # now 4 videos for 5 rows
    with pytest.raises(DataFormatError, match="4 videos .* but 5 pose rows"):
        prepare(n3v_dir, tmp_path / "scene", points="random")


def test_existing_scene_survives_a_failed_prepare(kit, n3v_dir, tmp_path):
    out = tmp_path / "scene"
    prepare(n3v_dir, out, points="random")
    before = (out / "scene.json").read_text()
    arr = np.load(n3v_dir / "poses_bounds.npy")
    arr[0, 0] = np.inf
    np.save(n3v_dir / "poses_bounds.npy", arr)
    with pytest.raises(DataFormatError):
        prepare(n3v_dir, out, points="random")
    assert (out / "scene.json").read_text() == before


def test_variable_frame_rate_and_gt_sync_passthrough(kit, rig, rig_frames, tmp_path):
    folder = kit.write_n3v(tmp_path / "synthvfr", rig[:3], rig_frames)
    pts = [0.0, 0.03, 0.07, 0.1, 0.14, 0.2]
    write_video(folder / "cam02.mp4", rig_frames["cam02"], fps=30, pts_s=pts)
    gt = TimeMaps("cam00", {"cam00": TimeMap(0.0, 1.0, 1.0, "reference"), "cam01": TimeMap(0.25, 1.0, 1.0, "fixed"),
                            "cam02": TimeMap(-0.1, 1.0, 1.0, "fixed")})
    gt.save(folder / "gt_sync.json")
    scene = prepare(folder, tmp_path / "scene", points="random", frames="1:6")
    cam2 = scene.camera("cam02")
    np.testing.assert_allclose(cam2.frame_times_s, np.array(pts[1:]) - pts[1], atol=1e-4)
    assert scene.camera("cam01").frame_times_s is None
    out = load_time_maps(scene.gt_sync_path)
    # every clock restarts at its frame 1: cam00 at 1/30 s, cam01 at 1/30 s, cam02 at 0.03 s (local)
    assert out.cameras["cam00"].offset_s == pytest.approx(0.0)
    assert out.cameras["cam01"].offset_s == pytest.approx(0.25, abs=1e-4)
    assert out.cameras["cam02"].offset_s == pytest.approx(-0.1 + 0.03 - 1 / 30, abs=1e-4)
