"""Writers of every supported calibration format, for round-trip tests (a test's own independent writer,
not the package's reader run backwards). Cameras are ``CalibCamera`` in OpenCV convention."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from sync4dgs.data.readers.calibration import CalibCamera, scene_K
from sync4dgs.data.readers.calibration import cameras_json


def make_rig(n: int = 4, W: int = 320, H: int = 240, seed: int = 0) -> list[CalibCamera]:
    """``n`` cameras on an arc of radius ~2 m looking at the origin, different K and OpenCV distortion."""
    rng = np.random.default_rng(seed)
    cams = []
    for k in range(n):
        ang = np.radians(-40 + 80 * k / max(n - 1, 1))
        C = np.array([2.0 * np.sin(ang), rng.uniform(-0.2, 0.2), -2.0 * np.cos(ang)])
        f = C * -1.0
        f /= np.linalg.norm(f)
        r = np.cross([0.0, 1.0, 0.0], f)
        r /= np.linalg.norm(r)
        R = np.stack([r, np.cross(f, r), f])
        fx = 250.0 + 10 * k
        K = np.array([[fx, 0, W / 2 + rng.uniform(-3, 3)], [0, fx * 1.01, H / 2 + rng.uniform(-3, 3)], [0, 0, 1]])
        dist = np.array([-0.12 + 0.02 * k, 0.03, 1e-3 * k, -5e-4, 0.0])
        cams.append(CalibCamera(f"cam{k}", W, H, K, dist, R, -R @ C))
    return cams


def _f(x) -> str:
    return repr(float(x))


def _vec(v) -> str:
    return "[" + ", ".join(_f(x) for x in np.asarray(v).reshape(-1)) + "]"


def _mat(m) -> str:
    return "[" + ", ".join(_vec(row) for row in np.asarray(m)) + "]"


def write_anipose(path: Path, cams: list[CalibCamera]) -> Path:
    """aniposelib ``CameraGroup.dump`` layout: ``[cam_N]`` tables, Rodrigues rotations."""
    out = []
    for k, c in enumerate(cams):
        rvec = cv2.Rodrigues(c.R)[0].reshape(-1)
        out += [f"[cam_{k}]", f'name = "{c.name}"', f"size = [{c.width}, {c.height}]", f"matrix = {_mat(c.K)}",
                f"distortions = {_vec(c.dist)}", f"rotation = {_vec(rvec)}", f"translation = {_vec(c.t)}",
                f"fisheye = {'true' if c.model == 'fisheye' else 'false'}", ""]
    out += ["[metadata]", "adjusted = false", "error = 0.0", ""]
    path.write_text("\n".join(out))
    return path


def write_caliscope(path: Path, cams: list[CalibCamera]) -> Path:
    """caliscope ``camera_array.toml``: ``[cameras.<port>]``, 3x3 rotations."""
    out = []
    for k, c in enumerate(cams):
        out += [f"[cameras.{k}]", f"cam_id = {k}", "rotation_count = 0", "error = 0.2", "exposure = -6",
                "grid_count = 30", "ignore = false", f"size = [{c.width}, {c.height}]", f"matrix = {_mat(c.K)}",
                f"distortions = {_vec(c.dist)}", f"translation = {_vec(c.t)}", f"rotation = {_mat(c.R)}",
                "verified_resolutions = [[640, 480], [1280, 720]]",
                f"fisheye = {'true' if c.model == 'fisheye' else 'false'}", ""]
    path.write_text("\n".join(out))
    return path


def write_opencv_multi(path: Path, cams: list[CalibCamera]) -> Path:
    """One FileStorage file, EasyMocap-style ``names`` + ``K_<n>``, ``dist_<n>``, ``Rot_<n>``, ``T_<n>``."""
    fs = cv2.FileStorage(str(path), cv2.FILE_STORAGE_WRITE)
    fs.write("units", "m")
    fs.startWriteStruct("names", cv2.FileNode_SEQ)
    for c in cams:
        fs.write("", c.name)
    fs.endWriteStruct()
    for c in cams:
        fs.write(f"K_{c.name}", c.K)
        fs.write(f"dist_{c.name}", c.dist.reshape(1, -1))
        fs.write(f"Rot_{c.name}", c.R)
        fs.write(f"T_{c.name}", c.t.reshape(3, 1))
        fs.write(f"W_{c.name}", int(c.width))
        fs.write(f"H_{c.name}", int(c.height))
    fs.release()
    return path


def write_opencv_folder(folder: Path, cams: list[CalibCamera], ext: str = ".yml") -> Path:
    """One FileStorage file per camera (OpenCV calibration-sample keys + ``rvec``/``tvec``)."""
    folder.mkdir(parents=True, exist_ok=True)
    for c in cams:
        fs = cv2.FileStorage(str(folder / f"{c.name}{ext}"), cv2.FILE_STORAGE_WRITE)
        fs.write("image_width", int(c.width))
        fs.write("image_height", int(c.height))
        fs.write("camera_matrix", c.K)
        fs.write("distortion_coefficients", c.dist.reshape(-1, 1))
        fs.write("rvec", cv2.Rodrigues(c.R)[0])
        fs.write("tvec", c.t.reshape(3, 1))
        if c.model == "fisheye":
            fs.write("distortion_model", "equidistant")
        fs.release()
    return folder


def write_colmap(folder: Path, cams: list[CalibCamera], quat) -> Path:
    """COLMAP TXT model with OPENCV cameras (OPENCV_FISHEYE for fisheye ones; principal point moved to COLMAP's
    +0.5 convention)."""
    folder.mkdir(parents=True, exist_ok=True)
    cl, il = [], []
    for k, c in enumerate(cams, start=1):
        K = scene_K(c.K)
        d = np.zeros(4)
        d[:4] = c.dist[:4]
        params = [K[0, 0], K[1, 1], K[0, 2], K[1, 2], *d]
        model = "OPENCV_FISHEYE" if c.model == "fisheye" else "OPENCV"
        cl.append(f"{k} {model} {c.width} {c.height} " + " ".join(_f(p) for p in params))
        il += [f"{k} " + " ".join(_f(v) for v in (*quat(c.R), *c.t)) + f" {k} {c.name}.png", ""]
    (folder / "cameras.txt").write_text("\n".join(cl) + "\n")
    (folder / "images.txt").write_text("\n".join(il) + "\n")
    (folder / "points3D.txt").write_text("")
    return folder


QTM_FLIP = np.diag([1.0, -1.0, -1.0])


def write_qualisys(path: Path, cams: list[CalibCamera], fov_offset: tuple[int, int] = (0, 0)) -> Path:
    """A QTM ``.qca.txt`` export: camera position in mm, rows of ``r11..r33`` = the camera's axes (QTM axes:
    y up, z backwards) in the world, intrinsics in 1/64 sub-pixels of the full sensor, the video field of
    view at ``fov_offset`` (left, top) on it. ``t`` of ``cams`` is taken as metres. Standard model, k1 k2 p1 p2 k3."""
    left, top = fov_offset
    out = ['<?xml version="1.0" encoding="UTF-8"?>',
           '<calibration source="test.qca" created="test" qtm-version="2024.1" type="regular">', '  <cameras>']
    for c in cams:
        M = QTM_FLIP @ c.R
        C = c.center * 1000.0
        d = np.zeros(5)
        d[:len(c.dist)] = c.dist
        rot = " ".join(f'r{i + 1}{j + 1}="{_f(M[i, j])}"' for i in range(3) for j in range(3))
        out += [f'    <camera active="1" serial="{c.name}" model="Miqus Video" viewrotation="0">',
                f'      <fov_marker left="0" top="0" right="{left + c.width - 1}" bottom="{top + c.height - 1}"/>',
                f'      <fov_video left="{left}" top="{top}" right="{left + c.width - 1}" bottom="{top + c.height - 1}"/>',
                f'      <transform x="{_f(C[0])}" y="{_f(C[1])}" z="{_f(C[2])}" {rot}/>',
                f'      <intrinsic focallength="8.0" sensorMinU="0" sensorMaxU="{64 * (left + c.width) - 1}" '
                f'sensorMinV="0" sensorMaxV="{64 * (top + c.height) - 1}" focalLengthU="{_f(64 * c.K[0, 0])}" '
                f'focalLengthV="{_f(64 * c.K[1, 1])}" centerPointU="{_f(64 * (c.K[0, 2] + left))}" '
                f'centerPointV="{_f(64 * (c.K[1, 2] + top))}" skew="{_f(64 * c.K[0, 1])}" '
                f'radialDistortion1="{_f(d[0])}" radialDistortion2="{_f(d[1])}" radialDistortion3="{_f(d[4])}" '
                f'tangentalDistortion1="{_f(d[2])}" tangentalDistortion2="{_f(d[3])}"/>', "    </camera>"]
    out += ["  </cameras>", "</calibration>", ""]
    path.write_text("\n".join(out))
    return path


def fisheye_rig(n: int = 4, W: int = 320, H: int = 240, seed: int = 1) -> list[CalibCamera]:
    """The rig of :func:`make_rig` with OpenCV fisheye lenses (k1..k4, equidistant-like)."""
    cams = make_rig(n, W, H, seed)
    for k, c in enumerate(cams):
        c.model = "fisheye"
        c.dist = np.array([0.05 - 0.01 * k, -0.01, 0.002 * k, -0.001])
        c.K = c.K.copy()
        c.K[0, 0] = c.K[1, 1] = 180.0 + 5 * k
    return cams


def write_json(path: Path, cams: list[CalibCamera]) -> Path:
    return cameras_json.write(path, cams, units="m")
