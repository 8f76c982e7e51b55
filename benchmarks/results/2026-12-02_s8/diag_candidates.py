"""Print stage 1's coarse pair candidates and the coarse global solution of one scene (session 8 diagnosis).
PYTHONPATH=/work/wt_real python diag_candidates.py SCENE"""
import sys

import numpy as np

import sync4dgs.sync.align.pipeline as P
from sync4dgs.data.scene import load_scene
from sync4dgs.sync.align import AlignConfig, align_scene

orig = P._refine


def spy(scene, ref, data, reports, sol, cfg, rates, device):
    names = [c.name for c in scene.cameras]
    fps = scene.cameras[ref].fps
    print("coarse offsets (frames):", np.round(sol.offsets_s * fps, 2), "conf", np.round(sol.confidence, 2))
    print("coarse inliers (pair, candidate):", [(names[data[k].a] + "-" + names[data[k].b], c) for k, c in sol.inliers])
    for p in data:
        print(names[p.a], names[p.b], "conf %.2f" % p.score.confidence,
              "candidates (lag frames, weight):", [(round(d * fps, 2), round(w, 3)) for r, d, w in p.score.candidates])
    return orig(scene, ref, data, reports, sol, cfg, rates, device)


P._refine = spy
scene = load_scene(sys.argv[1])
fps0 = scene.cameras[0].fps
res = align_scene(scene, AlignConfig.from_dict({"device": "cpu"}))
print({n: (round(m.offset_s * fps0, 2), m.status, round(m.confidence, 2))
       for n, m in res.time_maps.cameras.items()})
