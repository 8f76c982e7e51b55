"""Generator outputs: presets, canonical layout, exact capture times, ground-truth offsets, determinism."""

import json

import numpy as np
import pytest

from sync4dgs.data.frames import open_frames, read_image
from sync4dgs.data.scene import load_scene
from sync4dgs.data.synth import PRESETS, generate, load_synth, make_config, plan_synth, render_geometry, render_view
from sync4dgs.data.synth.outputs import to_uint8
from sync4dgs.data.synth.scene_def import ROOM_MAX_M, ROOM_MIN_M
from sync4dgs.cli.main import main as cli_main
from sync4dgs.errors import ConfigError, DataFormatError
from sync4dgs.timemap import load_time_maps


def _assert_same_uint8(a, b):
    """Equal images, allowing a 1-level difference where float rounding straddles a quantisation step."""
    d = np.abs(a.astype(int) - b.astype(int))
    assert d.max() <= 1 and (d == 0).mean() > 0.999


@pytest.mark.parametrize("preset,cams,frames,w,h,max_off", [
    ("tiny", 4, 24, 96, 72, 0.3), ("demo", 6, 48, 160, 120, 0.5), ("n3v", 20, 300, 1352, 1014, 1.0)])
def test_presets_have_documented_sizes(preset, cams, frames, w, h, max_off):
    plan = plan_synth(make_config(preset))
    assert len(plan.cameras) == cams and plan.cameras[0].name == "cam00"
    assert all((c.width, c.height) == (w, h) for c in plan.cameras)
    assert plan.clocks[0].n_frames == frames and plan.clocks[0].fps == 30.0
    offsets = np.array([c.offset_s for c in plan.clocks])
    assert offsets[0] == 0.0 and np.all(np.abs(offsets) <= max_off + 1e-12)
    assert len(set(np.round(offsets, 9))) > 1  # not all synchronized
    frac = offsets * 30.0 - np.round(offsets * 30.0)
    if PRESETS[preset].get("subframe"):
        assert np.abs(frac[1:]).max() > 0.05  # real sub-frame parts
    else:
        np.testing.assert_allclose(frac, 0.0, atol=1e-9)  # whole reference frames


def test_n3v_preset_has_one_25fps_camera_with_the_same_duration():
    plan = plan_synth(make_config("n3v"))
    slow = [(cam.name, clk) for cam, clk in zip(plan.cameras, plan.clocks) if clk.fps != 30.0]
    assert len(slow) == 1 and slow[0][1].fps == 25.0 and slow[0][1].n_frames == 250


def test_explicit_settings_override_preset_and_bad_settings_fail():
    cfg = make_config("tiny", n_cams=3, width=64, height=48, max_offset_s=None)
    assert (cfg.n_cams, cfg.width, cfg.height, cfg.n_frames, cfg.max_offset_s) == (3, 64, 48, 24, 0.3)
    with pytest.raises(ConfigError, match="even"):
        make_config("tiny", width=97)
    with pytest.raises(ConfigError, match="preset"):
        make_config("huge")
    with pytest.raises(ConfigError, match="fps"):
        make_config(fps_mix=(30.0, -1.0))


def test_canonical_layout_loads(tiny_canonical):
    root, cfg = tiny_canonical
    scene = load_scene(root)
    assert scene.camera_names == [f"cam{k:02d}" for k in range(4)]
    assert scene.reference_camera == "cam00" and scene.test_cameras == ["cam00"]
    assert 0 < scene.near < scene.far
    for cam in scene.cameras:
        frames = open_frames(scene, cam)
        assert len(frames) == cam.n_frames == 24 and cam.fps == 30.0
        assert frames[0].shape == (72, 96, 3) and frames[0].dtype == np.uint8
        assert cam.time_map is None  # offsets are to be estimated; the truth is in gt_sync.json
    from plyfile import PlyData

    v = PlyData.read(str(scene.points_path))["vertex"]
    assert {p.name for p in v.properties} == {"x", "y", "z", "red", "green", "blue"}
    xyz = np.stack([v["x"], v["y"], v["z"]], 1)
    assert 0.8 * cfg.n_points <= len(xyz) <= cfg.n_points
    assert np.all(xyz >= np.array(ROOM_MIN_M) - 0.02) and np.all(xyz <= np.array(ROOM_MAX_M) + 0.02)
    rgb = np.stack([v["red"], v["green"], v["blue"]], 1).astype(float)
    assert rgb.std() > 10  # textured, not flat


def test_points_have_the_colour_the_cameras_see(tiny_canonical):
    root, _ = tiny_canonical
    scene, plan = load_scene(root), load_synth(root)
    from plyfile import PlyData

    v = PlyData.read(str(scene.points_path))["vertex"]
    xyz = np.stack([v["x"], v["y"], v["z"]], 1).astype(np.float64)
    rgb = np.stack([v["red"], v["green"], v["blue"]], 1).astype(int)
    cam = plan.cameras[0]
    geo = render_geometry(plan.scene, cam.K, cam.R, cam.t, cam.width, cam.height, 0.0)
    uv = scene.camera("cam00").project(xyz)
    ij = np.floor(uv).astype(int)
    inside = (ij[:, 0] >= 0) & (ij[:, 0] < cam.width) & (ij[:, 1] >= 0) & (ij[:, 1] < cam.height)
    depth = (xyz @ cam.R.T + cam.t)[:, 2]
    seen = inside.copy()
    seen[inside] = np.abs(geo.depth[ij[inside, 1], ij[inside, 0]] - depth[inside]) < 0.03
    assert seen.sum() > 200
    # Same surface point (within the pixel footprint): similar colour.
    diff = np.abs(rgb[seen] - np.round(geo.rgb[ij[seen, 1], ij[seen, 0]] * 255)).mean()
    assert diff < 20


def test_frames_are_rendered_exactly_at_their_capture_times(tiny_canonical):
    root, cfg = tiny_canonical
    scene, plan = load_scene(root), load_synth(root)
    gt = load_time_maps(scene.gt_sync_path)
    for cam in scene.cameras:
        frames = open_frames(scene, cam)
        offset = gt.cameras[cam.name].offset_s
        for i in (0, 11, cam.n_frames - 1):
            t = offset + i / cam.fps
            want = to_uint8(render_view(plan.scene, cam.K, cam.R, cam.t, cam.width, cam.height, t, "cpu",
                                        cfg.supersample))
            _assert_same_uint8(frames[i], want)
            # A frame rendered at another time differs, on the moving objects only.
            other = to_uint8(render_view(plan.scene, cam.K, cam.R, cam.t, cam.width, cam.height, t + 0.1, "cpu",
                                         cfg.supersample))
            geo = render_geometry(plan.scene, cam.K, cam.R, cam.t, cam.width, cam.height, t)
            moving_ids = [k for k, p in enumerate(plan.scene.primitives) if not p.is_static]
            on_moving = np.isin(geo.prim, moving_ids)
            diff = np.abs(other.astype(int) - frames[i].astype(int)).max(-1)
            assert on_moving.sum() > 20 and (diff[on_moving] > 10).mean() > 0.3


def test_gt_sync_matches_the_offsets_used(tiny_canonical):
    root, cfg = tiny_canonical
    gt = load_time_maps(root / "gt_sync.json")
    plan = plan_synth(cfg)
    meta = json.loads((root / "synth_meta.json").read_text())
    assert gt.reference_camera == "cam00" and gt.cameras["cam00"].status == "reference"
    for cam, clk, m in zip(plan.cameras, plan.clocks, meta["cameras"]):
        assert gt.cameras[cam.name].offset_s == clk.offset_s == m["offset_s"]
        assert gt.cameras[cam.name].rate == 1.0
        assert gt.extra["fps"][cam.name] == clk.fps
    assert {o["name"] for o in meta["moving_objects"]} == {"orbiter", "accelerator", "fast_ball", "occluder"}


def test_same_seed_same_output_other_seed_differs(tmp_path):
    small = dict(n_cams=2, n_frames=3, width=48, height=36, max_offset_s=0.3, layout="canonical", device="cpu",
                 n_points=200)
    a = generate(make_config(**small, seed=3), tmp_path / "a", progress=False)
    b = generate(make_config(**small, seed=3), tmp_path / "b", progress=False)
    c = generate(make_config(**small, seed=4), tmp_path / "c", progress=False)
    for cam in ("cam00", "cam01"):
        for i in range(3):
            name = f"frames/{cam}/{i:05d}.png"
            np.testing.assert_array_equal(read_image(a / name), read_image(b / name))
    assert (a / "gt_sync.json").read_text() == (b / "gt_sync.json").read_text()
    assert (a / "points3d.ply").read_bytes() == (b / "points3d.ply").read_bytes()
    assert (a / "gt_sync.json").read_text() != (c / "gt_sync.json").read_text()
    assert not np.array_equal(read_image(a / "frames/cam00/00000.png"), read_image(c / "frames/cam00/00000.png"))


def test_refuses_to_replace_a_folder_it_did_not_write(tmp_path):
    precious = tmp_path / "mine"
    precious.mkdir()
    (precious / "thesis.tex").write_text("do not delete")
    with pytest.raises(DataFormatError, match="refusing"):
        generate(make_config("tiny", n_cams=2, n_frames=2, layout="canonical", device="cpu"), precious,
                 progress=False)
    assert (precious / "thesis.tex").read_text() == "do not delete"


def test_cli_reports_bad_settings_cleanly(tmp_path, capsys):
    rc = cli_main(["synth", "--preset", "tiny", "--res", "95x72", "--out", str(tmp_path / "x"), "--quiet"])
    assert rc == 1 and "even" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()


def test_metadata_rebuilds_the_exact_plan(tiny_canonical):
    root, cfg = tiny_canonical
    loaded, fresh = load_synth(root), plan_synth(cfg)
    assert loaded.scene.to_dict() == fresh.scene.to_dict()
    for a, b, ca, cb in zip(loaded.cameras, fresh.cameras, loaded.clocks, fresh.clocks):
        assert a.name == b.name and np.array_equal(a.R, b.R) and np.array_equal(a.t, b.t)
        assert np.array_equal(a.K, b.K) and ca == cb
    with pytest.raises(DataFormatError, match="synth_meta"):
        load_synth(root / "frames")
