"""``sync4dgs train``: stage 2 (4D Gaussians + learnable camera time maps) on a canonical scene.

Every config key is also a flag: ``--train.iterations 100`` (dotted) or ``--iterations 100`` when the leaf
name is unique. Values are parsed by the key's type (lists as JSON or comma-separated). ``--gpus N`` trains on
N local GPUs through torchrun. The arguments and the action live in sync4dgs.train.command, shared with
``python -m sync4dgs.train`` (the module torchrun launches).

``--viewer`` attaches the browser viewer (sync4dgs.viewer) to the running training: the trainer knows nothing
of the viewer; this command layer hands train() a callback factory (:class:`LiveViewer`).
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import Any

from sync4dgs.train.callbacks import Callback, StepInfo, TrainState
from sync4dgs.train.command import add_arguments as _add_train_arguments
from sync4dgs.train.command import overrides_from_args
from sync4dgs.train.command import run as _run_train
from sync4dgs.model.folder import stage1_trajectories_path
from sync4dgs.sync.align import TRAJECTORIES_FILE
from sync4dgs.utils.cliopts import long_option

__all__ = ["LiveViewer", "add_arguments", "overrides_from_args", "run"]

log = logging.getLogger(__name__)


def add_arguments(p: argparse.ArgumentParser) -> None:
    _add_train_arguments(p)
    g = p.add_argument_group("live viewer")
    g.add_argument("--viewer", action="store_true",
                   help="show the training live in the browser viewer (needs viser)")
    g.add_argument(*long_option("viewer_port"), type=int, default=8080, help="viewer TCP port (default 8080)")
    g.add_argument(*long_option("viewer_host"), default="127.0.0.1",
                   help="viewer bind address (default 127.0.0.1: this machine only)")
    g.add_argument(*long_option("viewer_max_fps"), type=float, default=5.0,
                   help="viewer renders per second while training (default 5: ~5 %% slowdown on an H100)")
    g.add_argument(*long_option("viewer_every"), type=int, default=100,
                   help="refresh the viewer's model at most every this many iterations (default 100)")


class LiveViewer(Callback):
    """Training callback that keeps a :func:`sync4dgs.viewer.callback.start_training_viewer` viewer fresh.

    The viewer starts with the training (on a snapshot of the initial model) and stops when it ends. Every
    ``every`` iterations (and at most once per ``min_interval_s`` seconds) it is offered the current model and
    time maps; it takes them only while a browser is connected (one device-side copy, rendering happens in the
    viewer's thread).
    """

    name = "viewer"

    def __init__(self, session: Any, host: str = "127.0.0.1", port: int = 8080, every: int = 100,
                 min_interval_s: float = 1.0, max_fps: float = 5.0, trajectories_file: Path | None = None):
        self.session, self.host, self.port, self.every = session, host, port, max(int(every), 1)
        self.min_interval_s = float(min_interval_s)
        self.max_fps = float(max_fps)
        self.trajectories_file = trajectories_file   # None: the one stage 1 writes into the model folder
        self.handle = None

    def on_train_start(self, state: TrainState) -> None:
        from sync4dgs.viewer.callback import start_training_viewer  # noqa: PLC0415
        from sync4dgs.viewer.overlays import load_trajectories  # noqa: PLC0415

        s = self.session
        traj_file = self.trajectories_file or stage1_trajectories_path(s.model_path)
        trajectories = load_trajectories(traj_file) if traj_file.is_file() else None
        self.handle = start_training_viewer(state.model, s.time.time_maps(), scene=s.scene,
                                            trajectories=trajectories, host=self.host, port=self.port,
                                            every=self.every, max_fps=self.max_fps)
        self.handle.min_interval_s = self.min_interval_s
        print(f"training viewer: {self.handle.viewer.url}", flush=True)

    def after_step(self, state: TrainState, info: StepInfo) -> None:
        if self.handle is not None and info.step % self.every == 0 and self.handle.viewer.n_clients > 0:
            self.handle.update(state.model, self.session.time.time_maps(), info.step)

    def on_train_end(self, state: TrainState) -> None:
        if self.handle is not None:
            self.handle.close()
            self.handle = None


def run(args: argparse.Namespace) -> int:
    factories = []
    if getattr(args, "viewer", False):
        import importlib.util  # noqa: PLC0415

        if importlib.util.find_spec("viser") is None:
            from sync4dgs.errors import ConfigError  # noqa: PLC0415

            raise ConfigError("--viewer needs the viewer extra: pip install 'sync4dgs[viewer]' (viser)")
        trajectories_file = (Path(args.trajectories) if args.trajectories else
                             Path(args.offsets).parent / TRAJECTORIES_FILE if args.offsets else None)

        def factory(session):
            return LiveViewer(session, host=args.viewer_host, port=args.viewer_port, every=args.viewer_every,
                              max_fps=args.viewer_max_fps, trajectories_file=trajectories_file)
        factories.append(factory)
    return _run_train(args, extra_callbacks=factories)
