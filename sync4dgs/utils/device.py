"""Device resolution: the one place that decides between CPU and CUDA."""

from __future__ import annotations

from contextlib import contextmanager

import torch

from sync4dgs.errors import DeviceError


def resolve_device(name: str | None = "auto") -> torch.device:
    """Map "auto" / None to CUDA when available, else CPU; pass explicit names through.

    Raises DeviceError (a ConfigError and a ValueError, printed by the CLI as one line) for a name torch does
    not know and when CUDA is asked for but not available (or the index is beyond the visible devices).
    """
    if name in (None, "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(name)
    except (RuntimeError, TypeError):
        raise DeviceError(f"unknown device {name!r} (expected auto, cpu, cuda or cuda:N)") from None
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise DeviceError(f"device {name!r} requested but CUDA is not available on this machine")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise DeviceError(f"device {name!r} requested but only {torch.cuda.device_count()} CUDA device(s) "
                              "are visible")
    return dev


@contextmanager
def cpu_threads(n: int, device: torch.device | str):
    """Within the block, torch uses ``n`` intra-op threads when ``device`` is the CPU and n > 0 (else no change).

    Small tensor ops on a busy 2-core machine are often 100x faster with one thread than with torch's default.
    """
    if torch.device(device).type != "cpu" or n <= 0:
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)
