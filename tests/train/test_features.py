"""The per-camera feature protocol (sync4dgs/train/feature.py): the session loops over its features for cameras,
images, learning-rate cuts, watched tensors, replicas and checkpoints; one registration point."""

from __future__ import annotations

import torch

from sync4dgs.train.appearance import AppearanceLearner
from sync4dgs.train.camrefine import CameraRefiner
from sync4dgs.train.distributed.hooks import named_replicas, named_trainables
from sync4dgs.train.feature import CameraFeature, OwnOptimizerFeature
from sync4dgs.train.setup import CAMERA_FEATURES, build_session
from sync4dgs.train.timectl import TimeController

ALL_ON = {"time.align": "false", "camera.refine_pose": "true", "camera.refine_focal": "true",
          "camera.start_iter": "0", "appearance.enabled": "true", "appearance.start_iter": "0"}


def test_features_are_registered_once_and_run_after_the_time_controller(gaussian_scene, make_cfg, tmp_path):
    s = build_session(gaussian_scene, tmp_path / "m", make_cfg(ALL_ON), progress=False)
    kinds = [type(f) for f in s.features]
    assert kinds == [TimeController, CameraRefiner, AppearanceLearner] and len(CAMERA_FEATURES) == 2
    assert all(isinstance(f, OwnOptimizerFeature) for f in s.features)     # one lifecycle for all three
    assert s.features[0] is s.time and s.all_callbacks[:3] == s.features
    off = build_session(gaussian_scene, tmp_path / "off", make_cfg({"time.align": "false"}), progress=False)
    assert [type(f) for f in off.features] == [TimeController]
    assert off.feature(AppearanceLearner) is None


def test_the_session_loops_over_the_features(gaussian_scene, make_cfg, tmp_path):
    s = build_session(gaussian_scene, tmp_path / "m", make_cfg(ALL_ON), progress=False)
    refiner, appearance = s.feature(CameraRefiner), s.feature(AppearanceLearner)
    with torch.no_grad():
        refiner.deltas.translations[1] += 0.05
        appearance.appearance.bias[2] += 0.1
    cam = s.render_camera(1, step=5)
    assert not torch.equal(cam.viewmats, s.cameras[1].viewmats)               # the refiner's camera
    torch.testing.assert_close(cam.viewmats, refiner.camera(1, 5).viewmats)
    img = torch.full((4, 5, 3), 0.5)
    torch.testing.assert_close(s.camera_image(img, 2, step=5), appearance.apply(img, 2, 5))
    torch.testing.assert_close(s.camera_image(img, 0, step=5), img)           # the gauge camera keeps the identity
    # the NaN guard's cut reaches every feature; it watches every feature's tensors
    lrs = [g["lr"] for f in (refiner, appearance) for g in f.optimizer.param_groups]
    s.scale_lrs(0.5)
    assert [g["lr"] for f in (refiner, appearance) for g in f.optimizer.param_groups] == [x / 2 for x in lrs]
    assert s.time._lr_scale == 0.5 and s.schedule.scale == 0.5
    watched = {id(p) for p in s.watched_parameters()}
    assert all(id(p) in watched for f in s.features for p in f.watched_parameters())
    assert id(s.time.time_model.rates) in watched


def test_every_feature_is_averaged_and_replicated_across_ranks(gaussian_scene, make_cfg, tmp_path):
    """The distributed hooks (the one place gradients cross ranks) see every feature's trainables and replicas."""
    s = build_session(gaussian_scene, tmp_path / "m", make_cfg(ALL_ON), progress=False)
    prefixes = {name.split(".")[0] for name, _ in named_trainables(s)}
    assert prefixes == {"model", "time", "camera", "appearance"}
    trainables = {id(p) for _, p in named_trainables(s)}
    assert all(id(p) in trainables for f in s.features for p in f.parameters())
    replicas = dict(named_replicas(s))
    assert "camera.base_viewmats" in replicas and "appearance.mask" in replicas and "time.offsets_s" in replicas


def test_feature_states_round_trip_in_the_checkpoint(gaussian_scene, make_cfg, tmp_path):
    a = build_session(gaussian_scene, tmp_path / "a", make_cfg(ALL_ON), progress=False)
    with torch.no_grad():
        a.feature(CameraRefiner).deltas.rotations[2, 1] = 0.01
        a.feature(AppearanceLearner).appearance.log_gain[1] = 0.2
    sd = a.state_dict(with_rng=False)
    assert {"time", "camera", "appearance"} <= set(sd["callbacks"])
    b = build_session(gaussian_scene, tmp_path / "b", make_cfg(ALL_ON), progress=False)
    b.load_state_dict(sd)
    assert torch.equal(b.feature(CameraRefiner).deltas.rotations, a.feature(CameraRefiner).deltas.rotations)
    assert torch.equal(b.feature(AppearanceLearner).appearance.log_gain, a.feature(AppearanceLearner).appearance.log_gain)


def test_a_plain_feature_contributes_nothing():
    f = CameraFeature()
    img = torch.rand(2, 2, 3)
    assert f.adjust_image(img, 0, 1) is img and f.adjust_camera("cam", 0, 1) == "cam"
    assert f.parameters() == [] and f.replicated_modules() == [] and f.save(3) is None
