"""A robustness scene from ANOTHER renderer than our synth ray caster: Gaussian splatting (the pure-torch reference
rasteriser) of a textured backdrop (4500 small coloured Gaussians on a wall and a floor) and 8 soft blobs moving on
Lissajous paths, 6 static cameras on an arc (one at 25 fps, the rest at 30), offsets uniform in +-0.5 s. Soft,
corner-less moving blobs are a hard case for stage 1's point tracks (see benchmarks/RESULTS.md, CPU section).

    python benchmarks/other_renderer_scene.py OUT [seed] [width] [frames]   # default 160 px wide (4:3), 60 frames:
                                                                             # ~1.5 min on 2 CPU cores
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
W = int(sys.argv[3]) if len(sys.argv) > 3 else 160
H, FX = W * 3 // 4, 0.875 * W
N = int(sys.argv[4]) if len(sys.argv) > 4 else 60
names = [f"cam{i:02d}" for i in range(6)]
fps = {n: (25.0 if n == "cam03" else 30.0) for n in names}
offs = {n: (0.0 if n == "cam00" else float(rng.uniform(-0.5, 0.5))) for n in names}
# backdrop: a wall of 3000 small coloured Gaussians (texture) at y=2, plus a floor
xs, zs = rng.uniform(-3, 3, 3000), rng.uniform(-1.5, 1.5, 3000)
wall = np.stack([xs, np.full_like(xs, 2.0), zs], 1)
fx_, fy_ = rng.uniform(-3, 3, 1500), rng.uniform(-2, 2, 1500)
floor = np.stack([fx_, fy_, np.full_like(fx_, -1.0)], 1)
bg = np.concatenate([wall, floor]); bg_rgb = rng.uniform(0.05, 0.95, (len(bg), 3))
nb = 8
phase = rng.uniform(0, 2 * math.pi, nb); speed = rng.uniform(1.0, 2.5, nb); rad = rng.uniform(0.3, 0.9, nb)
ctr = np.stack([rng.uniform(-1, 1, nb), rng.uniform(-0.5, 0.8, nb), rng.uniform(-0.5, 0.5, nb)], 1)
blob_rgb = rng.uniform(0.2, 1.0, (nb, 3))
def blobs(t):
    a = speed * t + phase
    return ctr + np.stack([rad * np.cos(a), 0.5 * rad * np.sin(2 * a), 0.4 * rad * np.sin(a)], 1)
def gauss(t):
    return splats(np.concatenate([bg, blobs(t)]), np.concatenate([bg_rgb, blob_rgb]),
                  np.concatenate([np.full((len(bg), 3), 0.05), np.full((nb, 3), 0.12)]), 0.95)
cams = arc_cameras(fps, N, np.linspace(-40, 40, 6), 4.5, 0.6, (0.0, 0.0, 0.0), W, H, FX)
write_scene(root, cams, gauss, offs, bg, bg_rgb)
print(json.dumps(offs))
