"""Optional per-camera pose / focal refinement during stage 2 (``camera.refine_pose`` / ``camera.refine_focal``).

Parameterisation (per training camera k, all zero-initialised, float32):

* ``omega_k`` [3] (radians, axis-angle) and ``v_k`` [3] (scene units), both in camera k's own frame, applied on
  the LEFT of the world-to-camera matrix: ``x_cam = exp(omega_k) (R0_k x_world + t0_k) + v_k``, i.e.
  ``R_k = exp(omega_k) R0_k`` and ``t_k = exp(omega_k) t0_k + v_k`` (the camera turns about its own centre,
  then moves by ``-R_k^T v_k`` in the world).
* ``log_focal_k`` []: ``fx`` and ``fy`` are both multiplied by ``exp(log_focal_k)``; the principal point is fixed.

Gauge: the photometric loss cannot see a rigid motion of the whole scene together with every camera, so ONE
camera keeps its pose: the reference camera when it is a training camera, else the first training camera (scene
order). Its focal length may still be refined (a focal change is not a gauge freedom). A common scale of the
scene and the camera translations stays unobservable; it is anchored by the fixed camera and the initial points,
and the deltas stay small at the default learning rates.

Rendering: gsplat 1.5.3 returns no gradient for ``Ks``, so the focal scale ``s`` is folded into the render
viewmat as ``diag(s, s, 1, 1) @ V_k`` with ``Ks`` left at the calibrated values. Projecting
``(s x, s y, z)`` with focal ``f`` is exactly projecting ``(x, y, z)`` with focal ``s f`` (means, the 2D
covariance through the Jacobian, the FOV clamp, depth and the camera centre (full matrix inverse) all agree), so
both backends render the same image and give the same gradient as a scaled ``K`` would. The TRUE refined camera
(rigid viewmat, scaled K) is what :meth:`CameraDeltas.refined` returns and what is saved.

Outputs: ``M/cameras_refined.json`` (see :func:`write_refined_cameras`) at every weights save and at the end.
Held-out (test) cameras are never refined: evaluation renders them with their calibrated poses.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from sync4dgs.errors import ConfigError
from sync4dgs.model.folder import write_refined_cameras
from sync4dgs.render.types import RenderCameras
from sync4dgs.train.config import CameraConfig
from sync4dgs.train.feature import OwnOptimizerFeature

log = logging.getLogger(__name__)

_SMALL_ANGLE = 1e-2          # below this |omega| (rad) the sinc uses its Taylor series


# ------------------------------------------------------------------------------------------ pure math
def hat(omega: Tensor) -> Tensor:
    """[..., 3] -> [..., 3, 3] skew-symmetric matrix with ``hat(w) @ x = w x x``."""
    x, y, z = omega.unbind(-1)
    o = torch.zeros_like(x)
    return torch.stack([o, -z, y, z, o, -x, -y, x, o], dim=-1).reshape(*omega.shape[:-1], 3, 3)


def _sinc(theta: Tensor, theta2: Tensor, small: Tensor) -> Tensor:
    """sin(theta)/theta, by its Taylor series where ``small`` (no 0/0, finite gradients at 0)."""
    safe = torch.where(small, torch.ones_like(theta), theta)
    return torch.where(small, 1.0 - theta2 / 6.0 + theta2 * theta2 / 120.0, torch.sin(safe) / safe)


def so3_exp(omega: Tensor) -> Tensor:
    """Rodrigues' exponential map. omega: [..., 3] axis-angle (rad) -> [..., 3, 3] rotation matrices.

    ``R = I + a hat(w) + b hat(w)^2`` with ``a = sin(t)/t`` and ``b = (1 - cos t)/t^2 = (sinc(t/2))^2 / 2``
    (the half-angle form avoids the cancellation of ``1 - cos t`` in float32). Exactly the identity at 0, with
    finite gradients there (d R / d omega at 0 = hat(.)).
    """
    theta2 = (omega * omega).sum(-1)
    small = theta2 < _SMALL_ANGLE ** 2
    theta = torch.where(small, torch.ones_like(theta2), theta2).sqrt()
    theta = torch.where(small, torch.zeros_like(theta), theta)
    a = _sinc(theta, theta2, small)
    half = _sinc(0.5 * theta, 0.25 * theta2, small)
    b = 0.5 * half * half
    k = hat(omega)
    eye = torch.eye(3, dtype=omega.dtype, device=omega.device).expand_as(k)
    return eye + a[..., None, None] * k + b[..., None, None] * (k @ k)


def apply_pose_delta(viewmat: Tensor, omega: Tensor, v: Tensor) -> Tensor:
    """World-to-camera [..., 4, 4] ``viewmat`` moved by a camera-frame delta: ``[[exp(omega), v], [0, 1]] @ V``."""
    delta = torch.zeros(*omega.shape[:-1], 4, 4, dtype=viewmat.dtype, device=viewmat.device)
    delta[..., :3, :3] = so3_exp(omega)
    delta[..., :3, 3] = v
    delta[..., 3, 3] = 1.0
    return delta @ viewmat


def fold_focal_into_viewmat(viewmat: Tensor, scale: Tensor) -> Tensor:
    """``diag(s, s, 1, 1) @ viewmat``: rendering it with K == rendering ``viewmat`` with fx, fy scaled by s."""
    row_scale = torch.stack([scale, scale, torch.ones_like(scale), torch.ones_like(scale)], -1)
    return viewmat * row_scale[..., :, None]


def scale_focal(K: Tensor, scale: Tensor) -> Tensor:
    """[..., 3, 3] intrinsics with fx, fy multiplied by ``scale`` [...] (principal point unchanged)."""
    col_scale = torch.stack([scale, scale, torch.ones_like(scale)], -1)
    return K * col_scale[..., None, :]            # columns 0, 1: fx (and skew), fy; cx, cy untouched


# ------------------------------------------------------------------------------------------ module
class CameraDeltas(torch.nn.Module):
    """Learnable pose / focal corrections of C training cameras.

    Args:
        viewmats: [C, 4, 4] calibrated world-to-camera matrices (OpenCV).
        Ks: [C, 3, 3] calibrated intrinsics (pixels).
        gauge_index: the camera whose pose stays fixed (None = no pose held, e.g. for tests).
        refine_pose / refine_focal: which deltas learn (the others stay exactly zero).

    Parameters: ``rotations`` [C, 3] (rad), ``translations`` [C, 3] (scene units), ``log_focal`` [C]. Effective
    values are ``raw * mask`` (mask 0 for the gauge camera's pose and for disabled deltas), so a fixed entry
    gets zero gradient and stays exactly zero under any optimiser.
    """

    def __init__(self, viewmats: Tensor, Ks: Tensor, gauge_index: int | None = 0, *, refine_pose: bool = True,
                 refine_focal: bool = True):
        super().__init__()
        n = viewmats.shape[0]
        if viewmats.shape != (n, 4, 4) or Ks.shape != (n, 3, 3):
            raise ValueError(f"expected viewmats [C,4,4] and Ks [C,3,3], got {tuple(viewmats.shape)}, "
                             f"{tuple(Ks.shape)}")
        f = dict(dtype=torch.float32, device=viewmats.device)
        self.register_buffer("base_viewmats", viewmats.detach().to(**f).clone())
        self.register_buffer("base_Ks", Ks.detach().to(**f).clone())
        pose_mask = torch.full((n, 1), 1.0 if refine_pose else 0.0, **f)
        if gauge_index is not None:
            pose_mask[gauge_index] = 0.0
        self.register_buffer("pose_mask", pose_mask)
        self.register_buffer("focal_mask", torch.full((n,), 1.0 if refine_focal else 0.0, **f))
        self.rotations = torch.nn.Parameter(torch.zeros(n, 3, **f), requires_grad=refine_pose)
        self.translations = torch.nn.Parameter(torch.zeros(n, 3, **f), requires_grad=refine_pose)
        self.log_focal = torch.nn.Parameter(torch.zeros(n, **f), requires_grad=refine_focal)
        self.gauge_index = gauge_index

    def __len__(self) -> int:
        return self.base_viewmats.shape[0]

    def deltas(self, k: int) -> tuple[Tensor, Tensor, Tensor]:
        """(omega [3] rad, v [3] scene units, log focal scale []) of camera ``k`` (effective, masked)."""
        m = self.pose_mask[k]
        return self.rotations[k] * m, self.translations[k] * m, self.log_focal[k] * self.focal_mask[k]

    def refined(self, k: int) -> tuple[Tensor, Tensor]:
        """The true refined camera ``k``: (viewmat [4, 4] rigid world-to-camera, K [3, 3])."""
        omega, v, log_f = self.deltas(k)
        return apply_pose_delta(self.base_viewmats[k], omega, v), scale_focal(self.base_Ks[k], log_f.exp())

    def render_viewmat(self, k: int) -> Tensor:
        """[4, 4] viewmat to render camera ``k`` with its calibrated K (focal scale folded in, see module doc)."""
        omega, v, log_f = self.deltas(k)
        return fold_focal_into_viewmat(apply_pose_delta(self.base_viewmats[k], omega, v), log_f.exp())


# ------------------------------------------------------------------------------------------ feature
class CameraRefiner(OwnOptimizerFeature):
    """Learns :class:`CameraDeltas` with its own Adam between ``cfg.start_iter`` and ``cfg.stop_iter``.

    Args:
        deltas: the CameraDeltas of the training cameras (cam_pos order).
        cfg: CameraConfig.
        names: training camera names (cam_pos order), for the saved file.
        sizes: (width, height) per training camera.
        extent: scene extent; the translation lr is ``cfg.pose_lr * extent``.
        model_path: where ``cameras_refined.json`` is written (None: never written).
        save_iterations: iterations at which weights are saved (the file is refreshed there too).

    A :class:`sync4dgs.train.feature.CameraFeature` contributing the camera (:meth:`adjust_camera`). Under
    torchrun every rank renders its own view; the deltas' gradients are averaged over ranks with every other
    trainable (sync4dgs/train/distributed/hooks.py); only rank 0 writes the file.
    """

    name = "camera"

    def __init__(self, deltas: CameraDeltas, cfg: CameraConfig, names: list[str], sizes: list[tuple[int, int]],
                 extent: float = 1.0, model_path: Path | None = None, save_iterations: list[int] | None = None):
        if len(names) != len(deltas) or len(sizes) != len(deltas):
            raise ValueError(f"{len(deltas)} cameras but {len(names)} names and {len(sizes)} sizes")
        self.deltas, self.cfg, self.names, self.sizes = deltas, cfg, list(names), list(sizes)
        self.model_path = None if model_path is None else Path(model_path)
        self.save_iterations = set(save_iterations or [])
        groups = []
        if cfg.refine_pose:
            groups += [{"params": [deltas.rotations], "lr": cfg.pose_lr},
                       {"params": [deltas.translations], "lr": cfg.pose_lr * extent}]
        if cfg.refine_focal:
            groups.append({"params": [deltas.log_focal], "lr": cfg.focal_lr})
        if not groups:
            raise ConfigError("camera refinement needs camera.refine_pose and/or camera.refine_focal")
        self.optimizer = torch.optim.Adam(groups)

    def learning(self, step: int) -> bool:
        return step > self.cfg.start_iter and (self.cfg.stop_iter <= 0 or step <= self.cfg.stop_iter)

    def camera(self, cam_pos: int, step: int) -> RenderCameras:
        """RenderCameras (C=1) of training camera ``cam_pos`` for iteration ``step`` (differentiable while
        learning; the calibrated camera exactly while all deltas are zero)."""
        with torch.set_grad_enabled(self.learning(step) and torch.is_grad_enabled()):
            viewmat = self.deltas.render_viewmat(cam_pos)
        w, h = self.sizes[cam_pos]
        return RenderCameras(viewmats=viewmat[None], Ks=self.deltas.base_Ks[cam_pos][None], width=w, height=h)

    def adjust_camera(self, camera: RenderCameras, cam_pos: int, step: int) -> RenderCameras:
        return self.camera(cam_pos, step)

    def write(self, iteration: int) -> Path:
        return write_refined_cameras(self.model_path, refined_cameras_dict(self.deltas, self.names, iteration))

    state_key = "deltas"
    missing_state_note = "checkpoint has no camera refinement state; camera deltas start at zero"

    def learned_module(self) -> torch.nn.Module:
        return self.deltas


# ------------------------------------------------------------------------------------------ outputs
@torch.no_grad()
def refined_cameras_dict(deltas: CameraDeltas, names: list[str], iteration: int) -> dict[str, Any]:
    """JSON-ready {camera name: refined R, t, K and the deltas} (scene coordinates, as scene.json)."""
    cams = {}
    for k, name in enumerate(names):
        viewmat, K = (x.double().cpu().numpy() for x in deltas.refined(k))
        omega, v, log_f = (x.double().cpu().numpy() for x in deltas.deltas(k))
        cams[name] = {"R": viewmat[:3, :3].tolist(), "t": viewmat[:3, 3].tolist(), "K": K.tolist(),
                      "delta": {"rotation_rad": omega.tolist(),
                                "rotation_deg": float(np.degrees(np.linalg.norm(omega))),
                                "translation": v.tolist(), "focal_log_scale": float(log_f),
                                "focal_scale": float(np.exp(log_f))},
                      "pose_fixed": deltas.gauge_index == k or not bool(deltas.pose_mask.any())}
    gauge = names[deltas.gauge_index] if deltas.gauge_index is not None else None
    return {"iteration": int(iteration), "gauge_camera": gauge,
            "convention": "x_cam = R x_world + t (OpenCV, scene coordinates); R = exp(rotation_rad) R0, "
                          "t = exp(rotation_rad) t0 + translation; fx, fy = focal_scale x calibrated",
            "cameras": cams}


def gauge_camera_index(train_names: list[str], reference_camera: str) -> int:
    """Training camera whose pose is fixed: the reference camera if it trains, else the first training camera."""
    return train_names.index(reference_camera) if reference_camera in train_names else 0


def build_camera_refiner(cfg: CameraConfig, train_names: list[str], reference_camera: str,
                         cameras: list[RenderCameras], extent: float, model_path: Path | None,
                         save_iterations: list[int], time_warmup_iterations: int) -> CameraRefiner:
    """The refiner for the session's training cameras (``cameras``: their calibrated RenderCameras, C=1 each)."""
    if not cfg.enabled:
        raise ConfigError("build_camera_refiner: camera.refine_pose and camera.refine_focal are both false")
    if cfg.start_iter > time_warmup_iterations:
        log.warning("camera.start_iter (%d) is after time.warmup_iterations (%d): time maps start learning "
                    "before the camera poses", cfg.start_iter, time_warmup_iterations)
    gauge = gauge_camera_index(train_names, reference_camera) if cfg.refine_pose else None
    deltas = CameraDeltas(torch.cat([c.viewmats for c in cameras]), torch.cat([c.Ks for c in cameras]), gauge,
                          refine_pose=cfg.refine_pose, refine_focal=cfg.refine_focal)
    what = " + ".join(n for n, on in (("pose", cfg.refine_pose), ("focal", cfg.refine_focal)) if on)
    log.info("camera refinement (%s) of %d training cameras from iteration %d%s", what, len(train_names),
             cfg.start_iter, f"; {train_names[gauge]}'s pose is fixed (gauge)" if gauge is not None else "")
    return CameraRefiner(deltas, cfg, train_names, [(c.width, c.height) for c in cameras], extent, model_path,
                         save_iterations)
