"""Fuzzing ``sync4dgs prepare`` with damaged inputs of every format.

Each case damages a private copy of a tiny dataset (technicolor, colmap flat and per-camera, n3v), runs the CLI
in-process and asserts: non-zero exit, no traceback, the message names the file (or the option), the input tree
is byte-for-byte what it was before the run, and no output (nor a temporary sibling of it) is left behind.
Cases are generated from small variations: every field set to NaN, wrong counts, non-rotations, truncated and
foreign files, missing files, bad options.
"""

from __future__ import annotations

from collections.abc import Callable
import struct
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

from reliability_damage import (append, copy, cut_bytes, cut_in_packet, delete, edit_line, edit_text, nothing, patch, resize_frame,
                               resize_image, set_token, truncate, write, zero_fill, zero_packet)

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


def _frame_cases(fmt: str, rel: str, frame: int | None,
                 kinds: tuple[str, ...] = ("truncated", "zero-tail", "zeroed", "half-size", "text")) -> list[Case]:
    """A damaged frame of an image-sequence format: prepare decodes every frame once, so each is caught there,
    naming the file and the frame (``frame`` None: a camera's only frame, read whole by the reader itself)."""
    name = Path(rel).name
    damages = {"truncated": truncate(rel, 0.7), "zero-tail": zero_fill(rel, 0.5), "zeroed": zero_fill(rel),
               "half-size": resize_image(rel), "text": write(rel, b"not an image"), "cut-2": cut_bytes(rel, 2)}
    return [Case(f"{fmt}-frame-{kind}", fmt, damages[kind], (name,) if frame is None else (name, f"frame {frame}"))
            for kind in kinds]


# ---- technicolor: cameras_parameters.txt has a header, then "f cu cv ar sk qw qx qy qz tx ty tz" per camera
def _tech_field(line: int, col: int, value: str) -> Callable[[Path], None]:
    return set_token(PARAMS, line, col, value)


def _tech_line(line: int, fn: Callable[[list[str]], list[str]]) -> Callable[[Path], None]:
    return edit_line(PARAMS, line, fn)


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
        Case("text-after-cameras", "technicolor", edit_text(PARAMS, lambda s: s + "end of file\n"), (PARAMS, "non-numeric")),
        Case("header-only", "technicolor", edit_text(PARAMS, lambda s: s.splitlines()[0] + "\n"), (PARAMS, "no camera")),
        Case("one-camera-described", "technicolor", edit_text(PARAMS, lambda s: "\n".join(s.splitlines()[:2]) + "\n"),
             (PARAMS, "index")),
        Case("binary-parameters", "technicolor", write(PARAMS, bytes(range(256)) * 4), (PARAMS,)),
        Case("empty-parameters", "technicolor", write(PARAMS, b""), (PARAMS,)),
        Case("truncated-png", "technicolor", truncate(FRAME0), (FRAME0,)),
        Case("text-as-png", "technicolor", write(FRAME0, b"not an image"), (FRAME0,)),
        Case("half-size-png", "technicolor", resize_image("Tiny_undist_00002_01.png"), ("Tiny_undist_00002_01.png",)),
        Case("empty-png", "technicolor", write(FRAME0, b""), (FRAME0,)),
        Case("no-parameters-file", "technicolor", delete(PARAMS), ("technicolor", PARAMS), ["--format", "technicolor"]),
    ]
    bad_options = [("reference", ["--reference", "cam09"], "cam09"), ("test-camera", ["--test_cameras", "camX"], "camX"),
                   ("frames-outside", ["--frames", "50:60"], "frame"), ("downscale-7", ["--downscale", "7"], "downscale"),
                   ("downscale-0", ["--downscale", "0"], "downscale"), ("fps-negative", ["--fps", "-3"], "fps"),
                   ("exclude-all", ["--exclude_cameras", "cam00,cam01"], "excluded"),
                   ("frames-syntax", ["--frames", "5"], "--frames"), ("frames-empty", ["--frames", "3:3"], "--frames"),
                   ("wrong-format", ["--format", "n3v"], "n3v"), ("unknown-format", ["--format", "blender"], "--format")]
    cases += [Case(f"option-{n}", "technicolor", nothing, (name,), args) for n, args, name in bad_options]
    return cases


# ---- colmap (TXT model): cameras.txt "ID MODEL W H PARAMS", images.txt "ID QW QX QY QZ TX TY TZ CAM NAME\n2D\n"
def _colmap_cases(fmt: str) -> list[Case]:
    cams, imgs, pts = f"{SPARSE}/cameras.txt", f"{SPARSE}/images.txt", f"{SPARSE}/points3D.txt"

    tok = set_token
    image_cols = ["id", "qw", "qx", "qy", "qz", "tx", "ty", "tz", "camera"]
    cases = [Case(f"{fmt}-image-nan-{name}", fmt, tok(imgs, 0, k, "nan"), ("images.txt", "line 1"))
             for k, name in enumerate(image_cols)]
    cases += [Case(f"{fmt}-image-text-{name}", fmt, tok(imgs, 2, k, "x"), ("images.txt", "line 3"))
              for k, name in enumerate(image_cols) if name in ("id", "qw", "tz", "camera")]
    cases += [Case(f"{fmt}-camera-nan-param{k}", fmt, tok(cams, 0, 4 + k, "nan"), ("cameras.txt", "line 1"))
              for k in range(4)]
    cases += [
        Case(f"{fmt}-undefined-camera-id", fmt, tok(imgs, 2, 8, "99"), ("images.txt", "camera id 99")),
        Case(f"{fmt}-no-cameras", fmt, write(cams, b"# nothing\n"), ("cameras.txt",)),
        Case(f"{fmt}-camera-width-0", fmt, tok(cams, 1, 2, "0"), ("cameras.txt", "size")),
        Case(f"{fmt}-camera-width-text", fmt, tok(cams, 1, 2, "wide"), ("cameras.txt", "wide")),
        Case(f"{fmt}-camera-unknown-model", fmt, tok(cams, 0, 1, "FISHEYE_X"), (SPARSE,)),
        Case(f"{fmt}-camera-too-few-params", fmt, edit_text(cams, lambda s: s.splitlines()[0].rsplit(" ", 2)[0] + "\n"
                                                        + "\n".join(s.splitlines()[1:]) + "\n"), (SPARSE,)),
        Case(f"{fmt}-camera-negative-focal", fmt, tok(cams, 0, 4, "-52"), ("focal",)),
        Case(f"{fmt}-duplicate-camera-id", fmt, tok(cams, 1, 0, "1"), ("cameras.txt", "twice")),
        Case(f"{fmt}-zero-quaternion", fmt, edit_text(imgs, lambda s: "\n".join(
            [" ".join([ln.split()[0], "0", "0", "0", "0", *ln.split()[5:]]) if i == 0 else ln
             for i, ln in enumerate(s.splitlines())]) + "\n"), ("images.txt", "quaternion")),
        Case(f"{fmt}-scaled-quaternion", fmt, tok(imgs, 2, 1, "3.0"), ("images.txt", "quaternion")),
        Case(f"{fmt}-duplicate-image-id", fmt, tok(imgs, 2, 0, "1"), ("images.txt", "twice")),
        Case(f"{fmt}-image-line-truncated", fmt, edit_text(imgs, lambda s: " ".join(s.split()[:6]) + "\n"),
             ("images.txt", "line 1")),
        Case(f"{fmt}-images-binary", fmt, write(imgs, b"\x00\xff\xfe\x80" * 64), ("images.txt",)),
        Case(f"{fmt}-points-nan", fmt, tok(pts, 3, 2, "nan"), ("points3D.txt", "line 4")),
        Case(f"{fmt}-points-garbage", fmt, edit_text(pts, lambda s: "garbage line\n" + s), ("points3D.txt", "line 1")),
        Case(f"{fmt}-no-images-txt", fmt, delete(imgs), ("colmap",), ["--format", "colmap"]),
    ]
    if fmt == "colmap":
        cases += [
            Case("colmap-image-missing", "colmap", delete("images/cam01.png"), ("cam01.png",)),
            Case("colmap-image-truncated", "colmap", truncate("images/cam01.png"), ("cam01.png",)),
            Case("colmap-image-half-size", "colmap", resize_image("images/cam00.png"), ("cam00.png",)),
            Case("colmap-image-name-changed", "colmap", tok(imgs, 2, 9, "cam07.png"), ("cam07.png",)),
        ]
    else:
        cases += [
            Case("nested-frame-gap", fmt, copy("images/cam01/00005.png", "images/cam01/00000.png"), ("cam01", "contiguous")),
            Case("nested-mixed-types", fmt, copy("images/cam00/00002.jpg", "images/cam00/00000.png"), ("cam00", "mix")),
            Case("nested-frame-half-size", fmt, resize_image("images/cam01/00001.png"), ("00001.png",)),
            Case("nested-frame-truncated", fmt, truncate("images/cam00/00001.png", 0.002), ("00001.png",)),
            Case("nested-frames-outside", fmt, nothing, ("--frames",), ["--frames", "7:9"]),
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
        Case("n3v-text-as-npy", "n3v", write(pb, b"poses, not numbers"), (pb,)),
        Case("n3v-truncated-npy", "n3v", truncate(pb, 0.6), (pb,)),
        Case("n3v-pickled-npy", "n3v", lambda src: np.save(src / pb, np.array([{"a": 1}], dtype=object),
                                                           allow_pickle=True), (pb,)),
        Case("n3v-truncated-video", "n3v", truncate("cam01.mp4", 0.3), ("cam01.mp4",)),
        Case("n3v-text-as-video", "n3v", write("cam00.mp4", b"not a video"), ("cam00.mp4",)),
        Case("n3v-empty-video", "n3v", write("cam01.mp4", b""), ("cam01.mp4",)),
        Case("n3v-gt-sync-garbage", "n3v", write("gt_sync.json", b"{not json"), ("gt_sync.json",)),
        Case("n3v-gt-sync-list", "n3v", write("gt_sync.json", b"[1, 2, 3]"), ("gt_sync.json",)),
        Case("n3v-gt-sync-other-cameras", "n3v", write(
            "gt_sync.json", b'{"reference_camera": "cam00", "cameras": {"cam00": {"offset_s": 0, "rate": 1}}}'),
            ("gt_sync.json",)),
        Case("n3v-pose-cameras-count", "n3v", nothing, ("pose_cameras",), ["--pose_cameras", "cam00"]),
        Case("n3v-frames-outside", "n3v", nothing, ("--frames",), ["--frames", "40:50"]),
        Case("n3v-downscale-5", "n3v", nothing, ("downscale",), ["--downscale", "5"]),
    ]
    return cases


# ---- every frame is decoded once at prepare: damaged frames after the first, in every image format -------
def _decode_cases() -> list[Case]:
    cases = _frame_cases("technicolor", "Tiny_undist_00002_01.png", 1, ("truncated", "zero-tail", "zeroed", "text"))
    cases += _frame_cases("colmap", "images/cam01.png", None, ("zero-tail", "zeroed"))
    cases += _frame_cases("colmap_nested", "images/cam01/00001.png", 1, ("truncated", "zero-tail", "zeroed", "text"))
    cases += _frame_cases("colmap_jpg", "images/cam01/00001.jpg", 1,
                          ("truncated", "zero-tail", "zeroed", "half-size", "text", "cut-2"))
    video = "cam01.mp4"
    cases += [   # packet k of the 2-frame videos holds frame k
        Case("n3v-frame-zeroed", "n3v", zero_packet(video, 1), (video, "frame 1", "does not decode")),
        Case("n3v-first-frame-zeroed", "n3v", zero_packet("cam00.mp4", 0), ("cam00.mp4", "frame 0")),
        Case("n3v-download-cut", "n3v", cut_in_packet(video, 1), (video, "frame 1")),
        Case("n3v-frame-half-size", "n3v", resize_frame(video, 1), (video, "frame 1", "expected 64x48")),
    ]
    return cases


# ---- colmap (binary model, flat layout): byte layouts in sync4dgs/data/readers/colmap_binary.py ----------
def _binary_cases() -> list[Case]:
    cams, imgs, pts = f"{SPARSE}/cameras.bin", f"{SPARSE}/images.bin", f"{SPARSE}/points3D.bin"
    cam1, img0, img1, pt1 = 8 + 56, 8, 8 + 82, 8 + 51     # record offsets: PINHOLE cameras, names "camXX.png\0"
    orphan_point = struct.pack("<Q3d3BdQ2I", 999, 0.0, 0.0, 1.0, 9, 9, 9, 0.5, 1, 99, 0)
    table = [
        (cams, "truncated", truncate(cams, 0.7), "truncated"), (cams, "cut-1", cut_bytes(cams, 1), "truncated"),
        (cams, "extra-bytes", append(cams, b"\0" * 5), "unexpected"), (cams, "count-huge", patch(cams, 0, "<Q", 10**6), "room"),
        (cams, "count-short", patch(cams, 0, "<Q", 1), "unexpected"), (cams, "unknown-model", patch(cams, 8 + 4, "<i", 99), "model id 99"),
        (cams, "width-0", patch(cams, 8 + 8, "<Q", 0), "size"), (cams, "nan-focal", patch(cams, 8 + 24, "<d", float("nan")), "NaN"),
        (cams, "duplicate-id", patch(cams, cam1, "<I", 1), "twice"), (cams, "empty", write(cams, b""), "truncated"),
        (cams, "text", write(cams, b"# Camera list\n1 PINHOLE 64 48 52 52 32 24\n"), "room"),
        (imgs, "truncated", truncate(imgs, 0.7), "truncated"), (imgs, "cut-3", cut_bytes(imgs, 3), "truncated"),
        (imgs, "count-huge", patch(imgs, 0, "<Q", 2**40), "room"), (imgs, "zero-quaternion", patch(imgs, img0 + 4, "<4d", 0, 0, 0, 0), "quaternion"),
        (imgs, "nan-tz", patch(imgs, img0 + 52, "<d", float("inf")), "NaN"),
        (imgs, "undefined-camera", patch(imgs, img1 + 60, "<I", 99), "camera id 99"),
        (imgs, "duplicate-id", patch(imgs, img1, "<I", 1), "twice"),
        (imgs, "name-not-text", patch(imgs, img0 + 64, "<B", 0xFF), "not text"),
        (imgs, "name-unterminated", patch(imgs, img1 + 73, "<9s", b"xxxxxxxxx"), "images.bin"),
        (pts, "truncated", truncate(pts, 0.5), "room"), (pts, "cut-1", cut_bytes(pts, 1), "truncated"),
        (pts, "nan-x", patch(pts, pt1 + 8, "<d", float("nan")), "NaN"),
        (pts, "duplicate-id", patch(pts, pt1, "<Q", 1), "twice"),
        (pts, "track-to-missing-image", lambda src: (patch(pts, 0, "<Q", 151)(src), append(pts, orphan_point)(src)),
         "image id(s) [99]"),
    ]
    return [Case(f"colmap-bin-{Path(rel).stem}-{kind}", "colmap_bin", damage, (Path(rel).name, word))
            for rel, kind, damage, word in table]


CASES = (_technicolor_cases() + _colmap_cases("colmap") + _colmap_cases("colmap_nested") + _n3v_cases()
         + _decode_cases() + _binary_cases())


def test_the_suite_is_large_enough():
    assert len(CASES) >= 80 and len({c.id for c in CASES}) == len(CASES)
    assert {c.fmt for c in CASES} == {"technicolor", "colmap", "colmap_nested", "colmap_jpg", "colmap_bin", "n3v"}


@pytest.mark.parametrize("fmt", ["technicolor", "colmap", "colmap_nested", "colmap_jpg", "colmap_bin", "n3v"])
def test_the_intact_datasets_prepare(fmt, h, clone, tmp_path, capsys):
    """The control group: every master dataset the damaged cases start from prepares (all its frames decode)."""
    out = tmp_path / "scene"
    res = h.run_cli(["prepare", str(clone(fmt)), "--out", str(out), "--points", "random"], capsys)
    assert res.rc == 0, res.err
    assert (out / "scene.json").is_file()


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
