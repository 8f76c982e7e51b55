"""Generator configuration and presets.

Presets (explicit settings override them):

========  =====  ======  ===========  ==========  ========  ===========================================
preset    cams   frames  resolution   max offset  subframe  notes
========  =====  ======  ===========  ==========  ========  ===========================================
tiny      4      24      96 x 72      0.3 s       no        unit tests; a few seconds on CPU
demo      6      48      160 x 120    0.5 s       no        CPU demo
n3v       20     300     1352 x 1014  1.0 s       yes       N3V-like; cam10 at 25 fps; meant for CUDA
========  =====  ======  ===========  ==========  ========  ===========================================
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace
from typing import Any

from sync4dgs.errors import ConfigError

LAYOUTS = ("n3v", "canonical")


@dataclass
class SynthConfig:
    """Everything that determines a synthetic capture (same config -> identical output on a given device).

    n_cams: cameras (cam00 is the reference and the test camera).
    n_frames: frames of the reference camera; a camera at ``fps_k`` gets round(n_frames * fps_k / fps) frames
        (every camera films the same duration).
    fps: reference frame rate (frames per second); width, height: image size in pixels (even).
    max_offset_s: camera start offsets are uniform in [-max_offset_s, max_offset_s] seconds.
    subframe: add a random sub-frame part to the (otherwise whole-reference-frame) offsets.
    fps_mix: frame rates cycled over cameras 1.. (cam00 keeps ``fps``); None = all at ``fps``.
    seed: seeds every random choice (scene colours and phases, rig jitter, offsets).
    device: "auto", "cpu" or "cuda[:i]" for rendering.
    layout: "n3v" (camXX.mp4 + poses_bounds.npy, needs PyAV) or "canonical" (scene.json + PNG folders).
    supersample: S x S rays per pixel (anti-aliasing).
    hfov_deg: horizontal field of view of every camera, degrees.
    crf: x264 quality of the n3v layout's videos (lower = better; 0 = lossless).
    n_points: points written to points3d.ply (canonical layout).
    max_rays: rays rendered per chunk (None = by device); bounds memory.
    png_workers: threads writing PNGs (None = min(16, cpu count)).
    png_compression: PNG zlib level 0-9 (lossless at every level; lower is faster, larger).
    """

    n_cams: int = 8
    n_frames: int = 60
    fps: float = 30.0
    width: int = 160
    height: int = 120
    max_offset_s: float = 2.0
    subframe: bool = False
    fps_mix: tuple[float, ...] | None = None
    seed: int = 0
    device: str = "auto"
    layout: str = "n3v"
    supersample: int = 2
    hfov_deg: float = 65.0
    crf: int = 14
    n_points: int = 20000
    max_rays: int | None = None
    png_workers: int | None = None
    png_compression: int = 1

    def validate(self) -> "SynthConfig":
        """Raise ConfigError naming the bad setting; returns self."""
        def bad(msg: str) -> ConfigError:
            return ConfigError(f"synth: {msg}")

        if self.n_cams < 1:
            raise bad(f"need at least one camera, got cams={self.n_cams}")
        if self.n_frames < 2:
            raise bad(f"need at least 2 frames, got frames={self.n_frames}")
        if not self.fps > 0:
            raise bad(f"fps must be positive, got {self.fps}")
        if self.fps_mix is not None and any(not f > 0 for f in self.fps_mix):
            raise bad(f"every --fps_mix rate must be positive, got {list(self.fps_mix)}")
        if self.width < 8 or self.height < 8 or self.width % 2 or self.height % 2:
            raise bad(f"resolution must be even and at least 8x8, got {self.width}x{self.height}")
        if self.max_offset_s < 0:
            raise bad(f"max offset must be >= 0 s, got {self.max_offset_s}")
        if self.layout not in LAYOUTS:
            raise bad(f"layout must be one of {LAYOUTS}, got {self.layout!r}")
        if not 1 <= self.supersample <= 8:
            raise bad(f"supersample must be in 1..8, got {self.supersample}")
        if not 10.0 <= self.hfov_deg <= 150.0:
            raise bad(f"hfov must be in [10, 150] degrees, got {self.hfov_deg}")
        if not 0 <= self.crf <= 51:
            raise bad(f"crf must be in 0..51, got {self.crf}")
        if not 0 <= self.png_compression <= 9:
            raise bad(f"png compression must be in 0..9, got {self.png_compression}")
        if self.n_points < 0:
            raise bad(f"n_points must be >= 0, got {self.n_points}")
        return self

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["fps_mix"] = None if self.fps_mix is None else list(self.fps_mix)
        return d

    @staticmethod
    def from_dict(d: dict[str, Any]) -> "SynthConfig":
        known = {f.name for f in fields(SynthConfig)}
        unknown = set(d) - known
        if unknown:
            raise ConfigError(f"synth: unknown config keys {sorted(unknown)}")
        d = dict(d)
        if d.get("fps_mix") is not None:
            d["fps_mix"] = tuple(float(f) for f in d["fps_mix"])
        return SynthConfig(**d)


PRESETS: dict[str, dict[str, Any]] = {
    "tiny": dict(n_cams=4, n_frames=24, width=96, height=72, max_offset_s=0.3, subframe=False, n_points=3000),
    "demo": dict(n_cams=6, n_frames=48, width=160, height=120, max_offset_s=0.5, subframe=False, n_points=10000),
    "n3v": dict(n_cams=20, n_frames=300, width=1352, height=1014, max_offset_s=1.0, subframe=True,
                fps_mix=(30.0,) * 9 + (25.0,), n_points=100000),
}


def make_config(preset: str | None = None, **overrides: Any) -> SynthConfig:
    """SynthConfig from a preset name (or the defaults) with explicit overrides (None values are ignored)."""
    base = SynthConfig()
    if preset is not None:
        if preset not in PRESETS:
            raise ConfigError(f"synth: unknown preset {preset!r} (have {sorted(PRESETS)})")
        base = replace(base, **PRESETS[preset])
    known = {f.name for f in fields(SynthConfig)}
    unknown = set(overrides) - known
    if unknown:
        raise ConfigError(f"synth: unknown settings {sorted(unknown)}")
    return replace(base, **{k: v for k, v in overrides.items() if v is not None}).validate()
