"""3DGS PLY per time and the 4D npz: layout, render equality, round trip, CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from sync4dgs.cli.main import main as cli_main
from sync4dgs.data.scene import load_scene
from sync4dgs.errors import DataFormatError
from sync4dgs.eval.render_views import ViewRenderSettings
from sync4dgs.export.npz import load_npz, save_npz
from sync4dgs.export.ply import PROPERTY_NAMES, read_ply, write_ply
from sync4dgs.export.rendering import render_gaussians
from sync4dgs.model.io import load_trained, model_file, save_model
from sync4dgs.render.types import Gaussians

CPU = torch.device("cpu")
SETTINGS = ViewRenderSettings(backend="torch", near=0.1, far=20.0)


def test_ply_has_the_inria_layout_with_channel_major_rest(tmp_path):
    N = 3
    sh = torch.zeros(N, 4, 3)  # degree 1
    sh[:, 0] = torch.tensor([0.1, 0.2, 0.3])
    sh[:, 2, 1] = 5.0  # SH coefficient index 2 (rest index 1), channel G
    g = Gaussians(torch.arange(9.0).reshape(3, 3), torch.tensor([[2.0, 0, 0, 0]]).repeat(N, 1),
                  torch.full((N, 3), 0.5), torch.tensor([0.25, 0.5, 0.75]), sh)
    path = tmp_path / "a.ply"
    assert write_ply(path, g) == N
    from plyfile import PlyData

    v = PlyData.read(str(path))["vertex"]
    assert list(v.data.dtype.names) == PROPERTY_NAMES and len(PROPERTY_NAMES) == 62
    assert all(v.data.dtype[n] == np.float32 for n in PROPERTY_NAMES)
    assert np.allclose(v["f_rest_16"], 5.0)       # channel 1 (G) * 15 + rest index 1
    others = [n for n in PROPERTY_NAMES if n.startswith("f_rest_") and n != "f_rest_16"]
    assert all(np.all(v[n] == 0) for n in others)  # padded bands are zero
    assert np.allclose(v["opacity"], np.log([1 / 3, 1.0, 3.0]), atol=1e-6)  # logit
    assert np.allclose(v["scale_0"], np.log(0.5)) and np.allclose(v["rot_0"], 1.0)  # log scale, unit wxyz
    back = read_ply(path, sh_degree=1)
    assert torch.allclose(back.colors, sh) and torch.allclose(back.opacities, g.opacities)


def test_ply_of_a_model_time_renders_like_the_model(tiny_model_dir):
    m, scene_root = tiny_model_dir
    trained = load_trained(m)
    cam = load_scene(scene_root).camera("cam02")
    for t in (0.05, 0.63):  # dynamic Gaussians are partly faded at these times: temporal opacity folded in
        g = trained.model.at_time(t)
        path = m / f"t{t}.ply"
        write_ply(path, g)
        back = read_ply(path, sh_degree=3)  # padded to degree 3 on disk
        assert back.n == g.n
        a = render_gaussians(g, cam.viewmat, cam.K, cam.width, cam.height, SETTINGS, CPU)
        b = render_gaussians(back, cam.viewmat, cam.K, cam.width, cam.height, SETTINGS, CPU)
        assert a.mean() > 0.05  # not an empty view
        assert torch.allclose(a, b, atol=2e-5), float((a - b).abs().max())


def test_ply_min_opacity_drops_faded_gaussians(tiny_model_dir, tmp_path):
    trained = load_trained(tiny_model_dir[0])
    g = trained.model.at_time(3.0)  # long after every dynamic Gaussian disappeared
    n = write_ply(tmp_path / "x.ply", g, min_opacity=1 / 255)
    assert n == int((g.opacities >= 1 / 255).sum()) and n < g.n


def test_read_ply_names_the_file_on_missing_properties(tmp_path):
    from plyfile import PlyData, PlyElement

    arr = np.zeros(2, dtype=[("x", "f4"), ("y", "f4"), ("z", "f4")])
    p = tmp_path / "points.ply"
    PlyData([PlyElement.describe(arr, "vertex")]).write(str(p))
    with pytest.raises(DataFormatError, match="points.ply.*missing 3DGS properties"):
        read_ply(p)


def test_npz_roundtrip_is_exact(tiny_model_dir, tmp_path):
    trained = load_trained(tiny_model_dir[0])
    path = save_npz(tmp_path / "m.npz", trained.model, trained.time_maps, trained.iteration, trained.meta)
    back = load_npz(path)
    assert back.iteration == trained.iteration and back.meta == trained.meta
    assert back.time_maps.to_dict() == trained.time_maps.to_dict()
    assert back.model.config == trained.model.config
    for t in (-0.7, 0.0, 0.33, 0.9, 2.5):
        a, b = trained.model.at_time(t), back.model.at_time(t)
        for f in ("means", "quats", "scales", "opacities", "colors"):
            assert torch.equal(getattr(a, f), getattr(b, f)), (t, f)
    with np.load(path) as z:
        assert np.allclose(z["keyframe_times_s"], trained.model.keyframe_times_s().numpy())
        assert z["dynamic.t_center"].shape == (trained.model.n_dynamic, 2)


def test_load_npz_rejects_other_files(tmp_path):
    p = tmp_path / "other.npz"
    np.savez(p, a=np.zeros(3))
    with pytest.raises(DataFormatError, match="other.npz"):
        load_npz(p)


def test_cli_export_ply_all_times_and_npz(tiny_model_dir, tmp_path, tiny):
    m, _ = tiny_model_dir
    out = tmp_path / "plys"
    assert cli_main(["export", "--model_path", str(m), "--format", "ply", "--times", "all", "--out", str(out)]) == 0
    index = json.loads((out / "times.json").read_text())
    assert len(index["files"]) == tiny.N_FRAMES  # one per reference-camera frame
    assert [f["t_global_s"] for f in index["files"]] == pytest.approx(np.arange(tiny.N_FRAMES) / tiny.FPS)
    assert all((out / f["file"]).is_file() for f in index["files"])
    out2 = tmp_path / "sel"
    assert cli_main(["export", "--model_path", str(m), "--format", "ply", "--times", "0.0,0.5", "--out",
                     str(out2)]) == 0
    assert len(list(out2.glob("*.ply"))) == 2
    out3 = tmp_path / "npz"
    assert cli_main(["export", "--model_path", str(m), "--format", "npz", "--out", str(out3)]) == 0
    back = load_npz(out3 / "model_7.npz")
    assert back.iteration == 7 and back.model.n_dynamic == 12


def test_cli_export_rejects_bad_times(tiny_model_dir, capsys):
    rc = cli_main(["export", "--model_path", str(tiny_model_dir[0]), "--format", "ply", "--times", "0.1,abc"])
    assert rc != 0 and "--times" in capsys.readouterr().err


def test_export_command_does_not_import_the_trainer(tiny_model_dir, tmp_path):
    import subprocess
    import sys

    code = ("import sys; from sync4dgs.cli.main import main; "
            f"rc = main(['export', '--model_path', {str(tiny_model_dir[0])!r}, '--format', 'npz', '--out', "
            f"{str(tmp_path)!r}]); "
            "bad = [m for m in sys.modules if m.startswith(('sync4dgs.train', 'sync4dgs.viewer'))]; "
            "assert rc == 0 and not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


def test_npz_export_carries_the_appearance_maps(tiny_model_dir, tmp_path, capsys):
    import shutil

    m = tmp_path / "m"
    shutil.copytree(tiny_model_dir[0], m)
    maps = {"iteration": 7, "gauge_camera": "cam00",
            "cameras": {"cam01": {"gain": [0.9, 1.0, 1.1], "bias": [0.0, 0.01, -0.01]}}}
    (m / "appearance.json").write_text(json.dumps(maps))
    assert cli_main(["export", "--model_path", str(m), "--format", "npz", "--out", str(tmp_path / "o")]) == 0
    back = load_npz(tmp_path / "o" / "model_7.npz")
    assert back.meta["appearance"] == maps
    (m / "appearance.json").write_text(json.dumps({"cameras": {"cam01": {"gain": [1.0]}}}))
    assert cli_main(["export", "--model_path", str(m), "--format", "npz", "--out", str(tmp_path / "o2")]) != 0
    err = capsys.readouterr().err
    assert "appearance.json" in err and "not a valid appearance file" in err
    assert not (tmp_path / "o2").exists() or not list((tmp_path / "o2").glob("*.npz"))


def test_cli_export_takes_the_scene_json(tiny_model_dir, tmp_path, tiny):
    """``--source_path SCENE/scene.json`` names the scene like its folder (here the model records none)."""
    _, scene_root = tiny_model_dir
    bare = tmp_path / "bare"                                          # the same model, recording no scene
    save_model(model_file(bare, 7), tiny.make_model(), tiny.time_maps(), {})
    assert cli_main(["export", "--model_path", str(bare), "--format", "ply", "--times", "all", "--out",
                     str(tmp_path / "none")]) != 0                      # no scene known: --times all cannot work
    out = tmp_path / "plys"
    assert cli_main(["export", "--model_path", str(bare), "--format", "ply", "--times", "all",
                     "--source_path", str(scene_root / "scene.json"), "--out", str(out)]) == 0
    assert len(json.loads((out / "times.json").read_text())["files"]) == tiny.N_FRAMES
