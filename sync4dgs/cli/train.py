"""``sync4dgs train``: stage 2 (4D Gaussians + learnable camera time maps) on a canonical scene.

Every config key is also a flag: ``--train.iterations 100`` (dotted) or ``--iterations 100`` when the leaf
name is unique. Values are parsed by the key's type (lists as JSON or comma-separated). ``--gpus N`` trains on
N local GPUs through torchrun. The arguments and the action live in sync4dgs.train.command, shared with
``python -m sync4dgs.train`` (the module torchrun launches).
"""

from __future__ import annotations

from sync4dgs.train.command import add_arguments, overrides_from_args, run

__all__ = ["add_arguments", "overrides_from_args", "run"]
