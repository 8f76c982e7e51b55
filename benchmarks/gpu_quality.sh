#!/usr/bin/env bash
# Quality comparison on the GPU (issue 7): one synth scene (n3v preset, fewer frames), stage-2 runs of the
# same config -- oracle (true time maps, fixed), naive (all maps fixed at (0, 1)), sync4dgs (stage 1 + learned
# stage 2), and optionally stage1 (stage-1 maps, fixed) -- then test-camera metrics and offset errors, gathered
# into $OUT/quality.json. Every run starts from the SAME stage-1 trajectories (--trajectories), so the runs
# differ only in their time maps.
# Knobs: FRAMES (default 50), ITERS (default 2000), RUNS (default "oracle naive sync4dgs"), WORK.
set -uo pipefail
OUT=${1:-${OUT:-$PWD/gpu_out}}
WORK=${WORK:-/tmp/sync4dgs_quality}
FRAMES=${FRAMES:-50}
ITERS=${ITERS:-2000}
mkdir -p "$OUT" "$WORK"
S4=(python3 -m sync4dgs)
COMMON=(--config configs/synth_gpu.json --log.tensorboard false --train.iterations "$ITERS" --quiet)
timeit() { local name=$1; shift; local t0; t0=$(date +%s%N); "$@"; local rc=$?;
  echo "$name $(( ($(date +%s%N) - t0) / 1000000 )) ms (rc $rc)" | tee -a "$OUT/timings.txt"; return $rc; }
SCENE=$WORK/scene
[ -f "$SCENE/scene.json" ] || timeit synth "${S4[@]}" synth --preset n3v --frames "$FRAMES" --layout canonical --device cuda --out "$SCENE"
timeit align "${S4[@]}" align "$SCENE" --device cuda --out "$SCENE/offsets.json" 2>&1 | grep -v "align: " | tail -25
RUNS=${RUNS:-oracle naive sync4dgs}
TRAJ=(--trajectories "$SCENE/trajectories.npz")
declare -A MODE=([oracle]="--fixed_time_maps $SCENE/gt_sync.json" [naive]="--fixed_time_maps identity"
                 [sync4dgs]="--offsets $SCENE/offsets.json" [stage1]="--fixed_time_maps $SCENE/offsets.json")
for run in $RUNS; do
  M=$WORK/model_$run; rm -rf "$M"
  # shellcheck disable=SC2086
  timeit "train_$run" "${S4[@]}" train "${COMMON[@]}" "${TRAJ[@]}" -m "$M" -s "$SCENE" ${MODE[$run]} 2>&1 | grep -v "align: " | tail -8
  timeit "render_$run" "${S4[@]}" render -m "$M" -s "$SCENE" --skip_train 2>&1 | tail -2
  timeit "metrics_$run" timeout "${METRICS_TIMEOUT:-120}" "${S4[@]}" metrics -m "$M" -s "$SCENE" ${METRICS_ARGS:-} 2>&1 | tail -3
done
python3 - "$WORK" "$OUT/quality.json" $RUNS <<'PY'
import json, sys
from pathlib import Path
work, out = Path(sys.argv[1]), Path(sys.argv[2])
res = {}
for run in sys.argv[3:]:
    f = work / f"model_{run}" / "results.json"
    res[run] = json.loads(f.read_text()) if f.is_file() else {"error": "no results.json"}
out.write_text(json.dumps(res, indent=1))
def g(d, *ks):
    for k in ks:
        if not isinstance(d, dict) or k not in d: return None
        d = d[k]
    return d
def f(x, fmt):
    return "n/a" if x is None else format(x, fmt)
print("| run | test PSNR | SSIM1 | offset MAE (frames) | max (frames) | train s | images/s | #Gaussians (dyn) | FPS |")
print("|---|---|---|---|---|---|---|---|---|")
for run, r in res.items():
    print(f"| {run} | {f(g(r, 'images', 'test', 'mean', 'psnr'), '.2f')} | {f(g(r, 'images', 'test', 'mean', 'ssim'), '.4f')}"
          f" | {f(g(r, 'offsets', 'learned', 'summary', 'mae_frames'), '.4f')}"
          f" | {f(g(r, 'offsets', 'learned', 'summary', 'max_frames'), '.4f')}"
          f" | {f(g(r, 'training', 'train_seconds'), '.0f')} | {f(g(r, 'training', 'images_per_second'), '.1f')}"
          f" | {f(g(r, 'model', 'n_total'), 'd')} ({f(g(r, 'model', 'n_dynamic'), 'd')})"
          f" | {f(g(r, 'render_speed', 'fps'), '.0f')} |")
PY
