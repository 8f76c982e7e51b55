"""Model-folder safety of ``train``: one run per folder (lock, stale-lock take-over on this host and from other
hosts by heartbeat, ``--force_unlock``), a run that fails before its first iteration changes nothing, checkpoint
fallback and orphan clean-up, stats over resumed segments, offsets.csv after a kill."""

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
from sync4dgs.train.modelfolder import STALE_AFTER_S, ModelFolderLock


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


# ---- locks from other hosts, heartbeats, --force_unlock ---------------------------------------------------
def _foreign_lock(model, age_s: float, host: str = "render-node-7"):
    """A lock taken on another host, its heartbeat (the file's mtime) ``age_s`` seconds old."""
    model.mkdir(parents=True, exist_ok=True)
    path = model / LOCK_FILE
    path.write_text(json.dumps({"pid": 4242, "host": host, "boot_id": "another-boot",
                                "started_at": "2024-01-01T00:00:00"}))
    t = path.stat().st_mtime - age_s
    os.utime(path, (t, t))
    return path


def test_a_live_lock_from_another_host_is_refused_with_the_way_out(h, tiny_scene, tmp_path, capsys):
    model = tmp_path / "m"
    _foreign_lock(model, age_s=60)
    before = h.tree_hash(model)
    res = h.run_cli(h.train_argv(tiny_scene, model), capsys)
    h.assert_clean_failure(res, str(model), "pid 4242 on render-node-7", "--force_unlock", "10 min")
    assert len(res.err.strip().splitlines()) == 1 and h.tree_hash(model) == before


def test_a_lock_from_another_host_without_heartbeat_is_stale(h, tiny_scene, tmp_path, capsys, caplog):
    model = tmp_path / "m"
    _foreign_lock(model, age_s=STALE_AFTER_S + 60)
    res = h.run_cli(h.train_argv(tiny_scene, model), capsys)
    assert res.rc == 0, res.err
    assert "no heartbeat from render-node-7" in caplog.text and not (model / LOCK_FILE).exists()


def test_a_lock_from_before_a_reboot_is_stale(tmp_path):
    lock = ModelFolderLock(tmp_path)
    if lock.record["boot_id"] is None:
        pytest.skip("no boot id on this system")
    holder = {**lock.record, "pid": os.getpid(), "boot_id": "an-earlier-boot"}   # alive pid, other boot
    assert lock.stale_reason(holder) == "taken before this host's last reboot"
    assert lock.stale_reason({**holder, "boot_id": lock.record["boot_id"]}) is None


@pytest.mark.parametrize("kind", ["live-here", "live-elsewhere", "unreadable"])
def test_force_unlock_takes_over_any_lock(kind, h, tiny_scene, tmp_path, capsys, caplog):
    model = tmp_path / "m"
    if kind == "live-here":
        _lock(model, os.getpid())
    elif kind == "live-elsewhere":
        _foreign_lock(model, age_s=0)
    else:
        model.mkdir()
        (model / LOCK_FILE).write_bytes(b"\x00garbage")
    refused = h.run_cli(h.train_argv(tiny_scene, model), capsys)
    h.assert_clean_failure(refused, "--force_unlock")
    res = h.run_cli(h.train_argv(tiny_scene, model) + ["--force_unlock"], capsys)
    assert res.rc == 0, res.err
    assert not (model / LOCK_FILE).exists() and (model / "checkpoints" / "ckpt_2.pt").is_file()


def test_the_heartbeat_keeps_a_lock_fresh(tmp_path):
    """What another host sees: a lock whose mtime is old is stale, the holder's next beat makes it fresh."""
    holder = ModelFolderLock(tmp_path / "m")
    holder.acquire()
    try:
        other = ModelFolderLock(tmp_path / "m")
        other.record["host"] = "elsewhere"
        record = json.loads(holder.path.read_text())
        os.utime(holder.path, (0, 0))
        assert "no heartbeat" in other.stale_reason(record)
        holder.beat()
        assert other.stale_reason(record) is None
        assert holder._beater is not None and holder._beater.is_alive()
    finally:
        holder.release()
    assert holder._beater is None and not holder.path.exists()


def test_a_half_written_offsets_row_is_dropped_on_resume(h, tiny_scene, tmp_path, capsys):
    model = tmp_path / "m"
    assert h.run_cli(h.train_argv(tiny_scene, model, 2), capsys).rc == 0
    with (model / "offsets.csv").open("a") as f:
        f.write("3,0.00\n4")                                  # a killed run's rows past the checkpoint at 2
    assert h.run_cli(h.train_argv(tiny_scene, model, 3), capsys).rc == 0
    rows = (model / "offsets.csv").read_text().splitlines()
    assert [r.split(",")[0] for r in rows] == ["iteration", "0", "1", "2", "3"]
    assert all(len(r.split(",")) == 3 for r in rows)
