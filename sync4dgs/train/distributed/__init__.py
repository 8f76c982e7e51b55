"""Multi-GPU (multi-process) data-parallel training with torch.distributed, launched by torchrun.

    sync4dgs train -m OUT -s SCENE --gpus 4 ...                 # one host: re-launches itself through torchrun
    torchrun --nproc_per_node 4 -m sync4dgs.train -m OUT -s SCENE ...   # or torchrun directly (several hosts too)

One process per GPU (``cuda:LOCAL_RANK``, NCCL; CPU processes use gloo). Every rank holds the same Gaussians,
time maps and optimiser states; in each iteration every rank draws the same global batch of ``world_size``
(camera, frame) samples from the shared seeded sampler and renders its own slot; gradients are averaged over
ranks in one flattened bucket before the optimiser steps; densification / conversion decide from statistics
combined over ranks, with identically seeded random draws, so every rank adds and removes the same Gaussians.
Every ``distributed.check_every`` iterations the ranks compare their parameters and fail loudly on divergence.
Rank 0 alone writes checkpoints, weights, logs and TensorBoard; checkpoints hold no per-rank state and resume
on any number of ranks (the effective batch is the number of ranks).

A single process (``WORLD_SIZE`` unset) never imports this package's runtime.
"""

from sync4dgs.train.distributed.hooks import (DistributedDivergenceError, DistributedHooks, ReplicaCheck, attach,
                                              named_replicas, named_trainables)
from sync4dgs.train.distributed.launch import (MULTICAST_OFF_ENV, RankInfo, distributed_requested, free_port,
                                               launch_env, relaunch, torchrun_command)
from sync4dgs.train.distributed.runtime import DistributedError, DistributedRuntime, rank_device
from sync4dgs.train.distributed.samplers import RankSlotBackground, RankSlotViewSampler

__all__ = ["MULTICAST_OFF_ENV", "DistributedDivergenceError", "DistributedError", "DistributedHooks",
           "DistributedRuntime", "RankInfo", "RankSlotBackground", "RankSlotViewSampler", "ReplicaCheck", "attach",
           "distributed_requested", "free_port", "launch_env", "named_replicas", "named_trainables", "rank_device",
           "relaunch", "torchrun_command"]
