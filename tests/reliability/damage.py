"""Damage builders shared by the fuzz suites: each returns ``damage(root)``, which damages the file ``rel``
under the dataset or scene folder ``root`` in one way (edit a token, truncate, zero-fill, resize, ...).

Video damage works on the stream's packets (their byte positions come from PyAV), so that a case hits a known
frame: ``zero_packet`` fills one frame's data with zeros, ``cut_in_packet`` rewrites the file with its index
first (as ``-movflags faststart`` does) and cuts it inside one frame's data, ``resize_frame`` re-encodes the
video with one frame of another size.
"""

from __future__ import annotations

import shutil
import struct
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path

import numpy as np

Damage = Callable[[Path], None]


def edit_text(rel: str, fn: Callable[[str], str]) -> Damage:
    """Replace the text of ``rel`` by ``fn(text)``."""
    def damage(root: Path) -> None:
        p = root / rel
        p.write_text(fn(p.read_text()))
    return damage


def edit_line(rel: str, line: int, fn: Callable[[list[str]], list[str]]) -> Damage:
    """Replace the whitespace-separated tokens of line ``line`` (0-based) of ``rel`` by ``fn(tokens)``."""
    def edit(text: str) -> str:
        lines = text.splitlines()
        lines[line] = " ".join(fn(lines[line].split()))
        return "\n".join(lines) + "\n"
    return edit_text(rel, edit)


def set_token(rel: str, line: int, col: int, value: str) -> Damage:
    """Set token ``col`` of line ``line`` (both 0-based) of the text file ``rel`` to ``value``."""
    def fn(tokens: list[str]) -> list[str]:
        tokens[col] = value
        return tokens
    return edit_line(rel, line, fn)


def write(rel: str, data: bytes) -> Damage:
    """Overwrite ``rel`` with ``data``."""
    def damage(root: Path) -> None:
        (root / rel).write_bytes(data)
    return damage


def truncate(rel: str, keep: float = 0.5) -> Damage:
    """Keep the first ``keep`` fraction of the bytes of ``rel``."""
    def damage(root: Path) -> None:
        p = root / rel
        data = p.read_bytes()
        p.write_bytes(data[: int(len(data) * keep)])
    return damage


def cut_bytes(rel: str, n: int) -> Damage:
    """Drop the last ``n`` bytes of ``rel`` (a JPEG loses its end-of-image marker)."""
    def damage(root: Path) -> None:
        p = root / rel
        p.write_bytes(p.read_bytes()[:-n])
    return damage


def append(rel: str, data: bytes) -> Damage:
    """Add ``data`` at the end of ``rel``."""
    def damage(root: Path) -> None:
        p = root / rel
        p.write_bytes(p.read_bytes() + data)
    return damage


def patch(rel: str, offset: int, fmt: str, *values) -> Damage:
    """Overwrite the bytes of ``rel`` at ``offset`` with ``struct.pack(fmt, *values)`` (binary formats)."""
    def damage(root: Path) -> None:
        p = root / rel
        data = bytearray(p.read_bytes())
        struct.pack_into(fmt, data, offset, *values)
        p.write_bytes(bytes(data))
    return damage


def zero_fill(rel: str, keep: float = 0.0) -> Damage:
    """Zero every byte of ``rel`` after its first ``keep`` fraction (the size is unchanged: a pre-allocated
    file whose copy was killed)."""
    def damage(root: Path) -> None:
        p = root / rel
        data = p.read_bytes()
        k = int(len(data) * keep)
        p.write_bytes(data[:k] + bytes(len(data) - k))
    return damage


def delete(rel: str) -> Damage:
    """Remove the file or folder ``rel``."""
    def damage(root: Path) -> None:
        p = root / rel
        if p.is_dir():
            shutil.rmtree(p)
        else:
            p.unlink()
    return damage


def copy(rel: str, src_rel: str) -> Damage:
    """Write a copy of ``src_rel`` as ``rel``."""
    def damage(root: Path) -> None:
        (root / rel).write_bytes((root / src_rel).read_bytes())
    return damage


def resize_image(rel: str) -> Damage:
    """Rewrite the image ``rel`` at half its size (same format)."""
    def damage(root: Path) -> None:
        import cv2  # noqa: PLC0415

        img = cv2.imread(str(root / rel))
        cv2.imwrite(str(root / rel), cv2.resize(img, (img.shape[1] // 2, img.shape[0] // 2)))
    return damage


def nothing(root: Path) -> None:
    """No damage: the case is a bad option."""


# ---- video ------------------------------------------------------------------------------------------
def _packets(path: Path) -> list[tuple[int, int]]:
    """(byte position, size) of the video packets of ``path``, in file order."""
    import av  # noqa: PLC0415

    with av.open(str(path)) as c:
        return sorted((p.pos, p.size) for p in c.demux(c.streams.video[0]) if p.size > 0 and p.pos is not None)


def zero_packet(rel: str, k: int) -> Damage:
    """Zero the bytes of the ``k``-th video packet (file order) of ``rel``: that frame no longer decodes."""
    def damage(root: Path) -> None:
        p = root / rel
        pos, size = _packets(p)[k]
        data = bytearray(p.read_bytes())
        data[pos:pos + size] = bytes(size)
        p.write_bytes(bytes(data))
    return damage


def _remux_faststart(path: Path) -> None:
    """Rewrite the mp4 ``path`` with its index (moov) before the frame data, packets copied as they are."""
    import av  # noqa: PLC0415

    tmp = path.with_name(path.stem + ".faststart.mp4")
    with av.open(str(path)) as src, av.open(str(tmp), "w", format="mp4", options={"movflags": "faststart"}) as dst:
        s = src.streams.video[0]
        out = dst.add_stream_from_template(s)
        for pkt in src.demux(s):
            if pkt.dts is not None:
                pkt.stream = out
                dst.mux(pkt)
    tmp.replace(path)


def cut_in_packet(rel: str, k: int) -> Damage:
    """Index-first copy of the mp4 ``rel`` cut in the middle of its ``k``-th packet (a download that stopped):
    the container still opens and lists every frame, frame ``k`` on does not decode."""
    def damage(root: Path) -> None:
        p = root / rel
        _remux_faststart(p)
        pos, size = _packets(p)[k]
        p.write_bytes(p.read_bytes()[: pos + size // 2])
    return damage


def resize_frame(rel: str, k: int) -> Damage:
    """Re-encode the video ``rel`` (H.264 in mp4) with frame ``k`` at half the size of the others: the stream
    changes resolution there, as when clips of two cameras are concatenated."""
    def damage(root: Path) -> None:
        import av  # noqa: PLC0415
        import cv2  # noqa: PLC0415

        p = root / rel
        with av.open(str(p)) as c:
            frames = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
        raw = []
        for i, img in enumerate(frames):                 # one raw H.264 stream per frame, each with its own SPS
            if i == k:
                img = cv2.resize(img, (img.shape[1] // 2, img.shape[0] // 2), interpolation=cv2.INTER_AREA)
            part = p.with_name(f"{p.stem}.{i}.h264")
            with av.open(str(part), "w", format="h264") as o:
                s = o.add_stream("libx264", rate=30)
                s.width, s.height, s.pix_fmt = img.shape[1], img.shape[0], "yuv420p"
                vf = av.VideoFrame.from_ndarray(np.ascontiguousarray(img), format="rgb24")
                vf.pts = 0
                for pkt in [*s.encode(vf), *s.encode()]:
                    o.mux(pkt)
            raw.append(part.read_bytes())
            part.unlink()
        joined = p.with_name(p.stem + ".joined.h264")
        joined.write_bytes(b"".join(raw))
        with av.open(str(joined)) as src, av.open(str(p), "w", format="mp4") as dst:
            s = src.streams.video[0]
            out = dst.add_stream_from_template(s)
            out.time_base = Fraction(1, 30)
            for n, pkt in enumerate(q for q in src.demux(s) if q.size > 0):
                pkt.stream, pkt.pts, pkt.dts, pkt.time_base = out, n, n, Fraction(1, 30)
                dst.mux(pkt)
        joined.unlink()
    return damage
