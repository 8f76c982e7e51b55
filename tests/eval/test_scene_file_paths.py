"""``--source_path SCENE/scene.json`` (the file instead of its folder) works wherever a scene folder is taken."""

from __future__ import annotations

import json

import pytest

from sync4dgs.cli.main import main
from sync4dgs.data.scene import load_scene, scene_folder
from sync4dgs.errors import DataFormatError
from sync4dgs.eval import layout
from sync4dgs.model.io import load_trained

from .conftest import ITERATION


def test_scene_folder_and_load_scene_accept_the_file(tiny, tmp_path):
    root = tiny.scene.root
    assert scene_folder(root / "scene.json") == root
    assert scene_folder(root) == root
    assert scene_folder(tmp_path / "gone" / "scene.json") == tmp_path / "gone"   # missing: its folder, once
    assert load_scene(root / "scene.json").root == root
    with pytest.raises(DataFormatError) as e:
        load_scene(tmp_path / "gone" / "scene.json")
    assert str(e.value).count("scene.json") == 2          # "<dir>/scene.json: scene.json not found ..."
    assert "scene.json/scene.json" not in str(e.value)
    other = tmp_path / "notes.json"
    other.write_text("{}")
    with pytest.raises(DataFormatError, match="scene path is a file"):
        load_scene(other)


def test_render_and_metrics_take_the_scene_json(tiny, capsys):
    scene_json = str(tiny.scene.root / "scene.json")
    rc = main(["render", "-m", str(tiny.model_path), "-s", scene_json, "--skip_train", "--device", "cpu",
               "--quiet", "--no_video", "--max_frames", "2", "--montage_frames", "0"])
    assert rc == 0, capsys.readouterr().err
    assert len(list(layout.renders_dir(tiny.model_path, "test", ITERATION).glob("*.png"))) == 2
    rc = main(["metrics", "-m", str(tiny.model_path), "--source_path", scene_json, "--device", "cpu", "--quiet",
               "--no_flip", "--fps_repeats", "0", "--no_regions"])
    assert rc == 0, capsys.readouterr().err
    results = json.loads((tiny.model_path / "results.json").read_text())
    assert results["images"]["test"]["n_images"] == 2
    assert results["offsets"]["status"] == "computed"      # gt_sync.json found next to the given scene.json


def test_train_takes_the_scene_json(tiny, tmp_path, capsys):
    out = tmp_path / "trained"
    rc = main(["train", "-m", str(out), "-s", str(tiny.scene.root / "scene.json"), "--no_align",
               "--iterations", "2", "--train.device", "cpu", "--render.backend", "torch", "--model.sh_degree", "0",
               "--log.tensorboard", "false", "--quiet"])
    assert rc == 0, capsys.readouterr().err
    trained = load_trained(out, None, device="cpu")
    assert trained.iteration == 2
    assert trained.meta["scene"] == str(tiny.scene.root)    # the folder is recorded, not the file
