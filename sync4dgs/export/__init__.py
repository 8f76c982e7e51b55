"""Exports of a trained 4D model (never imports the trainer).

* :mod:`sync4dgs.export.ply` -- standard 3DGS PLY of one instant (``write_ply`` / ``read_ply``);
* :mod:`sync4dgs.export.npz` -- the full 4D model as one portable npz (``save_npz`` / ``load_npz``);
* :mod:`sync4dgs.export.video` -- free-viewpoint videos (``render_path_video``, ``plan_video``);
* :mod:`sync4dgs.export.paths` -- camera-path maths (interpolated path through the rig, orbit);
* :mod:`sync4dgs.export.exporter` / :mod:`sync4dgs.export.video_cli` -- the library side of the CLI.
"""
