"""``prepare`` plumbing: autodetection, guards, CLI, points I/O and fallback, normalisation and time maps."""

from __future__ import annotations

import numpy as np
import pytest

from sync4dgs.cli.main import main as cli_main
from sync4dgs.data.points import load_points, random_points_in_frusta, save_points
from sync4dgs.data.readers import detect_format, prepare
from sync4dgs.data.readers.base import FrameRange
from sync4dgs.data.readers.common import compute_normalization, normalize_camera, shift_time_maps
from sync4dgs.data.scene import CameraSpec, FrameSource
from sync4dgs.errors import ConfigError, DataFormatError
from sync4dgs.timemap import TimeMap, TimeMaps, rereference


def _spec(c) -> CameraSpec:
    return CameraSpec(c.name, c.W, c.H, c.K, c.R, c.t, 30.0, 1, FrameSource("video", "x.mp4"))


def test_unknown_layout_lists_what_each_reader_looked_for(tmp_path):
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(DataFormatError) as e:
        detect_format(tmp_path)
    for fmt in ("n3v:", "technicolor:", "colmap:", "videos:"):
        assert fmt in str(e.value)
    assert cli_main(["prepare", str(tmp_path), "--out", str(tmp_path.parent / "o")]) == 1


def test_format_mismatch_and_output_guards(n3v_dir, tmp_path):
    with pytest.raises(DataFormatError, match="does not look like the technicolor format"):
        prepare(n3v_dir, tmp_path / "scene", fmt="technicolor")
    with pytest.raises(ConfigError, match="replace the dataset folder"):
        prepare(n3v_dir, n3v_dir)
    with pytest.raises(ConfigError, match="replace the dataset folder"):
        prepare(n3v_dir, n3v_dir.parent)
    with pytest.raises(ConfigError, match="unknown dataset format"):
        prepare(n3v_dir, tmp_path / "scene", fmt="blender")
    with pytest.raises(ConfigError, match="START:STOP"):
        FrameRange.parse("5")
    with pytest.raises(ConfigError, match="START < STOP"):
        FrameRange.parse("5:5")
    assert FrameRange.parse("3:") == FrameRange(3, None)


def test_cli_prepare_inside_dataset_folder(n3v_dir, capsys):
    out = n3v_dir / "sync4dgs_scene"
    assert cli_main(["prepare", str(n3v_dir), "--out", str(out), "--points", "random",
                     "--assume_synchronized", "--reference", "cam02", "--test_cameras", "cam00,cam04"]) == 0
    text = capsys.readouterr().out
    assert "cam04" in text and "random_frustum" in text
    from sync4dgs.data.scene import load_scene

    scene = load_scene(out)
    assert scene.reference_camera == "cam02" and scene.test_cameras == ["cam00", "cam04"]
    assert all(c.time_map == (0.0, 1.0) for c in scene.cameras)
    assert scene.cameras[0].frames.path == "../cam00.mp4"
    # preparing again (the scene folder now sits inside the dataset) is not confused by it
    assert cli_main(["prepare", str(n3v_dir), "--out", str(out), "--points", "random"]) == 0


def test_cli_prepare_n_random_points(n3v_dir, tmp_path, capsys):
    out = tmp_path / "scene"
    assert cli_main(["prepare", str(n3v_dir), "--out", str(out), "--points", "random",
                     "--n_random_points", "123"]) == 0
    from sync4dgs.data.scene import load_scene

    scene = load_scene(out)
    assert scene.source["points"]["count"] == 123 and scene.source["points"]["method"] == "random_frustum"
    assert len(load_points(out / "points3d.ply").xyz) == 123
    capsys.readouterr()
    assert cli_main(["prepare", str(n3v_dir), "--out", str(tmp_path / "bad"), "--points", "random",
                     "--n_random_points", "0"]) == 1
    assert "n_random_points must be a positive integer" in capsys.readouterr().err


def test_points_io_and_bad_clouds(tmp_path):
    xyz = np.random.default_rng(0).normal(size=(50, 3))
    rgb = np.random.default_rng(1).integers(0, 256, (50, 3)).astype(np.uint8)
    save_points(tmp_path / "p.ply", xyz, rgb)
    pc = load_points(tmp_path / "p.ply")
    np.testing.assert_allclose(pc.xyz, xyz, atol=1e-6)
    np.testing.assert_array_equal(pc.rgb, rgb)
    with pytest.raises(DataFormatError, match="empty point cloud"):
        save_points(tmp_path / "e.ply", np.zeros((0, 3)), np.zeros((0, 3)))
    with pytest.raises(DataFormatError, match="NaN"):
        save_points(tmp_path / "n.ply", np.full((2, 3), np.nan), np.zeros((2, 3)))
    (tmp_path / "bad.ply").write_bytes(b"ply\nformat nonsense\n")
    with pytest.raises(DataFormatError, match="bad.ply"):
        load_points(tmp_path / "bad.ply")
    assert not (tmp_path / "e.ply").exists()


def test_random_frustum_points_are_inside_the_frusta(rig):
    cams = [_spec(c) for c in rig]
    pc = random_points_in_frusta(cams, 1.0, 5.0, 2000, np.random.default_rng(0))
    assert len(pc) == 2000 and pc.method == "random_frustum"
    seen = np.zeros(len(pc.xyz), bool)
    for c in cams:
        z = pc.xyz @ c.R[2] + c.t[2]
        uv = c.project(pc.xyz)
        inside = (uv[:, 0] >= 0) & (uv[:, 0] <= c.width) & (uv[:, 1] >= 0) & (uv[:, 1] <= c.height)
        ok = (z >= 1.0 - 1e-9) & (z <= 5.0 + 1e-9) & inside
        seen |= ok
    assert seen.all()


def test_normalization_preserves_projections(rig):
    cams = [_spec(c) for c in rig]
    norm = compute_normalization(cams)
    X = np.random.default_rng(0).uniform(-2, 2, (20, 3)) + [0, 0, 5]
    for c in cams:
        n = normalize_camera(c, norm)
        np.testing.assert_allclose(n.project(norm.to_scene(X)), c.project(X), atol=1e-9)
    single = compute_normalization(cams[:1], near=4.0)
    assert single.scale == pytest.approx(0.25)


def test_time_map_shift_and_rebase():
    tm = TimeMaps("a", {"a": TimeMap(0.0, 1.0, 1.0, "reference"), "b": TimeMap(0.5, 1.0, 1.0, "fixed"),
                        "c": TimeMap(-0.2, 1.01, 1.0, "fixed")})
    # drop 3 frames of a and 1 of b at 30 fps: a's new first frame is at global 0.1
    sh = rereference(shift_time_maps(tm, {"a": 0.1, "b": 1 / 30}), "a", old_reference_status="fixed")
    assert sh.cameras["a"].offset_s == 0.0 and sh.cameras["a"].status == "reference"
    assert sh.cameras["b"].offset_s == pytest.approx(0.5 + 1 / 30 - 0.1)
    assert sh.cameras["c"].offset_s == pytest.approx(-0.3)
    rb = rereference(tm, "c", old_reference_status="fixed")
    # a frame at global time t has the same meaning before and after rebasing
    t_b_local = 0.7
    before = 0.5 + t_b_local
    after = rb.cameras["b"].offset_s + rb.cameras["b"].rate * t_b_local
    assert after == pytest.approx((before - (-0.2)) / 1.01)
    assert rb.cameras["a"].status == "fixed" and rb.cameras["c"].rate == 1.0
