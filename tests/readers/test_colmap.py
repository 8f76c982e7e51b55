"""COLMAP reader: flat and per-camera layouts, undistortion of distorted models, bad input."""

from __future__ import annotations

import cv2
import numpy as np
import pycolmap
import pytest

from sync4dgs.data.frames import open_frames
from sync4dgs.data.points import load_points
from sync4dgs.data.readers import detect_format, prepare
from sync4dgs.data.scene import load_scene
from sync4dgs.errors import DataFormatError


def _wall_points(kit, rig, n=300, seed=0):
    """Points on the back wall (z = ROOM_HI z) visible in the rig, and their colours."""
    rng = np.random.default_rng(seed)
    X = np.c_[rng.uniform(-2.5, 2.5, n), rng.uniform(-1.5, 1.5, n), np.full(n, kit.ROOM_HI[2])]
    return X, rng.integers(0, 256, (n, 3))


def _flat(kit, rig, rig_frames, root, **kw):
    for c in rig:
        kit.save_png(root / "images" / f"{c.name}.png", rig_frames[c.name][0])
    X, col = _wall_points(kit, rig)
    kit.write_colmap_text(root / "sparse" / "0", rig, [f"{c.name}.png" for c in rig], points=X, colors=col, **kw)
    return root


def test_flat_pinhole_model_roundtrip(kit, rig, rig_frames, tmp_path):
    src = _flat(kit, rig, rig_frames, tmp_path / "colmap_scene")
    assert detect_format(src) == "colmap"
    scene = prepare(src, tmp_path / "scene")
    assert scene.camera_names == [c.name for c in rig] and scene.test_cameras == []
    X = np.random.default_rng(3).uniform([-2, -1.5, 3], [2, 1.5, 7.5], (100, 3))
    for got, gt in zip(scene.cameras, rig):
        assert np.abs(got.project(scene.normalization.to_scene(X)) - gt.project(X)).max() < 0.01
        assert got.n_frames == 1
    pts = load_points(scene.points_path)
    got, want = scene.normalization.to_original(pts.xyz), _wall_points(kit, rig)[0]
    order = lambda a: a[np.lexsort(a.T[::-1])]  # noqa: E731  (the model's point order is not kept)
    np.testing.assert_allclose(order(got), order(want), atol=1e-4)
    assert scene.source["points"]["method"] == "colmap_model"
    np.testing.assert_array_equal(open_frames(load_scene(tmp_path / "scene"), "cam03")[0], rig_frames["cam03"][0])


def test_per_camera_layout_with_frames(kit, rig, rig_frames, tmp_path):
    root = tmp_path / "multi"
    for c in rig:
        for i, img in enumerate(rig_frames[c.name]):
            kit.save_png(root / "images" / c.name / f"{i:04d}.png", img)
    names = [f"{c.name}/0000.png" for c in rig]
    X, col = _wall_points(kit, rig)
    kit.write_colmap_text(root / "sparse" / "0", rig, names, points=X, colors=col)
    scene = prepare(root, tmp_path / "scene", frames="1:4", fps=25.0)
    cam = scene.camera("cam01")
    assert (cam.n_frames, cam.fps, cam.frames.pattern, cam.frames.start) == (3, 25.0, "{:04d}.png", 1)
    f = open_frames(load_scene(tmp_path / "scene"), "cam01")
    np.testing.assert_array_equal(f[2], rig_frames["cam01"][3])


def test_moving_camera_is_rejected(kit, rig, rig_frames, tmp_path):
    root = tmp_path / "moving"
    for i in range(2):
        kit.save_png(root / "images" / "cam00" / f"{i:05d}.png", rig_frames["cam00"][i])
    cams = [rig[0], rig[0]]
    poses = [(rig[0].R, rig[0].t), (rig[1].R, rig[1].t)]
    kit.write_colmap_text(root / "sparse", cams, ["cam00/00000.png", "cam00/00001.png"], poses=poses,
                          points=_wall_points(kit, rig)[0], colors=_wall_points(kit, rig)[1])
    with pytest.raises(DataFormatError, match="camera cam00 moves"):
        prepare(root, tmp_path / "scene")


def test_distorted_model_is_undistorted(kit, room, tmp_path):
    """A SIMPLE_RADIAL camera's images are undistorted: the result matches a pinhole render with the new K."""
    W, H, f, k1 = 320, 240, 260.0, -0.08
    rig = kit.make_rig(n=3, W=W, H=H, f=f)
    root = tmp_path / "radial"
    dist = pycolmap.Camera.create_from_model_name(1, "SIMPLE_RADIAL", f, W, H)
    dist.params = [f, W / 2, H / 2, k1]
    u, v = np.meshgrid(np.arange(W) + 0.5, np.arange(H) + 0.5)
    rays = dist.cam_from_img(np.stack([u.ravel(), v.ravel()], 1))  # distorted pixel -> normalised ray
    for c in rig:
        sharp = room.render(c.K, c.R, c.t, W, H)
        mx = (rays[:, 0] * f + W / 2 - 0.5).reshape(H, W).astype(np.float32)
        my = (rays[:, 1] * f + H / 2 - 0.5).reshape(H, W).astype(np.float32)
        kit.save_png(root / "images" / f"{c.name}.png", cv2.remap(sharp, mx, my, cv2.INTER_LINEAR))
    X, col = _wall_points(kit, rig)
    kit.write_colmap_text(root / "sparse" / "0", rig, [f"{c.name}.png" for c in rig], model="SIMPLE_RADIAL",
                          extra_params=(k1,), points=X, colors=col)
    scene = prepare(root, tmp_path / "scene")
    loaded = load_scene(tmp_path / "scene")
    for got, c in zip(scene.cameras, rig):
        assert got.frames.path == f"frames/{c.name}"
        assert (tmp_path / "scene" / "frames" / c.name / "00000.png").is_file()
        img = open_frames(loaded, got.name)[0].astype(np.float32)
        ref = room.render(got.K, c.R, c.t, got.width, got.height).astype(np.float32)
        raw = cv2.resize(cv2.imread(str(root / "images" / f"{c.name}.png"))[..., ::-1],
                         (got.width, got.height)).astype(np.float32)
        inner = (slice(8, -8), slice(8, -8))

        def grey(x):  # blurred grey: compares geometry, not bilinear resampling noise
            return cv2.cvtColor(cv2.GaussianBlur(x, (0, 0), 2), cv2.COLOR_RGB2GRAY)[inner]

        (dx, dy), _ = cv2.phaseCorrelate(grey(ref), grey(img))
        assert np.hypot(dx, dy) < 0.1, (dx, dy)
        err, err_raw = np.abs(grey(img) - grey(ref)).mean(), np.abs(grey(raw) - grey(ref)).mean()
        assert err < 4.0 and err < 0.5 * err_raw, (err, err_raw)


def test_corrupt_model_and_empty_point_cloud(kit, rig, rig_frames, tmp_path):
    src = _flat(kit, rig[:3], rig_frames, tmp_path / "bad")
    (src / "sparse" / "0" / "cameras.txt").write_text("".join(f"{k} NOT_A_MODEL 10 10 1 2 3\n" for k in (1, 2, 3)))
    with pytest.raises(DataFormatError, match="cannot read the COLMAP model") as e:
        prepare(src, tmp_path / "scene")
    assert e.value.path == src / "sparse" / "0"
    (src / "sparse" / "0" / "cameras.txt").write_text("1 PINHOLE 10 10 1 1 5 5\n")   # images use cameras 2, 3
    with pytest.raises(DataFormatError, match="references camera id 2, which cameras.txt does not define") as e:
        prepare(src, tmp_path / "scene")
    assert e.value.path == src / "sparse" / "0" / "images.txt"
    # valid model without points and textureless images: strict -> error, nothing written
    flat = tmp_path / "blank"
    for c in rig[:3]:
        kit.save_png(flat / "images" / f"{c.name}.png", np.full((c.H, c.W, 3), 90, np.uint8))
    kit.write_colmap_text(flat / "sparse" / "0", rig[:3], [f"{c.name}.png" for c in rig[:3]])
    with pytest.raises(DataFormatError, match="empty/too small point cloud: only 0 points"):
        prepare(flat, tmp_path / "scene", points="strict")
    with pytest.raises(DataFormatError, match="cannot determine the depth range"):
        prepare(flat, tmp_path / "scene")
    assert not (tmp_path / "scene").exists()
