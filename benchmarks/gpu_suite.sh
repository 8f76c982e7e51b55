#!/usr/bin/env bash
# GPU suite: one call on the GPU machine installs gsplat from carried wheels, JIT-compiles it once, runs the GPU
# tests (rasterizer parity), then the benchmarks, and prints a short table last. Logs/JSON go under $OUT.
#
# Usage (from the repo root, on a machine with CUDA; the wheels live in the ignored .whl/ folder, see
# benchmarks/README.md):   bash benchmarks/gpu_suite.sh [parts]
# parts: any of  tests parity bench train quality appearance fps profile stream viewer ssim  (default: tests parity bench train)
# At the end every log is packed into $OUT/logs.tgz (the device tool returns at most 8 files).
set -uo pipefail
OUT=${OUT:-$PWD/gpu_out}
mkdir -p "$OUT"
PARTS=${*:-tests parity bench train}
export PYTHONUNBUFFERED=1
export TORCH_CUDA_ARCH_LIST=${TORCH_CUDA_ARCH_LIST:-9.0} MAX_JOBS=${MAX_JOBS:-16}
export TORCH_EXTENSIONS_DIR=${TORCH_EXTENSIONS_DIR:-/tmp/torch_extensions}

if [ -d .whl ] && ! python3 -c "import gsplat" 2>/dev/null; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
  export PYTHONPATH=/tmp/site:${PYTHONPATH:-}
fi
export PYTHONPATH=$PWD:${PYTHONPATH:-}
bash benchmarks/gsplat_prebuilt.sh install   # a saved extension (.whl/gsplat_cuda.so.gz) skips the JIT build

summary() { echo "$1" >> "$OUT/summary.txt"; }
: > "$OUT/summary.txt"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee "$OUT/gpu.txt"
summary "card: $(head -1 "$OUT/gpu.txt")  date: $(date -u +%F)  commit: ${COMMIT:-$(git rev-parse --short HEAD 2>/dev/null || echo n/a)}"

t0=$(date +%s)
python3 - <<'EOF' 2>&1 | tail -5 | tee "$OUT/compile.log"
import time, torch
t = time.time()
from gsplat.cuda._backend import _C  # triggers the JIT build
print(f"gsplat CUDA extension ready: {_C is not None} in {time.time() - t:.1f} s")
EOF
summary "gsplat JIT compile: $(( $(date +%s) - t0 )) s"
if [ ! -f "${SITE:-/tmp/site}/gsplat/csrc.py" ] && [ -n "${SAVE_GSPLAT:-1}" ]; then
  bash benchmarks/gsplat_prebuilt.sh save "$OUT"   # copy $OUT/gsplat_cuda.* into .whl/ to skip the next build
fi

for part in $PARTS; do
  case $part in
    tests)
      python3 -m pytest -v -m gpu tests/align tests/render tests/model tests/synth tests/train tests/eval tests/distributed -p no:cacheprovider 2>&1 | tee "$OUT/gpu_tests.log" | tail -15
      summary "gpu tests: $(tail -1 "$OUT/gpu_tests.log")" ;;
    parity)
      python3 benchmarks/render_parity.py --out "$OUT/parity.json" ${PARITY_ARGS:-} 2>&1 | tee "$OUT/parity.log" | tail -30
      summary "parity: see parity.log" ;;
    bench)
      python3 benchmarks/render_bench.py --out "$OUT/render_bench.json" 2>&1 | tee "$OUT/render_bench.log" | tail -20 ;;
    train)
      bash benchmarks/gpu_train.sh "$OUT" 2>&1 | tee "$OUT/train.log" | tail -40
      cat "$OUT/timings.txt" >> "$OUT/summary.txt" ;;
    quality)
      bash benchmarks/gpu_quality.sh "$OUT" 2>&1 | tee "$OUT/quality.log" | tail -40 ;;
    appearance)  # per-camera exposure / white balance: appearance compensation off vs on, clean vs recoloured scene
      bash benchmarks/gpu_appearance.sh "$OUT" 2>&1 | tee "$OUT/appearance.log" | tail -30 ;;
    ssim)     # blur layouts for the training SSIM
      python3 benchmarks/ssim_bench.py --out "$OUT/ssim_bench.json" 2>&1 | tee "$OUT/ssim.log" | tail -12 ;;
    fps)      # random models of N3V-like size (a trained model's FPS is measured by the train part)
      python3 benchmarks/fps_bench.py --random "${FPS_RANDOM:-113000,22000,31}" --out "$OUT/fps_random" 2>&1 | tee "$OUT/fps.log" | tail -12 ;;
    profile)  # where a training iteration's time goes, on the quality part's scene (made here when missing) or PROFILE_SCENE
      sc=${PROFILE_SCENE:-/tmp/sync4dgs_quality/scene}
      [ -f "$sc/scene.json" ] || python3 -m sync4dgs synth --preset n3v --frames "${FRAMES:-50}" --layout canonical \
        --device cuda --out "$sc" > "$OUT/profile_synth.log" 2>&1
      offs=$sc/offsets.json; [ -f "$offs" ] || offs=$sc/gt_sync.json   # time maps do not change the cost
      python3 benchmarks/profile_train.py --scene "$sc" --config configs/synth_gpu.json --offsets "$offs" \
        --out "$OUT/profile" --warmup 300 --timed 200 --iters 20 --no-trace 2>&1 | tee "$OUT/profile.log" | tail -30 ;;
    stream)   # training throughput with frames resident on the GPU vs streamed from host RAM vs from disk
      sc=${PROFILE_SCENE:-/tmp/sync4dgs_quality/scene}
      [ -f "$sc/scene.json" ] || python3 -m sync4dgs synth --preset n3v --frames "${FRAMES:-50}" --layout canonical \
        --device cuda --out "$sc" > "$OUT/stream_synth.log" 2>&1
      IFS=, read -ra HOWS <<< "${STREAM_VARIANTS:-always auto,never always,never never}"
      for how in "${HOWS[@]}"; do
        set -- $how
        m=/tmp/sync4dgs_stream_$1_$2; rm -rf "$m"
        python3 -m sync4dgs train --config configs/synth_gpu.json -m "$m" -s "$sc" --fixed_time_maps "$sc/gt_sync.json" \
          --log.tensorboard false --train.iterations "${STREAM_ITERS:-2000}" --train.frames_on_device "$1" \
          --train.frames_host_cache "$2" --quiet > "$OUT/stream_$1_$2.log" 2>&1
        summary "frames_on_device=$1 host_cache=$2: $(python3 -c "import json;d=json.load(open('$m/train_stats.json'));print(f\"{d['images_per_second']:.1f} images/s, setup {d['setup_seconds']:.1f} s, peak GPU {d['peak_gpu_reserved_gib']:.2f} GiB reserved, source {d['frames_source']}\")" 2>&1)"
      done ;;
    viewer)   # needs the viser wheels (viser, msgspec, websockets, trimesh, zstandard) in .whl/
      python3 benchmarks/viewer_overhead.py --out "$OUT/viewer_overhead.json" 2>&1 | tee "$OUT/viewer.log" | tail -12
      summary "$(python3 -c "
import json
d = json.load(open('$OUT/viewer_overhead.json'))
for k, v in d['variants'].items():
    print(f\"viewer overhead [{k}]: {v['overhead_pct']:.1f} % (noise {d['noise_pct']:.1f} %), viewer {v['viewer_fps']:.1f} FPS, {v['snapshots']} snapshots {v['snapshot_ms_total']:.0f} ms\")
" 2>&1)" ;;
    *) echo "unknown part $part" ;;
  esac
done
echo "================ summary ================"
cat "$OUT/summary.txt"
for f in parity.log render_bench.log; do [ -f "$OUT/$f" ] && { echo "--- $f (table)"; grep -E '^\|' "$OUT/$f" | tail -25; }; done

bash benchmarks/pack_out.sh "$OUT"   # the device tool returns at most 8 files: logs go into logs.tgz
