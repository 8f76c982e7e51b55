#!/usr/bin/env bash
# One GPU machine, three phases, run detached through benchmarks/device_job.sh (longer than one 10-minute command):
#   n3v300  the full N3V-scale rig end to end as a user runs it (`train` with stage 1 inside, configs/synth_gpu.json,
#           seeding on), alone on the GPU: train time, stage-1 offsets (the N3V-scale regression check of stage 1),
#           test metrics (full / moving / static), render FPS, montage (issues 14, 16)
#   peers   upstream Ex4DGS (benchmarks/peers/ex4dgs/run_all.sh) and sync4dgs on the same demo and blobs scenes, the
#           same iterations, trained concurrently; scored together with our metrics code (issue 20)
#   n3v50   the 50-frame cut of the N3V rig, oracle clocks, 3000 iterations: variants of the moving-content settings
#           (N3V50_VARIANTS), then `sync4dgs metrics` of the first variant (where the evaluation's time goes)
#   n3v300setup  the n3v300 run's setup alone (stage 1 + moving seeding + loading, then SETUP_ITERS=200 iterations):
#           train_stats' setup_seconds and the seeding log, when device time is short of a full run
#   n3v300seeds  more seeds (SEEDS, default "1 2") of the n3v300 run, trained concurrently: the spread over seeds
#   s4only  sync4dgs alone on the peers phase's demo and blobs scenes (same generators and iterations, no Ex4DGS):
#           trained concurrently, then `sync4dgs metrics` one model at a time alone on the GPU (render FPS, size)
#
#   bash benchmarks/device_job.sh start s6 -- bash benchmarks/gpu_n3v_peers.sh
#   bash benchmarks/device_job.sh poll s6 540       # repeat until it ends; files come back in $OUT
# knobs: PHASES ("peers n3v50 n3v300"), N3V_ARGS (extra train flags for n3v300), PEER_ITERS (6000), PEER_DEADLINE_S
# (400: Ex4DGS's trainings end by then), PEERS_ORDER (concurrent | sequential: Ex4DGS alone first), S4_MODES
# ("oracle naive stage1"),
# N3V50_VARIANTS ("label=flags;..."), WORK (/tmp/s6_work), COMMIT.
set -uo pipefail
OUT=${JOB_OUT:-${OUT:-$PWD/gpu_out}}; W=${WORK:-/tmp/s6_work}
mkdir -p "$OUT" "$W"
export PYTHONUNBUFFERED=1 TORCH_CUDA_ARCH_LIST=${TORCH_CUDA_ARCH_LIST:-9.0} MAX_JOBS=${MAX_JOBS:-16}
export TORCH_EXTENSIONS_DIR=${TORCH_EXTENSIONS_DIR:-/tmp/torch_extensions} OMP_NUM_THREADS=${OMP_NUM_THREADS:-4}
T0=$SECONDS
log() { echo "[$((SECONDS - T0)) s] $*" | tee -a "$OUT/summary.txt"; }
log "card: $(nvidia-smi --query-gpu=name --format=csv,noheader | head -1) date: $(date -u +%F) commit: ${COMMIT:-n/a}"
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
  || { log "wheel install failed"; exit 1; }
export PYTHONPATH=$PWD:/tmp/site:${PYTHONPATH:-}
bash benchmarks/gsplat_prebuilt.sh install
python3 -c "import time; t=time.time(); from gsplat.cuda._backend import _C; print(f'gsplat ready in {time.time()-t:.0f} s')" \
  2>&1 | tee -a "$OUT/summary.txt"
[ -f /tmp/site/gsplat/csrc.py ] || bash benchmarks/gsplat_prebuilt.sh save "$OUT"
S4=(python3 -m sync4dgs)
COMMON=(--train.device cuda --render.backend gsplat --log.tensorboard false --quiet)

run() {  # name scene config extra-args...: train, then render the test views
  local name=$1 scene=$2 cfg=$3; shift 3; local t0=$SECONDS
  "${S4[@]}" train --config "$cfg" -m "$W/$name" -s "$scene" "${COMMON[@]}" "$@" > "$W/$name.log" 2>&1 &&
  "${S4[@]}" render -m "$W/$name" --skip_train --no_video --quiet >> "$W/$name.log" 2>&1
  log "$name rc=$? $((SECONDS - t0)) s $(grep -ao 'seeded [0-9]* dynamic[^)]*)' "$W/$name.log" | head -1)" \
      "$(grep -ao 'trained [0-9]* iterations in [0-9.]* s ([0-9.]* images/s); [0-9]* static + [0-9]* dynamic' "$W/$name.log" | tail -1)"
}
region_eval() {  # group label=dir ...
  local group=$1; shift; local args=()
  for kv in "$@"; do [ -d "$W/${kv#*=}/test" ] && args+=(--label "${kv%%=*}" "$W/${kv#*=}"); done
  [ ${#args[@]} -gt 0 ] || return 0
  python3 benchmarks/moving_region_eval.py --out "$W/eval_$group" "${args[@]}" 2>&1 | tee -a "$OUT/summary.txt"
  python3 -c "import sys; from PIL import Image; Image.open(sys.argv[1]).convert('RGB').save(sys.argv[2], quality=88)" \
    "$W/eval_$group/montage.png" "$OUT/montage_$group.jpg" 2>/dev/null   # JPEG: a PNG montage is too big to come back
  cp "$W/eval_$group/moving_region.json" "$OUT/moving_region_$group.json" 2>/dev/null
}

phase_n3v300() {
  local N=$W/n3v300 M=$W/n3v300_e2e t0=$SECONDS
  [ -f $N/scene.json ] || "${S4[@]}" synth --preset n3v --layout canonical --device cuda --out $N --quiet
  log "n3v300 synth: $((SECONDS - t0)) s"; t0=$SECONDS
  "${S4[@]}" train --config configs/synth_gpu.json -m $M -s $N "${COMMON[@]}" ${N3V_ARGS:-} > $W/n3v300_e2e.log 2>&1
  log "n3v300 train end to end (stage 1 + seeding + stage 2): rc=$? $((SECONDS - t0)) s"
  grep -a "stage 1\|aligned in\|seeded\|images/s" $W/n3v300_e2e.log | tail -6 | tee -a "$OUT/summary.txt"
  cp $M/train_stats.json "$OUT/train_stats_n3v300.json" 2>/dev/null
  cp $M/stage1/offsets.json "$OUT/stage1_offsets_n3v300.json" 2>/dev/null
  t0=$SECONDS
  "${S4[@]}" render -m $M --skip_train --no_video --quiet >> $W/n3v300_e2e.log 2>&1
  "${S4[@]}" metrics -m $M -s $N --quiet > $W/n3v300_metrics.log 2>&1
  log "n3v300 render + metrics: $((SECONDS - t0)) s"; tail -25 $W/n3v300_metrics.log | tee -a "$OUT/summary.txt"
  cp $M/results.json "$OUT/results_n3v300.json" 2>/dev/null
  python3 benchmarks/fps_bench.py --model $M --source_path $N --out $W/fps_n3v300 --times 60 2>&1 | tail -6 \
    | tee -a "$OUT/summary.txt"
  cp $W/fps_n3v300/*.json "$OUT/" 2>/dev/null
  region_eval n3v300 seeded=n3v300_e2e
  python3 benchmarks/object_region_eval.py $N "$OUT/objects_n3v300.png" $M 2>&1 | tail -12 | tee -a "$OUT/summary.txt"
  cp $W/n3v300_e2e.log "$OUT/" 2>/dev/null
}

phase_n3v300setup() {  # setup time of the n3v300 run (train end to end = this + the 30k iterations' time)
  local N=$W/n3v300 M=$W/n3v300_setup t0=$SECONDS
  [ -f $N/scene.json ] || "${S4[@]}" synth --preset n3v --layout canonical --device cuda --out $N --quiet
  log "n3v300 synth: $((SECONDS - t0)) s"; t0=$SECONDS
  "${S4[@]}" train --config configs/synth_gpu.json -m $M -s $N "${COMMON[@]}" --train.iterations ${SETUP_ITERS:-200} \
      ${N3V_ARGS:-} > $W/n3v300_setup.log 2>&1
  log "n3v300 setup + ${SETUP_ITERS:-200} iterations: rc=$? $((SECONDS - t0)) s"
  grep -a "stage 1\|aligned in\|seeded\|images/s\|offset error" $W/n3v300_setup.log | tail -8 | tee -a "$OUT/summary.txt"
  python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print({k: d.get(k) for k in ('setup_seconds', \
'train_seconds', 'images_per_second', 'n_static', 'n_dynamic', 'peak_gpu_allocated_gib')})" $M/train_stats.json \
    2>&1 | tee -a "$OUT/summary.txt"
  cp $M/train_stats.json "$OUT/train_stats_n3v300_setup.json" 2>/dev/null
  cp $M/stage1/offsets.json "$OUT/stage1_offsets_n3v300_setup.json" 2>/dev/null
  cp $W/n3v300_setup.log "$OUT/" 2>/dev/null
}

phase_n3v300seeds() {  # more seeds of the n3v300 run (SEEDS, default "1 2"), trained concurrently on the one GPU:
  # quality spread over seeds (issue 14); their times are not alone-on-the-GPU times (n3v300 gives those)
  local N=$W/n3v300 t0=$SECONDS s labels=()
  [ -f $N/scene.json ] || "${S4[@]}" synth --preset n3v --layout canonical --device cuda --out $N --quiet
  log "n3v300 synth: $((SECONDS - t0)) s"; t0=$SECONDS
  for s in ${SEEDS:-1 2}; do
    ( "${S4[@]}" train --config configs/synth_gpu.json -m $W/n3v300_s$s -s $N "${COMMON[@]}" --train.seed $s \
        ${N3V_ARGS:-} > $W/n3v300_s$s.log 2>&1
      log "n3v300 seed $s train (concurrent with the other seeds): rc=$? $((SECONDS - t0)) s"
      grep -a "seeded\|images/s" $W/n3v300_s$s.log | tail -2 | tee -a "$OUT/summary.txt"
      "${S4[@]}" render -m $W/n3v300_s$s --skip_train --no_video --quiet >> $W/n3v300_s$s.log 2>&1
      "${S4[@]}" metrics -m $W/n3v300_s$s -s $N --fps_repeats 0 --quiet > $W/n3v300_s$s.metrics.log 2>&1
      log "n3v300 seed $s render + metrics: rc=$? $((SECONDS - t0)) s"
      { echo "== seed $s"; tail -22 $W/n3v300_s$s.metrics.log; } | tee -a "$OUT/summary.txt"
      cp $W/n3v300_s$s/results.json "$OUT/results_n3v300_s$s.json" 2>/dev/null ) &
    labels+=(s$s=n3v300_s$s)
  done
  wait
  region_eval n3v300seeds "${labels[@]}"
  local dirs=(); for s in ${SEEDS:-1 2}; do dirs+=($W/n3v300_s$s); done
  python3 benchmarks/object_region_eval.py $N "$OUT/objects_n3v300seeds.png" "${dirs[@]}" 2>&1 | tail -12 \
    | tee -a "$OUT/summary.txt"
  tar czf "$OUT/n3v300seeds_logs.tgz" -C $W $(cd $W && ls n3v300_s*.log n3v300_s*/train_stats.json 2>/dev/null)
}

phase_peers() {
  local P=/tmp/peers_ex4dgs it=(--train.iterations ${PEER_ITERS:-6000}) t0=$SECONDS
  mkdir -p $W/peers_out
  # Ex4DGS: build, convert, train its four runs (deadline 400 s), render, score; in the background
  ( OUT=$W/peers_out WORK=$P ITERS=${PEER_ITERS:-6000} DEADLINE_S=${PEER_DEADLINE_S:-400} \
      bash benchmarks/peers/ex4dgs/run_all.sh > $W/peers_run.log 2>&1; echo "run_all rc=$?" >> $W/peers_run.log ) &
  local peers=$!
  if [ "${PEERS_ORDER:-concurrent}" = sequential ]; then   # Ex4DGS's runs alone on the GPU first, then ours
    wait $peers; log "peers: Ex4DGS done in $((SECONDS - t0)) s"; peers=0
  fi
  # sync4dgs on the very scene folders run_all generates, same iterations, concurrently with Ex4DGS's trainings
  for s in demo blobs; do
    ( while [ ! -f $P/$s/gt_sync.json ]; do sleep 3; kill -0 $peers 2>/dev/null || exit 1; done; sleep 5
      for m in ${S4_MODES:-oracle naive stage1}; do
        case $m in
          oracle) run s4_${s}_oracle $P/$s configs/synth_gpu.json "${it[@]}" --fixed_time_maps $P/$s/gt_sync.json & ;;
          naive)  run s4_${s}_naive $P/$s configs/synth_gpu.json "${it[@]}" --fixed_time_maps identity & ;;
          stage1) run s4_${s}_stage1 $P/$s configs/synth_gpu.json "${it[@]}" & ;;   # stage 1 inside train
        esac
      done
      wait ) &
  done
  wait
  log "peers: Ex4DGS and sync4dgs runs done in $((SECONDS - t0)) s"
  for d in $W/s4_*/; do   # results.json (render FPS, model size), one model at a time as Ex4DGS's render_test.py
    [ -d "$d/test" ] && "${S4[@]}" metrics -m "$d" --quiet > "${d%/}.metrics.log" 2>&1
  done
  tail -30 $W/peers_run.log >> "$OUT/summary.txt"
  for s in demo blobs; do   # score again with the sync4dgs runs beside Ex4DGS's, on the same frames
    args=(); for m in naive oracle; do [ -f $P/${s}_$m/renders/render_stats.json ] && args+=(--ex4dgs $m $P/${s}_$m); done
    for m in oracle naive stage1; do [ -d $W/s4_${s}_$m/test ] && args+=(--sync4dgs $m $W/s4_${s}_$m); done
    python3 benchmarks/peers/ex4dgs/score.py --out "$OUT" --name $s "${args[@]}" 2>&1 | tail -5 | tee -a "$OUT/summary.txt"
  done
  python3 benchmarks/peers/ex4dgs/summarize.py "$OUT"/*_peers.json 2>&1 | tee -a "$OUT/summary.txt"
  cp $W/peers_out/ex4dgs_ext.tgz "$OUT/" 2>/dev/null
  tar czf "$OUT/peers_logs.tgz" -C $W peers_run.log $(cd $W && ls s4_*.log s4_*/train_stats.json s4_*/results.json 2>/dev/null) \
    -C $W/peers_out logs.tgz summary.txt 2>/dev/null
}

phase_n3v50() {
  local N=$W/n3v50 t0=$SECONDS labels=()
  [ -f $N/scene.json ] || "${S4[@]}" synth --preset n3v --frames 50 --layout canonical --device cuda --out $N --quiet
  ( "${S4[@]}" align $N --device cuda --out $N/offsets.json > $W/n3v50_align.log 2>&1; tail -24 $W/n3v50_align.log \
      > "$OUT/n3v50_align.txt" ) &
  IFS=';' read -ra variants <<< "${N3V50_VARIANTS:-m3000=--moving.max_points_per_time 3000;m1000=--moving.max_points_per_time 1000;g4=--densify.dynamic.grow_grad2d 0.0004;tol025=--moving.frame_tolerance 0.25}"
  for v in "${variants[@]}"; do
    local label=${v%%=*} flags=${v#*=}
    run n3v50_$label $N configs/synth_gpu.json --train.iterations 3000 --fixed_time_maps $N/gt_sync.json $flags &
    labels+=("$label=n3v50_$label")
  done
  wait
  log "n3v50 variants: $((SECONDS - t0)) s"
  region_eval n3v50 "${labels[@]}"
  echo "object PSNR, models in order: ${labels[*]}" | tee -a "$OUT/summary.txt"
  python3 benchmarks/object_region_eval.py $N "$OUT/objects_n3v50.png" $(for l in "${labels[@]}"; do echo $W/${l#*=}; done) \
    2>&1 | tail -12 | tee -a "$OUT/summary.txt"
  local first=${labels[0]#*=}; t0=$SECONDS
  "${S4[@]}" metrics -m $W/$first -s $N --quiet > $W/${first}_metrics.log 2>&1
  log "$first metrics: $((SECONDS - t0)) s"; grep -a "time:\|PSNR\|FPS" $W/${first}_metrics.log | tee -a "$OUT/summary.txt"
}

phase_s4only() {
  local P=$W/s4only it=(--train.iterations ${PEER_ITERS:-6000}) t0=$SECONDS
  mkdir -p $P
  [ -f $P/demo/scene.json ] || "${S4[@]}" synth --preset demo --layout canonical --device cuda --out $P/demo --quiet
  [ -f $P/blobs/scene.json ] || python3 benchmarks/other_renderer_scene.py $P/blobs 0 320 60 > $W/blobs.gen.log 2>&1
  log "s4only scenes: $((SECONDS - t0)) s"; t0=$SECONDS
  for s in demo blobs; do
    for m in ${S4_MODES:-oracle stage1}; do
      case $m in
        oracle) run s4_${s}_oracle $P/$s configs/synth_gpu.json "${it[@]}" --fixed_time_maps $P/$s/gt_sync.json & ;;
        naive)  run s4_${s}_naive $P/$s configs/synth_gpu.json "${it[@]}" --fixed_time_maps identity & ;;
        stage1) run s4_${s}_stage1 $P/$s configs/synth_gpu.json "${it[@]}" & ;;
      esac
    done
  done
  wait
  log "s4only trainings (concurrent): $((SECONDS - t0)) s"
  for d in $W/s4_*/; do   # alone on the GPU, one model at a time
    [ -d "$d/test" ] || continue
    "${S4[@]}" metrics -m "$d" --quiet > "${d%/}.metrics.log" 2>&1
    log "$(basename $d): $(grep -a 'test  (' ${d%/}.metrics.log) | $(grep -a '^  moving ' ${d%/}.metrics.log)" \
        "| $(grep -a 'FPS' ${d%/}.metrics.log) | $(grep -a 'Gaussians' ${d%/}.metrics.log)"
  done
  for s in demo blobs; do   # one montage per scene (the scenes' image sizes differ)
    region_eval s4only_$s $(for d in $W/s4_${s}_*/; do b=$(basename $d); echo "${b#s4_}=$b"; done)
  done
  tar czf "$OUT/s4only_logs.tgz" -C $W $(cd $W && ls s4_*.log s4_*/train_stats.json s4_*/results.json 2>/dev/null)
}

for phase in ${PHASES:-peers n3v50 n3v300}; do
  log "phase $phase"; phase_$phase; log "phase $phase done"
done
log "all done"
