#!/usr/bin/env bash
# Pack everything under $OUT (or $1) except summary.txt, the saved gsplat extension and an existing logs.tgz into
# logs.tgz (appending a numbered archive if one exists): the device tool returns at most 8 files from $OUT.
OUT=${1:-${OUT:?set OUT}}
cd "$OUT" || exit 1
mapfile -t items < <(find . -mindepth 1 -maxdepth 1 ! -name summary.txt ! -name 'gsplat_cuda.*' ! -name 'logs*.tgz' -printf '%P\n')
[ ${#items[@]} -eq 0 ] && exit 0
name=logs.tgz; i=1; while [ -e "$name" ]; do name=logs$i.tgz; i=$((i + 1)); done
tar czf "/tmp/$name" "${items[@]}" && rm -rf "${items[@]}" && mv "/tmp/$name" "$OUT/$name"
