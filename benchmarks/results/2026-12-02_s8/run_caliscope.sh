#!/bin/bash
# Session 8: benchmarks/real_sync.py on caliscope's test sessions (ddda95b4), default AlignConfig (+ marker timing
# for the marker-corrected ground truth). S = extracted tests/sessions; R = where the JSON/logs go.
S=${S:-/tmp/caliscope/tests/sessions}
R=${R:-benchmarks/results/2026-12-02_s8/real_sync}
mkdir -p "$R"
one() {  # session tag drop-args...
  local s=$1 tag=$2; shift 2
  local E=$S/$s/calibration/extrinsic
  PYTHONPATH=${PYTHONPATH_REPO:-.} python benchmarks/real_sync.py $E $S/$s/camera_array.toml $E/timestamps.csv \
    --work /tmp/rs/w_${s}_$tag "$@" --marker_timing --json $R/${s}_$tag.json 2>&1 | tr '\r' '\n' | grep -v "^align:\|^ *$" > $R/${s}_$tag.log
  tail -1 $R/${s}_$tag.log
}
for s in ${SESSIONS:-4_cam_recording charuco_calibration post_optimization}; do
  one $s d0352 --drop 0,3,5,2
  one $s d0426 --drop 0,4,2,6
  one $s seed0 --seed 0
  one $s seed1 --seed 1
done
s=charuco_calibration_2_cam
one $s d03 --drop 0,3
one $s d30 --drop 3,0
one $s seed0 --seed 0
one $s seed1 --seed 1
