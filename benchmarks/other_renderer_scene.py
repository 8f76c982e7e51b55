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
    m = np.concatenate([bg, blobs(t)]); c = np.concatenate([bg_rgb, blob_rgb])
    s = np.concatenate([np.full((len(bg), 3), 0.05), np.full((nb, 3), 0.12)])
    n = len(m); f = dict(dtype=torch.float32)
    return Gaussians(means=torch.tensor(m, **f), quats=torch.tensor([[1.0, 0, 0, 0]] * n, **f),
                     scales=torch.tensor(s, **f), opacities=torch.full((n,), 0.95, **f),
                     colors=rgb_to_sh_dc(torch.tensor(c, **f))[:, None, :])
cams = []
for i, ang in enumerate(np.deg2rad(np.linspace(-40, 40, 6))):
    eye = torch.tensor([4.5 * math.sin(ang), -4.5 * math.cos(ang), 0.6], dtype=torch.float64)
    vm = look_at_viewmat(eye, torch.tensor([0.0, 0.0, 0.0], dtype=torch.float64)).numpy()
    K = np.array([[FX, 0, W / 2], [0, FX, H / 2], [0, 0, 1.0]])
    n = names[i]; nf = int(round(N * fps[n] / 30.0))
    cams.append(CameraSpec(name=n, width=W, height=H, K=K, R=vm[:3, :3], t=vm[:3, 3], fps=fps[n], n_frames=nf,
                           frames=FrameSource("images", f"frames/{n}", "{:05d}.png")))
torch.set_num_threads(2)
for cam in cams:
    rc = RenderCameras(viewmats=torch.tensor(cam.viewmat, dtype=torch.float32)[None], Ks=torch.tensor(cam.K, dtype=torch.float32)[None], width=W, height=H)
    folder = root / cam.frames.path; folder.mkdir(parents=True, exist_ok=True)
    for i, tau in enumerate(cam.tau_s()):
        with torch.no_grad():
            img = render(gauss(offs[cam.name] + tau), rc, backend="torch", sh_degree=0, background=torch.zeros(3)).image[0]
        arr = (img.clamp(0, 1).numpy() * 255 + 0.5).astype(np.uint8)
        cv2.imwrite(str(folder / f"{i:05d}.png"), cv2.cvtColor(arr, cv2.COLOR_RGB2BGR))
scene = SceneSpec(root=root, cameras=cams, reference_camera="cam00", test_cameras=["cam00"], near=0.5, far=20.0)
scene.save()
save_points(scene.points_path, bg, (bg_rgb * 255).astype(np.uint8))
TimeMaps("cam00", {n: TimeMap(o, 1.0, 1.0, "reference" if n == "cam00" else "aligned") for n, o in offs.items()}).save(scene.gt_sync_path)
print(json.dumps(offs))
