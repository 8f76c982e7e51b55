"""Experiment config: defaults, extends, overrides, errors naming the key, CLI flags, shipped configs."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from sync4dgs.cli import train as cli_train
from sync4dgs.errors import ConfigError
from sync4dgs.train.config import ExperimentConfig, config_from_dict, load_config

REPO = Path(__file__).resolve().parents[2]


def test_defaults_and_overrides_are_typed():
    cfg = load_config(None, {"train.iterations": "123", "offset_lr": "1e-3", "save_iterations": "[10, 20]",
                             "model.sh_degree": "1", "random_background": "false",
                             "densify.static.refine_every": "7"})
    assert cfg.train.iterations == 123 and isinstance(cfg.train.iterations, int)
    assert cfg.time.offset_lr == pytest.approx(1e-3)
    assert cfg.train.save_iterations == [10, 20]
    assert cfg.model.sh_degree == 1
    assert cfg.train.random_background is False
    assert cfg.densify.static.refine_every == 7
    assert load_config(None, {"save_iterations": "5,6"}).train.save_iterations == [5, 6]


@pytest.mark.parametrize("overrides, key", [
    ({"train.iterationz": "1"}, "train.iterationz"),
    ({"nonsense": "1"}, "nonsense"),
    ({"train.iterations": "abc"}, "train.iterations"),
    ({"train.iterations": "1.5"}, "train.iterations"),
    ({"train.random_background": "maybe"}, "train.random_background"),
    ({"refine_every": "3"}, "refine_every"),          # ambiguous flat key: names the candidates
])
def test_override_errors_name_the_key(overrides, key):
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        load_config(None, overrides)


def test_file_errors_name_the_key(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"train": {"iterations": "many"}}))
    with pytest.raises(ConfigError, match=r"train\.iterations"):
        load_config(bad)
    bad.write_text(json.dumps({"densify": {"static": {"grow_grad": 1.0}}}))
    with pytest.raises(ConfigError, match=r"densify\.static\.grow_grad"):
        load_config(bad)
    with pytest.raises(ConfigError, match="model.sh_degree"):   # ModelConfig's own validation
        config_from_dict({"model": {"sh_degree": 9}})


def test_extends_merges_sections_and_overrides_win(tmp_path):
    (tmp_path / "base.json").write_text(json.dumps({"train": {"iterations": 50, "seed": 3},
                                                    "time": {"offset_lr": 0.5}}))
    (tmp_path / "child.json").write_text(json.dumps({"extends": "base.json", "train": {"iterations": 70}}))
    cfg = load_config(tmp_path / "child.json", {"seed": "4"})
    assert (cfg.train.iterations, cfg.train.seed, cfg.time.offset_lr) == (70, 4, 0.5)
    (tmp_path / "loop.json").write_text(json.dumps({"extends": "loop.json"}))
    with pytest.raises(ConfigError, match="cycle"):
        load_config(tmp_path / "loop.json")


def test_saved_config_round_trips(tmp_path):
    cfg = load_config(None, {"iterations": "42", "model.keyframe_interval_frames": "3"})
    cfg.save(tmp_path / "config.json")
    again = load_config(tmp_path / "config.json")
    assert again == cfg and isinstance(again, ExperimentConfig)


def test_every_shipped_config_loads():
    files = sorted((REPO / "configs").rglob("*.json"))
    assert len(files) >= 15
    for f in files:
        load_config(f)
    n3v = load_config(REPO / "configs/n3v/coffee_martini.json")
    birthday = load_config(REPO / "configs/technicolor/Birthday.json")
    assert n3v.render.near == 0.0 and n3v.train.iterations == 40000 and n3v.time.warmup_iterations == 3000
    assert birthday.densify.static.refine_every == 250 and birthday.optim.dynamic.opacities == pytest.approx(1e-4)


def test_cli_flags_cover_every_key():
    p = argparse.ArgumentParser()
    cli_train.add_arguments(p)
    args = p.parse_args(["-m", "out", "-s", "scene", "--iterations", "9", "--time.offset_lr", "0.01",
                         "--densify.dynamic.enabled", "false"])
    cfg = load_config(None, cli_train.overrides_from_args(args))
    assert (cfg.train.iterations, cfg.time.offset_lr, cfg.densify.dynamic.enabled) == (9, 0.01, False)
    with pytest.raises(SystemExit):        # ambiguous flat flag is refused by argparse with the candidates
        p.parse_args(["-m", "o", "-s", "s", "--refine_every", "3"])


def test_align_section_file_overrides_and_record(tmp_path):
    """Stage 1's settings are the ``align`` section: from a file, overridden by ``align.KEY``, saved with the run."""
    f = tmp_path / "cfg.json"
    f.write_text(json.dumps({"align": {"rates": "30,25,24", "max_offset_s": 1.5}}))
    cfg = load_config(f, {"align.max_offset_s": "0.75", "align.track_max_side": "320"})
    assert (cfg.align.rates, cfg.align.max_offset_s, cfg.align.track_max_side) == ("30,25,24", 0.75, 320)
    assert cfg.align.rate_spec().true_fps == (30.0, 25.0, 24.0)
    cfg.save(tmp_path / "config.json")
    saved = json.loads((tmp_path / "config.json").read_text())
    assert saved["align"]["rates"] == "30,25,24" and saved["align"]["max_offset_s"] == 0.75
    assert load_config(tmp_path / "config.json") == cfg
    # an old M/config.json without the section loads with the defaults
    del saved["align"]
    (tmp_path / "old.json").write_text(json.dumps(saved))
    assert load_config(tmp_path / "old.json").align == ExperimentConfig().align


@pytest.mark.parametrize("overrides, key", [
    ({"align.max_offset_s": "-1"}, "align.max_offset_s"),
    ({"align.rates": "fast"}, "align.rates"),
    ({"align.device": "bogus"}, "align.device"),
    ({"align.track_cue": "sometimes"}, "align.track_cue"),
    ({"align.klt_win": "0"}, "align.klt_win"),
])
def test_align_errors_name_the_key(overrides, key):
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        load_config(None, overrides)


def test_align_keys_are_dotted_only():
    """The align section adds no flat alias: the flat names of stage 2 mean what they meant before."""
    cfg = load_config(None, {"seed": "5", "device": "cpu", "min_views": "3"})
    assert (cfg.train.seed, cfg.train.device, cfg.moving.min_views) == (5, "cpu", 3)
    assert (cfg.align.seed, cfg.align.device, cfg.align.min_views) == (0, "auto", 3)
    with pytest.raises(ConfigError, match="unknown config key 'rates'"):
        load_config(None, {"rates": "1"})
    p = argparse.ArgumentParser()
    cli_train.add_arguments(p)
    args = p.parse_args(["-m", "o", "-s", "s", "--align.rates", "30,25,24", "--align.max-offset-s", "2"])
    assert load_config(None, cli_train.overrides_from_args(args)).align.rates == "30,25,24"
    assert cli_train.overrides_from_args(args)["align.max_offset_s"] == "2"


def test_align_command_reads_the_same_section(tmp_path):
    """``sync4dgs align``: --config's align section, its original flags as aliases of align.KEY, dotted keys."""
    from sync4dgs.cli.align import align_overrides  # noqa: PLC0415
    from sync4dgs.cli.main import build_command_parser  # noqa: PLC0415

    parser = build_command_parser("align")[1]
    f = tmp_path / "cfg.json"
    f.write_text(json.dumps({"align": {"rates": "30,25,24", "seed": 7}}))
    old = parser.parse_args([str(tmp_path), "--config", str(f), "--rates", "1", "--max_offset_s", "0.5",
                             "--track-max-side", "320", "--device", "cpu"])
    new = parser.parse_args([str(tmp_path), "--config", str(f), "--align.rates", "1", "--align.max_offset_s", "0.5",
                             "--align.track_max_side", "320", "--align.device", "cpu"])
    assert align_overrides(old) == align_overrides(new) == {"align.rates": "1", "align.max_offset_s": "0.5",
                                                            "align.track_max_side": "320", "align.device": "cpu"}
    cfg = load_config(old.config, align_overrides(old)).align
    assert (cfg.rates, cfg.max_offset_s, cfg.track_max_side, cfg.device, cfg.seed) == ("1", 0.5, 320, "cpu", 7)
    assert load_config(None, align_overrides(parser.parse_args([str(tmp_path)]))).align == ExperimentConfig().align
