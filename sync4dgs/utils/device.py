"""Device resolution: the one place that decides between CPU and CUDA."""

from __future__ import annotations

import torch


def resolve_device(name: str | None = "auto") -> torch.device:
    """Map "auto" / None to CUDA when available, else CPU; pass explicit names through.

    Raises ValueError when CUDA is asked for but not available.
    """
    if name in (None, "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(name)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {name!r} requested but CUDA is not available on this machine")
    return dev
