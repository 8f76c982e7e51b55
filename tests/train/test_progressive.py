"""Ex4DGS progressive time window (sync4dgs.train.progressive): schedule values, eligibility in global time
under unsynchronized maps, the sampler draws only eligible views, exact resume, and the shipped configs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from sync4dgs.errors import ConfigError
from sync4dgs.model.io import load_trained
from sync4dgs.train import load_config, train
from sync4dgs.train.callbacks import Callback
from sync4dgs.train.checkpoint import latest_checkpoint, load_checkpoint
from sync4dgs.train.config import ProgressiveConfig
from sync4dgs.train.progressive import ProgressiveWindow, eligible_views, growth_steps, window_frames
from sync4dgs.train.sampler import ViewSampler
from sync4dgs.train.setup import build_session
from sync4dgs.train.trainer import Trainer

CONFIGS = Path(__file__).resolve().parents[2] / "configs"
FPS = 10.0                                    # the tiny scene films at 10 fps
UNSYNC = {"cam00": 0.0, "cam01": 0.35, "cam02": -0.25, "cam03": 0.1}
SMALL = {"progressive.enabled": "true", "progressive.start_frames": "2", "progressive.step_frames": "2",
         "progressive.grow_every": "6", "progressive.grow_from_iter": "0", "progressive.refresh_every": "4"}


# ------------------------------------------------------------------------------------------ schedule
def test_window_schedule_matches_ex4dgs():
    n3v = ProgressiveConfig(enabled=True)                         # 10 / 10 / every 400 / after 500
    assert [window_frames(s, n3v) for s in (1, 500, 800, 801, 1200, 1201, 1601)] == [10, 10, 10, 20, 20, 30, 40]
    assert window_frames(12000, n3v) == 290 and window_frames(12001, n3v) == 300   # all 300 frames at ~12.0k
    birthday = ProgressiveConfig(enabled=True, grow_every=350)       # growth at 700, 1050, ...
    assert [window_frames(s, birthday) for s in (700, 701, 1050, 1051)] == [10, 20, 20, 30]
    fabien = ProgressiveConfig(enabled=True, grow_from_iter=1000)    # growth at 1200, 1600, ...
    assert [window_frames(s, fabien) for s in (801, 1200, 1201, 1601)] == [10, 10, 20, 30]
    trains = ProgressiveConfig(enabled=True, grow_every=300)         # growth at 600, 900, ...
    assert [growth_steps(s, trains) for s in (600, 601, 901)] == [0, 1, 2]


def test_eligible_views_use_global_time_from_when_every_camera_records():
    # camera 0 starts at 0 s, camera 1 (unsynchronized) at +0.35 s: the window starts at 0.35 s
    tau = np.arange(12) / FPS
    t = np.concatenate([0.0 + tau, 0.35 + tau])
    cam = np.repeat([0, 1], 12)
    mask = eligible_views(t, cam, 2, FPS)                     # up to 0.35 + 0.2 s
    assert mask[:12].tolist() == [True] * 6 + [False] * 6     # 0.0 .. 0.5 s
    assert mask[12:].tolist() == [True] * 3 + [False] * 9     # 0.35, 0.45, 0.55 s (end inclusive)
    assert eligible_views(t, cam, 100, FPS).all()
    assert not eligible_views(np.full(24, np.nan), cam, 100, FPS).any()


def test_sampler_draws_only_eligible_views_and_keeps_its_default_order_when_all_are():
    plain, s = ViewSampler([5, 7, 3], seed=4), ViewSampler([5, 7, 3], seed=4)
    mask = torch.zeros(15, dtype=torch.bool)
    mask[[0, 1, 6, 12]] = True
    assert s.set_eligible(mask) and not s.set_eligible(mask.clone())
    assert s.n_eligible == 4
    drawn = {s.next() for _ in range(40)}
    assert drawn == {(0, 0), (0, 1), (1, 1), (2, 0)}
    with pytest.raises(ValueError, match="no view"):
        s.set_eligible(torch.zeros(15, dtype=torch.bool))
    with pytest.raises(ValueError, match="15 entries"):
        s.set_eligible(torch.ones(3, dtype=torch.bool))
    assert s.set_eligible(np.ones(15, dtype=bool)) and s.n_eligible == 15
    # without a window the sampler is the plain seeded permutation, epoch after epoch
    gen = torch.Generator().manual_seed(4)
    pairs = [(c, f) for c, n in enumerate([5, 7, 3]) for f in range(n)]
    expected = [pairs[i] for _ in range(2) for i in torch.randperm(15, generator=gen).tolist()]
    assert _draws(plain, 30) == expected and plain.epoch == 1


def _draws(sampler, n):
    return [sampler.next() for _ in range(n)]


def test_sampler_state_round_trip_keeps_the_window():
    a = ViewSampler([4, 4], seed=1)
    a.set_eligible(np.array([1, 1, 0, 0, 1, 0, 0, 0], dtype=bool))
    _draws(a, 5)
    b = ViewSampler([4, 4], seed=9)
    b.load_state_dict(a.state_dict())
    assert b.n_eligible == 3 and _draws(a, 20) == _draws(b, 20)


def test_window_follows_moving_time_maps():
    sampler = ViewSampler([12, 12], seed=0)
    maps = {"off": np.array([0.0, 0.0]), "rate": np.array([1.0, 1.0])}
    tau = np.tile(np.arange(12) / FPS, 2)
    win = ProgressiveWindow(ProgressiveConfig(enabled=True, start_frames=3, grow_every=100), sampler,
                            lambda: (maps["off"], maps["rate"]), np.repeat([0, 1], 12), tau, FPS, refresh_every=5)
    win.refresh(1)
    assert sampler.n_eligible == 8                     # frames 0..3 of both cameras
    maps["off"] = np.array([0.0, -0.2])                # camera 1 learned that it started 2 frames earlier
    assert not win.due(5) and win.due(6) and win.due(601) and not win.due(600)   # growth after it 600
    assert win.refresh(6)
    el = sampler.eligible.reshape(2, 12)
    assert el[0].sum() == 4 and el[0, :4].all()        # window still from 0.0 s (both record) to 0.3 s
    assert el[1].sum() == 6 and el[1, :6].all()        # camera 1's frames now at -0.2 .. 0.3 s


# ------------------------------------------------------------------------------------------ training
class _Views(Callback):
    name = "views"

    def __init__(self):
        self.rows = []

    def after_step(self, state, info):
        self.rows.append((info.step, info.cam_pos, info.frame_idx, float(info.t_global_s)))


def test_training_samples_only_views_inside_the_window(gaussian_scene, make_cfg, offsets_file, tmp_path):
    offsets = offsets_file(tmp_path / "offsets.json", UNSYNC)
    cfg = make_cfg({**SMALL, "time.learn": "false", "train.iterations": "40", "densify.static.enabled": "false",
                    "densify.dynamic.enabled": "false", "densify.convert.enabled": "false"})
    s = build_session(gaussian_scene, tmp_path / "m", cfg, offsets_path=offsets, progress=False)
    rec = _Views()
    s.callbacks.append(rec)
    Trainer(s).run()
    start = max(UNSYNC.values())                       # every camera records from 0.35 s on
    ends = []
    for step, _cam, _frame, t in rec.rows:
        end = start + window_frames(step, cfg.progressive) / FPS
        assert t <= end + 1e-6, (step, t, end)
        ends.append(end)
    assert ends[0] < ends[-1]                          # the window grew (2 -> 14 frames)
    assert max(t for *_, t in rec.rows[:6]) <= start + 0.2 + 1e-6
    assert len({(c, f) for _, c, f, _ in rec.rows}) > 12


def test_resume_with_progressive_window_is_exact(gaussian_scene, make_cfg, offsets_file, tmp_path):
    offsets = offsets_file(tmp_path / "offsets.json", UNSYNC)
    over = {**SMALL, "time.warmup_iterations": "3", "time.sync_every": "2", "guard.check_every": "4",
            "densify.static.refine_start_iter": "2", "densify.static.refine_every": "3",
            "densify.convert.start_iter": "1", "densify.convert.every": "5", "densify.convert.fraction": "0.1"}
    n = 9                                              # the break falls between refreshes and growth steps
    full = train(gaussian_scene.root, tmp_path / "full", make_cfg({**over, "train.iterations": str(2 * n)}),
                 offsets_path=offsets, progress=False)
    train(gaussian_scene.root, tmp_path / "half", make_cfg({**over, "train.iterations": str(n)}),
          offsets_path=offsets, progress=False)
    ck = load_checkpoint(latest_checkpoint(tmp_path / "half"))
    assert ck["rng"]["sampler"]["eligible"].sum() < ck["rng"]["sampler"]["eligible"].numel()
    resumed = train(gaussian_scene.root, tmp_path / "half", make_cfg({**over, "train.iterations": str(2 * n)}),
                    offsets_path=offsets, progress=False)
    a, b = load_trained(full.model_file), load_trained(resumed.model_file)
    for k, v in a.model.static.items():
        torch.testing.assert_close(v, b.model.static[k], rtol=1e-6, atol=1e-7, msg=k)
    for k, v in a.model.dynamic.items():
        torch.testing.assert_close(v, b.model.dynamic[k], rtol=1e-6, atol=1e-7, msg=k)
    for name, m in full.time_maps.cameras.items():
        assert abs(m.offset_s - resumed.time_maps.cameras[name].offset_s) < 1e-7
    fa = load_checkpoint(latest_checkpoint(tmp_path / "full"))["rng"]["sampler"]
    fb = load_checkpoint(latest_checkpoint(tmp_path / "half"))["rng"]["sampler"]
    assert torch.equal(fa["perm"], fb["perm"]) and fa["pos"] == fb["pos"]


# ------------------------------------------------------------------------------------------ configs
@pytest.mark.parametrize("over, match", [
    ({"progressive.grow_every": "0"}, "grow_every"),
    ({"progressive.start_frames": "-1"}, "start_frames"),
    ({"progressive.refresh_every": "-2"}, "refresh_every"),
    ({"progressive.window": "3"}, "unknown config key"),
])
def test_config_errors(over, match):
    with pytest.raises(ConfigError, match=match):
        load_config(None, over)


EX4DGS = {"n3v": (400, 500), "Birthday": (350, 500), "Fabien": (400, 1000), "Painter": (400, 500),
          "Theater": (400, 1000), "Trains": (300, 500)}


@pytest.mark.parametrize("path", sorted(CONFIGS.glob("n3v/*.json")) + sorted(CONFIGS.glob("technicolor/*.json")),
                         ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_benchmark_configs_use_ex4dgs_progressive_values(path):
    p = load_config(path).progressive
    every, start = EX4DGS.get(path.stem, EX4DGS["n3v"] if path.parent.name == "n3v" else (400, 500))
    assert p.enabled and (p.start_frames, p.step_frames) == (10, 10)
    assert (p.grow_every, p.grow_from_iter) == (every, start)


@pytest.mark.parametrize("name", ["base.json", "demo.json", "synth_gpu.json"])
def test_other_configs_keep_it_off(name):
    assert not load_config(CONFIGS / name).progressive.enabled
    assert not load_config(CONFIGS / name).camera.enabled
