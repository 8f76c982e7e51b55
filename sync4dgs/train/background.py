"""Which background training composites the Gaussians over: random colours, or the scene's empty background.

Random backgrounds (Ex4DGS, ``train.random_background``) make every pixel's colour come from Gaussians, so a model
cannot leave see-through holes: right for real, enclosed scenes. Scenes filmed or rendered in front of an EMPTY
background (synthetic renders over a black or white void, masked lab footage, letterboxed video) show that void as
pure black or pure white pixels. With random backgrounds, training must grow opaque black (or white) Gaussians to
cover it, and some of them sit in front of the scene for other views: black dots, needles and a haze along
silhouettes (measured on benchmarks/other_renderer_scene.py, whose wall stands before a black void: static region
22.6 -> 25.5 dB with the black background; see benchmarks/RESULTS.md, session 7).

So, when ``train.detect_void`` is on (default) and backgrounds are random, a few frames of every training camera are
checked first: if at least ``train.void_fraction`` of their pixels are pure black (every channel <= 2 of 255) or
pure white (>= 253), training uses that colour as a fixed background instead, and the model folder records it
(weights meta ``background``), so that evaluation, export and the viewer render over the same colour.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

__all__ = ["VOID_LEVELS", "BackgroundChoice", "void_fractions", "choose_background", "sample_frame_indices"]

# uint8 ranges (inclusive) of a pixel whose three channels all lie in them: an empty background of that colour
VOID_LEVELS = {"black": (0, 2), "white": (253, 255)}
VOID_RGB = {"black": (0.0, 0.0, 0.0), "white": (1.0, 1.0, 1.0)}


@dataclass(frozen=True)
class BackgroundChoice:
    """random: random colours each iteration; else ``rgb`` (0..1) behind every training image.

    void_fraction: the measured fraction of sampled pixels per void colour (empty when not measured);
    reason: one line for the log and the model folder.
    """

    random: bool
    rgb: tuple[float, float, float]
    void_fraction: dict[str, float]
    reason: str

    def to_dict(self) -> dict:
        return {"random": self.random, "rgb": list(self.rgb), "void_fraction": dict(self.void_fraction),
                "reason": self.reason}


def void_fractions(frames: Iterable[Tensor | np.ndarray]) -> dict[str, float]:
    """Fraction of pixels (over all ``frames``, each uint8 [H, W, 3]) that are pure black / pure white.

    Returns {"black": f, "white": f} (0 when no frame is given)."""
    counts = {k: 0 for k in VOID_LEVELS}
    total = 0
    for img in frames:
        t = img if isinstance(img, Tensor) else torch.from_numpy(np.array(img))  # a copy: read-only arrays too
        if t.dtype != torch.uint8 or t.dim() != 3 or t.shape[-1] != 3:
            raise ValueError(f"void_fractions expects uint8 [H, W, 3] frames, got {t.dtype} {tuple(t.shape)}")
        lo, hi = t.amin(-1), t.amax(-1)                  # [H, W] darkest / brightest channel
        for name, (a, b) in VOID_LEVELS.items():
            counts[name] += int(((lo >= a) & (hi <= b)).sum())
        total += t.shape[0] * t.shape[1]
    return {k: (v / total if total else 0.0) for k, v in counts.items()}


def sample_frame_indices(n_frames: int, per_camera: int) -> list[int]:
    """Up to ``per_camera`` frame indices spread evenly over a camera's ``n_frames`` (first and last included)."""
    if n_frames <= 0:
        return []
    k = min(per_camera, n_frames)
    return sorted({int(round(i * (n_frames - 1) / max(k - 1, 1))) for i in range(k)})


def choose_background(random_background: bool, fixed_rgb: list[float], detect_void: bool, min_fraction: float,
                      frames: Iterable[Tensor | np.ndarray]) -> BackgroundChoice:
    """The background of a run (see the module docstring). ``frames`` are read only when they can matter
    (random backgrounds with void detection on)."""
    fixed = (float(fixed_rgb[0]), float(fixed_rgb[1]), float(fixed_rgb[2]))
    if not random_background:
        return BackgroundChoice(False, fixed, {}, "train.random_background is false: the fixed train.background")
    if not detect_void:
        return BackgroundChoice(True, fixed, {}, "random backgrounds (train.detect_void is false)")
    frac = void_fractions(frames)
    name = max(frac, key=frac.get)
    if frac[name] >= min_fraction:
        return BackgroundChoice(False, VOID_RGB[name], frac,
                                f"{100 * frac[name]:.1f}% of the sampled training pixels are pure {name} (an empty "
                                f"background, >= train.void_fraction {min_fraction:g}): training on a {name} "
                                f"background (train.detect_void false keeps random ones)")
    return BackgroundChoice(True, fixed, frac,
                            f"random backgrounds (pure black {100 * frac['black']:.1f}%, pure white "
                            f"{100 * frac['white']:.1f}% of the sampled training pixels: no empty background)")
