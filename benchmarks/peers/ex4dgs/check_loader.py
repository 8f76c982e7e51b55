"""Read a converted folder (ex4dgs_input.py) with Ex4DGS's OWN N3V loader and check it against our manifest.

    python benchmarks/peers/ex4dgs/check_loader.py EX4DGS_SRC FOLDER [FOLDER ...] [--stub_knn]

EX4DGS_SRC is an exported Ex4DGS source tree (not part of this repository). The check imports its
``scene.dataset_readers.readColmapSceneInfoNeural3DVideo`` and verifies, for every converted folder: the test
view is cam00 and only it; every view has the manifest's number of frames with timestamps 0..n-1 in file order;
each image path is the file the manifest names; the poses are ours (Ex4DGS keeps R transposed: R_ex = R_w2c^T,
T = t); the fields of view match our focal lengths; the point cloud has our points. It needs torch (CPU is
enough), plyfile and natsort. The reader module imports the simple-knn CUDA extension at module level without
using it; ``--stub_knn`` (CPU machines without the built extension) registers an empty ``simple_knn._C``
module with a ``distCUDA2`` that raises, and imports the reader without the package's ``__init__`` (which
pulls in joblib, kornia and CUDA cameras), so that the reader can be imported. Exit status 0 when all checks pass.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import types
from argparse import Namespace
from pathlib import Path

import numpy as np

from sync4dgs.data.points import load_points
from sync4dgs.data.scene import load_scene


def _stub_knn() -> None:
    def dist_cuda2(*_a, **_k):
        raise RuntimeError("simple_knn._C is a CPU stub (check_loader.py --stub_knn); build the extension")

    pkg = sys.modules.setdefault("simple_knn", types.ModuleType("simple_knn"))
    mod = types.ModuleType("simple_knn._C")
    mod.distCUDA2 = dist_cuda2
    pkg._C = mod
    sys.modules["simple_knn._C"] = mod


def import_reader(ex4dgs_src: str | Path, stub_knn: bool):
    """Ex4DGS's N3V scene reader (imported from its source tree)."""
    src = str(Path(ex4dgs_src).resolve())
    if not (Path(src) / "scene" / "dataset_readers.py").is_file():
        raise SystemExit(f"{src}: not an Ex4DGS source tree (no scene/dataset_readers.py)")
    if src not in sys.path:
        sys.path.insert(0, src)
    if stub_knn:
        try:
            import simple_knn._C  # noqa: F401, PLC0415
        except ImportError:
            _stub_knn()
        # the package's __init__ imports the training stack (joblib, kornia, CUDA cameras): read the reader alone
        pkg = types.ModuleType("scene")
        pkg.__path__ = [str(Path(src) / "scene")]
        sys.modules.setdefault("scene", pkg)
    from scene.dataset_readers import readColmapSceneInfoNeural3DVideo  # noqa: PLC0415

    return readColmapSceneInfoNeural3DVideo


def check_folder(reader, folder: str | Path) -> list[str]:
    """Problems found (empty list = all good) when Ex4DGS's reader loads ``folder``."""
    folder = Path(folder).resolve()
    man = json.loads((folder / "ex4dgs_input.json").read_text())
    scene = load_scene(man["scene"])
    info = reader(str(folder), "images", True, Namespace(start_timestamp=0, end_timestamp=-1))
    problems: list[str] = []
    cams = {"test": info.test_cameras, "train": info.train_cameras}
    seen: dict[str, list] = {}
    for split, lst in cams.items():
        for c in lst:
            view = Path(c.image_path).parent.name
            seen.setdefault(view, []).append(c)
            if (view == "cam00") != (split == "test"):
                problems.append(f"{view}: in the {split} split")
    if set(seen) != set(man["views"]):
        problems.append(f"views {sorted(seen)} != manifest {sorted(man['views'])}")
    for view, spec in man["views"].items():
        lst = sorted(seen.get(view, []), key=lambda c: c.timestamp)
        if [c.timestamp for c in lst] != list(range(len(spec["frames"]))):
            problems.append(f"{view}: timestamps {[c.timestamp for c in lst][:5]}... for {len(spec['frames'])} frames")
            continue
        cam = scene.camera(spec["source"])
        for c, i in zip(lst, spec["frames"]):
            want = (scene.frames_path(cam) / cam.frames.pattern.format(cam.frames.start + i)).resolve() \
                if cam.frames.kind == "images" else None
            if want is not None and Path(c.image_path).resolve() != want:
                problems.append(f"{view} t={c.timestamp}: {c.image_path} is not {want}")
                break
        c = lst[0]
        if np.abs(np.asarray(c.R) - cam.R.T).max() > 1e-6 or np.abs(np.asarray(c.T) - cam.t).max() > 1e-6:
            problems.append(f"{view}: pose differs from camera {cam.name}")
        fx = cam.width / (2 * math.tan(c.FovX / 2))
        fy = cam.height / (2 * math.tan(c.FovY / 2))
        if abs(fx - cam.K[0, 0]) > 1e-6 * fx or abs(fy - cam.K[1, 1]) > 1e-6 * fy:
            problems.append(f"{view}: focal {fx:.4f}, {fy:.4f} != {cam.K[0, 0]:.4f}, {cam.K[1, 1]:.4f}")
        if (c.width, c.height) != (cam.width, cam.height):
            problems.append(f"{view}: size {c.width}x{c.height} != {cam.width}x{cam.height}")
    pts = load_points(scene.points_path)
    if info.point_cloud is None or len(info.point_cloud.points) != len(pts.xyz):
        problems.append("point cloud not read or of another size")
    elif np.abs(np.asarray(info.point_cloud.points) - pts.xyz).max() > 1e-4:
        problems.append("point cloud coordinates differ")
    return problems


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("ex4dgs_src")
    ap.add_argument("folders", nargs="+")
    ap.add_argument("--stub_knn", action="store_true")
    args = ap.parse_args(argv)
    reader = import_reader(args.ex4dgs_src, args.stub_knn)
    bad = 0
    for f in args.folders:
        problems = check_folder(reader, f)
        print(f"{f}: " + ("ok (Ex4DGS's loader reads it as the manifest says)" if not problems else
                          "; ".join(problems)))
        bad += bool(problems)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
