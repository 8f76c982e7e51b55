#!/usr/bin/env bash
# Per-camera exposure / white-balance differences on the GPU: the 50-frame n3v synth scene as rendered (clean) and
# with every camera but the reference/test camera recoloured (benchmarks/recolor_scene.py), each aligned by stage 1,
# then trained with appearance compensation off and on (same stage-1 output per scene), test-camera metrics.
# Knobs: FRAMES (50), ITERS (3000), SEEDS ("0 1"), PARALLEL (4), MAX_EXPOSURE (0.3), MAX_WB (0.1), WORK.
set -uo pipefail
OUT=${1:-${OUT:-$PWD/gpu_out}}
WORK=${WORK:-/tmp/sync4dgs_appearance}
FRAMES=${FRAMES:-50}
ITERS=${ITERS:-3000}
SEEDS=${SEEDS:-0 1}
PARALLEL=${PARALLEL:-4}
mkdir -p "$OUT" "$WORK"
DEVICE=${DEVICE:-cuda}                       # CPU smoke run: DEVICE=cpu CLEAN_SCENE=<tiny scene> APP_CONFIG=configs/demo.json ITERS=20
S4=(python3 -m sync4dgs)
timeit() { local name=$1; shift; local t0; t0=$(date +%s%N); "$@"; local rc=$?;
  echo "$name $(( ($(date +%s%N) - t0) / 1000000 )) ms (rc $rc)" | tee -a "$OUT/timings.txt"; return $rc; }
CLEAN=${CLEAN_SCENE:-/tmp/sync4dgs_quality/scene}
[ -f "$CLEAN/scene.json" ] || timeit synth "${S4[@]}" synth --preset n3v --frames "$FRAMES" --layout canonical \
  --device "$DEVICE" --out "$CLEAN"
RECOLORED=$WORK/recolored
rm -rf "$RECOLORED"
timeit recolor python3 benchmarks/recolor_scene.py "$CLEAN" "$RECOLORED" --max_exposure "${MAX_EXPOSURE:-0.3}" \
  --max_wb "${MAX_WB:-0.1}" | tee "$OUT/appearance_truth.txt"
for sc in "$CLEAN" "$RECOLORED"; do
  [ -f "$sc/offsets.json" ] || timeit "align_$(basename "$sc")" "${S4[@]}" align "$sc" --device "$DEVICE" --out "$sc/offsets.json" \
    2>&1 | grep -v "align: " | tail -3
done
declare -A SCENE=([clean]=$CLEAN [recolored]=$RECOLORED)
one_run() {   # scene app seed
  local name=$1_$2 seed=$3 sc=${SCENE[$1]} M=$WORK/model_$1_$2_s$3
  rm -rf "$M"
  timeit "train_${name}_s$seed" "${S4[@]}" train --config "${APP_CONFIG:-configs/synth_gpu.json}" --log.tensorboard false \
    --train.iterations "$ITERS" --quiet --train.seed "$seed" --appearance.enabled "$([ "$2" = app ] && echo true || echo false)" \
    -m "$M" -s "$sc" --offsets "$sc/offsets.json" > "$WORK/log_${name}_s$seed.txt" 2>&1
  timeit "render_${name}_s$seed" "${S4[@]}" render -m "$M" -s "$sc" --skip_train --quiet >> "$WORK/log_${name}_s$seed.txt" 2>&1
  timeit "metrics_${name}_s$seed" "${S4[@]}" metrics -m "$M" -s "$sc" --no_flip --quiet >> "$WORK/log_${name}_s$seed.txt" 2>&1
}
RUNS="clean_plain clean_app recolored_plain recolored_app"
for seed in $SEEDS; do
  for run in $RUNS; do
    while [ "$(jobs -rp | wc -l)" -ge "$PARALLEL" ]; do wait -n; done
    one_run "${run%_*}" "${run#*_}" "$seed" &
  done
done
wait
cat "$WORK"/log_*.txt > "$OUT/appearance_runs.log" 2>/dev/null
python3 benchmarks/quality_table.py "$WORK" "$OUT/appearance.json" --parallel "$PARALLEL" --seeds "$SEEDS" --runs "$RUNS" \
  --pairs "recolored_app:recolored_plain,clean_app:clean_plain,recolored_app:clean_plain" | tee "$OUT/appearance_table.md"
python3 - "$WORK" "$RECOLORED/appearance_truth.json" $SEEDS <<'PY' | tee -a "$OUT/appearance_table.md"
import json, sys
from pathlib import Path
import numpy as np
work, truth = Path(sys.argv[1]), json.loads(Path(sys.argv[2]).read_text())["gains"]
for seed in sys.argv[3:]:
    f = work / f"model_recolored_app_s{seed}" / "appearance.json"
    if not f.is_file():
        continue
    got = json.loads(f.read_text())["cameras"]
    cams = [c for c in got if c in truth]
    # gains are defined up to a common factor per channel (the gauge): compare centred log ratios
    r = np.log(np.array([got[c]["gain"] for c in cams]) / np.array([truth[c] for c in cams]))
    r -= r.mean(0)
    err = np.abs(r).max(1)
    spread = np.log(np.array([truth[c] for c in cams]))
    print(f"seed {seed}: learned vs true gains (up to a common factor): max |log ratio| per camera mean {err.mean():.3f}, "
          f"max {err.max():.3f} over {len(cams)} cameras; true log gains span {spread.min():+.2f}..{spread.max():+.2f}")
PY
