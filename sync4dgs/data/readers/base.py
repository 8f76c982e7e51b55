"""What every dataset reader shares: options, the reader interface and the reader's raw output.

A reader turns a dataset folder into a :class:`RawScene`: cameras in the dataset's ORIGINAL world units,
a point cloud in the same units and optional ground-truth time maps. ``readers.prepare`` then normalises,
writes ``scene.json`` / ``points3d.ply`` / ``gt_sync.json`` and renames the folder into place.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from sync4dgs.data.calibrate import CalibrationOptions
from sync4dgs.data.points import PointCloud
from sync4dgs.data.scene import CameraSpec
from sync4dgs.errors import ConfigError
from sync4dgs.timemap import TimeMaps

POINT_MODES = ("auto", "strict", "random")


@dataclass
class FrameRange:
    """Half-open range ``[start, stop)`` of frames (``stop`` None = to the end).

    For video sources the numbers are 0-based decoded-frame indices; for image sequences whose files carry
    frame numbers (Technicolor) they are those file numbers.
    """

    start: int = 0
    stop: int | None = None

    @staticmethod
    def parse(text: str | None) -> "FrameRange | None":
        """Parse "a:b", "a:" or ":b" (None/"" -> None). Raises ConfigError on bad syntax or a <= b."""
        if not text:
            return None
        parts = text.split(":")
        try:
            if len(parts) != 2:
                raise ValueError
            a = int(parts[0]) if parts[0].strip() else 0
            b = int(parts[1]) if parts[1].strip() else None
        except ValueError as e:
            raise ConfigError(f"--frames must look like START:STOP (e.g. 0:300), got {text!r}") from e
        if a < 0 or (b is not None and b <= a):
            raise ConfigError(f"--frames {text!r}: need 0 <= START < STOP")
        return FrameRange(a, b)

    def clip(self, n_available: int, first: int = 0) -> tuple[int, int]:
        """Clip to the frames ``first .. first + n_available - 1`` that exist; returns (start, stop)."""
        start = max(self.start, first)
        stop = first + n_available if self.stop is None else min(self.stop, first + n_available)
        return start, stop


@dataclass
class PrepareOptions:
    """Options of ``sync4dgs prepare`` (every reader reads the ones that apply to it).

    downscale: integer factor on image size (K scaled; frames area-downscaled when read).
    test_cameras: held-out camera names (None = the dataset's protocol default).
    reference: name of the reference camera (None = the dataset default, usually the first camera).
    frames: frame range to keep (see FrameRange).
    exclude_cameras: cameras to leave out (N3V: also how to declare videos that have no pose row).
    pose_cameras: N3V only: camera name of each poses_bounds row, in row order (overrides pairing rule).
    points: "auto" (reader's points, random frustum points if fewer than ``min_points``), "strict" (error
        if fewer than ``min_points``), "random" (random frustum points only).
    n_random_points: number of fallback random points.
    max_features / max_image_size: SIFT limits (keep triangulation and SfM bounded in time).
    camera_model / shared_intrinsics: videos reader SfM settings.
    fps: frame rate for image sequences without one (COLMAP, Technicolor; None = format default).
    assume_synchronized: mark every camera's time map as known (offset 0, rate 1).
    normalize: centre/scale the world (see docs/scene_format.md).
    crf: x264 quality when frames must be re-encoded (undistorted videos).
    samples_per_camera: videos reader: frames sampled per video for the calibration median image.
    calibration: videos reader: the rig's calibration file/folder (see sync4dgs.data.readers.calibration);
        None = calibrate by SfM. calibration_units: length unit of that file when it does not say (recorded).
    progress: show a progress bar while every frame is decode-checked (sync4dgs.data.frame_check).
    """

    downscale: int = 1
    test_cameras: list[str] | None = None
    reference: str | None = None
    frames: FrameRange | None = None
    exclude_cameras: list[str] = field(default_factory=list)
    pose_cameras: list[str] | None = None
    points: str = "auto"
    min_points: int = 100
    n_random_points: int = 20000
    max_features: int = 8192
    max_image_size: int = 1600
    camera_model: str = "SIMPLE_RADIAL"
    shared_intrinsics: bool = False
    fps: float | None = None
    assume_synchronized: bool = False
    normalize: bool = True
    crf: int = 12
    samples_per_camera: int = 15
    calibration: str | None = None
    calibration_units: str | None = None
    seed: int = 0
    num_threads: int = 2
    verbose: bool = False
    progress: bool = True

    def calibration_options(self) -> CalibrationOptions:
        """The SIFT/SfM settings these options imply."""
        return CalibrationOptions(camera_model=self.camera_model, shared_intrinsics=self.shared_intrinsics,
                                  max_features=self.max_features, max_image_size=self.max_image_size,
                                  num_threads=self.num_threads, verbose=self.verbose)

    def __post_init__(self) -> None:
        if isinstance(self.frames, str):
            self.frames = FrameRange.parse(self.frames)
        if int(self.downscale) != self.downscale or self.downscale < 1:
            raise ConfigError(f"downscale must be a positive integer, got {self.downscale}")
        if self.points not in POINT_MODES:
            raise ConfigError(f"points must be one of {POINT_MODES}, got {self.points!r}")
        if self.fps is not None and not self.fps > 0:
            raise ConfigError(f"fps must be positive, got {self.fps}")
        if int(self.n_random_points) != self.n_random_points or self.n_random_points < 1:
            raise ConfigError(f"n_random_points must be a positive integer, got {self.n_random_points}")
        if self.calibration is not None:
            self.calibration = str(self.calibration)


@dataclass
class RawScene:
    """A reader's output, in the dataset's original world units.

    cameras: sorted as the dataset orders them. points: may be empty (prepare applies the fallback rule).
    near, far: depth range in original units, or None (prepare derives it from the points).
    gt_sync: ground-truth time maps if the dataset has them (on the original clocks of the kept frames).
    first_images: optional one RGB uint8 [H, W, 3] image per camera (at the camera's size) used to colour
        fallback points. report: per-camera rows for the CLI table; source: provenance for scene.json.
    """

    cameras: list[CameraSpec]
    points: PointCloud
    reference_camera: str
    test_cameras: list[str] = field(default_factory=list)
    near: float | None = None
    far: float | None = None
    gt_sync: TimeMaps | None = None
    first_images: dict[str, np.ndarray] = field(default_factory=dict)
    report: list[dict[str, Any]] = field(default_factory=list)
    source: dict[str, Any] = field(default_factory=dict)


class Reader(Protocol):
    """A dataset format. ``detect`` returns None if ``src`` looks like this format, else what it looked
    for (used in the "unknown format" error); ``read`` builds the RawScene. ``work`` is the scene folder
    being built (a temporary sibling of ``out``): files the reader writes go there; paths stored in the
    scene are relative to ``out`` (same parent folder, so both give the same relative path)."""

    name: str

    def detect(self, src: Path) -> str | None: ...

    def read(self, src: Path, work: Path, out: Path, opts: PrepareOptions) -> RawScene: ...


def rel_to_scene(path: Path, out: Path) -> str:
    """Path of ``path`` relative to the scene folder ``out`` (POSIX separators)."""
    return Path(os.path.relpath(Path(path).resolve(), Path(out).resolve())).as_posix()


def escape_format(text: str) -> str:
    """Escape braces so that ``text`` survives ``str.format`` literally."""
    return text.replace("{", "{{").replace("}", "}}")


def choose_reference(names: list[str], requested: str | None, default: str | None, where: Path) -> str:
    """The requested reference camera (must exist), else ``default`` if present, else the first name."""
    from sync4dgs.errors import DataFormatError  # noqa: PLC0415

    if requested is not None:
        if requested not in names:
            raise DataFormatError(where, f"reference camera {requested!r} is not among the cameras {names}")
        return requested
    if default is not None and default in names:
        return default
    return names[0]


def choose_test_cameras(names: list[str], requested: list[str] | None, default: list[str], where: Path) -> list[str]:
    """Requested test cameras (each must exist), else the defaults that exist."""
    from sync4dgs.errors import DataFormatError  # noqa: PLC0415

    if requested is not None:
        missing = [n for n in requested if n not in names]
        if missing:
            raise DataFormatError(where, f"test camera(s) {missing} are not among the cameras {names}")
        return list(requested)
    return [n for n in default if n in names]
