"""Make an unsynchronized benchmark from a synchronized dataset (as Sync-NeRF did for N3V).

Protocol (see docs/scene_format.md, "unsync"): every camera gets an integer offset ``d_c`` in frames, drawn
either from a rounded Gaussian N(0, sigma_frames) (Sync-NeRF: sigma = 5) or uniformly from
[-max_offset_frames, max_offset_frames]; the reference and test cameras get 0 (their content timeline is
the truth). Camera c's new video starts at original frame ``s_c = d_c - min(0, min_k d_k)`` (so a negative
offset trims the reference's first frames instead) and every camera keeps the same number of frames
``L = min_c (T_c - s_c)`` (optionally capped by ``n_frames``; Sync-NeRF used 270). With
``allow_negative=False`` offsets are |d_c| and the reference/test cameras are not trimmed at all.

Ground truth (``gt_sync.json``, the TimeMaps schema): camera c's first kept frame was captured at original
time ``tau_c[s_c]``, the reference's at ``tau_ref[s_ref]``, so ``offset_s = tau_c[s_c] - tau_ref[s_ref]``
(= +d_c / fps at a constant rate): dropping the first k frames of a camera gives offset +k/fps. If the
source already has time maps (its own gt_sync.json or per-camera ``time_map``), they are composed.

Inputs and outputs:
  * N3V layout (cam*.mp4 + poses_bounds.npy) -> N3V layout: each video is trimmed and re-encoded with
    libx264 at ``crf`` (default 12, visually lossless; 0 = lossless in YUV) directly from the decoded YUV
    frames (no RGB round trip), keeping the source's timestamps; poses_bounds.npy is copied unchanged.
  * canonical scene (scene.json) -> canonical scene that points at the SAME frame files with shifted
    ``frames.start``/``stop`` (no re-encoding, bit-exact); points3d.ply is copied.
"""

from __future__ import annotations

import dataclasses
import logging
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sync4dgs.data.readers.base import rel_to_scene
from sync4dgs.data.readers.common import shift_time_maps
from sync4dgs.data.video import import_av, video_timing
from sync4dgs.data.readers.n3v import POSES_FILE, find_videos
from sync4dgs.data.scene import GT_SYNC_FILE, POINTS_FILE, SCENE_FILE, SceneSpec, is_scene_folder, load_scene
from sync4dgs.errors import ConfigError, DataFormatError
from sync4dgs.timemap import TimeMap, TimeMaps, load_time_maps, rereference
from sync4dgs.utils.atomic import atomic_dir, atomic_path
from sync4dgs.utils.outdir import check_output_folder

log = logging.getLogger(__name__)


@dataclass
class UnsyncConfig:
    """sigma_frames: Gaussian offsets (frames); max_offset_frames: uniform offsets instead (frames).
    n_frames: cap on the kept length (frames). test_cameras / reference: None = the source's defaults
    (N3V: cam00). crf: x264 quality for re-encoded videos."""

    sigma_frames: float | None = 5.0
    max_offset_frames: int | None = None
    seed: int = 0
    allow_negative: bool = True
    n_frames: int | None = None
    test_cameras: list[str] | None = None
    reference: str | None = None
    crf: int = 12

    def __post_init__(self) -> None:
        if self.max_offset_frames is not None:
            if self.max_offset_frames < 0:
                raise ConfigError("max_offset_frames must be >= 0")
            self.sigma_frames = None
        elif self.sigma_frames is None or self.sigma_frames < 0:
            raise ConfigError("give sigma_frames >= 0 or max_offset_frames >= 0")
        if self.n_frames is not None and self.n_frames < 2:
            raise ConfigError("n_frames must be >= 2")


# ---- pure protocol ---------------------------------------------------------------------------------
def draw_offsets_frames(names: list[str], fixed: set[str], cfg: UnsyncConfig) -> dict[str, int]:
    """Integer offset (frames) per camera; cameras in ``fixed`` get 0. Deterministic for a seed and name list."""
    rng = np.random.default_rng(cfg.seed)
    out = {}
    for n in names:
        if cfg.max_offset_frames is not None:
            lo = -cfg.max_offset_frames if cfg.allow_negative else 0
            d = int(rng.integers(lo, cfg.max_offset_frames + 1))
        else:
            d = int(np.round(rng.normal(0.0, cfg.sigma_frames)))
            d = d if cfg.allow_negative else abs(d)
        out[n] = 0 if n in fixed else d
    return out


def start_frames(offsets: dict[str, int]) -> dict[str, int]:
    """First kept original frame per camera: ``s_c = d_c - min(0, min d)`` (all >= 0)."""
    m = min(0, min(offsets.values()))
    return {n: d - m for n, d in offsets.items()}


def common_length(n_frames: dict[str, int], starts: dict[str, int], cap: int | None, where: Path) -> int:
    """Frames every camera can keep: min_c (T_c - s_c), capped; DataFormatError if fewer than 2."""
    avail = min(n_frames[n] - starts[n] for n in starts)
    if cap is not None:
        if cap > avail:
            raise DataFormatError(where, f"n_frames={cap} requested but only {avail} frames overlap after the offsets")
        avail = cap
    if avail < 2:
        raise DataFormatError(where, f"start frames {starts} leave {avail} frame(s) per camera; use smaller offsets "
                                     "or longer videos")
    return avail


def ground_truth(base: TimeMaps, first_tau_s: dict[str, float], reference: str, extra: dict) -> TimeMaps:
    """Compose the source's time maps with the trimming (see module doc)."""
    gt = rereference(shift_time_maps(base, first_tau_s), reference, old_reference_status="fixed")
    for n, m in gt.cameras.items():
        if n != reference:
            gt.cameras[n] = TimeMap(m.offset_s, m.rate, 1.0, "fixed")
    gt.extra = extra
    return gt


# ---- entry point -----------------------------------------------------------------------------------
def is_unsync_output(folder: Path) -> bool:
    """True for a folder an earlier ``unsync`` (or ``prepare`` / ``synth``) wrote: a canonical scene, or an N3V
    folder carrying our gt_sync.json."""
    return is_scene_folder(folder) or ((folder / GT_SYNC_FILE).is_file() and (folder / POSES_FILE).is_file())


def unsync(src: str | Path, out: str | Path, cfg: UnsyncConfig | None = None, *, overwrite: bool = False) -> TimeMaps:
    """Write the unsynchronized copy of ``src`` to ``out`` (atomically); returns the ground-truth maps.

    ``out`` is replaced only when it is an earlier output or empty (a foreign non-empty folder needs
    ``overwrite``); ``src``, its parents and foreign folders inside it never are (sync4dgs.utils.outdir).
    """
    cfg = cfg or UnsyncConfig()
    src, out = Path(src), Path(out)
    if not src.is_dir():
        raise DataFormatError(src, "source folder not found")
    check_output_folder(out, is_unsync_output, inputs=[src], overwrite=overwrite, input_name="source folder")
    if (src / SCENE_FILE).is_file():
        return _unsync_scene(load_scene(src), out, cfg)
    if (src / POSES_FILE).is_file() and find_videos(src):
        return _unsync_n3v(src, out, cfg)
    raise DataFormatError(src, f"expected an N3V folder ({POSES_FILE} + cam*.mp4) or a canonical scene ({SCENE_FILE})")


def _protocol(names: list[str], n_frames: dict[str, int], default_ref: str | None, default_test: list[str],
              cfg: UnsyncConfig, where: Path) -> tuple[str, list[str], dict[str, int], dict[str, int], int]:
    reference = cfg.reference or (default_ref if default_ref in names else names[0])
    tests = cfg.test_cameras if cfg.test_cameras is not None else [n for n in default_test if n in names]
    for n in [reference, *tests]:
        if n not in names:
            raise ConfigError(f"camera {n!r} is not among {names}")
    offsets = draw_offsets_frames(names, {reference, *tests}, cfg)
    starts = start_frames(offsets)
    length = common_length(n_frames, starts, cfg.n_frames, where)
    return reference, tests, offsets, starts, length


def _extra(cfg: UnsyncConfig, src: Path, offsets, starts, length, tests) -> dict:
    return {"protocol": "uniform" if cfg.max_offset_frames is not None else "gaussian",
            "sigma_frames": cfg.sigma_frames, "max_offset_frames": cfg.max_offset_frames, "seed": cfg.seed,
            "allow_negative": cfg.allow_negative, "offset_frames": offsets, "start_frames": starts,
            "n_frames": length, "test_cameras": tests, "source": str(src.resolve())}


def _unsync_n3v(src: Path, out: Path, cfg: UnsyncConfig) -> TimeMaps:
    videos = {p.stem: p for p in find_videos(src)}
    timings = {n: video_timing(p) for n, p in videos.items()}
    names = list(videos)
    reference, tests, offsets, starts, length = _protocol(
        names, {n: t.n_frames for n, t in timings.items()}, "cam00", ["cam00"], cfg, src)
    base = load_time_maps(src / GT_SYNC_FILE) if (src / GT_SYNC_FILE).is_file() else \
        TimeMaps(reference, {n: TimeMap(0.0, 1.0, 1.0, "fixed") for n in names})
    first_tau = {n: float(timings[n].tau_s[starts[n]]) for n in names}
    gt = ground_truth(base, first_tau, reference, _extra(cfg, src, offsets, starts, length, tests))
    with atomic_dir(out) as work:
        for n in names:
            log.info("%s: keeping frames %d..%d (offset %+d frames)", n, starts[n], starts[n] + length - 1, offsets[n])
            trim_video(videos[n], work / videos[n].name, starts[n], length, cfg.crf)
        shutil.copy2(src / POSES_FILE, work / POSES_FILE)
        gt.save(work / GT_SYNC_FILE)
    return gt


def _unsync_scene(scene: SceneSpec, out: Path, cfg: UnsyncConfig) -> TimeMaps:
    names = scene.camera_names
    reference, tests, offsets, starts, length = _protocol(
        names, {c.name: c.n_frames for c in scene.cameras}, scene.reference_camera, scene.test_cameras, cfg, scene.root)
    if scene.gt_sync_path.is_file():
        base = load_time_maps(scene.gt_sync_path)
    else:
        base = TimeMaps(scene.reference_camera, {c.name: TimeMap(*(c.time_map or (0.0, 1.0)), 1.0, "fixed")
                                                 for c in scene.cameras})
    first_tau = {c.name: float(c.tau_s()[starts[c.name]]) for c in scene.cameras}
    gt = ground_truth(base, first_tau, reference, _extra(cfg, scene.root, offsets, starts, length, tests))
    cams = []
    for c in scene.cameras:
        s = starts[c.name]
        a = c.frames.start + s
        frames = dataclasses.replace(c.frames, path=rel_to_scene(scene.root / c.frames.path, out), start=a,
                                     stop=a + length if c.frames.kind == "video" else None)
        ft = None if c.frame_times_s is None else c.frame_times_s[s:s + length] - c.frame_times_s[s]
        cams.append(dataclasses.replace(c, frames=frames, n_frames=length, frame_times_s=ft, time_map=None))
    with atomic_dir(out) as work:
        new = SceneSpec(root=work, cameras=cams, reference_camera=reference, test_cameras=tests, near=scene.near,
                        far=scene.far, normalization=scene.normalization,
                        source={**scene.source, "unsync": gt.extra})
        new.save()
        if scene.points_path.is_file():
            shutil.copy2(scene.points_path, work / POINTS_FILE)
        gt.save(work / GT_SYNC_FILE)
    return gt


def trim_video(src: Path, dst: Path, start: int, count: int, crf: int = 12) -> Path:
    """Re-encode frames [start, start + count) of ``src`` into ``dst`` (H.264, yuv420p, atomically).

    Frames go from decoder to encoder in YUV (no colour conversion); timestamps keep the source's spacing,
    shifted so that the first kept frame is at 0. Raises DataFormatError if the video is too short.
    """
    av = import_av()
    from av.video.frame import PictureType  # noqa: PLC0415

    n = 0
    with atomic_path(dst) as tmp:
        try:
            with av.open(str(src)) as inp, av.open(str(tmp), "w", format="mp4") as outc:
                s = inp.streams.video[0]
                s.thread_type = "AUTO"
                tb = s.time_base
                o = outc.add_stream("libx264", rate=s.average_rate or s.guessed_rate or 30)
                o.width, o.height, o.pix_fmt = s.codec_context.width, s.codec_context.height, "yuv420p"
                o.time_base = o.codec_context.time_base = tb
                o.options = {"crf": str(int(crf)), "preset": "veryfast"}
                t0 = None
                for k, fr in enumerate(inp.decode(s)):
                    if k < start:
                        continue
                    if n >= count:
                        break
                    t0 = fr.pts if t0 is None else t0
                    pts = fr.pts - t0
                    if fr.format.name != "yuv420p":
                        fr = fr.reformat(format="yuv420p")
                    fr.pts, fr.time_base, fr.pict_type = pts, tb, PictureType.NONE
                    for pkt in o.encode(fr):
                        outc.mux(pkt)
                    n += 1
                for pkt in o.encode():
                    outc.mux(pkt)
        except av.error.FFmpegError as e:
            raise DataFormatError(src, f"cannot trim video: {e}") from e
        if n < count:
            raise DataFormatError(src, f"video has only {start + n} frames, needed {start + count}")
    return dst
