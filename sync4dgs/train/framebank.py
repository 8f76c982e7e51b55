"""Training frames on the device: preloaded as uint8 when they fit, else streamed from host memory (through
pinned double buffers on CUDA, so the copy does not stall the training loop). Streamed frames are decoded once
into host RAM when they fit there (``host_cache``), else read and decoded from disk one sample ahead.

``FrameBank.get(cam_pos, frame_idx) -> float [H, W, 3] in [0, 1]`` on the training device. ``cam_pos`` is the
position of the camera in the list given to the bank (not the scene's camera index).
"""

from __future__ import annotations

import logging
import os
import shutil
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor

import numpy as np
import torch
from torch import Tensor
from tqdm import tqdm

from sync4dgs.data.frames import CACHE_DIR, CameraFrames, open_frames
from sync4dgs.data.scene import CameraSpec, SceneSpec

log = logging.getLogger(__name__)

CPU_DEFAULT_BUDGET_GB = 4.0
CUDA_FREE_FRACTION = 0.6
HOST_AVAILABLE_FRACTION = 0.5         # streamed frames are cached in host RAM up to this share of what is free
PRELOAD_WORKERS = 32                  # capped by the CPU count


def frames_nbytes(cameras: list[CameraSpec]) -> int:
    """Bytes needed to hold every frame of ``cameras`` as uint8 RGB."""
    return sum(int(c.n_frames) * int(c.width) * int(c.height) * 3 for c in cameras)


def device_budget_bytes(device: torch.device, budget_gb: float) -> int:
    """How many bytes of frames may live on ``device`` (``budget_gb`` > 0 wins; else a default)."""
    if budget_gb > 0:
        return int(budget_gb * 1024 ** 3)
    if device.type == "cuda":
        free, _total = torch.cuda.mem_get_info(device)
        return int(free * CUDA_FREE_FRACTION)
    return int(CPU_DEFAULT_BUDGET_GB * 1024 ** 3)


def host_available_bytes() -> int:
    """Host memory available to new allocations (Linux: MemAvailable; elsewhere free physical pages)."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return 0


def iter_decoded(sources: list[CameraFrames], progress: bool, desc: str = "loading frames") -> Iterator[np.ndarray]:
    """Decode every frame of each source into one host uint8 array [T, H, W, 3], yielded source by source (so a
    caller that moves each to the device holds one camera in RAM at a time). A thread pool decodes: image
    decoding and file reads release the GIL."""
    total = sum(len(s) for s in sources)
    workers = max(1, min(PRELOAD_WORKERS, os.cpu_count() or 1))
    with tqdm(total=total, desc=desc, disable=not progress, leave=False) as bar, \
            ThreadPoolExecutor(max_workers=workers) as pool:
        for src in sources:
            host = np.empty((len(src), src.height, src.width, 3), dtype=np.uint8)

            def load(i: int, src: CameraFrames = src, host: np.ndarray = host) -> None:
                host[i] = src[i]

            for _ in pool.map(load, range(len(src))):
                bar.update(1)
            yield host


def disk_sources(scene: SceneSpec, cameras: list[CameraSpec], sources: list[CameraFrames]) -> list[CameraFrames]:
    """Sources for streaming from disk: image folders are decoded once into the scene's uint8 frame cache when
    the disk has room for it (plus 10 %), else read and decoded per sample (logged)."""
    uncached = [c for c, s in zip(cameras, sources) if not s.cached]
    if not uncached:
        return sources
    need = frames_nbytes(uncached)
    cache_dir = scene.root / CACHE_DIR
    probe = cache_dir if cache_dir.exists() else scene.root
    free = shutil.disk_usage(probe).free
    if free < 1.1 * need:
        log.warning("%.2f GB free under %s, a decoded frame cache needs %.2f GB: decoding images for every sample "
                    "(slow)", free / 1024 ** 3, scene.root, need / 1024 ** 3)
        return sources
    log.info("decoding %d image-folder cameras once into %s (%.2f GB)", len(uncached), cache_dir, need / 1024 ** 3)
    return [s if s.cached else open_frames(scene, c, cache_images=True) for c, s in zip(cameras, sources)]


class FrameBank:
    """Random access to training frames on ``device``.

    Args:
        scene: the scene.
        cameras: the cameras to serve (training cameras), in the order the trainer indexes them.
        device: where frames are returned.
        mode: "auto" (preload if the frames fit the budget), "always" (preload) or "never" (stream).
        budget_gb: memory budget for preloaded frames (0 = automatic).
        progress: show a tqdm bar while preloading.
        host_cache: when streaming, "auto" decodes every frame once into host RAM if they fit half of the
            available memory, "always" does so regardless, "never" reads from disk for every sample (image
            folders are then decoded once into a uint8 cache under the scene's cache/frames when the disk has
            room, so a sample costs a read, not a decode).
    """

    def __init__(self, scene: SceneSpec, cameras: list[CameraSpec], device: torch.device,
                 mode: str = "auto", budget_gb: float = 0.0, progress: bool = True, host_cache: str = "auto"):
        if mode not in ("auto", "always", "never"):
            raise ValueError(f"frames_on_device must be 'auto', 'always' or 'never', got {mode!r}")
        if host_cache not in ("auto", "always", "never"):
            raise ValueError(f"frames_host_cache must be 'auto', 'always' or 'never', got {host_cache!r}")
        self.device = device
        self.cameras = cameras
        self._sources: list[CameraFrames] = [open_frames(scene, c) for c in cameras]
        need = frames_nbytes(cameras)
        self.preloaded = mode == "always" or (mode == "auto" and need <= device_budget_bytes(device, budget_gb))
        self._resident: list[Tensor] = []
        self._staging: dict[tuple[int, ...], list[Tensor]] = {}     # pinned host buffers (CUDA streaming)
        self._events: dict[tuple[int, ...], list] = {}
        self._slot = 0
        self._prefetcher: ThreadPoolExecutor | None = None       # streaming: decodes the next frame ahead
        self._pending: tuple[tuple[int, int], Future] | None = None
        self._host: list[np.ndarray] | None = None                # streaming: frames decoded once into RAM
        if self.preloaded:
            log.info("preloading %d frames (%.2f GB uint8) onto %s", sum(c.n_frames for c in cameras),
                     need / 1024 ** 3, device)
            for host in iter_decoded(self._sources, progress):     # one transfer per camera, not per frame
                self._resident.append(torch.from_numpy(host).to(self.device))
            return
        if host_cache == "always" or (
                host_cache == "auto" and need <= HOST_AVAILABLE_FRACTION * host_available_bytes()):
            log.info("streaming frames from host memory (%.2f GB uint8 decoded once into RAM)", need / 1024 ** 3)
            self._host = list(iter_decoded(self._sources, progress, desc="loading frames into RAM"))
        else:
            log.info("streaming frames from disk (%.2f GB fits neither the device budget nor host RAM)",
                     need / 1024 ** 3)
            self._sources = disk_sources(scene, cameras, self._sources)

    @property
    def mode(self) -> str:
        """Where frames come from: "device" (resident), "host" (RAM cache, copied per sample) or "disk"."""
        return "device" if self.preloaded else ("host" if self._host is not None else "disk")

    def __len__(self) -> int:
        return len(self._sources)

    def n_frames(self, cam_pos: int) -> int:
        return len(self._sources[cam_pos])

    def _read_host(self, cam_pos: int, frame_idx: int) -> np.ndarray:
        if self._host is not None:
            return self._host[cam_pos][frame_idx]
        return np.ascontiguousarray(self._sources[cam_pos][frame_idx])

    def _load(self, cam_pos: int, frame_idx: int) -> np.ndarray | tuple[Tensor, tuple[int, ...], int]:
        """Read one frame; on CUDA also copy it into a pinned staging buffer (the part that can run in the
        background thread). Returns the host array (CPU device) or (pinned buffer, shape key, slot)."""
        host = self._read_host(cam_pos, frame_idx)
        return self._stage(host) if self.device.type == "cuda" else host

    def prefetch(self, cam_pos: int, frame_idx: int) -> None:
        """Start reading/decoding a frame and staging it in pinned memory in a background thread (streaming mode;
        no-op when preloaded), so the next :meth:`get` of it only issues the asynchronous upload."""
        if self.preloaded or (self._host is not None and self.device.type != "cuda"):
            return
        if self._prefetcher is None:
            self._prefetcher = ThreadPoolExecutor(max_workers=1, thread_name_prefix="frame-prefetch")
        if self._pending is not None:          # staging buffers are handed out in order: one job at a time
            self._pending[1].result()
        self._pending = ((cam_pos, frame_idx), self._prefetcher.submit(self._load, cam_pos, frame_idx))

    def peek(self, cam_pos: int, frame_idx: int) -> Tensor | np.ndarray:
        """uint8 [H, W, 3] of one frame for reading outside the training loop (no staging, no prefetch): the
        resident device tensor, the host-RAM copy or a fresh read from disk. Do not write into it."""
        if self.preloaded:
            return self._resident[cam_pos][frame_idx]
        return self._read_host(cam_pos, frame_idx)

    def close(self) -> None:
        """Stop the prefetch thread (if any)."""
        if self._prefetcher is not None:
            self._prefetcher.shutdown(wait=True)
            self._prefetcher, self._pending = None, None

    def get_uint8(self, cam_pos: int, frame_idx: int) -> Tensor:
        """uint8 [H, W, 3] on the device."""
        if self.preloaded:
            return self._resident[cam_pos][frame_idx]
        pending, self._pending = self._pending, None
        loaded = None
        if pending is not None:
            loaded = pending[1].result()        # wait even when stale: it may be filling a staging buffer
            if pending[0] != (cam_pos, frame_idx):
                loaded = None
        if loaded is None:
            loaded = self._load(cam_pos, frame_idx)
        if self.device.type != "cuda":
            return torch.from_numpy(np.array(loaded)).to(self.device)     # a private, writable copy
        return self._upload(*loaded)

    def _stage(self, host: np.ndarray) -> tuple[Tensor, tuple[int, ...], int]:
        """Copy ``host`` into the next of two pinned staging buffers (double buffering: a buffer is refilled
        only once the upload issued from it two frames ago has finished)."""
        key = tuple(host.shape)
        if key not in self._staging:
            self._staging[key] = [torch.empty(key, dtype=torch.uint8).pin_memory() for _ in range(2)]
            self._events[key] = [None, None]
        slot = self._slot
        self._slot ^= 1
        event = self._events[key][slot]
        if event is not None:
            event.synchronize()
        buf = self._staging[key][slot]
        buf.numpy()[...] = host
        return buf, key, slot

    def _upload(self, buf: Tensor, key: tuple[int, ...], slot: int) -> Tensor:
        """Asynchronous host-to-device copy of a staged frame on the current stream."""
        out = buf.to(self.device, non_blocking=True)
        event = torch.cuda.Event()
        event.record()
        self._events[key][slot] = event
        return out

    def get(self, cam_pos: int, frame_idx: int) -> Tensor:
        """float32 [H, W, 3] in [0, 1] on the device."""
        return self.get_uint8(cam_pos, frame_idx).float().div_(255.0)
