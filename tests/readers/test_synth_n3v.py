"""The n3v reader on the synth generator's N3V layout recovers its cameras, frame rates and ground truth."""

from __future__ import annotations

import json

import numpy as np
import pytest

from sync4dgs.data.readers import prepare
from sync4dgs.timemap import load_time_maps

synth_generate = pytest.importorskip("sync4dgs.data.synth.generate")
synth_config = pytest.importorskip("sync4dgs.data.synth.config")


@pytest.fixture(scope="module")
def synth_n3v(tmp_path_factory):
    out = tmp_path_factory.mktemp("synth") / "tiny"
    cfg = synth_config.make_config("tiny", layout="n3v", n_frames=4, fps_mix=(30.0, 25.0))
    return synth_generate.generate(cfg, out, progress=False)


def test_prepare_synth_n3v_matches_generator(synth_n3v, tmp_path):
    meta = json.loads((synth_n3v / "synth_meta.json").read_text())
    scene = prepare(synth_n3v, tmp_path / "scene", points="random")
    truth = {m["name"]: m for m in meta["cameras"]}
    assert scene.camera_names == sorted(truth)
    X = np.random.default_rng(0).normal(size=(300, 3))  # generator world units
    for cam in scene.cameras:
        m = truth[cam.name]
        K, R, t = (np.asarray(m[k], dtype=np.float64) for k in ("K", "R", "t"))
        xc = X @ R.T + t
        front = xc[:, 2] > 0.1
        uv = xc[front] @ K.T
        uv = uv[:, :2] / uv[:, 2:3]
        err = np.abs(cam.project(scene.normalization.to_scene(X[front])) - uv).max()
        assert err < 0.01, (cam.name, err)
        assert cam.fps == pytest.approx(m["fps"]) and cam.n_frames == m["n_frames"]
    gt_in, gt_out = load_time_maps(synth_n3v / "gt_sync.json"), load_time_maps(scene.gt_sync_path)
    for name in scene.camera_names:
        assert gt_out.cameras[name].offset_s == pytest.approx(gt_in.cameras[name].offset_s, abs=1e-6)
