"""Builders of tiny datasets for the reader tests: a numpy ray caster (no synth dependency) and writers.

The world is a box "room" whose six walls carry random textures (rectangles, discs, lines: SIFT-friendly),
plus an optional moving sphere. Cameras are OpenCV pinhole (K with pixel centres at +0.5, world-to-camera
R/t). Builders write the N3V, Technicolor, COLMAP and raw-videos layouts.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from sync4dgs.data.video import write_video
from sync4dgs.utils.geometry import look_at

IMAGE_UP = (0.0, -1.0, 0.0)   # world direction shown upward in every image (image y = world +y)
ROOM_LO = np.array([-3.0, -2.0, -1.0])
ROOM_HI = np.array([3.0, 2.0, 8.0])


def _texture(rng: np.random.Generator, size: int = 512) -> np.ndarray:
    tex = np.empty((size, size, 3), np.uint8)
    tex[:] = rng.integers(60, 200, 3)
    for _ in range(220):
        c = tuple(int(x) for x in rng.integers(0, 256, 3))
        p = tuple(int(x) for x in rng.integers(0, size, 2))
        kind = rng.integers(0, 3)
        if kind == 0:
            q = tuple(int(a + b) for a, b in zip(p, rng.integers(8, 60, 2)))
            cv2.rectangle(tex, p, q, c, -1)
        elif kind == 1:
            cv2.circle(tex, p, int(rng.integers(4, 30)), c, -1)
        else:
            cv2.line(tex, p, tuple(int(x) for x in rng.integers(0, size, 2)), c, int(rng.integers(1, 5)))
    return np.clip(tex + rng.normal(0, 6, tex.shape), 0, 255).astype(np.uint8)


def _lookup(tex: np.ndarray, mx: np.ndarray, my: np.ndarray) -> np.ndarray:
    """Bilinear texture lookup at float coordinates [N] (cv2.remap needs maps under 32767 columns)."""
    n, cols = len(mx), 1024
    pad = (-n) % cols
    mx = np.pad(mx, (0, pad)).reshape(-1, cols)
    my = np.pad(my, (0, pad)).reshape(-1, cols)
    return cv2.remap(tex, mx, my, cv2.INTER_LINEAR).reshape(-1, 3)[:n]


class Room:
    """Textured box [ROOM_LO, ROOM_HI] (y points down) rendered by ray casting."""

    def __init__(self, seed: int = 0):
        rng = np.random.default_rng(seed)
        self.tex = [_texture(rng) for _ in range(6)]

    def render(self, K, R, t, W, H, sphere=None) -> np.ndarray:
        """RGB uint8 [H, W, 3]; sphere = (centre [3], radius, rgb) or None."""
        j, i = np.meshgrid(np.arange(W) + 0.5, np.arange(H) + 0.5)
        pix = np.stack([j, i, np.ones_like(j)], -1).reshape(-1, 3)
        d = (pix @ np.linalg.inv(K).T) @ R
        o = -R.T @ t
        best = np.full(len(d), np.inf)
        img = np.zeros((len(d), 3), np.float32)
        for ax in range(3):
            a, b = [k for k in range(3) if k != ax]
            for side, val in enumerate((ROOM_LO[ax], ROOM_HI[ax])):
                with np.errstate(divide="ignore", invalid="ignore"):
                    s = (val - o[ax]) / d[:, ax]
                ok = np.flatnonzero((s > 1e-6) & (s < best))
                pa = o[a] + s[ok] * d[ok, a]
                pb = o[b] + s[ok] * d[ok, b]
                inside = (pa >= ROOM_LO[a]) & (pa <= ROOM_HI[a]) & (pb >= ROOM_LO[b]) & (pb <= ROOM_HI[b])
                ok, pa, pb = ok[inside], pa[inside], pb[inside]
                if len(ok) == 0:
                    continue
                tex = self.tex[2 * ax + side]
                n = tex.shape[0]
                mx = ((pa - ROOM_LO[a]) / (ROOM_HI[a] - ROOM_LO[a]) * (n - 1)).astype(np.float32)
                my = ((pb - ROOM_LO[b]) / (ROOM_HI[b] - ROOM_LO[b]) * (n - 1)).astype(np.float32)
                img[ok] = _lookup(tex, mx, my)
                best[ok] = s[ok]
        if sphere is not None:
            c, r, color = sphere
            oc = o - np.asarray(c, float)
            bq = d @ oc
            a2 = (d * d).sum(1)
            disc = bq * bq - a2 * (oc @ oc - r * r)
            s = np.where(disc > 0, (-bq - np.sqrt(np.maximum(disc, 0))) / a2, np.inf)
            hit = (s > 0) & (s < best)
            img[hit] = color
        return img.reshape(H, W, 3).clip(0, 255).astype(np.uint8)


@dataclass
class Cam:
    name: str
    K: np.ndarray
    R: np.ndarray
    t: np.ndarray
    W: int
    H: int

    def project(self, X):
        xc = X @ self.R.T + self.t
        uv = xc @ self.K.T
        return uv[:, :2] / uv[:, 2:3]


def make_rig(n=5, W=320, H=240, f=260.0, spread=1.5, seed=0) -> list[Cam]:
    """``n`` cameras on a shallow arc near the front wall, looking into the room."""
    rng = np.random.default_rng(seed)
    K = np.array([[f, 0, W / 2], [0, f, H / 2], [0, 0, 1.0]])
    cams = []
    for k, x in enumerate(np.linspace(-spread, spread, n)):
        C = np.array([x, 0.3 * np.sin(k) + rng.uniform(-0.1, 0.1), rng.uniform(-0.2, 0.2)])
        R, t = look_at(C, [0.3 * x, rng.uniform(-0.3, 0.3), 6.0], IMAGE_UP)
        cams.append(Cam(f"cam{k:02d}", K.copy(), R, t, W, H))
    return cams


def sphere_at(frame: int, fps: float = 30.0):
    """The moving object at a global time (frame index of the synchronized capture)."""
    tt = frame / fps
    return (np.array([-1.5 + 3.0 * tt, 0.4 + 0.3 * np.sin(4 * tt), 4.0]), 0.45, (230, 30, 30))


def encode_llff(cams: list[Cam], near=0.5, far=12.0) -> np.ndarray:
    """poses_bounds [N, 17] in the LLFF convention (columns down, right, back; centre; hwf), row-major 3x5."""
    rows = []
    for c in cams:
        c2w = c.R.T
        center = -c.R.T @ c.t
        m = np.stack([c2w[:, 1], c2w[:, 0], -c2w[:, 2], center, [c.H, c.W, c.K[0, 0]]], axis=1)
        rows.append(np.concatenate([m.reshape(15), [near, far]]))
    return np.array(rows)


def render_videos(room: Room, cams: list[Cam], n_frames: int, fps: float = 30.0, starts=None) -> dict[str, np.ndarray]:
    """uint8 [T, H, W, 3] per camera; camera c's frame i shows global frame starts[c] + i."""
    starts = starts or {}
    return {c.name: np.stack([room.render(c.K, c.R, c.t, c.W, c.H, sphere_at(starts.get(c.name, 0) + i, fps))
                              for i in range(n_frames)]) for c in cams}


def write_n3v(folder: Path, cams: list[Cam], frames: dict[str, np.ndarray], fps: float = 30.0,
              poses: np.ndarray | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for c in cams:
        write_video(folder / f"{c.name}.mp4", frames[c.name], fps=fps, crf=10)
    np.save(folder / "poses_bounds.npy", encode_llff(cams) if poses is None else poses)
    return folder


def rotation_angle_deg(Ra, Rb) -> float:
    d = Ra @ Rb.T
    return float(np.degrees(np.arccos(np.clip((np.trace(d) - 1) / 2, -1, 1))))


def wall_distance(X: np.ndarray) -> np.ndarray:
    """Distance of points [N, 3] to the nearest wall plane of the room."""
    return np.minimum(np.abs(X - ROOM_LO), np.abs(X - ROOM_HI)).min(1)


def rotmat_to_quat(R: np.ndarray) -> np.ndarray:
    """Unit quaternion (w, x, y, z) of a rotation matrix (Shepperd's method)."""
    tr = np.trace(R)
    if tr > 0:
        s = 2 * np.sqrt(tr + 1)
        q = [0.25 * s, (R[2, 1] - R[1, 2]) / s, (R[0, 2] - R[2, 0]) / s, (R[1, 0] - R[0, 1]) / s]
    else:
        i = int(np.argmax(np.diag(R)))
        j, k = (i + 1) % 3, (i + 2) % 3
        s = 2 * np.sqrt(1 + R[i, i] - R[j, j] - R[k, k])
        q = np.zeros(4)
        q[0] = (R[k, j] - R[j, k]) / s
        q[1 + i] = 0.25 * s
        q[1 + j] = (R[j, i] + R[i, j]) / s
        q[1 + k] = (R[k, i] + R[i, k]) / s
    q = np.asarray(q, float)
    return q / np.linalg.norm(q) * (1 if q[0] >= 0 else -1)


def save_png(path: Path, img: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), img[..., ::-1])


def write_technicolor(folder: Path, scene: str, cams: list[Cam], frames: dict[str, np.ndarray], first: int = 1,
                      skew: float = 0.0) -> Path:
    """``<scene>_undist_<frame:05d>_<cam:02d>.png`` + cameras_parameters.txt (header + 12 numbers per camera)."""
    folder.mkdir(parents=True, exist_ok=True)
    lines = ["f u0 v0 ar s | q0 q1 q2 q3 | t0 t1 t2"]
    for k, c in enumerate(cams):
        q = rotmat_to_quat(c.R)
        vals = [c.K[0, 0], c.K[0, 2], c.K[1, 2], c.K[1, 1] / c.K[0, 0], skew, *q, *c.t]
        lines.append(" ".join(f"{v:.12g}" for v in vals))
        for i, img in enumerate(frames[c.name]):
            save_png(folder / f"{scene}_undist_{first + i:05d}_{k:02d}.png", img)
    (folder / "cameras_parameters.txt").write_text("\n".join(lines) + "\n")
    return folder


def write_colmap_text(model_dir: Path, cams: list[Cam], image_names: list[str], model: str = "PINHOLE",
                      extra_params=(), points: np.ndarray | None = None, colors: np.ndarray | None = None,
                      poses: list[tuple[np.ndarray, np.ndarray]] | None = None) -> Path:
    """Classic COLMAP TXT model (cameras.txt, images.txt, points3D.txt) with one camera per image."""
    model_dir.mkdir(parents=True, exist_ok=True)
    cam_lines, img_lines = [], []
    for k, (c, name) in enumerate(zip(cams, image_names), start=1):
        if model == "PINHOLE":
            params = [c.K[0, 0], c.K[1, 1], c.K[0, 2], c.K[1, 2]]
        else:  # SIMPLE_RADIAL / SIMPLE_PINHOLE style: f, cx, cy, extras
            params = [c.K[0, 0], c.K[0, 2], c.K[1, 2], *extra_params]
        cam_lines.append(f"{k} {model} {c.W} {c.H} " + " ".join(f"{p:.12g}" for p in params))
        R, t = (c.R, c.t) if poses is None else poses[k - 1]
        q = rotmat_to_quat(R)
        img_lines.append(f"{k} " + " ".join(f"{v:.12g}" for v in (*q, *t)) + f" {k} {name}")
        img_lines.append("")
    (model_dir / "cameras.txt").write_text("\n".join(cam_lines) + "\n")
    (model_dir / "images.txt").write_text("\n".join(img_lines) + "\n")
    pts = []
    if points is not None:
        for i, (X, col) in enumerate(zip(points, colors), start=1):
            pts.append(f"{i} {X[0]:.9g} {X[1]:.9g} {X[2]:.9g} {col[0]} {col[1]} {col[2]} 0.5")
    (model_dir / "points3D.txt").write_text("\n".join(pts) + ("\n" if pts else ""))
    return model_dir


COUNTER_BASE, COUNTER_STEP = 16, 6


def counter_frames(n: int, first: int = 0, h: int = 48, w: int = 64) -> np.ndarray:
    """uint8 [n, h, w, 3]: frame i is uniformly grey at a level encoding the global frame index first + i."""
    levels = COUNTER_BASE + COUNTER_STEP * (first + np.arange(n))
    assert levels.max() <= 255
    return np.broadcast_to(levels[:, None, None, None], (n, h, w, 3)).astype(np.uint8).copy()


def decode_counter(img: np.ndarray) -> int:
    return int(round((float(img.mean()) - COUNTER_BASE) / COUNTER_STEP))


def similarity(src: np.ndarray, dst: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
    """Umeyama: s, R, t minimising |dst - (s R src + t)|."""
    ms, md = src.mean(0), dst.mean(0)
    a, b = src - ms, dst - md
    U, S, Vt = np.linalg.svd(b.T @ a / len(src))
    D = np.eye(3)
    D[2, 2] = np.sign(np.linalg.det(U @ Vt))
    R = U @ D @ Vt
    s = float(np.trace(np.diag(S) @ D) / (a ** 2).sum(1).mean())
    return s, R, md - s * R @ ms
