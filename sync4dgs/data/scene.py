"""The canonical scene: cameras + frame sources + normalisation, stored as ``scene.json``.

Every reader (N3V, Technicolor, COLMAP, raw videos, synth) produces a :class:`SceneSpec`; everything
downstream (alignment, training, evaluation) consumes only this. See docs/scene_format.md.

Conventions (written once, here and in docs/architecture.md):
    * Intrinsics ``K``: 3x3, pixels, principal point in pixel coordinates (pixel centres at +0.5).
    * Extrinsics: world-to-camera ``R`` (3x3) and ``t`` (3), OpenCV axes (x right, y down, z forward):
      ``x_cam = R @ x_world + t``.
    * Time: frame ``i`` of camera ``k`` is captured at ``t_global_s = offset_s[k] + rate[k] * tau_s[k][i]``
      on the reference camera's clock; ``tau_s[k][i]`` is the frame's time on camera k's own clock
      (``i / fps`` for constant frame rate, else the container timestamp relative to the first frame).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from sync4dgs.errors import DataFormatError
from sync4dgs.utils.atomic import read_json_object, write_json

SCENE_FORMAT_VERSION = 1
SCENE_FILE = "scene.json"
POINTS_FILE = "points3d.ply"
GT_SYNC_FILE = "gt_sync.json"


# Plausibility bounds of camera parameters (beyond them a file is corrupt or in the wrong units):
FOCAL_RANGE_SIDES = (0.01, 1000.0)   # focal length in pixels, x the image's long side (fields of view ~180..0.06 deg)
MAX_COORDINATE = 1e9                 # camera translations, scene units

@dataclass
class FrameSource:
    """Where a camera's frames live, relative to the scene folder.

    kind: "video" (``path`` is a video file) or "images" (``path`` is a folder; ``pattern`` is a
    ``str.format`` pattern with one integer field, e.g. ``"{:05d}.png"``, indexed by frame_idx).
    start: the camera's frame ``i`` is the source's frame ``start + i`` (images: file
        ``pattern.format(start + i)``; video: the ``(start + i)``-th decoded frame, 0-based). Default 0.
    stop: optional exclusive end of the used range in a video that has more frames (``stop - start`` must
        equal the camera's ``n_frames``); None means the video ends exactly at ``start + n_frames``.
    """

    kind: str
    path: str
    pattern: str | None = None
    start: int = 0
    stop: int | None = None

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"kind": self.kind, "path": self.path}
        if self.pattern is not None:
            d["pattern"] = self.pattern
        if self.start:
            d["start"] = int(self.start)
        if self.stop is not None:
            d["stop"] = int(self.stop)
        return d

    @staticmethod
    def from_dict(d: dict[str, Any]) -> "FrameSource":
        if d.get("kind") not in ("video", "images"):
            raise ValueError(f"frame source kind must be 'video' or 'images', got {d.get('kind')!r}")
        stop = d.get("stop")
        return FrameSource(kind=d["kind"], path=str(d["path"]), pattern=d.get("pattern"),
                           start=int(d.get("start", 0)), stop=None if stop is None else int(stop))


@dataclass
class CameraSpec:
    """One static camera of the rig.

    Attributes:
        name: unique camera name (e.g. "cam00").
        width, height: image size in pixels.
        K: [3, 3] float64 intrinsics in pixels.
        R: [3, 3] float64 world-to-camera rotation (OpenCV axes).
        t: [3] float64 world-to-camera translation (scene units after normalisation).
        fps: nominal frame rate (frames per second) from metadata.
        n_frames: number of frames.
        frames: the frame source.
        frame_times_s: optional [n_frames] float64, each frame's time on this camera's own clock in
            seconds relative to its first frame (variable frame rate). None means ``i / fps``.
        time_map: optional known (offset_s, rate) for this camera (e.g. a synchronized dataset);
            None means unknown (to be estimated).
    """

    name: str
    width: int
    height: int
    K: np.ndarray
    R: np.ndarray
    t: np.ndarray
    fps: float
    n_frames: int
    frames: FrameSource
    frame_times_s: np.ndarray | None = None
    time_map: tuple[float, float] | None = None

    # ---- geometry -------------------------------------------------------------------------
    @property
    def viewmat(self) -> np.ndarray:
        """[4, 4] float64 world-to-camera matrix (OpenCV)."""
        m = np.eye(4)
        m[:3, :3] = self.R
        m[:3, 3] = self.t
        return m

    @property
    def center(self) -> np.ndarray:
        """[3] camera centre in world coordinates."""
        return -self.R.T @ self.t

    def project(self, X: np.ndarray) -> np.ndarray:
        """Project world points [N, 3] to pixel coordinates [N, 2] (no visibility test)."""
        xc = X @ self.R.T + self.t
        uv = xc @ self.K.T
        return uv[:, :2] / uv[:, 2:3]

    # ---- time ----------------------------------------------------------------------------
    def tau_s(self) -> np.ndarray:
        """[n_frames] float64 local capture times in seconds (this camera's clock, first frame = 0)."""
        if self.frame_times_s is not None:
            return np.asarray(self.frame_times_s, dtype=np.float64)
        return np.arange(self.n_frames, dtype=np.float64) / float(self.fps)

    # ---- (de)serialisation ---------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "name": self.name,
            "width": int(self.width),
            "height": int(self.height),
            "K": np.asarray(self.K, dtype=np.float64).tolist(),
            "R": np.asarray(self.R, dtype=np.float64).tolist(),
            "t": np.asarray(self.t, dtype=np.float64).tolist(),
            "fps": float(self.fps),
            "n_frames": int(self.n_frames),
            "frames": self.frames.to_dict(),
        }
        if self.frame_times_s is not None:
            d["frame_times_s"] = np.asarray(self.frame_times_s, dtype=np.float64).tolist()
        if self.time_map is not None:
            d["time_map"] = {"offset_s": float(self.time_map[0]), "rate": float(self.time_map[1])}
        return d

    @staticmethod
    def from_dict(d: dict[str, Any]) -> "CameraSpec":
        tm = d.get("time_map")
        ft = d.get("frame_times_s")
        return CameraSpec(
            name=str(d["name"]),
            width=int(d["width"]),
            height=int(d["height"]),
            K=np.asarray(d["K"], dtype=np.float64).reshape(3, 3),
            R=np.asarray(d["R"], dtype=np.float64).reshape(3, 3),
            t=np.asarray(d["t"], dtype=np.float64).reshape(3),
            fps=float(d["fps"]),
            n_frames=int(d["n_frames"]),
            frames=FrameSource.from_dict(d["frames"]),
            frame_times_s=None if ft is None else np.asarray(ft, dtype=np.float64),
            time_map=None if tm is None else (float(tm["offset_s"]), float(tm["rate"])),
        )

    def validate(self, where: str | Path) -> None:
        """Raise DataFormatError (naming ``where``) if the camera is not usable."""
        for key, arr, shape in (("K", self.K, (3, 3)), ("R", self.R, (3, 3)), ("t", self.t, (3,))):
            arr = np.asarray(arr)
            if arr.shape != shape:
                raise DataFormatError(where, f"camera {self.name}: {key} has shape {arr.shape}, expected {shape}")
            if not np.all(np.isfinite(arr)):
                raise DataFormatError(where, f"camera {self.name}: {key} contains NaN or Inf")
        if abs(np.linalg.det(self.R) - 1.0) > 1e-3 or np.abs(self.R @ self.R.T - np.eye(3)).max() > 1e-3:
            raise DataFormatError(where, f"camera {self.name}: R is not a proper rotation (orthonormal, det +1)")
        if self.K[0, 0] <= 0 or self.K[1, 1] <= 0:
            raise DataFormatError(where, f"camera {self.name}: focal lengths must be positive, got K={self.K.tolist()}")
        if self.width <= 0 or self.height <= 0:
            raise DataFormatError(where, f"camera {self.name}: image size must be positive")
        side = max(self.width, self.height)
        if not all(FOCAL_RANGE_SIDES[0] * side <= f <= FOCAL_RANGE_SIDES[1] * side for f in (self.K[0, 0], self.K[1, 1])):
            raise DataFormatError(where, f"camera {self.name}: focal lengths {self.K[0, 0]:.4g}, {self.K[1, 1]:.4g} px "
                                         f"are implausible for a {self.width}x{self.height} image (expected "
                                         f"{FOCAL_RANGE_SIDES[0]:g} to {FOCAL_RANGE_SIDES[1]:g} x {side} px)")
        if np.abs(self.t).max() > MAX_COORDINATE:
            raise DataFormatError(where, f"camera {self.name}: translation {np.asarray(self.t).tolist()} is beyond "
                                         f"{MAX_COORDINATE:g} scene units (wrong units or a corrupt pose?)")
        if not (self.fps > 0 and np.isfinite(self.fps)):
            raise DataFormatError(where, f"camera {self.name}: fps must be positive, got {self.fps}")
        if self.n_frames <= 0:
            raise DataFormatError(where, f"camera {self.name}: no frames")
        if self.frames.start < 0:
            raise DataFormatError(where, f"camera {self.name}: frames.start must be >= 0, got {self.frames.start}")
        if self.frames.stop is not None and self.frames.stop - self.frames.start != self.n_frames:
            raise DataFormatError(where, f"camera {self.name}: frames.stop - frames.start = "
                                         f"{self.frames.stop - self.frames.start} but n_frames = {self.n_frames}")
        if self.time_map is not None and not (np.all(np.isfinite(self.time_map)) and self.time_map[1] > 0):
            raise DataFormatError(where, f"camera {self.name}: time_map needs a finite offset_s and a positive "
                                         f"rate, got {self.time_map}")
        if self.frame_times_s is not None:
            ft = np.asarray(self.frame_times_s)
            if ft.shape != (self.n_frames,):
                raise DataFormatError(where, f"camera {self.name}: frame_times_s has shape {ft.shape} for "
                                             f"{self.n_frames} frames")
            if not np.all(np.isfinite(ft)) or not np.all(np.diff(ft) > 0):
                raise DataFormatError(where, f"camera {self.name}: frame_times_s must be finite and increase strictly")


@dataclass
class Normalization:
    """The similarity applied to the original world: ``x_scene = (x_orig - center) * scale``."""

    center: np.ndarray = field(default_factory=lambda: np.zeros(3))
    scale: float = 1.0

    def to_scene(self, x_orig: np.ndarray) -> np.ndarray:
        return (np.asarray(x_orig) - self.center) * self.scale

    def to_original(self, x_scene: np.ndarray) -> np.ndarray:
        return np.asarray(x_scene) / self.scale + self.center

    def to_dict(self) -> dict[str, Any]:
        return {"center": np.asarray(self.center, dtype=np.float64).tolist(), "scale": float(self.scale)}

    @staticmethod
    def from_dict(d: dict[str, Any]) -> "Normalization":
        return Normalization(center=np.asarray(d["center"], dtype=np.float64).reshape(3), scale=float(d["scale"]))


@dataclass
class SceneSpec:
    """A whole capture in canonical form.

    Attributes:
        root: the scene folder (not serialised; set on load).
        cameras: all cameras, training and test.
        reference_camera: name of the camera whose clock is global time (offset 0, rate 1).
        test_cameras: names held out from training (evaluation views).
        near, far: depth range in scene units.
        normalization: similarity applied to the original world coordinates.
        source: free-form provenance (reader name, original path, options).
    """

    root: Path
    cameras: list[CameraSpec]
    reference_camera: str
    test_cameras: list[str] = field(default_factory=list)
    near: float = 0.01
    far: float = 100.0
    normalization: Normalization = field(default_factory=Normalization)
    source: dict[str, Any] = field(default_factory=dict)

    # ---- lookup ------------------------------------------------------------------------------
    @property
    def camera_names(self) -> list[str]:
        return [c.name for c in self.cameras]

    def camera(self, name: str) -> CameraSpec:
        for c in self.cameras:
            if c.name == name:
                return c
        raise KeyError(f"no camera named {name!r} in scene {self.root} (have {self.camera_names})")

    def camera_index(self, name: str) -> int:
        return self.camera_names.index(name)

    @property
    def train_cameras(self) -> list[CameraSpec]:
        return [c for c in self.cameras if c.name not in self.test_cameras]

    @property
    def points_path(self) -> Path:
        return self.root / POINTS_FILE

    @property
    def gt_sync_path(self) -> Path:
        return self.root / GT_SYNC_FILE

    def frames_path(self, cam: CameraSpec) -> Path:
        return self.root / cam.frames.path

    # ---- (de)serialisation -------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return {
            "format_version": SCENE_FORMAT_VERSION,
            "reference_camera": self.reference_camera,
            "test_cameras": list(self.test_cameras),
            "near": float(self.near),
            "far": float(self.far),
            "normalization": self.normalization.to_dict(),
            "source": self.source,
            "cameras": [c.to_dict() for c in self.cameras],
        }

    def validate(self) -> None:
        where = self.root / SCENE_FILE
        if not self.cameras:
            raise DataFormatError(where, "scene has no cameras")
        names = self.camera_names
        if len(set(names)) != len(names):
            raise DataFormatError(where, f"duplicate camera names: {names}")
        if self.reference_camera not in names:
            raise DataFormatError(where, f"reference camera {self.reference_camera!r} is not among the cameras {names}")
        for n in self.test_cameras:
            if n not in names:
                raise DataFormatError(where, f"test camera {n!r} is not among the cameras {names}")
        if not (0 < self.near < self.far):
            raise DataFormatError(where, f"need 0 < near < far, got near={self.near}, far={self.far}")
        norm = self.normalization
        if not (np.all(np.isfinite(norm.center)) and np.isfinite(norm.scale) and norm.scale > 0):
            raise DataFormatError(where, f"normalization needs a finite center and a positive scale, got "
                                         f"{norm.to_dict()}")
        for c in self.cameras:
            c.validate(where)

    def save(self) -> Path:
        """Validate and write ``root/scene.json`` atomically; returns its path."""
        self.validate()
        path = self.root / SCENE_FILE
        write_json(path, self.to_dict())
        return path


def is_scene_folder(folder: str | Path) -> bool:
    """True when ``folder`` holds a scene.json written by sync4dgs (a JSON object with our format keys)."""
    path = Path(folder) / SCENE_FILE
    try:
        d = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return False
    return isinstance(d, dict) and "format_version" in d and isinstance(d.get("cameras"), list)


def scene_folder(path: str | Path) -> Path:
    """The scene folder that ``path`` names: the folder itself, or the folder of a ``scene.json`` given instead
    (``--source_path scenes/x/scene.json`` means ``scenes/x``). Any other path is returned unchanged."""
    p = Path(path)
    if p.name == SCENE_FILE and not p.is_dir():
        return p.parent
    return p


def load_scene(root: str | Path) -> SceneSpec:
    """Read ``root/scene.json`` into a validated SceneSpec (clear DataFormatError on any problem). ``root`` may
    also be the ``scene.json`` file itself (:func:`scene_folder`)."""
    root = scene_folder(root)
    path = root / SCENE_FILE
    if root.exists() and not root.is_dir():
        raise DataFormatError(root, "scene path is a file, expected a scene folder holding scene.json")
    if not path.is_file():
        raise DataFormatError(path, "scene.json not found; run `sync4dgs prepare` first")
    d = read_json_object(path)
    version = d.get("format_version")
    if version != SCENE_FORMAT_VERSION:
        raise DataFormatError(path, f"unsupported format_version {version!r} (this sync4dgs reads {SCENE_FORMAT_VERSION})")
    try:
        scene = SceneSpec(
            root=root,
            cameras=[CameraSpec.from_dict(c) for c in d["cameras"]],
            reference_camera=str(d["reference_camera"]),
            test_cameras=[str(n) for n in d.get("test_cameras", [])],
            near=float(d.get("near", 0.01)),
            far=float(d.get("far", 100.0)),
            normalization=Normalization.from_dict(d["normalization"]) if "normalization" in d else Normalization(),
            source=dict(d.get("source", {})),
        )
    except (KeyError, TypeError, ValueError, AttributeError) as e:
        raise DataFormatError(path, f"malformed scene description: {_describe(e)}") from e
    scene.validate()
    return scene


def _describe(e: Exception) -> str:
    """One line for a scene.json parsing error (a missing key is named as such)."""
    if isinstance(e, KeyError):
        return f"missing key {e.args[0]!r}"
    return f"{type(e).__name__}: {e}"
