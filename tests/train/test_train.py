"""End-to-end stage 2 on a tiny scene rendered from known Gaussians at known offsets."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from sync4dgs.cli.main import main
from sync4dgs.errors import DataFormatError
from sync4dgs.model.io import load_trained
from sync4dgs.timemap import load_time_maps
from sync4dgs.train import train
from sync4dgs.train.callbacks import Callback
from sync4dgs.train.setup import build_session
from sync4dgs.train.trainer import Trainer

TRUE = {"cam00": 0.0, "cam01": 0.1, "cam02": -0.1, "cam03": 0.2}
FRAME_S = 0.1        # the fixture films at 10 fps


class _Losses(Callback):
    name = "losses"

    def __init__(self):
        self.values = []

    def after_step(self, state, info):
        self.values.append(info.losses["photo"].detach())


def test_training_lowers_the_loss(gaussian_scene, make_cfg, tmp_path):
    cfg = make_cfg({"train.iterations": "60", "time.align": "false", "densify.static.enabled": "false",
                    "densify.convert.start_iter": "20", "densify.convert.every": "20"})
    s = build_session(gaussian_scene, tmp_path / "m", cfg, progress=False)
    rec = _Losses()
    s.callbacks.append(rec)
    Trainer(s).run()
    v = torch.stack(rec.values)
    assert v[-20:].mean() < 0.8 * v[:20].mean()


def test_wrong_offset_converges_to_the_truth(gaussian_scene, make_cfg, offsets_file, tmp_path):
    """cam01 starts 2 frames late, the others at the truth; geometry warms up, then time maps learn."""
    start = dict(TRUE, cam01=TRUE["cam01"] + 2 * FRAME_S)
    stage1 = tmp_path / "stage1"
    stage1.mkdir()
    offsets = offsets_file(stage1 / "offsets.json", start)
    (stage1 / "trajectories.npz").write_bytes((gaussian_scene.root / "stage1" / "trajectories.npz").read_bytes())
    cfg = make_cfg({"train.iterations": "320", "time.warmup_iterations": "120",
                    "densify.static.enabled": "false", "densify.dynamic.enabled": "false",
                    "densify.convert.enabled": "false", "optim.means_decay_iterations": "400",
                    "moving.enabled": "false"})   # seeding bakes the start clock in: see the seeded test below
    result = train(gaussian_scene.root, tmp_path / "m", cfg, offsets_path=offsets, progress=False)
    learned = result.time_maps
    errors_frames = {n: abs(learned.cameras[n].offset_s - TRUE[n]) / FRAME_S for n in TRUE}
    assert errors_frames["cam00"] == 0.0
    assert errors_frames["cam01"] < 0.3, errors_frames
    assert max(errors_frames.values()) < 0.3, errors_frames
    saved = load_time_maps(tmp_path / "m" / "time_maps.json")
    assert saved.cameras["cam01"].offset_s == pytest.approx(learned.cameras["cam01"].offset_s)
    assert result.stats["final_train_psnr"] > 24
    initial = load_time_maps(tmp_path / "m" / "time_maps_initial.json")    # what stage 2 started from
    assert initial.cameras["cam01"].offset_s == pytest.approx(start["cam01"], abs=1e-6)
    assert result.stats["setup_seconds"] > 0 and result.stats["total_seconds"] >= result.stats["train_seconds"]
    assert result.stats["frames_source"] == "device"      # the CPU "device" holds the preloaded frames


def test_seeded_run_moves_a_wrong_confident_clock_towards_the_truth(gaussian_scene, make_cfg, offsets_file, tmp_path):
    """Known limitation, measured: seeds of the moving content are placed under the START clocks, so a camera
    whose confident start clock is 2 frames off is only partly corrected (without seeding: < 0.3 frame, above).
    It must still move towards the truth, never away, and the others must stay put."""
    start = dict(TRUE, cam01=TRUE["cam01"] + 2 * FRAME_S)
    stage1 = tmp_path / "stage1"
    stage1.mkdir()
    offsets = offsets_file(stage1 / "offsets.json", start)
    cfg = make_cfg({"train.iterations": "320", "time.warmup_iterations": "120",
                    "densify.static.enabled": "false", "densify.dynamic.enabled": "false",
                    "densify.convert.enabled": "false", "optim.means_decay_iterations": "400"})
    result = train(gaussian_scene.root, tmp_path / "m", cfg, offsets_path=offsets, progress=False)
    assert result.stats["n_dynamic"] > 0
    err = {n: abs(result.time_maps.cameras[n].offset_s - TRUE[n]) / FRAME_S for n in TRUE}
    assert err["cam01"] < 1.9, err
    assert max(err[n] for n in ("cam02", "cam03")) < 0.3, err


def test_cli_writes_the_model_folder(gaussian_scene, tmp_path):
    out = tmp_path / "m"
    rc = main(["train", "--model_path", str(out), "--source_path", str(gaussian_scene.root), "--no_align",
               "--iterations", "12", "--train.device", "cpu", "--render.backend", "torch", "--model.sh_degree", "0",
               "--train.checkpoint_every", "6", "--train.save_iterations", "[6]", "--log.log_every", "4",
               "--time.warmup_iterations", "2", "--quiet"])
    assert rc == 0
    for rel in ("config.json", "time_maps.json", "offsets.csv", "train_stats.json", "tb",
                "point_cloud/iteration_6/model.pt", "point_cloud/iteration_12/model.pt",
                "checkpoints/ckpt_12.pt"):
        assert (out / rel).exists(), rel
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["train"]["iterations"] == 12 and cfg["model"]["sh_degree"] == 0
    stats = json.loads((out / "train_stats.json").read_text())
    assert stats["iterations"] == 12 and stats["n_static"] > 0
    tm = load_trained(out)
    assert tm.iteration == 12 and tm.time_maps.reference_camera == "cam00"
    header, *rows = (out / "offsets.csv").read_text().splitlines()
    assert header == "iteration,cam00,cam01,cam02,cam03" and [r.split(",")[0] for r in rows] == ["0", "4", "8", "12"]


@pytest.mark.parametrize("mode", ["identity", "gt"])
def test_fixed_time_maps_are_not_learned(gaussian_scene, tmp_path, mode):
    fixed = "identity" if mode == "identity" else str(gaussian_scene.gt_sync_path)
    out = tmp_path / mode
    rc = main(["train", "-m", str(out), "-s", str(gaussian_scene.root), "--fixed_time_maps", fixed,
               "--iterations", "8", "--train.device", "cpu", "--render.backend", "torch", "--model.sh_degree", "0",
               "--time.warmup_iterations", "0", "--log.tensorboard", "false", "--quiet"])
    assert rc == 0
    maps = load_time_maps(out / "time_maps.json")
    for name, true_offset in TRUE.items():
        assert maps.cameras[name].offset_s == pytest.approx(0.0 if mode == "identity" else true_offset, abs=1e-7)


def test_cli_rejects_unknown_and_badly_typed_keys(gaussian_scene, tmp_path, capsys):
    rc = main(["train", "-m", str(tmp_path / "m"), "-s", str(gaussian_scene.root), "--train.iterations", "ten"])
    assert rc == 1 and "train.iterations" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["train", "-m", str(tmp_path / "m"), "-s", str(gaussian_scene.root), "--train.iterationz", "3"])


def test_held_out_reference_learns_relative_offsets_and_holds_the_mean(held_out_reference_scene, make_cfg,
                                                                        offsets_file, tmp_path):
    """cam00 (the reference clock) is a test camera: a common shift of all trained cameras is invisible, so the
    mean trained offset stays at its initial value while the relative offsets are learned."""
    start = dict(TRUE, cam01=TRUE["cam01"] + 2 * FRAME_S)
    stage1 = tmp_path / "stage1"
    stage1.mkdir()
    offsets = offsets_file(stage1 / "offsets.json", start)
    (stage1 / "trajectories.npz").write_bytes(
        (held_out_reference_scene.root / "stage1" / "trajectories.npz").read_bytes())
    cfg = make_cfg({"train.iterations": "400", "time.warmup_iterations": "120",
                    "densify.static.enabled": "false", "densify.dynamic.enabled": "false",
                    "densify.convert.enabled": "false", "optim.means_decay_iterations": "400",
                    "moving.enabled": "false"})   # without seeding (it bakes the start clock in)
    maps = train(held_out_reference_scene.root, tmp_path / "m", cfg, offsets_path=offsets, progress=False).time_maps
    off = {n: maps.cameras[n].offset_s for n in TRUE}
    trained = ["cam01", "cam02", "cam03"]
    assert np.mean([off[n] for n in trained]) == pytest.approx(np.mean([start[n] for n in trained]), abs=1e-5)
    assert maps.cameras["cam00"].status == "reference" and off["cam00"] == 0.0

    def rel_error_frames(a, b):
        return abs((off[a] - off[b]) - (TRUE[a] - TRUE[b])) / FRAME_S
    assert rel_error_frames("cam01", "cam02") < 0.8          # started 2 frames off (slower to converge than
    assert rel_error_frames("cam01", "cam03") < 0.8          # with the reference trained: ~0.3 after 700 its)
    assert rel_error_frames("cam03", "cam02") < 0.3          # started right, stays right


def test_fixed_time_map_runs_can_start_from_stage1_trajectories(gaussian_scene, make_cfg, tmp_path):
    """Oracle/naive benchmark runs get the same dynamic-Gaussian initialisation as a sync4dgs run."""
    traj = gaussian_scene.root / "stage1" / "trajectories.npz"
    maps = load_time_maps(gaussian_scene.gt_sync_path)
    cfg = make_cfg({"train.iterations": "1", "moving.enabled": "false"})   # trajectories only (no seeding)
    bare = build_session(gaussian_scene, tmp_path / "a", cfg, time_maps_override=maps, progress=False)
    seeded = build_session(gaussian_scene, tmp_path / "b", cfg, time_maps_override=maps, progress=False,
                           trajectories_path=traj)
    via_offsets = build_session(gaussian_scene, tmp_path / "c", cfg, offsets_path=gaussian_scene.gt_sync_path,
                                progress=False, trajectories_path=traj)
    assert bare.model.n_dynamic == 0 < seeded.model.n_dynamic == via_offsets.model.n_dynamic
    assert torch.equal(seeded.model.dynamic["key_means"], via_offsets.model.dynamic["key_means"])
    with pytest.raises(DataFormatError, match="not found"):
        build_session(gaussian_scene, tmp_path / "d", cfg, time_maps_override=maps, progress=False,
                      trajectories_path=tmp_path / "missing.npz")


def test_train_runs_stage1_with_the_align_section(gaussian_scene, tmp_path):
    """Without --offsets / --no_align, train runs stage 1 with the config's align section and records it."""
    out = tmp_path / "m"
    rc = main(["train", "--model_path", str(out), "--source_path", str(gaussian_scene.root), "--iterations", "2",
               "--train.device", "cpu", "--render.backend", "torch", "--model.sh_degree", "0",
               "--align.rates", "1", "--align.max_offset_s", "0.4", "--align.device", "cpu", "--quiet"])
    assert rc == 0
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["align"]["rates"] == "1" and cfg["align"]["max_offset_s"] == 0.4
    stage1 = load_time_maps(out / "stage1" / "offsets.json")
    assert stage1.extra["rates"] == "1"
    assert all(abs(m.offset_s) <= 0.4 + 1e-9 for m in stage1.cameras.values())


class _Rendered(Callback):
    name = "rendered"

    def __init__(self):
        self.rows, self.dynamic = [], []

    def on_step_start(self, state, step):
        self.dynamic.append(state.model.n_dynamic)          # the set this step renders from

    def after_step(self, state, info):
        self.rows.append(int(info.out.radii.shape[1]) - info.n_static)


def test_culling_invisible_dynamic_gaussians_trains_the_same_model(gaussian_scene, make_cfg, offsets_file, tmp_path):
    """train.cull_invisible renders only the dynamic Gaussians visible at each step's time: with seeded,
    temporally local Gaussians that is far fewer rows, and the losses and parameters match the full run."""
    runs = {}
    (tmp_path / "stage1").mkdir()
    offsets = offsets_file(tmp_path / "stage1" / "offsets.json", TRUE)
    for cull in ("true", "false"):
        cfg = make_cfg({"train.iterations": "30", "time.learn": "false",
                        "densify.static.enabled": "false", "densify.convert.enabled": "false",
                        "densify.dynamic.enabled": "true", "densify.dynamic.refine_start_iter": "5",
                        "densify.dynamic.refine_every": "10", "train.cull_invisible": cull})
        s = build_session(gaussian_scene, tmp_path / f"m_{cull}", cfg, offsets_path=offsets, progress=False)
        assert s.model.n_dynamic > 0
        rec, rendered = _Losses(), _Rendered()
        s.callbacks += [rec, rendered]
        Trainer(s).run()
        runs[cull] = (torch.stack(rec.values), rendered, {k: v.detach().clone() for k, v in
                                                          s.model.named_parameters()})
    (l_cull, r_cull, p_cull), (l_full, r_full, p_full) = runs["true"], runs["false"]
    assert r_full.rows == r_full.dynamic                              # the full run renders every row
    assert max(r / d for r, d in zip(r_cull.rows, r_cull.dynamic)) < 0.5
    torch.testing.assert_close(l_cull, l_full, rtol=1e-4, atol=1e-6)
    assert p_cull.keys() == p_full.keys()
    for k in p_full:   # float noise only: Adam turns noise-level gradients into lr-sized steps on a few rows
        torch.testing.assert_close(p_cull[k], p_full[k], rtol=1e-3, atol=5e-4, msg=k)
