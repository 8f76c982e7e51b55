#!/usr/bin/env bash
# Reuse gsplat's JIT-compiled CUDA extension across fresh GPU machines (saves ~90 s of nvcc per machine).
#
#   source benchmarks/gsplat_prebuilt.sh install   # before importing gsplat: use .whl/gsplat_cuda.so.gz if present
#   bash   benchmarks/gsplat_prebuilt.sh save DIR  # after a JIT build: write DIR/gsplat_cuda.so.gz (+ .key)
#
# gsplat first tries `from gsplat import csrc` (a prebuilt module) and only then JIT-compiles. `install` puts a
# small gsplat/csrc.py into the installed package that loads the saved gsplat_cuda.so by file location. The
# .key file records gsplat + torch + CUDA + Python versions and the arch list; a mismatch (or any load error)
# removes the shim again and gsplat JIT-compiles as usual. Needs the wheels installed under $SITE (/tmp/site).
SITE=${SITE:-/tmp/site}
key() { python3 -c "import sys, torch, importlib.metadata as m; print(m.version('gsplat'), torch.__version__, torch.version.cuda, sys.version.split()[0], '${TORCH_CUDA_ARCH_LIST:-}')"; }
case ${1:-} in
  save)
    dir=${2:?usage: save DIR}; so=$(ls "${TORCH_EXTENSIONS_DIR:-$HOME/.cache/torch_extensions}"/*/gsplat_cuda/gsplat_cuda.so "${TORCH_EXTENSIONS_DIR:-/nonexistent}"/gsplat_cuda/gsplat_cuda.so 2>/dev/null | head -1)
    [ -n "$so" ] || { echo "gsplat_prebuilt: no built gsplat_cuda.so found" >&2; exit 1; }
    mkdir -p "$dir" && gzip -c "$so" > "$dir/gsplat_cuda.so.gz" && key > "$dir/gsplat_cuda.key"
    echo "gsplat_prebuilt: saved $(du -h "$dir/gsplat_cuda.so.gz" | cut -f1) from $so" ;;
  install)
    if [ -f .whl/gsplat_cuda.so.gz ] && [ -f .whl/gsplat_cuda.key ] && [ -d "$SITE/gsplat" ]; then
      if [ "$(key)" = "$(cat .whl/gsplat_cuda.key)" ]; then
        mkdir -p /tmp/gsplat_prebuilt && gunzip -c .whl/gsplat_cuda.so.gz > /tmp/gsplat_prebuilt/gsplat_cuda.so
        cat > "$SITE/gsplat/csrc.py" <<'PY'
"""Prebuilt gsplat CUDA extension (benchmarks/gsplat_prebuilt.sh): loaded by file location."""
import importlib.machinery, importlib.util, torch  # noqa: F401  (torch first: the extension links libtorch)
_spec = importlib.util.spec_from_file_location(
    "gsplat_cuda", "/tmp/gsplat_prebuilt/gsplat_cuda.so",
    loader=importlib.machinery.ExtensionFileLoader("gsplat_cuda", "/tmp/gsplat_prebuilt/gsplat_cuda.so"))
_mod = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_mod)
globals().update({k: v for k, v in vars(_mod).items() if not k.startswith("__")})
PY
        if python3 -c "from gsplat.cuda._backend import _C; assert _C is not None and hasattr(_C, '__dict__')" 2>/dev/null; then
          echo "gsplat_prebuilt: using the saved extension (no JIT)"
        else
          rm -f "$SITE/gsplat/csrc.py"; echo "gsplat_prebuilt: saved extension failed to load; JIT-compiling"
        fi
      else
        echo "gsplat_prebuilt: key mismatch ($(key) vs $(cat .whl/gsplat_cuda.key)); JIT-compiling"
      fi
    fi ;;
  *) echo "usage: $0 install | save DIR" >&2; exit 2 ;;
esac
