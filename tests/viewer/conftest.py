"""Fixtures of the viewer tests: the tiny scene + saved model of tests/export/tiny_model.py."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def tiny():
    path = Path(__file__).resolve().parents[1] / "export" / "tiny_model.py"
    spec = importlib.util.spec_from_file_location("sync4dgs_tests_tiny_model", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture
def tiny_model_dir(tmp_path, tiny):
    """(model folder, scene folder) of a freshly saved tiny model."""
    return tiny.make_model_folder(tmp_path)
