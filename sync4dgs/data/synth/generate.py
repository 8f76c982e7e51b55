"""Generate a synthetic unsynchronized multi-view capture (N3V layout or canonical scene).

Every camera is rendered exactly at its own capture times ``t = offset_k + rate_k * i / fps_k`` (seconds, the
reference camera's clock). Outputs are written into a temporary folder that replaces ``out_dir`` only on
success (sync4dgs/utils/atomic.py).

N3V layout (``layout="n3v"``, needs PyAV)::

    camXX.mp4            H.264 at each camera's true frame rate (pts i / fps_k)
    poses_bounds.npy     LLFF [N, 17] (see llff.py)
    gt_sync.json         true offsets (TimeMaps schema; rate 1; extra.fps = true frame rates)
    gt/cam00/00000.png   lossless frames of the test camera
    synth_meta.json      generator settings, cameras, clocks, object descriptions

Canonical layout (``layout="canonical"``, needs neither PyAV nor pycolmap)::

    scene.json, frames/camXX/00000.png, points3d.ply, gt_sync.json, synth_meta.json

Both layouts also write ``gt_masks/camXX.npz``: every camera's true moving-object masks (bool [T, H, W], packed;
format in sync4dgs/data/gt_masks.py), for moving-region metrics.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np
from tqdm import tqdm

from sync4dgs.data.gt_masks import GT_MASKS_DIR, gt_mask_path, pack_mask, save_gt_masks
from sync4dgs.data.scene import GT_SYNC_FILE, POINTS_FILE, CameraSpec, FrameSource, SceneSpec
from sync4dgs.data.synth.config import SynthConfig
from sync4dgs.data.synth.llff import encode_poses_bounds
from sync4dgs.data.synth.outputs import PngPool, depth_bounds, sample_static_points, to_uint8, write_points_ply
from sync4dgs.data.synth.raycast import PackedScene
from sync4dgs.data.synth.render import render_frames_with_masks
from sync4dgs.data.synth.rig import CameraClock, RigCamera, make_clocks, make_rig, overlap_fraction, time_span_s
from sync4dgs.data.synth.scene_def import SceneDef, build_default_scene
from sync4dgs.errors import ConfigError, DataFormatError
from sync4dgs.timemap import TimeMap, TimeMaps
from sync4dgs.utils.atomic import atomic_dir, write_json
from sync4dgs.utils.device import resolve_device

log = logging.getLogger(__name__)

META_FILE = "synth_meta.json"
META_VERSION = 1
FRAME_PATTERN = "{:05d}.png"


@dataclass
class SynthPlan:
    """Everything needed to render the capture: cameras, their clocks and the scene (no pixels yet)."""

    config: SynthConfig
    cameras: list[RigCamera]
    clocks: list[CameraClock]
    scene: SceneDef

    def frame_times_s(self, name: str) -> np.ndarray:
        """[n_frames] global capture times (seconds) of camera ``name``."""
        return self.clocks[[c.name for c in self.cameras].index(name)].times_s()

    def time_maps(self) -> TimeMaps:
        """Ground-truth time maps in the TimeMaps schema (offset_s, rate 1; extra holds true fps/frames)."""
        maps = {cam.name: TimeMap(clk.offset_s, clk.rate, 1.0, "reference" if k == 0 else "aligned")
                for k, (cam, clk) in enumerate(zip(self.cameras, self.clocks))}
        extra = {"generator": "sync4dgs.synth", "seed": self.config.seed, "subframe": self.config.subframe,
                 "fps": {c.name: k.fps for c, k in zip(self.cameras, self.clocks)},
                 "n_frames": {c.name: k.n_frames for c, k in zip(self.cameras, self.clocks)}}
        return TimeMaps(self.cameras[0].name, maps, extra)


def plan_synth(config: SynthConfig) -> SynthPlan:
    """Deterministic cameras, clocks and scene for ``config`` (renders nothing)."""
    config.validate()
    rig_rng, clock_rng = (np.random.default_rng(s) for s in np.random.SeedSequence(config.seed).spawn(2))
    cams = make_rig(config.n_cams, config.width, config.height, rig_rng, config.hfov_deg)
    clocks = make_clocks(config.n_cams, config.fps, config.n_frames, config.max_offset_s, config.subframe,
                         config.fps_mix, clock_rng)
    return SynthPlan(config, cams, clocks, build_default_scene(config.seed, time_span_s(clocks)))


def load_synth(out_dir: str | Path) -> SynthPlan:
    """The plan of a generated folder, read from its synth_meta.json (cameras, clocks and the scene exactly as
    generated), to render ground truth at any time."""
    path = Path(out_dir) / META_FILE
    if not path.is_file():
        raise DataFormatError(path, "synth_meta.json not found (not a folder written by `sync4dgs synth`)")
    try:
        meta = json.loads(path.read_text())
        if meta.get("version") != META_VERSION:
            raise ValueError(f"unsupported version {meta.get('version')!r}")
        cams = [RigCamera(c["name"], np.asarray(c["K"], dtype=np.float64), np.asarray(c["R"], dtype=np.float64),
                          np.asarray(c["t"], dtype=np.float64), int(c["width"]), int(c["height"]))
                for c in meta["cameras"]]
        clocks = [CameraClock(float(c["fps"]), int(c["n_frames"]), float(c["offset_s"]), float(c["rate"]))
                  for c in meta["cameras"]]
        return SynthPlan(SynthConfig.from_dict(meta["config"]), cams, clocks, SceneDef.from_dict(meta["scene"]))
    except (json.JSONDecodeError, KeyError, TypeError, ValueError) as e:
        raise DataFormatError(path, f"malformed synth metadata: {e!r}") from e


def _meta(plan: SynthPlan, device: str) -> dict:
    return {
        "generator": "sync4dgs.synth", "version": META_VERSION, "config": plan.config.to_dict(), "device": device,
        "time_span_s": list(plan.scene.time_span_s),
        "time_convention": "t_global_s = offset_s + rate * frame_idx / fps (reference camera's clock)",
        "cameras": [{"name": c.name, "width": c.width, "height": c.height, "K": c.K.tolist(), "R": c.R.tolist(),
                     "t": c.t.tolist(), "center": c.center.tolist(), "fps": k.fps, "n_frames": k.n_frames,
                     "offset_s": k.offset_s, "rate": k.rate} for c, k in zip(plan.cameras, plan.clocks)],
        "moving_objects": [p.to_dict() for p in plan.scene.moving],
        "gt_masks": {"folder": GT_MASKS_DIR, "files": {c.name: f"{GT_MASKS_DIR}/{c.name}.npz" for c in plan.cameras},
                     "format": "npz: bits uint8 [T, H, ceil(W/8)] = np.packbits(mask, axis=-1), width int64; "
                               "frame i = the camera's frame i (sync4dgs/data/gt_masks.py)",
                     "definition": "True where at least one of the pixel's supersample x supersample rays hits a "
                                   "moving object in front of the static scene"},
        "scene": plan.scene.to_dict(),
    }


def _warn_low_overlap(plan: SynthPlan) -> None:
    for cam, clk in zip(plan.cameras[1:], plan.clocks[1:]):
        frac = overlap_fraction(plan.clocks[0], clk)
        if frac < 0.5:
            log.warning("camera %s overlaps the reference camera's recording for only %.0f%% of its frames "
                        "(offset %+.3f s); consider a smaller --max_offset_s or more --frames",
                        cam.name, 100 * frac, clk.offset_s)


def _frames_uint8(packed: PackedScene, cam: RigCamera, clk: CameraClock, cfg: SynthConfig,
                  bar: tqdm, masks_out: list[np.ndarray]) -> Iterator[np.ndarray]:
    """Yield the camera's frames in order as uint8 [H, W, 3], rendered chunk by chunk; append each frame's
    packed true moving-object mask (uint8 [H, ceil(W / 8)], sync4dgs/data/gt_masks.py) to ``masks_out``."""
    for _, imgs, masks in render_frames_with_masks(packed, cam.K, cam.R, cam.t, cam.width, cam.height,
                                                   clk.times_s(), packed.device, cfg.supersample, cfg.max_rays):
        masks_out.extend(pack_mask(masks.cpu().numpy()))
        for img in to_uint8(imgs):
            bar.update(1)
            yield img


def _save_masks(root: Path, cam: RigCamera, masks: list[np.ndarray]) -> None:
    """``root/gt_masks/<camera>.npz`` from the packed masks of every frame of the camera."""
    save_gt_masks(gt_mask_path(root, cam.name), np.stack(masks), cam.width)


def _write_canonical(plan: SynthPlan, packed: PackedScene, root: Path, bar: tqdm) -> None:
    cfg = plan.config
    specs = []
    with PngPool(cfg.png_workers, cfg.png_compression) as pool:
        for cam, clk in zip(plan.cameras, plan.clocks):
            folder = root / "frames" / cam.name
            folder.mkdir(parents=True)
            masks: list[np.ndarray] = []
            for i, img in enumerate(_frames_uint8(packed, cam, clk, cfg, bar, masks)):
                pool.submit(folder / FRAME_PATTERN.format(i), img)
            _save_masks(root, cam, masks)
            specs.append(CameraSpec(cam.name, cam.width, cam.height, cam.K, cam.R, cam.t, clk.fps, clk.n_frames,
                                    FrameSource("images", f"frames/{cam.name}", FRAME_PATTERN)))
    near, far = _scene_bounds(plan, packed)
    SceneSpec(root=root, cameras=specs, reference_camera=specs[0].name, test_cameras=[specs[0].name],
              near=near, far=far, source={"reader": "synth", "seed": cfg.seed}).save()
    rng = np.random.default_rng(np.random.SeedSequence([cfg.seed, 0x9017]))
    xyz, rgb = sample_static_points(packed, plan.cameras, plan.scene.time_span_s[0], cfg.n_points, rng)
    write_points_ply(root / POINTS_FILE, xyz, rgb)


def _write_n3v(plan: SynthPlan, packed: PackedScene, root: Path, bar: tqdm) -> None:
    from sync4dgs.data.video import write_video  # noqa: PLC0415  (PyAV only on this path)

    cfg = plan.config
    bounds = [depth_bounds(packed, cam, plan.scene.time_span_s[0]) for cam in plan.cameras]
    with PngPool(cfg.png_workers, cfg.png_compression) as pool:
        for k, (cam, clk) in enumerate(zip(plan.cameras, plan.clocks)):
            masks: list[np.ndarray] = []
            frames = _frames_uint8(packed, cam, clk, cfg, bar, masks)
            if k == 0:  # the test camera: also keep lossless ground truth
                gt_dir = root / "gt" / cam.name
                gt_dir.mkdir(parents=True)
                frames = _tee_png(frames, gt_dir, pool)
            write_video(root / f"{cam.name}.mp4", frames, clk.fps, crf=cfg.crf)
            _save_masks(root, cam, masks)
    arr = encode_poses_bounds(np.stack([c.R for c in plan.cameras]), np.stack([c.t for c in plan.cameras]),
                              [c.height for c in plan.cameras], [c.width for c in plan.cameras],
                              [c.K[0, 0] for c in plan.cameras], [0.9 * b[0] for b in bounds],
                              [1.1 * b[1] for b in bounds])
    np.save(root / "poses_bounds.npy", arr)


def _tee_png(frames: Iterator[np.ndarray], folder: Path, pool: PngPool) -> Iterator[np.ndarray]:
    for i, img in enumerate(frames):
        pool.submit(folder / FRAME_PATTERN.format(i), img)
        yield img


def _scene_bounds(plan: SynthPlan, packed: PackedScene) -> tuple[float, float]:
    bounds = [depth_bounds(packed, cam, plan.scene.time_span_s[0]) for cam in plan.cameras]
    return 0.9 * min(b[0] for b in bounds), 1.1 * max(b[1] for b in bounds)


def _check_output_folder(out_dir: Path) -> None:
    """Only an empty folder or an earlier synth output may be replaced (never a user's unrelated data)."""
    if out_dir.exists() and not out_dir.is_dir():
        raise DataFormatError(out_dir, "output path exists and is not a folder")
    if out_dir.is_dir() and any(out_dir.iterdir()) and not (out_dir / META_FILE).is_file():
        raise DataFormatError(out_dir, f"output folder is not empty and holds no {META_FILE}; refusing to "
                                       "replace it (choose a new --out)")


def _check_pyav(layout: str) -> None:
    if layout != "n3v":
        return
    try:
        import av  # noqa: F401, PLC0415
    except ImportError as e:
        raise ConfigError("synth: the n3v layout writes mp4 videos and needs PyAV (pip install av); "
                          "use --layout canonical to write PNG frames instead") from e


def generate(config: SynthConfig, out_dir: str | Path, progress: bool = True) -> Path:
    """Render and write a synthetic capture into ``out_dir`` (replaced atomically); returns ``out_dir``.

    Raises DataFormatError if ``out_dir`` is a non-empty folder that is not an earlier synth output, and
    ConfigError for bad settings (or the n3v layout without PyAV).
    """
    out_dir = Path(out_dir)
    _check_output_folder(out_dir)
    _check_pyav(config.layout)
    plan = plan_synth(config)
    try:
        device = resolve_device(config.device)
    except (ValueError, RuntimeError) as e:
        raise ConfigError(f"synth: bad device {config.device!r}: {e}") from e
    packed = PackedScene(plan.scene, device)
    _warn_low_overlap(plan)
    total = sum(c.n_frames for c in plan.clocks)
    log.info("synth: %d cameras, %d frames in all, %dx%d, layout %s, device %s", len(plan.cameras), total,
             config.width, config.height, config.layout, device)
    with atomic_dir(out_dir) as tmp, tqdm(total=total, unit="frame", desc="synth", disable=not progress) as bar:
        if config.layout == "canonical":
            _write_canonical(plan, packed, tmp, bar)
        else:
            _write_n3v(plan, packed, tmp, bar)
        plan.time_maps().save(tmp / GT_SYNC_FILE)
        write_json(tmp / META_FILE, _meta(plan, str(device)))
    return out_dir
