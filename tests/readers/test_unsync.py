"""``unsync``: offsets protocol, trimming, and the time convention (sign, fps) of gt_sync.json."""

from __future__ import annotations

import numpy as np
import pytest

from sync4dgs.cli.main import main as cli_main
from sync4dgs.data.frames import open_frames
from sync4dgs.data.readers import prepare
from sync4dgs.data.scene import load_scene
from sync4dgs.data.unsync import UnsyncConfig, draw_offsets_frames, start_frames, unsync
from sync4dgs.data.video import read_video, write_video
from sync4dgs.errors import ConfigError, DataFormatError
from sync4dgs.timemap import global_time_s, load_time_maps

FPS = 25.0
N = 36


@pytest.fixture
def counter_n3v(kit, tmp_path):
    """A synchronized N3V folder whose frames show their global frame index (grey level)."""
    cams = kit.make_rig(n=4, W=64, H=48, f=52.0)
    folder = tmp_path / "sync"
    folder.mkdir()
    for c in cams:
        write_video(folder / f"{c.name}.mp4", kit.counter_frames(N), fps=FPS, crf=0)
    np.save(folder / "poses_bounds.npy", kit.encode_llff(cams))
    return folder


def test_offsets_protocol_is_seeded_and_fixes_reference_and_test():
    names = [f"cam{i:02d}" for i in range(6)]
    cfg = UnsyncConfig(sigma_frames=5, seed=3)
    a = draw_offsets_frames(names, {"cam00"}, cfg)
    assert a == draw_offsets_frames(names, {"cam00"}, cfg) and a["cam00"] == 0
    assert a != draw_offsets_frames(names, {"cam00"}, UnsyncConfig(sigma_frames=5, seed=4))
    u = draw_offsets_frames(names * 50, {"cam00"}, UnsyncConfig(max_offset_frames=3, seed=0))
    assert set(u.values()) <= set(range(-3, 4))
    drop_only = draw_offsets_frames(names, set(), UnsyncConfig(sigma_frames=5, allow_negative=False))
    assert all(d >= 0 for d in drop_only.values())
    assert start_frames({"a": 0, "b": 3, "c": -2}) == {"a": 2, "b": 5, "c": 0}
    with pytest.raises(ConfigError):
        UnsyncConfig(sigma_frames=None)


def test_unsync_n3v_time_convention(kit, counter_n3v, tmp_path):
    out = tmp_path / "unsync"
    gt = unsync(counter_n3v, out, UnsyncConfig(sigma_frames=4, seed=1))
    offsets, starts = gt.extra["offset_frames"], gt.extra["start_frames"]
    assert offsets["cam00"] == 0 and any(v != 0 for v in offsets.values())
    L = gt.extra["n_frames"]
    assert L == N - max(starts.values())
    on_disk = load_time_maps(out / "gt_sync.json")
    assert on_disk.reference_camera == "cam00"
    for name, m in on_disk.cameras.items():
        assert m.offset_s == pytest.approx(offsets[name] / FPS, abs=1e-6) and m.rate == 1.0
        frames, tau = read_video(out / f"{name}.mp4")
        assert len(frames) == L
        np.testing.assert_allclose(tau, np.arange(L) / FPS, atol=1e-4)
        shown = [kit.decode_counter(f) for f in frames]
        assert shown == list(range(starts[name], starts[name] + L))  # dropped the first s_c frames
        # the convention: local frame i is captured at global time offset + i/fps, and the content it shows
        # was captured at original time shown/fps; both measured from the reference's first kept frame
        t_global = global_time_s(m.offset_s, m.rate, tau)
        np.testing.assert_allclose(t_global, (np.array(shown) - starts["cam00"]) / FPS, atol=1e-4)
    # the unsynchronized folder is itself an N3V dataset with ground truth
    scene = prepare(out, tmp_path / "scene", points="random")
    prepared = load_time_maps(scene.gt_sync_path)
    assert prepared.cameras["cam02"].offset_s == pytest.approx(offsets["cam02"] / FPS, abs=1e-6)
    assert all(c.time_map is None for c in scene.cameras)


def test_unsync_canonical_scene_is_lossless_and_composes(kit, counter_n3v, tmp_path):
    src_scene = prepare(counter_n3v, tmp_path / "scene", points="random")
    gt = unsync(src_scene.root, tmp_path / "unsynced", UnsyncConfig(max_offset_frames=6, seed=2, n_frames=20))
    new = load_scene(tmp_path / "unsynced")
    starts = gt.extra["start_frames"]
    for cam in new.cameras:
        assert cam.n_frames == 20 and cam.frames.start == starts[cam.name] and cam.frames.stop == starts[cam.name] + 20
        f = open_frames(new, cam)
        assert [kit.decode_counter(f[i]) for i in (0, 19)] == [starts[cam.name], starts[cam.name] + 19]
    # a second unsync composes with the first ground truth
    gt2 = unsync(tmp_path / "unsynced", tmp_path / "twice", UnsyncConfig(max_offset_frames=3, seed=5))
    new2 = load_scene(tmp_path / "twice")
    for cam in new2.cameras:
        first_shown = kit.decode_counter(open_frames(new2, cam)[0])
        ref_first = kit.decode_counter(open_frames(new2, new2.reference_camera)[0])
        assert gt2.cameras[cam.name].offset_s == pytest.approx((first_shown - ref_first) / FPS, abs=1e-6)


def test_unsync_bad_input_and_cli(kit, counter_n3v, tmp_path):
    with pytest.raises(DataFormatError, match="leave|overlap"):
        unsync(counter_n3v, tmp_path / "u", UnsyncConfig(max_offset_frames=200, seed=0))
    assert not (tmp_path / "u").exists()
    with pytest.raises(DataFormatError, match="expected an N3V folder"):
        unsync(tmp_path, tmp_path / "u2")
    with pytest.raises(ConfigError, match="replace the source"):
        unsync(counter_n3v, counter_n3v)
    (counter_n3v / "cam01.mp4").write_bytes(b"junk")
    assert cli_main(["unsync", str(counter_n3v), "--out", str(tmp_path / "u3")]) == 1
    assert not (tmp_path / "u3").exists()
