"""Learnable per-camera time maps: ``t_global_s = offset_s[k] + rate[k] * tau_s`` (sync4dgs/timemap.py).

The reference camera fixes the gauge at (0, 1) EXACTLY under any optimiser: the raw parameters are combined
with a constant mask buffer (0 for the reference, 1 elsewhere), so the reference entries get zero gradient
and, even if an optimiser (e.g. weight decay) moved the raw values, the effective values stay 0 and 1.
"""

from __future__ import annotations

import logging

import torch
from torch import Tensor

from sync4dgs.timemap import TimeMap, TimeMaps, rereference

log = logging.getLogger(__name__)


def _values_on(maps: TimeMaps, reference_camera: str) -> dict[str, tuple[float, float]]:
    """(offset_s, rate) per camera on ``reference_camera``'s clock (:func:`sync4dgs.timemap.rereference`); maps
    without that camera are taken as they are."""
    if reference_camera in maps.cameras:
        maps = rereference(maps, reference_camera)
    return {n: (m.offset_s, m.rate) for n, m in maps.cameras.items()}


class CameraTimeModel(torch.nn.Module):
    """Learnable per-camera time maps.

    offsets_s: Parameter [C] (seconds); rates: Parameter [C] (requires_grad = learn_rate). Use
    ``offset_values_s()`` / ``rate_values()`` (or ``t_global_s``) for the effective, gauge-fixed values.
    """

    def __init__(self, camera_names: list[str], reference_camera: str, init: TimeMaps | None = None,
                 learn_rate: bool = False, dtype: torch.dtype = torch.float32):
        super().__init__()
        if reference_camera not in camera_names:
            raise ValueError(f"reference camera {reference_camera!r} is not among {camera_names}")
        if len(set(camera_names)) != len(camera_names):
            raise ValueError(f"camera names must be unique, got {camera_names}")
        self.camera_names = list(camera_names)
        self.reference_index = self.camera_names.index(reference_camera)
        self.learn_rate = learn_rate
        offsets, rates, conf = [0.0] * len(camera_names), [1.0] * len(camera_names), [1.0] * len(camera_names)
        if init is not None:
            values = _values_on(init, reference_camera)
            missing = [n for n in camera_names if n not in values]
            if missing:
                log.warning("initial time maps lack cameras %s; they start at offset 0, rate 1", missing)
            for i, name in enumerate(camera_names):
                if name in values:
                    offsets[i], rates[i] = values[name]
                    conf[i] = init.cameras[name].confidence
        mask = torch.ones(len(camera_names), dtype=dtype)
        mask[self.reference_index] = 0.0
        self.register_buffer("gauge_mask", mask)
        self.offsets_s = torch.nn.Parameter(torch.tensor(offsets, dtype=dtype) * mask)
        self.rates = torch.nn.Parameter(1 + (torch.tensor(rates, dtype=dtype) - 1) * mask, requires_grad=learn_rate)
        self._confidence = conf

    @classmethod
    def from_time_maps(cls, maps: TimeMaps, camera_names: list[str] | None = None,
                       learn_rate: bool = False) -> "CameraTimeModel":
        """Model initialised from ``maps`` (cameras default to all in maps, reference = maps' reference)."""
        names = list(maps.cameras) if camera_names is None else camera_names
        return cls(names, maps.reference_camera, maps, learn_rate)

    def index(self, name: str) -> int:
        return self.camera_names.index(name)

    def offset_values_s(self) -> Tensor:
        """[C] effective offsets (seconds); exactly 0 for the reference camera."""
        return self.offsets_s * self.gauge_mask

    def rate_values(self) -> Tensor:
        """[C] effective rates; exactly 1 for the reference camera."""
        return 1 + (self.rates - 1) * self.gauge_mask

    def t_global_s(self, cam_idx: int | Tensor, tau_s: float | Tensor) -> Tensor:
        """Global time (s) of local time(s) ``tau_s`` of camera(s) ``cam_idx``; differentiable in offset/rate.

        cam_idx: int or long tensor (any shape broadcasting with tau_s); tau_s: seconds (float or tensor).
        """
        off = self.offset_values_s()[cam_idx]
        rate = self.rate_values()[cam_idx]
        if not torch.is_tensor(tau_s):
            tau_s = torch.full((), float(tau_s), dtype=off.dtype, device=off.device)
        return off + rate * tau_s.to(off.dtype)

    @torch.no_grad()
    def reset_gauge_(self) -> None:
        """Write the exact gauge values into the raw reference entries (cosmetic; effective values are exact)."""
        self.offsets_s[self.reference_index] = 0.0
        self.rates[self.reference_index] = 1.0

    @torch.no_grad()
    def load_time_maps_(self, maps: TimeMaps) -> None:
        """Overwrite the values of the cameras present in ``maps`` (re-gauged to this model's reference)."""
        values = _values_on(maps, self.camera_names[self.reference_index])
        for i, name in enumerate(self.camera_names):
            if name in values:
                self.offsets_s[i], self.rates[i] = values[name]
                self._confidence[i] = maps.cameras[name].confidence
        self.reset_gauge_()

    def to_time_maps(self) -> TimeMaps:
        """Current effective maps; statuses "reference" / "aligned" (host sync)."""
        off = self.offset_values_s().detach().cpu().double().tolist()
        rate = self.rate_values().detach().cpu().double().tolist()
        cams = {}
        for i, name in enumerate(self.camera_names):
            ref = i == self.reference_index
            cams[name] = TimeMap(offset_s=float(off[i]), rate=float(rate[i]),
                                 confidence=1.0 if ref else float(self._confidence[i]),
                                 status="reference" if ref else "aligned")
        return TimeMaps(self.camera_names[self.reference_index], cams)
