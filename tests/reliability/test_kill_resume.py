"""Runs killed with SIGKILL at chosen moments, then run again: nothing half-written is left or trusted.

The moment is chosen exactly, not by a timer: the killed process is the real CLI in a child interpreter whose
``os.replace`` sends SIGKILL to its own process when it is about to rename a temporary onto a chosen path (the
temporary is then complete on disk, under the dead writer's flock, and the rename never happens: what a kill
at the end of a write leaves). The run after the kill must succeed, leave no temporary of the dead run behind
(model folder, scene folder, prepare's output siblings) and, for training, end with exactly the model an
uninterrupted run gives.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import sync4dgs
from sync4dgs.train.modelfolder import LOCK_FILE
from sync4dgs.utils.atomic import TEMPORARY

REPO = Path(sync4dgs.__file__).resolve().parents[1]
CHILD = """
import os, signal, sys
target, nth, seen, real = os.environ["KILL_AT"], int(os.environ.get("KILL_NTH", "1")), [0], os.replace
def replace(src, dst, *a, **k):
    if str(dst).endswith(target):
        seen[0] += 1
        if seen[0] == nth:
            os.kill(os.getpid(), signal.SIGKILL)
    return real(src, dst, *a, **k)
os.replace = replace
import torch
torch.set_num_threads(1)
from sync4dgs.cli.main import main
sys.exit(main(sys.argv[1:]))
"""


def _killed_run(argv: list[str], at: str, nth: int = 1) -> None:
    """Run ``sync4dgs ARGV`` in a child that SIGKILLs itself when renaming onto a path ending with ``at``."""
    env = {**os.environ, "KILL_AT": at, "KILL_NTH": str(nth), "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, "-c", CHILD, *argv], env=env, capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == -signal.SIGKILL, (proc.returncode, proc.stderr[-2000:])


def _temporaries(root: Path) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in Path(root).rglob("*") if TEMPORARY.match(p.name))


def _weights(model: Path, it: int) -> dict:
    return torch.load(model / "point_cloud" / f"iteration_{it}" / "model.pt", weights_only=True)


def _assert_same_model(a: Path, b: Path, it: int) -> None:
    wa, wb = _weights(a, it), _weights(b, it)
    for part in ("static", "dynamic"):
        assert wa[part].keys() == wb[part].keys()
        for k in wa[part]:
            assert torch.equal(wa[part][k], wb[part][k]), (part, k)
    assert wa["time_maps"] == wb["time_maps"]


@pytest.fixture(scope="module")
def reference(h, tiny_scene_master, tmp_path_factory):
    """An uninterrupted 6-iteration run (checkpoints every 2, weights also at 3)."""
    from sync4dgs.cli.main import main  # noqa: PLC0415

    model = tmp_path_factory.mktemp("reference") / "m"
    assert main(h.train_argv(tiny_scene_master, model, 6, train__checkpoint_every="2",
                             train__save_iterations="[3]")) == 0
    return model


@pytest.mark.parametrize("moment", ["checkpoint", "weights", "config"])
def test_train_killed_while_writing_resumes_exactly(moment, h, tiny_scene, reference, tmp_path, capsys):
    """Killed at the end of writing checkpoint 4 / the iteration-3 weights / config.json of a fresh run (during
    its setup, before the rollback could run)."""
    at = {"checkpoint": "ckpt_4.pt", "weights": "iteration_3/model.pt", "config": "config.json"}[moment]
    model = tmp_path / "m"
    argv = h.train_argv(tiny_scene, model, 6, train__checkpoint_every="2", train__save_iterations="[3]")
    _killed_run(argv, at)
    left = _temporaries(model)
    assert left and (model / LOCK_FILE).is_file(), left        # the dead run's temporary and lock are there
    res = h.run_cli(argv, capsys)
    assert res.rc == 0, res.err
    assert _temporaries(model) == [] and not (model / LOCK_FILE).exists()
    _assert_same_model(model, reference, 6)
    # one row per iteration, none repeated by the resume, none half-written
    assert (model / "offsets.csv").read_text() == (reference / "offsets.csv").read_text()


def test_train_killed_while_building_the_frame_cache(h, tiny_scene, tmp_path, capsys):
    """A frame cache in the SCENE folder left half-built: the next run removes it and builds its own."""
    model = tmp_path / "m"
    argv = h.train_argv(tiny_scene, model, 2, train__frames_on_device="never", train__frames_host_cache="never")
    _killed_run(argv, "cache/frames/cam01.npy")
    assert _temporaries(tiny_scene / "cache"), "the kill left no temporary frame cache"
    res = h.run_cli(argv, capsys)
    assert res.rc == 0, res.err
    assert _temporaries(tiny_scene) == [] and (tiny_scene / "cache" / "frames" / "cam01.npy").is_file()


def test_a_killed_setup_puts_the_moved_aside_stage1_back(h, tiny_scene, tmp_path, capsys):
    """The state a run killed during its stage 1 leaves (stage1/ moved aside, a partial rebuild, a temporary):
    the next run restores the earlier stage1/ before it decides anything."""
    model = tmp_path / "m"
    assert h.run_cli(h.train_argv(tiny_scene, model, 2), capsys).rc == 0
    (model / ".stage1.before_run").mkdir()
    (model / ".stage1.before_run" / "offsets.json").write_text('{"earlier": true}')
    (model / "stage1").mkdir()
    (model / "stage1" / ".trajectories.npz.abcd1234.tmp.npz").write_bytes(b"partial")
    res = h.run_cli(h.train_argv(tiny_scene, model, 3), capsys)
    assert res.rc == 0, res.err
    assert json.loads((model / "stage1" / "offsets.json").read_text()) == {"earlier": True}
    assert not (model / ".stage1.before_run").exists() and _temporaries(model) == []


def test_a_temporary_being_written_is_left_alone(h, tiny_scene, tmp_path, capsys):
    """A live writer's temporary (its flock held, here by this process) survives the sweep of the next run."""
    import fcntl  # noqa: PLC0415

    model = tmp_path / "m"
    assert h.run_cli(h.train_argv(tiny_scene, model, 2), capsys).rc == 0
    live = model / "test" / "ours_2" / "renders" / ".cam00_00000.png.live1234.tmp.png"
    live.parent.mkdir(parents=True)
    live.write_bytes(b"being written by a render")
    fd = os.open(live, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        assert h.run_cli(h.train_argv(tiny_scene, model, 3), capsys).rc == 0
        assert live.is_file()
    finally:
        os.close(fd)


@pytest.mark.parametrize("moment", ["final-rename", "between-renames"])
def test_prepare_killed_while_swapping_in_its_output(moment, h, clone, tmp_path, capsys):
    """Killed as the finished folder is renamed into place (first build), or between moving the previous scene
    aside and renaming the new one in (rebuild): the next prepare cleans up and, where the kill left no scene,
    the previous one was kept as .scene.old and is put back first."""
    src = clone("technicolor")
    out = tmp_path / "out" / "scene"
    argv = ["prepare", str(src), "--out", str(out), "--points", "random"]
    if moment == "between-renames":
        assert h.run_cli(argv, capsys).rc == 0
        before = h.tree_hash(out)
    _killed_run(argv, "out/scene")
    assert not out.exists()
    siblings = sorted(p.name for p in out.parent.iterdir())
    assert any(TEMPORARY.match(n) for n in siblings), siblings
    if moment == "between-renames":
        assert ".scene.old" in siblings and h.tree_hash(out.parent / ".scene.old") == before
    res = h.run_cli(argv, capsys)
    assert res.rc == 0, res.err
    assert sorted(p.name for p in out.parent.iterdir()) == ["scene"]
