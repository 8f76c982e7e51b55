"""The training background: random colours, or the scene's empty (pure black / white) background."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch

from sync4dgs.data.frames import open_frames
from sync4dgs.eval.render_views import settings_from_meta
from sync4dgs.model.io import load_trained
from sync4dgs.train.background import choose_background, sample_frame_indices, void_fractions
from sync4dgs.train.saving import save_session_weights
from sync4dgs.train.setup import VOID_SAMPLE_FRAMES, build_session
from sync4dgs.train.trainer import Trainer


def _frame(black: int, white: int, rest: int = 0, value: int = 128) -> np.ndarray:
    """uint8 [1, black + white + rest, 3]: pure black, pure white and mid-grey pixels."""
    row = [0] * black + [255] * white + [value] * rest
    return np.repeat(np.array(row, np.uint8)[None, :, None], 3, axis=2)


def test_void_fractions_count_pixels_whose_three_channels_are_pure_black_or_white():
    frames = [_frame(3, 1, 6), _frame(0, 0, 10)]
    assert void_fractions(frames) == {"black": 3 / 20, "white": 1 / 20}
    near = np.array([[[2, 1, 0], [253, 254, 255], [3, 0, 0], [0, 0, 252]]], np.uint8)   # last two: not void
    assert void_fractions([torch.from_numpy(near)]) == {"black": 0.25, "white": 0.25}
    assert void_fractions([]) == {"black": 0.0, "white": 0.0}
    with pytest.raises(ValueError, match="uint8"):
        void_fractions([np.zeros((2, 2, 3), np.float32)])


def test_choose_background_takes_the_void_colour_only_when_enough_pixels_show_it():
    some_black = [_frame(5, 0, 95)]                          # 5 % pure black
    c = choose_background(True, [0, 0, 0], True, 0.02, some_black)
    assert not c.random and c.rgb == (0.0, 0.0, 0.0) and c.void_fraction["black"] == 0.05
    assert "pure black" in c.reason
    c = choose_background(True, [0, 0, 0], True, 0.02, [_frame(0, 40, 60)])
    assert not c.random and c.rgb == (1.0, 1.0, 1.0)
    c = choose_background(True, [0, 0, 0], True, 0.10, some_black)            # under the threshold
    assert c.random and c.void_fraction["black"] == 0.05
    assert choose_background(True, [0, 0, 0], False, 0.02, some_black).random   # detection off
    fixed = choose_background(False, [0.2, 0.3, 0.4], True, 0.02, iter(()))
    assert not fixed.random and fixed.rgb == (0.2, 0.3, 0.4)


def test_sample_frame_indices_spread_over_the_clip():
    assert sample_frame_indices(12, 4) == [0, 4, 7, 11]
    assert sample_frame_indices(3, 4) == [0, 1, 2]
    assert sample_frame_indices(1, 4) == [0]
    assert sample_frame_indices(0, 4) == []


def test_eval_renders_over_the_fixed_background_that_training_used(gaussian_scene):
    cfg = {"train": {"background": [0.0, 0.0, 0.0]}}
    white = settings_from_meta({"config": cfg, "background": {"random": False, "rgb": [1.0, 1.0, 1.0]}},
                               gaussian_scene)
    assert white.background == (1.0, 1.0, 1.0)
    rand = settings_from_meta({"config": cfg, "background": {"random": True, "rgb": [0.0, 0.0, 0.0]}}, gaussian_scene)
    assert rand.background == (0.0, 0.0, 0.0)
    assert settings_from_meta({"config": cfg}, gaussian_scene).background == (0.0, 0.0, 0.0)   # older models


def _letterboxed_copy(scene, root, value: int):
    """The tiny scene with its top quarter painted ``value`` (0: black, 255: white) in every frame: an empty band."""
    import shutil

    from sync4dgs.data.scene import load_scene

    shutil.copytree(scene.root, root)
    out = load_scene(root)
    for cam in out.cameras:
        for f in sorted((root / cam.frames.path).glob("*.png")):
            img = cv2.imread(str(f))
            img[: img.shape[0] // 4] = value
            cv2.imwrite(str(f), img)
    return out


@pytest.mark.parametrize("void", ["black", "white"])
def test_training_records_the_void_background_and_eval_uses_it(gaussian_scene, make_cfg, tmp_path, void):
    scene = _letterboxed_copy(gaussian_scene, tmp_path / "scene", 0 if void == "black" else 255)
    frames = [open_frames(scene, c)[i] for c in scene.train_cameras
              for i in sample_frame_indices(c.n_frames, VOID_SAMPLE_FRAMES)]
    expected = void_fractions(frames)
    assert expected[void] == pytest.approx(0.25)
    cfg = make_cfg({"train.iterations": "4", "time.align": "false", "densify.static.enabled": "false",
                    "densify.convert.enabled": "false", "moving.enabled": "false"})
    s = build_session(scene, tmp_path / "m", cfg, progress=False)
    assert not s.background.random
    Trainer(s).run()
    save_session_weights(s, 4)
    tm = load_trained(tmp_path / "m")
    rec = tm.meta["background"]
    assert rec["random"] is False and rec["void_fraction"] == pytest.approx(expected)
    colour = 1.0 if void == "white" else 0.0
    assert settings_from_meta(tm.meta, scene).background == (colour,) * 3
    assert tm.meta["config"]["train"]["random_background"] is True      # the config stays as given
    off = build_session(scene, tmp_path / "m2", make_cfg({"train.detect_void": "false", "time.align": "false"}),
                        progress=False)
    assert off.background.random
    plain = build_session(gaussian_scene, tmp_path / "m3", make_cfg({"time.align": "false"}), progress=False)
    assert plain.background.random and plain.background_choice.void_fraction == {"black": 0.0, "white": 0.0}
