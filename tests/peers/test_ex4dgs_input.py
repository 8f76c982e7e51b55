"""benchmarks/peers/ex4dgs/ex4dgs_input.py: our scenes -> Ex4DGS's N3V input layout, naive and re-timed (oracle)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from sync4dgs.data.points import load_points
from sync4dgs.data.synth.llff import decode_poses_bounds
from sync4dgs.errors import DataFormatError
from sync4dgs.timemap import load_time_maps

from .conftest import make_scene


def _colmap(folder):
    """Our own reading of the COLMAP text model we wrote: {name: (camera params, qvec, tvec)}."""
    cams = {}
    for line in (folder / "cameras.txt").read_text().splitlines():
        if line and not line.startswith("#"):
            e = line.split()
            cams[int(e[0])] = (e[1], int(e[2]), int(e[3]), [float(v) for v in e[4:]])
    lines = [ln for ln in (folder / "images.txt").read_text().split("\n") if not ln.startswith("#")]
    out = {}
    for k in range(0, len(lines) - 1, 2):
        e = lines[k].split()
        assert lines[k + 1] == ""                             # no 2D points: an empty second line
        out[e[9]] = (cams[int(e[8])], np.array([float(v) for v in e[1:5]]), np.array([float(v) for v in e[5:8]]))
    return out


def test_quaternions_round_trip_and_match_colmap_convention(peer_module):
    conv = peer_module("ex4dgs_input")
    assert np.allclose(conv.rotmat_to_qvec(np.eye(3)), [1, 0, 0, 0])
    half_turn_x = np.diag([1.0, -1.0, -1.0])
    assert np.allclose(np.abs(conv.rotmat_to_qvec(half_turn_x)), [0, 1, 0, 0])
    for seed in range(20):
        R = Rotation.random(random_state=seed).as_matrix()
        q = conv.rotmat_to_qvec(R)
        assert q[0] >= 0 and abs(np.linalg.norm(q) - 1) < 1e-12
        assert np.abs(conv.qvec_to_rotmat(q) - R).max() < 1e-12
        xyzw = Rotation.from_matrix(R).as_quat()             # scipy: scalar last, same rotation
        assert min(np.abs(q - np.r_[xyzw[3], xyzw[:3]]).max(), np.abs(q + np.r_[xyzw[3], xyzw[:3]]).max()) < 1e-9


def test_oracle_retiming_whole_frame_offsets_is_exact(peer_module, whole_frame_scene):
    conv = peer_module("ex4dgs_input")
    truth = load_time_maps(whole_frame_scene.gt_sync_path)
    views, timeline = conv.plan_views(whole_frame_scene, "oracle", "left", truth)
    # left (test, reference) -> cam00; training cameras keep scene order: cam00 -> cam01, cam05 -> cam02
    assert [(v.name, v.source) for v in views] == [("cam00", "left"), ("cam01", "cam00"), ("cam02", "cam05")]
    assert timeline["first_reference_frame"] == 2 and timeline["t0_s"] == pytest.approx(2 / 30)
    assert views[0].frames == list(range(2, 10))             # reference frames 2..9
    assert views[1].frames == list(range(0, 10))             # starts 2 frames late: its frame 0 is instant 2
    assert views[2].frames == list(range(5, 12))             # starts 3 frames early: instant 2 is its frame 5
    assert all(abs(e) < 1e-12 for v in views for e in v.time_error_s)


def test_naive_keeps_frames_and_records_the_clock_error(peer_module, whole_frame_scene):
    conv = peer_module("ex4dgs_input")
    truth = load_time_maps(whole_frame_scene.gt_sync_path)
    views, timeline = conv.plan_views(whole_frame_scene, "naive", "left", truth)
    assert timeline["t0_s"] == 0.0
    assert [len(v.frames) for v in views] == [10, 10, 12] and all(v.frames == sorted(v.frames) for v in views)
    assert np.allclose(np.array(views[1].time_error_s) * 30, 2.0)
    assert np.allclose(np.array(views[2].time_error_s) * 30, -3.0)
    assert np.allclose(views[0].time_error_s, 0.0)


def test_oracle_subframe_and_other_rates_nearest_frame_within_half_a_period(peer_module, subframe_scene):
    conv = peer_module("ex4dgs_input")
    truth = load_time_maps(subframe_scene.gt_sync_path)
    views, timeline = conv.plan_views(subframe_scene, "oracle", "r", truth)
    assert timeline["first_reference_frame"] == 1           # 'a' covers instants from 0.9 reference frames on
    by = {v.source: v for v in views}
    assert by["r"].frames == list(range(1, 15)) and len(by["a"].frames) == 15 and len(by["b"].frames) == 14
    assert np.allclose(np.array(by["a"].time_error_s) * 30, 0.4)
    fps = {"r": 30.0, "a": 30.0, "b": 25.0}
    for v in views:
        assert np.all(np.abs(v.time_error_s) <= 0.5 / fps[v.source] + 1e-12)
        assert np.all(np.diff(v.frames) >= 0)
    assert len(set(by["b"].frames)) < len(by["b"].frames)   # 25 fps on a 30 fps timeline: some frames serve twice


def test_convert_writes_the_layout_ex4dgs_reads(peer_module, whole_frame_scene, tmp_path):
    conv = peer_module("ex4dgs_input")
    out = tmp_path / "ex" / "whole_oracle"
    man = conv.convert(whole_frame_scene.root, out, "oracle")
    assert sorted(p.name for p in out.iterdir()) == ["cam00", "cam01", "cam02", "colmap_0", "ex4dgs_input.json",
                                                    "poses_bounds.npy"]
    assert json.loads((out / conv.MANIFEST).read_text()) == man
    assert man["test_camera"] == "left" and man["test_frames"] == list(range(2, 10))
    model = _colmap(out / "colmap_0" / "sparse" / "0")
    assert sorted(model) == ["cam00.png", "cam01.png", "cam02.png"]
    pb = decode_poses_bounds(np.load(out / "poses_bounds.npy"))
    for k, (view, spec) in enumerate(sorted(man["views"].items())):
        cam = whole_frame_scene.camera(spec["source"])
        (kind, w, h, params), q, t = model[f"{view}.png"]
        assert kind == "PINHOLE" and (w, h) == (cam.width, cam.height)
        assert np.allclose(params, [cam.K[0, 0], cam.K[1, 1], cam.K[0, 2], cam.K[1, 2]])
        assert np.abs(conv.qvec_to_rotmat(q) - cam.R).max() < 1e-12 and np.allclose(t, cam.t)
        assert np.allclose(pb["R"][k], cam.R) and np.allclose(pb["t"][k], cam.t)
        assert pb["height"][k] == cam.height and pb["focal"][k] == pytest.approx(cam.K[0, 0])
        files = sorted((out / view).iterdir())
        assert [f.name for f in files] == [f"{j:05d}.png" for j in range(len(spec["frames"]))]
        for f, i in zip(files, spec["frames"]):
            assert f.read_bytes() == (whole_frame_scene.frames_path(cam) / f"{i:05d}.png").read_bytes()
    pts, ours = load_points(out / "colmap_0" / "sparse" / "0" / "points3D.ply"), load_points(whole_frame_scene.points_path)
    assert np.allclose(pts.xyz, ours.xyz, atol=1e-6) and np.array_equal(pts.rgb, ours.rgb)


def test_copy_writes_png_files_with_the_same_pixels(peer_module, whole_frame_scene, tmp_path):
    import cv2

    conv = peer_module("ex4dgs_input")
    out = tmp_path / "copied"
    man = conv.convert(whole_frame_scene.root, out, "naive", copy=True)
    f = out / "cam02" / "00004.png"
    assert f.is_file() and not f.is_symlink()
    src = whole_frame_scene.frames_path(whole_frame_scene.camera(man["views"]["cam02"]["source"])) / "00004.png"
    assert np.array_equal(cv2.imread(str(f)), cv2.imread(str(src)))


def test_convert_replaces_an_earlier_output_atomically(peer_module, whole_frame_scene, tmp_path):
    conv = peer_module("ex4dgs_input")
    out = tmp_path / "again"
    conv.convert(whole_frame_scene.root, out, "naive")
    conv.convert(whole_frame_scene.root, out, "oracle")
    assert json.loads((out / conv.MANIFEST).read_text())["mode"] == "oracle"
    assert len(list((out / "cam01").iterdir())) == 10 and not list(tmp_path.glob(".again*"))


def test_bad_inputs_fail_with_one_clear_error(peer_module, whole_frame_scene, tmp_path):
    conv = peer_module("ex4dgs_input")
    with pytest.raises(DataFormatError, match="must not contain 'cam00'"):
        conv.convert(whole_frame_scene.root, tmp_path / "cam00_run", "naive")
    with pytest.raises(DataFormatError, match="'nope' is not among"):
        conv.convert(whole_frame_scene.root, tmp_path / "x", "naive", test_camera="nope")
    with pytest.raises(ValueError, match="mode must be one of"):
        conv.plan_views(whole_frame_scene, "learned", "left", load_time_maps(whole_frame_scene.gt_sync_path))
    whole_frame_scene.gt_sync_path.unlink()
    with pytest.raises(DataFormatError, match="gt_sync.json.*true time maps not found"):
        conv.convert(whole_frame_scene.root, tmp_path / "y", "naive")
    assert not (tmp_path / "x").exists() and not (tmp_path / "y").exists()


def test_off_centre_principal_point_is_refused(peer_module, tmp_path):
    conv = peer_module("ex4dgs_input")
    scene = make_scene(tmp_path / "off", [("c0", 30.0, 4, 0.0), ("c1", 30.0, 4, 0.0)], test="c0", reference="c0",
                       cx_shift=3.0)
    with pytest.raises(DataFormatError, match="principal point .* off the image centre"):
        conv.convert(scene.root, tmp_path / "o", "naive")


def test_no_shared_instant_under_the_truth_is_refused(peer_module, tmp_path):
    conv = peer_module("ex4dgs_input")
    scene = make_scene(tmp_path / "apart", [("c0", 30.0, 4, 0.0), ("c1", 30.0, 4, 1.0)], test="c0", reference="c0")
    with pytest.raises(DataFormatError, match="shares no instant"):
        conv.convert(scene.root, tmp_path / "o", "oracle")
    assert conv.convert(scene.root, tmp_path / "n", "naive")["mode"] == "naive"


def test_command_line(peer_module, whole_frame_scene, tmp_path, capsys):
    conv = peer_module("ex4dgs_input")
    assert conv.main([str(whole_frame_scene.root / "scene.json"), str(tmp_path / "cli"), "--mode", "oracle"]) == 0
    assert "oracle, 3 views" in capsys.readouterr().out
    assert conv.main([str(tmp_path / "missing"), str(tmp_path / "cli2"), "--mode", "naive"]) == 2
    assert "scene.json not found" in capsys.readouterr().err
