"""Refine the seed clusters' velocities against the camera frames around each instant (multi-view reprojection).

Cluster matching (sync4dgs/train/moving_flow.py) gives each cluster of seeds a chord velocity between instants.
For a small object that moves more than its own size from one instant to the next, or whose speed changes, that
chord is far off (45 % for the demo's fast ball; 17 % of its seeds unmatched, i.e. zero velocity), and its seeds
land beside the object in every frame between instants. Here each cluster's velocity v is chosen so that its
points, moved to ``x + v (t_f - t)`` at the capture time ``t_f`` of every training-camera frame within ``window``
seconds of the instant ``t``, project onto MOVING pixels OF THEIR COLOUR in as many of those frames as possible.

Search: a grid of candidates over the cube ``|v_k| <= max_speed`` (per axis, ``GRID`` steps), then ``ROUNDS``
finer grids, each half the previous step, around the centroid of the best-scoring candidates (a uniformly
coloured object scores the same for every velocity that keeps its points on its footprint: the middle of that
region is the estimate). The score of a candidate is (points x frames that land on a moving pixel whose
colour matches within the sweep's photo tolerance) / (points x frames that land inside the frame). Units: scene
units, seconds.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from sync4dgs.train.moving_flow import LINK, cluster_labels, step_reach
from sync4dgs.train.moving_sweep import SweepPoints, SweepViews, _dilate, _project, _sample

GRID = 7                 # candidates per axis of the first grid
ROUNDS = 3               # finer grids (5 steps per axis, half the previous step each)
MAX_POINTS = 32          # points of a cluster that are scored (seeded random subset of larger clusters)
MIN_POINTS = 3           # smaller clusters keep their matched velocity
TIE = 0.02               # candidates scoring within this of the best are equally good (their centroid is taken)


@dataclass
class TimedViews:
    """V camera frames around one instant: ``views`` (downscaled images, moving masks, cameras) and ``dt_s`` [V],
    each frame's capture time minus the instant (seconds)."""

    views: SweepViews
    dt_s: Tensor


def _grid(center: Tensor, step: Tensor, n: int) -> Tensor:
    """[n^3, 3] candidates center + step * (i, j, k) for i, j, k in the n offsets centred on 0."""
    off = torch.arange(n, dtype=center.dtype, device=center.device) - (n - 1) / 2
    g = torch.stack(torch.meshgrid(off, off, off, indexing="ij"), -1).reshape(-1, 3)
    return center + step * g


def candidate_scores(xyz: Tensor, rgb: Tensor, candidates: Tensor, timed: TimedViews, check: Tensor,
                     photo_tolerance: float) -> Tensor:
    """[Q] fraction of (point, frame) projections on a moving pixel of the point's colour, per candidate velocity.

    xyz [P,3], rgb [P,3] in [0,1]; candidates [Q,3] (units / s); ``check`` [V,h,w] the (dilated) moving masks."""
    v = timed.views
    num = torch.zeros(candidates.shape[0], dtype=xyz.dtype, device=xyz.device)
    den = torch.zeros_like(num)
    tol2 = 3.0 * photo_tolerance ** 2
    for a in range(v.Ks.shape[0]):
        Y = (xyz[None] + candidates[:, None] * timed.dt_s[a]).reshape(-1, 3)            # [Q*P, 3]
        uv, z = _project(v.Ks[a:a + 1], v.Rs[a:a + 1], v.ts[a:a + 1], Y)
        on, inside = _sample(check[a:a + 1, ..., None].to(xyz.dtype), uv)
        col, _ = _sample(v.images[a:a + 1], uv)
        inside = (inside & (z > 0))[0].reshape(candidates.shape[0], -1)                  # [Q, P]
        err = ((col[0] - rgb.repeat(candidates.shape[0], 1)) ** 2).sum(-1).reshape(inside.shape)
        agree = inside & (on[0, :, 0] > 0.5).reshape(inside.shape) & (err <= tol2)
        num += agree.sum(1)
        den += inside.sum(1)
    return num / den.clamp_min(1)


def refine_cluster_velocity(xyz: Tensor, rgb: Tensor, v0: Tensor, max_speed: float, timed: TimedViews,
                            check: Tensor, photo_tolerance: float) -> tuple[Tensor, float, float]:
    """(velocity [3], its score, v0's score) of one cluster (points xyz [P,3], colours rgb [P,3], matched velocity
    v0 [3]); candidates within ``max_speed`` (units / s) per axis, see the module docstring.

    A uniformly coloured object scores as well for every velocity that keeps its points on its own footprint, so
    each round takes the centroid of the candidates scoring within ``TIE`` of the best (the middle of that
    region, not its edge nearest to v0), and the next, finer grid is centred there."""
    step = torch.full((3,), 2.0 * max_speed / (GRID - 1), dtype=xyz.dtype, device=xyz.device)
    cands = _grid(torch.zeros_like(v0), step, GRID)
    base = float(candidate_scores(xyz, rgb, v0[None], timed, check, photo_tolerance)[0])
    center = v0
    for r in range(ROUNDS + 1):
        scores = candidate_scores(xyz, rgb, cands, timed, check, photo_tolerance)
        top = scores >= scores.max() - TIE
        center = cands[top].mean(0)
        if r < ROUNDS:
            step = step / 2
            cands = _grid(center, step, 5)
    score = float(candidate_scores(xyz, rgb, center[None], timed, check, photo_tolerance)[0])
    return center, score, base


def refine_instant(points: SweepPoints, velocity: Tensor, timed: TimedViews, spacing_s: float,
                   photo_tolerance: float, generator: torch.Generator | None = None) -> Tensor:
    """[n,3] refined velocities of one instant's points (clusters as in moving_flow.py); a cluster keeps its matched
    velocity unless the refined one scores higher by more than ``TIE``."""
    n = points.xyz.shape[0]
    if n == 0 or timed.dt_s.numel() == 0:
        return velocity
    fp = float(points.footprint.median())
    labels = torch.as_tensor(cluster_labels(points.xyz.detach().cpu().double().numpy(), LINK * fp),
                             device=points.xyz.device)
    check = _dilate(timed.views.masks, 1)
    out = velocity.clone()
    for c in torch.unique(labels).tolist():
        idx = torch.nonzero(labels == c, as_tuple=True)[0]
        if idx.numel() < MIN_POINTS:
            continue
        x = points.xyz[idx]
        ext = float(((x - x.mean(0)) ** 2).sum(1).mean().sqrt())
        max_speed = float(step_reach(ext, fp)) / spacing_s
        if idx.numel() > MAX_POINTS:
            idx = idx[torch.randperm(idx.numel(), generator=generator)[:MAX_POINTS].to(idx.device)]
        v0 = velocity[idx].mean(0)           # one velocity per cluster (moving_flow gives all its points the same)
        v, score, base = refine_cluster_velocity(points.xyz[idx], points.rgb[idx], v0, max_speed, timed, check,
                                                 photo_tolerance)
        if score > base + TIE:
            out[labels == c] = v
    return out
