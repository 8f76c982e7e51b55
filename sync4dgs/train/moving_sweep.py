"""3D points on the moving content at one instant, from the moving-pixel masks of several calibrated views.

Each view is one training camera's frame nearest to a global time t (under the current time maps), with its
moving-pixel mask (sync4dgs/data/motion_mask.py). For every masked pixel of every view (on a grid of
``stride`` pixels) a mask-and-colour plane sweep along its ray picks the depth where

* the point projects inside at least ``min_views`` other views,
* at least ``min_agreement`` of those views see a moving pixel there (a dilated mask: sub-frame timing and
  calibration errors), i.e. the point lies inside the visual hull of the moving content, and
* the colours of the agreeing views match the source pixel best (RMS colour error per channel at most
  ``photo_tolerance``; with ``photo_best_fraction`` < 1 over the best-matching part of them only, so that a view
  where another moving object hides the point does not veto it), with ``agreement_weight`` x the number of
  agreeing views subtracted from the error (1e-3: a tie-break; 1.0: the depth where the most views agree comes
  first).

With ``depth_hypotheses`` 2 a pixel whose depth is ambiguous gives a second point: the depth where the most views
agree (agreement first), when it lies more than ``HYPOTHESIS_GAP`` coarse steps from the colour-first depth. A small
object passing in front of another moving one is such a case: its few pixels differ in colour across views (texture,
compression), the other object's moving pixels agree at wrong depths, and the colour-first choice lands on them.
Training keeps whichever point the other views confirm (the wrong one loses its opacity).

No descriptor is matched across views, so wide baselines work; nothing depends on how the frames were made.
Units: pixels of the (downscaled) views, depths in scene units along the camera's z axis.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor
import torch.nn.functional as F

PIXEL_CENTER = 0.5    # pixel (x, y) has its centre at (x + 0.5, y + 0.5) (gsplat / render.conventions)
FINE_SAMPLES = 9      # second sweep: this many inverse depths across one coarse step either side of the best
HYPOTHESIS_GAP = 2    # a second depth hypothesis counts when its coarse sample is more than this many steps away
AGREEMENT_FIRST = 1.0  # the second hypothesis' weight per agreeing view (the colour error is at most 3 x 0.2^2)


@dataclass
class SweepViews:
    """V views at one instant. Ks [V,3,3] px, Rs [V,3,3], ts [V,3] (world-to-camera, OpenCV),
    images [V,h,w,3] float in [0,1], masks [V,h,w] bool (moving pixels)."""

    Ks: Tensor
    Rs: Tensor
    ts: Tensor
    images: Tensor
    masks: Tensor


@dataclass
class SweepSettings:
    """stride: source pixel grid step; depth_samples: inverse-depth samples in [near, far] (scene units);
    min_views / min_agreement / photo_tolerance: see the module docstring; agreement_weight: score bonus per
    agreeing view (the score is the colour error, a sum of squares over RGB, minus weight x agreeing views);
    max_sources: masked pixels per view at most (random subset, seeded); depth_hypotheses: 1, or 2 to add the
    agreement-first depth of ambiguous pixels (module docstring); photo_best_fraction: the colour error is the
    mean over this fraction of the agreeing views, the best-matching ones (at least min_views; 1: all, the plain
    mean; training's MovingSeedConfig default is 0.5)."""

    near: float
    far: float
    stride: int = 2
    depth_samples: int = 64
    min_views: int = 2
    min_agreement: float = 0.7
    photo_tolerance: float = 0.2
    max_sources: int = 4000
    dilate_px: int = 1
    agreement_weight: float = 1e-3
    depth_hypotheses: int = 1
    photo_best_fraction: float = 1.0


@dataclass
class SweepPoints:
    """M points: xyz [M,3] world, rgb [M,3] in [0,1] (source pixel), footprint [M] scene units (the size of
    one grid cell of the source view at the point's depth), view [M] long (source view index), hypothesis [M]
    long (0: the pixel's colour-first depth, 1: its second, agreement-first depth; None: all 0)."""

    xyz: Tensor
    rgb: Tensor
    footprint: Tensor
    view: Tensor
    hypothesis: Tensor | None = None

    def hypotheses(self) -> Tensor:
        """[M] long: ``hypothesis``, zeros where it is None."""
        if self.hypothesis is not None:
            return self.hypothesis
        return torch.zeros(self.xyz.shape[0], dtype=torch.long, device=self.xyz.device)


def _dilate(masks: Tensor, px: int) -> Tensor:
    if px <= 0:
        return masks
    k = 2 * px + 1
    return F.max_pool2d(masks[:, None].float(), k, stride=1, padding=px)[:, 0] > 0


def _project(Ks: Tensor, Rs: Tensor, ts: Tensor, X: Tensor) -> tuple[Tensor, Tensor]:
    """X [N,3] -> pixel coordinates [V,N,2] and camera depths [V,N]."""
    xc = torch.einsum("vij,nj->vni", Rs, X) + ts[:, None]
    z = xc[..., 2]
    uv = torch.einsum("vij,vnj->vni", Ks, xc)
    return uv[..., :2] / z.clamp_min(1e-9)[..., None], z


def _sample(img: Tensor, uv: Tensor) -> tuple[Tensor, Tensor]:
    """Nearest-pixel lookup of img [V,h,w,C] at uv [V,N,2]; returns values [V,N,C] and inside [V,N]."""
    V, h, w = img.shape[:3]
    x = torch.floor(uv[..., 0]).long()
    y = torch.floor(uv[..., 1]).long()
    inside = (x >= 0) & (x < w) & (y >= 0) & (y < h)
    flat = (y.clamp(0, h - 1) * w + x.clamp(0, w - 1)) + (torch.arange(V, device=img.device) * h * w)[:, None]
    vals = img.reshape(V * h * w, -1)[flat.reshape(-1)].reshape(V, uv.shape[1], -1)
    return vals, inside


@dataclass
class _DepthEvidence:
    """Per source pixel and depth sample [P, D]: mean colour error of the agreeing views (sum of squares over
    RGB), their number, whether the depth is admissible; the world points [P, D, 3] and depths [P, D]."""

    err: Tensor
    n_on: Tensor
    valid: Tensor
    X: Tensor
    depths: Tensor

    def score(self, weight: float) -> Tensor:
        """[P, D] err - weight x agreeing views, inf where inadmissible (lower is better)."""
        return torch.where(self.valid, self.err - weight * self.n_on.to(self.err.dtype),
                           torch.full_like(self.err, float("inf")))


def _best_views_error(err: Tensor, agree: Tensor, n_on: Tensor, fraction: float, min_views: int) -> Tensor:
    """[M] mean colour error over the best-matching ``fraction`` of the agreeing views (at least ``min_views``,
    at most all of them; 1: the mean over all), from per-view errors ``err`` [V-1, M], ``agree`` [V-1, M] bool
    and their counts ``n_on`` [M]. Occlusion-robust: a view where another moving object hides the point sees a
    moving pixel of another colour."""
    if fraction >= 1.0:
        return (err * agree).sum(0) / n_on.clamp_min(1)
    k = torch.minimum(torch.clamp(torch.ceil(fraction * n_on.to(err.dtype)).long(), min=min_views), n_on)
    ranked = torch.sort(torch.where(agree, err, torch.full_like(err, float("inf"))), dim=0).values
    best = torch.cumsum(torch.where(torch.isfinite(ranked), ranked, torch.zeros_like(ranked)), dim=0)
    total = best.gather(0, (k - 1).clamp_min(0)[None]).squeeze(0)
    return torch.where(k > 0, total / k.clamp_min(1).to(err.dtype), torch.zeros_like(total))


def _depth_evidence(views: SweepViews, others: Tensor, check: Tensor, rays: Tensor, src: Tensor, inv_depths: Tensor,
                    s: SweepSettings, min_views: int, a: int, photo_check: bool) -> _DepthEvidence:
    """The evidence for P source pixels of view ``a`` at D inverse depths [P, D] each. ``photo_check``: a depth
    is admissible only with the colour match (off for the coarse sweep, whose samples may straddle a textured
    surface)."""
    P, D = inv_depths.shape
    dt = rays.dtype
    depths = 1.0 / inv_depths
    X = ((rays[:, None, :] * depths[..., None]) - views.ts[a]) @ views.Rs[a]          # R^T (x_cam - t)
    uv, z = _project(views.Ks[others], views.Rs[others], views.ts[others], X.reshape(-1, 3))   # [V-1, P*D, .]
    on, inside = _sample(check[others][..., None].to(dt), uv)
    col, _ = _sample(views.images[others], uv)
    inside = inside & (z > s.near * 0.5)
    agree = inside & (on[..., 0] > 0.5)                                                 # [V-1, P*D]
    n_in, n_on = inside.sum(0), agree.sum(0)
    err = ((col - src.repeat_interleave(D, 0)[None]) ** 2).sum(-1)                      # [V-1, P*D]
    err = _best_views_error(err, agree, n_on, s.photo_best_fraction, min_views)
    valid = ((n_in >= min_views) & (n_on >= min_views) & (n_on >= s.min_agreement * n_in)
             & ((err <= 3.0 * s.photo_tolerance ** 2) | (not photo_check)))
    return _DepthEvidence(err.reshape(P, D), n_on.reshape(P, D), valid.reshape(P, D), X, depths)


def sweep_moving_points(views: SweepViews, s: SweepSettings, generator: torch.Generator | None = None
                        ) -> SweepPoints:
    """Points on the moving content seen by the views (see the module docstring). Runs on the views' device."""
    V, h, w = views.masks.shape
    dev, dt = views.images.device, views.images.dtype
    empty = SweepPoints(torch.zeros(0, 3, device=dev, dtype=dt), torch.zeros(0, 3, device=dev, dtype=dt),
                        torch.zeros(0, device=dev, dtype=dt), torch.zeros(0, dtype=torch.long, device=dev))
    if V < 2:
        return empty
    min_views = max(1, min(s.min_views, V - 1))
    check = _dilate(views.masks, s.dilate_px)
    inv = torch.linspace(1.0 / s.near, 1.0 / s.far, s.depth_samples, device=dev, dtype=dt)   # [D] near -> far
    grid = torch.zeros(h, w, dtype=torch.bool, device=dev)
    grid[s.stride // 2::s.stride, s.stride // 2::s.stride] = True
    out: list[SweepPoints] = []
    for a in range(V):
        ys, xs = torch.nonzero(views.masks[a] & grid, as_tuple=True)
        if ys.numel() == 0:
            continue
        if ys.numel() > s.max_sources:
            keep = torch.randperm(ys.numel(), generator=generator, device="cpu")[: s.max_sources].to(dev)
            ys, xs = ys[keep], xs[keep]
        P = ys.numel()
        pix = torch.stack([xs.to(dt) + PIXEL_CENTER, ys.to(dt) + PIXEL_CENTER, torch.ones(P, device=dev, dtype=dt)], -1)
        rays = pix @ torch.linalg.inv(views.Ks[a]).T                                  # [P,3], z = 1
        src = views.images[a][ys, xs]                                                  # [P,3]
        others = torch.tensor([b for b in range(V) if b != a], device=dev)
        # coarse sweep over the whole depth range, then a fine one around each pixel's best coarse depth
        step = float(inv[0] - inv[1]) if s.depth_samples > 1 else 0.0
        offsets = step * torch.linspace(-1, 1, FINE_SAMPLES, device=dev, dtype=dt)[None]
        hypotheses = [s.agreement_weight] + ([AGREEMENT_FIRST] if s.depth_hypotheses > 1 else [])
        coarse = _depth_evidence(views, others, check, rays, src, inv[None].expand(P, -1), s, min_views, a, False)
        coarse_best = None
        for rank, weight in enumerate(hypotheses):
            best = coarse.score(weight).min(dim=1)
            if coarse_best is None:                    # every pixel: the fine sweep decides (as with one hypothesis)
                coarse_best, take = best.indices, torch.ones(P, dtype=torch.bool, device=dev)
            else:                                      # a second point only where the depths differ clearly
                take = torch.isfinite(best.values) & ((best.indices - coarse_best).abs() > HYPOTHESIS_GAP)
            if not take.any():
                continue
            fine = (inv[best.indices][take][:, None] + offsets).clamp(min=float(inv[-1]), max=float(inv[0]))
            ev = _depth_evidence(views, others, check, rays[take], src[take], fine, s, min_views, a, True)
            score_f, X_f, d_f = ev.score(weight), ev.X, ev.depths
            best_f = score_f.min(dim=1)
            ok = torch.isfinite(best_f.values)
            if not ok.any():
                continue
            rows = torch.arange(int(take.sum()), device=dev)
            pts = X_f[rows, best_f.indices][ok]
            depth = d_f[rows, best_f.indices][ok]
            n_ok = int(ok.sum())
            out.append(SweepPoints(pts, src[take][ok], depth * s.stride / views.Ks[a, 0, 0],
                                   torch.full((n_ok,), a, dtype=torch.long, device=dev),
                                   torch.full((n_ok,), rank, dtype=torch.long, device=dev)))
    if not out:
        return empty
    return SweepPoints(*(torch.cat([getattr(p, f) for p in out]) for f in ("xyz", "rgb", "footprint", "view")),
                       torch.cat([p.hypotheses() for p in out]))


def voxel_subset(points: SweepPoints, idx: Tensor) -> SweepPoints:
    """The rows ``idx`` (long [k]) of ``points``."""
    return SweepPoints(points.xyz[idx], points.rgb[idx], points.footprint[idx], points.view[idx],
                       None if points.hypothesis is None else points.hypothesis[idx])


def voxel_select(points: SweepPoints, voxel: float, max_points: int,
                 generator: torch.Generator | None = None, max_second: int = 0) -> tuple[SweepPoints, Tensor]:
    """(one point per voxel of size ``voxel`` - the first of a seeded random order, a first-hypothesis point
    before a second-hypothesis one -, long indices of a seeded random subset of those: at most ``max_points``
    first-hypothesis points plus at most ``max_second`` second-hypothesis points). :func:`voxel_downsample` is
    that subset."""
    n = points.xyz.shape[0]
    if n == 0:
        return points, torch.zeros(0, dtype=torch.long, device=points.xyz.device)
    order = torch.randperm(n, generator=generator, device="cpu").to(points.xyz.device)
    second = points.hypothesis is not None and bool((points.hypothesis > 0).any())
    if second:                                   # primaries first: a voxel keeps its first-hypothesis point
        order = order[torch.sort(points.hypothesis[order], stable=True).indices]
    keys = torch.floor(points.xyz[order] / voxel).long()
    _, inverse = torch.unique(keys, dim=0, return_inverse=True)
    first = torch.full((int(inverse.max()) + 1,), n, dtype=torch.long, device=keys.device)
    first.scatter_reduce_(0, inverse, torch.arange(n, device=keys.device), reduce="amin")
    voxels = voxel_subset(points, order[first])
    if not second:
        keep = (torch.arange(first.numel(), device=first.device) if first.numel() <= max_points else
                torch.randperm(first.numel(), generator=generator, device="cpu")[:max_points].to(first.device))
        return voxels, keep
    keep = []
    for rank, cap in ((0, max_points), (1, max_second)):
        idx = torch.nonzero(voxels.hypothesis == rank, as_tuple=True)[0]
        if idx.numel() > cap:
            idx = idx[torch.randperm(idx.numel(), generator=generator, device="cpu")[:cap].to(idx.device)]
        keep.append(idx)
    return voxels, torch.cat(keep)


def voxel_downsample(points: SweepPoints, voxel: float, max_points: int,
                     generator: torch.Generator | None = None) -> SweepPoints:
    """One point per voxel of size ``voxel`` (the first of a seeded random order), then at most ``max_points``."""
    voxels, keep = voxel_select(points, voxel, max_points, generator)
    return voxel_subset(voxels, keep)
