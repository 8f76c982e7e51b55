"""Video I/O through PyAV, keeping each frame's exact container timestamp.

imageio-ffmpeg and OpenCV resample variable-frame-rate video or drop the stream's start offset; PyAV gives
the true ``pts * time_base`` of every frame, which synchronisation needs. PyAV is imported lazily so
that code paths working on image folders (e.g. on the GPU machine) do not need it.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np

from sync4dgs.errors import DataFormatError
from sync4dgs.utils.atomic import atomic_path


def _av():
    try:
        import av  # noqa: PLC0415
    except ImportError as e:  # pragma: no cover - depends on the installation
        raise DataFormatError(None, "reading/writing video needs PyAV: pip install av") from e
    return av


def have_pyav() -> bool:
    """True when PyAV can be imported (video decode/encode available)."""
    try:
        import av  # noqa: F401, PLC0415
    except ImportError:
        return False
    return True


@dataclass
class VideoInfo:
    """Stream metadata.

    width, height: pixels; fps: average frame rate (frames/s) from the container; n_frames: frame count as
    decoded (None if not counted); start_s: pts of the first frame in seconds (container clock).
    """

    path: Path
    width: int
    height: int
    fps: float
    n_frames: int | None
    start_s: float | None


def probe_video(path: str | Path, count_frames: bool = True) -> VideoInfo:
    """Read a video's size and frame rate; with ``count_frames`` also decode-free count packets' frames.

    Raises DataFormatError when the file is missing, unreadable or has no video stream.
    """
    av = _av()
    path = Path(path)
    if not path.is_file():
        raise DataFormatError(path, "video file not found")
    try:
        with av.open(str(path)) as c:
            if not c.streams.video:
                raise DataFormatError(path, "file has no video stream")
            s = c.streams.video[0]
            rate = s.average_rate or s.guessed_rate
            fps = float(rate) if rate else 0.0
            n, start = None, None
            if count_frames:
                pts = [p.pts for p in c.demux(s) if p.pts is not None and p.size > 0]
                n = len(pts)
                if pts:
                    start = float(min(pts) * s.time_base)
            return VideoInfo(path, s.codec_context.width, s.codec_context.height, fps, n, start)
    except av.error.FFmpegError as e:
        raise DataFormatError(path, f"cannot read video: {e}") from e


def iter_video_frames(path: str | Path) -> Iterator[tuple[np.ndarray, float]]:
    """Yield ``(rgb uint8 [H, W, 3], pts_s)`` for each frame in presentation order.

    ``pts_s`` is the container timestamp in seconds (not shifted to start at 0).
    Raises DataFormatError for missing or corrupt files.
    """
    av = _av()
    path = Path(path)
    if not path.is_file():
        raise DataFormatError(path, "video file not found")
    try:
        with av.open(str(path)) as c:
            if not c.streams.video:
                raise DataFormatError(path, "file has no video stream")
            s = c.streams.video[0]
            s.thread_type = "AUTO"
            for fr in c.decode(s):
                t = float(fr.pts * fr.time_base) if fr.pts is not None else float("nan")
                yield fr.to_ndarray(format="rgb24"), t
    except av.error.FFmpegError as e:
        raise DataFormatError(path, f"corrupt or unreadable video: {e}") from e


def read_video(path: str | Path, downscale: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Decode a whole (small) video: returns frames uint8 [T, H, W, 3] and local times_s [T] float64.

    ``times_s`` are relative to the first frame (the time convention's ``tau_s``). ``downscale`` > 1 resizes
    with area interpolation. For long videos use :func:`iter_video_frames` (frames.py caches to disk).
    """
    frames, pts = [], []
    for img, t in iter_video_frames(path):
        frames.append(downscale_image(img, downscale))
        pts.append(t)
    if not frames:
        raise DataFormatError(path, "video contains no decodable frames")
    times = np.asarray(pts, dtype=np.float64)
    return np.stack(frames), times - times[0]


def downscale_image(img: np.ndarray, factor: int) -> np.ndarray:
    """Area-downscale an image [H, W, C] by an integer factor (no-op for 1)."""
    if factor == 1:
        return img
    import cv2  # noqa: PLC0415

    h, w = img.shape[:2]
    return cv2.resize(img, (w // factor, h // factor), interpolation=cv2.INTER_AREA)


def write_video(path: str | Path, frames: Iterable[np.ndarray] | np.ndarray, fps: float,
                pts_s: Iterable[float] | None = None, crf: int = 18, codec: str = "libx264") -> Path:
    """Encode RGB uint8 frames [H, W, 3] as an H.264 mp4 (atomically).

    Args:
        fps: nominal frame rate written in the stream.
        pts_s: optional per-frame presentation times in seconds (variable frame rate); default ``i / fps``.
        crf: x264 quality (0 = lossless, 18 = visually lossless).
    Width and height must be even for yuv420p; odd sizes are padded by one pixel (edge replicated).
    """
    av = _av()
    path = Path(path)
    tb = Fraction(1, 90000)
    pts_iter = iter(pts_s) if pts_s is not None else None
    with atomic_path(path) as tmp:
        out = av.open(str(tmp), "w", format="mp4")
        stream = None
        try:
            for i, img in enumerate(frames):
                img = np.ascontiguousarray(img)
                if img.dtype != np.uint8 or img.ndim != 3 or img.shape[2] != 3:
                    raise ValueError(f"frames must be uint8 [H, W, 3], got {img.dtype} {img.shape}")
                h, w = img.shape[:2]
                if h % 2 or w % 2:
                    img = np.pad(img, ((0, h % 2), (0, w % 2), (0, 0)), mode="edge")
                if stream is None:
                    stream = out.add_stream(codec, rate=Fraction(fps).limit_denominator(100000))
                    stream.width, stream.height = img.shape[1], img.shape[0]
                    stream.pix_fmt = "yuv420p"
                    stream.time_base = tb
                    stream.codec_context.time_base = tb
                    stream.options = {"crf": str(crf), "preset": "veryfast"}
                t = next(pts_iter) if pts_iter is not None else i / fps
                vf = av.VideoFrame.from_ndarray(img, format="rgb24")
                vf.pts = int(round(t * 90000))
                vf.time_base = tb
                for pkt in stream.encode(vf):
                    out.mux(pkt)
            if stream is None:
                raise ValueError(f"no frames to write to {path}")
            for pkt in stream.encode():
                out.mux(pkt)
        finally:
            out.close()
    return path
