"""How much does a live viewer slow training down? (not a test; target: < 10 %)

Runs the same training-like loop (at_time + render + L1 + backward + Adam on a random 4D model) without a viewer,
then once per variant with a viewer attached through ViewerCallback while a scripted browser keeps moving its
camera (the worst case: the viewer re-renders continuously at its max_fps), and without again (noise).

Variants (``--variants``, comma-separated): ``process`` / ``thread`` = where the scripted browser runs (a real
browser is another process: ``thread`` also charges the client's own websocket work to the training process),
``+nostream`` = the viewer renders on the default CUDA stream instead of its own.

    python benchmarks/viewer_overhead.py --out viewer_overhead.json                  # GPU defaults
    python benchmarks/viewer_overhead.py --device cpu --n_static 2000 --n_dynamic 500 --width 64 --height 48 --iters 30
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing
import socket
import threading
import time

import numpy as np
import torch

from sync4dgs.model.config import ModelConfig
from sync4dgs.model.gaussians4d import Gaussians4D
from sync4dgs.render import render
from sync4dgs.render.types import RenderCameras
from sync4dgs.utils.device import resolve_device
from sync4dgs.viewer.callback import start_training_viewer
from sync4dgs.viewer.ws_client import ScriptedViserClient


def random_model(n_static: int, n_dynamic: int, n_keys: int, device: torch.device, seed: int = 0) -> Gaussians4D:
    g = torch.Generator().manual_seed(seed)
    cfg = ModelConfig(sh_degree=3)
    B = cfg.num_sh_bases

    def common(n: int) -> dict[str, torch.Tensor]:
        return {"scales": torch.full((n, 3), math.log(0.01)) + 0.3 * torch.randn(n, 3, generator=g),
                "opacities": torch.randn(n, generator=g), "sh0": torch.randn(n, 1, 3, generator=g),
                "shN": 0.1 * torch.randn(n, B - 1, 3, generator=g)}

    static = {"means": torch.randn(n_static, 3, generator=g),
              "quats": torch.nn.functional.normalize(torch.randn(n_static, 4, generator=g), dim=-1),
              **common(n_static)}
    base = 0.5 * torch.randn(n_dynamic, 1, 3, generator=g)
    dynamic = {"key_means": base + 0.05 * torch.randn(n_dynamic, n_keys, 3, generator=g).cumsum(1),
               "key_quats": torch.nn.functional.normalize(torch.randn(n_dynamic, n_keys, 4, generator=g), dim=-1),
               "t_center": torch.rand(n_dynamic, 2, generator=g) * 2.0, "t_logwidth": torch.full((n_dynamic, 2), -1.0),
               **common(n_dynamic)}
    return Gaussians4D(cfg, static, dynamic, -0.2, 0.2).to(device)


def ring_cameras(n: int, width: int, height: int, device: torch.device) -> list[RenderCameras]:
    cams = []
    for i in range(n):
        a = 2 * math.pi * i / n
        pos = np.array([4 * math.cos(a), -0.5, 4 * math.sin(a)])
        z = -pos / np.linalg.norm(pos)
        x = np.cross(z, [0.0, -1.0, 0.0])
        x /= np.linalg.norm(x)
        R_c2w = np.stack([x, np.cross(z, x), z], 1)
        vm = np.eye(4)
        vm[:3, :3], vm[:3, 3] = R_c2w.T, -R_c2w.T @ pos
        f = 0.8 * width
        K = np.array([[f, 0, width / 2], [0, f, height / 2], [0, 0, 1]])
        cams.append(RenderCameras(torch.tensor(vm, dtype=torch.float32, device=device)[None],
                                  torch.tensor(K, dtype=torch.float32, device=device)[None], width, height))
    return cams


def train_loop(model: Gaussians4D, cams: list[RenderCameras], iters: int, warmup: int, hook=None) -> float:
    """Seconds per iteration of a training-like step (after ``warmup`` iterations)."""
    dev = model.key_t0_s.device
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)
    target = torch.rand(cams[0].height, cams[0].width, 3, device=dev, generator=torch.Generator(dev).manual_seed(1))
    rng = np.random.default_rng(0)
    start = 0.0
    for it in range(warmup + iters):
        if it == warmup:
            if dev.type == "cuda":
                torch.cuda.synchronize()
            start = time.perf_counter()
        g = model.at_time(float(rng.uniform(0.0, 2.0)))
        out = render(g, cams[it % len(cams)], sh_degree=3, render_depth=False)
        loss = (out.image[0] - target).abs().mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if hook is not None:
            hook(model, None, it)
    if dev.type == "cuda":
        torch.cuda.synchronize()
    return (time.perf_counter() - start) / iters


def orbit_client(url: str, viewmat: np.ndarray, K: np.ndarray, stop, connected) -> None:
    """A user dragging the view continuously (a new pose every 30 ms) until ``stop`` is set; runs in a thread or
    in a child process (then the training process does none of the client's work, as with a real browser)."""
    with ScriptedViserClient(url) as client:
        connected.set()
        k = 0
        while not stop.is_set():
            a = 0.02 * k
            vm = viewmat.copy()
            R = np.array([[math.cos(a), 0, math.sin(a)], [0, 1, 0], [-math.sin(a), 0, math.cos(a)]])
            vm[:3, :3] = vm[:3, :3] @ R
            client.send_camera(vm, K, 1280, 960)
            k += 1
            stop.wait(0.03)


def with_viewer(model: Gaussians4D, cams: list[RenderCameras], args, variant: str, dev: torch.device) -> dict:
    """Training speed with a live viewer of ``variant`` attached (see the module docstring)."""
    where, _, opt = variant.partition("+")
    cb = start_training_viewer(model, None, port=free_port(), every=args.every, max_fps=args.max_fps,
                               max_side=args.view_side, device=dev, cuda_stream=opt != "nostream")
    vm, K = cams[0].viewmats[0].cpu().numpy().copy(), cams[0].Ks[0].cpu().numpy().copy()
    if where == "process":
        ctx = multiprocessing.get_context("spawn")
        stop, connected = ctx.Event(), ctx.Event()
        worker = ctx.Process(target=orbit_client, args=(cb.viewer.url, vm, K, stop, connected), daemon=True)
    else:
        stop, connected = threading.Event(), threading.Event()
        worker = threading.Thread(target=orbit_client, args=(cb.viewer.url, vm, K, stop, connected), daemon=True)
    worker.start()
    try:
        if not connected.wait(120) or not cb.viewer.wait_for_frames(1, 60):
            raise RuntimeError(f"variant {variant}: the scripted browser got no frame")
        frames0, snaps0, snap_s0 = cb.viewer.stats.frames_rendered, cb.n_snapshots, cb.snapshot_seconds
        t_view0 = time.perf_counter()
        s_per_it = train_loop(model, cams, args.iters, args.warmup, hook=cb.update)
        frames = cb.viewer.stats.frames_rendered - frames0
        view_fps = frames / (time.perf_counter() - t_view0)
        out = {"s_per_it": s_per_it, "viewer_frames": frames, "viewer_fps": view_fps,
               "snapshots": cb.n_snapshots - snaps0, "snapshot_ms_total": 1000 * (cb.snapshot_seconds - snap_s0),
               "last_view_render_ms": cb.viewer.stats.last_render_ms}
    finally:
        stop.set()
        worker.join(timeout=30)
        cb.close()
    return out


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="auto")
    ap.add_argument("--n_static", type=int, default=300_000)
    ap.add_argument("--n_dynamic", type=int, default=100_000)
    ap.add_argument("--n_keys", type=int, default=30)
    ap.add_argument("--width", type=int, default=1352)
    ap.add_argument("--height", type=int, default=1014)
    ap.add_argument("--iters", type=int, default=600)
    ap.add_argument("--warmup", type=int, default=20)
    ap.add_argument("--every", type=int, default=100, help="viewer snapshot interval (iterations)")
    ap.add_argument("--max_fps", type=float, default=5.0, help="viewer render cap while training (train --viewer default)")
    ap.add_argument("--view_side", type=int, default=1024, help="viewer render resolution (longer side, px)")
    ap.add_argument("--variants", default="process,thread,process+nostream",
                    help="comma-separated: process|thread [+nostream] (see the module docstring)")
    ap.add_argument("--out", default=None, help="write the numbers as JSON here")
    args = ap.parse_args()

    dev = resolve_device(args.device)
    cams = ring_cameras(8, args.width, args.height, dev)
    model = random_model(args.n_static, args.n_dynamic, args.n_keys, dev)
    base1 = train_loop(model, cams, args.iters, args.warmup)

    variants = {v: with_viewer(model, cams, args, v, dev) for v in args.variants.split(",") if v}
    base2 = train_loop(model, cams, args.iters, args.warmup)
    base = min(base1, base2)
    for v in variants.values():
        v["overhead_pct"] = 100.0 * (v["s_per_it"] - base) / base
    first = next(iter(variants.values()))
    res = {
        "device": torch.cuda.get_device_name(dev) if dev.type == "cuda" else "cpu",
        "n_static": args.n_static, "n_dynamic": args.n_dynamic, "train_size": [args.width, args.height],
        "viewer": {"every": args.every, "max_fps": args.max_fps, "max_side": args.view_side},
        "s_per_it_without": [base1, base2], "noise_pct": 100.0 * abs(base1 - base2) / base,
        "variants": variants,
        # the first variant's numbers at top level (gpu_suite.sh's summary line reads these)
        "overhead_pct": first["overhead_pct"], "viewer_fps_during_training": first["viewer_fps"],
    }
    print(json.dumps(res, indent=2))
    if args.out:
        with open(args.out, "w") as f:
            json.dump(res, f, indent=2)


if __name__ == "__main__":
    main()
