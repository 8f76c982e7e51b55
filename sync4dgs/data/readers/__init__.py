"""Dataset readers -> canonical scene (``sync4dgs prepare``).

Library entry point::

    from sync4dgs.data.readers import prepare
    scene = prepare("data/coffee_martini", "scenes/coffee", fmt="n3v", downscale=2)

``READERS`` maps a format name to its reader class (imported lazily). Formats: n3v, technicolor, colmap,
videos. With ``fmt=None`` the first reader whose ``detect`` accepts the folder is used (order of
``DETECT_ORDER``); if none does, the error lists what each one looked for.
"""

from __future__ import annotations

import dataclasses
import importlib
import logging
from pathlib import Path
from typing import Any

import numpy as np

from sync4dgs.data.frame_check import check_scene_frames
from sync4dgs.data.points import near_far_from_points, random_points_in_frusta, save_points
from sync4dgs.data.readers.base import FrameRange, PrepareOptions, RawScene, Reader
from sync4dgs.data.readers.common import check_camera_centres, compute_normalization, normalize_camera
from sync4dgs.data.scene import Normalization, SceneSpec, is_scene_folder
from sync4dgs.errors import ConfigError, DataFormatError
from sync4dgs.utils.atomic import atomic_dir
from sync4dgs.utils.outdir import check_output_folder

log = logging.getLogger(__name__)

READERS: dict[str, str] = {
    "n3v": "sync4dgs.data.readers.n3v:N3VReader",
    "technicolor": "sync4dgs.data.readers.technicolor:TechnicolorReader",
    "colmap": "sync4dgs.data.readers.colmap:ColmapReader",
    "videos": "sync4dgs.data.readers.videos:VideosReader",
}
DETECT_ORDER = ("n3v", "technicolor", "colmap", "videos")

__all__ = ["READERS", "PrepareOptions", "FrameRange", "get_reader", "detect_format", "prepare"]


def get_reader(name: str) -> Reader:
    """Instantiate the reader registered under ``name`` (ConfigError for unknown names)."""
    if name not in READERS:
        raise ConfigError(f"unknown dataset format {name!r}; known formats: {sorted(READERS)}")
    module, cls = READERS[name].split(":")
    return getattr(importlib.import_module(module), cls)()


def detect_format(src: str | Path) -> str:
    """Name of the first format whose reader recognises ``src``; DataFormatError listing what each looked for."""
    src = Path(src)
    looked = []
    for name in DETECT_ORDER:
        reason = get_reader(name).detect(src)
        if reason is None:
            return name
        looked.append(f"{name}: {reason}")
    raise DataFormatError(src, "unrecognised dataset layout; looked for\n  - " + "\n  - ".join(looked))


def prepare(src: str | Path, out: str | Path, fmt: str | None = None, *, overwrite: bool = False,
            **options: Any) -> SceneSpec:
    """Convert the dataset at ``src`` to a canonical scene folder ``out`` and return its SceneSpec.

    ``options`` are :class:`PrepareOptions` fields (or pass ``options=PrepareOptions(...)``). The folder is
    built in a temporary sibling and renamed into place only on success. An existing ``out`` is replaced only
    when it is an earlier scene (scene.json) or empty; a foreign non-empty folder needs ``overwrite``; ``src``,
    its parents, files and foreign folders inside ``src`` are never replaced (sync4dgs.utils.outdir).
    """
    given = options.pop("options", None)
    if given is not None and options:
        raise ConfigError("pass either options=PrepareOptions(...) or keyword options, not both")
    opts = given if given is not None else PrepareOptions(**options)
    src, out = Path(src), Path(out)
    if not src.is_dir():
        raise DataFormatError(src, "dataset folder not found")
    check_output_folder(out, is_scene_folder, inputs=[src], overwrite=overwrite)
    if opts.calibration is not None and fmt not in (None, "videos"):
        raise ConfigError(f"--calibration applies to --format videos (videos or image-sequence folders), not {fmt}")
    name = fmt or ("videos" if opts.calibration is not None else detect_format(src))
    reader = get_reader(name)
    if fmt is not None:
        reason = reader.detect(src)
        if reason is not None:
            raise DataFormatError(src, f"does not look like the {fmt} format: expected {reason}")
    log.info("preparing %s (%s) -> %s", src, name, out)
    with atomic_dir(out) as work:
        raw = reader.read(src, work, out, opts)
        scene = _finish(raw, src, work, out, opts, name)
    scene.root = out
    return scene


def _finish(raw: RawScene, src: Path, work: Path, out: Path, opts: PrepareOptions, fmt: str) -> SceneSpec:
    """Point-cloud rule, depth range, normalisation; write scene.json, points3d.ply, gt_sync.json."""
    cams = raw.cameras
    for c in cams:
        c.validate(src)
    check_camera_centres(cams, src)
    points = raw.points
    too_few = len(points) < opts.min_points
    msg = (f"only {len(points)} points could be reconstructed (need {opts.min_points}); the views may not "
           "overlap or have too little texture")
    if too_few and opts.points == "strict":
        raise DataFormatError(src, f"empty/too small point cloud: {msg}")
    near, far = raw.near, raw.far
    if near is None or far is None:
        nf = near_far_from_points(cams, points.xyz)
        if nf is None:
            raise DataFormatError(src, "cannot determine the depth range: no reconstructed point is visible in any "
                                       "camera (and the dataset gives no near/far)")
        near, far = nf
    if opts.points == "random" or too_few:
        if opts.points == "auto":
            log.warning("%s: %s; using %d random points in the camera frusta instead", src, msg, opts.n_random_points)
        train = [c for c in cams if c.name not in raw.test_cameras] or cams
        points = random_points_in_frusta(train, near, far, opts.n_random_points, np.random.default_rng(opts.seed),
                                         raw.first_images)
    norm = compute_normalization(cams, near) if opts.normalize else Normalization()
    cams = [normalize_camera(c, norm) for c in cams]
    if opts.assume_synchronized:
        cams = [dataclasses.replace(c, time_map=(0.0, 1.0)) for c in cams]
    options = dataclasses.asdict(opts)
    source = {"format": fmt, "path": str(src.resolve()), "options": options, **raw.source,
              "points": {"method": points.method, "count": len(points)}, "report": raw.report}
    scene = SceneSpec(root=out, cameras=cams, reference_camera=raw.reference_camera, test_cameras=raw.test_cameras,
                      near=near * norm.scale, far=far * norm.scale, normalization=norm, source=source)
    scene.validate()
    scene.root = work
    check_scene_frames(scene, progress=opts.progress)       # every frame decodes: one line naming a damaged one
    scene.save()
    save_points(scene.points_path, norm.to_scene(points.xyz), points.rgb)
    if raw.gt_sync is not None:
        raw.gt_sync.save(scene.gt_sync_path)
    log.info("scene with %d cameras, %d points (%s), near %.3g far %.3g", len(cams), len(points), points.method,
             scene.near, scene.far)
    return scene
