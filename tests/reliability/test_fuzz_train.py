"""Fuzzing ``sync4dgs train`` with bad values, bad files and damaged scenes.

Each case runs the CLI in-process on the tiny scene and asserts: non-zero exit, no traceback, the message names
the key or the file, the scene is byte-for-byte unchanged, and the model folder is exactly as before the run:
absent for a fresh ``--model_path``, identical for an existing trained model (config-value cases run against a
copy of one).
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch
from reliability_damage import delete, truncate, write, zero_fill

from sync4dgs.train.config import ExperimentConfig
from sync4dgs.train.configio import config_leaves

LEAVES = config_leaves(ExperimentConfig)


@dataclass
class Case:
    """``args``: extra CLI arguments ({tmp} is replaced by the test's folder); ``damage(scene, tmp)``: edits the
    scene copy or writes input files; ``names``: what the error must mention; ``existing``: run against a copy
    of a trained model (else a fresh folder)."""

    id: str
    args: list[str]
    names: tuple[str, ...]
    damage: Callable[[Path, Path], None] | None = None
    existing: bool = False


def _value_cases() -> list[Case]:
    bad: list[tuple[str, str]] = [
        ("train.iterations", "0"), ("train.iterations", "-5"), ("train.iterations", "ten"),
        ("train.iterations", "2.5"), ("train.device", "bogus"), ("train.device", "cuda:x"),
        ("render.backend", "bogus"), ("train.background", "[2, 2]"), ("train.background", "[0, 0, 0, 0]"),
        ("train.background", "[-1, 0, 0]"), ("train.background", "[NaN, 0, 0]"), ("train.background", "red"),
        ("optim.optimizer", "bogus"), ("train.frames_on_device", "sometimes"), ("train.frames_host_cache", "maybe"),
        ("distributed.comm_backend", "mpi"), ("log.log_every", "0"), ("guard.check_every", "0"),
        ("time.sync_every", "0"), ("densify.static.refine_every", "0"), ("densify.dynamic.refine_every", "0"),
        ("densify.convert.every", "0"), ("densify.convert.fraction", "2"), ("loss.lambda_dssim", "-1"),
        ("loss.lambda_dssim", "1.5"), ("time.offset_lr", "-1"), ("time.rate_lr", "NaN"), ("guard.lr_factor", "0"),
        ("guard.lr_factor", "1.5"), ("time.evidence_beta", "1"), ("distributed.timeout_s", "0"),
        ("train.save_iterations", "[0]"), ("train.save_iterations", "[-3, 5]"), ("train.seed", "-1"),
        ("train.checkpoint_every", "-1"), ("train.keep_checkpoints", "-2"), ("train.cpu_threads", "-1"),
        ("train.scene_extent", "-1"), ("render.near", "-0.5"), ("model.sh_degree", "9"),
        ("model.init_opacity", "2"), ("model.keyframe_interval_frames", "0"), ("camera.pose_lr", "-1"),
        ("camera.stop_iter", "-4"), ("progressive.grow_every", "0"), ("appearance.lr", "-1"),
        ("time.learn", "perhaps"), ("train.random_background", "2"), ("train.sh_degree_interval", "0"),
        ("optim.means_decay_iterations", "0"),
    ]
    bad += [(k, "-1") for k in LEAVES if k.startswith(("optim.static.", "optim.dynamic."))]
    cases = [Case(f"{key}={value}", [f"--{key}", value], (key,), existing=True) for key, value in bad]
    cases += [Case("render.far<near", ["--render.near", "2", "--render.far", "1"], ("render.far",), existing=True),
              Case("unknown-key", ["--train.iterationz", "3"], ("iterationz",), existing=True),
              Case("ambiguous-key", ["--start_iter", "3"], ("ambiguous",), existing=True)]
    if not torch.cuda.is_available():
        cases += [Case("train.device=cuda", ["--train.device", "cuda"], ("train.device", "CUDA"), existing=True),
                  Case("render.backend=gsplat", ["--render.backend", "gsplat"], ("render.backend",), existing=True)]
    return cases


def _in_scene(damage: Callable[[Path], None]) -> Callable[[Path, Path], None]:
    """A shared damage builder (tests/reliability/damage.py) applied to the scene copy."""
    return lambda scene, tmp: damage(scene)


def _json(rel: str, obj) -> Callable[[Path, Path], None]:
    """An input file ``rel`` in the test's folder holding ``obj`` as JSON (a string: as it is)."""
    text = obj if isinstance(obj, str) else json.dumps(obj)
    return lambda scene, tmp: write(rel, text.encode())(tmp)


def _file_cases() -> list[Case]:
    cfg = ["--config", "{tmp}/cfg.json"]
    return [
        Case("config-missing", cfg, ("cfg.json",)),
        Case("config-invalid-json", cfg, ("cfg.json", "JSON"), _json("cfg.json", "{train: 1")),
        Case("config-list", cfg, ("cfg.json", "object"), _json("cfg.json", [1, 2])),
        Case("config-unknown-key", cfg, ("cfg.json", "trian"), _json("cfg.json", {"trian": {}})),
        Case("config-wrong-type", cfg, ("train.iterations",), _json("cfg.json", {"train": {"iterations": "many"}})),
        Case("config-bad-value", cfg, ("cfg.json", "optim.optimizer"), _json("cfg.json", {"optim": {"optimizer": "sgd"}})),
        Case("config-section-not-object", cfg, ("cfg.json", "train"), _json("cfg.json", {"train": 5})),
        Case("config-extends-missing", cfg, ("base.json",), _json("cfg.json", {"extends": "base.json"})),
        Case("config-extends-cycle", cfg, ("cycle",), _json("cfg.json", {"extends": "cfg.json"})),
        Case("offsets-missing", ["--offsets", "{tmp}/offsets.json"], ("offsets.json",)),
        Case("offsets-garbage", ["--offsets", "{tmp}/offsets.json"], ("offsets.json",), _json("offsets.json", "{{")),
        Case("offsets-list", ["--offsets", "{tmp}/offsets.json"], ("offsets.json",), _json("offsets.json", [])),
        Case("offsets-nan", ["--offsets", "{tmp}/offsets.json"], ("offsets.json",), _json(
            "offsets.json", '{"version": 1, "reference_camera": "cam00", "cameras": {"cam00": {"offset_s": NaN}}}')),
        Case("trajectories-missing", ["--trajectories", "{tmp}/t.npz"], ("t.npz",)),
        Case("trajectories-garbage", ["--trajectories", "{tmp}/t.npz"], ("t.npz",), _json("t.npz", "zip?")),
        Case("fixed-maps-missing", ["--fixed_time_maps", "{tmp}/gt.json"], ("gt.json",)),
        Case("fixed-maps-garbage", ["--fixed_time_maps", "{tmp}/gt.json"], ("gt.json",), _json("gt.json", "[")),
        Case("fixed-maps-and-offsets", ["--fixed_time_maps", "identity", "--offsets", "{scene}/gt_sync.json"],
             ("--fixed_time_maps",)),
        Case("start-checkpoint-missing", ["--start_checkpoint", "{tmp}/c.pt"], ("c.pt",)),
        Case("start-checkpoint-garbage", ["--start_checkpoint", "{tmp}/c.pt"], ("c.pt",), _json("c.pt", "no")),
        Case("model-path-is-a-file", ["-m", "{tmp}/model.txt"], ("model.txt", "not a folder"),
             _json("model.txt", "mine")),
        Case("source-path-is-a-file", ["-s", "{tmp}/scene.txt"], ("scene.txt",), _json("scene.txt", "x")),
        Case("source-path-missing", ["-s", "{tmp}/nowhere"], ("nowhere", "scene.json")),
    ]


def _scene_json(edit: Callable[[dict], object]) -> Callable[[Path, Path], None]:
    def damage(scene: Path, tmp: Path) -> None:
        p = scene / "scene.json"
        d = json.loads(p.read_text())
        out = edit(d)
        p.write_text(json.dumps(d if out is None else out))
    return damage


def _cam(key: str, value) -> Callable[[dict], None]:
    def edit(d: dict) -> None:
        d["cameras"][1][key] = value
    return edit


def _scene_cases() -> list[Case]:
    sj = "scene.json"
    edits: list[tuple[str, Callable[[dict], object], str]] = [
        ("list", lambda d: [d], "object"), ("string", lambda d: "scene", "object"),
        ("no-cameras-key", lambda d: d.pop("cameras") and None, "cameras"),
        ("cameras-empty", _set("cameras", []), "no cameras"),
        ("cameras-not-a-list", _set("cameras", {"cam00": 1}), sj), ("version", _set("format_version", 9), "format_version"),
        ("reference-unknown", _set("reference_camera", "camZ"), "camZ"),
        ("all-test-cameras", _set("test_cameras", ["cam00", "cam01"]), "training cameras"),
        ("near-after-far", _set("near", 50.0), "near"), ("near-nan", _set("near", float("nan")), "near"),
        ("normalization-zero-scale", _set("normalization", {"center": [0, 0, 0], "scale": 0}), "normalization"),
        ("K-nan", _cam("K", [[float("nan"), 0, 8], [0, 14, 6], [0, 0, 1]]), "K"),
        ("K-2x2", _cam("K", [[14, 0], [0, 14]]), sj), ("K-text", _cam("K", "identity"), sj),
        ("R-scaled", _cam("R", [[2, 0, 0], [0, 2, 0], [0, 0, 2]]), "rotation"),
        ("R-reflection", _cam("R", [[1, 0, 0], [0, 1, 0], [0, 0, -1]]), "rotation"),
        ("R-nan", _cam("R", [[float("nan")] * 3] * 3), "NaN"), ("t-short", _cam("t", [0, 0]), sj),
        ("fps-zero", _cam("fps", 0), "fps"), ("fps-text", _cam("fps", "fast"), sj),
        ("n-frames-zero", _cam("n_frames", 0), "frames"), ("width-zero", _cam("width", 0), "size"),
        ("frame-times-short", _cam("frame_times_s", [0.0, 0.1]), "frame_times_s"),
        ("frame-times-decreasing", _cam("frame_times_s", [0.2, 0.1, 0.0]), "frame_times_s"),
        ("time-map-nan", _cam("time_map", {"offset_s": float("nan"), "rate": 1}), "time_map"),
        ("time-map-zero-rate", _cam("time_map", {"offset_s": 0, "rate": 0}), "time_map"),
        ("frames-kind", _cam("frames", {"kind": "hologram", "path": "x"}), "hologram"),
        ("frames-missing-path", _cam("frames", {"kind": "images"}), "path"),
        ("duplicate-names", _cam("name", "cam00"), "duplicate"),
        ("camera-missing-name", lambda d: d["cameras"][1].pop("name") and None, "name"),
    ]
    cases = [Case(f"scene-{n}", [], (sj, w) if w != sj else (sj,), _scene_json(e)) for n, e, w in edits]

    cases += [
        Case("scene-json-invalid", [], (sj, "JSON"), _in_scene(write(sj, b"{\"cameras\": ["))),
        Case("scene-json-binary", [], (sj,), _in_scene(write(sj, b"\xff\xfe\x00garbage"))),
        Case("scene-json-missing", [], (sj, "not found"), _in_scene(delete(sj))),
        Case("points-garbage", [], ("points3d.ply",), _in_scene(write("points3d.ply", b"ply\nformat nonsense\n"))),
        Case("points-truncated", [], ("points3d.ply",), _in_scene(truncate("points3d.ply", 0.3))),
    ]
    frames = ["--train.frames_on_device", "always"]
    cases += [   # a scene damaged after prepare checked it: the frame that fails to load is named
        Case("frame-missing", frames, ("00001.png",), _in_scene(delete("frames/cam01/00001.png"))),
        Case("frame-not-png", frames, ("00002.png",), _in_scene(write("frames/cam00/00002.png", b"text"))),
        Case("frame-truncated", frames, ("00000.png",), _in_scene(truncate("frames/cam01/00000.png", 0.1))),
        Case("frame-zero-tail", frames, ("00001.png",), _in_scene(zero_fill("frames/cam00/00001.png", 0.5))),
        Case("frame-zeroed", frames, ("00002.png",), _in_scene(zero_fill("frames/cam01/00002.png"))),
        Case("frames-folder-missing", frames, ("cam00",), _in_scene(delete("frames/cam00"))),
    ]
    return cases


def _set(key: str, value) -> Callable[[dict], None]:
    def edit(d: dict) -> None:
        d[key] = value
    return edit


CASES = _value_cases() + _file_cases() + _scene_cases()


def test_the_suite_is_large_enough():
    assert len(CASES) >= 60 and len({c.id for c in CASES}) == len(CASES)


@pytest.fixture(scope="module")
def trained_master(h, tiny_scene_master, tmp_path_factory):
    """A model folder trained for 2 iterations on the tiny scene (copied by the cases that need one)."""
    model = tmp_path_factory.mktemp("trained") / "m"
    from sync4dgs.cli.main import main  # noqa: PLC0415

    assert main(h.train_argv(tiny_scene_master, model, 2)) == 0
    return model


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input_fails_cleanly(case, h, tiny_scene, trained_master, tmp_path, capsys):
    model = tmp_path / "model"
    if case.existing:
        shutil.copytree(trained_master, model)
    if case.damage is not None:
        case.damage(tiny_scene, tmp_path)
    scene_before, model_before = h.tree_hash(tiny_scene), h.tree_hash(model)
    args = [a.replace("{tmp}", str(tmp_path)).replace("{scene}", str(tiny_scene)) for a in case.args]
    argv = h.train_argv(tiny_scene, model, 4)
    for flag in ("-m", "-s"):                 # a case may replace the model or the scene path
        if flag in args:
            k = argv.index(flag)
            del argv[k:k + 2]
    res = h.run_cli(argv + args, capsys)
    h.assert_clean_failure(res, *case.names)
    assert h.tree_hash(tiny_scene) == scene_before, "the scene was changed"
    assert h.tree_hash(model) == model_before, "the model folder was changed"
    assert not (tmp_path / "model").exists() or case.existing
