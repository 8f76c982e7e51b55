"""Video I/O through PyAV, keeping each frame's exact container timestamp.

imageio-ffmpeg and OpenCV resample variable-frame-rate video or drop the stream's start offset; PyAV gives
the true ``pts * time_base`` of every frame, which synchronisation needs. PyAV is imported lazily so
that code paths working on image folders (e.g. on the GPU machine) do not need it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np

from sync4dgs.errors import DataFormatError
from sync4dgs.utils.atomic import atomic_path

log = logging.getLogger(__name__)

CFR_TOLERANCE_FRAMES = 0.05  # a frame more than 5% of a period off the regular grid means variable frame rate


def have_pyav() -> bool:
    """True when PyAV can be imported (video decode/encode available)."""
    try:
        import av  # noqa: F401, PLC0415
    except ImportError:
        return False
    return True


def import_av():
    """PyAV, imported lazily (DataFormatError with the install hint if it is missing)."""
    try:
        import av  # noqa: PLC0415
    except ImportError as e:  # pragma: no cover - depends on the installation
        raise DataFormatError(None, "reading/writing video needs PyAV: pip install av") from e
    return av


@dataclass
class VideoTiming:
    """A video's geometry and per-frame clock.

    width, height: pixels; fps: nominal frame rate (frames/s); tau_s: float64 [n_frames] presentation times
    relative to the first frame (seconds, this camera's clock); constant: True if tau_s == i / fps.
    """

    path: Path
    width: int
    height: int
    fps: float
    tau_s: np.ndarray
    constant: bool
    start_s: float = 0.0     # container pts of the first frame (s); tau_s is relative to it

    @property
    def n_frames(self) -> int:
        return len(self.tau_s)


def is_constant_rate(tau_s: np.ndarray, fps: float) -> bool:
    """True if every time in ``tau_s`` [n] (s) is within CFR_TOLERANCE_FRAMES of ``i / fps``."""
    grid = np.arange(len(tau_s)) / fps
    return bool(np.all(np.abs(tau_s - grid) <= CFR_TOLERANCE_FRAMES / fps))


def video_timing(path: str | Path) -> VideoTiming:
    """Probe a video without decoding it: size, nominal fps and the exact presentation time of every frame.

    Times come from the container's packet timestamps (exact, also for variable frame rate). Raises
    DataFormatError for a missing, corrupt or empty video.
    """
    av = import_av()
    path = Path(path)
    if not path.is_file():
        raise DataFormatError(path, "video file not found")
    try:
        with av.open(str(path)) as c:
            if not c.streams.video:
                raise DataFormatError(path, "file has no video stream")
            s = c.streams.video[0]
            demuxer = c.format.name or ""
            if demuxer.endswith("_pipe") or demuxer.startswith("image2"):
                raise DataFormatError(path, f"is a still image ({demuxer.replace('_pipe', '')}), not a video")
            rate = s.average_rate or s.guessed_rate
            fps = float(rate) if rate else 0.0
            # presentation times of the packets (containers without pts, e.g. some AVI files, give dts)
            pts = sorted(p.pts if p.pts is not None else p.dts for p in c.demux(s)
                         if (p.pts is not None or p.dts is not None) and p.size > 0)
            width, height, tb = s.codec_context.width, s.codec_context.height, s.time_base
    except av.error.FFmpegError as e:
        raise DataFormatError(path, f"corrupt or unreadable video: {e}") from e
    if not pts:
        raise DataFormatError(path, "video contains no frames")
    if width <= 0 or height <= 0:
        raise DataFormatError(path, f"video has invalid size {width}x{height}")
    tau = np.array([float(p * tb) for p in pts], dtype=np.float64)
    start_s = float(tau[0])
    tau -= start_s
    if len(tau) > 1 and np.any(np.diff(tau) <= 0):
        raise DataFormatError(path, "video has duplicate frame timestamps")
    if fps <= 0:
        if len(tau) < 2:
            raise DataFormatError(path, "cannot determine the frame rate of a one-frame video without metadata")
        fps = (len(tau) - 1) / tau[-1]
    constant = is_constant_rate(tau, fps)
    if not constant and len(tau) > 1:
        fps_fit = (len(tau) - 1) / tau[-1]
        if is_constant_rate(tau, fps_fit):
            log.warning("%s: container says %.4f fps but frames are regularly spaced at %.4f fps; using the latter",
                        path, fps, fps_fit)
            fps, constant = fps_fit, True
    return VideoTiming(path, int(width), int(height), float(fps), tau, constant, start_s)


def probe_video(path: str | Path) -> VideoTiming:
    """Size, frame rate, frame count and per-frame times of a video, without decoding it (see video_timing)."""
    return video_timing(path)


def iter_video_frames(path: str | Path) -> Iterator[tuple[np.ndarray, float]]:
    """Yield ``(rgb uint8 [H, W, 3], pts_s)`` for each frame in presentation order.

    ``pts_s`` is the container timestamp in seconds (not shifted to start at 0).
    Raises DataFormatError for missing or corrupt files.
    """
    av = import_av()
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
        try:                                  # name the frame (frame-threaded decoding reports a later one)
            for _ in scan_video(path):
                pass
        except DataFormatError as located:
            raise DataFormatError(path, located.reason) from e
        raise DataFormatError(path, f"corrupt or unreadable video: {_av_reason(e)}") from e


def _av_reason(e: Exception) -> str:
    """The readable part of a PyAV error ("Invalid data found when processing input")."""
    return getattr(e, "strerror", None) or str(e)


def scan_video(path: str | Path, stop: int | None = None) -> Iterator[tuple[int, int, int]]:
    """Decode a video packet by packet, without colour conversion: yield ``(frame index, width, height)`` of each
    frame in presentation order, up to frame ``stop`` (exclusive; None = all).

    Raises DataFormatError naming the first frame that does not decode: a rejected packet is located by its
    timestamp among all the stream's packets (the decoder's output lags its input, so counting output frames
    would name an earlier one). A stream that simply ends is not an error here (the caller knows how many
    frames it needs).
    """
    av = import_av()
    path = Path(path)
    done = 0                                  # frames out of the decoder, in presentation order
    stamps: list[int] = []                    # every packet's pts (dts when a container gives none)
    bad: tuple[int | None, Exception] | None = None
    try:
        with av.open(str(path)) as c:
            if not c.streams.video:
                raise DataFormatError(path, "file has no video stream")
            stream = c.streams.video[0]
            for pkt in c.demux(stream):
                stamp = pkt.pts if pkt.pts is not None else pkt.dts
                if stamp is not None and pkt.size > 0:
                    stamps.append(stamp)
                if bad is not None:
                    continue                  # only the timestamps are needed now
                try:
                    frames = stream.decode(pkt)
                except av.error.FFmpegError as e:
                    bad = (stamp, e)
                    continue
                for fr in frames:
                    yield done, fr.width, fr.height
                    done += 1
                    if stop is not None and done >= stop:
                        return
    except av.error.FFmpegError as e:
        raise DataFormatError(path, f"corrupt or unreadable video after frame {done - 1}: {_av_reason(e)}") from None
    if bad is not None:
        stamp, e = bad
        k = sorted(stamps).index(stamp) if stamp in stamps else done
        raise DataFormatError(path, f"frame {k} does not decode ({_av_reason(e)}); the video is damaged from there "
                                    "on (truncated or overwritten)")


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
    av = import_av()
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
