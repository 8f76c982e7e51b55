"""Synthetic scenes generated once per test session (CPU, tiny preset)."""

from __future__ import annotations

import pytest

from sync4dgs.cli.main import main as cli_main
from sync4dgs.data.synth import generate, make_config


@pytest.fixture(scope="session")
def tiny_canonical(tmp_path_factory):
    """The tiny preset in the canonical layout: (folder, config)."""
    cfg = make_config("tiny", layout="canonical", device="cpu")
    out = generate(cfg, tmp_path_factory.mktemp("synth") / "tiny_canonical", progress=False)
    return out, cfg


@pytest.fixture(scope="session")
def tiny_n3v_mixed(tmp_path_factory):
    """The tiny preset in the N3V layout through the CLI, 5 cameras at 30/30/25/24/30 fps, sub-frame offsets."""
    out = tmp_path_factory.mktemp("synth") / "tiny_n3v"
    rc = cli_main(["synth", "--preset", "tiny", "--out", str(out), "--cams", "5", "--fps-mix", "30,25,24",
                   "--subframe", "--device", "cpu", "--quiet"])
    assert rc == 0
    return out
