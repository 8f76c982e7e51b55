"""benchmarks/device_job.sh: a detached job is started, polled to its end with its out/ copied back, and a poll of a
job that this machine does not have (a fresh machine after the held one was lost) fails at once."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "device_job.sh"

pytestmark = pytest.mark.skipif(shutil.which("setsid") is None, reason="needs setsid (util-linux)")


def _run(args: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", str(SCRIPT), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=60)


def test_start_then_poll_copies_the_jobs_out_folder(tmp_path: Path) -> None:
    repo, out = tmp_path / "repo", tmp_path / "out"
    repo.mkdir()
    out.mkdir()
    (repo / "marker.txt").write_text("copied with the repository\n")
    env = {**os.environ, "JOBS": str(tmp_path / "jobs"), "OUT": str(out)}
    started = _run(["start", "j1", "--", "bash", "-c", 'cat marker.txt > "$JOB_OUT/result.txt"; echo done'], repo, env)
    assert started.returncode == 0, started.stderr
    polled = _run(["poll", "j1", "30"], repo, env)
    assert polled.returncode == 0, polled.stderr
    assert "ended rc=0" in polled.stdout
    assert (out / "result.txt").read_text() == "copied with the repository\n"
    assert "done" in (out / "job_j1.log").read_text()


def test_poll_of_an_unknown_job_fails_at_once(tmp_path: Path) -> None:
    env = {**os.environ, "JOBS": str(tmp_path / "jobs"), "OUT": str(tmp_path)}
    polled = _run(["poll", "missing", "500"], tmp_path, env)
    assert polled.returncode == 3
    assert "no job missing on this machine" in polled.stdout
