"""Value checks of a whole :class:`~sync4dgs.train.config.ExperimentConfig` (run on every config built from a
dict, so ``sync4dgs train`` refuses a bad value before it touches the model folder).

The type of every key is checked by sync4dgs.train.configio; this module checks what types cannot say: allowed
names (``optim.optimizer``), ranges (``train.iterations >= 1``), shapes (``train.background``: three values in
[0, 1]) and NaN anywhere. Every error is a one-line :class:`ConfigError` naming the dotted key. Whether the
machine can run a value (CUDA present for ``train.device cuda``) is checked at run time by
:func:`sync4dgs.train.preflight.check_runtime`.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import torch

from sync4dgs.errors import ConfigError
from sync4dgs.render.api import BACKENDS

CHOICES: dict[str, tuple[str, ...]] = {
    "train.frames_on_device": ("auto", "always", "never"),
    "train.frames_host_cache": ("auto", "always", "never"),
    "optim.optimizer": ("adam", "radam"),
    "render.backend": BACKENDS,
    "distributed.comm_backend": ("auto", "nccl", "gloo"),
}
AT_LEAST_ONE = ("train.iterations", "train.sh_degree_interval", "optim.means_decay_iterations", "time.sync_every",
                "log.log_every", "guard.check_every", "densify.static.refine_every",
                "densify.dynamic.refine_every", "densify.convert.every")
NON_NEGATIVE = ("train.seed", "train.checkpoint_every", "train.keep_checkpoints", "train.frames_budget_gb",
                "train.scene_extent", "train.cpu_threads", "time.offset_lr", "time.offset_lr_final", "time.rate_lr",
                "time.evidence_z", "time.warmup_iterations", "time.freeze_after", "render.near", "render.far",
                "guard.max_restores", "distributed.check_every", "distributed.check_tolerance",
                "densify.static.reset_every", "densify.convert.min_visible_count")
NON_NEGATIVE_SECTIONS = ("optim.static", "optim.dynamic", "loss")   # learning rates, loss weights
UNIT_INTERVAL = ("loss.lambda_dssim", "densify.convert.fraction")    # [0, 1]
OPEN_UNIT = {"guard.lr_factor": (0.0, 1.0, "in (0, 1]"), "time.evidence_beta": (0.0, 1.0, "in [0, 1)")}


def _get(cfg: Any, key: str) -> Any:
    obj = cfg
    for part in key.split("."):
        obj = getattr(obj, part)
    return obj


def _leaves(obj: Any, prefix: str = ""):
    """(dotted key, value) of every non-dataclass field under the dataclass instance ``obj``."""
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        key = f"{prefix}{f.name}"
        if dataclasses.is_dataclass(value):
            yield from _leaves(value, key + ".")
        else:
            yield key, value


def _fail(key: str, what: str, value: Any) -> ConfigError:
    return ConfigError(f"config key {key!r}: {what}, got {value!r}")


def check_device_name(name: str, key: str = "train.device") -> None:
    """ConfigError unless ``name`` is "auto" or a device torch can parse ("cpu", "cuda", "cuda:1", ...)."""
    if name == "auto":
        return
    try:
        torch.device(name)
    except (RuntimeError, ValueError, TypeError):
        raise _fail(key, "expected 'auto', 'cpu', 'cuda' or 'cuda:N'", name) from None


def validate_config(cfg: Any) -> None:
    """Raise ConfigError (naming the key) for the first invalid value of the experiment config ``cfg``."""
    for key, value in _leaves(cfg):
        numbers = value if isinstance(value, list) else [value]
        if any(isinstance(v, float) and math.isnan(v) for v in numbers):
            raise _fail(key, "NaN is not a value", value)
    for key, allowed in CHOICES.items():
        value = _get(cfg, key)
        if value not in allowed:
            raise _fail(key, f"must be one of {list(allowed)}", value)
    check_device_name(cfg.train.device)
    check_device_name(cfg.align.device, "align.device")
    for key in AT_LEAST_ONE:
        if _get(cfg, key) < 1:
            raise _fail(key, "must be >= 1", _get(cfg, key))
    for key in NON_NEGATIVE:
        value = _get(cfg, key)
        if not 0 <= value < math.inf:
            raise _fail(key, "must be a finite number >= 0", value)
    for section in NON_NEGATIVE_SECTIONS:
        for key, value in _leaves(_get(cfg, section), section + "."):
            if isinstance(value, (int, float)) and not isinstance(value, bool) and not 0 <= value < math.inf:
                raise _fail(key, "must be a finite number >= 0", value)
    for key in UNIT_INTERVAL:
        if not 0 <= _get(cfg, key) <= 1:
            raise _fail(key, "must be in [0, 1]", _get(cfg, key))
    for key, (lo, hi, text) in OPEN_UNIT.items():
        value = _get(cfg, key)
        ok = lo < value <= hi if key == "guard.lr_factor" else lo <= value < hi
        if not ok:
            raise _fail(key, f"must be {text}", value)
    if not cfg.distributed.timeout_s > 0:
        raise _fail("distributed.timeout_s", "must be > 0", cfg.distributed.timeout_s)
    bg = cfg.train.background
    if len(bg) != 3 or not all(0 <= v <= 1 for v in bg):
        raise _fail("train.background", "expected three RGB values in [0, 1]", bg)
    if not 0 < cfg.train.void_fraction <= 1:
        raise _fail("train.void_fraction", "must be in (0, 1]", cfg.train.void_fraction)
    bad = [it for it in cfg.train.save_iterations if it < 1]
    if bad:
        raise _fail("train.save_iterations", "iterations must be >= 1", cfg.train.save_iterations)
    cfg.align.validate()          # stage 1: errors name align.<key>
    if cfg.render.far and cfg.render.near and cfg.render.far <= cfg.render.near:
        raise _fail("render.far", f"must be > render.near ({cfg.render.near}) or 0 (the scene's far)",
                    cfg.render.far)
