"""Built-in synthetic unsynchronized multi-view scenes with exact ground truth.

A small analytic ray caster (spheres, boxes, rectangles with procedural textures and Lambert shading; not
Gaussian splats) renders any pinhole camera at any continuous global time, so each camera can be rendered
exactly at its own capture times ``t = offset_k + rate_k * i / fps_k``.

Typical use::

    from sync4dgs.data.synth import make_config, generate, load_synth, render_view
    out = generate(make_config("tiny", layout="canonical"), "scenes/tiny")
    plan = load_synth(out)                      # cameras, clocks, scene
    cam = plan.cameras[0]
    img = render_view(plan.scene, cam.K, cam.R, cam.t, cam.width, cam.height, 0.123,
                      device="cpu", supersample=plan.config.supersample)   # [H, W, 3] in [0, 1]
"""

from sync4dgs.data.synth.config import PRESETS, SynthConfig, make_config
from sync4dgs.data.synth.generate import META_FILE, SynthPlan, generate, load_synth, plan_synth
from sync4dgs.data.synth.llff import decode_poses_bounds, encode_poses_bounds
from sync4dgs.data.synth.render import GeometryView, render_frames, render_geometry, render_view
from sync4dgs.data.synth.rig import CameraClock, RigCamera
from sync4dgs.data.synth.scene_def import Primitive, SceneDef, build_default_scene
from sync4dgs.data.synth.textures import Material
from sync4dgs.data.synth.truth import moving_points_world, object_centers, object_points_world

__all__ = [
    "PRESETS", "SynthConfig", "make_config", "META_FILE", "SynthPlan", "generate", "load_synth", "plan_synth",
    "decode_poses_bounds", "encode_poses_bounds", "GeometryView", "render_frames", "render_geometry",
    "render_view", "CameraClock", "RigCamera", "Primitive", "SceneDef", "build_default_scene", "Material",
    "moving_points_world", "object_centers", "object_points_world",
]
