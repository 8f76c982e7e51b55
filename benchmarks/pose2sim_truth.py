"""Independent measurement of the TRUE synchronization of Pose2Sim's Demo_SinglePerson (benchmark only).

NOT part of the product: stage 1 is weights-free and never reads pose files. This script uses the OpenPose
BODY_25B keypoints that Pose2Sim shipped with the very same videos (the video blobs of
``Pose2Sim/Demo/S00_Demo_Session/S00_P00_SingleParticipant/S00_P00_T01_BalancingTrial/{videos,pose}`` at
perfanalytics/pose2sim commit 7b11028 are byte-identical to today's ``Demo_SinglePerson/videos``; json frame i
matches video frame i in every camera, checked against dense optical flow) as an outside measurement:

Features: the nose, neck and head keypoints and the MIDPOINTS of the 11 left/right pairs (OpenPose swaps left
and right in back views; a midpoint does not care). For camera c, the features of the three other cameras are
DLT-triangulated (calibration, undistorted) and projected into c; the residual r (pixels) of camera c's
features sampled at frame i + lag is modelled as ``r = b_feature + s * v`` (b: a constant 2D bias per feature,
absorbing calibration / keypoint-definition errors; v: the feature's image velocity, px/frame). The slope s
vanishes at the true lag; s is measured at lag 0 and lag 2 and the zero is interpolated (frames). A block
bootstrap over frames gives 90% intervals. Without the bias term (plain reprojection minimum, also printed)
a camera with a large static bias gets a spurious lag when the subject drifts during the clip.

Sign convention as sync4dgs's offsets.json (``gt_sync.json``): the printed offset o_c (frames) means camera
c's frame j shows the instant of the reference's (cam01's) frame j - o_c, i.e. dropping k leading frames of
camera c adds +k.

    python benchmarks/pose2sim_truth.py POSE_DIR Calib.qca.txt [--conf 0.5] [--bootstrap 100]

POSE_DIR holds ``cam01_json/ .. cam04_json/`` (OpenPose json, one file per frame).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sync4dgs.data.readers.calibration import read_calibration  # noqa: E402


def load_keypoints(folder: Path) -> np.ndarray:
    """OpenPose json folder -> [n_frames, n_kp, 3] (x px, y px, confidence); NaN where no person."""
    frames = []
    for f in sorted(folder.glob("*.json")):
        people = json.loads(f.read_text())["people"]
        if not people:
            frames.append(None)
            continue
        best = max(people, key=lambda p: float(np.sum(np.asarray(p["pose_keypoints_2d"])[2::3])))
        frames.append(np.asarray(best["pose_keypoints_2d"], dtype=np.float64).reshape(-1, 3))
    n_kp = max(len(a) for a in frames if a is not None)
    out = np.full((len(frames), n_kp, 3), np.nan)
    for i, a in enumerate(frames):
        if a is not None:
            out[i] = a
    return out


def undistort(kp: np.ndarray, K: np.ndarray, dist: np.ndarray, conf: float) -> np.ndarray:
    """[n, k, 3] pixels -> [n, k, 2] undistorted normalised coordinates; NaN where confidence < conf."""
    xy = kp[..., :2].reshape(-1, 1, 2).copy()
    good = np.isfinite(xy[:, 0, 0]) & (kp[..., 2].reshape(-1) >= conf)
    res = np.full((xy.shape[0], 2), np.nan)
    if good.any():
        res[good] = cv2.undistortPoints(xy[good], K, dist).reshape(-1, 2)
    return res.reshape(kp.shape[0], kp.shape[1], 2)


def interp(seq: np.ndarray, t: np.ndarray) -> np.ndarray:
    """[n, k, 2] sampled at integer frames -> values at fractional frames t [m] (linear; NaN outside)."""
    n = seq.shape[0]
    i0 = np.floor(t).astype(int)
    w = (t - i0)[:, None, None]
    ok = (i0 >= 0) & (i0 + 1 < n)
    out = np.full((len(t),) + seq.shape[1:], np.nan)
    out[ok] = seq[i0[ok]] * (1 - w[ok]) + seq[i0[ok] + 1] * w[ok]
    exact = (t == i0) & (i0 == n - 1)
    out[exact] = seq[n - 1]
    return out


LR_PAIRS = ((1, 2), (3, 4), (5, 6), (7, 8), (9, 10), (11, 12), (13, 14), (15, 16), (19, 22), (20, 23), (21, 24))
"""BODY_25B left/right keypoint pairs."""
CENTRAL = (0, 17, 18)
"""BODY_25B nose, neck, head."""
MAX_RESIDUAL_PX = 60.0
"""Residuals larger than this (pixels) are left out of the fit (gross OpenPose errors)."""


def features(norm: np.ndarray) -> np.ndarray:
    """[n, 25, 2] normalised keypoints -> [n, 14, 2] left/right-swap invariant features."""
    mids = np.stack([(norm[:, l] + norm[:, r]) / 2 for l, r in LR_PAIRS], 1)
    return np.concatenate([norm[:, list(CENTRAL)], mids], 1)


def leave_one_out(feat: list[np.ndarray], P: np.ndarray, c: int, lag: float, frames: np.ndarray,
                  f: float) -> tuple[np.ndarray, np.ndarray]:
    """Residuals and velocities of camera c's features at frames + lag, projected from the other cameras.

    Returns r, v [m, k, 2] pixels and pixels/frame (NaN where unavailable); r = projection - observation.
    """
    t = frames.astype(float)
    others = [d for d in range(len(feat)) if d != c]
    obs = {d: interp(feat[d], t + (lag if d == c else 0.0)).reshape(-1, 2) for d in range(len(feat))}
    vel = ((interp(feat[c], t + lag + 1) - interp(feat[c], t + lag - 1)) / 2).reshape(-1, 2)
    valid = {d: np.isfinite(obs[d]).all(-1) for d in obs}
    A = np.zeros((obs[0].shape[0], 2 * len(others), 4))
    for q, d in enumerate(others):
        x = np.nan_to_num(obs[d])
        w = valid[d][:, None]
        A[:, 2 * q] = w * (x[:, 0:1] * P[d][2] - P[d][0])
        A[:, 2 * q + 1] = w * (x[:, 1:2] * P[d][2] - P[d][1])
    use = (sum(valid[d].astype(int) for d in others) >= 2) & valid[c] & np.isfinite(vel).all(-1)
    X = np.full((A.shape[0], 3), np.nan)
    _, _, vt = np.linalg.svd(A[use])
    X[use] = vt[:, -1, :3] / vt[:, -1, 3:4]
    xc = X @ P[c][:, :3].T + P[c][:, 3]
    proj = xc[:, :2] / xc[:, 2:3]
    shape = feat[c][frames].shape
    return ((proj - obs[c]) * f).reshape(shape), (vel * f).reshape(shape)


def bias_slope(r: np.ndarray, v: np.ndarray) -> float:
    """Least-squares slope s (frames) of r = b_feature + s * v over all frames and features."""
    k = r.shape[1]
    ok = np.isfinite(r).all(-1) & np.isfinite(v).all(-1) & (np.linalg.norm(r, axis=-1) < MAX_RESIDUAL_PX)
    i, j = np.nonzero(ok)
    n = len(i)
    M = np.zeros((2 * n, 1 + 2 * k))
    M[0::2, 0], M[1::2, 0] = v[i, j, 0], v[i, j, 1]
    M[np.arange(0, 2 * n, 2), 1 + 2 * j] = 1.0
    M[np.arange(1, 2 * n, 2), 2 + 2 * j] = 1.0
    y = np.empty(2 * n)
    y[0::2], y[1::2] = r[i, j, 0], r[i, j, 1]
    sol, *_ = np.linalg.lstsq(M, y, rcond=None)
    return float(sol[0])


def bias_aware_lag(feat, P, c, frames, f) -> float:
    """Lag (frames, camera c's frame = reference frame + lag) where the bias-aware slope vanishes."""
    s0 = bias_slope(*leave_one_out(feat, P, c, 0.0, frames, f))
    s2 = bias_slope(*leave_one_out(feat, P, c, 2.0, frames, f))
    if s0 == s2:
        return float("nan")
    return 2.0 * s0 / (s0 - s2)


def plain_reprojection_lag(feat, P, c, frames, f, grid: np.ndarray) -> float:
    """Lag (frames) minimising the median leave-one-out reprojection error of camera c (no bias term)."""
    costs = []
    for lag in grid:
        r, _ = leave_one_out(feat, P, c, float(lag), frames, f)
        costs.append(np.nanmedian(np.linalg.norm(r, axis=-1)))
    return float(grid[int(np.nanargmin(costs))])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("pose_dir", type=Path)
    ap.add_argument("calibration", type=Path)
    ap.add_argument("--conf", type=float, default=0.5, help="OpenPose confidence threshold")
    ap.add_argument("--bootstrap", type=int, default=100, help="block-bootstrap resamples")
    ap.add_argument("--block", type=int, default=10, help="bootstrap block length, frames")
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args(argv)
    calib = read_calibration(a.calibration)
    cams = {c.name: c for c in calib.cameras}
    names = sorted(cams)
    kps = [load_keypoints(a.pose_dir / f"{n}_json") for n in names]
    n = min(k.shape[0] for k in kps)
    feat = [features(undistort(k[:n], cams[nm].K, cams[nm].dist, a.conf)) for k, nm in zip(kps, names)]
    P = np.stack([np.c_[cams[nm].R, cams[nm].t] for nm in names])
    f = float(np.mean([cams[nm].K[0, 0] for nm in names]))
    frames = np.arange(8, n - 8)
    grid = np.arange(-7.0, 7.01, 0.25)
    rng = np.random.default_rng(a.seed)
    print(f"{n} frames, cameras {names}, focal ~{f:.0f} px, frames {frames[0]}..{frames[-1]}")
    for c in range(len(names)):
        lag = bias_aware_lag(feat, P, c, frames, f)
        boots = []
        for _ in range(a.bootstrap):
            starts = rng.integers(frames[0], frames[-1] - a.block + 2, size=len(frames) // a.block)
            boots.append(bias_aware_lag(feat, P, c, np.concatenate([np.arange(s, s + a.block) for s in starts]), f))
        lo, hi = np.percentile(boots, [5, 95]) if boots else (np.nan, np.nan)
        plain = plain_reprojection_lag(feat, P, c, frames, f, grid)
        r, _ = leave_one_out(feat, P, c, 0.0, frames, f)
        print(f"{names[c]}: lag vs the other three {lag:+.2f} frames [{lo:+.2f}, {hi:+.2f}] (bias-aware, 90%); "
              f"plain reprojection minimum {plain:+.2f}; median residual at lag 0 "
              f"{np.nanmedian(np.linalg.norm(r, axis=-1)):.1f} px")
    print("(lag: camera c's frame i + lag shows the instant of the others' frame i; offsets.json sign: -lag)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
