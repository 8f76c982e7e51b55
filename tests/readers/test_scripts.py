"""The batch preprocessing scripts: every scene prepared, failures reported and counted."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from sync4dgs.data.scene import load_scene

SCRIPTS = Path(__file__).resolve().parents[2] / "scripts"
pytestmark = pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")


def _run(script: str, *args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, SYNC4DGS=f"{sys.executable} -m sync4dgs")
    return subprocess.run(["bash", str(SCRIPTS / script), *map(str, args)], env=env, capture_output=True, text=True,
                          timeout=300)


def test_preprocess_all_n3v(kit, rig, rig_frames, tmp_path):
    data = tmp_path / "data"
    kit.write_n3v(data / "sear_steak", rig[:3], rig_frames)
    broken = kit.write_n3v(data / "cook_spinach", rig[:3], rig_frames)
    np.save(broken / "poses_bounds.npy", np.zeros((3, 15)))
    r = _run("preprocess_all_n3v.sh", data, "--", "--points", "random")
    assert r.returncode == 1, r.stderr
    assert "cook_spinach failed" in r.stderr
    scene = load_scene(data / "sear_steak" / "sync4dgs_scene")
    assert (scene.cameras[0].width, scene.test_cameras) == (160, ["cam00"])  # --downscale 2 by default
    r = _run("preprocess_all_n3v.sh", data / "sear_steak", "--out", tmp_path / "scenes", "--", "--points", "random")
    assert r.returncode == 0, r.stderr
    assert load_scene(tmp_path / "scenes" / "sear_steak").camera_names == ["cam00", "cam01", "cam02"]


def test_preprocess_all_techni(kit, rig, rig_frames, tmp_path):
    kit.write_technicolor(tmp_path / "data" / "Fabien", "Fabien", rig[:3], rig_frames, first=50)
    r = _run("preprocess_all_techni.sh", tmp_path / "data", "--out", tmp_path / "scenes", "--", "--points", "random")
    assert r.returncode == 0, r.stderr
    scene = load_scene(tmp_path / "scenes" / "Fabien")
    # Fabien's protocol window is 51:101; the files here are 50..55, so 51..55 are kept
    assert scene.cameras[0].frames.start == 51 and scene.cameras[0].n_frames == 5
    assert scene.test_cameras == []  # no cam10 in a 3-camera rig
    r = _run("preprocess_all_techni.sh", tmp_path / "nothing_here")
    assert r.returncode == 2
