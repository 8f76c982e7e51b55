"""Fixtures of the reliability suite: the tiniest datasets of every prepare format, the CLI run in-process,
and a content hash of a folder tree (to prove that a failed command changed nothing).

Datasets are built once per session in a read-only master copy; each test copies the one it needs
(``clone``), so a test may damage its copy freely.
"""

from __future__ import annotations

import importlib.util
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest


def _load(name: str, path: Path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module            # dataclasses need their module registered
    spec.loader.exec_module(module)
    return module


kit = _load("reliability_builders", Path(__file__).parents[1] / "readers" / "builders.py")
helpers = _load("reliability_helpers", Path(__file__).with_name("helpers.py"))
_load("reliability_damage", Path(__file__).with_name("damage.py"))   # the suites' case builders (imported by name)

N_CAMS, W, H, N_FRAMES = 2, 64, 48, 2


@pytest.fixture(autouse=True)
def _one_thread(torch_single_thread):
    """Tiny CPU work is faster single-threaded on a shared 2-core machine."""
    yield


@pytest.fixture(scope="session")
def h():
    """The suite's helpers module (run_cli, tree_hash, assert_clean_failure, leftovers)."""
    return helpers


@pytest.fixture(scope="session")
def rig():
    cams = kit.make_rig(n=N_CAMS, W=W, H=H, f=52.0, spread=1.0)
    return cams


def _save_jpg(path: Path, rgb: np.ndarray) -> None:
    import cv2  # noqa: PLC0415

    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), rgb[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, 95])


def _to_binary(text_dir: Path, out_dir: Path) -> None:
    """The COLMAP TXT model in ``text_dir`` written as a binary model (cameras/images/points3D.bin)."""
    import pycolmap  # noqa: PLC0415

    out_dir.mkdir(parents=True, exist_ok=True)
    pycolmap.Reconstruction(str(text_dir)).write_binary(str(out_dir))


@pytest.fixture(scope="session")
def masters(tmp_path_factory, rig) -> dict[str, Path]:
    """{format: master dataset folder} for technicolor, colmap (flat, text model), colmap_nested (PNG frames),
    colmap_jpg (the same with JPEG frames), colmap_bin (flat, binary model) and n3v."""
    room = kit.Room(seed=0)
    frames = kit.render_videos(room, rig, N_FRAMES)
    root = tmp_path_factory.mktemp("masters")
    out = {"technicolor": kit.write_technicolor(root / "technicolor", "Tiny", rig, frames, first=1)}
    flat = root / "colmap"
    for c in rig:
        kit.save_png(flat / "images" / f"{c.name}.png", frames[c.name][0])
    rng = np.random.default_rng(0)
    X = np.c_[rng.uniform(-2.0, 2.0, 150), rng.uniform(-1.5, 1.5, 150), np.full(150, kit.ROOM_HI[2])]
    colors = rng.integers(0, 256, (150, 3))
    kit.write_colmap_text(flat / "sparse" / "0", rig, [f"{c.name}.png" for c in rig], points=X, colors=colors)
    out["colmap"] = flat
    nested = root / "colmap_nested"
    for c in rig:
        for i, img in enumerate(frames[c.name]):
            kit.save_png(nested / "images" / c.name / f"{i:05d}.png", img)
    kit.write_colmap_text(nested / "sparse" / "0", rig, [f"{c.name}/00000.png" for c in rig], points=X,
                          colors=colors)
    out["colmap_nested"] = nested
    jpg = root / "colmap_jpg"
    for c in rig:
        for i, img in enumerate(frames[c.name]):
            _save_jpg(jpg / "images" / c.name / f"{i:05d}.jpg", img)
    kit.write_colmap_text(jpg / "sparse" / "0", rig, [f"{c.name}/00000.jpg" for c in rig], points=X, colors=colors)
    out["colmap_jpg"] = jpg
    binary = root / "colmap_bin"
    shutil.copytree(flat / "images", binary / "images")
    _to_binary(flat / "sparse" / "0", binary / "sparse" / "0")
    out["colmap_bin"] = binary
    try:
        import av  # noqa: F401, PLC0415
    except ImportError:
        pass
    else:
        out["n3v"] = kit.write_n3v(root / "n3v", rig, frames)
    return out


@pytest.fixture
def clone(masters, tmp_path):
    """clone(format) -> a private copy of that master dataset under tmp_path/<format>."""
    def _clone(fmt: str) -> Path:
        if fmt not in masters:
            pytest.skip(f"{fmt} dataset unavailable (PyAV missing)")
        dst = tmp_path / "data" / fmt
        shutil.copytree(masters[fmt], dst)
        return dst
    return _clone


# ---- a tiny canonical scene for train ---------------------------------------------------------------
def make_tiny_scene(root: Path) -> Path:
    """2 cameras x 3 frames of 16x12 noise PNGs, 60 random points, gt_sync.json: enough for a few iterations."""
    import cv2  # noqa: PLC0415

    from sync4dgs.data.points import save_points  # noqa: PLC0415
    from sync4dgs.data.scene import CameraSpec, FrameSource, SceneSpec  # noqa: PLC0415
    from sync4dgs.timemap import TimeMaps  # noqa: PLC0415

    rng = np.random.default_rng(0)
    cams = []
    for k in range(2):
        R, t = kit.look_at([0.4 * k - 0.2, 0.0, -3.0], [0.0, 0.0, 0.0], kit.IMAGE_UP)
        K = np.array([[14.0, 0, 8.0], [0, 14.0, 6.0], [0, 0, 1.0]])
        name = f"cam{k:02d}"
        cams.append(CameraSpec(name, 16, 12, K, R, t, 10.0, 3, FrameSource("images", f"frames/{name}", "{:05d}.png")))
        for i in range(3):
            img = rng.integers(0, 256, (12, 16, 3), dtype=np.uint8)
            (root / "frames" / name).mkdir(parents=True, exist_ok=True)
            cv2.imwrite(str(root / "frames" / name / f"{i:05d}.png"), img)
    scene = SceneSpec(root=root, cameras=cams, reference_camera="cam00", near=0.5, far=10.0)
    scene.save()
    save_points(scene.points_path, rng.uniform(-0.5, 0.5, (60, 3)), rng.integers(0, 256, (60, 3)).astype(np.uint8))
    TimeMaps.identity(scene.camera_names, "cam00").save(scene.gt_sync_path)
    return root


@pytest.fixture(scope="session")
def tiny_scene_master(tmp_path_factory) -> Path:
    return make_tiny_scene(tmp_path_factory.mktemp("tiny") / "scene")


@pytest.fixture
def tiny_scene(tiny_scene_master, tmp_path) -> Path:
    """A private copy of the tiny scene (tests may damage it)."""
    dst = tmp_path / "scene"
    shutil.copytree(tiny_scene_master, dst)
    return dst
