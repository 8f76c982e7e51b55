"""A small analytic test scene for the aligner: textured spheres moving in front of calibrated static cameras.

This is test/benchmark material, not part of the alignment method (the method never sees any of the ground
truth kept here). Spheres are ray-cast exactly, so every frame shows the scene at the exact global time
``t_global_s = offset_s + rate * tau_s`` of its camera (the time convention of sync4dgs.timemap):

* cameras sit on an arc around the origin (world z is up), all looking at the scene centre;
* each camera's true frame rate ``true_fps`` may differ from the metadata ``fps`` written in scene.json;
  the ground-truth rate is then ``(fps / true_fps) / (fps_ref / true_fps_ref)``;
* spheres carry a cell texture (sharp-edged patches, good corners for KLT/SIFT), spin about random axes and
  follow smooth Lissajous paths; a textured ground plane is static background.

Degenerate variants for tests: ``static`` (nothing moves), ``frozen_cameras`` (a camera repeating its first
frame), ``blind_cameras`` (a camera looking away from the motion).

Pixel convention (scene.py): pixel column ``j`` has its centre at ``u = j + 0.5``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from sync4dgs.data.scene import CameraSpec, FrameSource, SceneSpec
from sync4dgs.timemap import TimeMap, TimeMaps
from sync4dgs.utils.atomic import write_json
from sync4dgs.utils.geometry import look_at

GROUND_Z = -0.9


@dataclass
class ToySceneConfig:
    """Everything that determines a toy capture.

    n_cameras: cameras (cam00 is the reference). width, height: pixels. n_frames: frames per camera.
    fps: metadata frame rate written in scene.json (frames/s); meta_fps: per-camera metadata rates (None =
    fps). true_fps: per-camera true capture rate (None = the metadata rate). offsets_s: per-camera start
    offsets in seconds (cam00's is forced to 0; None = random in ±max_offset_s). n_spheres, sphere_radius:
    moving objects (world units); speed scales their motion, spin their rotation; texture_cells: texture
    cells per unit of the sphere's local coordinates (finer = more corners). arc_deg, cam_distance, hfov_deg: rig.
    supersample: S x S rays per pixel. seed: every random choice. vfr_jitter: variable frame rate - each
    frame's timestamp moves by up to this fraction of a frame interval (written as CameraSpec.frame_times_s).
    """

    n_cameras: int = 8
    width: int = 160
    height: int = 120
    n_frames: int = 60
    fps: float = 30.0
    meta_fps: list[float] | None = None
    true_fps: list[float] | None = None
    offsets_s: list[float] | None = None
    max_offset_s: float = 0.5
    n_spheres: int = 3
    sphere_radius: float = 0.45
    speed: float = 1.0
    arc_deg: float = 140.0
    cam_distance: float = 5.0
    hfov_deg: float = 55.0
    texture_cells: float = 3.0
    spin: float = 1.0
    supersample: int = 2
    seed: int = 0
    static: bool = False
    vfr_jitter: float = 0.0
    frozen_cameras: tuple[int, ...] = ()
    blind_cameras: tuple[int, ...] = ()


@dataclass
class ToyMotion:
    """Sphere motion as a pure function of global time (seconds). Shapes: S spheres."""

    base: np.ndarray          # [S, 3] world units
    amp: np.ndarray           # [S, 3]
    omega: np.ndarray         # [S, 3] rad/s
    phase: np.ndarray         # [S, 3] rad
    spin_axis: np.ndarray     # [S, 3] unit
    spin_rate: np.ndarray     # [S] rad/s
    radius: np.ndarray        # [S]
    static: bool = False

    def centers(self, t_s: float | np.ndarray) -> np.ndarray:
        """Sphere centres [..., S, 3] at global time(s) ``t_s`` (seconds)."""
        t = np.asarray(t_s, dtype=np.float64)[..., None, None]
        if self.static:
            t = t * 0.0
        return self.base + self.amp * np.sin(self.omega * t + self.phase)

    def rotations(self, t_s: float) -> np.ndarray:
        """Object-to-world rotations [S, 3, 3] at one global time (seconds)."""
        ang = (0.0 if self.static else float(t_s)) * self.spin_rate
        k = np.zeros((len(ang), 3, 3))
        a = self.spin_axis
        k[:, 0, 1], k[:, 0, 2], k[:, 1, 2] = -a[:, 2], a[:, 1], -a[:, 0]
        k = k - np.transpose(k, (0, 2, 1))
        s, c = np.sin(ang)[:, None, None], np.cos(ang)[:, None, None]
        return np.eye(3)[None] + s * k + (1 - c) * (k @ k)


@dataclass
class ToyScene:
    """A generated toy scene: the SceneSpec on disk plus the ground truth (for tests/benchmarks only)."""

    scene: SceneSpec
    gt: TimeMaps
    motion: ToyMotion
    true_fps: list[float] = field(default_factory=list)


def _make_motion(cfg: ToySceneConfig, rng: np.random.Generator) -> ToyMotion:
    s = cfg.n_spheres
    ang = 2 * np.pi * (np.arange(s) / max(s, 1)) + rng.uniform(0, 2 * np.pi)
    base = np.stack([1.1 * np.cos(ang), 1.1 * np.sin(ang), rng.uniform(0.0, 0.5, s)], -1)
    amp = rng.uniform(0.4, 0.8, (s, 3)) * np.array([1.0, 1.0, 0.5])
    omega = rng.uniform(1.2, 2.6, (s, 3)) * cfg.speed
    axis = rng.normal(size=(s, 3))
    axis /= np.linalg.norm(axis, axis=1, keepdims=True)
    return ToyMotion(base=base, amp=amp, omega=omega, phase=rng.uniform(0, 2 * np.pi, (s, 3)), spin_axis=axis,
                     spin_rate=rng.uniform(0.3, 1.0, s) * rng.choice([-1, 1], s) * cfg.speed * cfg.spin,
                     radius=np.full(s, cfg.sphere_radius) * rng.uniform(0.85, 1.15, s), static=cfg.static)


def _cell_colors(u: np.ndarray, table: np.ndarray, cells: float) -> np.ndarray:
    """Cell texture: colour [N, 3] in [0, 1] of unit vectors ``u`` [N, 3] (object frame)."""
    idx = np.floor((u + 1.0) * cells).astype(np.int64) % table.shape[0]
    return table[idx[:, 0], idx[:, 1], idx[:, 2]]


def _render_background(cam: CameraSpec, dirs: np.ndarray, table: np.ndarray) -> np.ndarray:
    """Static background [P, 3]: a textured ground plane (z = GROUND_Z) under a sky gradient."""
    c = cam.center
    col = np.empty((len(dirs), 3))
    col[:] = 0.55 + 0.25 * np.clip(dirs[:, 2:3], 0, 1) * np.array([0.6, 0.8, 1.0])
    hit = dirs[:, 2] < -1e-6
    tt = (GROUND_Z - c[2]) / dirs[hit, 2]
    p = c + tt[:, None] * dirs[hit]
    cells = np.floor(p[:, :2] * 2.0).astype(np.int64) % table.shape[0]
    g = table[cells[:, 0], cells[:, 1], 0][:, None] * 0.35 + 0.3
    fade = np.exp(-tt / 25.0)[:, None]
    col[hit] = g * fade + col[hit] * (1 - fade)
    return col


def _render_frame(cam_dirs: np.ndarray, center: np.ndarray, bg: np.ndarray, motion: ToyMotion, t_s: float,
                  table: np.ndarray, light: np.ndarray, cells: float) -> np.ndarray:
    """Colour [P, 3] of the rays ``cam_dirs`` [P, 3] (unit, world) from ``center`` at global time ``t_s``."""
    col = bg.copy()
    depth = np.full(len(cam_dirs), np.inf)
    cs = motion.centers(t_s)
    rots = motion.rotations(t_s)
    for k in range(len(cs)):
        oc = center - cs[k]
        b = cam_dirs @ oc
        disc = b * b - (oc @ oc - motion.radius[k] ** 2)
        cand = np.nonzero(disc > 0)[0]
        if len(cand) == 0:
            continue
        tt = -b[cand] - np.sqrt(disc[cand])
        ok = (tt > 0) & (tt < depth[cand])
        cand, tt = cand[ok], tt[ok]
        p = center + tt[:, None] * cam_dirs[cand]
        n = (p - cs[k]) / motion.radius[k]
        u = n @ rots[k]  # object frame
        tex = _cell_colors(u, table[k], cells)
        shade = 0.45 + 0.55 * np.clip(n @ light, 0, 1)
        col[cand] = tex * shade[:, None]
        depth[cand] = tt
    return col


def _camera_rays(cam: CameraSpec, ss: int) -> np.ndarray:
    """Unit world ray directions [H*ss, W*ss, 3] through sub-pixel centres (pixel j spans [j, j+1))."""
    us = (np.arange(cam.width * ss) + 0.5) / ss
    vs = (np.arange(cam.height * ss) + 0.5) / ss
    uu, vv = np.meshgrid(us, vs)
    pix = np.stack([uu, vv, np.ones_like(uu)], -1)
    d = pix @ np.linalg.inv(cam.K).T @ cam.R  # camera -> world: R^T d_cam, written row-wise
    return d / np.linalg.norm(d, axis=-1, keepdims=True)


def make_toy_scene(root: str | Path, cfg: ToySceneConfig) -> ToyScene:
    """Render a toy capture into ``root`` (scene.json, frames/<cam>/%05d.png, gt_sync.json); return it."""
    import cv2  # noqa: PLC0415

    root = Path(root)
    rng = np.random.default_rng(cfg.seed)
    n = cfg.n_cameras
    meta = list(cfg.meta_fps) if cfg.meta_fps is not None else [cfg.fps] * n
    true_fps = list(cfg.true_fps) if cfg.true_fps is not None else list(meta)
    if cfg.offsets_s is not None:
        offsets = np.asarray(cfg.offsets_s, dtype=np.float64).copy()
    else:
        offsets = rng.uniform(-cfg.max_offset_s, cfg.max_offset_s, n)
    offsets[0] = 0.0
    # ground-truth rate relative to the reference clock (metadata fps / true fps, normalised by cam00's)
    rates = np.array([(m / f) / (meta[0] / true_fps[0]) for m, f in zip(meta, true_fps)])
    motion = _make_motion(cfg, rng)
    focal = 0.5 * cfg.width / np.tan(np.radians(cfg.hfov_deg) / 2)
    K = np.array([[focal, 0, cfg.width / 2], [0, focal, cfg.height / 2], [0, 0, 1.0]])
    angles = np.radians(np.linspace(-cfg.arc_deg / 2, cfg.arc_deg / 2, n)) + rng.normal(0, 0.03, n)
    cams = []
    for k in range(n):
        c = np.array([cfg.cam_distance * np.cos(angles[k]), cfg.cam_distance * np.sin(angles[k]),
                      1.2 + rng.uniform(-0.4, 0.8)])
        target = np.array([0.0, 0.0, 0.2]) + rng.normal(0, 0.1, 3)
        if k in cfg.blind_cameras:
            target = 2 * c - target  # look away from the scene
        R, t = look_at(c, target)
        times = None
        if cfg.vfr_jitter > 0:
            times = (np.arange(cfg.n_frames) + rng.uniform(-cfg.vfr_jitter, cfg.vfr_jitter, cfg.n_frames)) / meta[k]
            times -= times[0]
        cams.append(CameraSpec(name=f"cam{k:02d}", width=cfg.width, height=cfg.height, K=K.copy(), R=R, t=t,
                               fps=meta[k], n_frames=cfg.n_frames,
                               frames=FrameSource("images", f"frames/cam{k:02d}", "{:05d}.png"), frame_times_s=times))
    tables = rng.uniform(0.05, 1.0, (cfg.n_spheres, 8, 8, 8, 3))
    ground = rng.uniform(0.0, 1.0, (16, 16, 3))
    light = np.array([0.3, -0.4, 0.87])
    light /= np.linalg.norm(light)
    ss = cfg.supersample
    for k, cam in enumerate(cams):
        dirs = _camera_rays(cam, ss).reshape(-1, 3)
        bg = _render_background(cam, dirs, ground)
        out = root / cam.frames.path
        out.mkdir(parents=True, exist_ok=True)
        img = None
        tau = cam.tau_s()
        for i in range(cfg.n_frames):
            if img is None or k not in cfg.frozen_cameras:
                t_s = offsets[k] + rates[k] * tau[i]
                col = _render_frame(dirs, cam.center, bg, motion, t_s, tables, light, cfg.texture_cells)
                col = col.reshape(cam.height, ss, cam.width, ss, 3).mean(axis=(1, 3))
                img = np.clip(col * 255 + 0.5, 0, 255).astype(np.uint8)
            cv2.imwrite(str(out / cam.frames.pattern.format(i)), cv2.cvtColor(img, cv2.COLOR_RGB2BGR))
    scene = SceneSpec(root=root, cameras=cams, reference_camera="cam00", near=0.5, far=20.0,
                      source={"reader": "toyscene", "seed": cfg.seed})
    scene.save()
    gt = TimeMaps("cam00", {c.name: TimeMap(float(offsets[k]), float(rates[k]), 1.0,
                                            "reference" if k == 0 else "aligned") for k, c in enumerate(cams)})
    gt.save(root / "gt_sync.json")
    write_json(root / "toy_config.json", {"seed": cfg.seed, "true_fps": true_fps})
    return ToyScene(scene=scene, gt=gt, motion=motion, true_fps=true_fps)


def toy_tracks(toy: ToyScene, points_per_sphere: int = 60, seed: int = 0) -> dict[str, np.ndarray]:
    """Exact 2D tracks of surface points of the toy spheres, per camera: name -> [M, T, 2] float32 pixel
    coordinates (scene convention), NaN where the point faces away, is occluded or leaves the image."""
    rng = np.random.default_rng(seed)
    m = toy.motion
    u = rng.normal(size=(len(m.radius), points_per_sphere, 3))
    u /= np.linalg.norm(u, axis=-1, keepdims=True)                          # object-frame unit vectors
    out = {}
    for k, cam in enumerate(toy.scene.cameras):
        tm = toy.gt.cameras[cam.name]
        t_glob = tm.offset_s + tm.rate * cam.tau_s()
        xy = np.full((u.shape[0] * u.shape[1], len(t_glob), 2), np.nan, np.float32)
        for i, t in enumerate(t_glob):
            cs, rots = m.centers(t), m.rotations(t)
            n = np.einsum("sij,spj->spi", rots, u)                            # world normals [S, P, 3]
            x = cs[:, None, :] + m.radius[:, None, None] * n
            to_cam = cam.center - x
            dist = np.linalg.norm(to_cam, axis=-1)
            vis = (n * to_cam).sum(-1) > 0
            d = to_cam / dist[..., None]
            for s2 in range(len(cs)):                                         # occlusion by the other spheres
                oc = x - cs[s2]
                b = (d * oc).sum(-1)
                disc = b * b - ((oc * oc).sum(-1) - m.radius[s2] ** 2)
                root = np.sqrt(np.maximum(disc, 0))
                hit = (disc > 0) & (-b + root > 1e-6) & (-b - root < dist)
                hit &= np.arange(len(cs))[:, None] != s2
                vis &= ~hit
            p = cam.project(x.reshape(-1, 3))
            inside = (p[:, 0] >= 0) & (p[:, 0] < cam.width) & (p[:, 1] >= 0) & (p[:, 1] < cam.height)
            ok = vis.reshape(-1) & inside
            xy[ok, i] = p[ok]
        out[cam.name] = xy
    return out
