"""Calibration files: a synthetic 4-camera rig written in every format and read back; error cases; a real
Pose2Sim file (tests/readers/data/calibration/README.md)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from sync4dgs.data.readers.calibration import read_calibration
from sync4dgs.errors import DataFormatError

DATA = Path(__file__).with_name("data") / "calibration"



def _angle_deg(Ra: np.ndarray, Rb: np.ndarray) -> float:
    return float(np.degrees(np.arccos(np.clip((np.trace(Ra @ Rb.T) - 1) / 2, -1, 1))))


def _pad(d: np.ndarray, n: int = 8) -> np.ndarray:
    out = np.zeros(n)
    out[:len(d)] = d
    return out


@pytest.fixture(scope="module")
def truth(calib_kit):
    return calib_kit.make_rig(4)


WRITERS = {
    "anipose": (lambda k, p, c: k.write_anipose(p / "calibration.toml", c), "anipose", "{}"),
    "caliscope": (lambda k, p, c: k.write_caliscope(p / "camera_array.toml", c), "caliscope", "cam_{i}"),
    "opencv_multi": (lambda k, p, c: k.write_opencv_multi(p / "intri.yml", c), "opencv", "{}"),
    "opencv_xml_folder": (lambda k, p, c: k.write_opencv_folder(p / "calib", c, ".xml"), "opencv", "{}"),
    "colmap": (lambda k, p, c: k.write_colmap(p / "sparse" / "0", c, None), "colmap", "{}"),
    "json": (lambda k, p, c: k.write_json(p / "cameras.json", c), "sync4dgs_json", "{}"),
    "qualisys": (lambda k, p, c: k.write_qualisys(p / "Calib.qca.txt", c, (8, 4)), "qualisys", "{}"),
}
FISHEYE_WRITERS = ("anipose", "caliscope", "opencv_xml_folder", "colmap", "json")


@pytest.mark.parametrize("which", sorted(WRITERS))
def test_round_trip_every_format(which, calib_kit, kit, truth, tmp_path):
    write, fmt, naming = WRITERS[which]
    if which == "colmap":
        path = calib_kit.write_colmap(tmp_path / "model", truth, kit.rotmat_to_quat)
    else:
        path = write(calib_kit, tmp_path, truth)
    calib = read_calibration(path)
    assert calib.format == fmt
    assert calib.names() == [naming.format(c.name, i=i) for i, c in enumerate(truth)]
    for got, gt in zip(calib.cameras, truth):
        assert (got.width, got.height) == (gt.width, gt.height)
        np.testing.assert_allclose(got.K, gt.K, rtol=0, atol=1e-9)   # exact up to float round-off
        np.testing.assert_allclose(_pad(got.dist), _pad(gt.dist), rtol=0, atol=1e-15)
    for got, gt in zip(calib.cameras[1:], truth[1:]):
        rel = _angle_deg(got.R @ calib.cameras[0].R.T, gt.R @ truth[0].R.T)
        assert rel < 0.01, (got.name, rel)
    src = np.stack([c.center for c in calib.cameras])
    dst = np.stack([c.center for c in truth])
    s, R, t = kit.similarity(src, dst)
    assert np.abs(s * src @ R.T + t - dst).max() < 1e-3       # 1 mm (metres)
    if fmt in ("opencv", "sync4dgs_json"):
        assert calib.units == "m" or which == "opencv_xml_folder"


@pytest.mark.parametrize("which", FISHEYE_WRITERS)
def test_fisheye_round_trip(which, calib_kit, kit, tmp_path):
    """Formats that carry OpenCV's fisheye model read it back as such, coefficients exact."""
    truth = calib_kit.fisheye_rig(4)
    write, fmt, naming = WRITERS[which]
    path = calib_kit.write_colmap(tmp_path / "model", truth, kit.rotmat_to_quat) if which == "colmap" \
        else write(calib_kit, tmp_path, truth)
    calib = read_calibration(path)
    assert calib.format == fmt
    for got, gt in zip(calib.cameras, truth):
        assert got.model == "fisheye", (which, got.name)
        np.testing.assert_allclose(got.dist, gt.dist, rtol=0, atol=1e-15)
        np.testing.assert_allclose(got.K, gt.K, rtol=0, atol=1e-9)
        np.testing.assert_allclose(got.R, gt.R, rtol=0, atol=1e-9)


def test_fisheye_errors_name_the_file_and_the_camera(calib_kit, tmp_path):
    rig = calib_kit.fisheye_rig(3)
    rig[1].dist = np.array([0.1, 0.0, 0.0, 0.0, 0.0])           # 5 coefficients: not the fisheye model
    with pytest.raises(DataFormatError) as e:
        read_calibration(calib_kit.write_anipose(tmp_path / "fish.toml", rig))
    _one_line(e, "fish.toml", "'cam1'", "fisheye model takes 4 distortion coefficients")
    doc = calib_kit.write_json(tmp_path / "cameras.json", calib_kit.make_rig(2)).read_text()
    (tmp_path / "lens.json").write_text(doc.replace('"name": "cam1",', '"name": "cam1", "model": "omnidir",'))
    with pytest.raises(DataFormatError) as e:
        read_calibration(tmp_path / "lens.json")
    _one_line(e, "lens.json", "'cam1'", "unknown lens model 'omnidir'")


def test_real_pose2sim_qualisys_export_equals_its_conversion():
    """Pose2Sim's demo Calib.qca.txt against the TOML Pose2Sim's converter made of it (same rig)."""
    qca = read_calibration(DATA / "pose2sim_Calib.qca.txt")
    toml = read_calibration(DATA / "pose2sim_Calib_qualisys.toml")
    assert qca.format == "qualisys" and qca.units == "mm" and toml.format == "anipose"
    assert qca.names() == toml.names() == ["cam01", "cam02", "cam03", "cam04"]
    for a, b in zip(qca.cameras, toml.cameras):
        assert (a.width, a.height) == (b.width, b.height) == (1088, 1920)
        np.testing.assert_allclose(a.K, b.K, rtol=0, atol=1e-9)
        np.testing.assert_allclose(a.R, b.R, rtol=0, atol=1e-12)
        np.testing.assert_allclose(a.t / 1000.0, b.t, rtol=0, atol=1e-12)     # mm vs Pose2Sim's metres
        # Pose2Sim divides QTM's (dimensionless) distortion coefficients by 64; we keep them as QTM wrote them
        np.testing.assert_allclose(a.dist[:4], 64 * b.dist, rtol=1e-12, atol=1e-15)
    for c in qca.cameras:       # cameras ~1.9 m above the floor, 2.4-4.1 m from the centre, looking inwards
        assert 1600 < c.center[2] < 2200 and 2000 < np.linalg.norm(c.center[:2]) < 4200
        assert c.R[2] @ -c.center / np.linalg.norm(c.center) > 0.8


def test_qualisys_errors_name_the_file_and_the_camera(calib_kit, truth, tmp_path):
    good = calib_kit.write_qualisys(tmp_path / "good.qca.txt", truth).read_text()
    cases = {}
    lines = good.split("\n")
    i = next(k for k, ln in enumerate(lines) if 'serial="cam1"' in ln)
    tr = lines[i + 3]
    vals = {kv.split("=")[0]: kv.split("=")[1].strip('"/>') for kv in tr.split() if "=" in kv}
    scaled = tr
    for key in ("r11", "r12", "r13"):
        scaled = scaled.replace(f'{key}="{vals[key]}"', f'{key}="{1.01 * float(vals[key])!r}"')
    cases["scaled"] = ("\n".join(lines[:i + 3] + [scaled] + lines[i + 4:]), "not a rotation")
    cases["missing"] = ("\n".join(lines[:i + 4] + [lines[i + 4].replace("centerPointV=", "centerPointW=")]
                                  + lines[i + 5:]), "no 'centerPointV'")
    cases["nan"] = ("\n".join(lines[:i + 3] + [tr.replace(f'x="{vals["x"]}"', 'x="nan"')] + lines[i + 4:]), "NaN")
    for name, (text, what) in cases.items():
        (tmp_path / f"{name}.qca.txt").write_text(text)
        with pytest.raises(DataFormatError) as e:
            read_calibration(tmp_path / f"{name}.qca.txt")
        _one_line(e, f"{name}.qca.txt", "'cam1'", what)
    (tmp_path / "broken.qca.txt").write_text(good[:200])
    with pytest.raises(DataFormatError) as e:
        read_calibration(tmp_path / "broken.qca.txt")
    _one_line(e, "broken.qca.txt", "not valid XML")


def test_opencv_single_camera_file_and_easymocap_split(calib_kit, truth, tmp_path):
    one = calib_kit.write_opencv_folder(tmp_path / "one", truth[:1]) / "cam0.yml"
    calib = read_calibration(one)
    assert calib.names() == ["cam0"] and calib.units == "unknown"
    np.testing.assert_allclose(calib.cameras[0].R, truth[0].R, atol=1e-12)
    # EasyMocap: intrinsics in intri.yml, extrinsics in extri.yml next to it
    import cv2

    d = tmp_path / "easymocap"
    d.mkdir()
    for fn, keys in (("intri.yml", ("K", "dist")), ("extri.yml", ("R", "T"))):
        fs = cv2.FileStorage(str(d / fn), cv2.FILE_STORAGE_WRITE)
        fs.startWriteStruct("names", cv2.FileNode_SEQ)
        for c in truth:
            fs.write("", c.name)
        fs.endWriteStruct()
        for c in truth:
            vals = {"K": c.K, "dist": c.dist.reshape(1, -1), "R": cv2.Rodrigues(c.R)[0], "T": c.t.reshape(3, 1)}
            for k in keys:
                fs.write(f"{k}_{c.name}", vals[k])
        fs.release()
    calib = read_calibration(d / "intri.yml")
    assert calib.names() == [c.name for c in truth]
    assert calib.cameras[2].width is None          # EasyMocap stores no size: the video's is used
    np.testing.assert_allclose(calib.cameras[2].t, truth[2].t, atol=1e-12)


def test_real_pose2sim_file():
    calib = read_calibration(DATA / "pose2sim_Calib_scene.toml")
    assert calib.format == "anipose"
    assert calib.names() == [f"int_cam0{k}_img" for k in range(1, 5)]
    c = calib.cameras[0]
    assert (c.width, c.height) == (1088, 1920) and c.K[0, 0] == pytest.approx(1671.5012042021037)
    assert len(c.dist) == 4
    # the demo's cameras stand ~1.9 m above the floor, 2-4 m from the centre (Pose2Sim: metres, z up)
    for c in calib.cameras:
        assert 1.7 < c.center[2] < 2.1 and 2.0 < np.linalg.norm(c.center[:2]) < 4.1


def _one_line(e: pytest.ExceptionInfo, *parts: str) -> None:
    msg = str(e.value)
    assert "\n" not in msg, msg
    for p in parts:
        assert p in msg, (p, msg)


def test_errors_name_the_file_and_the_camera(calib_kit, truth, tmp_path):
    path = calib_kit.write_anipose(tmp_path / "calibration.toml", truth)
    text = path.read_text()
    # NaN in a camera matrix
    bad = tmp_path / "nan.toml"
    bad.write_text(text.replace(repr(float(truth[2].K[0, 0])), "nan", 1))
    with pytest.raises(DataFormatError) as e:
        read_calibration(bad)
    _one_line(e, "nan.toml", "'cam2'", "NaN")
    # a matrix that is not a rotation (caliscope stores 3x3 rotations)
    cs = calib_kit.write_caliscope(tmp_path / "camera_array.toml", truth)
    r = truth[1].R
    cs2 = tmp_path / "scaled.toml"
    cs2.write_text(cs.read_text().replace(f"rotation = {calib_kit._mat(r)}", f"rotation = {calib_kit._mat(1.001 * r)}"))
    with pytest.raises(DataFormatError) as e:
        read_calibration(cs2)
    _one_line(e, "scaled.toml", "'cam_1'", "not a rotation")
    # a reflection (det -1) is not a rotation either
    cs3 = tmp_path / "mirror.toml"
    cs3.write_text(cs.read_text().replace(f"rotation = {calib_kit._mat(r)}", f"rotation = {calib_kit._mat(-r)}"))
    with pytest.raises(DataFormatError) as e:
        read_calibration(cs3)
    _one_line(e, "mirror.toml", "'cam_1'", "det = -1")
    # a camera table without its matrix
    bad = tmp_path / "missing.toml"
    bad.write_text(text.replace(f"matrix = {calib_kit._mat(truth[3].K)}\n", ""))
    with pytest.raises(DataFormatError) as e:
        read_calibration(bad)
    _one_line(e, "missing.toml", "'cam_3'", "matrix")
    # one camera per file in a folder, one of them without extrinsics
    folder = calib_kit.write_opencv_folder(tmp_path / "per_cam", truth)
    import cv2

    fs = cv2.FileStorage(str(folder / "cam1.yml"), cv2.FILE_STORAGE_WRITE)
    fs.write("camera_matrix", truth[1].K)
    fs.release()
    with pytest.raises(DataFormatError) as e:
        read_calibration(folder)
    _one_line(e, "cam1.yml", "'cam1'", "no extrinsics")


def test_damaged_opencv_files(tmp_path):
    (tmp_path / "bad.yml").write_text("%YAML:1.0\nkey: [1, 2\n  bad: {\n")
    with pytest.raises(DataFormatError) as e:
        read_calibration(tmp_path / "bad.yml")
    _one_line(e, "bad.yml", "not a readable OpenCV FileStorage file")
    (tmp_path / "plain.yaml").write_text("hello: world\n")
    with pytest.raises(DataFormatError) as e:
        read_calibration(tmp_path / "plain.yaml")
    _one_line(e, "plain.yaml", "'plain'", "no camera matrix")


def test_unknown_formats_list_the_supported_ones(tmp_path):
    for name, text in (("rig.txt", "hello"),
                       ("other.toml", "[x]\na = 1\n"), ("list.json", "[1, 2]")):
        (tmp_path / name).write_text(text)
        with pytest.raises(DataFormatError) as e:
            read_calibration(tmp_path / name)
        _one_line(e, name, "supported: anipose/Pose2Sim TOML", "COLMAP model folder")
    (tmp_path / "Calib.qca.txt").write_text("<?xml version='1.0'?><calibration/>")
    with pytest.raises(DataFormatError, match="no <calibration><cameras> element"):
        read_calibration(tmp_path / "Calib.qca.txt")
    with pytest.raises(DataFormatError, match="not found"):
        read_calibration(tmp_path / "absent.toml")
