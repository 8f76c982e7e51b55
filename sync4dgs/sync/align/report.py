"""Plain-language warnings about a stage-1 result, for the align command and for training that runs stage 1."""

from __future__ import annotations

from sync4dgs.timemap import TimeMaps


def alignment_warnings(maps: TimeMaps) -> list[str]:
    """Messages for cameras whose offset is uncertain ("low_confidence") or missing ("unaligned"); [] when every
    camera is the reference or "aligned" (or a fixed/known map)."""
    low = sorted(n for n, m in maps.cameras.items() if m.status == "low_confidence")
    none = sorted(n for n, m in maps.cameras.items() if m.status == "unaligned")
    out = []
    if low:
        out.append(f"{len(low)} of {len(maps.cameras)} cameras have an uncertain offset (low_confidence: "
                   f"{', '.join(low)}): the evidence linking them to {maps.reference_camera} is weak, so an offset "
                   "may be off by a whole period of a repetitive motion. Stage 2 refines them without the evidence "
                   "gate but cannot recover errors much larger than a frame; check align_plot.png, and prefer "
                   "longer clips with more moving content, or known offsets (train --offsets FILE).")
    if none:
        out.append(f"{len(none)} cameras could not be aligned (unaligned: {', '.join(none)}; no moving content "
                   "linked them to the others): they start at offset 0 and stage 2 learns them from the images only.")
    return out


def mask_choice_note(maps: TimeMaps) -> str | None:
    """One line saying which foreground masks ``fg_mode`` "auto" used, when it tried both (None otherwise)."""
    info = maps.extra.get("fg_mode")
    if not isinstance(info, dict) or info.get("aligned_motion") is None:
        return None
    return (f"foreground masks: {info['used']} (median masks: {info['aligned_median']} cameras aligned, total "
            f"confidence {info['confidence_median']:.2f}; motion masks: {info['aligned_motion']} aligned, "
            f"{info['confidence_motion']:.2f})")
