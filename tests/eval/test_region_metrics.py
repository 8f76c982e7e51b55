"""Moving/static region PSNR and SSIM against float64 numpy references."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from sync4dgs.eval.image_metrics import PSNR_CAP_DB, SSIM_WIN, ssim, ssim_map, ssim_maps
from sync4dgs.eval.region_metrics import aggregate_regions, masked_psnr, masked_ssim, region_values

H, W = 24, 32


def _pair(seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(gt, render, moving mask): the render equals the gt outside a 8x10 block and is unrelated noise inside."""
    rng = np.random.default_rng(seed)
    gt = rng.uniform(0, 1, (H, W, 3))
    mask = np.zeros((H, W), dtype=bool)
    mask[6:14, 10:20] = True
    render = gt.copy()
    render[mask] = rng.uniform(0, 1, (mask.sum(), 3))
    return gt, render, mask


def _np_psnr(a: np.ndarray, b: np.ndarray, mask: np.ndarray) -> float:
    d = (a[mask] - b[mask]) ** 2                       # [n, 3]
    mse = d.mean()
    return PSNR_CAP_DB if mse == 0 else min(PSNR_CAP_DB, 10 * math.log10(1.0 / mse))


def _np_ssim_map(a: np.ndarray, b: np.ndarray, data_range: float = 1.0) -> np.ndarray:
    """scikit-image's uniform-window SSIM map [H-6, W-6] (mean over channels), written out with loops."""
    n = SSIM_WIN * SSIM_WIN
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    out = np.zeros((H - SSIM_WIN + 1, W - SSIM_WIN + 1))
    for i in range(out.shape[0]):
        for j in range(out.shape[1]):
            vals = []
            for c in range(3):
                x = a[i:i + SSIM_WIN, j:j + SSIM_WIN, c].ravel()
                y = b[i:i + SSIM_WIN, j:j + SSIM_WIN, c].ravel()
                ux, uy = x.mean(), y.mean()
                vx, vy = x.var(ddof=1), y.var(ddof=1)
                vxy = ((x - ux) * (y - uy)).sum() / (n - 1)
                vals.append(((2 * ux * uy + c1) * (2 * vxy + c2)) / ((ux ** 2 + uy ** 2 + c1) * (vx + vy + c2)))
            out[i, j] = np.mean(vals)
    return out


def _t(x: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(x)


def test_masked_psnr_matches_numpy_and_separates_regions():
    gt, render, mask = _pair()
    moving = float(masked_psnr(_t(render), _t(gt), _t(mask))[0])
    static = float(masked_psnr(_t(render), _t(gt), _t(~mask))[0])
    assert moving == pytest.approx(_np_psnr(render, gt, mask), abs=1e-10)
    assert static == PSNR_CAP_DB                       # perfect outside the moving block
    assert moving < 15.0
    full_mse = ((render - gt) ** 2).mean()
    assert 10 * math.log10(1 / full_mse) > moving + 5   # full-frame PSNR hides the moving error


def test_masked_ssim_is_the_map_mean_over_the_region():
    gt, render, mask = _pair(1)
    ref_map = _np_ssim_map(render, gt)
    smap = ssim_map(_t(render), _t(gt))
    assert smap.shape == (1, 3, H - 6, W - 6)
    np.testing.assert_allclose(smap[0].mean(0).numpy(), ref_map, atol=1e-12)
    centre = mask[3:H - 3, 3:W - 3]
    moving = float(masked_ssim(smap, _t(mask))[0])
    static = float(masked_ssim(smap, _t(~mask))[0])
    assert moving == pytest.approx(ref_map[centre].mean(), abs=1e-12)
    assert static == pytest.approx(ref_map[~centre].mean(), abs=1e-12)
    assert static > 0.8 and moving < 0.4
    # the full-frame value is unchanged by the refactor into ssim_maps
    assert float(ssim(_t(render), _t(gt))[0]) == pytest.approx(ref_map.mean(), abs=1e-12)
    m1, m2 = ssim_maps(_t(render), _t(gt), (1.0, 2.0))
    assert torch.equal(m1, smap) and torch.equal(m2, ssim_map(_t(render), _t(gt), 2.0))


def test_empty_masks_are_nan_then_skipped_and_counted():
    gt, render, mask = _pair(2)
    empty = np.zeros_like(mask)
    assert math.isnan(float(masked_psnr(_t(render), _t(gt), _t(empty))[0]))
    assert math.isnan(float(masked_ssim(ssim_map(_t(render), _t(gt)), _t(empty))[0]))
    border_only = np.zeros_like(mask)
    border_only[0, :] = True                           # no SSIM window is centred on row 0
    smap = ssim_map(_t(render), _t(gt))
    v_border = region_values(_t(render), _t(gt), smap, {"moving": _t(border_only)})["moving"]
    assert v_border["psnr"] == PSNR_CAP_DB and v_border["ssim"] is None
    rows = [region_values(_t(render), _t(gt), smap, {"moving": _t(m), "static": _t(~m)})
            for m in (mask, empty, border_only)]
    assert rows[1]["moving"] == {"psnr": None, "ssim": None, "coverage": 0.0}
    agg = aggregate_regions(rows)
    mov = agg["moving"]
    assert mov["n_images"] == 2 and mov["n_empty"] == 1 and mov["n_images_ssim"] == 1
    assert mov["psnr"] == pytest.approx((_np_psnr(render, gt, mask) + PSNR_CAP_DB) / 2, abs=1e-10)
    assert mov["ssim"] == pytest.approx(rows[0]["moving"]["ssim"])
    assert mov["coverage"] == pytest.approx((mask.mean() + 0 + border_only.mean()) / 3)
    assert agg["static"]["n_images"] == 3 and agg["static"]["n_empty"] == 0


def test_batched_masks_and_shape_errors():
    gt, render, mask = _pair(3)
    a = _t(np.stack([render, gt]))
    b = _t(np.stack([gt, gt]))
    m = _t(np.stack([mask, mask]))
    p = masked_psnr(a, b, m)
    assert p[1] == PSNR_CAP_DB and p[0] == pytest.approx(_np_psnr(render, gt, mask))
    with pytest.raises(ValueError, match="mask"):
        masked_psnr(_t(render), _t(gt), _t(mask[:-1]))
