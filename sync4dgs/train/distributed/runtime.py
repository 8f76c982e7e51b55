"""One rank of a torchrun job: process groups, device, and the few collectives training needs.

Every collective on tensors is preceded by a layout check on a small fixed-size CPU tensor (a gloo group), so
ranks that disagree on shapes fail with :class:`DistributedError` on every rank instead of aborting gloo
(SIGABRT) or hanging NCCL. Tensors travel in one flattened bucket per dtype.
"""

from __future__ import annotations

import datetime
import logging
import os
import zlib
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import torch
import torch.distributed as dist
from torch import Tensor

from sync4dgs.errors import ConfigError, Sync4DGSError
from sync4dgs.train.config import ExperimentConfig
from sync4dgs.train.distributed.launch import MULTICAST_OFF_ENV, RankInfo

log = logging.getLogger(__name__)

T = TypeVar("T")
_OPS = {"sum": dist.ReduceOp.SUM, "max": dist.ReduceOp.MAX}


class DistributedError(Sync4DGSError):
    """Ranks disagree (tensor layouts, or parameters that must be identical)."""


def rank_device(device_name: str, local_rank: int) -> torch.device:
    """The device of a rank: ``cuda:LOCAL_RANK`` for "auto"/"cuda..." when CUDA exists, else the CPU."""
    if device_name == "cpu" or (device_name == "auto" and not torch.cuda.is_available()):
        return torch.device("cpu")
    if not torch.cuda.is_available():
        raise ConfigError(f"train.device={device_name!r} but CUDA is not available on this machine")
    if local_rank >= torch.cuda.device_count():
        raise ConfigError(f"LOCAL_RANK {local_rank} but this host has {torch.cuda.device_count()} GPUs")
    requested = torch.device(device_name) if device_name != "auto" else None
    if requested is not None and requested.index is not None and requested.index != local_rank:
        log.warning("train.device=%s ignored under torchrun: rank uses cuda:%d (LOCAL_RANK)", device_name, local_rank)
    return torch.device("cuda", local_rank)


def layout_signature(named: Sequence[tuple[str, Tensor | None]]) -> tuple[str, int]:
    """(description, total elements) of named tensors; None entries are part of the description."""
    parts, numel = [], 0
    for name, t in named:
        if t is None:
            parts.append(f"{name}:None")
        else:
            parts.append(f"{name}:{tuple(t.shape)}:{t.dtype}")
            numel += t.numel()
    return ";".join(parts), numel


def _buckets(tensors: Sequence[Tensor]) -> dict[torch.dtype, list[int]]:
    """Indices of ``tensors`` grouped by dtype (insertion order)."""
    out: dict[torch.dtype, list[int]] = {}
    for i, t in enumerate(tensors):
        out.setdefault(t.dtype, []).append(i)
    return out


def _unflatten_into(flat: Tensor, tensors: Sequence[Tensor], idx: list[int]) -> None:
    offset = 0
    for i in idx:
        n = tensors[i].numel()
        tensors[i].copy_(flat[offset:offset + n].view_as(tensors[i]))
        offset += n


class DistributedRuntime:
    """Process groups and device of this rank. Build with :meth:`init`; call :meth:`close` at the end.

    Training tensors travel on the default process group (``backend``: NCCL on CUDA, gloo on CPU);
    ``meta_group`` is a gloo group for small host-side checks and Python objects (None = the default group,
    when that is gloo already), so those never force a device synchronisation.
    """

    def __init__(self, info: RankInfo, device: torch.device, backend: str, meta_group: Any, owns_group: bool):
        self.info = info
        self.device = device
        self.backend = backend
        self.meta_group = meta_group
        self.owns_group = owns_group

    @property
    def rank(self) -> int:
        return self.info.rank

    @property
    def world_size(self) -> int:
        return self.info.world_size

    @property
    def is_main(self) -> bool:
        return self.info.is_main

    @classmethod
    def init(cls, cfg: ExperimentConfig, info: RankInfo | None = None) -> "DistributedRuntime":
        """Join the job described by the torchrun environment (reusing a process group already initialised)."""
        info = RankInfo.from_env() if info is None else info
        for k, v in MULTICAST_OFF_ENV.items():      # plain torchrun launches: read by NCCL at communicator init
            os.environ.setdefault(k, v)
        device = rank_device(cfg.train.device, info.local_rank)
        backend = cfg.distributed.comm_backend
        if backend == "auto":
            backend = "nccl" if device.type == "cuda" else "gloo"
        if backend not in ("nccl", "gloo"):
            raise ConfigError(f"distributed.comm_backend must be 'auto', 'nccl' or 'gloo', got {backend!r}")
        if backend == "nccl" and device.type != "cuda":
            raise ConfigError("distributed.comm_backend='nccl' needs CUDA devices; use 'gloo' on CPU")
        if device.type == "cuda":
            torch.cuda.set_device(device)
        owns = not dist.is_initialized()
        if owns:
            kwargs = {"device_id": device} if backend == "nccl" else {}
            dist.init_process_group(backend=backend, rank=info.rank, world_size=info.world_size,
                                    timeout=datetime.timedelta(seconds=cfg.distributed.timeout_s), **kwargs)
        elif dist.get_world_size() != info.world_size or dist.get_rank() != info.rank:
            raise ConfigError(f"an initialised process group (rank {dist.get_rank()} of {dist.get_world_size()}) "
                              f"disagrees with the environment (rank {info.rank} of {info.world_size})")
        backend = dist.get_backend()
        meta = None if backend == "gloo" else dist.new_group(
            backend="gloo", timeout=datetime.timedelta(seconds=cfg.distributed.timeout_s))
        log.info("rank %d/%d on %s (%s)", info.rank, info.world_size, device, backend)
        return cls(info, device, backend, meta, owns)

    def close(self) -> None:
        """Leave the job (destroys the process group only if :meth:`init` created it)."""
        if self.owns_group and dist.is_initialized():
            dist.destroy_process_group()

    def barrier(self) -> None:
        dist.barrier(group=self.meta_group)

    # ---------------------------------------------------------------------------------- host-side agreement
    def all_true(self, flag: bool) -> bool:
        """True on every rank iff ``flag`` is True on every rank."""
        t = torch.tensor([0 if flag else 1], dtype=torch.int64)
        dist.all_reduce(t, op=dist.ReduceOp.MAX, group=self.meta_group)
        return int(t) == 0

    def any_(self, flags: Sequence[bool]) -> list[bool]:
        """Element-wise OR over ranks. Every rank must pass the same number of flags (check the layout first)."""
        t = torch.tensor([bool(f) for f in flags], dtype=torch.int64)
        dist.all_reduce(t, op=dist.ReduceOp.MAX, group=self.meta_group)
        return [bool(v) for v in t.tolist()]

    def check_layout(self, named: Sequence[tuple[str, Tensor | None]], what: str) -> None:
        """Raise DistributedError on every rank unless all ranks hold tensors of the same names/shapes/dtypes.

        One all-reduce of a fixed-size int64 CPU tensor, so it is safe whatever the layouts are.
        """
        desc, numel = layout_signature(named)
        sig = [zlib.crc32(desc.encode()), numel, len(named)]
        t = torch.tensor(sig + [-v for v in sig], dtype=torch.int64)
        dist.all_reduce(t, op=dist.ReduceOp.MAX, group=self.meta_group)
        hi, lo = t[:3].tolist(), [-v for v in t[3:].tolist()]
        if hi != lo:
            raise DistributedError(
                f"ranks disagree on the layout of {what}: tensors per rank {lo[2]}..{hi[2]}, elements per rank "
                f"{lo[1]}..{hi[1]}; rank {self.rank} has {len(named)} tensors, {numel} elements ({desc[:300]})")

    def from_main(self, fn: Callable[[], T]) -> T:
        """Run ``fn`` on rank 0 only and return its (picklable) result on every rank; a failure on rank 0 is
        raised on every rank (the others do not wait for it until the timeout)."""
        payload: list[Any] = [None]
        error: BaseException | None = None
        if self.is_main:
            try:
                payload[0] = ("ok", fn())
            except Exception as e:  # noqa: BLE001 -- re-raised below after telling the other ranks
                error = e
                payload[0] = ("error", f"{type(e).__name__}: {e}")
        dist.broadcast_object_list(payload, src=0, group=self.meta_group)
        status, value = payload[0]
        if error is not None:
            raise error
        if status == "error":
            raise DistributedError(f"rank 0 failed: {value}")
        return value

    # ------------------------------------------------------------------------------------ tensor collectives
    def all_reduce_(self, named: Sequence[tuple[str, Tensor]], op: str = "sum", what: str = "tensors",
                    check: bool = True) -> None:
        """In-place all-reduce (``op`` "sum" | "max") of named tensors, one flattened bucket per dtype.
        ``check=False`` skips the layout check (only when the caller has just checked it)."""
        if check:
            self.check_layout(named, what)
        tensors = [t for _, t in named]
        for idx in _buckets(tensors).values():
            flat = torch.cat([tensors[i].reshape(-1) for i in idx])
            dist.all_reduce(flat, op=_OPS[op])
            _unflatten_into(flat, tensors, idx)

    def broadcast_(self, named: Sequence[tuple[str, Tensor]], what: str = "tensors") -> None:
        """Overwrite named tensors with rank 0's values (one flattened bucket per dtype)."""
        self.check_layout(named, what)
        tensors = [t for _, t in named]
        for idx in _buckets(tensors).values():
            flat = torch.cat([tensors[i].detach().reshape(-1) for i in idx])
            dist.broadcast(flat, src=0)
            with torch.no_grad():
                _unflatten_into(flat, tensors, idx)

    def max_difference(self, named: Sequence[tuple[str, Tensor]], what: str = "parameters") -> tuple[float, str]:
        """(largest |value - rank 0's value| over every rank and element, name of that tensor).

        NaN on one rank only counts as an infinite difference; NaN at the same place on every rank as none.
        """
        self.check_layout(named, what)
        tensors = [t.detach() for _, t in named]
        per_tensor = torch.zeros(len(tensors), dtype=torch.float64)
        for idx in _buckets(tensors).values():
            mine = torch.cat([tensors[i].reshape(-1) for i in idx])
            ref = mine.clone()
            dist.broadcast(ref, src=0)
            diff = (mine.double() - ref.double()).abs()
            diff = torch.where(mine.isnan() & ref.isnan(), torch.zeros_like(diff), diff)
            diff = torch.where(mine.isnan() ^ ref.isnan(), torch.full_like(diff, float("inf")), diff)
            pieces = diff.split([tensors[i].numel() for i in idx])
            maxes = torch.stack([p.max() if p.numel() else p.new_zeros(()) for p in pieces]).cpu()
            per_tensor[idx] = maxes
        dist.all_reduce(per_tensor, op=dist.ReduceOp.MAX, group=self.meta_group)
        worst = int(per_tensor.argmax()) if len(tensors) else 0
        return (float(per_tensor[worst]) if len(tensors) else 0.0), (named[worst][0] if len(tensors) else "")

    def broadcast_object(self, obj: T) -> T:
        """Rank 0's ``obj`` on every rank (pickled over the gloo group)."""
        box = [obj]
        dist.broadcast_object_list(box, src=0, group=self.meta_group)
        return box[0]
