"""Smoke tests (CPU, tiny) of benchmarks/fps_bench.py and benchmarks/profile_train.py: they run end to end and
write what they promise."""

from __future__ import annotations

import gzip
import json

import pytest
import torch

from sync4dgs.model.io import model_file, save_model
from sync4dgs.timemap import TimeMap, TimeMaps


def test_fps_bench_random_model_on_cpu(bench_module, tmp_path, capsys):
    fps = bench_module("fps_bench")
    out = tmp_path / "fps"
    assert fps.main(["--random", "60,30,5", "--res", "24x16,16x12", "--device", "cpu", "--times", "3",
                     "--warmup", "1", "--out", str(out)]) == 0
    report = json.loads((out / "fps_bench.json").read_text())
    assert report["n_static"] == 60 and report["n_dynamic"] == 30 and report["num_keyframes"] == 5
    assert [(r["width"], r["height"]) for r in report["results"]] == [(24, 16), (16, 12)]
    for r in report["results"]:
        assert set(r["paths"]) == {"plain", "fast", "compact"} and r["render"]["latency_ms"] > 0
        for p in r["paths"].values():
            assert p["at_time"]["throughput_ms"] > 0 and p["both"]["fps"] > 0
        assert r["fast_vs_plain_max_abs_diff"] < 1e-4 and r["fast_vs_plain_image_max_abs_diff"] < 1e-3
        assert r["compact_vs_fast_image_max_abs_diff"] < 1e-6 and 60 <= r["compact_rows_mean"] <= 90
    table = (out / "fps_bench.md").read_text()
    assert "| 24x16 | fast |" in table and capsys.readouterr().out.rstrip().endswith(table.rstrip().splitlines()[-1])


def test_fps_bench_model_folder_uses_the_scene_camera(bench_module, tiny_scene, tmp_path):
    fps = bench_module("fps_bench")
    model = fps.random_model(40, 10, 4, torch.device("cpu"), duration_s=0.5)
    M = tmp_path / "M"
    maps = TimeMaps("cam00", {"cam00": TimeMap(), "cam01": TimeMap()})
    save_model(model_file(M, 7), model, maps, {"source_path": str(tiny_scene.root)})
    out = tmp_path / "o"
    assert fps.main(["--model", str(M), "--res", "16x12", "--device", "cpu", "--times", "2", "--warmup", "0",
                     "--paths", "fast", "--out", str(out)]) == 0
    report = json.loads((out / "fps_bench.json").read_text())
    assert report["camera"] == "cam00" and "iteration 7" in report["model"]
    assert set(report["results"][0]["paths"]) == {"fast"}


def test_fps_bench_rejects_bad_arguments(bench_module, tmp_path):
    fps = bench_module("fps_bench")
    with pytest.raises(SystemExit):
        fps.main(["--random", "10,5", "--out", str(tmp_path)])
    with pytest.raises(SystemExit):
        fps.main(["--random", "10,5,3", "--res", "big", "--out", str(tmp_path)])


def test_profile_train_on_a_tiny_scene(bench_module, tiny_scene, tmp_path):
    prof = bench_module("profile_train")
    out = tmp_path / "prof"
    assert prof.main(["--scene", str(tiny_scene.root), "--out", str(out), "--device", "cpu", "--warmup", "1",
                      "--timed", "1", "--iters", "2", "--set", "render.backend=torch",
                      "--set", "model.sh_degree=0"]) == 0
    report = json.loads((out / "profile_train.json").read_text())
    cats = report["categories"]
    for needed in ("render (rasterization)", "ssim", "at_time (keyframes)", "optimizer step + zero_grad",
                   "backward: render (rasterization)", "data (frames, sampling)"):
        assert needed in cats and cats[needed]["cpu_ms"] > 0, needed
    assert report["iters"] == 2 and report["timed_it_per_s"] > 0
    with gzip.open(out / "trace.json.gz", "rt") as f:
        assert "traceEvents" in json.load(f)
    import sync4dgs.train.trainer as trainer_mod
    assert trainer_mod.render.__module__ == "sync4dgs.render.api"            # wrappers removed afterwards
    assert torch.Tensor.backward.__qualname__ == "Tensor.backward"
