#!/usr/bin/env bash
# Moving-content benchmark (issue 14) on one GPU: scenes from our ray caster (demo preset) and from another renderer
# (benchmarks/other_renderer_scene.py: Gaussian splatting of soft blobs), each trained with and without seeding of
# moving content (moving.*), with stage-1 clocks, oracle clocks and naive clocks; runs in parallel on the GPU;
# scored by benchmarks/moving_region_eval.py (moving / static region PSNR + montage PNGs under $OUT).
#   OUT=... bash benchmarks/gpu_moving.sh            knobs: DEMO_ITERS (400), BLOB_ITERS (3000), SEEDS ("0"), PARTS ("demo blobs")
set -uo pipefail
OUT=${OUT:-$PWD/gpu_out}; WORK=${WORK:-/tmp/sync4dgs_moving}
mkdir -p "$OUT" "$WORK"
export PYTHONUNBUFFERED=1 TORCH_CUDA_ARCH_LIST=${TORCH_CUDA_ARCH_LIST:-9.0} MAX_JOBS=${MAX_JOBS:-16}
export TORCH_EXTENSIONS_DIR=${TORCH_EXTENSIONS_DIR:-/tmp/torch_extensions}
if [ -d .whl ] && ! python3 -c "import gsplat" 2>/dev/null; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
  export PYTHONPATH=/tmp/site:${PYTHONPATH:-}
fi
export PYTHONPATH=$PWD:${PYTHONPATH:-}
bash benchmarks/gsplat_prebuilt.sh install
python3 -c "import time; t=time.time(); from gsplat.cuda._backend import _C; print(f'gsplat ready in {time.time()-t:.0f} s')"
[ -f /tmp/site/gsplat/csrc.py ] || bash benchmarks/gsplat_prebuilt.sh save "$OUT"
S4=(python3 -m sync4dgs)
COMMON=(--train.device cuda --render.backend gsplat --log.tensorboard false --quiet)
log() { echo "$*" | tee -a "$OUT/summary.txt"; }
: > "$OUT/summary.txt"
log "card: $(nvidia-smi --query-gpu=name --format=csv,noheader) date: $(date -u +%F) commit: ${COMMIT:-n/a}"

run() {  # name scene config extra-args...  (train + render test views; timings to $WORK/name.time)
  local name=$1 scene=$2 cfg=$3; shift 3
  local t0=$(date +%s)
  "${S4[@]}" train --config "$cfg" -m "$WORK/$name" -s "$scene" "${COMMON[@]}" "$@" > "$WORK/$name.log" 2>&1 &&
  "${S4[@]}" render -m "$WORK/$name" --skip_train --no_video --quiet >> "$WORK/$name.log" 2>&1
  echo "$name rc=$? $(( $(date +%s) - t0 )) s $(grep -ao 'seeded [0-9]* dynamic' "$WORK/$name.log" | head -1)" >> "$OUT/runs.txt"
}
score() {  # group label=dir ...
  local group=$1; shift; local args=()
  for kv in "$@"; do args+=(--label "${kv%%=*}" "$WORK/${kv#*=}"); done
  python3 benchmarks/moving_region_eval.py --out "$WORK/eval_$group" "${args[@]}" 2>&1 | tee -a "$OUT/summary.txt"
  cp "$WORK/eval_$group/montage.png" "$OUT/montage_$group.png"; cp "$WORK/eval_$group/moving_region.json" "$WORK/$group.json"
}

demo_scene() {  # the demo preset with stage-1 offsets (made once per WORK); prints its folder
  local D=$WORK/demo
  [ -f $D/scene.json ] || "${S4[@]}" synth --preset demo --layout canonical --device cuda --out $D --quiet >&2
  [ -f $D/offsets.json ] || "${S4[@]}" align $D --device cuda --out $D/offsets.json > $WORK/demo_align.log 2>&1
  echo $D
}
blobs_scene() {  # the other-renderer scene of seed $1 at 320x240, 60 frames; prints its folder
  local B=$WORK/blobs$([ "$1" = 0 ] || echo "$1")
  [ -f $B/scene.json ] || python3 benchmarks/other_renderer_scene.py $B $1 320 60 > $B.gen.log 2>&1
  echo $B
}

for part in ${PARTS:-demo blobs}; do
  case $part in
    demo)
      D=$(demo_scene)
      it=(--train.iterations ${DEMO_ITERS:-400})
      for s in ${SEEDS:-0}; do
        run demo_off_s$s $D configs/demo.json "${it[@]}" --offsets $D/offsets.json --moving.enabled false --train.seed $s &
        run demo_on_s$s $D configs/demo.json "${it[@]}" --offsets $D/offsets.json --train.seed $s &
        run demo_naive_s$s $D configs/demo.json "${it[@]}" --fixed_time_maps identity --train.seed $s &
        run demo_oracle_s$s $D configs/demo.json "${it[@]}" --fixed_time_maps $D/gt_sync.json --train.seed $s &
      done
      run demo_on_nodens $D configs/demo.json "${it[@]}" --offsets $D/offsets.json --densify.dynamic.enabled false &
      run demo_on_s3 $D configs/demo.json "${it[@]}" --offsets $D/offsets.json --moving.stride_px 3 --moving.scale_fraction 0.7 --moving.init_opacity 0.7 &
      run demo_on_sp2 $D configs/demo.json "${it[@]}" --offsets $D/offsets.json --moving.spacing_frames 2 &
      run demo_on_long $D configs/demo.json --train.iterations 1200 --offsets $D/offsets.json &
      wait
      score demo naive=demo_naive_s0 off=demo_off_s0 on=demo_on_s0 oracle=demo_oracle_s0 nodens=demo_on_nodens s3=demo_on_s3 sp2=demo_on_sp2 long1200=demo_on_long ;;
    final)   # demo config as shipped, 3 seeds, vs the previous product; seeding variants; the blobs scene
      D=$(demo_scene); B=$(blobs_scene 0)
      [ -f $B/offsets.json ] || "${S4[@]}" align $B --device cuda --out $B/offsets.json > $WORK/blobs_align.log 2>&1
      OLD=(--moving.enabled false --densify.dynamic.enabled true)
      for s in ${SEEDS:-0 1 2}; do
        run f_on_s$s $D configs/demo.json --offsets $D/offsets.json --train.seed $s &
        run f_naive_s$s $D configs/demo.json --fixed_time_maps identity --train.seed $s &
        run f_old_s$s $D configs/demo.json --offsets $D/offsets.json --train.seed $s "${OLD[@]}" &
        run f_oldnaive_s$s $D configs/demo.json --fixed_time_maps identity --train.seed $s "${OLD[@]}" &
      done
      run f_novel $D configs/demo.json --offsets $D/offsets.json --moving.velocity false &
      run f_smooth $D configs/demo.json --offsets $D/offsets.json --moving.plateau_fraction 0 --moving.falloff_fraction 0.5 &
      run f_sc05 $D configs/demo.json --offsets $D/offsets.json --moving.scale_fraction 0.5 --moving.init_opacity 0.8 &
      run f_oracle $D configs/demo.json --fixed_time_maps $D/gt_sync.json &
      it=(--train.iterations ${BLOB_ITERS:-3000})
      run fb_oracle_off $B configs/synth_gpu.json "${it[@]}" --fixed_time_maps $B/gt_sync.json --moving.enabled false &
      run fb_oracle_on $B configs/synth_gpu.json "${it[@]}" --fixed_time_maps $B/gt_sync.json &
      run fb_stage1_on $B configs/synth_gpu.json "${it[@]}" --offsets $B/offsets.json &
      run fb_stage1_off $B configs/synth_gpu.json "${it[@]}" --offsets $B/offsets.json --moving.enabled false &
      run fb_naive_on $B configs/synth_gpu.json "${it[@]}" --fixed_time_maps identity &
      run fb_oracle_sc05 $B configs/synth_gpu.json "${it[@]}" --fixed_time_maps $B/gt_sync.json --moving.scale_fraction 0.5 --moving.init_opacity 0.8 &
      wait
      for s in ${SEEDS:-0 1 2}; do score final_s$s naive=f_naive_s$s on=f_on_s$s old=f_old_s$s oldnaive=f_oldnaive_s$s; done
      score final_var on=f_on_s0 novel=f_novel smooth=f_smooth sc05=f_sc05 oracle=f_oracle
      score final_blobs oracle_off=fb_oracle_off oracle_on=fb_oracle_on stage1_on=fb_stage1_on stage1_off=fb_stage1_off naive_on=fb_naive_on oracle_sc05=fb_oracle_sc05
      python3 - "$WORK" <<'PY' | tee -a "$OUT/summary.txt"
import json, sys, glob, os
from sync4dgs.timemap import load_time_maps
w = sys.argv[1]
for scene, runs in (("demo", ["f_on_s0", "f_on_s1", "f_on_s2", "f_old_s0", "f_oracle"]), ("blobs", ["fb_stage1_on", "fb_stage1_off"])):
    gt = load_time_maps(f"{w}/{scene}/gt_sync.json"); s1 = load_time_maps(f"{w}/{scene}/offsets.json")
    sc = json.load(open(f"{w}/{scene}/scene.json")); fps = {c["name"]: c["fps"] for c in sc["cameras"]}
    test = set(sc.get("test_cameras", []))
    def mae(m):
        e = [abs(m.cameras[n].offset_s - gt.cameras[n].offset_s) * fps[n] for n in gt.cameras if n not in test and n != gt.reference_camera]
        return sum(e) / len(e), max(e)
    print(f"{scene} stage1 offsets MAE/max frames: %.3f / %.3f" % mae(s1))
    for r in runs:
        p = f"{w}/{r}/time_maps.json"
        if os.path.exists(p): print(f"{scene} {r} after stage 2 MAE/max frames: %.3f / %.3f" % mae(load_time_maps(p)))
PY
      ;;
    n3v300)  # the full N3V-scale rig (20 cameras x 300 frames x 1352x1014), end to end as a user runs it:
             # `train` with stage 1 inside, synth_gpu.json (15k its, seeding on), then render, metrics, FPS, regions
      N=$WORK/n3v300; t0=$(date +%s)
      [ -f $N/scene.json ] || "${S4[@]}" synth --preset n3v --layout canonical --device cuda --out $N --quiet
      log "n3v300 synth: $(( $(date +%s) - t0 )) s"; t0=$(date +%s)
      "${S4[@]}" train --config configs/synth_gpu.json -m $WORK/n3v300_e2e -s $N "${COMMON[@]}" ${N3V_ARGS:-} > $WORK/n3v300_e2e.log 2>&1
      log "n3v300 train end to end (stage 1 + seeding + stage 2): rc=$? $(( $(date +%s) - t0 )) s"
      grep -a "seeded\|stage 1\|aligned in\|images/s\|it/s" $WORK/n3v300_e2e.log | tail -6 | tee -a "$OUT/summary.txt"
      t0=$(date +%s)
      "${S4[@]}" render -m $WORK/n3v300_e2e --skip_train --no_video --quiet >> $WORK/n3v300_e2e.log 2>&1
      "${S4[@]}" metrics -m $WORK/n3v300_e2e -s $N --quiet > $WORK/n3v300_metrics.log 2>&1
      log "n3v300 render + metrics: $(( $(date +%s) - t0 )) s"; tail -25 $WORK/n3v300_metrics.log >> "$OUT/summary.txt"
      python3 benchmarks/fps_bench.py --model $WORK/n3v300_e2e --source_path $N --out $WORK/fps_n3v300 --times 60 2>&1 | tail -6 | tee -a "$OUT/summary.txt"
      cp $WORK/n3v300_e2e/train_stats.json "$OUT/train_stats_n3v300.json" 2>/dev/null
      cp $WORK/n3v300_e2e/results.json "$OUT/results_n3v300.json" 2>/dev/null
      score n3v300 seeded=n3v300_e2e ;;
    n3v50)   # the N3V-scale rig (20 cameras, 1352x1014) cut to 50 frames, oracle clocks, seeding on vs off
      N=$WORK/n3v50; [ -f $N/scene.json ] || "${S4[@]}" synth --preset n3v --frames 50 --layout canonical --device cuda --out $N --quiet
      it=(--train.iterations ${N3V_ITERS:-3000})
      run n3v50_oracle_on $N configs/synth_gpu.json "${it[@]}" --fixed_time_maps $N/gt_sync.json &
      run n3v50_oracle_off $N configs/synth_gpu.json "${it[@]}" --fixed_time_maps $N/gt_sync.json --moving.enabled false &
      wait
      grep -a "seeded\|seeding" $WORK/n3v50_oracle_on.log | tail -2 | tee -a "$OUT/summary.txt"
      score n3v50 oracle_off=n3v50_oracle_off oracle_on=n3v50_oracle_on ;;
    blobs1)   # another seed of the other-renderer scene (faster, periodic blobs), oracle clocks
      B=$(blobs_scene 1)
      it=(--train.iterations ${BLOB_ITERS:-3000})
      run blobs1_oracle_off $B configs/synth_gpu.json "${it[@]}" --fixed_time_maps $B/gt_sync.json --moving.enabled false &
      run blobs1_oracle_on $B configs/synth_gpu.json "${it[@]}" --fixed_time_maps $B/gt_sync.json &
      run blobs1_oracle_on_sp2 $B configs/synth_gpu.json "${it[@]}" --fixed_time_maps $B/gt_sync.json --moving.spacing_frames 2 --densify.dynamic.enabled false &
      wait
      score blobs1 oracle_off=blobs1_oracle_off oracle_on=blobs1_oracle_on oracle_sp2_nodens=blobs1_oracle_on_sp2 ;;
    blobs)
      B=$(blobs_scene 0)
      it=(--train.iterations ${BLOB_ITERS:-3000})
      run blobs_oracle_off $B configs/synth_gpu.json "${it[@]}" --fixed_time_maps $B/gt_sync.json --moving.enabled false &
      run blobs_oracle_on $B configs/synth_gpu.json "${it[@]}" --fixed_time_maps $B/gt_sync.json &
      run blobs_naive_on $B configs/synth_gpu.json "${it[@]}" --fixed_time_maps identity &
      run blobs_oracle_on_s3 $B configs/synth_gpu.json "${it[@]}" --fixed_time_maps $B/gt_sync.json --moving.stride_px 3 --moving.scale_fraction 0.7 --moving.init_opacity 0.7 &
      ( "${S4[@]}" align $B --device cuda --out $B/offsets.json > $WORK/blobs_align.log 2>&1;
        run blobs_stage1_on $B configs/synth_gpu.json "${it[@]}" --offsets $B/offsets.json ) &
      wait
      score blobs oracle_off=blobs_oracle_off oracle_on=blobs_oracle_on naive_on=blobs_naive_on oracle_s3=blobs_oracle_on_s3 stage1_on=blobs_stage1_on ;;
  esac
done
cat "$OUT/runs.txt" >> "$OUT/summary.txt"
tar czf "$OUT/logs.tgz" -C "$WORK" $(cd "$WORK" && ls *.log *.json eval_*/moving_region.json */train_stats.json */time_maps.json 2>/dev/null) 2>/dev/null
