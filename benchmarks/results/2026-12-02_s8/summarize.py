"""Markdown rows from the session-8 real_sync.py JSONs: python summarize.py real_sync/*.json"""
import json
import sys
from pathlib import Path

for p in sorted(sys.argv[1:]):
    d = json.loads(Path(p).read_text())
    rows = d["cameras_detail"]
    drops = ",".join(str(r["drop"]) for r in rows)
    cells = []
    bad = []
    for r in rows[1:]:
        em = r["err_marker_frames"]
        cells.append(f"{r['err_frames']:+.2f} / {em:+.2f} {r['status'].replace('low_confidence', 'low')} ({r['confidence']:.2f})")
        if r["status"] == "aligned" and (abs(r["err_frames"]) > 0.5 or abs(em) > 0.5):
            bad.append(f"{r['camera']} {r['err_frames']:+.2f}/{em:+.2f}")
    tag = Path(p).stem.split("_")[-1]
    print(f"| {tag} | {drops} | " + " | ".join(cells) + f" | {d['mae_frames']:.3f} / {d['max_frames']:.3f} | "
          f"{d['mae_marker_frames']:.3f} / {d['max_marker_frames']:.3f} | {d['align_s']:.1f} s | {', '.join(bad) or 'none'} |")
