"""``sync4dgs train --viewer``: the live viewer attached to a running training through a callback factory."""

from __future__ import annotations

import importlib.util
import socket
import urllib.request
from pathlib import Path

import numpy as np
import pytest

from sync4dgs.cli.main import main as cli_main
from sync4dgs.cli.train import LiveViewer
from sync4dgs.train import load_config, train
from sync4dgs.train.callbacks import Callback
from sync4dgs.viewer.ws_client import ScriptedViserClient


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def scene(tmp_path_factory):
    path = Path(__file__).resolve().parents[1] / "train" / "conftest.py"
    spec = importlib.util.spec_from_file_location("sync4dgs_tests_train_conftest", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.make_gaussian_scene(tmp_path_factory.mktemp("scene"))


def _cfg(iterations: int):
    return load_config(None, {"train.iterations": str(iterations), "train.device": "cpu", "time.align": "false",
                              "render.backend": "torch", "log.tensorboard": "false", "log.progress": "false",
                              "train.checkpoint_every": "0", "train.cpu_threads": "1"})


class _Browser(Callback):
    """Connects a scripted browser to the live viewer after the first step and records what the viewer shows."""

    name = "browser"

    def __init__(self, session, live: list):
        self.session, self.live = session, live
        self.client = None
        self.iterations_seen: list[int] = []

    def after_step(self, state, info):
        viewer = self.live[0].handle.viewer
        if self.client is None:
            self.client = ScriptedViserClient(viewer.url).__enter__()
            cam = self.session.scene.train_cameras[0]
            self.client.send_camera(cam.viewmat, cam.K, 32, 24)
            assert viewer.wait_for_frames(1, 30)
        self.iterations_seen.append(viewer._iteration)

    def on_train_end(self, state):
        if self.client is not None:
            self.client.__exit__(None, None, None)


def test_live_viewer_follows_training_and_stops_with_it(scene, tmp_path):
    port = _free_port()
    live: list[LiveViewer] = []
    browsers: list[_Browser] = []

    def viewer_factory(session):
        live.append(LiveViewer(session, port=port, every=5, min_interval_s=0.0))
        return live[0]

    def browser_factory(session):
        browsers.append(_Browser(session, live))
        return browsers[0]

    result = train(scene.root, tmp_path / "m", _cfg(20), no_align=True, progress=False,
                   extra_callbacks=[viewer_factory, browser_factory])
    assert result.iteration == 20
    seen = browsers[0].iterations_seen
    # the viewer's model is refreshed every 5 iterations once a browser is connected: 5, 10, 15, 20
    assert seen[-1] == 20 and set(seen) >= {5, 10, 15}
    assert np.all(np.diff(seen) >= 0)
    assert live[0].handle is None                      # closed at the end of training
    with pytest.raises(OSError):
        urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2)


def test_cli_viewer_flags_reach_the_trainer(scene, tmp_path, capsys):
    port = _free_port()
    code = cli_main(["train", "-m", str(tmp_path / "m"), "-s", str(scene.root), "--no_align", "--quiet",
                     "--train.iterations", "3", "--train.device", "cpu", "--render.backend", "torch",
                     "--log.tensorboard", "false", "--viewer", "--viewer_port", str(port)])
    assert code == 0
    assert f"training viewer: http://127.0.0.1:{port}" in capsys.readouterr().out


def test_viewer_is_refused_with_several_gpus(scene, tmp_path, capsys):
    code = cli_main(["train", "-m", str(tmp_path / "m"), "-s", str(scene.root), "--no_align", "--gpus", "2",
                     "--viewer"])
    assert code != 0
    assert "--viewer cannot be combined with --gpus" in capsys.readouterr().err
