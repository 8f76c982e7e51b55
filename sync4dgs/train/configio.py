"""Typed nested-dataclass configs from JSON: type checking, ``"extends"``, dotted overrides (generic machinery).

Used by sync4dgs.train.config; knows nothing about the experiment's sections.
"""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from pathlib import Path
from typing import Any, Union

from sync4dgs.errors import ConfigError

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
            return build_dataclass(tp, value, key)
    elif tp is Any:
        return value
    raise ConfigError(f"config key {key!r}: expected {_type_name(tp)}, got {type(value).__name__} {value!r}")


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", None) or str(tp)


def build_dataclass(cls: type, d: dict[str, Any], prefix: str = "") -> Any:
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


# ------------------------------------------------------------------------------------------------
# leaves: the dotted paths of every scalar/list field (for overrides and CLI flags)
# ------------------------------------------------------------------------------------------------
def config_leaves(cls: type, prefix: str = "") -> dict[str, Any]:
    """{dotted path: type} of every non-dataclass field under ``cls``."""
    out: dict[str, Any] = {}
    for name, tp in _hints(cls).items():
        path = f"{prefix}.{name}" if prefix else name
        if dataclasses.is_dataclass(_is_optional(tp)[1]):
            out.update(config_leaves(_is_optional(tp)[1], path))
        else:
            out[path] = tp
    return out


DOTTED_ONLY_SECTIONS = ("align",)     # sections whose keys have no flat alias (stage 1: align.rates, align.device)


def flat_aliases(leaves: dict[str, Any]) -> tuple[dict[str, str], dict[str, list[str]]]:
    """(unique leaf name -> dotted path, ambiguous leaf name -> all its dotted paths), over the leaves outside
    :data:`DOTTED_ONLY_SECTIONS`."""
    by_name: dict[str, list[str]] = {}
    for path in leaves:
        if path.split(".", 1)[0] in DOTTED_ONLY_SECTIONS:
            continue
        by_name.setdefault(path.rsplit(".", 1)[-1], []).append(path)
    unique = {n: ps[0] for n, ps in by_name.items() if len(ps) == 1}
    ambiguous = {n: ps for n, ps in by_name.items() if len(ps) > 1}
    return unique, ambiguous


def resolve_key(key: str, leaves: dict[str, Any]) -> str:
    """Map an override key (dotted or flat) to its dotted path; ConfigError if unknown or ambiguous."""
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


def set_path(d: dict[str, Any], path: str, value: Any) -> None:
    parts = path.split(".")
    for p in parts[:-1]:
        d = d.setdefault(p, {})
    d[parts[-1]] = value


def deep_merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in over.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = deep_merge(out[k], v)
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
        merged = deep_merge(merged, read_config_file(path.parent / parent, _seen + (path,)))
    d.pop("schema_version", None)
    d.pop("description", None)
    return deep_merge(merged, d)
