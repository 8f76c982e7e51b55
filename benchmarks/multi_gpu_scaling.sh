#!/usr/bin/env bash
# Multi-GPU data-parallel scaling of stage 2 (torchrun, one process per GPU) on a synth N3V-scale scene.
#
# For each GPU count in GPU_COUNTS (default "1 2 4"; counts above the host's GPUs are skipped and reported)
# it trains the SAME config to the SAME iteration count with `sync4dgs train --gpus N`, plus a plain single-process
# baseline (no torch.distributed at all) to measure the data-parallel overhead at one GPU. Each rank renders one
# view per iteration, so N GPUs see N x the images in about the same wall time: images/s should scale ~N and the
# test PSNR at a fixed iteration count should not drop (it usually rises with the larger effective batch).
# Reported per run: wall time (launch to exit), training seconds, images/s (all ranks), speed-up and parallel
# efficiency of images/s against the single-process run, #Gaussians, and test PSNR/SSIM (render + metrics).
#
# Usage: benchmarks/multi_gpu_scaling.sh [OUT]
# Env:   GPU_COUNTS ("1 2 4"), ITERS (3000), N3V_PRESET (n3v), WORK (/tmp/sync4dgs_multigpu), SCENE (reuse a scene),
#        FRAME_STRIDE (5: every 5th test frame is rendered for PSNR), CONFIG (configs/synth_gpu.json),
#        SKIP_SINGLE=1 (no single-process baseline), SKIP_EVAL=1 (no render/metrics), TRAIN_EXTRA / EVAL_EXTRA
#        (extra flags for train / render+metrics), HAVE_GPUS (override the detected GPU count; a CPU dry run is
#        HAVE_GPUS=2 TRAIN_EXTRA="--train.device cpu ..." EVAL_EXTRA="--device cpu --backend torch").
# Writes $OUT/scaling.json, $OUT/scaling.txt, $OUT/timings.txt and one log per run.
set -uo pipefail
OUT=${1:-${OUT:-$PWD/multi_gpu_out}}
WORK=${WORK:-/tmp/sync4dgs_multigpu}
PRESET=${N3V_PRESET:-n3v}
ITERS=${ITERS:-3000}
COUNTS=${GPU_COUNTS:-"1 2 4"}
STRIDE=${FRAME_STRIDE:-5}
CONFIG=${CONFIG:-configs/synth_gpu.json}
# The GPU hosts require NVLink multicast to stay off (sync4dgs sets these for the ranks it launches too).
export NCCL_NVLS_ENABLE=0 TORCH_SYMM_MEM_DISABLE_MULTICAST=1
mkdir -p "$OUT" "$WORK"
S4=(python3 -m sync4dgs)
HAVE=${HAVE_GPUS:-$(python3 -c "import torch; print(torch.cuda.device_count())")}
read -r -a TRAIN_X <<< "${TRAIN_EXTRA:-}"
read -r -a EVAL_X <<< "${EVAL_EXTRA:-}"
echo "host GPUs: $HAVE; counts: $COUNTS; iterations: $ITERS; config: $CONFIG" | tee "$OUT/timings.txt"
[ "$HAVE" -ge 1 ] || { echo "no CUDA GPU on this host: nothing to measure" | tee -a "$OUT/timings.txt"; exit 1; }

SCENE=${SCENE:-$WORK/scene_$PRESET}
if [ ! -f "$SCENE/scene.json" ]; then
  "${S4[@]}" synth --preset "$PRESET" --layout canonical --device cuda --out "$SCENE" --quiet || exit 1
fi
# Ground-truth maps as the (still learned) initial time maps: the runs differ only in the number of GPUs and
# do not depend on stage 1.
COMMON=(--config "$CONFIG" -s "$SCENE" --offsets "$SCENE/gt_sync.json" --quiet --log.tensorboard false
        --train.iterations "$ITERS" --train.checkpoint_every 0 --train.save_iterations "[]" "${TRAIN_X[@]}")

run_one() {   # run_one NAME GPUS(0 = plain single process)
  local name=$1 gpus=$2 m=$WORK/model_$1 t0 rc
  rm -rf "$m"
  local extra=(); [ "$gpus" -gt 0 ] && extra=(--gpus "$gpus")
  t0=$(date +%s%N)
  "${S4[@]}" train "${COMMON[@]}" -m "$m" "${extra[@]}" > "$OUT/train_$name.log" 2>&1
  rc=$?
  local wall_ms=$(( ($(date +%s%N) - t0) / 1000000 ))
  echo "$name gpus=$gpus train wall ${wall_ms} ms (rc $rc)" | tee -a "$OUT/timings.txt"
  tail -8 "$OUT/train_$name.log"
  echo "{\"run\": \"$name\", \"gpus\": $gpus, \"wall_ms\": $wall_ms, \"rc\": $rc}" > "$m.run.json"
  [ $rc -eq 0 ] || return $rc
  if [ "${SKIP_EVAL:-0}" != 1 ]; then
    "${S4[@]}" render -m "$m" -s "$SCENE" --skip_train --no_video --frame_stride "$STRIDE" --quiet "${EVAL_X[@]}" \
      > "$OUT/render_$name.log" 2>&1 || echo "$name: render failed (see render_$name.log)" | tee -a "$OUT/timings.txt"
    "${S4[@]}" metrics -m "$m" -s "$SCENE" --no_flip --quiet "${EVAL_X[@]}" > "$OUT/metrics_$name.log" 2>&1 \
      || echo "$name: metrics failed (see metrics_$name.log)" | tee -a "$OUT/timings.txt"
  fi
}

RUNS=()
if [ "${SKIP_SINGLE:-0}" != 1 ]; then run_one single 0; RUNS+=(single); fi
for n in $COUNTS; do
  if [ "$n" -gt "$HAVE" ]; then
    echo "gpus$n skipped: the host has $HAVE GPU(s)" | tee -a "$OUT/timings.txt"
    continue
  fi
  run_one "gpus$n" "$n"; RUNS+=("gpus$n")
done

python3 - "$WORK" "$OUT" "${RUNS[@]}" <<'EOF'
import json, sys
from pathlib import Path
work, out, runs = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3:]
rows = []
for name in runs:
    m = work / f"model_{name}"
    row = json.loads((work / f"model_{name}.run.json").read_text())
    stats = json.loads((m / "train_stats.json").read_text()) if (m / "train_stats.json").is_file() else {}
    res = json.loads((m / "results.json").read_text()) if (m / "results.json").is_file() else {}
    test = res.get("images", {}).get("test", {}).get("mean", {})
    row.update(iterations=stats.get("iterations"), train_s=stats.get("train_seconds"),
               images_per_s=stats.get("images_per_second"), world_size=stats.get("world_size", 1),
               n_gaussians=(stats.get("n_static") or 0) + (stats.get("n_dynamic") or 0),
               final_train_psnr=stats.get("final_train_psnr"), test_psnr=test.get("psnr"), test_ssim=test.get("ssim"))
    rows.append(row)
base = next((r for r in rows if r["run"] == "single"), next((r for r in rows if r["run"] == "gpus1"), None))
for r in rows:
    if base and base.get("images_per_s") and r.get("images_per_s"):
        r["speedup"] = r["images_per_s"] / base["images_per_s"]
        r["efficiency"] = r["speedup"] / max(r["world_size"], 1)
(out / "scaling.json").write_text(json.dumps(rows, indent=2))
fmt = lambda v, f: "-" if v is None else format(v, f)
lines = [f"{'run':<8}{'gpus':>5}{'wall_s':>9}{'train_s':>9}{'img/s':>9}{'speedup':>9}{'eff':>6}{'#gauss':>9}"
         f"{'test_psnr':>10}{'test_ssim':>10}"]
for r in rows:
    lines.append(f"{r['run']:<8}{r['gpus']:>5}{r['wall_ms'] / 1000:>9.1f}{fmt(r.get('train_s'), '.1f'):>9}"
                 f"{fmt(r.get('images_per_s'), '.1f'):>9}{fmt(r.get('speedup'), '.2f'):>9}"
                 f"{fmt(r.get('efficiency'), '.2f'):>6}{r['n_gaussians']:>9}{fmt(r.get('test_psnr'), '.2f'):>10}"
                 f"{fmt(r.get('test_ssim'), '.4f'):>10}")
(out / "scaling.txt").write_text("\n".join(lines) + "\n")
print("\n".join(lines))
EOF
