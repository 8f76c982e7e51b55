"""Gather the quality runs of benchmarks/gpu_quality.sh into one JSON file and markdown tables.

    python benchmarks/quality_table.py WORK OUT.json --seeds "0 1 2" --runs "oracle naive sync4dgs" [--parallel 3]

Reads ``WORK/model_<run>_s<seed>/results.json`` (written by ``sync4dgs metrics``); runs that did not finish are
listed as "n/a" and left out of the means. Prints one row per run and seed, the mean/std of the test PSNR over
seeds, and the per-seed paired PSNR differences (same seed = same initial Gaussians and view order) between
sync4dgs and the oracle / naive runs.
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path
from typing import Any


def _get(d: Any, *keys: str) -> Any:
    for k in keys:
        if not isinstance(d, dict) or k not in d:
            return None
        d = d[k]
    return d


def _fmt(x: Any, fmt: str) -> str:
    return "n/a" if x is None else format(x, fmt)


def gather(work: Path, runs: list[str], seeds: list[str]) -> dict[str, Any]:
    """``{"<run>_s<seed>": results dict or {"error": ...}}`` in run-major order."""
    res: dict[str, Any] = {}
    for run in runs:
        for seed in seeds:
            p = work / f"model_{run}_s{seed}" / "results.json"
            res[f"{run}_s{seed}"] = json.loads(p.read_text()) if p.is_file() else {"error": "no results.json"}
    return res


def psnr_by_seed(res: dict[str, Any], runs: list[str], seeds: list[str]) -> dict[str, dict[str, float | None]]:
    return {run: {s: _get(res[f"{run}_s{s}"], "images", "test", "mean", "psnr") for s in seeds} for run in runs}


def paired_gaps(psnr: dict[str, dict[str, float | None]], a: str, b: str) -> list[float]:
    """PSNR(a) - PSNR(b) for every seed where both finished."""
    if a not in psnr or b not in psnr:
        return []
    return [psnr[a][s] - psnr[b][s] for s in psnr[a] if psnr[a][s] is not None and psnr[b].get(s) is not None]


DEFAULT_PAIRS = (("sync4dgs", "oracle"), ("sync4dgs", "naive"), ("stage1", "oracle"))


def tables(res: dict[str, Any], runs: list[str], seeds: list[str], parallel: int,
           pairs: tuple[tuple[str, str], ...] = DEFAULT_PAIRS) -> str:
    lines = [f"per run ({parallel} run(s) shared the GPU at a time: with more than one, train times and images/s "
             "are not standalone numbers)",
             "| run | seed | test PSNR | SSIM1 | offset MAE initial -> learned (frames) | max learned (frames) | train s "
             "| images/s | #Gaussians (dyn) | FPS |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for key, r in res.items():
        run, seed = key.rsplit("_s", 1)
        lines.append(
            f"| {run} | {seed} | {_fmt(_get(r, 'images', 'test', 'mean', 'psnr'), '.2f')}"
            f" | {_fmt(_get(r, 'images', 'test', 'mean', 'ssim'), '.4f')}"
            f" | {_fmt(_get(r, 'offsets', 'initial', 'summary', 'mae_frames'), '.4f')} ->"
            f" {_fmt(_get(r, 'offsets', 'learned', 'summary', 'mae_frames'), '.4f')}"
            f" | {_fmt(_get(r, 'offsets', 'learned', 'summary', 'max_frames'), '.4f')}"
            f" | {_fmt(_get(r, 'training', 'train_seconds'), '.0f')}"
            f" | {_fmt(_get(r, 'training', 'images_per_second'), '.1f')}"
            f" | {_fmt(_get(r, 'model', 'n_total'), 'd')} ({_fmt(_get(r, 'model', 'n_dynamic'), 'd')})"
            f" | {_fmt(_get(r, 'render_speed', 'fps'), '.0f')} |")
    psnr = psnr_by_seed(res, runs, seeds)
    lines += ["", "test PSNR over seeds", "| run | seeds | mean | std | min | max |", "|---|---|---|---|---|---|"]
    for run in runs:
        v = [x for x in psnr[run].values() if x is not None]
        if v:
            sd = statistics.stdev(v) if len(v) > 1 else 0.0
            lines.append(f"| {run} | {len(v)} | {statistics.mean(v):.2f} | {sd:.2f} | {min(v):.2f} | {max(v):.2f} |")
    lines.append("")
    for a, b in pairs:
        d = paired_gaps(psnr, a, b)
        if d:
            lines.append(f"{a} - {b}: mean {statistics.mean(d):+.2f} dB over {len(d)} seed(s) (per seed: "
                         + ", ".join(f"{x:+.2f}" for x in d) + ")")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("work", type=Path)
    ap.add_argument("out", type=Path)
    ap.add_argument("--runs", default="oracle naive sync4dgs")
    ap.add_argument("--seeds", default="0")
    ap.add_argument("--parallel", type=int, default=1)
    ap.add_argument("--pairs", default=None, help='paired differences to print, e.g. "a:b,c:d" (default: '
                                                  'sync4dgs:oracle, sync4dgs:naive, stage1:oracle)')
    a = ap.parse_args()
    runs, seeds = a.runs.split(), a.seeds.split()
    pairs = DEFAULT_PAIRS if a.pairs is None else tuple(tuple(p.split(":", 1)) for p in a.pairs.split(",") if p)
    res = gather(a.work, runs, seeds)
    a.out.write_text(json.dumps({"parallel_runs": a.parallel, "seeds": seeds, "runs": res}, indent=1))
    print(tables(res, runs, seeds, a.parallel, pairs))


if __name__ == "__main__":
    main()
