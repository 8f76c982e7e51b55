"""GPU path of multi-process training (skipped on CPU machines): `sync4dgs train --gpus N` with NCCL, one
process per GPU, gsplat backend, densification and conversion active, replica checks every 4 iterations.
N = 1 runs on any CUDA host (the NCCL code path with a world of one); N = 2 needs two GPUs."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch

from sync4dgs.model.io import load_trained

pytestmark = pytest.mark.gpu

OVERRIDES = {"train.device": "cuda", "render.backend": "gsplat", "train.iterations": "40", "time.align": "false",
             "time.warmup_iterations": "10", "densify.static.refine_start_iter": "5",
             "densify.static.refine_every": "10", "densify.static.grow_grad2d": "1e-5",
             "densify.dynamic.refine_start_iter": "5", "densify.dynamic.refine_every": "10",
             "densify.dynamic.grow_grad2d": "1e-6", "densify.convert.start_iter": "5", "densify.convert.every": "10",
             "densify.convert.fraction": "0.1", "distributed.check_every": "4", "train.checkpoint_every": "20"}


@pytest.mark.parametrize("gpus", [1, 2])
def test_gpus_flag_trains_with_nccl(gpus, gaussian_scene, fast_overrides, tmp_path):
    if torch.cuda.device_count() < gpus:
        pytest.skip(f"needs {gpus} GPUs, the host has {torch.cuda.device_count()}")
    out = tmp_path / "m"
    flags = [x for k, v in {**fast_overrides, **OVERRIDES}.items() for x in (f"--{k}", v)]
    proc = subprocess.run([sys.executable, "-m", "sync4dgs", "train", "--gpus", str(gpus), "-m", str(out),
                           "-s", str(gaussian_scene.root), "--quiet", *flags],
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-6000:]
    stats = json.loads((out / "train_stats.json").read_text())
    assert stats["world_size"] == gpus and stats["iterations"] == 40 and stats["device"] == "cuda:0"
    model = load_trained(out).model
    assert model.n_dynamic > 0 and model.n_static != 45
    assert all(torch.isfinite(p).all() for p in model.parameters())
    assert (out / "checkpoints" / "ckpt_40.pt").is_file()
