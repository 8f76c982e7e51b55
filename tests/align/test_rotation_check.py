"""Stage 1's calibration check (sync4dgs/sync/align/rotations.py): a camera turned after calibration is found and
turned back by the silhouette pencil; exactly calibrated cameras are left alone."""

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from sync4dgs.data.scene import load_scene
from sync4dgs.data.synth.toyscene import ToySceneConfig, make_toy_scene
from sync4dgs.errors import ConfigError
from sync4dgs.sync.align import AlignConfig, align_scene
from sync4dgs.sync.align.klt import observe_camera
from sync4dgs.sync.align.pairs import PENCIL_CAP_PX, select_pairs
from sync4dgs.sync.align.rotations import camera_pencil_cost, refine_rotations, rotate_camera

FPS = 30.0
OFFSETS = [0.0, 3 / FPS, -5 / FPS, 0.21, -0.13]
TURN = np.radians(1.5) * np.array([0.6, -0.8, 0.0])   # 1.5 degrees about an axis across the optical axis


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    root = tmp_path_factory.mktemp("toy_rot")
    toy = make_toy_scene(root, ToySceneConfig(n_cameras=5, width=200, height=150, n_frames=48, offsets_s=OFFSETS,
                                              arc_deg=100, seed=11))
    scene = load_scene(root)
    cfg = AlignConfig(max_offset_s=0.5, rates="1", device="cpu")
    masks = [observe_camera(scene, c, cfg)[1] for c in scene.cameras]
    offsets = np.array([toy.gt.cameras[c.name].offset_s for c in scene.cameras])
    pairs = select_pairs(scene, list(range(len(scene.cameras))), cfg)
    return root, scene, masks, offsets, pairs


def _angle_deg(r_a: np.ndarray, r_b: np.ndarray) -> float:
    return float(np.degrees(np.linalg.norm(Rotation.from_matrix(r_a @ r_b.T).as_rotvec())))


def test_turning_a_camera_keeps_its_centre_and_turns_its_axes():
    from sync4dgs.data.scene import CameraSpec
    cam = CameraSpec("c", 64, 48, np.diag([50.0, 50.0, 1.0]), Rotation.from_rotvec([0.1, 0.2, 0.3]).as_matrix(),
                     np.array([0.5, -1.0, 4.0]), 30.0, 10, None)
    turned = rotate_camera(cam, TURN)
    np.testing.assert_allclose(turned.center, cam.center, atol=1e-12)
    assert _angle_deg(turned.R, cam.R) == pytest.approx(1.5, abs=1e-9)


def test_a_turned_camera_costs_more_than_the_calibrated_one(toy):
    _, scene, masks, offsets, pairs = toy
    cams = list(scene.cameras)
    nbrs = sorted({b if a == 2 else a for a, b in pairs if 2 in (a, b)})
    rates = np.ones(len(cams))
    exact = camera_pencil_cost(cams, masks, 2, nbrs, offsets, rates, PENCIL_CAP_PX, "cpu")
    turned = camera_pencil_cost(cams, masks, 2, nbrs, offsets, rates, PENCIL_CAP_PX, "cpu", TURN)
    assert turned > 1.5 * exact


def test_a_turned_camera_is_turned_back_and_the_others_are_left_alone(toy):
    _, scene, masks, offsets, pairs = toy
    truth = list(scene.cameras)
    bumped = list(truth)
    bumped[2] = rotate_camera(truth[2], TURN)
    aligned = np.ones(len(truth), bool)
    cams, fits = refine_rotations(bumped, masks, pairs, offsets, np.ones(len(truth)), aligned, PENCIL_CAP_PX,
                                  0.2, 3.0, "cpu")
    by_name = {f.camera: f for f in fits}
    assert by_name["cam02"].found
    assert _angle_deg(cams[2].R, truth[2].R) < 0.3          # 1.5 degrees off before
    np.testing.assert_allclose(cams[2].center, truth[2].center, atol=1e-9)
    for k, c in enumerate(cams):
        if k != 2:
            assert not by_name[c.name].found and c.R is bumped[k].R


def test_align_keeps_exact_calibrations_and_reports_the_check(toy):
    root, scene, *_ = toy
    result = align_scene(scene, AlignConfig(max_offset_s=0.5, rates="1", device="cpu", rotation_check="apply"))
    assert result.time_maps.extra["rotation_check"]["mode"] == "apply"
    assert not result.time_maps.extra["rotation_check"]["applied"]
    check = result.time_maps.extra["rotation_check"]["cameras"]
    assert set(check) == set(scene.camera_names)
    assert not any(v["found"] for v in check.values())
    for c in scene.cameras[1:]:
        m = result.time_maps.cameras[c.name]
        assert m.status == "aligned"
        assert abs(m.offset_s - OFFSETS[scene.camera_names.index(c.name)]) * FPS < 0.5


@pytest.mark.parametrize("key,value", [("rotation_min_gain", 1.0), ("rotation_min_gain", -0.1),
                                       ("rotation_max_deg", 0.0), ("rotation_check", "yes")])
def test_bad_rotation_check_settings_name_the_key(key, value):
    with pytest.raises(ConfigError, match=f"align.{key}"):
        AlignConfig(**{key: value}).validate()


def test_cameras_with_too_few_silhouette_boundaries_are_not_checked(toy, monkeypatch):
    from sync4dgs.sync.align import rotations

    _, scene, masks, offsets, pairs = toy
    bumped = list(scene.cameras)
    bumped[2] = rotate_camera(bumped[2], TURN)
    monkeypatch.setattr(rotations, "MIN_BOUNDARIES", 10 ** 9)
    cams, fits = refine_rotations(bumped, masks, pairs, offsets, np.ones(len(bumped)), np.ones(len(bumped), bool),
                                  PENCIL_CAP_PX, 0.2, 3.0, "cpu")
    assert all(not f.found and 0 < f.n_boundaries < 10 ** 9 for f in fits)
    assert all(c is b for c, b in zip(cams, bumped))


def test_an_unaligned_camera_is_checked_at_the_offset_its_best_pair_gives():
    from sync4dgs.sync.align.pairs import PairData
    from sync4dgs.sync.align.pairscore import PairScore
    from sync4dgs.sync.align.pipeline import _offsets_for_check
    from sync4dgs.sync.align.solve import GlobalSolution

    def pair(a, b, lag_s, conf):
        score = PairScore(f"c{a}", f"c{b}", np.array([1.0]), np.zeros(1), np.zeros((1, 1)), best_ratio=1.0,
                          best_lag_s=lag_s, confidence=conf, candidates=[(1.0, lag_s, conf)])
        return PairData(a, b, None, score, {})

    sol = GlobalSolution(np.array([0.0, 0.2, 0.0, 0.0]), np.ones(4), np.array([True, True, False, False]),
                         np.array([1.0, 0.9, 0.0, 0.0]))
    # camera 2: pairs with 0 (weak) and 1 (strong, camera 2 is its first camera: o_2 = o_1 - lag); camera 3: no
    # pair with an aligned camera
    data = [pair(0, 2, 0.5, 0.1), pair(2, 1, -0.3, 0.6), pair(2, 3, 0.1, 0.9)]
    offsets, check = _offsets_for_check(data, sol)
    assert check.tolist() == [True, True, True, False]
    assert offsets[2] == pytest.approx(0.2 + 0.3) and offsets[3] == 0.0
    np.testing.assert_array_equal(offsets[:2], sol.offsets_s[:2])


def test_report_marks_a_camera_off_its_calibration_low_confidence(toy):
    import dataclasses

    # 1 degree: stage 1 then puts cam02 ~3 frames off and the check finds a turn there. (With TURN, 1.5 degrees,
    # it is 4.3 frames off and "aligned", and at that offset the best turn gains only 9 %: offset and rotation
    # trade off - a known limit, docs/align.md.)
    _, scene, *_ = toy
    bumped = dataclasses.replace(scene, cameras=[rotate_camera(c, TURN / 1.5) if c.name == "cam02" else c
                                                 for c in scene.cameras])
    result = align_scene(bumped, AlignConfig(max_offset_s=0.5, rates="1", device="cpu", rotation_check="report"))
    check = result.time_maps.extra["rotation_check"]
    assert check["mode"] == "report" and not check["applied"]
    assert check["cameras"]["cam02"]["found"]
    assert not any(v["found"] for k, v in check["cameras"].items() if k != "cam02")
    m = result.time_maps.cameras["cam02"]
    assert m.status == "low_confidence" and m.confidence < 0.5
