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

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from splat_scene import arc_cameras, splats, write_scene  # noqa: E402

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
    return splats(np.concatenate([bg, box_at(t), ball_local + ball_centre(t)]),
                  np.concatenate([bg_rgb, box_rgb, ball_rgb]),
                  np.concatenate([np.full((len(bg), 3), 0.05), np.full((len(box_local), 3), 0.05),
                                  np.full((len(ball_local), 3), 0.03)]), 0.97)


cams = arc_cameras(fps, N, np.linspace(-50, 50, 12), 5.0, 0.4, (0.0, 0.5, -0.3), W, H, FX)
write_scene(root, cams, gauss, offs, np.concatenate([bg, box_at(0.0)]), np.concatenate([bg_rgb, box_rgb]))
print(json.dumps(offs))
