"""Helpers of the reliability suite: the CLI run in-process, a content hash of a folder tree, and the
assertions every "bad input" case shares."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import pytest


@dataclass
class CliResult:
    """Exit status and captured output of one in-process CLI run."""

    rc: int
    out: str
    err: str


def run_cli(argv: list[str], capsys: pytest.CaptureFixture) -> CliResult:
    """``sync4dgs ARGV`` in this process (argparse errors exit with SystemExit, turned into a status)."""
    from sync4dgs.cli.main import main  # noqa: PLC0415

    capsys.readouterr()
    try:
        rc = main(argv)
    except SystemExit as e:
        rc = e.code if isinstance(e.code, int) else 1
    captured = capsys.readouterr()
    return CliResult(int(rc), captured.out, captured.err)


def tree_hash(root: Path) -> dict[str, str]:
    """{relative path: sha256 of the content ("<dir>" for folders)} of everything under ``root``."""
    root = Path(root)
    if not root.exists():
        return {}
    if root.is_file():
        return {".": hashlib.sha256(root.read_bytes()).hexdigest()}
    out = {}
    for p in sorted(root.rglob("*")):
        rel = p.relative_to(root).as_posix()
        out[rel] = "<dir>" if p.is_dir() else hashlib.sha256(p.read_bytes()).hexdigest()
    return out


def assert_clean_failure(res: CliResult, *names: str) -> None:
    """Non-zero status, a one-line error without a traceback, naming each of ``names`` (file or key)."""
    assert res.rc != 0, (res.out, res.err)
    assert "Traceback" not in res.err, res.err
    lines = [ln for ln in res.err.splitlines() if "error" in ln]
    assert lines, res.err
    for name in names:
        assert name in res.err, (name, res.err)


def no_leftovers(parent: Path, name: str) -> list[str]:
    """Hidden temporary siblings (``.name.*``) an atomic folder build could leave behind in ``parent``."""
    return sorted(p.name for p in Path(parent).glob(f".{name}.*"))


# Fast settings of the tiny scene: CPU, torch renderer, no stage 1, nothing but the essentials logged.
FAST = {"train.device": "cpu", "render.backend": "torch", "model.sh_degree": "0", "optim.optimizer": "adam",
        "model.keyframe_interval_frames": "1", "time.align": "false", "log.tensorboard": "false",
        "log.progress": "false", "log.log_every": "1", "guard.check_every": "1", "train.checkpoint_every": "0"}


def train_argv(scene: Path, model: Path, iterations: int = 2, **overrides: str) -> list[str]:
    """``sync4dgs train`` arguments for the tiny scene (``overrides``: dotted keys with "__" for ".")."""
    argv = ["train", "-s", str(scene), "-m", str(model), "--quiet", "--train.iterations", str(iterations)]
    merged = {**FAST, **{k.replace("__", "."): v for k, v in overrides.items()}}
    for key, value in merged.items():
        argv += [f"--{key}", value]
    return argv
