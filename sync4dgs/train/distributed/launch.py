"""The torchrun environment of one rank, and (re)launching training through torchrun.

Nothing here imports ``torch.distributed``: a single process (``WORLD_SIZE`` unset) only ever calls
:func:`distributed_requested`.
"""

from __future__ import annotations

import logging
import os
import socket
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass

from sync4dgs.errors import ConfigError

log = logging.getLogger(__name__)

# The GPU hosts require NVLink multicast (NVLS / symmetric-memory multicast) to stay off.
MULTICAST_OFF_ENV = {"NCCL_NVLS_ENABLE": "0", "TORCH_SYMM_MEM_DISABLE_MULTICAST": "1"}
LOCALHOST = "127.0.0.1"
TRAIN_MODULE = "sync4dgs.train"


def distributed_requested(environ: Mapping[str, str] | None = None) -> bool:
    """True when this process was started by torchrun (``WORLD_SIZE`` is set, even to 1)."""
    return "WORLD_SIZE" in (os.environ if environ is None else environ)


@dataclass(frozen=True)
class RankInfo:
    """Where this process sits in the job: global ``rank`` of ``world_size``, ``local_rank`` on its host."""

    rank: int
    world_size: int
    local_rank: int

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> "RankInfo":
        """Read RANK / WORLD_SIZE / LOCAL_RANK (as torchrun sets them); ConfigError naming a bad variable."""
        env = os.environ if environ is None else environ
        values = {}
        for key, default in (("RANK", None), ("WORLD_SIZE", None), ("LOCAL_RANK", "0")):
            text = env.get(key, default)
            if text is None:
                raise ConfigError(f"distributed training: environment variable {key} is not set "
                                  "(launch with torchrun or `sync4dgs train --gpus N`)")
            try:
                values[key] = int(text)
            except ValueError as e:
                raise ConfigError(f"distributed training: {key}={text!r} is not an integer") from e
        info = cls(values["RANK"], values["WORLD_SIZE"], values["LOCAL_RANK"])
        if info.world_size < 1 or not 0 <= info.rank < info.world_size or info.local_rank < 0:
            raise ConfigError(f"distributed training: inconsistent RANK={info.rank}, WORLD_SIZE={info.world_size}, "
                              f"LOCAL_RANK={info.local_rank}")
        return info


def env_rank(environ: Mapping[str, str] | None = None) -> int:
    """This process's global rank (0 when not launched by torchrun)."""
    env = os.environ if environ is None else environ
    try:
        return int(env.get("RANK", "0"))
    except ValueError:
        return 0


def free_port(host: str = LOCALHOST) -> int:
    """A TCP port that is free on ``host`` right now (for torchrun's rendezvous)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def torchrun_command(nproc: int, module_args: list[str], port: int, *, module: str = TRAIN_MODULE,
                     python: str = sys.executable) -> list[str]:
    """``python -m torch.distributed.run --nproc_per_node N --master_addr 127.0.0.1 --master_port P
    -m <module> <module_args>`` (one host)."""
    if nproc < 1:
        raise ConfigError(f"--gpus must be >= 1, got {nproc}")
    return [python, "-m", "torch.distributed.run", "--nproc_per_node", str(int(nproc)), "--nnodes", "1",
            "--master_addr", LOCALHOST, "--master_port", str(int(port)), "-m", module, *module_args]


def launch_env(base: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment of spawned ranks: ``base`` (default os.environ) with NVLink multicast forced off."""
    env = dict(os.environ if base is None else base)
    env.update(MULTICAST_OFF_ENV)
    return env


def check_gpu_count(nproc: int, device_name: str) -> None:
    """ConfigError when more CUDA ranks are asked for than this host has GPUs; a warning when ranks run on CPU."""
    import torch  # noqa: PLC0415

    if device_name == "cpu" or not torch.cuda.is_available():
        log.warning("no CUDA device (or train.device=cpu): running %d CPU processes with gloo", nproc)
        return
    have = torch.cuda.device_count()
    if nproc > have:
        raise ConfigError(f"--gpus {nproc} asks for more GPUs than this host has ({have})")


def relaunch(nproc: int, module_args: list[str], device_name: str = "auto") -> int:
    """Run ``python -m sync4dgs.train <module_args>`` on ``nproc`` local ranks through torchrun; its exit code."""
    check_gpu_count(nproc, device_name)
    cmd = torchrun_command(nproc, module_args, free_port())
    log.info("launching %d ranks: %s", nproc, " ".join(cmd))
    return subprocess.run(cmd, env=launch_env(), check=False).returncode
