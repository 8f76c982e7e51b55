"""sync4dgs.train.ranks with two real gloo processes: the world size is seen by every rank and only rank 0 is the
main process (the one that writes the features' files). Gradients are averaged in sync4dgs/train/distributed/
hooks.py (tests/distributed/test_multiprocess.py, tests/train/test_features.py)."""

from __future__ import annotations

import torch
import torch.multiprocessing as mp

from sync4dgs.train.ranks import is_main_process, world_size


def _worker(rank: int, init_file: str, out: dict) -> None:
    torch.distributed.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=2)
    try:
        out[rank] = (world_size(), is_main_process())
        # both ranks connected before either leaves: a rank that tears its group down while the other is still
        # building the gloo mesh makes that one fail ("connectFullMesh failed ... closed by peer") on a busy host
        torch.distributed.barrier()
    finally:
        torch.distributed.destroy_process_group()


def test_world_size_and_main_process_over_two_gloo_ranks(tmp_path):
    with mp.Manager() as manager:
        out = manager.dict()
        mp.spawn(_worker, args=(str(tmp_path / "store"), out), nprocs=2, join=True)
        got = dict(out)
    assert got == {0: (2, True), 1: (2, False)}


def test_single_process_is_rank_zero():
    assert world_size() == 1 and is_main_process()
