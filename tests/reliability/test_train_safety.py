"""Model-folder safety of ``train``: one run per folder (lock, stale-lock take-over), a run that fails before
its first iteration changes nothing, checkpoint fallback and orphan clean-up, stats over resumed segments."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys

import pytest
import torch

from sync4dgs.train.checkpoint import checkpoint_path, list_checkpoints, load_checkpoint
from sync4dgs.model.folder import LOCK_FILE


def _lock(model, pid):
    model.mkdir(parents=True, exist_ok=True)
    (model / LOCK_FILE).write_text(json.dumps({"pid": pid, "host": socket.gethostname(),
                                               "started_at": "2024-01-01T00:00:00"}))


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_a_second_run_on_a_locked_folder_is_refused(h, tiny_scene, tmp_path, capsys):
    model = tmp_path / "m"
    _lock(model, os.getpid())                       # a live holder: this very process
    before = h.tree_hash(model)
    res = h.run_cli(h.train_argv(tiny_scene, model), capsys)
    h.assert_clean_failure(res, str(model), f"pid {os.getpid()}", "in use")
    assert len(res.err.strip().splitlines()) == 1
    assert h.tree_hash(model) == before             # the holder's lock and folder untouched


def test_a_stale_lock_is_taken_over_and_released(h, tiny_scene, tmp_path, capsys, caplog):
    model = tmp_path / "m"
    _lock(model, _dead_pid())
    res = h.run_cli(h.train_argv(tiny_scene, model), capsys)
    assert res.rc == 0, res.err
    assert "stale lock" in caplog.text
    assert not (model / LOCK_FILE).exists()           # released at the end
    assert (model / "checkpoints" / "ckpt_2.pt").is_file()


def test_lock_is_released_after_a_failure_during_training(h, tiny_scene, tmp_path, capsys):
    model = tmp_path / "m"
    assert h.run_cli(h.train_argv(tiny_scene, model, 2), capsys).rc == 0
    (tiny_scene / "frames" / "cam01" / "00001.png").write_bytes(b"not a png")   # fails when a frame loads
    res = h.run_cli(h.train_argv(tiny_scene, model, 4), capsys)
    assert res.rc != 0 and "Traceback" not in res.err
    assert not (model / LOCK_FILE).exists()


@pytest.mark.parametrize("bad", [["--optim.optimizer", "bogus"], ["--train.iterations", "0"],
                                 ["--render.backend", "bogus"], ["--train.background", "[2, 2]"],
                                 ["--offsets", "missing.json"]])
def test_failed_run_leaves_an_existing_model_unchanged(h, tiny_scene, tmp_path, capsys, bad):
    model = tmp_path / "m"
    assert h.run_cli(h.train_argv(tiny_scene, model, 2), capsys).rc == 0
    before = h.tree_hash(model)
    res = h.run_cli(h.train_argv(tiny_scene, model, 4) + bad, capsys)
    h.assert_clean_failure(res)
    assert h.tree_hash(model) == before


def test_failure_during_setup_restores_the_folder(h, tiny_scene, tmp_path, capsys):
    """A fresh run that fails while building the session (after the lock, before iteration 1): no folder."""
    (tiny_scene / "frames" / "cam00" / "00002.png").unlink()
    model = tmp_path / "fresh" / "m"
    res = h.run_cli(h.train_argv(tiny_scene, model, 2, train__frames_on_device="always"), capsys)
    h.assert_clean_failure(res, "00002.png")
    assert not (tmp_path / "fresh").exists()


def test_failure_during_setup_of_an_existing_model_restores_it(h, tiny_scene, tmp_path, capsys):
    model = tmp_path / "m"
    assert h.run_cli(h.train_argv(tiny_scene, model, 2), capsys).rc == 0
    before = h.tree_hash(model)
    (tiny_scene / "frames" / "cam00" / "00002.png").unlink()
    res = h.run_cli(h.train_argv(tiny_scene, model, 4, train__frames_on_device="always",
                                 train__seed="7"), capsys)
    h.assert_clean_failure(res, "00002.png")
    assert h.tree_hash(model) == before                # config.json not rewritten with seed 7


def test_corrupt_newest_checkpoint_falls_back_to_the_previous(h, tiny_scene, tmp_path, capsys, caplog):
    model = tmp_path / "m"
    assert h.run_cli(h.train_argv(tiny_scene, model, 4, train__checkpoint_every="2"), capsys).rc == 0
    assert [it for it, _ in list_checkpoints(model)] == [2, 4]
    newest = checkpoint_path(model, 4)
    newest.write_bytes(newest.read_bytes()[:1000])    # truncated, as by a full disk
    orphan = model / "checkpoints" / ".ckpt_6.pt.x1y2z3.tmp.pt"
    orphan.write_bytes(b"half-written")
    res = h.run_cli(h.train_argv(tiny_scene, model, 6, train__checkpoint_every="2"), capsys)
    assert res.rc == 0, res.err
    assert "trained 6 iterations" in res.out
    assert "ckpt_4.pt is unreadable" in caplog.text and "resuming from" in caplog.text
    assert not orphan.exists()
    stats = json.loads((model / "train_stats.json").read_text())
    assert stats["iterations_this_run"] == 4           # resumed at 2, not at the damaged 4
    assert load_checkpoint(checkpoint_path(model, 4))["iteration"] == 4   # rewritten intact


def test_every_checkpoint_damaged_is_one_clear_error(h, tiny_scene, tmp_path, capsys):
    model = tmp_path / "m"
    assert h.run_cli(h.train_argv(tiny_scene, model, 2), capsys).rc == 0
    checkpoint_path(model, 2).write_bytes(b"garbage")
    before = h.tree_hash(model)
    h.assert_clean_failure(h.run_cli(h.train_argv(tiny_scene, model, 4), capsys), "ckpt_2.pt", "no readable")
    assert h.tree_hash(model) == before


def test_stats_cover_every_resumed_segment(h, tiny_scene, tmp_path, capsys):
    model = tmp_path / "m"
    for its in (2, 5, 7):
        assert h.run_cli(h.train_argv(tiny_scene, model, its), capsys).rc == 0
    stats = json.loads((model / "train_stats.json").read_text())
    segs = stats["segments"]
    assert [(s["start_iteration"], s["end_iteration"]) for s in segs] == [(0, 2), (2, 5), (5, 7)]
    assert stats["train_seconds"] == pytest.approx(sum(s["train_seconds"] for s in segs))
    assert stats["iterations"] == 7 and stats["iterations_this_run"] == 2
    # re-running the finished model trains nothing and keeps the history and its time
    assert h.run_cli(h.train_argv(tiny_scene, model, 7), capsys).rc == 0
    again = json.loads((model / "train_stats.json").read_text())
    assert again["segments"] == segs and again["train_seconds"] == stats["train_seconds"]
    assert again["iterations_this_run"] == 0 and again["final_train_psnr"] == stats["final_train_psnr"]


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
@pytest.mark.parametrize("argv", [["demo", "--device", "cuda"], ["demo", "--device", "bogus"]])
def test_unavailable_device_is_one_line(h, tmp_path, capsys, argv):
    res = h.run_cli([*argv, "--out", str(tmp_path / "demo")], capsys)
    h.assert_clean_failure(res, argv[-1])
    assert len(res.err.strip().splitlines()) == 1 and not (tmp_path / "demo").exists()
