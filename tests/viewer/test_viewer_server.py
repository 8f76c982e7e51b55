"""The viewer server end to end through viser's websocket (scripted client, no browser), loopback only."""

from __future__ import annotations

import socket
import types

import numpy as np
import pytest
import torch

from sync4dgs.data.scene import load_scene
from sync4dgs.eval.render_views import ViewRenderSettings
from sync4dgs.export.rendering import render_view, to_uint8
from sync4dgs.viewer.callback import ViewerCallback, snapshot_model
from sync4dgs.viewer.camera import viser_to_viewmat
from sync4dgs.viewer.launch import open_viewer
from sync4dgs.viewer.overlays import capture_time_near, load_trajectories, trajectory_points_at, trajectory_segments
from sync4dgs.viewer.server import ViewerConfig
from sync4dgs.viewer.ws_client import ScriptedViserClient

pytest.importorskip("viser")
pytestmark = pytest.mark.timeout(120)

SETTINGS = ViewRenderSettings(backend="torch", near=0.1, far=20.0)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _viewer(model_dir, max_side=64):
    v = open_viewer(model_dir, device="cpu", backend="torch",
                    config=ViewerConfig(port=_free_port(), max_side=max_side, max_fps=50))
    v.settings = SETTINGS
    return v


def test_viewer_renders_the_clients_camera_exactly(tiny_model_dir):
    m, scene_root = tiny_model_dir
    scene = load_scene(scene_root)
    cam = scene.camera("cam02")
    with _viewer(m) as v, ScriptedViserClient(v.url) as client:
        assert v.server.get_host() == "127.0.0.1"
        v.set_time(0.3)
        client.send_camera(cam.viewmat, cam.K, cam.width, cam.height)
        assert v.wait_for_frames(1, 30)
        state = next(iter(v.stats.per_client.values()))
        # the browser's camera went through viser's message -> our OpenCV conversion -> render(): the frame is
        # exactly the model rendered from cam02 at t = 0.3 s
        K2 = cam.K * np.array([[2.0], [2.0], [1.0]])  # the viewer renders at 64 px wide, same field of view
        expected = to_uint8(render_view(v._model, 0.3, cam.viewmat, K2, 64, 48, SETTINGS, torch.device("cpu")))
        assert state.last_time_s == pytest.approx(0.3)
        assert state.last_image.shape == (48, 64, 3)
        assert np.abs(state.last_image.astype(int) - expected).max() <= 1
        assert expected.mean() > 10

        # hiding the dynamic Gaussians re-renders a different frame
        n = v.frames_sent()
        v.controls.show_dynamic.value = False
        v._wake.set()
        assert v.wait_for_frames(n + 1, 30)
        static_only = to_uint8(render_view(v._model, 0.3, cam.viewmat, K2, 64, 48, SETTINGS,
                                           torch.device("cpu"), dynamic=False))
        assert np.abs(state.last_image.astype(int) - static_only).max() <= 1
        assert np.abs(static_only.astype(int) - expected).mean() > 1


def test_frustum_click_snaps_view_and_time(tiny_model_dir, tiny):
    m, scene_root = tiny_model_dir
    scene = load_scene(scene_root)
    cam = scene.camera("cam03")  # learned offset +0.2 s
    with _viewer(m) as v, ScriptedViserClient(v.url) as client:
        client.send_camera(scene.camera("cam00").viewmat, cam.K, cam.width, cam.height)
        assert v.wait_for_frames(1, 30)
        handle = next(iter(v.server.get_clients().values()))
        v.set_time(0.0)
        v._snap_to_camera(cam, types.SimpleNamespace(client=handle))
        vm = viser_to_viewmat(handle.camera.wxyz, handle.camera.position)
        assert np.allclose(vm, cam.viewmat, atol=1e-6)
        assert float(v.controls.time_s.value) == pytest.approx(0.2)  # its frame 0 is at global 0.2 s
        assert "cam03" in v.controls.camera_info.content


def test_capture_time_and_trajectory_geometry(tiny_model_dir, tiny):
    m, scene_root = tiny_model_dir
    scene = load_scene(scene_root)
    from sync4dgs.model.io import load_trained

    maps = load_trained(m).time_maps
    assert capture_time_near(scene.camera("cam01"), maps, 0.47) == (4, pytest.approx(0.5))
    assert capture_time_near(scene.camera("cam02"), maps, -3.0) == (0, pytest.approx(-0.05))
    tr = load_trajectories(m / "stage1" / "trajectories.npz")
    pts, cols = trajectory_segments(tr)
    assert pts.shape == (4 * 9 + 5, 2, 3) and cols.shape == pts.shape  # track 0 stops after 6 samples
    now, _ = trajectory_points_at(tr, 0.75)
    assert now.shape == (4, 3)  # track 0 is undefined at 0.75 s
    assert np.allclose(now, 0.5 * (tr.xyz[1:, 7] + tr.xyz[1:, 8]))


def test_viewer_callback_snapshots_only_for_connected_browsers(tiny_model_dir):
    m, scene_root = tiny_model_dir
    scene = load_scene(scene_root)
    with _viewer(m) as v:
        cb = ViewerCallback(v, every=10, min_interval_s=0.0)
        live = v._model
        assert not cb.update(live, None, 0)  # nobody is watching: no copy
        with ScriptedViserClient(v.url) as client:
            client.send_camera(scene.camera("cam01").viewmat, scene.camera("cam01").K, 32, 24)
            assert v.wait_for_frames(1, 30)
            assert cb.update(live, None, 5)
            assert v._model is not live and v._iteration == 5
            assert torch.equal(v._model.dynamic["key_means"], live.dynamic["key_means"])
            assert not any(p.requires_grad for p in v._model.parameters())
            assert not cb.update(live, None, 9)  # throttled
            assert cb.update(live, None, 15)
            assert v.wait_for_frames(2, 30)  # the new model version was rendered


def test_snapshot_is_independent_of_later_training_steps(tiny):
    model = tiny.make_model()
    snap = snapshot_model(model)
    with torch.no_grad():
        model.static["means"].add_(1.0)
    assert not torch.equal(snap.static["means"], model.static["means"])


def test_playback_advances_and_wraps_time(tiny_model_dir):
    m, _ = tiny_model_dir
    with _viewer(m) as v:
        # the render thread also advances playback by wall-clock time; stop it so that only the test's own
        # calls move time (under load it advanced the slider between the steps below)
        v._stop.set()
        v._wake.set()
        v._thread.join(timeout=10.0)
        lo, hi = v._time_range
        v.set_time(hi - 0.01)
        v.controls.speed.value = 2.0
        v.controls.play.value = True
        v._advance_playback(0.05)  # 0.1 s of global time at 2x: wraps past the end
        assert float(v.controls.time_s.value) == pytest.approx(lo + 0.09, abs=1e-9)
        v.controls.play.value = False
        v._advance_playback(1.0)
        assert float(v.controls.time_s.value) == pytest.approx(lo + 0.09, abs=1e-9)


def test_cli_view_serves_on_loopback_and_stops_on_ctrl_c(tiny_model_dir):
    import signal
    import subprocess
    import sys
    import time
    import urllib.request

    port = _free_port()
    # A test run started in the background (`cmd &`, nohup) ignores SIGINT and its children inherit that; Python
    # then installs no Ctrl+C handler. The child restores the default disposition, as in a user's terminal.
    proc = subprocess.Popen([sys.executable, "-m", "sync4dgs", "view", "--model_path", str(tiny_model_dir[0]),
                             "--port", str(port), "--device", "cpu"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        deadline, status = time.monotonic() + 60, None
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                status = urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2).status
                break
            except OSError:
                time.sleep(0.3)
        assert status == 200, proc.stdout.read().decode() if proc.poll() is not None else "no HTTP answer"
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=30) == 0
        assert "stopping viewer" in proc.stdout.read().decode()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_viewer_without_a_scene_still_serves_the_model(tmp_path, tiny):
    from sync4dgs.model.io import model_file, save_model

    m = tmp_path / "bare"
    save_model(model_file(m, 3), tiny.make_model(), tiny.time_maps(), {})  # records no scene
    v = open_viewer(m, device="cpu", backend="torch", config=ViewerConfig(port=_free_port(), max_side=64))
    assert v.scene is None and v.trajectories is None
    lo, hi = v._time_range
    assert lo < hi  # from the model's keyframed interior
    with v, ScriptedViserClient(v.url) as client:
        assert not v._frusta
        client.send_camera(tiny.make_scene(tmp_path / "s").camera("cam01").viewmat,
                           np.array([[30.0, 0, 16], [0, 30.0, 12], [0, 0, 1]]), 32, 24)
        assert v.wait_for_frames(1, 30)


def test_viewer_takes_the_scene_json(tmp_path, tiny):
    from sync4dgs.model.io import model_file, save_model

    m = tmp_path / "bare"
    save_model(model_file(m, 3), tiny.make_model(), tiny.time_maps(), {})  # records no scene
    scene = tiny.make_scene(tmp_path / "scene")
    v = open_viewer(m, device="cpu", backend="torch", source_path=scene.root / "scene.json",
                    config=ViewerConfig(port=_free_port(), max_side=64))
    assert v.scene is not None and v.scene.root == scene.root
    assert v.scene.camera_names == scene.camera_names


def test_ctrl_c_during_set_up_stops_the_server(tiny_model_dir, monkeypatch):
    """The HTTP server answers before the set-up ends; an interrupt then must not leave its threads running."""
    import threading

    port = _free_port()
    v = open_viewer(tiny_model_dir[0], device="cpu", backend="torch", config=ViewerConfig(port=port, max_side=64))
    before = set(threading.enumerate())

    def interrupted():
        raise KeyboardInterrupt

    monkeypatch.setattr(v, "_setup_scene", interrupted)
    with pytest.raises(KeyboardInterrupt):
        with v:
            pass
    assert v.server is None and v._thread is None
    with socket.socket() as sock:                 # the port is free again
        sock.bind(("127.0.0.1", port))
    left = [t for t in threading.enumerate() if t not in before and t.is_alive() and not t.daemon]
    assert not left, left
