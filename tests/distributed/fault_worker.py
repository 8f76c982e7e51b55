"""torchrun worker for tests/distributed/test_multiprocess.py: two short trainings on every rank, each with a
fault injected on rank 1 only, and what each rank reported.

    torchrun --nproc_per_node 2 ... fault_worker.py SCENE OUT OVERRIDES_JSON

1. "diverge": rank 1 shifts one static mean by 1e-3 after iteration 5 (distributed.check_every = 4).
2. "layout": rank 1 drops one static Gaussian before iteration 3 (its gradients then have other shapes).
Each rank writes OUT/<fault>_rank<r>.txt with the error it raised ("none" if training finished).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import torch

from sync4dgs.data.scene import load_scene
from sync4dgs.errors import Sync4DGSError
from sync4dgs.model import ops
from sync4dgs.train import load_config
from sync4dgs.train.callbacks import Callback
from sync4dgs.train.distributed import DistributedRuntime, attach
from sync4dgs.train.setup import build_session
from sync4dgs.train.strategy.static import StaticDensifier
from sync4dgs.train.trainer import Trainer


class InjectOnRank(Callback):
    name = "inject"

    def __init__(self, fault: str, step: int, active: bool, static_stats: dict):
        self.fault, self.step, self.active, self.static_stats = fault, step, active, static_stats

    def after_step(self, state, info):
        if self.active and self.fault == "diverge" and info.step == self.step:
            with torch.no_grad():
                state.model.static["means"][0, 0] += 1e-3

    def on_step_start(self, state, step):
        if self.active and self.fault == "layout" and step == self.step + 1:
            drop = torch.zeros(state.model.n_static, dtype=torch.bool)
            drop[0] = True
            ops.remove(state.model.static, drop, state.optimizers["static"], self.static_stats)


def run(fault: str, step: int, scene, out: Path, cfg, rt: DistributedRuntime) -> str:
    session = build_session(scene, out / fault, cfg, no_align=True, progress=False, device=rt.device)
    attach(session, rt, resumed=False)
    static = next(cb for cb in session.callbacks if isinstance(cb, StaticDensifier))
    session.callbacks.insert(0, InjectOnRank(fault, step, rt.rank == 1, static.state))
    try:
        Trainer(session).run()
    except Sync4DGSError as e:
        return f"{type(e).__name__}: {e}"
    return "none"


def main(scene_dir: str, out_dir: str, overrides_json: str) -> int:
    torch.set_num_threads(1)
    cfg = load_config(None, json.loads(Path(overrides_json).read_text()))
    out = Path(out_dir)
    rt = DistributedRuntime.init(cfg)
    try:
        scene = load_scene(scene_dir)
        for fault, step in (("diverge", 5), ("layout", 2)):
            (out / f"{fault}_rank{rt.rank}.txt").write_text(run(fault, step, scene, out, cfg, rt))
    finally:
        rt.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:4]))
