"""Epipolar-pencil profiles of moving silhouettes: a view-independent 1D signal per camera pair and time.

The epipolar planes of cameras A and B form a pencil around the baseline C_A C_B; parametrise a plane by
its angle ``phi`` around the baseline. A plane meets a moving object iff the object's silhouette in A
contains a pixel of the plane's epipolar line, and the same holds in B. So, at any one instant, the set of
angles occupied by foreground pixels is *the same* in both views - whatever occludes whom among the moving
objects. Its boundaries (planes tangent to the objects) move with the motion; aligning the two cameras'
boundary sequences in time gives the time map, with no correspondences and no learned weights.

Per pair and camera we keep, for every frame, a signed distance ``sdf`` [T, B+1] (in bins, along phi, at
bin boundaries: 0 on a boundary of the occupied set, negative inside) and an ``unknown`` mask for angles
whose occupancy is untrustworthy (runs touching the image border, i.e. objects cut by the frame). Linear
interpolation of ``sdf`` in time moves boundaries linearly, which makes the cost continuous in the time
offset (sub-frame refinement). Bins are ``bin_px`` tracking pixels wide (in the image where phi changes
slowest), so distances convert to pixels by ``px_per_bin``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sync4dgs.data.scene import CameraSpec

_MIN_SIN_BASELINE = 0.1  # ignore pixels whose ray is within ~6 degrees of the baseline (near the epipole)


@dataclass
class PackedMasks:
    """A camera's foreground masks at tracking resolution, bit-packed: bits [T, ceil(h*w/8)], shape (h, w),
    scale (sx, sy) = tracking / full resolution."""

    bits: np.ndarray
    h: int
    w: int
    sx: float
    sy: float

    @staticmethod
    def pack(masks: np.ndarray, sx: float, sy: float) -> "PackedMasks":
        t, h, w = masks.shape
        return PackedMasks(np.packbits(masks.reshape(t, -1), axis=1), h, w, sx, sy)

    def frame(self, i: int) -> np.ndarray:
        """[h*w] bool mask of frame i (flattened)."""
        return np.unpackbits(self.bits[i], count=self.h * self.w).astype(bool)

    def __len__(self) -> int:
        return self.bits.shape[0]


@dataclass
class PencilGeometry:
    """Binning of both images' pixels into epipolar planes of one pair.

    bins_a / bins_b: [h*w, 2] int32 first and last plane bin each pixel's footprint covers (-1 = unusable);
    border_a / border_b: [h*w] bool (pixels on the 2-pixel image border ring); n_bins: number of bins;
    px_per_bin: tracking pixels per bin.
    """

    bins_a: np.ndarray
    bins_b: np.ndarray
    border_a: np.ndarray
    border_b: np.ndarray
    n_bins: int
    px_per_bin: float


def _plane_angles(cam: CameraSpec, pm: PackedMasks, origin: np.ndarray, axis: np.ndarray, u: np.ndarray,
                  w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Plane angle phi [h, w] (radians in (-pi/2, pi/2]) of each tracking pixel, and a usable mask."""
    jj, ii = np.meshgrid(np.arange(pm.w), np.arange(pm.h))
    pix = np.stack([(jj + 0.5) / pm.sx, (ii + 0.5) / pm.sy, np.ones(jj.shape)], -1)
    rays = pix @ np.linalg.inv(cam.K).T @ cam.R                      # world directions
    rays /= np.linalg.norm(rays, axis=-1, keepdims=True)
    perp = rays - (rays @ axis)[..., None] * axis                    # component orthogonal to the baseline
    s = np.linalg.norm(perp, axis=-1)
    cu, cw = perp @ u, perp @ w
    phi = np.arctan2(cw, cu)
    phi = np.where(phi > np.pi / 2, phi - np.pi, np.where(phi <= -np.pi / 2, phi + np.pi, phi))
    return phi, s > _MIN_SIN_BASELINE


def pencil_geometry(cam_a: CameraSpec, cam_b: CameraSpec, pm_a: PackedMasks, pm_b: PackedMasks,
                    bin_px: float = 0.5, max_bins: int = 8192) -> PencilGeometry | None:
    """Bin both images' pixels by epipolar plane; None when the views share no planes."""
    base = cam_b.center - cam_a.center
    axis = base / max(np.linalg.norm(base), 1e-12)
    mid = cam_a.R[2] + cam_b.R[2]
    u = mid - (mid @ axis) * axis
    if np.linalg.norm(u) < 1e-6:
        u = np.cross(axis, [1.0, 0.0, 0.0]) if abs(axis[0]) < 0.9 else np.cross(axis, [0.0, 1.0, 0.0])
    u /= np.linalg.norm(u)
    w = np.cross(axis, u)
    phi_a, ok_a = _plane_angles(cam_a, pm_a, cam_a.center, axis, u, w)
    phi_b, ok_b = _plane_angles(cam_b, pm_b, cam_b.center, axis, u, w)
    if not ok_a.any() or not ok_b.any():
        return None
    lo = max(np.percentile(phi_a[ok_a], 0.1), np.percentile(phi_b[ok_b], 0.1))
    hi = min(np.percentile(phi_a[ok_a], 99.9), np.percentile(phi_b[ok_b], 99.9))
    if not hi > lo:
        return None

    def rad_per_px(phi: np.ndarray, ok: np.ndarray) -> float:
        gy, gx = np.gradient(phi)
        g = np.hypot(gx, gy)[ok & (np.abs(phi) < 1.2)]
        return float(np.median(g)) if g.size else 0.0

    rpp = min(rad_per_px(phi_a, ok_a), rad_per_px(phi_b, ok_b))
    if not rpp > 0:
        return None
    width = max(bin_px * rpp, (hi - lo) / max_bins)
    n_bins = int(np.ceil((hi - lo) / width))

    def to_bins(phi: np.ndarray, ok: np.ndarray) -> np.ndarray:
        # a pixel covers phi +- half its extent along the gradient (|d phi/dx| + |d phi/dy|) / 2
        gy, gx = np.gradient(phi)
        half = 0.5 * (np.abs(gx) + np.abs(gy))
        half = np.where(half < 0.5, half, 0.0)  # the +-pi/2 wrap-around
        b0 = np.floor((phi - half - lo) / width).astype(np.int64)
        b1 = np.floor((phi + half - lo) / width).astype(np.int64)
        use = ok & (b1 >= 0) & (b0 < n_bins)
        out = np.stack([np.clip(b0, 0, n_bins - 1), np.clip(b1, 0, n_bins - 1)], -1)
        return np.where(use[..., None], out, -1).astype(np.int32).reshape(-1, 2)

    def border(h: int, wd: int) -> np.ndarray:
        m = np.zeros((h, wd), bool)
        m[:2], m[-2:], m[:, :2], m[:, -2:] = True, True, True, True
        return m.ravel()

    return PencilGeometry(to_bins(phi_a, ok_a), to_bins(phi_b, ok_b), border(pm_a.h, pm_a.w),
                          border(pm_b.h, pm_b.w), n_bins, width / rpp)


def occupancy(pm: PackedMasks, bins: np.ndarray, border: np.ndarray, n_bins: int) -> tuple[np.ndarray, np.ndarray]:
    """Per frame: occupied plane bins [T, n_bins] bool and bins hit by foreground on the image border.

    bins: [h*w, 2] first/last bin of each pixel's footprint (-1 = unusable)."""
    t = len(pm)
    occ = np.zeros((t, n_bins), bool)
    bord = np.zeros((t, n_bins), bool)
    usable = bins[:, 0] >= 0

    def cover(idx: np.ndarray) -> np.ndarray:
        b = bins[idx]
        diff = np.bincount(b[:, 0], minlength=n_bins + 1) - np.bincount(b[:, 1] + 1, minlength=n_bins + 1)
        return np.cumsum(diff[:n_bins]) > 0

    for i in range(t):
        idx = np.flatnonzero(pm.frame(i))
        idx = idx[usable[idx]]
        if not len(idx):
            continue
        occ[i] = cover(idx)
        on_border = idx[border[idx]]
        if len(on_border):
            bord[i] = cover(on_border)
    return occ, bord


def signed_distance(occ: np.ndarray, bord: np.ndarray, cap: float) -> tuple[np.ndarray, np.ndarray]:
    """Signed distance to trusted boundaries, at bin boundaries.

    Args:
        occ: [T, B] occupied bins. bord: [T, B] bins seen on the image border (their runs are untrusted).
        cap: distances are clamped to ±cap (bins).
    Returns:
        sdf [T, B+1] float32 (0 on a boundary of a trusted run, negative inside runs), unknown [T, B+1] bool
        (boundary positions inside or on untrusted runs, and positions with no trusted boundary at all).
    """
    t, b = occ.shape
    pad = np.zeros((t, 1), bool)
    o = np.concatenate([pad, occ, pad], 1)                      # [T, B+2]; boundary e sits between o[e], o[e+1]
    edge = o[:, 1:] != o[:, :-1]                                  # [T, B+1]
    # runs: label each occupied bin with its run id, mark runs touching the border as untrusted
    start = np.concatenate([pad, occ], 1)[:, 1:] & ~np.concatenate([pad, occ], 1)[:, :-1]
    run_id = np.cumsum(start, axis=1) * occ                       # 0 = free, k = k-th run of the row
    bad_run = np.zeros((t, b + 1), bool)
    rows, cols = np.nonzero(bord & occ)
    bad_run[rows, run_id[rows, cols]] = True
    bad_run[:, 0] = False
    untrusted = np.take_along_axis(bad_run, run_id, axis=1) & occ  # [T, B]
    # boundary e is untrusted if a neighbouring bin is untrusted
    ub = np.zeros((t, b + 1), bool)
    ub[:, :-1] |= untrusted
    ub[:, 1:] |= untrusted
    trusted_edge = edge & ~ub
    idx = np.arange(b + 1)[None, :].repeat(t, 0)
    big = 10 * (b + 1)
    prev = np.where(trusted_edge, idx, -big)
    prev = np.maximum.accumulate(prev, axis=1)
    nxt = np.where(trusted_edge, idx, 2 * big)
    nxt = np.minimum.accumulate(nxt[:, ::-1], axis=1)[:, ::-1]
    dist = np.minimum(idx - prev, nxt - idx).astype(np.float32)
    inside = np.zeros((t, b + 1), bool)
    inside[:, 1:-1] = occ[:, :-1] & occ[:, 1:]
    sdf = np.where(inside, -dist, dist)
    sdf = np.clip(sdf, -cap, cap).astype(np.float32)
    unknown = ub | ~trusted_edge.any(axis=1, keepdims=True)
    return sdf, unknown


@dataclass
class PairProfiles:
    """Both cameras' pencil profiles of one pair: sdf_*/unknown_* [T_*, B+1]; px_per_bin; tau_* [T_*] seconds."""

    sdf_a: np.ndarray
    unknown_a: np.ndarray
    sdf_b: np.ndarray
    unknown_b: np.ndarray
    tau_a: np.ndarray
    tau_b: np.ndarray
    px_per_bin: float


def pair_profiles(cam_a: CameraSpec, cam_b: CameraSpec, pm_a: PackedMasks, pm_b: PackedMasks, cap_px: float,
                  bin_px: float = 0.5) -> PairProfiles | None:
    """Pencil profiles of a pair (None when the views share no epipolar planes or nothing moves)."""
    geo = pencil_geometry(cam_a, cam_b, pm_a, pm_b, bin_px)
    if geo is None:
        return None
    cap = cap_px / geo.px_per_bin + 2
    occ_a, bord_a = occupancy(pm_a, geo.bins_a, geo.border_a, geo.n_bins)
    occ_b, bord_b = occupancy(pm_b, geo.bins_b, geo.border_b, geo.n_bins)
    if not occ_a.any() or not occ_b.any():
        return None
    sdf_a, unk_a = signed_distance(occ_a, bord_a, cap)
    sdf_b, unk_b = signed_distance(occ_b, bord_b, cap)
    return PairProfiles(sdf_a, unk_a, sdf_b, unk_b, cam_a.tau_s(), cam_b.tau_s(), geo.px_per_bin)
