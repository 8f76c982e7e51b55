#!/usr/bin/env bash
# Ex4DGS side by side with sync4dgs's benchmark scenes, on one GPU machine in one call (issue 20). Our scripts only;
# Ex4DGS's source tree is carried in .peers/ex4dgs and built by build.sh. See README.md beside this file.
#
#   OUT=$OUT bash benchmarks/peers/ex4dgs/run_all.sh
#
# Steps: install wheels, generate the scenes (demo: `sync4dgs synth --preset demo` on the GPU, seconds; blobs:
# benchmarks/other_renderer_scene.py at 320x240, 60 frames, on 2 CPU threads, minutes) exactly as
# benchmarks/gpu_moving.sh does, in the background while build.sh compiles Ex4DGS; convert every scene for Ex4DGS
# twice (naive: the unsynchronized frames as given; oracle: re-timed by gt_sync.json); check the folders with
# Ex4DGS's own loader; train all runs concurrently with upstream train.py (its N3V config, overrides below)
# under a common wall-clock deadline; render the test view and time it (one model at a time); score with our
# metrics (score.py). Files into $OUT (8 at most): summary.txt, <scene>_peers.json, <scene>_montage.png,
# logs.tgz, ex4dgs_ext.tgz (compiled extensions for the next machine: copy into .whl_peers/).
# knobs: SCENES ("demo blobs"), MODES ("naive oracle"), ITERS (6000), GROW_STEPS (upstream's 400: iterations per
# 10-frame growth of the trained time range), DEADLINE_S (400: every training ends by then,
# counted from this script's start), WORK (/tmp/peers_ex4dgs), EX4DGS_SRC, WHL_PEERS (see build.sh),
# S4_demo / S4_blobs ("label=MODEL_DIR ..."): sync4dgs model folders (with test renders) to score beside Ex4DGS.
set -uo pipefail
T0=$SECONDS
OUT=${OUT:-$PWD/peers_out}; WORK=${WORK:-/tmp/peers_ex4dgs}
SCENES=${SCENES:-demo blobs}; MODES=${MODES:-naive oracle}; ITERS=${ITERS:-6000}; DEADLINE_S=${DEADLINE_S:-400}
HERE=benchmarks/peers/ex4dgs
mkdir -p "$OUT" "$WORK"
export PYTHONUNBUFFERED=1 OMP_NUM_THREADS=${OMP_NUM_THREADS:-2}
export TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1   # Ex4DGS's own checkpoints hold numpy scalars; torch >= 2.6 refuses them
: > "$OUT/summary.txt"
log() { echo "[$((SECONDS - T0)) s] $*" | tee -a "$OUT/summary.txt"; }
log "card: $(nvidia-smi --query-gpu=name --format=csv,noheader | head -1) date: $(date -u +%F) commit: ${COMMIT:-n/a}" \
    "ex4dgs: $(cat "${EX4DGS_SRC:-.peers/ex4dgs}/UPSTREAM_COMMIT" 2>/dev/null)"
SITE=${SITE:-/tmp/site}
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$SITE" \
  "${WHL_PEERS:-.whl_peers}"/*.whl || { log "wheel install failed"; exit 1; }
export PYTHONPATH=$PWD:$SITE:${PYTHONPATH:-}

# ---- scenes (as benchmarks/gpu_moving.sh's demo_scene / blobs_scene), in the background ----------------------
declare -A GEN
for s in $SCENES; do
  case $s in
    demo)  ( [ -f "$WORK/demo/scene.json" ] || python3 -m sync4dgs synth --preset demo --layout canonical --device cuda \
               --out "$WORK/demo" --quiet ) > "$WORK/demo.gen.log" 2>&1 & GEN[demo]=$! ;;
    blobs) ( [ -f "$WORK/blobs/scene.json" ] || python3 benchmarks/other_renderer_scene.py "$WORK/blobs" 0 320 60 ) \
               > "$WORK/blobs.gen.log" 2>&1 & GEN[blobs]=$! ;;
    *) log "unknown scene $s (demo, blobs)"; exit 1 ;;
  esac
done

# ---- build Ex4DGS (foreground; sets EX4DGS and PYTHONPATH) ---------------------------------------------------
EX4DGS_SAVE_EXT=$OUT source $HERE/build.sh > "$WORK/build.out" 2>&1; brc=$?
cat "$WORK/build.out" | tee -a "$OUT/summary.txt"
[ $brc = 0 ] || { log "build failed"; tar czf "$OUT/logs.tgz" -C /tmp ex4dgs.build.log 2>/dev/null; exit 1; }
log "Ex4DGS built"

# ---- per scene: convert, check, train (background) -----------------------------------------------------------
config() {  # scene -> $WORK/<scene>_cfg.json: upstream's N3V config with our overrides
  python3 - "$EX4DGS/configs/N3V/n3v_base.json" "$WORK/$1/scene.json" "$ITERS" "${GROW_STEPS:-}" > "$WORK/$1_cfg.json" <<'PY'
import json, sys
cfg, scene, iters = json.load(open(sys.argv[1])), json.load(open(sys.argv[2])), int(sys.argv[3])
if sys.argv[4]:
    cfg["progressive_growing_steps"] = int(sys.argv[4])   # knob GROW_STEPS (upstream N3V: 400)
cfg.update(resolution=1,                     # our frames are small: train at full resolution (N3V config: 2)
           iterations=iters,                 # a short run (N3V config: 40000)
           position_lr_max_steps=int(0.75 * iters), dynamic_position_lr_max_steps=int(0.75 * iters),  # 30k of 40k
           near=0.5 * scene["near"], far=2.0 * scene["far"])   # depth culling range (N3V config: 4 .. 300)
print(json.dumps(cfg, indent=1))
PY
}
declare -A TRAIN
start_scene() {
  local s=$1 m
  for m in $MODES; do
    python3 $HERE/ex4dgs_input.py "$WORK/$s" "$WORK/${s}_$m/input" --mode $m 2>&1 | tee -a "$OUT/summary.txt"
  done
  (cd /tmp && python3 "$OLDPWD/$HERE/check_loader.py" "$EX4DGS" $(for m in $MODES; do echo "$WORK/${s}_$m/input"; done)) \
    2>&1 | grep -a "ok\|differ\|split\|not\|Error" | tee -a "$OUT/summary.txt"
  config "$s" || { log "$s: config failed"; return 1; }
  for m in $MODES; do
    local cap=$((DEADLINE_S - (SECONDS - T0)))
    log "$s $m: training (cap $cap s, $ITERS iterations at most)"
    python3 $HERE/train_capped.py --ex4dgs "$EX4DGS" --time_cap_s $cap --stats "$WORK/${s}_$m/train_stats.json" -- \
      --configpath "$WORK/${s}_cfg.json" --source_path "$WORK/${s}_$m/input" --model_path "$WORK/${s}_$m/model" \
      --save_iterations $ITERS --checkpoint_iterations $ITERS > "$WORK/${s}_$m.train.log" 2>&1 &
    TRAIN[${s}_$m]=$!
  done
}
for s in $SCENES; do
  wait ${GEN[$s]}; grc=$?
  if [ $grc != 0 ] || [ ! -f "$WORK/$s/scene.json" ]; then log "$s: scene generation failed (see $s.gen.log)"; continue; fi
  left=$((DEADLINE_S - (SECONDS - T0)))
  if [ $left -lt 120 ]; then log "$s: scene ready too late ($left s of training left): skipped"; continue; fi
  log "$s: scene ready"
  start_scene "$s"
done
for r in "${!TRAIN[@]}"; do wait ${TRAIN[$r]}; log "$r: train rc=$? $(tail -c 300 "$WORK/$r.train.log" | grep -a train_capped)"; done

# ---- render (one model at a time, so that FPS is measured alone) and score -------------------------------------
for r in "${!TRAIN[@]}"; do
  [ -f "$WORK/$r/train_stats.json" ] || { log "$r: no model"; continue; }
  python3 $HERE/render_test.py --ex4dgs "$EX4DGS" --model "$WORK/$r/model" --out "$WORK/$r/renders" \
    > "$WORK/$r.render.log" 2>&1; log "$r: render rc=$? $(grep -a render_test: "$WORK/$r.render.log")"
done
for s in $SCENES; do
  args=(); for m in $MODES; do [ -f "$WORK/${s}_$m/renders/render_stats.json" ] && args+=(--ex4dgs $m "$WORK/${s}_$m"); done
  extra=S4_$s; for kv in ${!extra:-}; do args+=(--sync4dgs "${kv%%=*}" "${kv#*=}"); done
  [ ${#args[@]} -gt 0 ] || continue
  python3 $HERE/score.py --out "$OUT" --name $s "${args[@]}" 2>&1 | tee -a "$OUT/summary.txt"
done
python3 $HERE/summarize.py "$OUT"/*_peers.json 2>&1 | tee -a "$OUT/summary.txt"
log "done"
tar czf "$OUT/logs.tgz" -C "$WORK" $(cd "$WORK" && ls *.log *_cfg.json build.out */train_stats.json */renders/render_stats.json \
  */input/ex4dgs_input.json */model/cfg_args 2>/dev/null) -C /tmp ex4dgs.build.log 2>/dev/null
