"""Technicolor reader: cameras_parameters.txt parsing, image-sequence sources, file-number windows, bad input."""

from __future__ import annotations

import numpy as np
import pytest

from sync4dgs.data.frames import open_frames
from sync4dgs.data.readers import detect_format, prepare
from sync4dgs.data.readers.technicolor import parse_camera_parameters
from sync4dgs.data.scene import load_scene
from sync4dgs.errors import DataFormatError


@pytest.fixture
def techni_dir(kit, rig, rig_frames, tmp_path):
    return kit.write_technicolor(tmp_path / "Birthday", "Birthday", rig, rig_frames, first=1)


def test_parse_camera_parameters_roundtrip(kit, rig, techni_dir):
    params = parse_camera_parameters(techni_dir / "cameras_parameters.txt")
    assert len(params) == len(rig)
    for (K, R, t), c in zip(params, rig):
        np.testing.assert_allclose(K, c.K, atol=1e-9)
        np.testing.assert_allclose(R, c.R, atol=1e-9)
        np.testing.assert_allclose(t, c.t, atol=1e-9)


def test_prepare_technicolor_roundtrip_and_window(kit, rig, rig_frames, techni_dir, tmp_path):
    assert detect_format(techni_dir) == "technicolor"
    scene = prepare(techni_dir, tmp_path / "scene", frames="3:6", test_cameras=["cam03"])
    assert scene.camera_names == [c.name for c in rig]
    assert scene.test_cameras == ["cam03"] and scene.reference_camera == "cam00"
    X = np.random.default_rng(2).uniform([-2, -1.5, 3], [2, 1.5, 7.5], (100, 3))
    for got, gt in zip(scene.cameras, rig):
        assert np.abs(got.project(scene.normalization.to_scene(X)) - gt.project(X)).max() < 0.01
        assert got.n_frames == 3 and got.fps == 30.0 and got.frames.kind == "images"
        assert got.frames.start == 3  # file frame numbers 3, 4, 5 = rendered frames 2, 3, 4
    frames = open_frames(load_scene(tmp_path / "scene"), "cam04")
    np.testing.assert_array_equal(frames[0], rig_frames["cam04"][2])
    np.testing.assert_array_equal(frames[2], rig_frames["cam04"][4])
    assert scene.source["points"]["method"] == "triangulated" and scene.source["points"]["count"] >= 100


def test_default_test_camera_is_cam10_when_present(kit, room, tmp_path):
    cams = kit.make_rig(n=11, W=64, H=48, f=52.0, spread=2.5)
    frames = {c.name: np.full((2, 48, 64, 3), 100, np.uint8) for c in cams}
    folder = kit.write_technicolor(tmp_path / "Train", "Train", cams, frames)
    scene = prepare(folder, tmp_path / "scene", points="random", downscale=2)
    assert scene.test_cameras == ["cam10"]
    assert (scene.cameras[0].width, scene.cameras[0].height) == (32, 24)
    assert open_frames(load_scene(tmp_path / "scene"), "cam10")[1].shape == (24, 32, 3)


@pytest.mark.parametrize("edit, message", [
    (lambda ln: ln[:1] + [" ".join(ln[1].split()[:10])] + ln[2:], "expected 12 numbers"),
    (lambda ln: ln[:1] + [ln[1].replace(ln[1].split()[5], "nan", 1)] + ln[2:], "NaN or Inf"),
    (lambda ln: ln[:1] + [" ".join(ln[1].split()[:5] + ["0.01", "0"] + ln[1].split()[5:])] + ln[2:], "distortion"),
    (lambda ln: ln[:1] + [" ".join(ln[1].split()[:5] + ["2", "0", "0", "0"] + ln[1].split()[9:])] + ln[2:], "norm 2"),
])
def test_bad_camera_parameters(techni_dir, tmp_path, edit, message):
    p = techni_dir / "cameras_parameters.txt"
    p.write_text("\n".join(edit(p.read_text().splitlines())) + "\n")
    with pytest.raises(DataFormatError, match=message) as e:
        prepare(techni_dir, tmp_path / "scene", points="random")
    assert e.value.path.name == "cameras_parameters.txt"
    assert not (tmp_path / "scene").exists()


def test_unreadable_and_missing_frames(techni_dir, tmp_path):
    bad = techni_dir / "Birthday_undist_00004_02.png"
    bad.write_bytes(b"not a png")
    with pytest.raises(DataFormatError, match="unreadable") as e:
        prepare(techni_dir, tmp_path / "scene", points="random")
    assert e.value.path == bad
    bad.unlink()
    with pytest.raises(DataFormatError, match=r"camera 02: frame file\(s\) \[4\] missing"):
        prepare(techni_dir, tmp_path / "scene", points="random")
    assert not (tmp_path / "scene").exists()
