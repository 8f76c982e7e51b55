"""Stage-1 hard case (issue 16) from ANOTHER renderer than our synth ray caster: a small fast ball passing behind a
slowly rotating box, seen by 12 static cameras at mixed frame rates (30 / 24 / 15 fps), offsets uniform in +-0.5 s
with sub-frame parts. Gaussian splatting (the pure-torch reference rasteriser) of a textured wall and floor (4500
small coloured Gaussians), a 0.8 m box (its six faces as a grid of checker-coloured Gaussians) turning at 0.4 rad/s,
and a ball of radius 0.1 m (60 Gaussians, two colours) flying back and forth along x at 10 m/s behind the box
(0.33 m per frame at 30 fps, 0.67 m at 15 fps), bouncing at x = +-2.2 m, with a vertical wobble.

    python benchmarks/fast_occlusion_scene.py OUT [seed] [width] [frames]   # default 240 px (4:3), 60 frames of
                                                                             # the 30 fps reference: ~3 min, 2 cores
    python -m sync4dgs align OUT --out OUT/offsets.json                      # then compare with OUT/gt_sync.json
"""
import json
import math
import sys
from pathlib import Path

import cv2
import numpy as np
import torch

from sync4dgs.data.points import save_points
from sync4dgs.data.scene import CameraSpec, FrameSource, SceneSpec
from sync4dgs.render import RenderCameras, render
from sync4dgs.render.conventions import look_at_viewmat, rgb_to_sh_dc
from sync4dgs.render.types import Gaussians
from sync4dgs.timemap import TimeMap, TimeMaps

root = Path(sys.argv[1]); seed = int(sys.argv[2]) if len(sys.argv) > 2 else 0
rng = np.random.default_rng(seed)
W = int(sys.argv[3]) if len(sys.argv) > 3 else 240
H, FX = W * 3 // 4, 0.875 * W
N = int(sys.argv[4]) if len(sys.argv) > 4 else 60
names = [f"cam{i:02d}" for i in range(12)]
fps = {n: (30.0, 24.0, 15.0)[i % 3] for i, n in enumerate(names)}
offs = {n: (0.0 if n == "cam00" else float(rng.uniform(-0.5, 0.5))) for n in names}

# backdrop: a wall at y = 2.5 and a floor at z = -1, small coloured Gaussians (texture)
xs, zs = rng.uniform(-4, 4, 3000), rng.uniform(-1.0, 2.0, 3000)
wall = np.stack([xs, np.full_like(xs, 2.5), zs], 1)
fx_, fy_ = rng.uniform(-4, 4, 1500), rng.uniform(-2, 2.5, 1500)
floor = np.stack([fx_, fy_, np.full_like(fx_, -1.0)], 1)
bg = np.concatenate([wall, floor]); bg_rgb = rng.uniform(0.05, 0.95, (len(bg), 3))

# the box: six faces, 10 x 10 Gaussians each, checker colours, centre (0, 0.2, -0.4), half size 0.4
g = (np.arange(10) + 0.5) / 10 * 0.8 - 0.4
gu, gv = [a.ravel() for a in np.meshgrid(g, g)]
faces = []
for axis in range(3):
    for sign in (-0.4, 0.4):
        p = np.zeros((len(gu), 3)); p[:, axis] = sign
        p[:, (axis + 1) % 3], p[:, (axis + 2) % 3] = gu, gv
        faces.append(p)
box_local = np.concatenate(faces)
checker = ((np.floor((box_local + 0.4) / 0.2).sum(1) % 2) == 0)
box_rgb = np.where(checker[:, None], [0.9, 0.55, 0.1], [0.15, 0.3, 0.8])
BOX_CENTRE, BOX_SPIN = np.array([0.0, 0.2, -0.4]), 0.4

# the ball: 60 Gaussians in a sphere of radius 0.1, two colour halves, 10 m/s along x behind the box (y = 1.2)
d = rng.normal(size=(60, 3)); ball_local = 0.08 * d / np.linalg.norm(d, axis=1, keepdims=True)
ball_rgb = np.where(ball_local[:, 2:3] > 0, [1.0, 1.0, 0.9], [0.9, 0.1, 0.3])
SPEED, SPAN = 10.0, 2.2


def box_at(t):
    a = BOX_SPIN * t; c, s = math.cos(a), math.sin(a)
    R = np.array([[c, -s, 0], [s, c, 0], [0, 0, 1.0]])
    return box_local @ R.T + BOX_CENTRE


def ball_centre(t):
    u = (SPEED * t / (2 * SPAN)) % 2.0            # triangle wave: back and forth between -SPAN and +SPAN
    x = -SPAN + 2 * SPAN * (u if u < 1 else 2 - u)
    return np.array([x, 1.2, -0.4 + 0.25 * math.sin(7.0 * t)])


def gauss(t):
    m = np.concatenate([bg, box_at(t), ball_local + ball_centre(t)])
    c = np.concatenate([bg_rgb, box_rgb, ball_rgb])
    s = np.concatenate([np.full((len(bg), 3), 0.05), np.full((len(box_local), 3), 0.05),
                        np.full((len(ball_local), 3), 0.03)])
    n = len(m); f = dict(dtype=torch.float32)
    return Gaussians(means=torch.tensor(m, **f), quats=torch.tensor([[1.0, 0, 0, 0]] * n, **f),
                     scales=torch.tensor(s, **f), opacities=torch.full((n,), 0.97, **f),
                     colors=rgb_to_sh_dc(torch.tensor(c, **f))[:, None, :])


cams = []
for i, ang in enumerate(np.deg2rad(np.linspace(-50, 50, 12))):
    eye = torch.tensor([5.0 * math.sin(ang), -5.0 * math.cos(ang), 0.4], dtype=torch.float64)
    vm = look_at_viewmat(eye, torch.tensor([0.0, 0.5, -0.3], dtype=torch.float64)).numpy()
    K = np.array([[FX, 0, W / 2], [0, FX, H / 2], [0, 0, 1.0]])
    n = names[i]; nf = int(round(N * fps[n] / 30.0))
    cams.append(CameraSpec(name=n, width=W, height=H, K=K, R=vm[:3, :3], t=vm[:3, 3], fps=fps[n], n_frames=nf,
                           frames=FrameSource("images", f"frames/{n}", "{:05d}.png")))
torch.set_num_threads(2)
for cam in cams:
    rc = RenderCameras(viewmats=torch.tensor(cam.viewmat, dtype=torch.float32)[None],
                       Ks=torch.tensor(cam.K, dtype=torch.float32)[None], width=W, height=H)
    folder = root / cam.frames.path; folder.mkdir(parents=True, exist_ok=True)
    for i, tau in enumerate(cam.tau_s()):
        with torch.no_grad():
            img = render(gauss(offs[cam.name] + tau), rc, backend="torch", sh_degree=0,
                         background=torch.zeros(3)).image[0]
        arr = (img.clamp(0, 1).numpy() * 255 + 0.5).astype(np.uint8)
        cv2.imwrite(str(folder / f"{i:05d}.png"), cv2.cvtColor(arr, cv2.COLOR_RGB2BGR))
scene = SceneSpec(root=root, cameras=cams, reference_camera="cam00", test_cameras=["cam00"], near=0.5, far=20.0)
scene.save()
save_points(scene.points_path, np.concatenate([bg, box_at(0.0)]),
            (np.concatenate([bg_rgb, box_rgb]) * 255).astype(np.uint8))
TimeMaps("cam00", {n: TimeMap(o, 1.0, 1.0, "reference" if n == "cam00" else "aligned")
                   for n, o in offs.items()}).save(scene.gt_sync_path)
print(json.dumps(offs))
