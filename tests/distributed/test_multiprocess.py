"""Data-parallel training with 2 CPU ranks (gloo, torchrun subprocesses) on the trainer's tiny Gaussian scene:
equality with a single process that renders the same views, divergence / layout faults caught with clear
errors, and a 2-rank checkpoint resumed on 1 rank."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from sync4dgs.model.io import load_trained
from sync4dgs.train import load_config, train
from sync4dgs.train.checkpoint import checkpoint_path, load_checkpoint
from sync4dgs.train.distributed import free_port
from sync4dgs.train.setup import build_session
from sync4dgs.train.strategy.dynamic import DynamicDensifier
from sync4dgs.train.strategy.static import StaticDensifier
from sync4dgs.train.trainer import Trainer

N = 13           # refinement at 3, 6, 9, 12 and conversion at 5, 10: statistics are pending at 13
MORE = 6
ACTIVE = {
    "densify.static.refine_start_iter": "2", "densify.static.refine_every": "3", "densify.static.grow_grad2d": "1e-5",
    "densify.dynamic.refine_start_iter": "2", "densify.dynamic.refine_every": "3",
    "densify.dynamic.grow_grad2d": "1e-6", "densify.convert.start_iter": "1", "densify.convert.every": "5",
    "densify.convert.fraction": "0.1", "time.warmup_iterations": "3", "time.evidence_z": "0", "time.sync_every": "2",
    "distributed.check_every": "4", "train.iterations": str(N),
}
INITIAL_STATIC = 45      # the fixture's points3d.ply
LAUNCH_TIMEOUT_S = 180


def _flags(overrides: dict[str, str]) -> list[str]:
    return [x for k, v in overrides.items() for x in (f"--{k}", v)]


def _tensors(model) -> dict[str, torch.Tensor]:
    return {**{f"static.{k}": v.detach().clone() for k, v in model.static.items()},
            **{f"dynamic.{k}": v.detach().clone() for k, v in model.dynamic.items()},
            "key_t0_s": model.key_t0_s.detach().clone()}


def _stats(session) -> dict[str, torch.Tensor]:
    """Running densification statistics of a session, keyed like the checkpoint ("<callback>.<key>")."""
    return {f"{cb.name}.{k}": v.detach().clone() for cb in session.callbacks
            if isinstance(cb, (StaticDensifier, DynamicDensifier)) for k, v in cb.state.items() if torch.is_tensor(v)}


def _assert_same(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> None:
    assert a.keys() == b.keys()
    for k in a:
        assert a[k].shape == b[k].shape, k
        torch.testing.assert_close(a[k], b[k], rtol=1e-5, atol=1e-6, msg=k)


@pytest.fixture(scope="module")
def cfg_overrides(fast_overrides):
    return {**fast_overrides, **ACTIVE}


@pytest.fixture(scope="module")
def two_rank_model(gaussian_scene, cfg_overrides, tmp_path_factory):
    """`sync4dgs train --gpus 2` for N iterations (no CUDA here: 2 gloo CPU ranks through torchrun)."""
    out = tmp_path_factory.mktemp("two_ranks") / "m"
    cmd = [sys.executable, "-m", "sync4dgs", "train", "--gpus", "2", "-m", str(out), "-s", str(gaussian_scene.root),
           "--offsets", str(gaussian_scene.gt_sync_path), "--quiet", *_flags(cfg_overrides)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=LAUNCH_TIMEOUT_S)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    return out, proc.stdout


@pytest.fixture(scope="module")
def reference(gaussian_scene, cfg_overrides, batch_reference, tmp_path_factory):
    """One process, 2 views per iteration, N iterations: (session, parameters at N, statistics at N, torch RNG
    state at N; the global RNG draws the split offsets, and every test reseeds it)."""
    torch.set_num_threads(1)
    s = build_session(gaussian_scene, tmp_path_factory.mktemp("reference") / "m", load_config(None, cfg_overrides),
                      offsets_path=gaussian_scene.gt_sync_path, progress=False)
    batch_reference(s, N, batch=2)
    return s, _tensors(s.model), _stats(s), torch.get_rng_state()


def test_two_ranks_equal_one_process_rendering_both_views(two_rank_model, reference):
    out, stdout = two_rank_model
    session, ref_tensors, ref_stats, _rng = reference
    trained = load_trained(out)
    assert trained.iteration == N
    got = _tensors(trained.model)
    # densification (clone/split/prune) and static->dynamic conversion really happened on both sides
    assert trained.model.n_static != INITIAL_STATIC and trained.model.n_dynamic > 0
    assert (trained.model.n_static, trained.model.n_dynamic) == (session.model.n_static, session.model.n_dynamic)
    _assert_same(got, ref_tensors)
    ref_offsets = session.time.time_model.offset_values_s().tolist()
    learned = [trained.time_maps.cameras[n].offset_s for n in session.time.time_model.camera_names]
    assert learned == pytest.approx(ref_offsets, abs=1e-7)
    assert learned != pytest.approx([0.0, 0.1, -0.1, 0.2], abs=1e-6)       # time maps were learning
    # the checkpoint holds the statistics of BOTH ranks' views (rank 0 gathered them), i.e. no per-rank state
    ckpt = load_checkpoint(checkpoint_path(out, N))
    saved = {f"{name}.{k}": v for name in ("static_densify", "dynamic_densify")
             for k, v in ckpt["callbacks"][name]["state"].items() if torch.is_tensor(v)}
    _assert_same(saved, ref_stats)
    assert ref_stats["static_densify.motion_score"].abs().sum() > 0 and ref_stats["static_densify.grad2d"].sum() > 0
    stats = json.loads((out / "train_stats.json").read_text())
    assert stats["world_size"] == 2 and stats["iterations"] == N
    assert "on 2 ranks" in stdout


def test_two_rank_checkpoint_resumes_on_one_rank(two_rank_model, reference, gaussian_scene, cfg_overrides, tmp_path):
    out, _ = two_rank_model
    resumed_dir = tmp_path / "m"
    shutil.copytree(out, resumed_dir)
    ckpt = load_checkpoint(checkpoint_path(resumed_dir, N))
    cfg = load_config(None, {**cfg_overrides, "train.iterations": str(N + MORE)})
    s1 = build_session(gaussian_scene, tmp_path / "probe", cfg, resuming=True, progress=False)
    s1.load_state_dict(ckpt)
    for key, value in ckpt["model"].items():
        assert torch.equal(s1.model.state_dict()[key], value), key
    result = train(gaussian_scene.root, resumed_dir, cfg, offsets_path=gaussian_scene.gt_sync_path, progress=False)
    assert result.iteration == N + MORE and result.stats["iterations_this_run"] == MORE
    assert "world_size" not in result.stats and not torch.distributed.is_initialized()
    # ... and continues exactly like the single-process reference continuing with one view per iteration
    session, _, _, rng = reference
    session.cfg.train.iterations = N + MORE
    torch.set_rng_state(rng)
    Trainer(session).run()
    _assert_same(_tensors(load_trained(resumed_dir).model), _tensors(session.model))


def test_faults_on_one_rank_fail_every_rank_with_a_clear_error(gaussian_scene, fast_overrides, tmp_path):
    overrides = {**fast_overrides, "train.iterations": "10", "distributed.check_every": "4",
                 "densify.static.enabled": "false", "densify.dynamic.enabled": "false",
                 "densify.convert.enabled": "false"}
    (tmp_path / "overrides.json").write_text(json.dumps(overrides))
    worker = Path(__file__).with_name("fault_worker.py")
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_addr", "127.0.0.1",
           "--master_port", str(free_port()), str(worker), str(gaussian_scene.root), str(tmp_path),
           str(tmp_path / "overrides.json")]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=LAUNCH_TIMEOUT_S)
    assert proc.returncode == 0, proc.stderr[-4000:]         # no SIGABRT, no hang: both ranks raised and went on
    for rank in (0, 1):
        diverged = (tmp_path / f"diverge_rank{rank}.txt").read_text()
        # perturbed after iteration 5 on rank 1; distributed.check_every = 4 -> caught at iteration 8
        assert diverged.startswith("DistributedDivergenceError: ranks diverged at iteration 8"), diverged
        assert "model.static.means" in diverged
        diff = float(re.search(r"max \|difference\| between ranks = ([0-9.eE+-]+)", diverged).group(1))
        assert diff == pytest.approx(1e-3, rel=1e-2)
        layout = (tmp_path / f"layout_rank{rank}.txt").read_text()
        assert layout.startswith("DistributedError: ranks disagree on the layout of trainable parameters at "
                                 "iteration 3"), layout


def test_two_ranks_keep_every_feature_identical(gaussian_scene, fast_overrides, tmp_path):
    """Each rank renders its own view, so the camera deltas' and colour maps' gradients differ between ranks: the
    distributed hooks (the one place gradients cross ranks) average them with the Gaussians', the replica check
    (which covers every feature) passes, and rank 0 writes each feature's file."""
    overrides = {**fast_overrides, "train.iterations": "8", "distributed.check_every": "2",
                 "camera.refine_pose": "true", "camera.start_iter": "1", "camera.pose_lr": "1e-3",
                 "appearance.enabled": "true", "appearance.start_iter": "1", "appearance.lr": "0.01",
                 "time.warmup_iterations": "2", "time.evidence_z": "0"}
    out = tmp_path / "m"
    cmd = [sys.executable, "-m", "sync4dgs", "train", "--gpus", "2", "-m", str(out), "-s", str(gaussian_scene.root),
           "--offsets", str(gaussian_scene.gt_sync_path), "--quiet", *_flags(overrides)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=LAUNCH_TIMEOUT_S)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    appearance = json.loads((out / "appearance.json").read_text())["cameras"]
    refined = json.loads((out / "cameras_refined.json").read_text())["cameras"]
    assert any(abs(g - 1.0) > 1e-4 for m in appearance.values() for g in m["gain"])        # learned
    assert any(abs(x) > 1e-6 for m in refined.values() for x in m["delta"]["translation"])
    ckpt = load_checkpoint(checkpoint_path(out, 8))
    assert {"camera", "appearance", "time"} <= set(ckpt["callbacks"])
