"""Checkpoint round trip and resume: train 2N == train N + resume N (same seeds), with densification,
conversion and time-map learning active on both sides of the break."""

from __future__ import annotations

import json

import numpy as np
import torch

from sync4dgs.model.io import load_trained
from sync4dgs.train import train
from sync4dgs.train.checkpoint import latest_checkpoint, list_checkpoints, load_checkpoint

N = 8
ACTIVE = {
    "densify.static.refine_start_iter": "2", "densify.static.refine_every": "3", "densify.static.grow_grad2d": "1e-5",
    "densify.dynamic.refine_start_iter": "2", "densify.dynamic.refine_every": "3",
    "densify.dynamic.grow_grad2d": "1e-6", "densify.dynamic.temporal_jitter": "true",
    "densify.convert.start_iter": "1", "densify.convert.every": "5", "densify.convert.fraction": "0.1",
    "time.warmup_iterations": "3", "time.sync_every": "2", "guard.check_every": "4", "model.sh_degree": "1",
    "train.sh_degree_interval": "6", "appearance.enabled": "true", "appearance.start_iter": "2",
    "appearance.lr": "0.01",
}


def _tensors(path):
    tm = load_trained(path)
    return {**{f"s.{k}": v for k, v in tm.model.static.items()}, **{f"d.{k}": v for k, v in tm.model.dynamic.items()},
            "t0": tm.model.key_t0_s}, tm.time_maps


def test_resume_reproduces_uninterrupted_training(gaussian_scene, make_cfg, offsets_file, tmp_path):
    offsets = offsets_file(tmp_path / "offsets.json", {"cam00": 0.0, "cam01": 0.3, "cam02": -0.1, "cam03": 0.2})
    full = train(gaussian_scene.root, tmp_path / "full", make_cfg({**ACTIVE, "train.iterations": str(2 * N)}),
                 offsets_path=offsets, progress=False)
    half = train(gaussian_scene.root, tmp_path / "half", make_cfg({**ACTIVE, "train.iterations": str(N)}),
                 offsets_path=offsets, progress=False)
    assert half.iteration == N and latest_checkpoint(tmp_path / "half").name == f"ckpt_{N}.pt"
    resumed = train(gaussian_scene.root, tmp_path / "half", make_cfg({**ACTIVE, "train.iterations": str(2 * N)}),
                    offsets_path=offsets, progress=False)
    assert resumed.iteration == full.iteration == 2 * N
    assert resumed.stats["iterations_this_run"] == N

    a, maps_a = _tensors(full.model_file)
    b, maps_b = _tensors(resumed.model_file)
    assert a.keys() == b.keys()
    for k in a:
        assert a[k].shape == b[k].shape, k
        torch.testing.assert_close(a[k], b[k], rtol=1e-6, atol=1e-7, msg=k)
    for name, m in maps_a.cameras.items():
        assert abs(m.offset_s - maps_b.cameras[name].offset_s) < 1e-7
    assert maps_a.cameras["cam01"].offset_s != 0.3          # time maps were learning across the break
    app_a, app_b = (json.loads((tmp_path / d / "appearance.json").read_text())["cameras"] for d in ("full", "half"))
    for name in app_a:                                        # colour maps too (they learn from iteration 3 on)
        np.testing.assert_allclose(app_a[name]["gain"], app_b[name]["gain"], rtol=1e-6)
        np.testing.assert_allclose(app_a[name]["bias"], app_b[name]["bias"], atol=1e-7)
    assert app_a["cam01"]["gain"] != [1.0, 1.0, 1.0]
    # the offsets log continues where the first run stopped (no duplicated rows)
    rows = (tmp_path / "half" / "offsets.csv").read_text().splitlines()[1:]
    its = [int(r.split(",")[0]) for r in rows]
    assert its == sorted(set(its)) and its[-1] == 2 * N


def test_checkpoint_contents_and_retention(gaussian_scene, make_cfg, tmp_path):
    cfg = make_cfg({"train.iterations": "6", "train.checkpoint_every": "2", "train.keep_checkpoints": "2",
                    "time.align": "false"})
    train(gaussian_scene.root, tmp_path / "m", cfg, progress=False)
    its = [it for it, _ in list_checkpoints(tmp_path / "m")]
    assert its == [4, 6]                                     # older ones deleted
    ck = load_checkpoint(latest_checkpoint(tmp_path / "m"))
    assert ck["iteration"] == 6
    assert {"model", "optimizers", "callbacks", "schedule", "rng", "config"} <= set(ck)
    assert {"time", "static_densify", "dynamic_densify", "convert", "guard"} <= set(ck["callbacks"])
    assert set(ck["optimizers"]["static"]) == {"means", "quats", "scales", "opacities", "sh0", "shN"}
