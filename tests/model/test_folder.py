"""sync4dgs/model/folder.py: the one owner of the model folder's names, a reader for every writer."""

from __future__ import annotations

import json

import pytest

from sync4dgs.errors import DataFormatError
from sync4dgs.model import folder
from sync4dgs.sync.align import export as align_export
from sync4dgs.timemap import TimeMap, TimeMaps

MAPS = TimeMaps("cam00", {"cam00": TimeMap(0.0, 1.0, 1.0, "reference"), "cam01": TimeMap(0.25, 1.001, 0.9)})
APPEARANCE = {"iteration": 3, "gauge_camera": "cam00", "convention": "render * gain + bias",
              "cameras": {"cam00": {"gain": [1.0, 1.0, 1.0], "bias": [0.0, 0.0, 0.0]},
                          "cam01": {"gain": [1.1, 0.9, 1.0], "bias": [0.01, -0.02, 0.0]}}}


def test_every_writer_has_its_reader(tmp_path):
    m = tmp_path / "M"
    m.mkdir()
    assert folder.write_config(m, {"train": {"iterations": 5}}) == m / "config.json"
    assert folder.read_config(m) == {"train": {"iterations": 5}}
    folder.write_stats(m, {"iterations": 5})
    assert folder.read_stats(m) == {"iterations": 5}
    folder.write_time_maps(m, MAPS)
    folder.write_initial_time_maps(m, MAPS)
    assert folder.read_time_maps(m) == MAPS and folder.read_initial_time_maps(m) == MAPS
    assert (m / "time_maps.json").is_file() and (m / "time_maps_initial.json").is_file()
    folder.write_appearance(m, APPEARANCE)
    assert folder.read_appearance_file(m) == APPEARANCE
    assert folder.read_appearance(m)["cam01"] == ([1.1, 0.9, 1.0], [0.01, -0.02, 0.0])
    folder.write_refined_cameras(m, {"iteration": 3, "cameras": {"cam01": {"R": [[1, 0, 0]] * 3}}})
    assert folder.read_refined_cameras(m)["cameras"]["cam01"]["R"][0] == [1, 0, 0]
    folder.offsets_csv_path(m).write_text("iteration,cam00,cam01\n0,0.000000,0.250000\n4,0.000000,0.260000\n")
    assert folder.read_offsets_csv(m) == (["cam00", "cam01"], [[0.0, 0.0, 0.25], [4.0, 0.0, 0.26]])


def test_paths_and_iterations(tmp_path):
    m = tmp_path / "M"
    assert folder.model_file(m, 7) == m / "point_cloud" / "iteration_7" / "model.pt"
    assert folder.iteration_of(folder.model_file(m, 7)) == 7 and folder.folder_of_model_file(folder.model_file(m, 7)) == m
    assert folder.folder_of_model_file(tmp_path / "x" / "model.pt") is None
    assert folder.checkpoint_path(m, 12) == m / "checkpoints" / "ckpt_12.pt"
    assert folder.checkpoint_iteration(folder.checkpoint_path(m, 12)) == 12
    assert folder.checkpoint_iteration(m / "checkpoints" / ".ckpt_12.pt.x.tmp.pt") is None
    assert folder.ply_export_dir(m, 7) == m / "export" / "ply_7"
    assert folder.saved_iterations(m) == []
    for it in (30, 4):
        folder.iteration_dir(m, it).mkdir(parents=True)
        folder.model_file(m, it).write_bytes(b"x")
    folder.iteration_dir(m, 99).mkdir()            # no model.pt: not a saved iteration
    assert folder.saved_iterations(m) == [4, 30]


def test_stage1_names_are_the_aligners():
    """M/stage1/ holds what sync4dgs.sync.align.save_alignment writes (sync may not import model: checked here)."""
    assert folder.STAGE1_OFFSETS_FILE == align_export.OFFSETS_FILE
    assert folder.STAGE1_TRAJECTORIES_FILE == align_export.TRAJECTORIES_FILE


def test_an_old_folder_reads_with_optional_files_absent(tmp_path):
    """A folder from before time_maps_initial.json / appearance.json / the align section still reads."""
    m = tmp_path / "old"
    m.mkdir()
    (m / "config.json").write_text(json.dumps({"train": {"iterations": 2}}))
    assert "align" not in folder.read_config(m)
    for read in (folder.read_initial_time_maps, folder.read_appearance, folder.read_refined_cameras,
                 folder.read_stage1_time_maps, folder.read_stats, folder.read_offsets_csv, folder.read_time_maps):
        assert read(m) is None


def test_damaged_files_name_the_file(tmp_path):
    (tmp_path / "config.json").write_text("{oops")
    with pytest.raises(DataFormatError, match="config.json"):
        folder.read_config(tmp_path)
    (tmp_path / "appearance.json").write_text(json.dumps({"cameras": {"cam01": {"gain": [1.0]}}}))
    with pytest.raises(DataFormatError, match="appearance.json.*not a valid appearance file"):
        folder.read_appearance(tmp_path)
    with pytest.raises(DataFormatError, match="appearance.json"):
        folder.write_appearance(tmp_path / "new", {"cameras": {"a": {"gain": [1, 1], "bias": [0, 0, 0]}}})
    (tmp_path / "train_stats.json").write_text("[1, 2]")
    with pytest.raises(DataFormatError, match="train_stats.json.*JSON object"):
        folder.read_stats(tmp_path)
