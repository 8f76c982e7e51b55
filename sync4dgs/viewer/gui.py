"""The viewer's GUI panel (viser server-side handles). Only layout here; behaviour lives in server.py."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

MIN_SIDE, MAX_SIDE = 64, 2048


@dataclass
class ViewerControls:
    """Handles of every GUI element (``.value`` is readable/writable from any thread)."""

    time_s: Any          # slider, global seconds (reference clock)
    play: Any            # checkbox
    speed: Any           # slider, playback speed (x real time)
    step_back: Any       # button: one reference frame back
    step_forward: Any    # button: one reference frame forward
    show_static: Any     # checkbox
    show_dynamic: Any    # checkbox
    show_cameras: Any    # checkbox
    show_trajectories: Any  # checkbox
    max_side: Any        # slider, render resolution (longer side, pixels)
    info: Any            # markdown: iteration, counts, timings
    camera_info: Any     # markdown: the last camera snapped to


def build_controls(server: Any, t_range_s: tuple[float, float], frame_dt_s: float, max_side: int,
                   has_cameras: bool, has_trajectories: bool) -> ViewerControls:
    """Create the GUI panel. ``t_range_s`` (seconds) bounds the time slider; ``frame_dt_s`` is its step."""
    t0, t1 = float(t_range_s[0]), float(t_range_s[1])
    step = max(min(frame_dt_s / 4.0, max(t1 - t0, 1e-3) / 100.0), 1e-4)
    gui = server.gui
    with gui.add_folder("Time"):
        time_s = gui.add_slider("t (s)", min=t0, max=max(t1, t0), step=step, initial_value=t0,
                                hint="global time in seconds on the reference camera's clock")
        play = gui.add_checkbox("Play", initial_value=False)
        speed = gui.add_slider("Speed (x)", min=0.05, max=4.0, step=0.05, initial_value=1.0)
        step_back = gui.add_button("< frame")
        step_forward = gui.add_button("frame >")
    with gui.add_folder("Show"):
        show_static = gui.add_checkbox("Static Gaussians", initial_value=True)
        show_dynamic = gui.add_checkbox("Dynamic Gaussians", initial_value=True)
        show_cameras = gui.add_checkbox("Training cameras", initial_value=True, disabled=not has_cameras)
        show_trajectories = gui.add_checkbox("Stage-1 trajectories", initial_value=has_trajectories,
                                             disabled=not has_trajectories)
    with gui.add_folder("Render"):
        max_side_h = gui.add_slider("Resolution (px)", min=MIN_SIDE, max=MAX_SIDE, step=32,
                                    initial_value=int(min(max(max_side, MIN_SIDE), MAX_SIDE)),
                                    hint="longer side of the rendered image")
        info = gui.add_markdown("")
    camera_info = gui.add_markdown("Click a camera frustum to look through it." if has_cameras else "")
    return ViewerControls(time_s, play, speed, step_back, step_forward, show_static, show_dynamic, show_cameras,
                          show_trajectories, max_side_h, info, camera_info)
