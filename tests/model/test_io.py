"""Saved-model format: round trip, latest-iteration lookup, clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from sync4dgs.errors import DataFormatError
from sync4dgs.model import ModelNotFoundError, load_trained, save_model
from sync4dgs.model.io import model_file, saved_iterations
from sync4dgs.timemap import TimeMap, TimeMaps

MAPS = TimeMaps("cam00", {"cam00": TimeMap(0.0, 1.0, 1.0, "reference"), "cam01": TimeMap(0.31, 1.002, 0.8)})


def test_save_load_round_trip_gives_identical_at_time(tmp_path, model64):
    m = model64.float()
    m.ensure_time_domain(-2.0, 3.0)               # a grown grid must round-trip too
    meta = {"scene": Path("/data/scene"), "train_time_s": 12.5, "n": 3}
    save_model(model_file(tmp_path, 700), m, MAPS, meta)
    save_model(model_file(tmp_path, 1500), m, MAPS, meta)
    assert saved_iterations(tmp_path) == [700, 1500]
    loaded = load_trained(tmp_path)
    assert loaded.iteration == 1500
    assert loaded.meta == {"scene": "/data/scene", "train_time_s": 12.5, "n": 3}
    assert loaded.time_maps.cameras["cam01"].offset_s == pytest.approx(0.31)
    assert loaded.time_maps.reference_camera == "cam00"
    assert loaded.model.config == m.config
    assert loaded.model.num_keyframes == m.num_keyframes
    for t in (-1.5, 0.0, 0.37, 1.2, 2.9):
        g0, g1 = m.at_time(t), loaded.model.at_time(t)
        for f in ("means", "quats", "scales", "opacities", "colors"):
            assert torch.equal(getattr(g0, f), getattr(g1, f)), f
    assert load_trained(tmp_path, iteration=700).iteration == 700
    direct = load_trained(model_file(tmp_path, 700))
    assert direct.iteration == 700 and direct.model.n_dynamic == m.n_dynamic


def test_missing_folder_iteration_and_file_give_clear_errors(tmp_path, model64):
    with pytest.raises(ModelNotFoundError, match="model folder not found"):
        load_trained(tmp_path / "nope")
    with pytest.raises(FileNotFoundError, match="no saved iterations"):
        load_trained(tmp_path)
    save_model(model_file(tmp_path, 10), model64, MAPS, {})
    with pytest.raises(DataFormatError, match=r"iteration 20 not saved; available: \[10\]"):
        load_trained(tmp_path, iteration=20)


def test_corrupt_or_foreign_files_are_rejected(tmp_path):
    bad = model_file(tmp_path, 5)
    bad.parent.mkdir(parents=True)
    bad.write_bytes(b"not a torch file")
    with pytest.raises(DataFormatError, match="cannot read model file"):
        load_trained(tmp_path)
    torch.save({"format": "something-else"}, bad)
    with pytest.raises(DataFormatError, match="not a sync4dgs model file"):
        load_trained(tmp_path)
    torch.save({"format": "sync4dgs.gaussians4d", "version": 99}, bad)
    with pytest.raises(DataFormatError, match="unsupported model file version"):
        load_trained(tmp_path)


def test_io_module_does_not_import_the_trainer():
    import subprocess
    import sys
    code = ("import sys, sync4dgs.model.io; "
            "bad = [m for m in sys.modules if m.startswith('sync4dgs.train')]; assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True)
