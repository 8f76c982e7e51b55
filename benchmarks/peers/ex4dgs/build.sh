#!/usr/bin/env bash
# Build upstream Ex4DGS (an external benchmark, CC BY-NC 4.0, never part of this repository) on a GPU machine:
# install its Python needs from carried wheels, copy its source tree, apply OUR toolchain patch, build its two CUDA
# extensions (diff_gaussian_rasterization_df, simple-knn) in place, and check that they import.
#
#   source benchmarks/peers/ex4dgs/build.sh      # sets EX4DGS (the built tree) and PYTHONPATH for the caller
#
# knobs: EX4DGS_SRC (.peers/ex4dgs: the exported source tree), EX4DGS_BUILD (/tmp/ex4dgs), WHL_PEERS (.whl_peers:
# kornia, kornia_rs, natsort, plyfile wheels), SITE (/tmp/site), TORCH_CUDA_ARCH_LIST (9.0), MAX_JOBS (16),
# EX4DGS_SAVE_EXT (a folder: write ex4dgs_ext.tgz there after a fresh build, for the next machine).
# A prebuilt $WHL_PEERS/ex4dgs_ext.tgz is used instead of compiling when its key (torch, CUDA, Python, arch list,
# upstream commit, patch checksum) matches this machine's; any mismatch or import failure compiles afresh.
# Log: $EX4DGS_BUILD.build.log. Takes ~2 min on an H200 machine's 16 cores (estimate: rasterize_points.cu and
# spatial.cu, which include torch's headers, are the long poles), seconds with the prebuilt archive.
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
EX4DGS_SRC=${EX4DGS_SRC:-.peers/ex4dgs}; EX4DGS_BUILD=${EX4DGS_BUILD:-/tmp/ex4dgs}
WHL_PEERS=${WHL_PEERS:-.whl_peers}; SITE=${SITE:-/tmp/site}
export TORCH_CUDA_ARCH_LIST=${TORCH_CUDA_ARCH_LIST:-9.0} MAX_JOBS=${MAX_JOBS:-16}
LOG=$EX4DGS_BUILD.build.log
_ex4dgs_build() {
  [ -f "$EX4DGS_SRC/train.py" ] || { echo "build.sh: $EX4DGS_SRC is not an Ex4DGS source tree" >&2; return 1; }
  if ls "$WHL_PEERS"/*.whl >/dev/null 2>&1; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$SITE" \
      "$WHL_PEERS"/*.whl || { echo "build.sh: wheel install failed" >&2; return 1; }
  fi
  export PYTHONPATH=$SITE:${PYTHONPATH:-}
  python3 -c "import plyfile, natsort, kornia, joblib, tqdm, skimage, cv2, scipy" ||
    { echo "build.sh: a Python need of Ex4DGS is missing (see $WHL_PEERS)" >&2; return 1; }
  rm -rf "$EX4DGS_BUILD" && cp -r "$EX4DGS_SRC" "$EX4DGS_BUILD" || return 1
  if command -v patch >/dev/null; then
    (cd "$EX4DGS_BUILD" && patch -p1 --forward --quiet < "$HERE/toolchain.patch")
  else
    python3 "$HERE/apply_patch.py" "$HERE/toolchain.patch" "$EX4DGS_BUILD"    # no `patch` on this machine
  fi || { echo "build.sh: toolchain.patch does not apply to $EX4DGS_SRC" >&2; return 1; }
  local key
  key=$(python3 -c "import sys, torch; print(torch.__version__, torch.version.cuda, sys.version.split()[0], '$TORCH_CUDA_ARCH_LIST')")
  key="$key $(cat "$EX4DGS_SRC/UPSTREAM_COMMIT" 2>/dev/null) $(sha256sum "$HERE/toolchain.patch" | cut -c1-16)"
  local R=$EX4DGS_BUILD/submodules/diff_gaussian_rasterization_df K=$EX4DGS_BUILD/submodules/simple-knn
  export PYTHONPATH=$EX4DGS_BUILD:$R:$K:$PYTHONPATH EX4DGS=$EX4DGS_BUILD
  local check="import torch, diff_gaussian_rasterization_df, simple_knn._C; from scene import Scene"
  if [ -f "$WHL_PEERS/ex4dgs_ext.tgz" ] && [ "$(tar xzf "$WHL_PEERS/ex4dgs_ext.tgz" -O ex4dgs_ext.key 2>/dev/null)" = "$key" ]; then
    tar xzf "$WHL_PEERS/ex4dgs_ext.tgz" -C "$EX4DGS_BUILD" --exclude ex4dgs_ext.key &&
      (cd /tmp && python3 -c "$check") && { echo "build.sh: prebuilt extensions used ($key)"; return 0; }
    echo "build.sh: prebuilt extensions failed to load; compiling"
  fi
  local t0=$SECONDS
  : > "$LOG"
  (cd "$R" && python3 setup.py build_ext --inplace > "$LOG.rast" 2>&1) & local p1=$!
  (cd "$K" && python3 setup.py build_ext --inplace > "$LOG.knn" 2>&1) & local p2=$!
  local rc=0
  wait $p1 || rc=1; wait $p2 || rc=$((rc + 2))
  cat "$LOG.rast" "$LOG.knn" >> "$LOG"
  if [ $rc != 0 ]; then
    echo "build.sh: extension build failed (rc $rc: 1 rasterizer, 2 simple-knn); last lines of $LOG:" >&2
    grep -a -B2 -A8 "error" "$LOG" | tail -40 >&2
    return 1
  fi
  (cd /tmp && python3 -c "$check") || { echo "build.sh: built extensions do not import" >&2; return 1; }
  echo "build.sh: extensions built in $((SECONDS - t0)) s ($key)"
  if [ -n "${EX4DGS_SAVE_EXT:-}" ]; then
    mkdir -p "$EX4DGS_SAVE_EXT" && echo "$key" > "$EX4DGS_BUILD/ex4dgs_ext.key" &&
      (cd "$EX4DGS_BUILD" && tar czf "$EX4DGS_SAVE_EXT/ex4dgs_ext.tgz" ex4dgs_ext.key \
        $(cd "$EX4DGS_BUILD" && ls submodules/diff_gaussian_rasterization_df/diff_gaussian_rasterization_df/_C*.so \
          submodules/simple-knn/simple_knn/_C*.so)) &&
      echo "build.sh: saved $EX4DGS_SAVE_EXT/ex4dgs_ext.tgz ($(du -h "$EX4DGS_SAVE_EXT/ex4dgs_ext.tgz" | cut -f1))"
  fi
  return 0
}
_ex4dgs_build
