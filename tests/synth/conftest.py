"""Synthetic scenes generated once per test session (CPU, tiny preset).

The renderer runs many small tensor ops; with several torch threads on a busy 2-core machine every op waits
for a descheduled thread (a 10x slowdown was measured), so these tests render with one torch thread (restored
afterwards).
"""

from __future__ import annotations

import contextlib

import pytest
import torch

from sync4dgs.cli.main import main as cli_main
from sync4dgs.data.synth import generate, make_config


@contextlib.contextmanager
def one_torch_thread():
    prev = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(prev)


@pytest.fixture(autouse=True, scope="module")
def _one_torch_thread():
    with one_torch_thread():
        yield


@pytest.fixture(scope="session")
def tiny_canonical(tmp_path_factory):
    """The tiny preset in the canonical layout: (folder, config)."""
    cfg = make_config("tiny", layout="canonical", device="cpu")
    with one_torch_thread():
        out = generate(cfg, tmp_path_factory.mktemp("synth") / "tiny_canonical", progress=False)
    return out, cfg


@pytest.fixture(scope="session")
def tiny_n3v_mixed(tmp_path_factory):
    """The tiny preset in the N3V layout through the CLI, 5 cameras at 30/30/25/24/30 fps, sub-frame offsets."""
    out = tmp_path_factory.mktemp("synth") / "tiny_n3v"
    with one_torch_thread():
        rc = cli_main(["synth", "--preset", "tiny", "--out", str(out), "--cams", "5", "--fps_mix", "30,25,24",
                       "--subframe", "--device", "cpu", "--quiet"])
    assert rc == 0
    return out
