"""Stage 1: weights-free time alignment of static calibrated cameras from moving content.

Public API::

    from sync4dgs.sync.align import AlignConfig, align_scene, save_alignment
    result = align_scene(scene, AlignConfig(max_offset_s=3.0, rates="auto"), tracks_dir=None)
    save_alignment(result, out_dir)   # offsets.json, trajectories.npz, trajectories.ply, align_plot.png

``result.time_maps`` is a :class:`sync4dgs.timemap.TimeMaps` (offset_s, rate, confidence, status per
camera; status "unaligned" for cameras that could not be aligned). See docs/align.md for the method, the
track file format of ``tracks_dir`` (also in :mod:`sync4dgs.sync.align.tracks`) and the outputs.
"""

from sync4dgs.sync.align.config import AlignConfig, RateSpec, parse_rates
from sync4dgs.sync.align.export import TRAJECTORIES_FILE, load_trajectories, save_alignment
from sync4dgs.sync.align.pipeline import AlignResult, PairReport, align_scene
from sync4dgs.sync.align.report import alignment_warnings, mask_choice_note
from sync4dgs.sync.align.tracks import CameraTracks, load_camera_tracks, save_camera_tracks
from sync4dgs.sync.align.trajectories import Trajectories

__all__ = ["AlignConfig", "AlignResult", "CameraTracks", "PairReport", "RateSpec", "TRAJECTORIES_FILE", "Trajectories",
           "align_scene", "alignment_warnings", "load_camera_tracks", "load_trajectories", "mask_choice_note",
           "parse_rates", "save_alignment", "save_camera_tracks"]
