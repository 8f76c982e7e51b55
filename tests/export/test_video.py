"""Free-viewpoint video: plans (poses x times) and mp4s with the right number of frames."""

from __future__ import annotations

import argparse

import numpy as np
import pytest

from sync4dgs.data.scene import load_scene
from sync4dgs.data.video import iter_video_frames, probe_video
from sync4dgs.errors import ConfigError
from sync4dgs.eval.render_views import ViewRenderSettings
from sync4dgs.export.rotations import rotation_angle_between
from sync4dgs.export.video import plan_video, render_path_video
from sync4dgs.export.video_cli import add_path_video_arguments, parse_time_range, run_path_video
from sync4dgs.model.io import load_trained

SETTINGS = ViewRenderSettings(backend="torch", near=0.1, far=20.0)


def test_interp_plan_runs_from_the_first_to_the_last_camera(tiny_model_dir, tiny):
    scene = load_scene(tiny_model_dir[1])
    plan = plan_video(scene, "interp", n_frames=40, time_range=(0.0, 0.9))
    assert len(plan) == 40 and np.allclose(plan.times_s, np.linspace(0.0, 0.9, 40))
    # the arc's two ends (azimuth order) are cam00 and cam03, in one direction or the other
    ends = {tuple(np.round(plan.path.viewmats[i], 9).ravel()) for i in (0, -1)}
    cams = {tuple(np.round(scene.camera(n).viewmat, 9).ravel()) for n in ("cam00", "cam03")}
    assert ends == cams
    c = plan.path.centers
    steps = np.linalg.norm(np.diff(c, axis=0), axis=1)
    assert steps.max() <= 2.5 * steps.mean()
    rot = [rotation_angle_between(plan.path.viewmats[i, :3, :3], plan.path.viewmats[i + 1, :3, :3])
           for i in range(39)]
    assert max(rot) < np.deg2rad(3.0)


def test_camera_plan_uses_the_reference_timeline(tiny_model_dir, tiny):
    scene = load_scene(tiny_model_dir[1])
    plan = plan_video(scene, "camera:cam02")
    assert np.allclose(plan.times_s, np.arange(tiny.N_FRAMES) / tiny.FPS) and plan.fps == tiny.FPS
    assert np.allclose(plan.path.viewmats, scene.camera("cam02").viewmat)
    sub = plan_video(scene, "camera:cam02", time_range=(0.25, 0.55))
    assert np.allclose(sub.times_s, [0.3, 0.4, 0.5])
    frozen = plan_video(scene, "orbit", freeze_time=0.4, n_frames=12, width=64)
    assert np.all(frozen.times_s == 0.4) and frozen.path.height == 48
    with pytest.raises(ConfigError, match="no such camera"):
        plan_video(scene, "camera:nope")


def test_render_path_video_writes_all_frames(tiny_model_dir, tmp_path):
    trained = load_trained(tiny_model_dir[0])
    out = tmp_path / "orbit.mp4"
    res = render_path_video(trained, "orbit", out, time_range=(0.0, 0.9), n_frames=7, device="cpu",
                            settings=SETTINGS, progress=False)
    info = probe_video(out)
    assert res.n_frames == 7 and info.n_frames == 7 and (info.width, info.height) == (32, 24)
    frames = [f for f, _ in iter_video_frames(out)]
    assert len(frames) == 7 and max(f.mean() for f in frames) > 10  # something visible


def test_cli_options_render_a_bullet_time_video(tiny_model_dir, tmp_path):
    parser = argparse.ArgumentParser()
    parser.add_argument("--model_path")
    add_path_video_arguments(parser)
    out = tmp_path / "bt.mp4"
    args = parser.parse_args(["--model_path", str(tiny_model_dir[0]), "--path", "interp", "--freeze_time", "0.3",
                              "--n_frames", "5", "--width", "32", "--out", str(out)])
    args.device, args.backend, args.quiet = "cpu", "torch", True
    assert run_path_video(args) == 0
    assert probe_video(out).n_frames == 5


def test_render_command_with_path_writes_the_camera_video(tiny_model_dir, tmp_path, tiny):
    from sync4dgs.cli.main import main as cli_main

    out = tmp_path / "cam01.mp4"
    rc = cli_main(["render", "--model_path", str(tiny_model_dir[0]), "--path", "camera:cam01",
                   "--time_range=-0.05:0.45", "--device", "cpu", "--backend", "torch", "--quiet", "--out", str(out)])
    assert rc == 0
    info = probe_video(out)
    assert info.n_frames == 5 and info.fps == pytest.approx(tiny.FPS)  # reference frames at 0.0 .. 0.4 s


def test_parse_time_range():
    assert parse_time_range("0.5:2") == (0.5, 2.0)
    assert parse_time_range(None) is None
    for bad in ("1", "a:b", "2:1"):
        with pytest.raises(ConfigError, match="--time_range"):
            parse_time_range(bad)
