"""Typed experiment configuration: nested dataclasses, JSON files with ``"extends"``, dotted CLI overrides.

A config file is a JSON object whose top-level keys are the sections of :class:`ExperimentConfig`
(``model``, ``train``, ``optim``, ``time``, ``render``, ``densify``, ``loss``, ``log``). A file may say
``"extends": "base.json"`` (a path relative to itself, or a list of them); the parent is loaded first and the
child's keys are merged over it, section by section. Overrides are ``{"train.iterations": "100"}`` (dotted
path) or ``{"iterations": "100"}`` when the leaf name is unique across the whole config. Unknown keys and
values of the wrong type raise :class:`ConfigError` naming the key.

Units: every time is in SECONDS unless the field name says ``_frames`` or ``_iterations``/``_every``
(training iterations). Learning rates of positions are multiplied by the scene extent (``*_lr`` documented).
"""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Union

from sync4dgs.errors import ConfigError
from sync4dgs.model.config import ModelConfig

CONFIG_SCHEMA_VERSION = 1


# ------------------------------------------------------------------------------------------------
# sections
# ------------------------------------------------------------------------------------------------
@dataclass
class TrainConfig:
    """The loop: iterations, sampling, background, frames, checkpoints."""

    iterations: int = 30_000
    seed: int = 0
    device: str = "auto"                       # "auto" | "cpu" | "cuda" | "cuda:1" ...
    random_background: bool = True             # uniform random RGB background each iteration (Ex4DGS)
    background: list[float] = field(default_factory=lambda: [0.0, 0.0, 0.0])  # used when not random
    sh_degree_interval: int = 1000             # active SH degree += 1 every this many iterations
    frames_on_device: str = "auto"             # "auto" (if it fits the budget) | "always" | "never" (stream)
    frames_budget_gb: float = 0.0              # 0 = automatic (CUDA: 60% of free memory; CPU: 4 GB)
    save_iterations: list[int] = field(default_factory=list)   # weights saved here and at the end
    checkpoint_every: int = 5000               # resume checkpoints (0 = only at the end)
    keep_checkpoints: int = 2                  # older checkpoints are deleted
    scene_extent: float = 0.0                  # 0 = 1.1 x max distance of training cameras from their mean
    cpu_threads: int = 0                       # torch intra-op threads while training on CPU (0 = torch default);
                                               # 1 is often much faster for small images on busy machines


@dataclass
class StaticLR:
    """Learning rates of the static set (Ex4DGS N3V values). ``means`` decays log-linearly."""

    means: float = 1.6e-4                      # x scene extent
    means_final: float = 1.6e-6                # x scene extent, reached at optim.means_decay_iterations
    quats: float = 1e-3
    scales: float = 5e-3
    opacities: float = 0.05
    sh0: float = 2.5e-3
    shN: float = 1.25e-4
    other: float = 1e-4                        # any extra per-Gaussian tensor the model adds (e.g. velocities)


@dataclass
class DynamicLR:
    """Learning rates of the dynamic set. ``key_means`` decays log-linearly; ``t_center`` is in SECONDS."""

    key_means: float = 1.6e-4                  # x scene extent
    key_means_final: float = 1.6e-5            # x scene extent
    key_quats: float = 1e-3
    scales: float = 5e-3
    opacities: float = 0.01
    sh0: float = 2.5e-3
    shN: float = 1.25e-4
    t_center: float = 3.3e-3                   # s/step (Ex4DGS 0.01 keyframe units x 1/3 s per keyframe)
    t_logwidth: float = 1e-4
    other: float = 1e-4


@dataclass
class OptimConfig:
    """Optimiser family and per-group learning rates of the Gaussians."""

    optimizer: str = "radam"                   # "radam" (Ex4DGS) | "adam"
    means_decay_iterations: int = 30_000       # length of the log-linear decay of static/dynamic means
    static: StaticLR = field(default_factory=StaticLR)
    dynamic: DynamicLR = field(default_factory=DynamicLR)


@dataclass
class TimeConfig:
    """Stage 2's learnable per-camera time maps ``t_global_s = offset_s + rate * tau_s``."""

    learn: bool = True                         # False = keep the initial maps fixed
    learn_rate: bool = False                   # also learn each camera's clock rate
    align: bool = True                         # run stage 1 (align_scene) to initialise, unless --offsets/--no_align
    offset_lr: float = 2e-4                    # Adam lr of offsets, seconds per step
    rate_lr: float = 1e-5                      # Adam lr of rates
    warmup_iterations: int = 1000              # time gradients are enabled after this many iterations
    freeze_after: int = 0                      # stop learning time maps after this iteration (0 = never)
    sync_every: int = 50                       # check the model's time domain / log offsets every N iterations
    hold_mean_offset: bool = True              # reference camera held out (not trained): keep the mean offset (and
                                               # rate) of the trained cameras at their initial values, since the
                                               # photometric loss cannot see a common time shift


@dataclass
class RenderConfig:
    """How training renders."""

    backend: str = "auto"                      # "auto" | "torch" | "gsplat"
    antialiased: bool = False
    near: float = 0.0                          # 0 = scene.near
    far: float = 0.0                           # 0 = scene.far


@dataclass
class StaticDensifyConfig:
    """gsplat DefaultStrategy on the static set (3DGS adaptive density control)."""

    enabled: bool = True
    grow_grad2d: float = 2e-4
    grow_scale3d: float = 0.01
    prune_opa: float = 0.01
    prune_scale3d: float = 0.1
    refine_start_iter: int = 500
    refine_stop_iter: int = 15_000
    refine_every: int = 300
    reset_every: int = 0                       # opacity reset period; 0 = never (Ex4DGS)


@dataclass
class DynamicDensifyConfig:
    """Keyframe-aware clone / split / prune of the dynamic set (Ex4DGS §2.7)."""

    enabled: bool = True
    grow_grad2d: float = 1e-4
    grow_scale3d: float = 0.01
    prune_opa: float = 0.01
    split_noise_scale: float = 2.0             # offset ~ N(0, k * scale), applied at every keyframe
    temporal_jitter: bool = False              # jitter new Gaussians' temporal centres (Ex4DGS; off: exact copies)
    refine_start_iter: int = 500
    refine_stop_iter: int = 15_000
    refine_every: int = 300


@dataclass
class ConvertConfig:
    """Static -> dynamic conversion (Ex4DGS §2.6): top fraction of visible static Gaussians by motion score."""

    enabled: bool = True
    fraction: float = 0.02                     # Ex4DGS eta = 2 %
    start_iter: int = 500
    stop_iter: int = 15_000
    every: int = 1000
    min_visible_count: int = 1                 # a candidate must have been visible this often since the last call


@dataclass
class DensifyConfig:
    static: StaticDensifyConfig = field(default_factory=StaticDensifyConfig)
    dynamic: DynamicDensifyConfig = field(default_factory=DynamicDensifyConfig)
    convert: ConvertConfig = field(default_factory=ConvertConfig)


@dataclass
class LossConfig:
    """Photometric loss and regularisers: (1-l)*L1 + l*(1-SSIM) + regularisers."""

    lambda_dssim: float = 0.2
    static_drift: float = 1e-4                 # weight of the static-velocity penalty (if the model has one)
    motion_smooth: float = 1e-4                # mean ||P[k+1]-P[k]|| over dynamic keyframes
    rotation_smooth: float = 0.0               # mean (1 - |<q_k, q_k+1>|)
    reg_from_iter: int = 500


@dataclass
class LogConfig:
    log_every: int = 50                        # scalars (loss, PSNR, #Gaussians, offsets) every N iterations
    tensorboard: bool = True
    progress: bool = True


@dataclass
class GuardConfig:
    """NaN/Inf guard: snapshot every ``check_every`` its; on a non-finite loss/parameter restore and lower LRs."""

    enabled: bool = True
    check_every: int = 50
    lr_factor: float = 0.5
    max_restores: int = 5


@dataclass
class ExperimentConfig:
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    time: TimeConfig = field(default_factory=TimeConfig)
    render: RenderConfig = field(default_factory=RenderConfig)
    densify: DensifyConfig = field(default_factory=DensifyConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    log: LogConfig = field(default_factory=LogConfig)
    guard: GuardConfig = field(default_factory=GuardConfig)

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["schema_version"] = CONFIG_SCHEMA_VERSION
        return d

    def save(self, path: str | Path) -> None:
        from sync4dgs.utils.atomic import write_json  # noqa: PLC0415

        write_json(path, self.to_dict())


# ------------------------------------------------------------------------------------------------
# typed (de)serialisation
# ------------------------------------------------------------------------------------------------
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _is_optional(tp: Any) -> tuple[bool, Any]:
    origin = typing.get_origin(tp)
    if origin in (Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(args) == 1 and len(typing.get_args(tp)) == 2:
            return True, args[0]
    return False, tp


def _coerce(value: Any, tp: Any, key: str) -> Any:
    """Check/convert a JSON value to the field type ``tp``; ConfigError naming ``key`` if it does not fit."""
    optional, tp = _is_optional(tp)
    if value is None:
        if optional:
            return None
        raise ConfigError(f"config key {key!r}: null is not allowed (expected {_type_name(tp)})")
    origin = typing.get_origin(tp)
    if tp is bool:
        if isinstance(value, bool):
            return value
    elif tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
    elif tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
    elif tp is str:
        if isinstance(value, str):
            return value
    elif origin is list:
        (item_tp,) = typing.get_args(tp) or (Any,)
        if isinstance(value, (list, tuple)):
            return [_coerce(v, item_tp, f"{key}[{i}]") for i, v in enumerate(value)]
    elif origin is dict:
        if isinstance(value, dict):
            return dict(value)
    elif dataclasses.is_dataclass(tp):
        if isinstance(value, dict):
            return _build(tp, value, key)
    elif tp is Any:
        return value
    raise ConfigError(f"config key {key!r}: expected {_type_name(tp)}, got {type(value).__name__} {value!r}")


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", None) or str(tp)


def _build(cls: type, d: dict[str, Any], prefix: str = "") -> Any:
    """Instantiate dataclass ``cls`` from a (partial) dict, rejecting unknown keys."""
    hints = _hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    kwargs = {}
    for k, v in d.items():
        full = f"{prefix}.{k}" if prefix else k
        if k not in names:
            raise ConfigError(f"unknown config key {full!r} (valid keys here: {sorted(names)})")
        kwargs[k] = _coerce(v, hints[k], full)
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as e:
        raise ConfigError(f"config section {prefix or '<root>'!r}: {e}") from e


def config_from_dict(d: dict[str, Any]) -> ExperimentConfig:
    """Build an ExperimentConfig from a (partial) nested dict; missing keys keep their defaults."""
    d = {k: v for k, v in d.items() if k not in ("schema_version", "extends")}
    return _build(ExperimentConfig, d)


# ------------------------------------------------------------------------------------------------
# leaves: the dotted paths of every scalar/list field (for overrides and CLI flags)
# ------------------------------------------------------------------------------------------------
def config_leaves(cls: type = ExperimentConfig, prefix: str = "") -> dict[str, Any]:
    """{dotted path: type} of every non-dataclass field under ``cls``."""
    out: dict[str, Any] = {}
    for name, tp in _hints(cls).items():
        path = f"{prefix}.{name}" if prefix else name
        if dataclasses.is_dataclass(_is_optional(tp)[1]):
            out.update(config_leaves(_is_optional(tp)[1], path))
        else:
            out[path] = tp
    return out


def flat_aliases(leaves: dict[str, Any] | None = None) -> tuple[dict[str, str], dict[str, list[str]]]:
    """(unique leaf name -> dotted path, ambiguous leaf name -> all its dotted paths)."""
    leaves = config_leaves() if leaves is None else leaves
    by_name: dict[str, list[str]] = {}
    for path in leaves:
        by_name.setdefault(path.rsplit(".", 1)[-1], []).append(path)
    unique = {n: ps[0] for n, ps in by_name.items() if len(ps) == 1}
    ambiguous = {n: ps for n, ps in by_name.items() if len(ps) > 1}
    return unique, ambiguous


def resolve_key(key: str, leaves: dict[str, Any] | None = None) -> str:
    """Map an override key (dotted or flat) to its dotted path; ConfigError if unknown or ambiguous."""
    leaves = config_leaves() if leaves is None else leaves
    key = key.lstrip("-").replace("-", "_")
    if key in leaves:
        return key
    unique, ambiguous = flat_aliases(leaves)
    if key in unique:
        return unique[key]
    if key in ambiguous:
        raise ConfigError(f"config key {key!r} is ambiguous; use one of {ambiguous[key]}")
    raise ConfigError(f"unknown config key {key!r}")


def parse_value(text: Any, tp: Any, key: str) -> Any:
    """Parse an override given as text (CLI) into a JSON-compatible value of type ``tp``."""
    if not isinstance(text, str):
        return text
    optional, base = _is_optional(tp)
    low = text.strip().lower()
    if optional and low in ("none", "null"):
        return None
    if base is bool:
        if low in ("true", "1", "yes", "on"):
            return True
        if low in ("false", "0", "no", "off"):
            return False
        raise ConfigError(f"config key {key!r}: expected a boolean (true/false), got {text!r}")
    if base is str:
        return text
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        if typing.get_origin(base) is list:   # "1000,2000" -> [1000, 2000]
            return [parse_value(p, typing.get_args(base)[0], key) for p in text.split(",") if p.strip()]
        raise ConfigError(f"config key {key!r}: cannot parse {text!r} as {_type_name(base)}") from None


def _set_path(d: dict[str, Any], path: str, value: Any) -> None:
    parts = path.split(".")
    for p in parts[:-1]:
        d = d.setdefault(p, {})
    d[parts[-1]] = value


def _deep_merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in over.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = _deep_merge(out[k], v)
        else:
            out[k] = v
    return out


def read_config_file(path: str | Path, _seen: tuple[Path, ...] = ()) -> dict[str, Any]:
    """Read a JSON config, resolving ``"extends"`` (relative to the file) recursively; returns a dict."""
    path = Path(path).resolve()
    if path in _seen:
        raise ConfigError(f"config {path}: 'extends' cycle through {[str(p) for p in _seen]}")
    if not path.is_file():
        raise ConfigError(f"config file not found: {path}")
    try:
        d = json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise ConfigError(f"config {path}: invalid JSON: {e}") from e
    if not isinstance(d, dict):
        raise ConfigError(f"config {path}: top level must be a JSON object")
    parents = d.pop("extends", [])
    parents = [parents] if isinstance(parents, str) else list(parents)
    merged: dict[str, Any] = {}
    for parent in parents:
        merged = _deep_merge(merged, read_config_file(path.parent / parent, _seen + (path,)))
    d.pop("schema_version", None)
    d.pop("description", None)
    return _deep_merge(merged, d)


def load_config(path: str | Path | None = None, overrides: dict[str, Any] | None = None) -> ExperimentConfig:
    """Load a config file (or the defaults when ``path`` is None) and apply overrides.

    Args:
        path: JSON config (may use ``"extends"``); None = built-in defaults.
        overrides: {key: value}; keys dotted (``"train.iterations"``) or flat when unique (``"iterations"``);
            values are text (parsed by the field's type, JSON for lists) or already-typed values.
    Raises:
        ConfigError naming the key for unknown keys, ambiguous flat keys and values of the wrong type.
    """
    d: dict[str, Any] = read_config_file(path) if path is not None else {}
    try:
        config_from_dict(d)   # validate the file on its own first, so errors name the file's keys
    except ConfigError as e:
        raise ConfigError(f"{path}: {e}") from e
    leaves = config_leaves()
    for key, text in (overrides or {}).items():
        dotted = resolve_key(key, leaves)
        _set_path(d, dotted, parse_value(text, leaves[dotted], dotted))
    return config_from_dict(d)
