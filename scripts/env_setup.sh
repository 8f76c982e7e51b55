#!/usr/bin/env bash
# Install sync4dgs and its preprocessing dependencies (PyAV, pycolmap, OpenCV, plyfile, ...) into the current
# Python environment, then check that they import.
#
#   scripts/env_setup.sh            (PYTHON=/path/to/python scripts/env_setup.sh for another interpreter)
#
# torch is installed first only if it is missing, pinned to 2.13.0: on the CPU machine pip then takes the local
# CPU wheel, whereas an unpinned request would download several GB of CUDA wheels. A machine that already has
# torch (e.g. the GPU machine's 2.11.0+cu130) keeps it.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
py=${PYTHON:-python3}
if ! "$py" -c "import torch" 2> /dev/null; then
  "$py" -m pip install "torch==2.13.0"
fi
"$py" -m pip install -e "$repo"
"$py" - <<'PY'
import av, cv2, plyfile, pycolmap  # noqa: F401
import sync4dgs.data.readers  # noqa: F401
print(f"sync4dgs preprocessing ready: PyAV {av.__version__}, pycolmap {pycolmap.__version__}, OpenCV {cv2.__version__}")
PY
