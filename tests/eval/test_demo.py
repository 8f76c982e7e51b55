"""``sync4dgs demo``: says what is missing (never fakes results); ``--quick`` runs end to end (about 30 s on
2 idle cores, so not marked slow)."""

from __future__ import annotations

import json
import math

import pytest

from sync4dgs.demo import pipeline as demo
from sync4dgs.cli.main import main
from sync4dgs.eval.demo_report import OFFSET_COLUMNS, QUALITY_COLUMNS


def test_demo_names_missing_parts(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(demo, "REQUIRED", demo.REQUIRED + (("sync4dgs.no_such_module", "x", "a future part"),
                                                           ("sync4dgs.eval.layout", "no_such_attr", "another part")))
    rc = main(["demo", "--quick", "--out", str(tmp_path / "out"), "--device", "cpu"])
    out = capsys.readouterr().out
    assert rc == 2
    assert "missing pipeline parts" in out and "No results were produced" in out
    assert "a future part: cannot import sync4dgs.no_such_module" in out
    assert "another part: sync4dgs.eval.layout.no_such_attr does not exist yet" in out
    assert not (tmp_path / "out" / "summary.json").exists()


def test_demo_missing_config(tmp_path, capsys):
    """A mistyped --config is one error line (file not found), not a list of "missing pipeline parts"."""
    missing = tmp_path / "nope.json"
    rc = main(["demo", "--quick", "--out", str(tmp_path / "out"), "--config", str(missing)])
    captured = capsys.readouterr()
    assert rc != 0
    assert captured.err.splitlines() == [f"sync4dgs demo: error: --config {missing}: file not found"]
    assert "missing pipeline parts" not in captured.out and "cannot run" not in captured.out
    assert not (tmp_path / "out").exists()
    rc = main(["demo", "--quick", "--out", str(tmp_path / "out"), "--config", str(tmp_path)])
    assert rc != 0 and "is a folder" in capsys.readouterr().err


def test_demo_quick_end_to_end(tmp_path, capsys):
    out_dir = tmp_path / "demo"
    rc = main(["demo", "--quick", "--out", str(out_dir), "--device", "cpu"])
    out = capsys.readouterr().out
    assert rc == 0, out
    header_off = "  ".join(OFFSET_COLUMNS)
    assert all(c in out for c in OFFSET_COLUMNS) and all(c in out for c in QUALITY_COLUMNS), out
    lines = out.splitlines()
    i = next(k for k, ln in enumerate(lines) if ln.startswith("camera") and "stage2[ms]" in ln)
    assert lines[i].split() == header_off.split()
    rows = [ln.split() for ln in lines[i + 2:i + 6]]
    assert [r[0] for r in rows] == ["cam00", "cam01", "cam02", "cam03"]       # tiny preset: 4 cameras
    assert rows[0][2:] == ["+0.00", "+0.0"] * 3                               # the reference camera
    for r in rows:
        assert len(r) == len(OFFSET_COLUMNS)
    j = next(k for k, ln in enumerate(lines) if ln.split()[:2] == ["run", "time"])
    assert [lines[j + 2].split()[0], lines[j + 3].split()[0]] == ["naive", "learned"]
    summary = json.loads((out_dir / "summary.json").read_text())
    assert {q["run"] for q in summary["quality"]} == {"naive", "learned"}
    for q in summary["quality"]:
        assert math.isfinite(q["psnr"]) and 0 < q["ssim"] <= 1 and q["n_images"] == demo.QUICK_EVAL_FRAMES
    truth = {r["camera"]: r["truth_s"] for r in summary["offsets"]}
    gt = json.loads((out_dir / "scene" / "gt_sync.json").read_text())["cameras"]
    assert truth == pytest.approx({n: m["offset_s"] for n, m in gt.items()})
    for run in ("learned", "naive"):
        res = json.loads((out_dir / run / "results.json").read_text())
        assert res["images"]["test"]["n_images"] == demo.QUICK_EVAL_FRAMES
        assert res["offsets"]["status"] == "computed"
        assert list((out_dir / run / "test").glob("ours_*/videos/cam00.mp4"))
    assert (out_dir / "offsets.png").stat().st_size > 1000
    assert (out_dir / "learned" / "stage1" / "offsets.json").is_file()
