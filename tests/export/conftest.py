"""Fixtures of the export tests: a tiny scene + saved model (tests/export/tiny_model.py)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest


def load_tiny():
    spec = importlib.util.spec_from_file_location("sync4dgs_tests_tiny_model", Path(__file__).with_name("tiny_model.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="session")
def tiny():
    """The tiny_model helper module."""
    return load_tiny()


@pytest.fixture
def tiny_model_dir(tmp_path, tiny):
    """(model folder, scene folder) of a freshly saved tiny model."""
    return tiny.make_model_folder(tmp_path)
