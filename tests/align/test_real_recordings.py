"""Stage 1 on REAL footage: a 4-camera caliscope recording (tests/data/real/caliscope_post_optimization, BSD-2,
see its README) made unsynchronized by dropping leading frames, through ``prepare --calibration`` and
``align_scene`` (benchmarks/real_sync.py). Ground truth: the recorded capture times, corrected per camera by
the timing the calibration board's ArUco markers show (independent of sync4dgs).

More recordings of the same layout (``cam_<id>.mp4`` + ``camera_array.toml`` + ``timestamps.csv`` per folder,
e.g. caliscope's other tests/sessions/*/calibration/extrinsic folders with the session's camera_array.toml)
are used when ``SYNC4DGS_REAL_SESSIONS`` lists their folders (os.pathsep-separated)."""

import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FIXTURE = ROOT / "tests" / "data" / "real" / "caliscope_post_optimization"
EXTRA = [Path(p) for p in os.environ.get("SYNC4DGS_REAL_SESSIONS", "").split(os.pathsep) if p]


def _run(folder: Path, work: Path, *args: str) -> dict:
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        import real_sync
    finally:
        sys.path.pop(0)
    return real_sync.main([str(folder), str(folder / "camera_array.toml"), str(folder / "timestamps.csv"),
                           "--work", str(work), "--marker_timing", "--max_side", "640", *args])


@pytest.mark.slow
@pytest.mark.parametrize("drops", ["0,4,2,6", "0,3,5,2"])
def test_real_recording_every_camera_aligned_within_a_quarter_frame(tmp_path, drops):
    """On the committed clip (a cut of caliscope's post_optimization recording) both drop sets: every camera
    ``aligned``, within 0.25 frame on average (max 0.5) of the marker-corrected timestamps. On the full
    recording drop set 0,3,5,2 was 23 frames off until lags at the edge of the searched range stopped counting
    as minima (pairscore.local_minima; RESULTS.md, session 20)."""
    pytest.importorskip("cv2.aruco")
    out = _run(FIXTURE, tmp_path / "work", "--drop", drops)
    cams = [c for c in out["cameras_detail"] if c["status"] != "reference"]
    assert [c["status"] for c in cams] == ["aligned"] * 3
    assert out["mae_marker_frames"] <= 0.25
    assert out["max_marker_frames"] <= 0.5


@pytest.mark.slow
@pytest.mark.skipif(not EXTRA, reason="set SYNC4DGS_REAL_SESSIONS to folders of more real recordings")
@pytest.mark.parametrize("folder", EXTRA, ids=[p.name for p in EXTRA])
def test_more_real_recordings_never_confidently_wrong(tmp_path, folder):
    """Honesty on every recording given: a camera reported ``aligned`` is within one frame."""
    pytest.importorskip("cv2.aruco")
    out = _run(folder, tmp_path / "work", "--seed", "0", "--max_drop", "6")
    for c in out["cameras_detail"]:
        if c["status"] == "aligned":
            assert abs(c["err_marker_frames"]) <= 1.0, c
