#!/usr/bin/env bash
# Quality comparison on the GPU (issue 7): one synth scene (n3v preset, fewer frames), three stage-2 runs of the
# same config -- oracle (true time maps, fixed), naive (all maps fixed at (0, 1)), sync4dgs (stage 1 + learned
# stage 2) -- then test-camera metrics and offset errors, gathered into $OUT/quality.json.
# Knobs: FRAMES (default 50), ITERS (default 2000), WORK.
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
declare -A MODE=([oracle]="--fixed_time_maps $SCENE/gt_sync.json" [naive]="--fixed_time_maps identity"
                 [sync4dgs]="--offsets $SCENE/offsets.json")
for run in oracle naive sync4dgs; do
  M=$WORK/model_$run; rm -rf "$M"
  # shellcheck disable=SC2086
  timeit "train_$run" "${S4[@]}" train "${COMMON[@]}" -m "$M" -s "$SCENE" ${MODE[$run]} 2>&1 | grep -v "align: " | tail -8
  timeit "render_$run" "${S4[@]}" render -m "$M" -s "$SCENE" --skip_train 2>&1 | tail -2
  timeit "metrics_$run" timeout "${METRICS_TIMEOUT:-120}" "${S4[@]}" metrics -m "$M" -s "$SCENE" ${METRICS_ARGS:-} 2>&1 | tail -3
done
python3 - "$WORK" "$OUT/quality.json" <<'PY'
import json, sys
from pathlib import Path
work, out = Path(sys.argv[1]), Path(sys.argv[2])
res = {}
for run in ("oracle", "naive", "sync4dgs"):
    f = work / f"model_{run}" / "results.json"
    res[run] = json.loads(f.read_text()) if f.is_file() else {"error": "no results.json"}
out.write_text(json.dumps(res, indent=1))
def g(d, *ks):
    for k in ks:
        if not isinstance(d, dict) or k not in d: return None
        d = d[k]
    return d
for run, r in res.items():
    print(run, {k: r.get(k) for k in list(r)[:0]}, json.dumps(r)[:1500])
PY
