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
