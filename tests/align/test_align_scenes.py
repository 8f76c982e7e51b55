"""End-to-end alignment of small rendered scenes with known time maps (tests never feed gt to the method)."""

import json

import numpy as np
import pytest

from sync4dgs.cli.main import main as cli_main
from sync4dgs.data.scene import load_scene
from sync4dgs.errors import SyncError
from sync4dgs.sync.align import AlignConfig, align_scene, load_trajectories, save_alignment
from sync4dgs.data.synth.toyscene import ToySceneConfig, make_toy_scene, toy_tracks
from sync4dgs.sync.align.tracks import CameraTracks, save_camera_tracks
from sync4dgs.timemap import load_time_maps

FPS = 30.0
# integer-frame and sub-frame offsets (seconds); cam00 is the reference
OFFSETS = [0.0, 4 / FPS, -7 / FPS, 0.37, -0.2133, 0.1017]


def _frame_errors(scene, result, gt):
    return {c.name: (result.time_maps.cameras[c.name].offset_s - gt.cameras[c.name].offset_s) * c.fps
            for c in scene.cameras}


@pytest.fixture(scope="module")
def main_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("toy_main")
    toy = make_toy_scene(root, ToySceneConfig(n_cameras=6, width=240, height=180, n_frames=60, offsets_s=OFFSETS,
                                              arc_deg=110, seed=3))
    result = align_scene(load_scene(root), AlignConfig(max_offset_s=1.0, rates="1", device="cpu"))
    return toy, result


def test_integer_and_subframe_offsets_within_half_a_frame(main_run):
    toy, result = main_run
    errs = _frame_errors(toy.scene, result, toy.gt)
    assert all(abs(e) < 0.5 for e in errs.values()), errs
    assert np.mean([abs(e) for e in errs.values()]) < 0.2, errs
    for name, m in result.time_maps.cameras.items():
        assert m.status == ("reference" if name == "cam00" else "aligned")
        assert m.rate == 1.0 and 0 < m.confidence <= 1


def test_outputs_round_trip(main_run, tmp_path):
    toy, result = main_run
    paths = save_alignment(result, tmp_path)
    back = load_time_maps(paths["offsets"])
    assert back.reference_camera == "cam00"
    for name, m in result.time_maps.cameras.items():
        b = back.cameras[name]
        assert b.status == m.status
        assert (b.offset_s, b.rate, b.confidence) == pytest.approx((m.offset_s, m.rate, m.confidence))
    traj = load_trajectories(paths["trajectories"])
    assert traj.xyz.shape == result.trajectories.xyz.shape and traj.rgb.dtype == np.uint8
    np.testing.assert_array_equal(np.isnan(traj.xyz), np.isnan(result.trajectories.xyz))
    assert paths["plot"].stat().st_size > 10_000 and paths["ply"].is_file()
    assert "pairs" in json.loads(paths["offsets"].read_text())["extra"]


def test_triangulated_trajectories_lie_on_the_moving_spheres(main_run):
    toy, result = main_run
    traj = result.trajectories
    assert traj.n >= 5
    centers = toy.motion.centers(traj.times_s)                                  # [T, S, 3]
    surf = np.linalg.norm(traj.xyz[:, :, None, :] - centers[None], axis=-1) - toy.motion.radius
    ok = np.isfinite(traj.xyz).all(-1)                                           # [M, T]
    err = np.abs(surf[ok]).min(-1)                                               # distance to nearest sphere
    assert ok.sum() >= 50
    # sphere radius ~0.45, cameras ~5 units away: 0.05 units is ~2 px at this resolution
    assert np.median(err) < 0.03 and np.percentile(err, 90) < 0.15


def test_mixed_frame_rates_are_recovered(tmp_path):
    true_fps = [30.0, 25.0, 24.0, 30.0, 25.0, 24.0]
    toy = make_toy_scene(tmp_path, ToySceneConfig(n_cameras=6, width=200, height=150, n_frames=72, true_fps=true_fps,
                                                  offsets_s=[0.0, 0.21, -0.33, 0.05, -0.12, 0.4], arc_deg=110, seed=5))
    result = align_scene(load_scene(tmp_path), AlignConfig(max_offset_s=1.0, rates="30,25,24", device="cpu"))
    for c in toy.scene.cameras:
        m, g = result.time_maps.cameras[c.name], toy.gt.cameras[c.name]
        assert m.status in ("aligned", "reference")
        assert abs(m.rate / g.rate - 1) < 0.002, (c.name, m.rate, g.rate)
        assert abs(m.offset_s - g.offset_s) * c.fps < 0.5, (c.name, m.offset_s, g.offset_s)


@pytest.mark.gpu
def test_cuda_matches_cpu(main_run):
    toy, cpu = main_run
    gpu = align_scene(toy.scene, AlignConfig(max_offset_s=1.0, rates="1", device="cuda"))
    for c in toy.scene.cameras:
        a, b = cpu.time_maps.cameras[c.name], gpu.time_maps.cameras[c.name]
        assert a.status == b.status and abs(a.offset_s - b.offset_s) * c.fps < 0.05


def test_external_tracks_and_variable_frame_rate(tmp_path):
    toy = make_toy_scene(tmp_path / "scene", ToySceneConfig(n_cameras=5, width=200, height=150, n_frames=50,
                                                            offsets_s=[0.0, 0.12, -0.2, 0.31, -0.05], arc_deg=100,
                                                            vfr_jitter=0.3, seed=9))
    assert toy.scene.cameras[1].frame_times_s is not None
    for name, xy in toy_tracks(toy).items():
        save_camera_tracks(tmp_path / "tracks" / f"{name}.npz", CameraTracks(name, xy, toy.scene.camera(name).tau_s()))
    result = align_scene(load_scene(tmp_path / "scene"), AlignConfig(max_offset_s=1.0, rates="1", track_cue="always"),
                         tracks_dir=tmp_path / "tracks")
    errs = _frame_errors(toy.scene, result, toy.gt)
    assert all(abs(e) < 0.5 for e in errs.values()), errs
    traj = result.trajectories
    ok = np.isfinite(traj.xyz).all(-1)
    assert traj.n >= 10 and ok.sum() >= 100
    surf = np.linalg.norm(traj.xyz[:, :, None, :] - toy.motion.centers(traj.times_s)[None], axis=-1) - toy.motion.radius
    assert np.median(np.abs(surf[ok]).min(-1)) < 0.01     # exact tracks: triangulation error from timing only


def _small(root, **kw):
    cfg = dict(n_cameras=4, width=128, height=96, n_frames=40, offsets_s=[0.0, 0.1, -0.1, 0.2], arc_deg=90, seed=7)
    cfg.update(kw)
    return make_toy_scene(root, ToySceneConfig(**cfg))


def test_no_motion_is_a_sync_error(tmp_path):
    _small(tmp_path, static=True)
    with pytest.raises(SyncError, match="no moving content"):
        align_scene(load_scene(tmp_path), AlignConfig(max_offset_s=0.5, rates="1"))


def test_single_camera_is_a_sync_error(tmp_path):
    _small(tmp_path, n_cameras=1, offsets_s=[0.0])
    with pytest.raises(SyncError, match="at least two cameras"):
        align_scene(load_scene(tmp_path), AlignConfig(max_offset_s=0.5))


def test_frozen_and_blind_cameras_are_unaligned_not_guessed(tmp_path):
    toy = _small(tmp_path, n_cameras=5, offsets_s=[0.0, 0.1, -0.1, 0.2, 0.15], frozen_cameras=(2,),
                 blind_cameras=(4,))
    result = align_scene(load_scene(tmp_path), AlignConfig(max_offset_s=0.5, rates="auto"))
    maps = result.time_maps.cameras
    for name in ("cam02", "cam04"):
        assert maps[name].status == "unaligned" and maps[name].confidence == 0.0
    for name in ("cam01", "cam03"):
        assert maps[name].status == "aligned"
        assert abs(maps[name].offset_s - toy.gt.cameras[name].offset_s) * FPS < 0.5


def test_reference_without_motion_is_a_sync_error(tmp_path):
    _small(tmp_path, frozen_cameras=(0,))
    with pytest.raises(SyncError, match="reference camera cam00"):
        align_scene(load_scene(tmp_path), AlignConfig(max_offset_s=0.5, rates="1"))


def test_cli_writes_offsets_and_prints_every_camera(tmp_path, capsys):
    toy = _small(tmp_path / "scene")
    out = tmp_path / "res" / "offsets.json"
    rc = cli_main(["align", str(tmp_path / "scene"), "--out", str(out), "--max_offset_s", "0.5", "--rates", "1",
                   "--device", "cpu"])
    assert rc == 0
    printed = capsys.readouterr().out
    for c in toy.scene.cameras:
        assert c.name in printed
    assert load_time_maps(out).cameras["cam03"].status == "aligned"
    for name in ("trajectories.npz", "trajectories.ply", "align_plot.png"):
        assert (out.parent / name).is_file()
    assert cli_main(["align", str(tmp_path / "scene"), "--rates", "fast"]) == 1     # clean ConfigError exit


def test_cli_takes_the_scene_json_and_writes_next_to_it(tmp_path, capsys):
    """``sync4dgs align SCENE/scene.json`` aligns SCENE and writes SCENE/offsets.json (not scene.json/...)."""
    _small(tmp_path / "scene")
    rc = cli_main(["align", str(tmp_path / "scene" / "scene.json"), "--max_offset_s", "0.5", "--rates", "1",
                   "--device", "cpu"])
    assert rc == 0, capsys.readouterr().err
    assert load_time_maps(tmp_path / "scene" / "offsets.json").cameras["cam03"].status == "aligned"
    assert f"wrote {tmp_path / 'scene' / 'offsets.json'}" in capsys.readouterr().out
