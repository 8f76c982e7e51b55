"""sync4dgs.train.ranks with two real gloo processes: every rank ends with the mean gradient (missing gradients
count as zeros) and only rank 0 is the main process."""

from __future__ import annotations

import torch
import torch.multiprocessing as mp

from sync4dgs.train.ranks import is_main_process, mean_gradients_over_ranks, world_size


def _worker(rank: int, init_file: str, out: dict) -> None:
    torch.distributed.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=2)
    try:
        a = torch.nn.Parameter(torch.zeros(3))
        b = torch.nn.Parameter(torch.zeros(2, 2))
        a.grad = torch.tensor([1.0, 2.0, 3.0]) * (rank + 1)          # rank 0: 1,2,3; rank 1: 2,4,6
        if rank == 1:
            b.grad = torch.full((2, 2), 4.0)                           # rank 0 has no gradient for b
        mean_gradients_over_ranks([a, b])
        out[rank] = (a.grad.tolist(), b.grad.tolist(), world_size(), is_main_process())
    finally:
        torch.distributed.destroy_process_group()


def test_mean_gradients_over_two_gloo_ranks(tmp_path):
    with mp.Manager() as manager:
        out = manager.dict()
        mp.spawn(_worker, args=(str(tmp_path / "store"), out), nprocs=2, join=True)
        got = dict(out)
    for rank in (0, 1):
        a, b, world, main = got[rank]
        assert a == [1.5, 3.0, 4.5] and b == [[2.0, 2.0], [2.0, 2.0]] and world == 2
        assert main == (rank == 0)


def test_single_process_is_rank_zero_and_leaves_gradients_alone():
    p = torch.nn.Parameter(torch.ones(2))
    p.grad = torch.tensor([0.5, -1.0])
    q = torch.nn.Parameter(torch.ones(1))
    mean_gradients_over_ranks([p, q])
    assert world_size() == 1 and is_main_process()
    assert p.grad.tolist() == [0.5, -1.0] and q.grad.tolist() == [0.0]
