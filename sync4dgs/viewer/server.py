"""Browser viewer of a 4D model: viser scene + GUI, rendered by our own ``render()`` in a background thread.

Every connected browser gets its own view: the render thread polls each client's camera (viser's orbit/fly
controls), renders the model at the time slider's global time with sync4dgs.render (gsplat on CUDA, the
reference torch rasteriser on CPU at reduced resolution) and sends the image as the client's background.
A frame is rendered only when something it depends on changed (camera, time, toggles, resolution, model).

Threads: viser's server thread (websocket), its callback pool (GUI/camera callbacks), and ONE render thread
owned here. ``update(model, ...)`` swaps the model reference atomically, so a trainer can hand over fresh
snapshots (see viewer/callback.py) while the viewer renders the previous one.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from sync4dgs.data.scene import CameraSpec, SceneSpec
from sync4dgs.eval.render_views import ViewRenderSettings
from sync4dgs.export.paths import look_at_point, mean_up
from sync4dgs.export.rendering import render_view, to_uint8
from sync4dgs.timemap import TimeMaps
from sync4dgs.utils.device import resolve_device
from sync4dgs.viewer.camera import fov_y_from_intrinsics, intrinsics_from_fov, render_size, viewmat_to_viser, viser_to_viewmat
from sync4dgs.viewer.gui import ViewerControls, build_controls
from sync4dgs.viewer.overlays import (Trajectories, add_camera_frusta, add_trajectories, capture_time_near, rig_scale,
                                      trajectory_points_at)

log = logging.getLogger(__name__)

LOOPBACK = "127.0.0.1"


@dataclass
class ViewerConfig:
    """Server and rendering options.

    host: bind address (loopback by default; any other address only when asked). port: TCP port.
    max_side: longer side of rendered images in pixels (None: 1024 on CUDA, 256 on CPU).
    max_fps: cap on renders per second (all clients together). jpeg_quality: image transport quality.
    cuda_stream: on CUDA, render on the viewer's own stream, so a training loop on the default stream neither
        waits for the viewer's kernels at its own synchronisations nor is drained by the viewer's readback.
    """

    host: str = LOOPBACK
    port: int = 8080
    max_side: int | None = None
    max_fps: float = 30.0
    jpeg_quality: int = 85
    verbose: bool = False
    cuda_stream: bool = True


@dataclass
class _ClientState:
    last_key: tuple | None = None
    frames_sent: int = 0
    last_image: np.ndarray | None = None  # uint8 [H, W, 3], the last frame sent
    last_time_s: float | None = None      # global time (s) it was rendered at


@dataclass
class ViewerStats:
    """Counters readable from any thread (tests, benchmarks)."""

    frames_rendered: int = 0
    last_render_ms: float = 0.0
    per_client: dict[int, _ClientState] = field(default_factory=dict)


class Sync4DViewer:
    """A viser server showing ``model`` (Gaussians4D contract) with a time slider.

    Args:
        model: the 4D model (``at_time``, ``n_static``, ``n_dynamic``) on ``device``.
        time_maps: its time maps (the reference camera's clock is global time); used for camera snapping.
        scene: the training scene (frusta, time range, initial view); optional.
        trajectories: stage-1 tracks to draw; optional.
        settings: render settings (background, near/far, backend, SH degree).
        time_range_s: (start, end) of the time slider in global seconds (default: the reference camera's
            capture range, or the model's keyframed interior without a scene).
    """

    def __init__(self, model: Any, time_maps: TimeMaps | None = None, *, scene: SceneSpec | None = None,
                 trajectories: Trajectories | None = None, settings: ViewRenderSettings | None = None,
                 device: str | torch.device = "auto", config: ViewerConfig | None = None, iteration: int = 0,
                 time_range_s: tuple[float, float] | None = None):
        self.config = config or ViewerConfig()
        self.device = device if isinstance(device, torch.device) else resolve_device(device)
        self.settings = settings or ViewRenderSettings()
        self.scene, self.trajectories = scene, trajectories
        self._model, self._time_maps, self._iteration, self._model_version = model, time_maps, iteration, 0
        self._stream = (torch.cuda.Stream(self.device) if self.device.type == "cuda" and self.config.cuda_stream
                        else None)
        self._shown = (model, self._ready_event())   # (model, event after which its tensors exist): one swap
        self._time_range = time_range_s or self._default_time_range(model, scene)
        ref = scene.camera(scene.reference_camera) if scene is not None else None
        self._frame_dt = 1.0 / ref.fps if ref is not None else 1.0 / 30.0
        self.stats = ViewerStats()
        self._stop, self._wake = threading.Event(), threading.Event()
        self._thread: threading.Thread | None = None
        self.server: Any = None
        self.controls: ViewerControls | None = None
        self._frusta: dict[str, Any] = {}
        self._tracks: tuple[Any, Any] | None = None
        self._draw_scale = 1.0  # scene units of the overlays (rig size)

    # ------------------------------------------------------------------------------------------- setup
    @staticmethod
    def _default_time_range(model: Any, scene: SceneSpec | None) -> tuple[float, float]:
        if scene is not None:
            tau = scene.camera(scene.reference_camera).tau_s()
            return float(tau[0]), float(tau[-1])
        if hasattr(model, "interior_time_range_s"):
            lo, hi = model.interior_time_range_s()
            margin = float(getattr(getattr(model, "config", None), "time_margin_s", 0.0))
            return (lo + margin, hi - margin) if hi - lo > 2 * margin else (lo, hi)
        return 0.0, 1.0

    def _ready_event(self) -> Any:
        """An event recorded on the caller's current stream (None without a viewer stream): the render thread
        waits for it on its own stream before reading a model handed over by another thread."""
        if self._stream is None:
            return None
        event = torch.cuda.Event()
        event.record(torch.cuda.current_stream(self.device))
        return event

    @property
    def url(self) -> str:
        if self.server is None:
            raise RuntimeError("viewer not started")
        return f"http://{self.server.get_host()}:{self.server.get_port()}"

    def start(self) -> "Sync4DViewer":
        """Start the viser server and the render thread (returns self)."""
        import viser  # noqa: PLC0415

        # A browser may close between our client snapshot and the image send; viser then warns per frame.
        warnings.filterwarnings("ignore", message="Queued a BackgroundImageMessage on a closed connection",
                                category=UserWarning)
        cfg = self.config
        if cfg.host != LOOPBACK:
            log.warning("viewer bound to %s: reachable from other machines on that interface", cfg.host)
        self.server = viser.ViserServer(host=cfg.host, port=cfg.port, label="sync4dgs", verbose=cfg.verbose)
        try:   # the HTTP server answers from here on: a Ctrl+C (or an error) during the set-up must stop it,
            #    else its non-daemon threads keep the process alive (`with` never calls __exit__ then)
            max_side = cfg.max_side or (1024 if self.device.type == "cuda" else 256)
            self.controls = build_controls(self.server, self._time_range, self._frame_dt, max_side,
                                           has_cameras=self.scene is not None,
                                           has_trajectories=self.trajectories is not None)
            self._setup_scene()
            self._wire_callbacks()
            self._thread = threading.Thread(target=self._render_loop, name="sync4dgs-viewer-render", daemon=True)
            self._thread.start()
        except BaseException:
            self.stop()
            raise
        log.info("viewer running at %s", self.url)
        return self

    def _setup_scene(self) -> None:
        scene = self.scene
        self._draw_scale = rig_scale(scene) if scene is not None else 1.0
        if self.trajectories is not None:
            lines = add_trajectories(self.server, self.trajectories, thickness=0.004 * self._draw_scale)
            self._tracks = (lines, None)
            self._update_track_points(self._time_range[0])
        if scene is None:
            return
        R = np.stack([c.R for c in scene.cameras])
        t = np.stack([c.t for c in scene.cameras])
        up = mean_up(R)
        self.server.scene.set_up_direction(up)
        ref = scene.camera(scene.reference_camera)
        # start in the reference camera's view, orbiting a point on its axis as far away as the rig's look-at point
        center = -ref.R.T @ ref.t
        depth = max(float(np.linalg.norm(look_at_point(R, t) - center)), 1e-3)
        ic = self.server.initial_camera
        ic.position = center
        ic.look_at = center + depth * ref.R[2]
        ic.up = up
        ic.fov = fov_y_from_intrinsics(ref.K, ref.height)
        self._frusta = add_camera_frusta(self.server, scene, self._snap_to_camera, scale=0.08 * self._draw_scale)

    def _wire_callbacks(self) -> None:
        c = self.controls
        assert c is not None

        def wake(_: Any = None) -> None:
            self._wake.set()

        for h in (c.time_s, c.show_static, c.show_dynamic, c.max_side, c.play):
            h.on_update(wake)

        @c.show_cameras.on_update
        def _(_: Any) -> None:
            for h in self._frusta.values():
                h.visible = bool(c.show_cameras.value)

        @c.show_trajectories.on_update
        def _(_: Any) -> None:
            if self._tracks is not None:
                for h in self._tracks:
                    if h is not None:
                        h.visible = bool(c.show_trajectories.value)

        @c.step_back.on_click
        def _(_: Any) -> None:
            self.set_time(float(c.time_s.value) - self._frame_dt)

        @c.step_forward.on_click
        def _(_: Any) -> None:
            self.set_time(float(c.time_s.value) + self._frame_dt)

        @self.server.on_client_connect
        def _(client: Any) -> None:
            self.stats.per_client.setdefault(client.client_id, _ClientState())
            client.camera.on_update(wake)
            wake()

        @self.server.on_client_disconnect
        def _(client: Any) -> None:
            self.stats.per_client.pop(client.client_id, None)

    # ------------------------------------------------------------------------------------ public control
    def set_time(self, t_s: float) -> None:
        """Move the time slider to ``t_s`` (global seconds, clamped to the slider's range)."""
        assert self.controls is not None
        lo, hi = self._time_range
        self.controls.time_s.value = float(min(max(t_s, lo), hi))
        self._wake.set()

    def update(self, model: Any, time_maps: TimeMaps | None = None, iteration: int | None = None) -> None:
        """Show ``model`` from now on (the reference is swapped; the caller must not mutate it afterwards --
        pass a snapshot, see viewer/callback.py). Thread-safe."""
        self._model = model
        self._shown = (model, self._ready_event())
        if time_maps is not None:
            self._time_maps = time_maps
        if iteration is not None:
            self._iteration = int(iteration)
        self._model_version += 1
        self._wake.set()

    @property
    def n_clients(self) -> int:
        return 0 if self.server is None else len(self.server.get_clients())

    def frames_sent(self) -> int:
        """Total frames sent to the currently connected clients."""
        return sum(s.frames_sent for s in list(self.stats.per_client.values()))

    def wait_for_frames(self, n: int, timeout_s: float) -> bool:
        """Block until ``n`` frames in all have been sent to connected clients (False on timeout)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.frames_sent() >= n:
                return True
            time.sleep(0.05)
        return False

    def stop(self) -> None:
        """Stop the render thread and the server (idempotent)."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=10.0)
            self._thread = None
        if self.server is not None:
            self.server.stop()
            self.server = None

    def __enter__(self) -> "Sync4DViewer":
        return self.start() if self.server is None else self

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    # ----------------------------------------------------------------------------------------- behaviour
    def _snap_to_camera(self, cam: CameraSpec, event: Any) -> None:
        """Frustum click: look through ``cam`` and move time to its capture instant nearest the slider."""
        client = event.client
        wxyz, pos = viewmat_to_viser(cam.viewmat)
        with client.atomic():
            client.camera.fov = fov_y_from_intrinsics(cam.K, cam.height)
            client.camera.wxyz = wxyz
            client.camera.position = pos
        assert self.controls is not None
        frame, t = capture_time_near(cam, self._time_maps, float(self.controls.time_s.value))
        m = self._time_maps.cameras.get(cam.name) if self._time_maps is not None else None
        off = f"{m.offset_s:+.4f} s, rate {m.rate:.5f}" if m is not None else "no learned map (identity)"
        self.controls.camera_info.content = f"**{cam.name}** frame {frame} at t = {t:.4f} s (offset {off})"
        self.set_time(t)

    def _update_track_points(self, t_s: float) -> None:
        if self.trajectories is None or self._tracks is None or self.server is None:
            return
        pts, cols = trajectory_points_at(self.trajectories, t_s)
        lines, _ = self._tracks
        visible = self.controls is None or bool(self.controls.show_trajectories.value)
        handle = self.server.scene.add_point_cloud("/trajectories/now", points=pts, colors=cols,
                                                   point_size=0.01 * self._draw_scale, visible=visible) \
            if len(pts) else None
        self._tracks = (lines, handle)

    def _advance_playback(self, dt_s: float) -> None:
        c = self.controls
        assert c is not None
        if not c.play.value:
            return
        lo, hi = self._time_range
        t = float(c.time_s.value) + dt_s * float(c.speed.value)
        if t > hi:
            t = lo + (t - hi) % max(hi - lo, 1e-9) if hi > lo else lo
        c.time_s.value = t

    def _render_loop(self) -> None:
        last = time.perf_counter()
        last_tracks_t: float | None = None
        min_dt = 1.0 / max(self.config.max_fps, 1e-3)
        while not self._stop.is_set():
            self._wake.wait(timeout=min_dt)
            self._wake.clear()
            if self._stop.is_set():
                break
            now = time.perf_counter()
            self._advance_playback(now - last)
            last = now
            t_s = float(self.controls.time_s.value)
            if self.trajectories is not None and t_s != last_tracks_t:
                self._update_track_points(t_s)
                last_tracks_t = t_s
            start = time.perf_counter()
            for client in list(self.server.get_clients().values()):
                try:
                    self._render_client(client, t_s)
                except Exception:  # keep serving other clients / later frames; the error is logged
                    log.exception("viewer: rendering for client %s failed", client.client_id)
                    time.sleep(0.5)
            spare = min_dt - (time.perf_counter() - start)
            if spare > 0:               # at most max_fps renders per second, whatever wakes the loop
                self._stop.wait(spare)

    def _render_client(self, client: Any, t_s: float) -> None:
        cam = client.camera
        state = self.stats.per_client.get(client.client_id)
        if cam.update_timestamp == 0.0 or state is None:
            return  # no camera message from this browser yet, or it has disconnected
        c = self.controls
        max_side = int(c.max_side.value)
        key = (tuple(np.round(cam.wxyz, 6)), tuple(np.round(cam.position, 6)), round(float(cam.fov), 6),
               round(float(cam.aspect), 4), t_s, bool(c.show_static.value), bool(c.show_dynamic.value), max_side,
               self._model_version)
        if key == state.last_key:
            return
        w, h = render_size(float(cam.aspect), max_side)
        viewmat = viser_to_viewmat(cam.wxyz, cam.position)
        K = intrinsics_from_fov(float(cam.fov), w, h)
        model, ready = self._shown
        t0 = time.perf_counter()
        with torch.cuda.stream(self._stream) if self._stream is not None else contextlib.nullcontext():
            if ready is not None:
                self._stream.wait_event(ready)
            img = render_view(model, t_s, viewmat, K, w, h, self.settings, self.device,
                              static=bool(c.show_static.value), dynamic=bool(c.show_dynamic.value))
            rgb = to_uint8(img)          # waits for this stream only; ``model`` stays referenced until here
        ms = 1000.0 * (time.perf_counter() - t0)
        client.scene.set_background_image(rgb, format="jpeg", jpeg_quality=self.config.jpeg_quality)
        state.last_key, state.last_image, state.last_time_s = key, rgb, t_s
        state.frames_sent += 1
        self.stats.frames_rendered += 1
        self.stats.last_render_ms = ms
        c.info.content = (f"iteration {self._iteration} · {int(model.n_static)} static + "
                          f"{int(model.n_dynamic)} dynamic · {w}x{h} in {ms:.0f} ms ({self.device.type})")
