"""GPU path of stage 2 (skipped on CPU machines): the key offset test on CUDA with the gsplat backend,
frames resident on the device, and a resume round trip."""

from __future__ import annotations

import pytest

from sync4dgs.train import train
from sync4dgs.train.setup import build_session

pytestmark = pytest.mark.gpu

TRUE = {"cam00": 0.0, "cam01": 0.1, "cam02": -0.1, "cam03": 0.2}
GPU = {"train.device": "cuda", "render.backend": "gsplat"}


def test_wrong_offset_converges_on_cuda(gaussian_scene, make_cfg, offsets_file, tmp_path):
    stage1 = tmp_path / "stage1"
    stage1.mkdir()
    offsets = offsets_file(stage1 / "offsets.json", dict(TRUE, cam01=0.3))
    (stage1 / "trajectories.npz").write_bytes((gaussian_scene.root / "stage1" / "trajectories.npz").read_bytes())
    cfg = make_cfg({**GPU, "train.iterations": "320", "time.warmup_iterations": "120",
                    "densify.static.enabled": "false", "densify.dynamic.enabled": "false",
                    "densify.convert.enabled": "false", "optim.means_decay_iterations": "400",
                    "moving.enabled": "false"})   # as the CPU test: seeding bakes the start clock in
    result = train(gaussian_scene.root, tmp_path / "m", cfg, offsets_path=offsets, progress=False)
    errors_frames = {n: abs(result.time_maps.cameras[n].offset_s - TRUE[n]) / 0.1 for n in TRUE}
    assert max(errors_frames.values()) < 0.3, errors_frames
    assert result.stats["device"].startswith("cuda")


def test_frames_resident_and_gsplat_info(gaussian_scene, make_cfg, tmp_path):
    s = build_session(gaussian_scene, tmp_path / "m", make_cfg({**GPU, "time.align": "false"}), progress=False)
    assert s.frames.preloaded and s.frames.get_uint8(0, 0).is_cuda


def test_resume_on_cuda(gaussian_scene, make_cfg, tmp_path):
    over = {**GPU, "time.align": "false", "densify.static.refine_start_iter": "2",
            "densify.static.refine_every": "3", "densify.convert.start_iter": "1", "densify.convert.every": "4"}
    train(gaussian_scene.root, tmp_path / "m", make_cfg({**over, "train.iterations": "6"}), progress=False)
    r = train(gaussian_scene.root, tmp_path / "m", make_cfg({**over, "train.iterations": "12"}), progress=False)
    assert r.iteration == 12 and r.stats["iterations_this_run"] == 6


@pytest.mark.parametrize("host_cache", ["always", "never"])
def test_streamed_frames_equal_preloaded_on_cuda(gaussian_scene, host_cache):
    import torch

    from sync4dgs.train.framebank import FrameBank

    cams, dev = gaussian_scene.train_cameras, torch.device("cuda")
    pre = FrameBank(gaussian_scene, cams, dev, "always", progress=False)
    stream = FrameBank(gaussian_scene, cams, dev, "never", progress=False, host_cache=host_cache)
    assert stream.mode == ("host" if host_cache == "always" else "disk")
    try:
        got = []
        for cam_pos, frame in [(0, 0), (1, 5), (2, 7), (3, 11), (0, 1)]:
            stream.prefetch(cam_pos, frame)
            got.append(((cam_pos, frame), stream.get(cam_pos, frame)))   # kept alive across buffer reuse
        for (cam_pos, frame), img in got:
            torch.testing.assert_close(img, pre.get(cam_pos, frame))
        stream.prefetch(1, 2)                                  # a stale prefetch: another frame is asked for
        torch.testing.assert_close(stream.get(2, 3), pre.get(2, 3))
        torch.testing.assert_close(stream.get(1, 2), pre.get(1, 2))
        torch.cuda.synchronize()
    finally:
        stream.close()
