"""``--out`` never destroys user data: prepare / unsync replace only an earlier output of ours or an empty
folder; SRC, its parents, files and foreign folders inside SRC are never replaced (sync4dgs.utils.outdir)."""

from __future__ import annotations

import pytest

from sync4dgs.data.scene import is_scene_folder


def _prepare(h, capsys, src, out, *extra):
    return h.run_cli(["prepare", str(src), "--out", str(out), "--points", "random", *extra], capsys)


@pytest.mark.parametrize("sub", ["images", "sparse", "sparse/0"])
@pytest.mark.parametrize("overwrite", [False, True])
def test_out_naming_an_input_folder_is_refused_even_with_overwrite(h, clone, capsys, sub, overwrite):
    src = clone("colmap")
    before = h.tree_hash(src)
    res = _prepare(h, capsys, src, src / sub, *(["--overwrite"] if overwrite else []))
    h.assert_clean_failure(res, sub.split("/")[-1], "dataset folder")
    assert h.tree_hash(src) == before
    assert h.no_leftovers((src / sub).parent, (src / sub).name) == []


def test_user_folder_inside_src_is_refused(h, clone, capsys):
    src = clone("technicolor")
    (src / "gt").mkdir()
    (src / "gt" / "depth_000.txt").write_text("user data")
    before = h.tree_hash(src)
    h.assert_clean_failure(_prepare(h, capsys, src, src / "gt", "--overwrite"), "gt")
    assert h.tree_hash(src) == before


@pytest.mark.parametrize("which", ["src", "parent"])
def test_src_itself_or_a_parent_is_refused(h, clone, capsys, which):
    src = clone("technicolor")
    before = h.tree_hash(src.parent)
    out = src if which == "src" else src.parent
    h.assert_clean_failure(_prepare(h, capsys, src, out, "--overwrite"), "replace the dataset folder")
    assert h.tree_hash(src.parent) == before


def test_foreign_folder_needs_overwrite(h, clone, capsys, tmp_path):
    src = clone("technicolor")
    out = tmp_path / "mine"
    out.mkdir()
    (out / "thesis.tex").write_text("do not delete")
    res = _prepare(h, capsys, src, out)
    h.assert_clean_failure(res, "mine", "--overwrite")
    assert (out / "thesis.tex").read_text() == "do not delete"
    assert _prepare(h, capsys, src, out, "--overwrite").rc == 0
    assert is_scene_folder(out) and not (out / "thesis.tex").exists()


def test_empty_folder_earlier_scene_and_new_folder_inside_src_are_written(h, clone, capsys, tmp_path):
    src = clone("technicolor")
    empty = tmp_path / "empty"
    empty.mkdir()
    assert _prepare(h, capsys, src, empty).rc == 0 and is_scene_folder(empty)
    (empty / "notes.txt").write_text("stale")             # an earlier scene is replaced whatever it holds
    assert _prepare(h, capsys, src, empty).rc == 0 and not (empty / "notes.txt").exists()
    inside = src / "sync4dgs_scene"
    assert _prepare(h, capsys, src, inside).rc == 0 and is_scene_folder(inside)
    assert _prepare(h, capsys, src, inside).rc == 0         # and again: it is ours now


def test_out_naming_a_file_is_one_line_and_leaves_the_file(h, clone, capsys, tmp_path):
    src = clone("technicolor")
    target = tmp_path / "scene.txt"
    target.write_text("a file")
    res = _prepare(h, capsys, src, target, "--overwrite")
    h.assert_clean_failure(res, "scene.txt", "not a folder")
    assert len(res.err.strip().splitlines()) == 1
    assert target.read_text() == "a file"
    assert h.no_leftovers(tmp_path, "scene.txt") == []


def test_unsync_applies_the_same_rule(h, clone, capsys, tmp_path):
    src = clone("technicolor")
    scene = tmp_path / "scene"
    assert _prepare(h, capsys, src, scene).rc == 0
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "keep.txt").write_text("keep")
    res = h.run_cli(["unsync", str(scene), "--out", str(foreign), "--max_offset_frames", "0"], capsys)
    h.assert_clean_failure(res, "foreign")
    assert (foreign / "keep.txt").read_text() == "keep"
    target = tmp_path / "file.json"
    target.write_text("{}")
    h.assert_clean_failure(h.run_cli(["unsync", str(scene), "--out", str(target)], capsys), "not a folder")
    assert target.read_text() == "{}"
    (scene / "cache").mkdir()
    (scene / "cache" / "x").write_text("x")
    before = h.tree_hash(scene)
    h.assert_clean_failure(h.run_cli(["unsync", str(scene), "--out", str(scene / "cache"), "--overwrite"],
                                     capsys), "cache")
    assert h.tree_hash(scene) == before
    res = h.run_cli(["unsync", str(scene), "--out", str(tmp_path / "u"), "--max_offset_frames", "0"], capsys)
    assert res.rc == 0, res.err
    assert h.run_cli(["unsync", str(scene), "--out", str(tmp_path / "u"), "--max_offset_frames", "0"],
                     capsys).rc == 0                        # its own earlier output is replaced
