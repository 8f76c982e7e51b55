"""``prepare --format videos --calibration FILE``: a calibrated rig's videos / image folders -> scene whose cameras
are the calibration's (name pairing, size rule, undistortion with the calibration's own model, points)."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from sync4dgs.cli.main import main as cli_main
from sync4dgs.data.frames import open_frames
from sync4dgs.data.points import covisible_points
from sync4dgs.data.readers import prepare
from sync4dgs.data.readers.calibration import CalibCamera, opencv_K, read_calibration, scene_K
from sync4dgs.data.readers.calibration.match import fit_intrinsics, match_cameras, max_distortion_px
from sync4dgs.data.scene import CameraSpec, FrameSource, load_scene
from sync4dgs.data.video import write_video
from sync4dgs.errors import ConfigError, DataFormatError

W, H, N_FRAMES = 320, 240, 4
DIST = {"cam00": [0.0, 0.0, 0.0, 0.0], "cam01": [-0.15, 0.04, 0.0, 0.0], "cam02": [0.0, 0.0, 0.0, 0.0],
        "cam03": [0.08, -0.02, 1e-3, -1e-3, 0.0]}


def distort(img: np.ndarray, K_cv: np.ndarray, dist) -> np.ndarray:
    """What a lens with OpenCV ``dist`` shows: each distorted pixel samples the pinhole image at its
    undistorted position."""
    u, v = np.meshgrid(np.arange(img.shape[1], dtype=np.float64), np.arange(img.shape[0], dtype=np.float64))
    pts = np.stack([u.ravel(), v.ravel()], 1).reshape(-1, 1, 2)
    und = cv2.undistortPoints(pts, K_cv, np.asarray(dist, float), P=K_cv).reshape(img.shape[0], img.shape[1], 2)
    return cv2.remap(img, und[..., 0].astype(np.float32), und[..., 1].astype(np.float32), cv2.INTER_LINEAR,
                     borderMode=cv2.BORDER_REPLICATE)


@pytest.fixture(scope="module")
def calibrated_rig(kit):
    """4 cameras of the reader tests' room, their OpenCV calibration and distorted frames [T, H, W, 3]."""
    cams = kit.make_rig(n=4, W=W, H=H, f=260.0, spread=1.5)
    room = kit.Room(seed=0)
    calib, pinhole, frames = [], {}, {}
    for c in cams:
        K_cv = opencv_K(c.K)
        calib.append(CalibCamera(c.name.replace("cam0", "cam_"), W, H, K_cv, np.array(DIST[c.name]), c.R, c.t))
        pinhole[c.name] = np.stack([room.render(c.K, c.R, c.t, W, H, kit.sphere_at(i)) for i in range(N_FRAMES)])
        frames[c.name] = np.stack([distort(f, K_cv, DIST[c.name]) for f in pinhole[c.name]])
    return cams, calib, pinhole, frames


def _psnr(a: np.ndarray, b: np.ndarray, border: int = 24) -> float:
    """PSNR (dB) of two images after a Gaussian blur (sigma 1.5 px: the room's texture is finer than what
    two bilinear resamplings and x264 keep), away from the borders the remap had to extrapolate."""
    a, b = (cv2.GaussianBlur(x, (0, 0), 1.5)[border:-border, border:-border].astype(float) for x in (a, b))
    return float(10 * np.log10(255.0 ** 2 / np.mean((a - b) ** 2)))


def _check_cameras_equal_calibration(scene, calib, scale: dict[str, float] | None = None):
    by_name = {c.name: c for c in calib}
    for cam in scene.cameras:
        cc = by_name[cam.name.replace("cam0", "cam_")]
        s = (scale or {}).get(cam.name, 1.0)
        K = scene_K(cc.K)
        K[:2] *= s
        np.testing.assert_allclose(cam.K, K, atol=1e-9)
        np.testing.assert_allclose(cam.R, cc.R, atol=1e-12)
        np.testing.assert_allclose(scene.normalization.to_original(cam.center[None])[0], cc.center, atol=1e-9)


def test_videos_with_anipose_calibration(kit, calib_kit, calibrated_rig, tmp_path):
    cams, calib, pinhole, frames = calibrated_rig
    src = tmp_path / "rig"
    src.mkdir()
    for c in cams:
        f = frames[c.name]
        if c.name == "cam02":            # recorded at half size: K is scaled by 0.5
            f = np.stack([cv2.resize(x, (W // 2, H // 2), interpolation=cv2.INTER_AREA) for x in f])
        write_video(src / f"{c.name}.mp4", f, fps=30, crf=10)
    toml = calib_kit.write_anipose(tmp_path / "calibration.toml", calib)
    assert cli_main(["prepare", str(src), "--out", str(tmp_path / "scene"), "--format", "videos",
                     "--calibration", str(toml), "--calibration-units", "m", "--samples-per-camera", "3"]) == 0
    scene = load_scene(tmp_path / "scene")
    assert scene.camera_names == ["cam00", "cam01", "cam02", "cam03"]
    _check_cameras_equal_calibration(scene, calib, {"cam02": 0.5})
    info = scene.source["calibration"]
    assert info["format"] == "anipose" and info["units"] == "m" and "x_cam = R x_world + t" in info["convention"]
    assert {n: c["matched_by"] for n, c in info["cameras"].items()} == dict.fromkeys(scene.camera_names,
                                                                                    "camera number")
    assert info["cameras"]["cam02"]["intrinsics_scale"] == 0.5
    assert [n for n, c in info["cameras"].items() if c["undistorted"]] == ["cam01", "cam03"]
    assert scene.camera("cam01").frames.path == "frames/cam01.mp4"
    assert scene.camera("cam00").frames.path.endswith("rig/cam00.mp4")
    # undistorted frames match the pinhole view; the distorted ones do not
    for name in ("cam01", "cam03"):
        got = _psnr(open_frames(scene, name)[2], pinhole[name][2])
        assert got > 30.0 and got > _psnr(frames[name][2], pinhole[name][2]) + 5, (name, got)
    pts = scene.source["points"]
    assert pts["method"] in ("triangulated", "covisible_random") and pts["count"] >= 100
    # a scene.json is itself a calibration (cameras.json layout): its pinhole cameras read back unchanged
    again = read_calibration(scene.root / "scene.json")
    assert again.format == "sync4dgs_json" and again.names() == scene.camera_names and "normalised" in again.world
    for got, cam in zip(again.cameras, scene.cameras):
        np.testing.assert_allclose(scene_K(got.K), cam.K, atol=1e-12)
        assert (got.width, got.height) == (cam.width, cam.height) and not np.any(got.dist)
    assert scene.normalization.scale > 0 and "center" in json.loads(scene.root.joinpath("scene.json").read_text())[
        "normalization"]


def test_image_folders_with_caliscope_calibration(calib_kit, calibrated_rig, tmp_path):
    cams, calib, pinhole, frames = calibrated_rig
    src = tmp_path / "rig"
    for c in cams:
        for i, f in enumerate(frames[c.name][:3]):
            (src / f"port_{c.name[-1]}").mkdir(parents=True, exist_ok=True)
            cv2.imwrite(str(src / f"port_{c.name[-1]}" / f"{i:04d}.png"), f[..., ::-1])
    # caliscope names cameras cam_<port>: paired with the folders port_<N> by number
    path = calib_kit.write_caliscope(tmp_path / "camera_array.toml", calib)
    scene = prepare(src, tmp_path / "scene", fmt="videos", calibration=path, fps=25, points="random",
                    n_random_points=500, samples_per_camera=3)
    assert scene.camera_names == [f"port_{k}" for k in range(4)]
    assert scene.source["calibration"]["units"] == "m"
    cam1 = scene.camera("port_1")
    assert cam1.frames.kind == "images" and cam1.frames.path == "frames/port_1" and cam1.n_frames == 3
    assert cam1.fps == 25
    np.testing.assert_allclose(cam1.K, scene_K(calib[1].K), atol=1e-9)
    assert scene.camera("port_0").frames.path.endswith("rig/port_0") and scene.camera("port_0").frames.pattern == \
        "{:04d}.png"
    assert _psnr(open_frames(scene, "port_1")[1], pinhole["cam01"][1]) > 35.0
    assert scene.source["points"]["method"] == "random_frustum"


def test_mismatches_are_one_line_errors(calib_kit, calibrated_rig, tmp_path):
    cams, calib, _, frames = calibrated_rig
    src = tmp_path / "rig"
    src.mkdir()
    for c in cams:
        write_video(src / f"{c.name}.mp4", frames[c.name][:2], fps=30)
    three = calib_kit.write_json(tmp_path / "cameras.json", calib[:3])
    with pytest.raises(DataFormatError) as e:
        prepare(src, tmp_path / "scene", fmt="videos", calibration=three)
    msg = str(e.value)
    assert "\n" not in msg and "cameras.json" in msg and "['cam03']" in msg
    assert not (tmp_path / "scene").exists()
    with pytest.raises(ConfigError, match="applies to --format videos"):
        prepare(src, tmp_path / "scene", fmt="n3v", calibration=three)
    # without a calibration, image folders are refused with the way out
    (src / "cam09").mkdir()
    cv2.imwrite(str(src / "cam09" / "00000.png"), frames["cam00"][0])
    (src / "cam08").mkdir()
    cv2.imwrite(str(src / "cam08" / "00000.png"), frames["cam00"][0])
    with pytest.raises(DataFormatError, match="--calibration FILE"):
        prepare(src, tmp_path / "scene", fmt="videos")


def test_name_pairing_rules(tmp_path):
    where = tmp_path / "calib.toml"
    got = match_cameras(["Left", "cam_1", "int_cam02_img"], ["left", "cam01", "cam02"], where)
    assert got == {"left": ("Left", "case-insensitive"), "cam01": ("cam_1", "camera number"),
                   "cam02": ("int_cam02_img", "camera number")}
    assert match_cameras(["a", "b"], ["b", "a"], where) == {"b": ("b", "exact"), "a": ("a", "exact")}
    with pytest.raises(DataFormatError) as e:      # ambiguous numbers are not guessed
        match_cameras(["x1", "y1"], ["cam1", "cam2"], where)
    assert "calib.toml" in str(e.value) and "['cam1', 'cam2']" in str(e.value) and "\n" not in str(e.value)
    with pytest.raises(DataFormatError) as e:      # a calibration camera without a video is not dropped silently
        match_cameras(["cam0", "cam1", "cam2"], ["cam0", "cam1"], where)
    assert "3 camera(s) and the dataset 2" in str(e.value) and "['cam2']" in str(e.value)
    # --exclude-cameras drops a video together with the calibration camera it pairs with
    got = match_cameras(["int_cam01_img", "int_cam02_img", "int_cam03_img"], ["cam01", "cam02", "cam03"], where,
                        excluded=["cam01"])
    assert got == {"cam02": ("int_cam02_img", "camera number"), "cam03": ("int_cam03_img", "camera number")}


def test_size_rule(tmp_path):
    K = np.array([[1000.0, 0, 959.5], [0, 1000.0, 539.5], [0, 0, 1]])
    cam = CalibCamera("c", 1920, 1080, K, np.zeros(5), np.eye(3), np.zeros(3))
    Kh, s, rule = fit_intrinsics(cam, 960, 540, tmp_path / "f.toml", "video c.mp4")
    assert s == 0.5 and rule == "scaled"
    np.testing.assert_allclose(Kh, [[500, 0, 479.5], [0, 500, 269.5], [0, 0, 1]])   # pixel centres stay centres
    with pytest.raises(DataFormatError) as e:
        fit_intrinsics(cam, 1920, 1088, tmp_path / "f.toml", "video c.mp4")
    assert "1920x1088" in str(e.value) and "1920x1080" in str(e.value) and "'c'" in str(e.value)
    # smaller by less than a 16-px macroblock (codec padding cropped at the bottom/right): K as it is
    Kc, s, rule = fit_intrinsics(cam, 1912, 1072, tmp_path / "f.toml", "video c.mp4")
    assert (s, rule) == (1.0, "cropped") and np.array_equal(Kc, K)
    for w, h in ((1904, 1080), (1920, 1064), (1921, 1080)):      # 16 px or more, or larger: refused
        with pytest.raises(DataFormatError, match="crop of less than 16 px"):
            fit_intrinsics(cam, w, h, tmp_path / "f.toml", "video c.mp4")
    assert max_distortion_px(K, np.zeros(5), 1920, 1080) == 0.0
    assert max_distortion_px(K, np.array([-0.1, 0, 0, 0]), 1920, 1080) > 10


def test_covisible_points_are_seen_by_every_camera(kit):
    cams = [CameraSpec(c.name, c.W, c.H, c.K, c.R, c.t, 30.0, 1, FrameSource("video", "x.mp4"))
            for c in kit.make_rig(n=4, W=W, H=H, f=260.0)]
    pc = covisible_points(cams, 300, np.random.default_rng(0))
    assert len(pc) == 300 and pc.method == "covisible_random"
    for c in cams:
        uv = c.project(pc.xyz)
        z = (pc.xyz @ c.R.T + c.t)[:, 2]
        assert np.all(z > 0) and np.all((uv >= 0) & (uv <= [c.width, c.height]))


def test_real_pose2sim_rig_pairs_with_its_videos():
    calib = read_calibration(Path(__file__).with_name("data") / "calibration" / "pose2sim_Calib_scene.toml")
    pairs = match_cameras(calib.names(), ["cam01", "cam02", "cam03", "cam04"], calib.path)
    assert pairs["cam03"] == ("int_cam03_img", "camera number")
    K, s, _ = fit_intrinsics(calib.cameras[0], 544, 960, calib.path, "video cam01.mp4")
    assert s == 0.5 and K[0, 0] == pytest.approx(1671.5012042021037 / 2)
    # the demo's own cam01/cam02 videos are 1080x1920 while the calibration says 1088x1920 (a 1920x1088-coded
    # stream): taken as the same pixels with the padding cropped, K unchanged
    K, s, rule = fit_intrinsics(calib.cameras[0], 1080, 1920, calib.path, "video cam01.mp4")
    assert (s, rule) == (1.0, "cropped") and np.array_equal(K, calib.cameras[0].K)
    with pytest.raises(DataFormatError) as e:
        fit_intrinsics(calib.cameras[0], 1072, 1900, calib.path, "video cam01.mp4")
    assert "video cam01.mp4 is 1072x1900 but the calibration is for 1088x1920" in str(e.value)


def test_textureless_rig_falls_back_to_covisible_points(calib_kit, calibrated_rig, tmp_path):
    _, calib, _, _ = calibrated_rig
    src = tmp_path / "rig"
    for c in calib:
        (src / c.name).mkdir(parents=True)
        for i in range(2):
            cv2.imwrite(str(src / c.name / f"{i:05d}.png"), np.full((H, W, 3), 90 + 40 * i, np.uint8))
    path = calib_kit.write_json(tmp_path / "cameras.json", calib)
    scene = prepare(src, tmp_path / "scene", fmt="videos", calibration=path, n_random_points=400,
                    samples_per_camera=2)
    assert scene.camera_names == [c.name for c in calib]          # exact names this time
    assert scene.source["calibration"]["cameras"]["cam_1"]["matched_by"] == "exact"
    assert scene.source["points"] == {"method": "covisible_random", "count": 400}
    from sync4dgs.data.points import load_points

    xyz = load_points(scene.points_path).xyz
    for cam in scene.cameras:                                     # scene units, every camera sees every point
        z = (xyz @ cam.R.T + cam.t)[:, 2]
        uv = cam.project(xyz)
        assert np.all(z > 0) and np.all((uv >= -1e-3) & (uv <= [cam.width + 1e-3, cam.height + 1e-3]))
    with pytest.raises(DataFormatError, match="empty/too small point cloud"):
        prepare(src, tmp_path / "scene2", fmt="videos", calibration=path, points="strict", samples_per_camera=2)


def distort_fisheye(img: np.ndarray, K_cv: np.ndarray, dist) -> np.ndarray:
    """What an OpenCV-fisheye lens with ``dist`` (k1..k4) and ``K_cv`` shows of a pinhole image taken with the
    same K: each fisheye pixel samples the pinhole image where its ray lands."""
    u, v = np.meshgrid(np.arange(img.shape[1], dtype=np.float64), np.arange(img.shape[0], dtype=np.float64))
    pts = np.stack([u.ravel(), v.ravel()], 1).reshape(-1, 1, 2)
    und = cv2.fisheye.undistortPoints(pts, K_cv, np.asarray(dist, float).reshape(4, 1), P=K_cv)
    und = und.reshape(img.shape[0], img.shape[1], 2).astype(np.float32)
    return cv2.remap(img, und[..., 0], und[..., 1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


FISHEYE = {"cam01": [0.02, -0.01, 0.0, 0.0], "cam03": [-0.03, 0.01, 0.002, 0.0]}


def test_fisheye_cameras_are_undistorted_to_their_pinhole_view(calib_kit, calibrated_rig, tmp_path):
    """anipose ``fisheye = true`` cameras: frames undistorted once with cv2.fisheye into frames/, pinhole K kept
    exactly (principal point included); the result matches the pinhole render of the same camera."""
    cams, calib, pinhole, _ = calibrated_rig
    src = tmp_path / "rig"
    rig = []
    for c, cc in zip(cams, calib):
        fish = c.name in FISHEYE
        dist = np.array(FISHEYE[c.name]) if fish else np.zeros(4)
        rig.append(CalibCamera(cc.name, W, H, cc.K, dist, cc.R, cc.t, "fisheye" if fish else "opencv"))
        (src / c.name).mkdir(parents=True)
        for i in range(2):
            img = distort_fisheye(pinhole[c.name][i], cc.K, dist) if fish else pinhole[c.name][i]
            cv2.imwrite(str(src / c.name / f"{i:05d}.png"), img[..., ::-1])
    toml = calib_kit.write_anipose(tmp_path / "calibration.toml", rig)
    assert [c.model for c in read_calibration(toml).cameras] == ["opencv", "fisheye", "opencv", "fisheye"]
    scene = prepare(src, tmp_path / "scene", fmt="videos", calibration=toml, points="random", n_random_points=200,
                    samples_per_camera=2)
    info = scene.source["calibration"]["cameras"]
    assert {n: (c["lens_model"], c["undistorted"]) for n, c in info.items()} == {
        "cam00": ("opencv", False), "cam01": ("fisheye", True), "cam02": ("opencv", False), "cam03": ("fisheye", True)}
    assert info["cam01"]["max_distortion_px"] > 10          # equidistant vs pinhole at the image corners
    _check_cameras_equal_calibration(scene, calib)
    for name in FISHEYE:
        assert scene.camera(name).frames.path == f"frames/{name}"
        raw = cv2.imread(str(src / name / "00001.png"))[..., ::-1]
        got = _psnr(open_frames(scene, name)[1], pinhole[name][1])
        assert got > 30.0 and got > _psnr(raw, pinhole[name][1]) + 5, (name, got)


def test_qualisys_rig_prepares_with_its_sensor_offset_and_mm(calib_kit, calibrated_rig, tmp_path):
    """A QTM export (positions in mm, video FOV at an offset on the sensor) gives the calibration's cameras; a
    camera missing from it is a one-line error naming the file and the video left over."""
    cams, calib, _, frames = calibrated_rig
    src = tmp_path / "rig"
    for c in cams:
        (src / c.name).mkdir(parents=True)
        for i in range(2):        # cam02 as a decoder gives a padded stream: 8 bottom lines fewer than calibrated
            img = frames[c.name][i][:H - 8] if c.name == "cam02" else frames[c.name][i]
            cv2.imwrite(str(src / c.name / f"{i:05d}.png"), img[..., ::-1])
    qca = calib_kit.write_qualisys(tmp_path / "rig.qca.txt", calib, fov_offset=(16, 8))
    scene = prepare(src, tmp_path / "scene", fmt="videos", calibration=qca, points="random", n_random_points=200,
                    samples_per_camera=2)
    assert scene.source["calibration"]["format"] == "qualisys" and scene.source["calibration"]["units"] == "mm"
    rules = {n: c["size_rule"] for n, c in scene.source["calibration"]["cameras"].items()}
    assert rules == {"cam00": "equal", "cam01": "equal", "cam02": "cropped", "cam03": "equal"}
    assert (scene.camera("cam02").width, scene.camera("cam02").height) == (W, H - 8)
    for cam, cc in zip(scene.cameras, calib):
        np.testing.assert_allclose(cam.K, scene_K(cc.K), atol=1e-9)
        np.testing.assert_allclose(cam.R, cc.R, atol=1e-12)
        np.testing.assert_allclose(scene.normalization.to_original(cam.center[None])[0], 1000 * cc.center, atol=1e-6)
    three = calib_kit.write_qualisys(tmp_path / "three.qca.txt", calib[:3])
    with pytest.raises(DataFormatError) as e:
        prepare(src, tmp_path / "scene2", fmt="videos", calibration=three)
    msg = str(e.value)
    assert "\n" not in msg and "three.qca.txt" in msg and "['cam03']" in msg and "3 camera(s) and the dataset 4" in msg


def test_an_n3v_folder_and_its_cameras_through_calibration_prepare_the_same_scene(n3v_dir, tmp_path):
    """Issue 17's parity on the importers: the videos of an N3V folder, prepared as N3V and through
    ``--format videos --calibration`` with the N3V scene's own pinhole cameras as a cameras.json, give the same
    cameras (K, R, centres in one world) and the same frames, so stage 1 sees identical input (on Pose2Sim's
    real 4-camera rig both paths then give bit-identical offsets, benchmarks/pose2sim_n3v_parity.py)."""
    from sync4dgs.data.readers.calibration import cameras_json  # noqa: PLC0415

    a = prepare(n3v_dir, tmp_path / "scene_n3v")
    src = tmp_path / "videos"
    src.mkdir()
    for cam in a.cameras:
        (src / f"{cam.name}.mp4").write_bytes((n3v_dir / f"{cam.name}.mp4").read_bytes())
    calib = [CalibCamera(c.name, c.width, c.height, opencv_K(c.K), np.zeros(0), c.R, c.t) for c in a.cameras]
    cameras_json.write(src / "cameras.json", calib)
    b = prepare(src, tmp_path / "scene_calibrated", "videos", calibration=src / "cameras.json",
                reference=a.reference_camera)
    assert b.camera_names == a.camera_names
    for ca, cb in zip(a.cameras, b.cameras):
        np.testing.assert_allclose(cb.K, ca.K, atol=1e-9)
        np.testing.assert_allclose(cb.R, ca.R, atol=1e-12)
        np.testing.assert_allclose(b.normalization.to_original(cb.center[None])[0], ca.center, atol=1e-9)
        assert (cb.width, cb.height, cb.n_frames, cb.fps) == (ca.width, ca.height, ca.n_frames, ca.fps)
        fa, fb = open_frames(a, ca.name), open_frames(b, cb.name)
        assert all(np.array_equal(fa[i], fb[i]) for i in range(ca.n_frames))
