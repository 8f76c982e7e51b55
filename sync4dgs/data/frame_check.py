"""Decode every frame of a scene once (``sync4dgs prepare``), so that a damaged frame is reported there, by
file and frame, instead of failing a training run hours later.

What is caught: image files that are truncated, zeroed (all of it, or its tail, as a file pre-allocated by a
copy that was killed), not images, or of a size that is neither the camera's nor an integer multiple of it; a
PNG whose chunk CRCs fail or that lacks its IEND chunk; a JPEG without its end-of-image marker (libjpeg pads a
truncated one with grey and decodes it "successfully");
video streams that stop decoding before the camera's last frame (a packet the decoder rejects, data missing
from a truncated or zero-filled file) or whose frames have the wrong size. Not caught (no decoder can): bytes
changed inside a JPEG's entropy-coded data that still decode to some picture.

Cost: every image is decoded once (Pillow, in a thread pool: the decoders release the GIL) and dropped at once;
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
from sync4dgs.data.video import scan_video
from sync4dgs.errors import DataFormatError

log = logging.getLogger(__name__)

JPEG_SUFFIXES = (".jpg", ".jpeg")
PNG_END = b"IEND\xaeB`\x82"          # the IEND chunk's type and CRC: what every complete PNG ends with


def _jpeg_complete(data: bytes) -> bool:
    """True when the JPEG ``data`` has an end-of-image marker (FFD9) after its last start-of-scan (FFDA).

    Inside entropy-coded data every 0xFF byte is stuffed (FF00), so FFD9 after the last scan is the real end."""
    sos = data.rfind(b"\xff\xda")
    return sos >= 0 and data.find(b"\xff\xd9", sos + 2) >= 0


def _decode_size(data: bytes, suffix: str) -> tuple[int, int] | str:
    """(width, height) of the fully decoded image ``data``, or why it does not decode.

    PNG and JPEG go through Pillow, which reports damage as exceptions and prints nothing (libpng and libjpeg
    under OpenCV print to the process's stderr); PNG chunks' CRCs are verified first, and a PNG must end with
    its IEND chunk and a JPEG with its end-of-image marker, as OpenCV (what training reads frames with)
    requires. A JPEG is decoded at 1/8 scale (every entropy-coded byte is still decoded, the inverse DCT is
    cheaper). Other formats are decoded by OpenCV."""
    import io  # noqa: PLC0415

    from PIL import Image, UnidentifiedImageError  # noqa: PLC0415

    kind = "jpeg" if suffix in JPEG_SUFFIXES else "png" if data[:8] == b"\x89PNG\r\n\x1a\n" else "other"
    if kind == "other":
        import cv2  # noqa: PLC0415

        img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
        return "it does not decode" if img is None else (img.shape[1], img.shape[0])
    if kind == "png" and data.rfind(PNG_END) < 0:
        return "truncated PNG (it does not end with its IEND chunk)"
    if kind == "jpeg" and not _jpeg_complete(data):
        return "truncated JPEG (no end-of-image marker after its image data)"
    try:
        if kind == "png":
            with Image.open(io.BytesIO(data)) as im:
                im.verify()                          # every chunk's CRC
        with Image.open(io.BytesIO(data)) as im:
            size = im.size
            if kind == "jpeg":
                im.draft(im.mode, (max(1, size[0] // 8), max(1, size[1] // 8)))
            im.load()
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as e:
        return f"truncated or corrupt image ({e})"
    return size


def check_image(path: Path, cam: CameraSpec, frame: int) -> None:
    """Decode one image file fully; DataFormatError naming the file and the camera's frame index if it is
    missing, empty or zero-filled, does not decode (truncated, damaged), or has the wrong size."""
    where = f"camera {cam.name}, frame {frame}"
    shown = path.resolve()
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise DataFormatError(shown, f"{where}: image file not found") from None
    except OSError as e:
        raise DataFormatError(shown, f"{where}: cannot read the file ({e.strerror or e})") from None
    if not data or not any(data[:64]):
        raise DataFormatError(shown, f"{where}: the file is empty or zero-filled, not an image")
    size = _decode_size(data, path.suffix.lower())
    if isinstance(size, str):
        raise DataFormatError(shown, f"{where}: {size}")
    size_factor(size[0], size[1], cam, shown, f"frame {frame}")


def check_video(path: Path, cam: CameraSpec, advance: Callable[[int], None] = lambda n: None) -> None:
    """Decode the camera's video up to its last used frame (``frames.start + n_frames``, see
    :func:`sync4dgs.data.video.scan_video`); DataFormatError naming the file, the camera and the first frame
    that does not decode, has the wrong size, or is missing because the stream ends early. ``advance(n)``
    reports progress (frames)."""
    first, need = cam.frames.start, cam.frames.start + cam.n_frames
    done = 0
    try:
        for k, width, height in scan_video(path, need):
            if k >= first:
                size_factor(width, height, cam, path, f"frame {k}")
                advance(1)
            done = k + 1
    except DataFormatError as e:
        if e.path is not None and Path(e.path) == path and not e.reason.startswith("camera "):
            raise DataFormatError(path, f"camera {cam.name}: {e.reason}") from None
        raise
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
            jobs.append(lambda cam=cam: check_video(scene.frames_path(cam).resolve(), cam, advance))
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
