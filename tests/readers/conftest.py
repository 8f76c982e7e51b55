"""Reader-test fixtures. ``kit`` is the builders module (ray caster, layout writers, helpers); ``calib_kit``
writes calibration files."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

_spec = importlib.util.spec_from_file_location("readers_builders", Path(__file__).with_name("builders.py"))
builders = importlib.util.module_from_spec(_spec)
sys.modules["readers_builders"] = builders  # dataclasses need their module registered
_spec.loader.exec_module(builders)
_spec = importlib.util.spec_from_file_location("readers_calib_files", Path(__file__).with_name("calib_files.py"))
calib_files = importlib.util.module_from_spec(_spec)
sys.modules["readers_calib_files"] = calib_files
_spec.loader.exec_module(calib_files)


@pytest.fixture(scope="session")
def kit():
    return builders


@pytest.fixture(scope="session")
def calib_kit():
    """Writers of every supported calibration format (calib_files.py)."""
    return calib_files


@pytest.fixture(scope="session")
def room():
    return builders.Room(seed=0)


@pytest.fixture(scope="session")
def rig():
    return builders.make_rig()


@pytest.fixture(scope="session")
def rig_frames(room, rig):
    """6 synchronized frames per camera of the default rig (moving sphere)."""
    return builders.render_videos(room, rig, 6)


@pytest.fixture
def n3v_dir(tmp_path, rig, rig_frames) -> Path:
    return builders.write_n3v(tmp_path / "flame_steak", rig, rig_frames)
