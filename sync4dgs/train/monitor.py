"""Progress and logs: a tqdm bar (loss, PSNR, #Gaussians), TensorBoard scalars and ``M/offsets.csv``.

Scalars are accumulated on the device and read back only every ``log.log_every`` iterations (one host sync).
"""

from __future__ import annotations

import csv
import logging
from pathlib import Path
from typing import Any

import torch
from tqdm import tqdm

from sync4dgs.model.folder import OFFSETS_CSV, offsets_csv_path, tb_dir
from sync4dgs.train import losses
from sync4dgs.train.callbacks import Callback, StepInfo, TrainState
from sync4dgs.train.config import LogConfig
from sync4dgs.train.timectl import TimeController
from sync4dgs.utils.atomic import atomic_path

log = logging.getLogger(__name__)



class Monitor(Callback):
    """Logs training progress. ``last`` holds the most recent window's means (loss, psnr)."""

    name = "monitor"

    def __init__(self, cfg: LogConfig, model_path: Path, time: TimeController, iterations: int, progress: bool):
        self.cfg = cfg
        self.model_path = Path(model_path)
        self.time = time
        self.iterations = iterations
        self.progress = progress and cfg.progress
        self.last: dict[str, float] = {}
        self._bar: tqdm | None = None
        self._tb = None
        self._sums: dict[str, torch.Tensor] = {}
        self._n = 0

    # ---------------------------------------------------------------------------------------- hooks
    def on_train_start(self, state: TrainState) -> None:
        self._bar = tqdm(total=self.iterations, initial=state.step, desc="train", disable=not self.progress,
                         dynamic_ncols=True)
        if self.cfg.tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter  # noqa: PLC0415
            except ImportError as e:   # tensorboard is optional at run time: keep training, say so once
                log.warning("TensorBoard logging disabled (%s); offsets still go to %s", e, OFFSETS_CSV)
            else:
                self._tb = SummaryWriter(str(tb_dir(self.model_path)),
                                         purge_step=state.step + 1 if state.step else None)
        self._init_csv(state.step)
        if state.step == 0:
            self._log_offsets(0)

    def after_step(self, state: TrainState, info: StepInfo) -> None:
        with torch.no_grad():
            vals = {"loss": info.losses["total"].detach(),
                    "psnr": losses.psnr(info.out.image[0].detach().clamp(0, 1), info.gt)}
            for k, v in info.losses.items():
                if k != "total":
                    vals[f"loss_{k}"] = v.detach()
            for k, v in vals.items():
                self._sums[k] = self._sums[k] + v if k in self._sums else v.clone()
        self._n += 1
        if self._bar is not None:
            self._bar.update(1)
        if info.step % self.cfg.log_every == 0 or info.step == self.iterations:
            self._flush(state, info.step)

    def on_train_end(self, state: TrainState) -> None:
        if self._n:
            self._flush(state, state.step)
        if self._bar is not None:
            self._bar.close()
        if self._tb is not None:
            self._tb.close()

    # ------------------------------------------------------------------------------------- helpers
    def _flush(self, state: TrainState, step: int) -> None:
        means = {k: float(v) / max(self._n, 1) for k, v in self._sums.items()}   # the host sync
        self._sums, self._n = {}, 0
        means["n_static"], means["n_dynamic"] = float(state.model.n_static), float(state.model.n_dynamic)
        self.last = means
        log.debug("it %d: loss %.5f psnr %.2f static %d dynamic %d", step, means["loss"], means["psnr"],
                  state.model.n_static, state.model.n_dynamic)
        if self._bar is not None:
            self._bar.set_postfix(loss=f"{means['loss']:.4f}", psnr=f"{means['psnr']:.2f}",
                                  gs=f"{state.model.n_static}/{state.model.n_dynamic}", refresh=False)
        if self._tb is not None:
            for k, v in means.items():
                self._tb.add_scalar(f"train/{k}", v, step)
            lrs = {f"{w}/{n}": o.param_groups[0]["lr"] for w, opts in state.optimizers.items() for n, o in opts.items()}
            for k, v in lrs.items():
                self._tb.add_scalar(f"lr/{k}", v, step)
        self._log_offsets(step)

    def _init_csv(self, start: int) -> None:
        path = offsets_csv_path(self.model_path)
        names = self.time.time_model.camera_names
        rows: list[list[str]] = []
        if start > 0 and path.is_file():
            with path.open(newline="") as f:
                old = list(csv.reader(f))
            # complete rows up to the resumed iteration (a run killed mid-row leaves half a one)
            if old and old[0] == ["iteration", *names]:
                rows = [r for r in old[1:] if _complete_row(r, len(names)) and int(r[0]) <= start]
        with atomic_path(path) as tmp, tmp.open("w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["iteration", *names])
            w.writerows(rows)

    def _log_offsets(self, step: int) -> None:
        offsets, rates = self.time.offsets_rates()
        names = self.time.time_model.camera_names
        with offsets_csv_path(self.model_path).open("a", newline="") as f:
            csv.writer(f).writerow([step, *[f"{o:.6f}" for o in offsets]])
        if self._tb is not None:
            for name, o, r in zip(names, offsets, rates):
                self._tb.add_scalar(f"offset_s/{name}", o, step)
                if self.time.cfg.learn_rate:
                    self._tb.add_scalar(f"rate/{name}", r, step)

    def state_dict(self) -> dict[str, Any]:
        return {"last": dict(self.last)}

    def load_state_dict(self, d: dict[str, Any]) -> None:
        self.last = dict(d.get("last", {}))


def _complete_row(row: list[str], n_cameras: int) -> bool:
    """True for an offsets.csv row with an integer iteration and one number per camera."""
    if len(row) != n_cameras + 1 or not row[0].isdigit():
        return False
    try:
        [float(v) for v in row[1:]]
    except ValueError:
        return False
    return True
