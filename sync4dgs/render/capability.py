"""Probe: can gsplat's CUDA rasteriser run here? Checked once per process, never builds on CPU-only torch."""

from __future__ import annotations

import functools
import logging

import torch

log = logging.getLogger(__name__)


@functools.lru_cache(maxsize=1)
def cuda_backend_status() -> tuple[bool, str]:
    """(available, reason). Cached: the gsplat extension is loaded (or JIT-built) at most once per process.

    Order of checks: torch has CUDA and a device is visible -> gsplat imports -> its CUDA extension loads.
    On a CPU-only torch the function returns before touching gsplat's extension loader, so it never starts
    a (doomed) JIT build. On a GPU machine the first call may JIT-compile gsplat (about 80 s the first time).
    """
    if torch.version.cuda is None:
        return False, "this torch build has no CUDA support"
    if not torch.cuda.is_available():
        return False, "torch.cuda.is_available() is False (no visible CUDA device)"
    try:
        import gsplat  # noqa: F401
    except ImportError as exc:
        return False, f"gsplat is not importable: {exc}"
    try:
        from gsplat.cuda._backend import _C
    except (ImportError, OSError, RuntimeError) as exc:
        return False, f"gsplat's CUDA extension failed to load/build: {exc}"
    if _C is None:
        return False, "gsplat's CUDA extension is unavailable (no CUDA toolkit found for its JIT build)"
    return True, f"gsplat {gsplat.__version__} CUDA extension loaded"


def has_cuda_backend() -> bool:
    """True when the gsplat CUDA backend can render here (CUDA device + gsplat + loaded extension)."""
    ok, reason = cuda_backend_status()
    if not ok:
        log.debug("gsplat CUDA backend unavailable: %s", reason)
    return ok
