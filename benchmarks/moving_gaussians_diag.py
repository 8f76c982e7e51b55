"""Which dynamic Gaussians cover each moving object of a `sync4dgs synth` scene, over time.

    python benchmarks/moving_gaussians_diag.py SCENE MODEL_DIR [--iteration N] [--times K]

For K global times spread over the test camera's frames (its TRUE clock), and for every moving object of the
scene's generator plan: the dynamic Gaussians whose mean lies within 1.5 x the object's bounding radius of its true
centre, weighted by their effective opacity (opacity x temporal opacity at that time). Prints per object, averaged
over the times: the opacity mass inside the ball (sum of effective opacities), the number of Gaussians with
effective opacity > 0.1, the opacity-weighted centroid error (metres, and in object radii), the mean scale
(metres), and the mass of Gaussians that are "on" (eff. opacity > 0.1) within 3 radii but outside 1.5 (strays,
e.g. a trail behind a fast object). One JSON object on stdout. A diagnostic, not a quality metric.
"""
from __future__ import annotations

import argparse
import json

import numpy as np
import torch

from sync4dgs.data.scene import load_scene
from sync4dgs.data.synth.generate import load_synth
from sync4dgs.data.synth.truth import object_centers
from sync4dgs.model.io import load_trained
from sync4dgs.timemap import load_time_maps


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("scene")
    ap.add_argument("model")
    ap.add_argument("--iteration", type=int, default=None)
    ap.add_argument("--times", type=int, default=12)
    a = ap.parse_args()
    scene, plan = load_scene(a.scene), load_synth(a.scene)
    cam = scene.camera(scene.test_cameras[0])
    clock = load_time_maps(scene.gt_sync_path).cameras[cam.name]
    t_all = clock.offset_s + clock.rate * cam.tau_s()
    times = t_all[np.linspace(1, len(t_all) - 2, a.times).round().astype(int)]
    model = load_trained(a.model, a.iteration).model
    centres = object_centers(plan.scene, times)
    out: dict[str, dict] = {"n_dynamic": model.n_dynamic}
    for prim in plan.scene.moving:
        radius = float(prim.size[0]) if prim.kind == "sphere" else float(np.linalg.norm(prim.size))
        rows = []
        for k, t in enumerate(times):
            with torch.no_grad():
                g = model.dynamic_at(float(t))
            mu = g.means.double().numpy()
            op = g.opacities.double().numpy()
            d = np.linalg.norm(mu - centres[prim.name][k], axis=1)
            inside = d < 1.5 * radius
            near = (d >= 1.5 * radius) & (d < 3 * radius) & (op > 0.1)
            w = op[inside]
            mass = float(w.sum())
            err = float(np.linalg.norm((w[:, None] * mu[inside]).sum(0) / max(mass, 1e-9)
                                       - centres[prim.name][k])) if mass > 1e-6 else float("nan")
            sc = g.scales.double().numpy()[inside].mean() if inside.any() else float("nan")
            rows.append((mass, int((w > 0.1).sum()), err, float(sc), float(op[near].sum())))
        r = np.array(rows, dtype=np.float64)
        out[prim.name] = {"radius_m": round(radius, 3),
                          "mass": round(float(np.nanmean(r[:, 0])), 2),
                          "mass_min": round(float(np.nanmin(r[:, 0])), 2),
                          "n_on": round(float(np.nanmean(r[:, 1])), 1),
                          "centroid_err_m": round(float(np.nanmean(r[:, 2])), 4),
                          "centroid_err_radii": round(float(np.nanmean(r[:, 2]) / radius), 2),
                          "mean_scale_m": round(float(np.nanmean(r[:, 3])), 4),
                          "stray_mass": round(float(np.nanmean(r[:, 4])), 2)}
    print(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
