"""benchmarks/peers/ex4dgs/score.py and summarize.py on render folders made from the ground truth."""

from __future__ import annotations

import json
import shutil

import cv2
import numpy as np
import pytest


def _fake_run(conv, scene, tmp_path, mode, noise=None):
    """An Ex4DGS run folder whose renders are the test frames the manifest names (optionally with noise)."""
    run = tmp_path / f"run_{mode}"
    man = conv.convert(scene.root, run / "input", mode)
    (run / "renders").mkdir()
    rng = np.random.default_rng(3)
    for j, i in enumerate(man["test_frames"]):
        src = scene.frames_path(scene.camera(man["test_camera"])) / f"{i:05d}.png"
        if noise is None:
            shutil.copy(src, run / "renders" / f"{j:05d}.png")
        else:
            img = cv2.imread(str(src)).astype(np.int16) + rng.integers(-noise, noise + 1, (16, 24, 3))
            cv2.imwrite(str(run / "renders" / f"{j:05d}.png"), np.clip(img, 0, 255).astype(np.uint8))
    (run / "train_stats.json").write_text(json.dumps({"iterations_done": 7, "completed": False, "train_loop_s": 1.5,
                                                      "peak_memory_allocated_bytes": 2**21}))
    (run / "renders" / "render_stats.json").write_text(json.dumps({"render_fps": 99.0, "n_static": 5, "n_dynamic": 2,
                                                                   "model_ply_bytes": 2**20}))
    return run


def test_ground_truth_renders_score_the_psnr_cap_on_common_frames(peer_module, whole_frame_scene, tmp_path, capsys):
    conv, score = peer_module("ex4dgs_input"), peer_module("score")
    naive = _fake_run(conv, whole_frame_scene, tmp_path, "naive")
    oracle = _fake_run(conv, whole_frame_scene, tmp_path, "oracle", noise=8)
    # a sync4dgs model folder: test/ours_N/renders/<camera>_<frame>.png, frames 0..9 of the test camera "left"
    rd = tmp_path / "s4" / "test" / "ours_30" / "renders"
    rd.mkdir(parents=True)
    for i in range(10):
        shutil.copy(whole_frame_scene.frames_path(whole_frame_scene.camera("left")) / f"{i:05d}.png",
                    rd / f"left_{i:05d}.png")
    shutil.copy(rd / "left_00000.png", rd / "other_00000.png")          # another camera's render: ignored
    out = tmp_path / "out"
    assert score.main(["--out", str(out), "--name", "whole", "--ex4dgs", "naive", str(naive),
                       "--ex4dgs", "oracle", str(oracle), "--sync4dgs", "oracle", str(tmp_path / "s4")]) == 0
    res = json.loads((out / "whole_peers.json").read_text())
    assert res["common_frames"] == list(range(2, 10)) and res["test_camera"] == "left"
    runs = res["runs"]
    assert set(runs) == {"ex4dgs_naive", "ex4dgs_oracle", "sync4dgs_oracle"}
    for name in ("ex4dgs_naive", "sync4dgs_oracle"):
        assert runs[name]["own"]["frames"] == 10 and runs[name]["common"]["frames"] == 8
        assert runs[name]["common"]["psnr"] == 100.0 and runs[name]["common"]["ssim"] == 1.0
        assert runs[name]["common"]["regions"]["static"]["psnr"] == 100.0
    noisy = runs["ex4dgs_oracle"]["common"]
    assert 25 < noisy["psnr"] < 50 and noisy["ssim"] < 1.0 and runs["ex4dgs_oracle"]["own"]["frames"] == 8
    assert runs["ex4dgs_naive"]["input_time_error_frames"]["max_abs"] == pytest.approx(3.0)
    assert runs["ex4dgs_oracle"]["input_time_error_frames"]["max_abs"] == pytest.approx(0.0)
    assert (out / "whole_montage.png").is_file() and cv2.imread(str(out / "whole_montage.png")) is not None
    assert "8 common test frames of left" in capsys.readouterr().out

    table = peer_module("summarize").rows(out / "whole_peers.json")
    by = {r[1]: r for r in table}
    assert by["ex4dgs_naive"][3] == "100.00" and by["ex4dgs_naive"][8] == "7 (cap)"
    assert by["ex4dgs_naive"][10] == "2" and by["ex4dgs_naive"][11] == "99" and by["ex4dgs_naive"][12] == "5+2"
    assert by["sync4dgs_oracle"][8] == "-"


def test_missing_renders_fail_with_one_clear_error(peer_module, whole_frame_scene, tmp_path, capsys):
    conv, score = peer_module("ex4dgs_input"), peer_module("score")
    run = tmp_path / "empty"
    conv.convert(whole_frame_scene.root, run / "input", "naive")
    (run / "renders").mkdir()
    assert score.main(["--out", str(tmp_path / "o"), "--name", "x", "--ex4dgs", "naive", str(run)]) == 2
    assert "no rendered test frames" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()
