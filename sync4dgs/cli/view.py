"""``sync4dgs view``: browser viewer of a trained model with a time slider (viser).

    sync4dgs view --model_path M                       # http://127.0.0.1:8080, loopback only
    sync4dgs view --model_path M --host 0.0.0.0        # reachable from other machines (asked for explicitly)
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from sync4dgs.data.scene import scene_folder
from sync4dgs.utils.cliopts import long_option


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-m", *long_option("model_path"), required=True, type=Path,
                        help="trained model folder, a model.pt, or a 4D .npz")
    parser.add_argument("--port", type=int, default=8080, help="TCP port (default 8080)")
    parser.add_argument("--host", default="127.0.0.1",
                        help="bind address (default 127.0.0.1: this machine only; 0.0.0.0 exposes it on the network)")
    parser.add_argument("--iteration", type=int, default=None, help="saved iteration (default: latest)")
    parser.add_argument("-s", *long_option("source_path"), type=scene_folder, default=None,
                        help="scene folder (default: the one recorded in the model); gives camera frusta")
    parser.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N")
    parser.add_argument("--backend", default=None, choices=("auto", "torch", "gsplat"), help="renderer")
    parser.add_argument(*long_option("max_side"), type=int, default=None,
                        help="render resolution, longer side in px (default 1024 on CUDA, 256 on CPU)")
    parser.add_argument(*long_option("max_fps"), type=float, default=30.0, help="cap on rendered frames per second")


def run(args: argparse.Namespace) -> int:
    from sync4dgs.viewer.launch import open_viewer  # noqa: PLC0415
    from sync4dgs.viewer.server import ViewerConfig  # noqa: PLC0415

    cfg = ViewerConfig(host=args.host, port=args.port, max_side=args.max_side, max_fps=args.max_fps)
    viewer = open_viewer(args.model_path, iteration=args.iteration, source_path=args.source_path,
                         device=args.device, backend=args.backend, config=cfg)
    try:   # Ctrl+C at any moment, also while the viewer is still setting up after its HTTP server answers
        with viewer:
            print(f"sync4dgs viewer: {viewer.url}  (Ctrl+C to stop)", flush=True)
            while True:
                time.sleep(1.0)
    except KeyboardInterrupt:
        print("stopping viewer", flush=True)
    return 0
