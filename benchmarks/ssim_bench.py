"""Which separable-blur layout is fastest for the training SSIM (11-tap Gaussian, 15 maps at 1352x1014)?

Not a test. Times forward and forward+backward of the blur of a [1, 15, H, W] stack (the 5 SSIM moments x RGB)
in several memory layouts / cuDNN settings, checks they agree, and prints a table.

    python benchmarks/ssim_bench.py [--device cuda] [--res 1352x1014] [--out ssim_bench.json]
"""

from __future__ import annotations

import argparse
import json
import time

import torch
import torch.nn.functional as F


def gauss(k: int = 11, sigma: float = 1.5, device="cpu") -> torch.Tensor:
    x = torch.arange(k, dtype=torch.float64) - (k - 1) / 2
    g = torch.exp(-(x ** 2) / (2 * sigma ** 2))
    return (g / g.sum()).float().to(device)


def blur_grouped(x, win):
    ch, k = x.shape[1], win.numel()
    x = F.conv2d(x, win.view(1, 1, 1, k).expand(ch, 1, 1, k), padding=(0, k // 2), groups=ch)
    return F.conv2d(x, win.view(1, 1, k, 1).expand(ch, 1, k, 1), padding=(k // 2, 0), groups=ch)


def blur_batched(x, win):
    b, ch, h, w = x.shape
    k = win.numel()
    y = x.reshape(b * ch, 1, h, w)
    y = F.conv2d(y, win.view(1, 1, 1, k), padding=(0, k // 2))
    y = F.conv2d(y, win.view(1, 1, k, 1), padding=(k // 2, 0))
    return y.reshape(b, ch, h, w)


def blur_shift(x, win):
    """Sum of shifted copies (zero padding), two passes."""
    k = win.numel()
    r = k // 2
    p = F.pad(x, (r, r, 0, 0))
    y = sum(win[i] * p[..., :, i:i + x.shape[-1]] for i in range(k))
    p = F.pad(y, (0, 0, r, r))
    return sum(win[i] * p[..., i:i + x.shape[-2], :] for i in range(k))


def timed(fn, reps: int, device) -> float:
    for _ in range(3):
        fn()
    if device.type == "cuda":
        torch.cuda.synchronize()
    t = time.perf_counter()
    for _ in range(reps):
        fn()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return (time.perf_counter() - t) / reps * 1e3


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--res", default="1352x1014")
    ap.add_argument("--reps", type=int, default=50)
    ap.add_argument("--out", default=None)
    a = ap.parse_args()
    dev = torch.device(a.device)
    w, h = (int(v) for v in a.res.split("x"))
    g = torch.Generator(device="cpu").manual_seed(0)
    img = torch.rand(1, h, w, 15, generator=g).to(dev)
    win = gauss(device=dev)
    variants = {
        "grouped, permuted input (current)": (blur_grouped, lambda: img.permute(0, 3, 1, 2)),
        "grouped, contiguous NCHW": (blur_grouped, lambda: img.permute(0, 3, 1, 2).contiguous()),
        "channels as batch, NCHW": (blur_batched, lambda: img.permute(0, 3, 1, 2).contiguous()),
        "shifted adds, NCHW": (blur_shift, lambda: img.permute(0, 3, 1, 2).contiguous()),
    }
    ref = blur_grouped(img.permute(0, 3, 1, 2).double(), win.double())
    rows = []
    for bench in (False, True):
        if dev.type == "cuda":
            torch.backends.cudnn.benchmark = bench
        elif bench:
            continue
        for name, (fn, make) in variants.items():
            x = make().detach().requires_grad_(True)
            err = float((fn(x.detach(), win).double() - ref).abs().max())

            def fwd():
                with torch.no_grad():
                    fn(x, win)

            def fwdbwd():
                fn(x, win).sum().backward()
                x.grad = None
            rows.append({"variant": name, "cudnn_benchmark": bench, "fwd_ms": timed(fwd, a.reps, dev),
                         "fwd_bwd_ms": timed(fwdbwd, a.reps, dev), "max_abs_err": err})
    print(f"| variant | cudnn.benchmark | fwd ms | fwd+bwd ms | max err |  ({a.res}, {dev})")
    print("|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['variant']} | {r['cudnn_benchmark']} | {r['fwd_ms']:.3f} | {r['fwd_bwd_ms']:.3f} | {r['max_abs_err']:.1e} |")
    if a.out:
        with open(a.out, "w") as f:
            json.dump({"device": torch.cuda.get_device_name(dev) if dev.type == "cuda" else "cpu", "rows": rows}, f,
                      indent=1)


if __name__ == "__main__":
    main()
