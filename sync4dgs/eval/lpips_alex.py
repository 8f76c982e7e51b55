"""LPIPS (v0.1, AlexNet backbone) in plain torch, without torchvision or the ``lpips`` package.

Neither machine this product runs on has the AlexNet weights, and they cannot be downloaded there, so LPIPS is
computed only when the user supplies the two weight files (both are plain state dicts, loadable with
``torch.load(weights_only=True)``):

* the ImageNet AlexNet backbone of torchvision, ``alexnet-owt-7be5be79.pth`` (keys ``features.{0,3,6,8,10}.*``);
* the LPIPS linear heads of the ``lpips`` package, ``lpips/weights/v0.1/alex.pth`` (keys ``lin{0..4}.model.1.weight``).

``--lpips_weights PATH`` accepts a folder holding both files, or one ``.pth`` file holding both key sets.
The network follows Zhang et al. (2018) / the ``lpips`` package: inputs in [-1, 1] (we map [0, 1] images with
``2x - 1``, i.e. ``lpips.LPIPS(...)(x, y, normalize=True)``), scaling layer, the five ReLU taps of AlexNet's
feature stack, channel-wise unit normalisation, squared difference, 1x1 linear heads, spatial mean, sum.
This re-implementation has NOT been checked numerically against the ``lpips`` package (which cannot be installed
next to our torch); treat its values as unverified until someone compares them on a machine with both.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor

from sync4dgs.errors import DataFormatError

# (state-dict index in torchvision's alexnet.features, out channels, in channels, kernel, stride, padding)
_CONVS = ((0, 64, 3, 11, 4, 2), (3, 192, 64, 5, 1, 2), (6, 384, 192, 3, 1, 1), (8, 256, 384, 3, 1, 1),
          (10, 256, 256, 3, 1, 1))
_SHIFT = (-0.030, -0.088, -0.188)
_SCALE = (0.458, 0.448, 0.450)
BACKBONE_FILE = "alexnet-owt-7be5be79.pth"
MIN_SIZE = 31          # smallest image side AlexNet's conv/pool stack accepts (px)
HEADS_FILE = "alex.pth"


@dataclass
class LpipsAlex:
    """Frozen LPIPS-Alex weights: conv (weight, bias) pairs for the 5 layers and the 5 linear heads [1, C, 1, 1]."""

    convs: list[tuple[Tensor, Tensor]]
    heads: list[Tensor]

    def to(self, device: torch.device | str) -> "LpipsAlex":
        return LpipsAlex([(w.to(device), b.to(device)) for w, b in self.convs], [h.to(device) for h in self.heads])

    def _features(self, x: Tensor) -> list[Tensor]:
        """x: [B, 3, H, W] in [-1, 1] -> the 5 ReLU activations."""
        shift = x.new_tensor(_SHIFT).view(1, 3, 1, 1)
        scale = x.new_tensor(_SCALE).view(1, 3, 1, 1)
        h = (x - shift) / scale
        feats = []
        for i, ((w, b), (_idx, _co, _ci, _k, stride, pad)) in enumerate(zip(self.convs, _CONVS)):
            if i in (1, 2):                                    # max-pool before conv2 and conv3
                h = F.max_pool2d(h, kernel_size=3, stride=2)
            h = F.relu(F.conv2d(h, w, b, stride=stride, padding=pad))
            feats.append(h)
        return feats

    @torch.no_grad()
    def __call__(self, a: Tensor, b: Tensor) -> Tensor:
        """Per-image LPIPS [B] of images [B, H, W, 3] (or [H, W, 3]) in [0, 1]; 0 for identical images."""
        if a.ndim == 3:
            a, b = a[None], b[None]
        if a.shape != b.shape:
            raise ValueError(f"image shapes differ: {tuple(a.shape)} vs {tuple(b.shape)}")
        if min(a.shape[1], a.shape[2]) < MIN_SIZE:
            raise ValueError(f"LPIPS-Alex needs images of at least {MIN_SIZE}x{MIN_SIZE} px, got {a.shape[2]}x{a.shape[1]}")
        dtype = self.heads[0].dtype
        x = a.permute(0, 3, 1, 2).to(dtype) * 2 - 1
        y = b.permute(0, 3, 1, 2).to(dtype) * 2 - 1
        total = torch.zeros(x.shape[0], dtype=dtype, device=x.device)
        for fx, fy, head in zip(self._features(x), self._features(y), self.heads):
            nx = fx / (torch.sqrt((fx ** 2).sum(1, keepdim=True)) + 1e-10)
            ny = fy / (torch.sqrt((fy ** 2).sum(1, keepdim=True)) + 1e-10)
            total = total + F.conv2d((nx - ny) ** 2, head).mean(dim=(1, 2, 3))
        return total


def _load_state(path: Path) -> dict[str, Tensor]:
    try:
        sd = torch.load(path, map_location="cpu", weights_only=True)
    except (OSError, RuntimeError, ValueError) as e:  # pickle/zip errors surface as RuntimeError
        raise DataFormatError(path, f"cannot read LPIPS weights: {e}") from e
    if not isinstance(sd, dict):
        raise DataFormatError(path, "LPIPS weights must be a state dict")
    return sd


def _find(folder: Path, names: tuple[str, ...], globs: tuple[str, ...]) -> Path | None:
    for n in names:
        if (folder / n).is_file():
            return folder / n
    for g in globs:
        hits = sorted(folder.glob(g))
        if hits:
            return hits[0]
    return None


def load_lpips_alex(path: str | Path) -> LpipsAlex:
    """Load LPIPS-Alex from a folder (backbone + heads files) or a single combined state-dict file.

    Raises DataFormatError naming the path and the missing/mis-shaped key.
    """
    path = Path(path)
    if path.is_dir():
        backbone = _find(path, (BACKBONE_FILE,), ("alexnet*.pth",))
        heads = _find(path, (HEADS_FILE,), ("*lpips*alex*.pth",))
        if backbone is None or heads is None:
            raise DataFormatError(path, f"folder must contain the AlexNet backbone ({BACKBONE_FILE}) and the LPIPS "
                                        f"heads ({HEADS_FILE}); found backbone={backbone}, heads={heads}")
        sd = {**_load_state(backbone), **_load_state(heads)}
    elif path.is_file():
        sd = _load_state(path)
    else:
        raise DataFormatError(path, "LPIPS weights not found")
    convs, lins = [], []
    for idx, co, ci, k, _s, _p in _CONVS:
        w, b = sd.get(f"features.{idx}.weight"), sd.get(f"features.{idx}.bias")
        if w is None or b is None or tuple(w.shape) != (co, ci, k, k) or tuple(b.shape) != (co,):
            raise DataFormatError(path, f"AlexNet key features.{idx}.weight/bias missing or not of shape "
                                        f"({co}, {ci}, {k}, {k})/({co},)")
        convs.append((w.float(), b.float()))
    for i, (_idx, co, *_rest) in enumerate(_CONVS):
        h = sd.get(f"lin{i}.model.1.weight")
        if h is None or tuple(h.shape) != (1, co, 1, 1):
            raise DataFormatError(path, f"LPIPS head lin{i}.model.1.weight missing or not of shape (1, {co}, 1, 1)")
        lins.append(h.float())
    return LpipsAlex(convs, lins)
