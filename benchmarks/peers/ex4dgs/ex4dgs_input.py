"""Convert a canonical sync4dgs scene into the input layout of Ex4DGS's Neural-3D-Video loader (our own code).

    python benchmarks/peers/ex4dgs/ex4dgs_input.py SCENE OUT --mode naive|oracle [--test_camera NAME] [--copy]

What Ex4DGS's ``neural3dvideo`` loader reads (scene/dataset_readers.py, upstream commit in README.md), and so
what this writes into OUT:

* ``colmap_0/sparse/0/cameras.txt`` + ``images.txt``: COLMAP text model, one PINHOLE camera per view
  (fx fy cx cy; the loader keeps only the fields of view: the principal point must be the image centre), image
  ``camXX.png`` with the world-to-camera quaternion/translation (OpenCV axes, as our scene.json).
* ``colmap_0/sparse/0/points3D.ply``: the initial points (x y z nx ny nz red green blue, as its ``fetchPly``).
* ``poses_bounds.npy``: LLFF poses + bounds (the loader opens it; only row 0's height/width/focal are read).
* ``camXX/<j:05d>.png``: the frames of each view; the loader gives the j-th file (sorted by its integer name)
  the integer timestamp j, the same instant for every view. Views are renamed ``cam00`` (the held-out test
  camera: the loader holds out every image whose path contains "cam00") and ``cam01``... (training views).
* ``ex4dgs_input.json`` (ours, not read by Ex4DGS): which source camera and frame each file is, the timeline,
  and the time error of every frame, for the scorer (score.py).

Modes (Ex4DGS has no time alignment: it assumes timestamp j is one instant in every view):

* ``naive``: the unsynchronized input as given: frame i of every camera gets timestamp i.
* ``oracle``: frames re-timed by the TRUE time maps (``gt_sync.json``): timestamp j is the instant
  ``t0 + j / fps_ref`` on the reference camera's clock, and each view's file j is its frame captured nearest to
  that instant. ``t0`` is the first reference-frame instant that every view covers (a view covers the instants
  from its first to its last frame, +-half of its frame period), so every view starts at j = 0 as the loader
  needs; a view that ends earlier simply has fewer files. With whole-frame offsets at one frame rate the
  re-timing is exact; with sub-frame offsets or other frame rates the residual (at most half a frame) is
  recorded per frame (``time_error_s``) — Ex4DGS's integer timeline cannot express it.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sync4dgs.data.frames import open_frames
from sync4dgs.data.points import load_points, save_points
from sync4dgs.data.scene import CameraSpec, SceneSpec, load_scene
from sync4dgs.data.synth.llff import encode_poses_bounds
from sync4dgs.errors import DataFormatError
from sync4dgs.timemap import TimeMaps, global_time_s, load_time_maps
from sync4dgs.utils.atomic import atomic_dir, write_json

MANIFEST = "ex4dgs_input.json"
MODES = ("naive", "oracle")
TEST_NAME = "cam00"                 # Ex4DGS's N3V loader holds out the images whose path contains this
CENTRE_TOLERANCE = 0.01             # principal point may be off the image centre by this fraction of the size


@dataclass
class ViewPlan:
    """One Ex4DGS view: which source camera, and which of its frames is file j (with its time error)."""

    name: str                       # Ex4DGS folder name (cam00 = test)
    source: str                     # our camera name
    frames: list[int]               # source frame index of file j
    time_error_s: list[float]       # true capture time of that frame - the instant Ex4DGS assumes (s)


def rotmat_to_qvec(R: np.ndarray) -> np.ndarray:
    """Unit quaternion (w, x, y, z), w >= 0, of a proper rotation matrix [3, 3] (COLMAP's qvec)."""
    R = np.asarray(R, dtype=np.float64)
    m = np.array([[R[0, 0] - R[1, 1] - R[2, 2], 0, 0, 0],
                  [R[1, 0] + R[0, 1], R[1, 1] - R[0, 0] - R[2, 2], 0, 0],
                  [R[2, 0] + R[0, 2], R[2, 1] + R[1, 2], R[2, 2] - R[0, 0] - R[1, 1], 0],
                  [R[2, 1] - R[1, 2], R[0, 2] - R[2, 0], R[1, 0] - R[0, 1], R[0, 0] + R[1, 1] + R[2, 2]]]) / 3.0
    vals, vecs = np.linalg.eigh(m)              # symmetric (lower triangle used): largest eigenvector
    x, y, z, w = vecs[:, int(np.argmax(vals))]
    q = np.array([w, x, y, z])
    return q if q[0] >= 0 else -q


def qvec_to_rotmat(q: np.ndarray) -> np.ndarray:
    """Rotation matrix [3, 3] of a unit quaternion (w, x, y, z)."""
    w, x, y, z = np.asarray(q, dtype=np.float64) / np.linalg.norm(q)
    return np.array([[1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)],
                     [2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)],
                     [2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)]])


def view_names(scene: SceneSpec, test_camera: str) -> dict[str, str]:
    """{our camera name: Ex4DGS name}: the test camera -> cam00, the training cameras (scene order) -> cam01..
    Other held-out cameras of the scene are left out (Ex4DGS's loader has one test view)."""
    names = {test_camera: TEST_NAME}
    for k, cam in enumerate(scene.train_cameras, start=1):
        names[cam.name] = f"cam{k:02d}"
    return names


def _capture_times(cam: CameraSpec, maps: TimeMaps | None) -> np.ndarray:
    """[n_frames] global capture times (s) of ``cam``'s frames under ``maps`` (None: identity)."""
    if maps is None:
        return cam.tau_s()
    if cam.name not in maps.cameras:
        raise KeyError(cam.name)
    m = maps.cameras[cam.name]
    return global_time_s(m.offset_s, m.rate, cam.tau_s())


def plan_views(scene: SceneSpec, mode: str, test_camera: str, truth: TimeMaps) -> tuple[list[ViewPlan], dict]:
    """The frames of every Ex4DGS view (test view first) and the timeline, for ``mode`` naive or oracle.

    ``truth``: the true time maps (gt_sync.json), used to re-time (oracle) and to record time errors (both).
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    names = view_names(scene, test_camera)
    ref = scene.camera(scene.reference_camera)
    fps_ref = float(ref.fps)
    cams = [scene.camera(n) for n in names]
    true_t = {}
    for c in cams:
        try:
            true_t[c.name] = _capture_times(c, truth)
        except KeyError:
            raise DataFormatError(scene.gt_sync_path, f"no true time map for camera {c.name!r}") from None
    views: list[ViewPlan] = []
    if mode == "naive":
        for c in cams:
            idx = np.arange(c.n_frames)
            err = true_t[c.name] - idx / fps_ref
            views.append(ViewPlan(names[c.name], c.name, idx.tolist(), err.tolist()))
        timeline = {"t0_s": 0.0, "fps": fps_ref, "assumed": "frame i of every camera at i / fps_ref"}
        return views, timeline
    lo = max(float(true_t[c.name][0]) - 0.5 / c.fps for c in cams)
    hi = {c.name: float(true_t[c.name][-1]) + 0.5 / c.fps for c in cams}
    g0 = math.ceil(lo * fps_ref - 1e-9)
    for c in cams:
        g_end = math.floor(hi[c.name] * fps_ref + 1e-9)          # last covered reference instant
        if g_end < g0:
            raise DataFormatError(scene.root / "scene.json", f"camera {c.name} shares no instant with the other "
                                                             f"cameras under the true time maps")
        inst = np.arange(g0, g_end + 1) / fps_ref
        t = true_t[c.name]
        near = np.clip(np.searchsorted(t, inst), 1, len(t) - 1)
        near = np.where(np.abs(t[near - 1] - inst) <= np.abs(t[near] - inst), near - 1, near) if len(t) > 1 \
            else np.zeros(len(inst), dtype=np.int64)
        views.append(ViewPlan(names[c.name], c.name, near.astype(int).tolist(), (t[near] - inst).tolist()))
    timeline = {"t0_s": g0 / fps_ref, "fps": fps_ref, "first_reference_frame": g0,
                "assumed": "timestamp j at t0_s + j / fps_ref (true global time)"}
    return views, timeline


def _check_centred(cam: CameraSpec, where: Path) -> None:
    cx, cy = cam.K[0, 2], cam.K[1, 2]
    if abs(cx - cam.width / 2) > CENTRE_TOLERANCE * cam.width or abs(cy - cam.height / 2) > CENTRE_TOLERANCE * cam.height:
        raise DataFormatError(where, f"camera {cam.name}: principal point ({cx:.2f}, {cy:.2f}) is off the image "
                                     f"centre ({cam.width / 2}, {cam.height / 2}); Ex4DGS's N3V loader assumes the "
                                     f"centre")


def _write_colmap(folder: Path, scene: SceneSpec, views: list[ViewPlan]) -> None:
    folder.mkdir(parents=True)
    cams = ["# Camera list with one line of data per camera:", "#   CAMERA_ID, MODEL, WIDTH, HEIGHT, PARAMS[]"]
    imgs = ["# Image list with two lines of data per image:",
            "#   IMAGE_ID, QW, QX, QY, QZ, TX, TY, TZ, CAMERA_ID, NAME", "#   POINTS2D[] as (X, Y, POINT3D_ID)"]
    for k, v in enumerate(views, start=1):
        c = scene.camera(v.source)
        cams.append(f"{k} PINHOLE {c.width} {c.height} {float(c.K[0, 0])!r} {float(c.K[1, 1])!r} {float(c.K[0, 2])!r} {float(c.K[1, 2])!r}")
        q, t = rotmat_to_qvec(c.R), np.asarray(c.t, dtype=np.float64)
        imgs.append(f"{k} " + " ".join(repr(float(x)) for x in (*q, *t)) + f" {k} {v.name}.png")
        imgs.append("")
    (folder / "cameras.txt").write_text("\n".join(cams) + "\n")
    (folder / "images.txt").write_text("\n".join(imgs) + "\n")


def _write_frames(tmp: Path, scene: SceneSpec, v: ViewPlan, copy: bool) -> None:
    cam = scene.camera(v.source)
    folder = tmp / v.name
    folder.mkdir()
    src_dir = scene.frames_path(cam)
    if cam.frames.kind == "images" and not copy:
        for j, i in enumerate(v.frames):
            src = (src_dir / cam.frames.pattern.format(cam.frames.start + i)).resolve()
            if src.suffix.lower() != ".png":
                break
            if not src.is_file():
                raise DataFormatError(src, f"frame {i} of camera {cam.name} not found")
            os.symlink(src, folder / f"{j:05d}.png")
        else:
            return
        for f in folder.iterdir():             # not PNG frames: write PNG files instead
            f.unlink()
    import cv2  # noqa: PLC0415

    frames = open_frames(scene, cam)
    for j, i in enumerate(v.frames):
        if not cv2.imwrite(str(folder / f"{j:05d}.png"), frames[i][:, :, ::-1]):
            raise OSError(f"could not write {folder / f'{j:05d}.png'}")


def convert(scene_dir: str | Path, out: str | Path, mode: str, test_camera: str | None = None,
            copy: bool = False) -> dict:
    """Write the Ex4DGS input folder ``out`` (atomically) for the scene in ``scene_dir``; returns the manifest."""
    scene = load_scene(scene_dir)
    out = Path(out)
    if TEST_NAME in str(out.resolve()):
        raise DataFormatError(out, f"the output path must not contain {TEST_NAME!r}: Ex4DGS's loader would take "
                                   f"every image under it for a test image")
    if test_camera is None:
        if not scene.test_cameras:
            raise DataFormatError(scene.root / "scene.json", "no test camera; pass --test_camera")
        test_camera = scene.test_cameras[0]
    if test_camera not in scene.camera_names:
        raise DataFormatError(scene.root / "scene.json", f"test camera {test_camera!r} is not among "
                                                         f"{scene.camera_names}")
    if test_camera not in scene.test_cameras:
        scene.test_cameras = [*scene.test_cameras, test_camera]   # hold it out of training
    if not scene.gt_sync_path.is_file():
        raise DataFormatError(scene.gt_sync_path, "true time maps not found (needed to re-time and to record "
                                                  "time errors)")
    truth = load_time_maps(scene.gt_sync_path)
    views, timeline = plan_views(scene, mode, test_camera, truth)
    for v in views:
        _check_centred(scene.camera(v.source), scene.root / "scene.json")
    pts = load_points(scene.points_path)
    with atomic_dir(out) as tmp:
        _write_colmap(tmp / "colmap_0" / "sparse" / "0", scene, views)
        save_points(tmp / "colmap_0" / "sparse" / "0" / "points3D.ply", pts.xyz, pts.rgb)
        cs = [scene.camera(v.source) for v in views]
        pb = encode_poses_bounds(np.stack([c.R for c in cs]), np.stack([c.t for c in cs]),
                                 [c.height for c in cs], [c.width for c in cs], [c.K[0, 0] for c in cs],
                                 scene.near, scene.far)
        np.save(tmp / "poses_bounds.npy", pb)
        for v in views:
            _write_frames(tmp, scene, v, copy)
        errs = np.abs(np.concatenate([np.asarray(v.time_error_s) for v in views]))
        manifest = {
            "format": "ex4dgs-n3v-input", "mode": mode, "scene": str(scene.root.resolve()),
            "reference_camera": scene.reference_camera, "test_camera": test_camera, "timeline": timeline,
            "near": scene.near, "far": scene.far,
            "views": {v.name: {"source": v.source, "frames": v.frames, "time_error_s": v.time_error_s}
                      for v in views},
            "time_error_frames": {"mean_abs": float(errs.mean() * timeline["fps"]),
                                  "max_abs": float(errs.max() * timeline["fps"])},
            "test_frames": views[0].frames,
        }
        write_json(tmp / MANIFEST, manifest)
    return manifest


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("scene", help="canonical scene folder (scene.json, points3d.ply, gt_sync.json)")
    ap.add_argument("out", help="output folder (replaced atomically)")
    ap.add_argument("--mode", choices=MODES, required=True)
    ap.add_argument("--test_camera", "--test-camera", dest="test_camera", default=None,
                    help="held-out view (default: the scene's first test camera)")
    ap.add_argument("--copy", action="store_true", help="write PNG files instead of linking the scene's PNGs")
    args = ap.parse_args(argv)
    try:
        m = convert(args.scene, args.out, args.mode, args.test_camera, args.copy)
    except DataFormatError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    n = {k: len(v["frames"]) for k, v in m["views"].items()}
    print(f"{args.out}: {m['mode']}, {len(n)} views {n}, time error mean/max "
          f"{m['time_error_frames']['mean_abs']:.3f}/{m['time_error_frames']['max_abs']:.3f} frames")
    return 0


if __name__ == "__main__":
    sys.exit(main())
