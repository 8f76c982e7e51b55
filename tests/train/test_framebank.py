"""FrameBank: preloaded and streamed frames are identical; the memory budget decides in "auto" mode."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from sync4dgs.data.frames import open_frames
from sync4dgs.train.framebank import FrameBank, frames_nbytes, host_available_bytes
from sync4dgs.train.sampler import ViewSampler


def test_preloaded_equals_streamed_equals_source(gaussian_scene):
    cams = gaussian_scene.train_cameras
    dev = torch.device("cpu")
    pre = FrameBank(gaussian_scene, cams, dev, "always", progress=False)
    stream = FrameBank(gaussian_scene, cams, dev, "never", progress=False)
    assert pre.preloaded and not stream.preloaded
    for cam_pos, frame in [(0, 0), (1, 5), (3, 11)]:
        src = open_frames(gaussian_scene, cams[cam_pos])[frame]
        assert np.array_equal(pre.get_uint8(cam_pos, frame).numpy(), src)
        torch.testing.assert_close(stream.get(cam_pos, frame), pre.get(cam_pos, frame))
        assert pre.get(cam_pos, frame).dtype == torch.float32 and float(pre.get(cam_pos, frame).max()) <= 1.0


def test_auto_mode_respects_the_budget(gaussian_scene):
    cams = gaussian_scene.train_cameras
    need_gb = frames_nbytes(cams) / 1024 ** 3
    assert FrameBank(gaussian_scene, cams, torch.device("cpu"), "auto", budget_gb=2 * need_gb,
                     progress=False).preloaded
    assert not FrameBank(gaussian_scene, cams, torch.device("cpu"), "auto", budget_gb=need_gb / 2,
                         progress=False).preloaded
    with pytest.raises(ValueError, match="frames_on_device"):
        FrameBank(gaussian_scene, cams, torch.device("cpu"), "sometimes")


def test_view_sampler_covers_every_frame_each_epoch_and_is_seeded():
    a, b = ViewSampler([3, 2], seed=5), ViewSampler([3, 2], seed=5)
    first = [a.next() for _ in range(5)]
    assert sorted(first) == [(0, 0), (0, 1), (0, 2), (1, 0), (1, 1)]
    assert first == [b.next() for _ in range(5)]
    state = a.state_dict()
    nxt = [a.next() for _ in range(7)]
    a.load_state_dict(state)
    assert [a.next() for _ in range(7)] == nxt


def test_peek_announces_next_without_changing_the_sequence():
    a, b = ViewSampler([3, 2], seed=7), ViewSampler([3, 2], seed=7)
    seq = []
    for _ in range(12):                       # crosses two epoch boundaries
        nxt = a.peek()
        got = a.next()
        assert nxt is None or nxt == got
        seq.append(got)
    assert seq == [b.next() for _ in range(12)]
    assert sum(a.peek() is None for _ in range(1)) <= 1


def test_streamed_prefetch_returns_the_right_frames(gaussian_scene):
    cams = gaussian_scene.train_cameras
    dev = torch.device("cpu")
    pre = FrameBank(gaussian_scene, cams, dev, "always", progress=False)
    stream = FrameBank(gaussian_scene, cams, dev, "never", progress=False)
    try:
        stream.prefetch(1, 5)
        assert torch.equal(stream.get_uint8(1, 5), pre.get_uint8(1, 5))      # the prefetched frame
        stream.prefetch(2, 3)
        assert torch.equal(stream.get_uint8(0, 4), pre.get_uint8(0, 4))      # a different request: read directly
        assert torch.equal(stream.get_uint8(2, 3), pre.get_uint8(2, 3))      # the stale prefetch is not reused
        pre.prefetch(0, 0)                                                    # preloaded: nothing to do
        assert pre._prefetcher is None
    finally:
        stream.close()


def _scene_copy(scene, dst):
    import shutil

    from sync4dgs.data.scene import load_scene

    shutil.copytree(scene.root, dst)
    return load_scene(dst)


def test_streaming_from_host_cache_and_from_disk_agree(gaussian_scene, tmp_path):
    scene = _scene_copy(gaussian_scene, tmp_path / "s")        # disk streaming writes a frame cache into it
    cams = scene.train_cameras
    dev = torch.device("cpu")
    pre = FrameBank(scene, cams, dev, "always", progress=False)
    ram = FrameBank(scene, cams, dev, "never", progress=False, host_cache="always")
    disk = FrameBank(scene, cams, dev, "never", progress=False, host_cache="never")
    assert (pre.mode, ram.mode, disk.mode) == ("device", "host", "disk")
    try:
        for cam_pos, frame in [(0, 0), (1, 5), (3, 11), (2, 7)]:
            ram.prefetch(cam_pos, frame)                  # nothing to prefetch from RAM
            disk.prefetch(cam_pos, frame)
            a, b, c = pre.get_uint8(cam_pos, frame), ram.get_uint8(cam_pos, frame), disk.get_uint8(cam_pos, frame)
            assert torch.equal(a, b) and torch.equal(a, c)
        assert ram._prefetcher is None
        out = ram.get_uint8(0, 1)
        out.zero_()                                        # a returned frame is a copy: the cache is untouched
        assert torch.equal(ram.get_uint8(0, 1), pre.get_uint8(0, 1))
    finally:
        disk.close()
    with pytest.raises(ValueError, match="frames_host_cache"):
        FrameBank(scene, cams, dev, "never", progress=False, host_cache="maybe")


def test_disk_streaming_decodes_image_folders_once_into_a_cache(gaussian_scene, tmp_path, monkeypatch):
    import os
    import shutil as sh

    import sync4dgs.train.framebank as fb

    scene = _scene_copy(gaussian_scene, tmp_path / "s")
    cams = scene.train_cameras
    dev = torch.device("cpu")
    disk = FrameBank(scene, cams, dev, "never", progress=False, host_cache="never")
    cache = scene.root / "cache" / "frames"
    assert sorted(p.name for p in cache.glob("*.npy")) == [f"{c.name}.npy" for c in cams]
    assert all(src.cached for src in disk._sources)
    src = open_frames(scene, cams[1])
    assert not src.cached                                        # plain readers still decode the images
    assert np.array_equal(disk.get_uint8(1, 4).numpy(), src[4])
    # an image newer than the cache makes it stale: rebuilt with the new content
    img = src.image_path(4)
    import cv2

    cv2.imwrite(str(img), np.zeros((src.height, src.width, 3), np.uint8))
    later = (cache / f"{cams[1].name}.npy").stat().st_mtime + 10
    os.utime(img, (later, later))
    again = open_frames(scene, cams[1], cache_images=True)
    assert again.cached and not again[4].any() and np.array_equal(again[3], src[3])
    # no room on disk for a cache: images are decoded per sample, with a warning
    sh.rmtree(cache)
    monkeypatch.setattr(fb.shutil, "disk_usage", lambda p: sh._ntuple_diskusage(1, 1, 0))
    slow = FrameBank(scene, cams, dev, "never", progress=False, host_cache="never")
    assert slow.mode == "disk" and not any(s.cached for s in slow._sources) and not cache.exists()


def test_host_cache_auto_follows_available_memory(gaussian_scene, monkeypatch):
    import sync4dgs.train.framebank as fb

    cams = gaussian_scene.train_cameras
    assert host_available_bytes() > 0
    need = frames_nbytes(cams)
    monkeypatch.setattr(fb, "host_available_bytes", lambda: 4 * need)
    assert FrameBank(gaussian_scene, cams, torch.device("cpu"), "never", progress=False).mode == "host"
    monkeypatch.setattr(fb, "host_available_bytes", lambda: need)      # would take all of it: read from disk
    assert FrameBank(gaussian_scene, cams, torch.device("cpu"), "never", progress=False).mode == "disk"
