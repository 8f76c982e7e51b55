#!/usr/bin/env bash
# End-to-end GPU benchmark at N3V scale (issue 7): synth (on the GPU) -> align -> train -> render -> metrics.
# Called by benchmarks/gpu_suite.sh as part "train"; writes timings and JSON under $1 (default $OUT).
# Environment knobs: N3V_PRESET (default n3v), ITERS (default from configs/synth_gpu.json), WORK (scratch dir),
# ALIGN_TIMEOUT / TRAIN_TIMEOUT / RENDER_TIMEOUT / METRICS_TIMEOUT (seconds per step), TRAIN_ARGS (extra train
# options, e.g. "--train.frames_on_device never" to stream frames from host RAM and measure the small-card path).
set -uo pipefail
OUT=${1:-${OUT:-$PWD/gpu_out}}
WORK=${WORK:-/tmp/sync4dgs_bench}
PRESET=${N3V_PRESET:-n3v}
ITERS=${ITERS:-}
mkdir -p "$OUT" "$WORK"
S4=(python3 -m sync4dgs)
NOTB=(--log.tensorboard false)   # the GPU machine has no tensorboard package
iters=(); [ -n "$ITERS" ] && iters=(--train.iterations "$ITERS")
timeit() { local name=$1; shift; local t0; t0=$(date +%s%N); "$@"; local rc=$?;
  echo "$name $(( ($(date +%s%N) - t0) / 1000000 )) ms (rc $rc)" | tee -a "$OUT/timings.txt"; return $rc; }

: > "$OUT/timings.txt"
SCENE=$WORK/scene_$PRESET
[ -f "$SCENE/scene.json" ] || timeit synth "${S4[@]}" synth --preset "$PRESET" --layout canonical --device cuda --out "$SCENE"
rm -f "$SCENE/offsets.json"
timeit align timeout "${ALIGN_TIMEOUT:-300}" "${S4[@]}" align "$SCENE" --device cuda --out "$SCENE/offsets.json" 2>&1 | tee "$OUT/align.log" | tail -30
cp "$SCENE/offsets.json" "$OUT/offsets_$PRESET.json" 2>/dev/null   # copied right away: a later step may be cut off
cp "$SCENE/gt_sync.json" "$OUT/gt_sync_$PRESET.json" 2>/dev/null
offs=(--no_align); [ -f "$SCENE/offsets.json" ] && offs=(--offsets "$SCENE/offsets.json") || echo "stage 1 did not finish: training from identity time maps (--no_align)" | tee -a "$OUT/timings.txt"
M=$WORK/model_$PRESET
rm -rf "$M"
TIMEV=(); [ -x /usr/bin/time ] && TIMEV=(/usr/bin/time -v -o "$OUT/train_time_v.txt")
timeit train timeout "${TRAIN_TIMEOUT:-400}" "${TIMEV[@]}" "${S4[@]}" train --config configs/synth_gpu.json -m "$M" -s "$SCENE" \
  "${offs[@]}" "${NOTB[@]}" "${iters[@]}" ${TRAIN_ARGS:-} 2>&1 | tee "$OUT/train_full.log" | tail -40
[ -f "$OUT/train_time_v.txt" ] && grep -E "Elapsed|Maximum resident" "$OUT/train_time_v.txt" | tee -a "$OUT/timings.txt"
cp "$M/train_stats.json" "$OUT/train_stats_$PRESET.json" 2>/dev/null
python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print('train stats: ' + ', '.join(f'{k}={v:.2f}' if isinstance(v, float) else f'{k}={v}' for k, v in d.items()))" \
  "$M/train_stats.json" 2>/dev/null | tee -a "$OUT/timings.txt"
ls -la "$M"/point_cloud/iteration_*/model.pt 2>/dev/null | tee -a "$OUT/timings.txt"
timeit fps timeout "${FPS_TIMEOUT:-90}" python3 benchmarks/fps_bench.py --model "$M" --source_path "$SCENE" \
  --out "$OUT/fps_$PRESET" --times 60 2>&1 | tail -12
timeit render timeout "${RENDER_TIMEOUT:-150}" "${S4[@]}" render -m "$M" -s "$SCENE" --skip_train --quiet 2>&1 | tee "$OUT/render.log" | tail -5
timeit metrics timeout "${METRICS_TIMEOUT:-150}" "${S4[@]}" metrics -m "$M" -s "$SCENE" ${METRICS_ARGS:-} --quiet 2>&1 | tee "$OUT/metrics.log" | tail -40
cp "$M/results.json" "$OUT/results_$PRESET.json" 2>/dev/null
cat "$OUT/timings.txt"
