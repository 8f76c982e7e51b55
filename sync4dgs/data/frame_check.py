"""Decode every frame of a scene once (``sync4dgs prepare``), so that a damaged frame is reported there, by
file and frame, instead of failing a training run hours later.

What is caught: image files that are truncated, zeroed (all of it, or its tail, as a file pre-allocated by a
copy that was killed), not images, or of a size that is neither the camera's nor an integer multiple of it; a
JPEG without its end-of-image marker (libjpeg pads a truncated one with grey and decodes it "successfully");
video streams that stop decoding before the camera's last frame (a packet the decoder rejects, data missing
from a truncated or zero-filled file) or whose frames have the wrong size. Not caught (no decoder can): bytes
changed inside a JPEG's entropy-coded data that still decode to some picture.

Cost: every image is decoded once (OpenCV, in a thread pool: the decoders release the GIL) and dropped at once;
each video is decoded once without colour conversion, several videos in parallel. Nothing is kept but a count.
A tqdm bar shows the frames checked (when stderr is a terminal).
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from sync4dgs.data.frames import image_file, size_factor
from sync4dgs.data.scene import CameraSpec, SceneSpec
from sync4dgs.data.video import import_av
from sync4dgs.errors import DataFormatError

log = logging.getLogger(__name__)

JPEG_SUFFIXES = (".jpg", ".jpeg")


def _jpeg_complete(data: bytes) -> bool:
    """True when the JPEG ``data`` has an end-of-image marker (FFD9) after its last start-of-scan (FFDA).

    Inside entropy-coded data every 0xFF byte is stuffed (FF00), so FFD9 after the last scan is the real end."""
    sos = data.rfind(b"\xff\xda")
    return sos >= 0 and data.find(b"\xff\xd9", sos + 2) >= 0


def check_image(path: Path, cam: CameraSpec, frame: int) -> None:
    """Decode one image file fully; DataFormatError naming the file and the camera's frame index if it is
    missing, does not decode, is a JPEG cut short, or has the wrong size."""
    import cv2  # noqa: PLC0415

    where = f"camera {cam.name}, frame {frame}"
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise DataFormatError(path, f"{where}: image file not found") from None
    except OSError as e:
        raise DataFormatError(path, f"{where}: cannot read the file ({e.strerror or e})") from None
    if not data or not any(data[:64]):
        raise DataFormatError(path, f"{where}: the file is empty or zero-filled, not an image")
    img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    if img is None:
        raise DataFormatError(path, f"{where}: truncated or corrupt image (it does not decode)")
    if path.suffix.lower() in JPEG_SUFFIXES and not _jpeg_complete(data):
        raise DataFormatError(path, f"{where}: truncated JPEG (no end-of-image marker after its image data)")
    size_factor(img.shape[1], img.shape[0], cam, path, f"frame {frame}")


def check_video(path: Path, cam: CameraSpec, advance: Callable[[int], None] = lambda n: None) -> None:
    """Decode the camera's video up to its last used frame (``frames.start + n_frames``); DataFormatError naming
    the file and the first frame (0-based, presentation order) that does not decode, or where the stream ends
    too early. ``advance(n)`` reports progress (frames).

    Packets are sent to the decoder one at a time: a rejected packet is located by its timestamp among all the
    stream's packets (the decoder's output lags its input, so counting output frames would name an earlier one).
    """
    av = import_av()
    first, need = cam.frames.start, cam.frames.start + cam.n_frames
    done = 0                                  # frames out of the decoder, in presentation order
    stamps: list[int] = []                    # every packet's pts (dts when a container gives none)
    bad: tuple[int, Exception] | None = None

    def take(frames) -> None:
        nonlocal done
        for fr in frames:
            if done >= first and done < need:
                size_factor(fr.width, fr.height, cam, path, f"frame {done}")
                advance(1)
            done += 1

    try:
        with av.open(str(path)) as c:
            if not c.streams.video:
                raise DataFormatError(path, f"camera {cam.name}: the file has no video stream")
            stream = c.streams.video[0]
            for pkt in c.demux(stream):
                stamp = pkt.pts if pkt.pts is not None else pkt.dts
                if stamp is not None and pkt.size > 0:
                    stamps.append(stamp)
                if bad is not None:
                    continue                  # only the timestamps are needed now
                try:
                    take(stream.decode(pkt))
                except av.error.FFmpegError as e:
                    bad = (stamp, e)
                    continue
                if done >= need:
                    return
    except av.error.FFmpegError as e:
        raise DataFormatError(path, f"camera {cam.name}: corrupt or unreadable video after frame {done} ({e})") from None
    if bad is not None:
        stamp, e = bad
        k = sorted(stamps).index(stamp) if stamp in stamps else done
        raise DataFormatError(path, f"camera {cam.name}: frame {k} does not decode ({e}); the scene uses frames "
                                    f"{first}..{need - 1}")
    if done < need:
        raise DataFormatError(path, f"camera {cam.name}: the video stream stops decoding after {done} frame(s); "
                                    f"the scene uses frames {first}..{need - 1}")


def check_scene_frames(scene: SceneSpec, threads: int | None = None, progress: bool = True) -> int:
    """Decode-check every frame of every camera of ``scene`` (frames resolved from ``scene.root``); returns the
    number of frames checked. Raises the DataFormatError of the first damaged frame, in camera order then frame
    order (whatever thread finds it first), so the report does not depend on the thread timing."""
    from tqdm import tqdm  # noqa: PLC0415

    jobs: list[Callable[[], None]] = []
    total = sum(c.n_frames for c in scene.cameras)
    bar = tqdm(total=total, desc="checking frames", unit="frame", disable=None if progress else True,
               leave=False)
    lock = threading.Lock()

    def advance(n: int) -> None:
        with lock:
            bar.update(n)

    for cam in scene.cameras:
        if cam.frames.kind == "video":
            jobs.append(lambda cam=cam: check_video(scene.frames_path(cam), cam, advance))
        else:
            for i in range(cam.n_frames):
                def job(cam=cam, i=i) -> None:
                    check_image(image_file(scene, cam, i), cam, i)
                    advance(1)
                jobs.append(job)
    workers = max(1, min(threads or os.cpu_count() or 1, 16, len(jobs)))
    try:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            futures = [pool.submit(job) for job in jobs]
            for f in futures:
                err = f.exception()
                if err is not None:
                    for rest in futures:
                        rest.cancel()
                    raise err
    finally:
        bar.close()
    log.info("decoded all %d frames of %d cameras", total, len(scene.cameras))
    return total
