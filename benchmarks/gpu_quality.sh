#!/usr/bin/env bash
# Quality comparison on the GPU (issue 7): one synth scene (n3v preset, fewer frames), stage-2 runs of the
# same config -- oracle (true time maps, fixed), naive (all maps fixed at (0, 1)), sync4dgs (stage 1 + learned
# stage 2), and optionally stage1 (stage-1 maps, fixed) -- then test-camera metrics and offset errors, gathered
# into $OUT/quality.json. Every run starts from the SAME stage-1 trajectories (--trajectories), so the runs
# differ only in their time maps.
# Knobs: FRAMES (default 50), ITERS (default 2000), RUNS (default "oracle naive sync4dgs"), SEEDS (default "0";
# every run once per seed), PARALLEL (runs sharing the GPU at once, default 1), WORK.
set -uo pipefail
OUT=${1:-${OUT:-$PWD/gpu_out}}
WORK=${WORK:-/tmp/sync4dgs_quality}
FRAMES=${FRAMES:-50}
ITERS=${ITERS:-2000}
mkdir -p "$OUT" "$WORK"
S4=(python3 -m sync4dgs)
COMMON=(--config ${QUALITY_CONFIG:-configs/synth_gpu.json} --log.tensorboard false --train.iterations "$ITERS" --quiet)
timeit() { local name=$1; shift; local t0; t0=$(date +%s%N); "$@"; local rc=$?;
  echo "$name $(( ($(date +%s%N) - t0) / 1000000 )) ms (rc $rc)" | tee -a "$OUT/timings.txt"; return $rc; }
SCENE=$WORK/scene
DEVICE=${DEVICE:-cuda}
# shellcheck disable=SC2086
[ -f "$SCENE/scene.json" ] || timeit synth "${S4[@]}" synth ${SYNTH_ARGS:---preset n3v --frames $FRAMES} --layout canonical \
  --device "$DEVICE" --out "$SCENE"
timeit align "${S4[@]}" align "$SCENE" --device "$DEVICE" --out "$SCENE/offsets.json" 2>&1 | grep -v "align: " | tail -25
RUNS=${RUNS:-oracle naive sync4dgs}
SEEDS=${SEEDS:-0}
PARALLEL=${PARALLEL:-1}     # runs sharing the GPU at once (timings of concurrent runs are not comparable)
TRAJ=(--trajectories "$SCENE/trajectories.npz")
declare -A MODE=([oracle]="--fixed_time_maps $SCENE/gt_sync.json" [naive]="--fixed_time_maps identity"
                 [sync4dgs]="--offsets $SCENE/offsets.json" [stage1]="--fixed_time_maps $SCENE/offsets.json")
one_run() {   # run seed: train, render, metrics into $WORK/model_<run>_s<seed>
  local run=$1 seed=$2 M=$WORK/model_$1_s$2
  rm -rf "$M"
  # shellcheck disable=SC2086
  timeit "train_${run}_s$seed" "${S4[@]}" train "${COMMON[@]}" "${TRAJ[@]}" --train.seed "$seed" -m "$M" -s "$SCENE" \
    ${MODE[$run]} > "$WORK/log_${run}_s$seed.txt" 2>&1
  timeit "render_${run}_s$seed" "${S4[@]}" render -m "$M" -s "$SCENE" --skip_train --quiet >> "$WORK/log_${run}_s$seed.txt" 2>&1
  timeit "metrics_${run}_s$seed" timeout "${METRICS_TIMEOUT:-180}" "${S4[@]}" metrics -m "$M" -s "$SCENE" ${METRICS_ARGS:-} \
    --quiet >> "$WORK/log_${run}_s$seed.txt" 2>&1
  tail -3 "$WORK/log_${run}_s$seed.txt"
}
for seed in $SEEDS; do
  for run in $RUNS; do
    while [ "$(jobs -rp | wc -l)" -ge "$PARALLEL" ]; do wait -n; done
    one_run "$run" "$seed" &
  done
done
wait
cat "$WORK"/log_*.txt > "$OUT/quality_runs.log" 2>/dev/null
python3 - "$WORK" "$OUT/quality.json" "$PARALLEL" "$SEEDS" -- $RUNS <<'PY'
import json, statistics, sys
from pathlib import Path
work, out, parallel = Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3])
seeds = sys.argv[4].split()
runs = sys.argv[sys.argv.index("--") + 1:]
def g(d, *ks):
    for k in ks:
        if not isinstance(d, dict) or k not in d: return None
        d = d[k]
    return d
def f(x, fmt):
    return "n/a" if x is None else format(x, fmt)
res = {}
for run in runs:
    for seed in seeds:
        p = work / f"model_{run}_s{seed}" / "results.json"
        res[f"{run}_s{seed}"] = json.loads(p.read_text()) if p.is_file() else {"error": "no results.json"}
out.write_text(json.dumps({"parallel_runs": parallel, "seeds": seeds, "runs": res}, indent=1))
print(f"per run ({parallel} run(s) shared the GPU at a time: train times/images/s are not standalone numbers)")
print("| run | seed | test PSNR | SSIM1 | offset MAE (frames) | max (frames) | train s | images/s | #Gaussians (dyn) | FPS |")
print("|---|---|---|---|---|---|---|---|---|---|")
for key, r in res.items():
    run, seed = key.rsplit("_s", 1)
    print(f"| {run} | {seed} | {f(g(r, 'images', 'test', 'mean', 'psnr'), '.2f')} | {f(g(r, 'images', 'test', 'mean', 'ssim'), '.4f')}"
          f" | {f(g(r, 'offsets', 'learned', 'summary', 'mae_frames'), '.4f')}"
          f" | {f(g(r, 'offsets', 'learned', 'summary', 'max_frames'), '.4f')}"
          f" | {f(g(r, 'training', 'train_seconds'), '.0f')} | {f(g(r, 'training', 'images_per_second'), '.1f')}"
          f" | {f(g(r, 'model', 'n_total'), 'd')} ({f(g(r, 'model', 'n_dynamic'), 'd')})"
          f" | {f(g(r, 'render_speed', 'fps'), '.0f')} |")
psnr = {run: {s: g(res[f"{run}_s{s}"], 'images', 'test', 'mean', 'psnr') for s in seeds} for run in runs}
print("\nmean over seeds")
print("| run | seeds | mean PSNR | std | min | max |")
print("|---|---|---|---|---|---|")
for run in runs:
    v = [x for x in psnr[run].values() if x is not None]
    if v:
        sd = statistics.stdev(v) if len(v) > 1 else 0.0
        print(f"| {run} | {len(v)} | {statistics.mean(v):.2f} | {sd:.2f} | {min(v):.2f} | {max(v):.2f} |")
for a, b in (("sync4dgs", "oracle"), ("sync4dgs", "naive"), ("stage1", "oracle")):
    if a in psnr and b in psnr:
        d = [psnr[a][s] - psnr[b][s] for s in seeds if psnr[a][s] is not None and psnr[b][s] is not None]
        if d:
            print(f"{a} - {b}: mean {statistics.mean(d):+.2f} dB over {len(d)} seed(s) (per seed: "
                  + ", ".join(f"{x:+.2f}" for x in d) + ")")
PY
