"""Lazy per-camera frame access with an on-disk uint8 cache.

Frames never need to be in RAM all at once (N3V at 1352x1014 is ~25 GB of uint8). Video sources are decoded
once into ``<scene>/cache/frames/<camera>.npy`` (a uint8 [T, H, W, 3] memory map) and read lazily from it;
image folders are read one file at a time, or, when asked (``cache_images=True``: training that streams frames
from disk), decoded once into the same kind of cache so that later reads cost a copy instead of a decode. When a source's decoded size is an integer multiple of the camera's
``width x height`` (e.g. N3V's 2704x2028 videos for a 1352x1014 scene) frames are area-downscaled.
"""

from __future__ import annotations

import logging
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from sync4dgs.data.scene import CameraSpec, SceneSpec
from sync4dgs.data.video import downscale_image, iter_video_frames
from sync4dgs.errors import DataFormatError
from sync4dgs.utils.atomic import atomic_path, remove_stale_temporaries

log = logging.getLogger(__name__)

CACHE_DIR = "cache/frames"
DEFAULT_PATTERN = "{:05d}.png"      # file names of an image-folder source without a pattern


def size_factor(w: int, h: int, cam: CameraSpec, where: Path, what: str = "frame") -> int:
    """The integer factor by which a decoded ``w x h`` frame is larger than the camera (1 = its size);
    DataFormatError naming ``where`` when it is neither the camera's size nor an integer multiple of it."""
    if (w, h) == (cam.width, cam.height):
        return 1
    fx, fy = w / cam.width, h / cam.height
    if fx == fy and fx == int(fx) and fx > 1:
        return int(fx)
    raise DataFormatError(where, f"camera {cam.name}: {what} is {w}x{h}, expected {cam.width}x{cam.height} "
                                 "(or an integer multiple of it)")


def _fit_size(img: np.ndarray, cam: CameraSpec, where: Path) -> np.ndarray:
    """Return ``img`` at the camera's size, area-downscaling by an integer factor if needed."""
    h, w = img.shape[:2]
    return downscale_image(img, size_factor(w, h, cam, where))


def image_file(scene: SceneSpec, cam: CameraSpec, i: int) -> Path:
    """The file of frame ``i`` (0-based, the camera's own index) of an image-folder camera."""
    return scene.frames_path(cam) / (cam.frames.pattern or DEFAULT_PATTERN).format(cam.frames.start + i)


def read_image(path: Path) -> np.ndarray:
    """Read an image file as RGB uint8 [H, W, 3] (DataFormatError if missing or unreadable)."""
    import cv2  # noqa: PLC0415

    if not path.is_file():
        raise DataFormatError(path, "image file not found")
    img = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if img is None:
        raise DataFormatError(path, "unreadable or corrupt image")
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


class CameraFrames:
    """Random access to one camera's frames: ``len(frames)``, ``frames[i] -> uint8 [H, W, 3]``."""

    def __init__(self, scene: SceneSpec, cam: CameraSpec, cache_images: bool = False):
        self.scene = scene
        self.cam = cam
        self.height, self.width = cam.height, cam.width
        src = cam.frames
        self._memmap: np.ndarray | None = None
        if src.kind == "video":
            self._memmap = _video_cache(scene, cam)
        else:
            folder = scene.frames_path(cam)
            if not folder.is_dir():
                raise DataFormatError(folder, f"camera {cam.name}: frame folder not found")
            if cache_images:
                self._memmap = _image_cache(self)

    @property
    def cached(self) -> bool:
        """True when frames are read from the uint8 cache (video sources; image folders with cache_images)."""
        return self._memmap is not None

    def image_path(self, i: int) -> Path:
        """The file of frame ``i`` of an image-folder source."""
        return image_file(self.scene, self.cam, i)

    def __len__(self) -> int:
        return self.cam.n_frames

    def __getitem__(self, i: int) -> np.ndarray:
        if not 0 <= i < self.cam.n_frames:
            raise IndexError(f"camera {self.cam.name}: frame {i} out of range [0, {self.cam.n_frames})")
        if self._memmap is not None:
            return np.asarray(self._memmap[i])
        path = self.image_path(i)
        return _fit_size(read_image(path), self.cam, path)


def _sweep(cache: Path) -> None:
    """Remove the half-written temporaries of ``cache`` that a killed run left (a live builder's are kept)."""
    for stale in remove_stale_temporaries(cache.parent, recursive=False, prefix=f".{cache.name}."):
        log.warning("removed %s, left over by an interrupted frame-cache build", stale)


def _video_cache(scene: SceneSpec, cam: CameraSpec) -> np.ndarray:
    """Decode ``cam``'s video once into a uint8 memmap under the scene's cache folder; return it (read-only)."""
    video = scene.frames_path(cam)
    cache = scene.root / CACHE_DIR / f"{cam.name}.npy"
    if cache.is_file():
        arr = np.load(cache, mmap_mode="r")
        if arr.shape == (cam.n_frames, cam.height, cam.width, 3) and cache.stat().st_mtime >= video.stat().st_mtime:
            return arr
        log.info("frame cache %s is stale; rebuilding", cache)
    _sweep(cache)
    log.info("decoding %s into %s", video, cache)
    n = 0
    start, window = cam.frames.start, cam.frames.stop is not None
    with atomic_path(cache) as tmp:
        mm = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.uint8, shape=(cam.n_frames, cam.height, cam.width, 3))
        for k, (img, _t) in enumerate(iter_video_frames(video)):
            if k < start:
                continue
            if n >= cam.n_frames:
                if window:
                    break
                raise DataFormatError(video, f"camera {cam.name}: video has more frames than n_frames={cam.n_frames}")
            mm[n] = _fit_size(img, cam, video)
            n += 1
        if n != cam.n_frames:
            raise DataFormatError(video, f"camera {cam.name}: decoded {n} frames from frame {start} on, "
                                         f"scene.json says {cam.n_frames}")
        mm.flush()
        del mm
    return np.load(cache, mmap_mode="r")


def _image_cache(frames: CameraFrames) -> np.ndarray:
    """Decode an image-folder camera once into ``<scene>/cache/frames/<camera>.npy`` (uint8 [T, H, W, 3]) and
    return it as a read-only memmap. A cache older than any of its images, or of another shape, is rebuilt."""
    cam, scene = frames.cam, frames.scene
    cache = scene.root / CACHE_DIR / f"{cam.name}.npy"
    paths = [frames.image_path(i) for i in range(cam.n_frames)]
    if cache.is_file():
        arr = np.load(cache, mmap_mode="r")
        newest = max((p.stat().st_mtime for p in paths if p.is_file()), default=0.0)
        if arr.shape == (cam.n_frames, cam.height, cam.width, 3) and cache.stat().st_mtime >= newest:
            return arr
        log.info("frame cache %s is stale; rebuilding", cache)
    _sweep(cache)
    log.info("decoding %d images of %s into %s", cam.n_frames, cam.name, cache)
    with atomic_path(cache) as tmp:
        mm = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.uint8, shape=(cam.n_frames, cam.height, cam.width, 3))

        def load(i: int, out: np.ndarray = mm) -> None:
            out[i] = _fit_size(read_image(paths[i]), cam, paths[i])

        with ThreadPoolExecutor(max_workers=min(16, os.cpu_count() or 1)) as pool:
            list(pool.map(load, range(cam.n_frames)))          # re-raises the first unreadable image
        mm.flush()
        del mm
    return np.load(cache, mmap_mode="r")


def open_frames(scene: SceneSpec, cam: CameraSpec | str, cache_images: bool = False) -> CameraFrames:
    """Open a camera's frames for lazy random access (builds the video cache on first use; with
    ``cache_images`` also a decoded cache of image folders, see :func:`_image_cache`)."""
    if isinstance(cam, str):
        cam = scene.camera(cam)
    return CameraFrames(scene, cam, cache_images)
