"""Distributed building blocks in one process: rank slots of the shared samplers, launch commands and
environment, the command line that ranks receive, and a 1-rank torchrun job (as `torchrun --nproc_per_node 1`
on one GPU would run it) equal to a plain single process."""

from __future__ import annotations

import argparse

import pytest
import torch

from sync4dgs.errors import ConfigError
from sync4dgs.train import load_config, train
from sync4dgs.train.checkpoint import latest_checkpoint, load_checkpoint
from sync4dgs.train.command import add_arguments, argv_from_args, overrides_from_args
from sync4dgs.train.distributed import (MULTICAST_OFF_ENV, RankInfo, RankSlotBackground, RankSlotViewSampler,
                                        distributed_requested, free_port, launch_env, rank_device, torchrun_command)
from sync4dgs.train.sampler import BackgroundSampler, ViewSampler

N_FRAMES = [5, 7]          # 12 views: 20 iterations x 2 ranks cross three epoch reshuffles


def test_rank_slots_partition_the_global_batch_and_the_state_is_global():
    ranks = [RankSlotViewSampler(ViewSampler(N_FRAMES, seed=3), r, 2) for r in range(2)]
    single = ViewSampler(N_FRAMES, seed=3)
    for _ in range(20):
        assert [r.next() for r in ranks] == [single.next(), single.next()]
    # a checkpoint of the 2-rank job (rank 0's sampler state) continues the same stream on 1 rank
    one = RankSlotViewSampler(ViewSampler(N_FRAMES, seed=99), 0, 1)
    one.load_state_dict(ranks[0].state_dict())
    assert [one.next() for _ in range(6)] == [single.next() for _ in range(6)]
    with pytest.raises(ValueError, match="slot"):
        RankSlotViewSampler(ViewSampler(N_FRAMES, seed=3), 2, 2)


def test_background_slots():
    cpu = torch.device("cpu")
    ranks = [RankSlotBackground(BackgroundSampler(True, [0, 0, 0], 5, cpu), r, 3) for r in range(3)]
    single = BackgroundSampler(True, [0, 0, 0], 5, cpu)
    for _ in range(4):
        got = [r.next() for r in ranks]
        for g in got:
            assert torch.equal(g, single.next())
    fixed = RankSlotBackground(BackgroundSampler(False, [0.2, 0.3, 0.4], 5, cpu), 1, 2)
    assert fixed.next().tolist() == pytest.approx([0.2, 0.3, 0.4])


def test_launch_command_and_environment():
    cmd = torchrun_command(4, ["-m", "out", "-s", "scene"], 29555, python="python")
    assert cmd == ["python", "-m", "torch.distributed.run", "--nproc_per_node", "4", "--nnodes", "1",
                   "--master_addr", "127.0.0.1", "--master_port", "29555", "-m", "sync4dgs.train",
                   "-m", "out", "-s", "scene"]
    env = launch_env({"PATH": "/bin", "NCCL_NVLS_ENABLE": "1"})
    assert env["PATH"] == "/bin" and env["NCCL_NVLS_ENABLE"] == "0" and env["TORCH_SYMM_MEM_DISABLE_MULTICAST"] == "1"
    assert MULTICAST_OFF_ENV == {"NCCL_NVLS_ENABLE": "0", "TORCH_SYMM_MEM_DISABLE_MULTICAST": "1"}
    assert 0 < free_port() < 65536
    with pytest.raises(ConfigError, match="--gpus"):
        torchrun_command(0, [], 29555)


def test_rank_environment():
    assert not distributed_requested({}) and distributed_requested({"WORLD_SIZE": "1"})
    assert RankInfo.from_env({"RANK": "3", "WORLD_SIZE": "4", "LOCAL_RANK": "1"}) == RankInfo(3, 4, 1)
    assert RankInfo.from_env({"RANK": "0", "WORLD_SIZE": "1"}).is_main
    with pytest.raises(ConfigError, match="RANK"):
        RankInfo.from_env({"WORLD_SIZE": "2"})
    with pytest.raises(ConfigError, match="WORLD_SIZE='two'"):
        RankInfo.from_env({"RANK": "0", "WORLD_SIZE": "two"})
    with pytest.raises(ConfigError, match="inconsistent"):
        RankInfo.from_env({"RANK": "2", "WORLD_SIZE": "2"})
    assert rank_device("cpu", 3) == torch.device("cpu")
    if not torch.cuda.is_available():
        assert rank_device("auto", 1) == torch.device("cpu")
        with pytest.raises(ConfigError, match="CUDA"):
            rank_device("cuda", 0)


def test_ranks_receive_the_same_command_line():
    p = argparse.ArgumentParser()
    add_arguments(p)
    args = p.parse_args(["-m", "out dir", "-s", "scene", "--gpus", "2", "--no_align", "--iterations", "9",
                         "--densify.dynamic.enabled", "false", "--save_iterations", "[3, 6]"])
    argv = argv_from_args(args)
    assert "--gpus" not in argv
    again = p.parse_args(argv)
    assert again.gpus == 0 and (again.model_path, again.source_path, again.no_align) == ("out dir", "scene", True)
    assert overrides_from_args(again) == overrides_from_args(args)
    assert load_config(None, overrides_from_args(again)).train.save_iterations == [3, 6]


ACTIVE = {"train.iterations": "9", "time.align": "false", "time.warmup_iterations": "2",
          "densify.static.refine_start_iter": "2", "densify.static.refine_every": "3",
          "densify.static.grow_grad2d": "1e-5", "densify.dynamic.refine_start_iter": "2",
          "densify.dynamic.refine_every": "3", "densify.dynamic.grow_grad2d": "1e-6",
          "densify.convert.start_iter": "1", "densify.convert.every": "4", "distributed.check_every": "2"}


def test_one_rank_torchrun_job_equals_a_single_process(gaussian_scene, make_cfg, tmp_path, monkeypatch):
    cfg = make_cfg(ACTIVE)
    single = train(gaussian_scene.root, tmp_path / "single", cfg, progress=False)
    assert not torch.distributed.is_initialized()               # a single process never touches torch.distributed
    for k, v in {"WORLD_SIZE": "1", "RANK": "0", "LOCAL_RANK": "0", "MASTER_ADDR": "127.0.0.1",
                 "MASTER_PORT": str(free_port())}.items():
        monkeypatch.setenv(k, v)
    job = train(gaussian_scene.root, tmp_path / "job", cfg, progress=False)
    assert not torch.distributed.is_initialized()               # the job's process group is gone again
    assert job.stats["world_size"] == 1 and "world_size" not in single.stats
    a = load_checkpoint(latest_checkpoint(tmp_path / "single"))
    b = load_checkpoint(latest_checkpoint(tmp_path / "job"))
    assert a["model"].keys() == b["model"].keys()
    for k in a["model"]:
        assert torch.equal(a["model"][k], b["model"][k]), k
    for name in ("static_densify", "dynamic_densify"):
        for k, v in a["callbacks"][name]["state"].items():
            if torch.is_tensor(v):
                assert torch.equal(v, b["callbacks"][name]["state"][k]), (name, k)
    assert single.stats["n_static"] != 45 and single.stats["n_dynamic"] > 0
