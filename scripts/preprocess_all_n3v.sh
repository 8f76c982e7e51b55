#!/usr/bin/env bash
# Prepare every Neural 3D Video (N3V / DyNeRF) scene under PATH as a canonical sync4dgs scene.
#
#   scripts/preprocess_all_n3v.sh PATH [--out ROOT] [-- EXTRA PREPARE OPTIONS]
#
# A scene is a folder holding poses_bounds.npy and cam*.mp4 (also what `sync4dgs unsync` writes). Each one is
# prepared with the standard protocol: half resolution (--downscale 2 -> 1352x1014), test camera cam00,
# reference cam00 (the reader's defaults). The scene goes to <scene>/sync4dgs_scene, or to ROOT/<scene name> with --out.
# Options after `--` are passed to `sync4dgs prepare` and override the defaults (e.g. -- --exclude_cameras cam13).
# A failing scene is reported and skipped; the exit status is 1 if any scene failed.
# Set SYNC4DGS to change the command (default: sync4dgs; e.g. SYNC4DGS="python3 -m sync4dgs").
set -euo pipefail

usage() { awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 2; }
[[ $# -ge 1 && $1 != -h && $1 != --help ]] || usage
root=$1; shift
out_root=""
if [[ ${1:-} == --out ]]; then
  [[ $# -ge 2 ]] || usage
  out_root=$2; shift 2
fi
if [[ ${1:-} == -- ]]; then shift; fi
[[ -d $root ]] || { echo "error: $root is not a folder" >&2; exit 2; }
read -r -a cmd <<< "${SYNC4DGS:-sync4dgs}"

status=0; count=0
while IFS= read -r -d '' poses; do
  scene=$(dirname "$poses")
  compgen -G "$scene/cam*.mp4" > /dev/null || continue
  name=$(basename "$scene")
  out=${out_root:+$out_root/$name}
  out=${out:-$scene/sync4dgs_scene}
  count=$((count + 1))
  echo "== $name -> $out"
  if ! "${cmd[@]}" prepare "$scene" --out "$out" --format n3v --downscale 2 "$@"; then
    echo "!! $name failed" >&2
    status=1
  fi
done < <(find "$root" -name poses_bounds.npy -not -path '*/.*' -print0 | sort -z)

[[ $count -gt 0 ]] || { echo "error: no N3V scene (poses_bounds.npy + cam*.mp4) under $root" >&2; exit 1; }
exit $status
