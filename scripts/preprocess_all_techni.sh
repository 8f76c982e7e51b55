#!/usr/bin/env bash
# Prepare every Technicolor light-field scene under PATH as a canonical sync4dgs scene.
#
#   scripts/preprocess_all_techni.sh PATH [--out ROOT] [--all_frames] [-- EXTRA PREPARE OPTIONS]
#
# A scene is a folder holding cameras_parameters.txt and <Scene>_undist_<frame:05d>_<cam:02d>.png files
# (the "undistorted" release). Protocol (STG / Ex4DGS / HyperReel): full resolution, test camera cam10 and
# reference cam00 (the reader's defaults), one 50-frame window per scene given in FILE frame numbers (end exclusive):
# Birthday 151:201, Fabien 51:101, Painter 100:150, Theater 51:101, Train(s) 151:201. Other scenes, or
# --all_frames (or --all-frames), use every frame common to all cameras. The scene goes to <scene>/sync4dgs_scene, or to
# ROOT/<scene name> with --out. Options after `--` are passed to `sync4dgs prepare` and override the defaults.
# A failing scene is reported and skipped; the exit status is 1 if any scene failed.
# Set SYNC4DGS to change the command (default: sync4dgs).
set -euo pipefail

usage() { awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 2; }
[[ $# -ge 1 && $1 != -h && $1 != --help ]] || usage
root=$1; shift
out_root=""; all_frames=0
while [[ $# -gt 0 ]]; do
  case $1 in
    --out) [[ $# -ge 2 ]] || usage; out_root=$2; shift 2 ;;
    --all_frames|--all-frames) all_frames=1; shift ;;
    --) shift; break ;;
    *) usage ;;
  esac
done
[[ -d $root ]] || { echo "error: $root is not a folder" >&2; exit 2; }
read -r -a cmd <<< "${SYNC4DGS:-sync4dgs}"

window() {
  case $1 in
    Birthday) echo 151:201 ;;
    Fabien|Theater) echo 51:101 ;;
    Painter) echo 100:150 ;;
    Train|Trains) echo 151:201 ;;
    *) echo "" ;;
  esac
}

status=0; count=0
while IFS= read -r -d '' params; do
  scene=$(dirname "$params")
  compgen -G "$scene/*_undist_*_*.png" > /dev/null || continue
  name=$(basename "$scene")
  out=${out_root:+$out_root/$name}
  out=${out:-$scene/sync4dgs_scene}
  frames=()
  w=$(window "$name")
  if [[ $all_frames -eq 0 && -n $w ]]; then frames=(--frames "$w"); fi
  count=$((count + 1))
  echo "== $name ${w:+(frames $w) }-> $out"
  if ! "${cmd[@]}" prepare "$scene" --out "$out" --format technicolor ${frames[@]+"${frames[@]}"} "$@"; then
    echo "!! $name failed" >&2
    status=1
  fi
done < <(find "$root" -name cameras_parameters.txt -not -path '*/.*' -print0 | sort -z)

[[ $count -gt 0 ]] || { echo "error: no Technicolor scene (cameras_parameters.txt + *_undist_*.png) under $root" >&2; exit 1; }
exit $status
