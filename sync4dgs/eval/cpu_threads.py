"""torch intra-op threads for CPU evaluation (rendering test views, metrics).

Rendering small images with the torch reference rasterizer is a stream of small tensor ops; with several torch
threads on a busy machine every op waits for a descheduled thread. On a shared 2-core machine a 160x120 view of
a 10k-Gaussian model took 0.4-9 s with 2 threads and 0.15-0.25 s with one (the trainer's ``train.cpu_threads``
exists for the same reason). Evaluation therefore uses, in order: an explicit request, else the model's own
``train.cpu_threads`` (recorded in its config), else torch's default. CUDA runs are unaffected.
"""

from __future__ import annotations

from typing import Any

import torch

from sync4dgs.utils.device import cpu_threads


def eval_cpu_threads(meta: dict[str, Any] | None, requested: int | None = None) -> int:
    """Threads for CPU evaluation: ``requested`` if > 0, else the model's ``train.cpu_threads`` if > 0, else 0
    (= leave torch's setting alone). ``meta`` is the saved model's meta (``{"config": {...}}``)."""
    if requested is not None and requested > 0:
        return int(requested)
    cfg = (meta or {}).get("config") or {}
    n = (cfg.get("train") or {}).get("cpu_threads") or 0
    return int(n) if int(n) > 0 else 0


def torch_threads(n: int, device: torch.device | str):
    """Run the block with ``n`` torch intra-op threads when ``device`` is the CPU and ``n`` > 0 (restored after)."""
    return cpu_threads(n, device)
