"""Fuzzing ``sync4dgs prepare`` with damaged inputs of every format.

Each case damages a private copy of a tiny dataset (technicolor, colmap flat and per-camera, n3v), runs the CLI
in-process and asserts: non-zero exit, no traceback, the message names the file (or the option), the input tree
is byte-for-byte what it was before the run, and no output (nor a temporary sibling of it) is left behind.
Cases are generated from small variations: every field set to NaN, wrong counts, non-rotations, truncated and
foreign files, missing files, bad options.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

PARAMS = "cameras_parameters.txt"
SPARSE = "sparse/0"


@dataclass
class Case:
    """One damaged input: ``damage(src)`` edits the copy; ``names``: what the error must mention."""

    id: str
    fmt: str
    damage: Callable[[Path], None]
    names: tuple[str, ...]
    args: list[str] = field(default_factory=list)


def _edit(rel: str, fn: Callable[[str], str]) -> Callable[[Path], None]:
    def damage(src: Path) -> None:
        p = src / rel
        p.write_text(fn(p.read_text()))
    return damage


def _write(rel: str, data: bytes) -> Callable[[Path], None]:
    def damage(src: Path) -> None:
        (src / rel).write_bytes(data)
    return damage


def _truncate(rel: str, keep: float = 0.5) -> Callable[[Path], None]:
    def damage(src: Path) -> None:
        p = src / rel
        data = p.read_bytes()
        p.write_bytes(data[: int(len(data) * keep)])
    return damage


def _delete(rel: str) -> Callable[[Path], None]:
    def damage(src: Path) -> None:
        (src / rel).unlink()
    return damage


def _nothing(src: Path) -> None:
    """No damage: the case is a bad option."""


def _resize_png(rel: str) -> Callable[[Path], None]:
    def damage(src: Path) -> None:
        import cv2  # noqa: PLC0415

        img = cv2.imread(str(src / rel))
        cv2.imwrite(str(src / rel), cv2.resize(img, (img.shape[1] // 2, img.shape[0] // 2)))
    return damage


# ---- technicolor: cameras_parameters.txt has a header, then "f cu cv ar sk qw qx qy qz tx ty tz" per camera
def _tech_field(line: int, col: int, value: str) -> Callable[[Path], None]:
    def fn(text: str) -> str:
        lines = text.splitlines()
        tok = lines[line].split()
        tok[col] = value
        lines[line] = " ".join(tok)
        return "\n".join(lines) + "\n"
    return _edit(PARAMS, fn)


def _tech_line(line: int, fn: Callable[[list[str]], list[str]]) -> Callable[[Path], None]:
    def edit(text: str) -> str:
        lines = text.splitlines()
        lines[line] = " ".join(fn(lines[line].split()))
        return "\n".join(lines) + "\n"
    return _edit(PARAMS, edit)


TECH_FIELDS = ["f", "cu", "cv", "ar", "sk", "qw", "qx", "qy", "qz", "tx", "ty", "tz"]
FRAME0 = "Tiny_undist_00001_00.png"


def _technicolor_cases() -> list[Case]:
    cases = [Case(f"nan-{name}", "technicolor", _tech_field(1, k, "nan"), (PARAMS, "line 2"))
             for k, name in enumerate(TECH_FIELDS)]
    cases += [Case(f"inf-{name}", "technicolor", _tech_field(2, k, "inf"), (PARAMS, "line 3"))
              for k, name in enumerate(TECH_FIELDS) if name in ("f", "qw", "tz")]
    cases += [
        Case("zero-focal", "technicolor", _tech_field(1, 0, "0"), (PARAMS, "focal")),
        Case("negative-focal", "technicolor", _tech_field(1, 0, "-52"), (PARAMS, "focal")),
        Case("zero-aspect", "technicolor", _tech_field(1, 3, "0"), (PARAMS, "aspect")),
        Case("zero-quaternion", "technicolor", _tech_line(1, lambda t: t[:5] + ["0"] * 4 + t[9:]), (PARAMS, "norm")),
        Case("double-quaternion", "technicolor",
             _tech_line(1, lambda t: t[:5] + [str(2 * float(v)) for v in t[5:9]] + t[9:]), (PARAMS, "norm")),
        Case("eleven-numbers", "technicolor", _tech_line(1, lambda t: t[:11]), (PARAMS, "expected 12")),
        Case("thirteen-numbers", "technicolor", _tech_line(2, lambda t: t + ["1"]), (PARAMS, "expected 12")),
        Case("distortion", "technicolor", _tech_line(1, lambda t: t[:5] + ["0.1", "0"] + t[5:]), (PARAMS, "distortion")),
        Case("text-after-cameras", "technicolor", _edit(PARAMS, lambda s: s + "end of file\n"), (PARAMS, "non-numeric")),
        Case("header-only", "technicolor", _edit(PARAMS, lambda s: s.splitlines()[0] + "\n"), (PARAMS, "no camera")),
        Case("one-camera-described", "technicolor", _edit(PARAMS, lambda s: "\n".join(s.splitlines()[:2]) + "\n"),
             (PARAMS, "index")),
        Case("binary-parameters", "technicolor", _write(PARAMS, bytes(range(256)) * 4), (PARAMS,)),
        Case("empty-parameters", "technicolor", _write(PARAMS, b""), (PARAMS,)),
        Case("truncated-png", "technicolor", _truncate(FRAME0), (FRAME0,)),
        Case("text-as-png", "technicolor", _write(FRAME0, b"not an image"), (FRAME0,)),
        Case("half-size-png", "technicolor", _resize_png("Tiny_undist_00002_01.png"), ("Tiny_undist_00002_01.png",)),
        Case("empty-png", "technicolor", _write(FRAME0, b""), (FRAME0,)),
        Case("no-parameters-file", "technicolor", _delete(PARAMS), ("technicolor", PARAMS), ["--format", "technicolor"]),
    ]
    bad_options = [("reference", ["--reference", "cam09"], "cam09"), ("test-camera", ["--test_cameras", "camX"], "camX"),
                   ("frames-outside", ["--frames", "50:60"], "frame"), ("downscale-7", ["--downscale", "7"], "downscale"),
                   ("downscale-0", ["--downscale", "0"], "downscale"), ("fps-negative", ["--fps", "-3"], "fps"),
                   ("exclude-all", ["--exclude_cameras", "cam00,cam01"], "excluded"),
                   ("frames-syntax", ["--frames", "5"], "--frames"), ("frames-empty", ["--frames", "3:3"], "--frames"),
                   ("wrong-format", ["--format", "n3v"], "n3v"), ("unknown-format", ["--format", "blender"], "--format")]
    cases += [Case(f"option-{n}", "technicolor", _nothing, (name,), args) for n, args, name in bad_options]
    return cases


# ---- colmap (TXT model): cameras.txt "ID MODEL W H PARAMS", images.txt "ID QW QX QY QZ TX TY TZ CAM NAME\n2D\n"
def _colmap_cases(fmt: str) -> list[Case]:
    cams, imgs, pts = f"{SPARSE}/cameras.txt", f"{SPARSE}/images.txt", f"{SPARSE}/points3D.txt"

    def tok(rel: str, line: int, col: int, value: str) -> Callable[[Path], None]:
        def fn(text: str) -> str:
            lines = text.splitlines()
            t = lines[line].split()
            t[col] = value
            lines[line] = " ".join(t)
            return "\n".join(lines) + "\n"
        return _edit(rel, fn)

    image_cols = ["id", "qw", "qx", "qy", "qz", "tx", "ty", "tz", "camera"]
    cases = [Case(f"{fmt}-image-nan-{name}", fmt, tok(imgs, 0, k, "nan"), ("images.txt", "line 1"))
             for k, name in enumerate(image_cols)]
    cases += [Case(f"{fmt}-image-text-{name}", fmt, tok(imgs, 2, k, "x"), ("images.txt", "line 3"))
              for k, name in enumerate(image_cols) if name in ("id", "qw", "tz", "camera")]
    cases += [Case(f"{fmt}-camera-nan-param{k}", fmt, tok(cams, 0, 4 + k, "nan"), ("cameras.txt", "line 1"))
              for k in range(4)]
    cases += [
        Case(f"{fmt}-undefined-camera-id", fmt, tok(imgs, 2, 8, "99"), ("images.txt", "camera id 99")),
        Case(f"{fmt}-no-cameras", fmt, _write(cams, b"# nothing\n"), ("cameras.txt",)),
        Case(f"{fmt}-camera-width-0", fmt, tok(cams, 1, 2, "0"), ("cameras.txt", "size")),
        Case(f"{fmt}-camera-width-text", fmt, tok(cams, 1, 2, "wide"), ("cameras.txt", "wide")),
        Case(f"{fmt}-camera-unknown-model", fmt, tok(cams, 0, 1, "FISHEYE_X"), (SPARSE,)),
        Case(f"{fmt}-camera-too-few-params", fmt, _edit(cams, lambda s: s.splitlines()[0].rsplit(" ", 2)[0] + "\n"
                                                        + "\n".join(s.splitlines()[1:]) + "\n"), (SPARSE,)),
        Case(f"{fmt}-camera-negative-focal", fmt, tok(cams, 0, 4, "-52"), ("focal",)),
        Case(f"{fmt}-duplicate-camera-id", fmt, tok(cams, 1, 0, "1"), ("cameras.txt", "twice")),
        Case(f"{fmt}-zero-quaternion", fmt, _edit(imgs, lambda s: "\n".join(
            [" ".join([ln.split()[0], "0", "0", "0", "0", *ln.split()[5:]]) if i == 0 else ln
             for i, ln in enumerate(s.splitlines())]) + "\n"), ("images.txt", "quaternion")),
        Case(f"{fmt}-scaled-quaternion", fmt, tok(imgs, 2, 1, "3.0"), ("images.txt", "quaternion")),
        Case(f"{fmt}-duplicate-image-id", fmt, tok(imgs, 2, 0, "1"), ("images.txt", "twice")),
        Case(f"{fmt}-image-line-truncated", fmt, _edit(imgs, lambda s: " ".join(s.split()[:6]) + "\n"),
             ("images.txt", "line 1")),
        Case(f"{fmt}-images-binary", fmt, _write(imgs, b"\x00\xff\xfe\x80" * 64), ("images.txt",)),
        Case(f"{fmt}-points-nan", fmt, tok(pts, 3, 2, "nan"), ("points3D.txt", "line 4")),
        Case(f"{fmt}-points-garbage", fmt, _edit(pts, lambda s: "garbage line\n" + s), ("points3D.txt", "line 1")),
        Case(f"{fmt}-no-images-txt", fmt, _delete(imgs), ("colmap",), ["--format", "colmap"]),
    ]
    if fmt == "colmap":
        cases += [
            Case("colmap-image-missing", "colmap", _delete("images/cam01.png"), ("cam01.png",)),
            Case("colmap-image-truncated", "colmap", _truncate("images/cam01.png"), ("cam01.png",)),
            Case("colmap-image-half-size", "colmap", _resize_png("images/cam00.png"), ("cam00.png",)),
            Case("colmap-image-name-changed", "colmap", tok(imgs, 2, 9, "cam07.png"), ("cam07.png",)),
        ]
    else:
        def add(rel: str, src_rel: str) -> Callable[[Path], None]:
            def damage(src: Path) -> None:
                (src / rel).write_bytes((src / src_rel).read_bytes())
            return damage
        cases += [
            Case("nested-frame-gap", fmt, add("images/cam01/00005.png", "images/cam01/00000.png"), ("cam01", "contiguous")),
            Case("nested-mixed-types", fmt, add("images/cam00/00002.jpg", "images/cam00/00000.png"), ("cam00", "mix")),
            Case("nested-frame-half-size", fmt, _resize_png("images/cam01/00001.png"), ("00001.png",)),
            # prepare reads every frame's header only (a full decode of long sequences is too slow): a frame cut
            # inside its header is caught here, one cut later when training loads it
            Case("nested-frame-truncated", fmt, _truncate("images/cam00/00001.png", 0.002), ("00001.png",)),
            Case("nested-frames-outside", fmt, _nothing, ("--frames",), ["--frames", "7:9"]),
        ]
    return cases


# ---- n3v: poses_bounds.npy [N, 17] (3x5 LLFF matrix row-major + near, far), camXX.mp4
def _poses(fn: Callable[[np.ndarray], np.ndarray]) -> Callable[[Path], None]:
    def damage(src: Path) -> None:
        p = src / "poses_bounds.npy"
        np.save(p, fn(np.load(p)))
    return damage


def _set(row: int, cols, value: float) -> Callable[[np.ndarray], np.ndarray]:
    def fn(a: np.ndarray) -> np.ndarray:
        a = a.copy()
        a[row, cols] = value
        return a
    return fn


def _rotation(row: int, fn: Callable[[np.ndarray], np.ndarray]) -> Callable[[np.ndarray], np.ndarray]:
    def edit(a: np.ndarray) -> np.ndarray:
        a = a.copy()
        m = a[row, :15].reshape(3, 5)
        m[:, :3] = fn(m[:, :3])
        a[row, :15] = m.reshape(15)
        return a
    return edit


def _n3v_cases() -> list[Case]:
    pb = "poses_bounds.npy"
    labels = {0: "R00", 1: "R01", 3: "C0", 4: "h", 6: "R11", 8: "C1", 9: "w", 12: "R22", 13: "C2", 14: "f",
              15: "near", 16: "far"}
    cases = [Case(f"n3v-nan-{name}", "n3v", _poses(_set(1, col, np.nan)), (pb, "NaN")) for col, name in labels.items()]
    cases += [
        Case("n3v-scaled-rotation", "n3v", _poses(_rotation(0, lambda r: 2 * r)), (pb, "orthonormal")),
        Case("n3v-reflection", "n3v", _poses(_rotation(0, lambda r: r * np.array([1, 1, -1]))), (pb, "det")),
        Case("n3v-sheared-rotation", "n3v", _poses(_rotation(1, lambda r: r + 0.2 * np.eye(3)[::-1])), (pb, "orthonormal")),
        Case("n3v-zero-rotation", "n3v", _poses(_rotation(1, lambda r: 0 * r)), (pb, "rotation")),
        Case("n3v-16-columns", "n3v", _poses(lambda a: a[:, :16]), (pb, "shape")),
        Case("n3v-one-dimensional", "n3v", _poses(lambda a: a[0]), (pb, "shape")),
        Case("n3v-no-rows", "n3v", _poses(lambda a: a[:0]), (pb, "shape")),
        Case("n3v-three-rows", "n3v", _poses(lambda a: np.concatenate([a, a[:1]])), (pb, "pose rows")),
        Case("n3v-one-row", "n3v", _poses(lambda a: a[:1]), (pb, "pose rows")),
        Case("n3v-zero-height", "n3v", _poses(_set(0, 4, 0.0)), (pb, "hwf")),
        Case("n3v-negative-focal", "n3v", _poses(_set(0, 14, -5.0)), (pb, "hwf")),
        Case("n3v-aspect-mismatch", "n3v", _poses(_set(0, 9, 100.0)), (pb, "aspect")),
        Case("n3v-zero-near", "n3v", _poses(_set(0, 15, 0.0)), (pb, "near")),
        Case("n3v-far-before-near", "n3v", _poses(lambda a: _set(1, 16, 0.1)(_set(0, 16, 0.1)(a))), (pb, "near")),
        Case("n3v-text-as-npy", "n3v", _write(pb, b"poses, not numbers"), (pb,)),
        Case("n3v-truncated-npy", "n3v", _truncate(pb, 0.6), (pb,)),
        Case("n3v-pickled-npy", "n3v", lambda src: np.save(src / pb, np.array([{"a": 1}], dtype=object),
                                                           allow_pickle=True), (pb,)),
        Case("n3v-truncated-video", "n3v", _truncate("cam01.mp4", 0.3), ("cam01.mp4",)),
        Case("n3v-text-as-video", "n3v", _write("cam00.mp4", b"not a video"), ("cam00.mp4",)),
        Case("n3v-empty-video", "n3v", _write("cam01.mp4", b""), ("cam01.mp4",)),
        Case("n3v-gt-sync-garbage", "n3v", _write("gt_sync.json", b"{not json"), ("gt_sync.json",)),
        Case("n3v-gt-sync-list", "n3v", _write("gt_sync.json", b"[1, 2, 3]"), ("gt_sync.json",)),
        Case("n3v-gt-sync-other-cameras", "n3v", _write(
            "gt_sync.json", b'{"reference_camera": "cam00", "cameras": {"cam00": {"offset_s": 0, "rate": 1}}}'),
            ("gt_sync.json",)),
        Case("n3v-pose-cameras-count", "n3v", _nothing, ("pose_cameras",), ["--pose_cameras", "cam00"]),
        Case("n3v-frames-outside", "n3v", _nothing, ("--frames",), ["--frames", "40:50"]),
        Case("n3v-downscale-5", "n3v", _nothing, ("downscale",), ["--downscale", "5"]),
    ]
    return cases


CASES = _technicolor_cases() + _colmap_cases("colmap") + _colmap_cases("colmap_nested") + _n3v_cases()


def test_the_suite_is_large_enough():
    assert len(CASES) >= 80 and len({c.id for c in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input_fails_cleanly(case, h, clone, tmp_path, capsys):
    src = clone(case.fmt)
    case.damage(src)
    before = h.tree_hash(src)
    out = tmp_path / "out" / "scene"
    res = h.run_cli(["prepare", str(src), "--out", str(out), "--points", "random", *case.args], capsys)
    h.assert_clean_failure(res, *case.names)
    assert h.tree_hash(src) == before, "the input was changed"
    assert not out.exists(), "an output was written"
    assert not (out.parent.exists() and any(out.parent.iterdir())), sorted(out.parent.iterdir())
