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
python3 benchmarks/quality_table.py "$WORK" "$OUT/quality.json" --parallel "$PARALLEL" --seeds "$SEEDS" --runs "$RUNS"
