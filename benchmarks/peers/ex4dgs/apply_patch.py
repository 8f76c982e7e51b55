"""Apply a unified diff (``-p1`` paths) to a source tree, for machines without ``patch`` (build.sh's fallback).

    python benchmarks/peers/ex4dgs/apply_patch.py PATCH TREE

Each hunk's old lines (context and removals) must appear exactly, once, in the file; they are replaced by the
hunk's new lines (context and additions). A hunk whose new lines are already there is skipped (applying twice is
harmless, like ``patch --forward``). Exit status 1, naming the file and hunk, when a hunk does not match.
"""

from __future__ import annotations

import sys
from pathlib import Path


def hunks(text: str) -> list[tuple[str, list[str], list[str]]]:
    """[(relative path, old lines, new lines)] of a unified diff."""
    out, path, old, new = [], None, None, None
    for line in text.splitlines():
        if line.startswith("+++ "):
            path = line[4:].split("\t")[0].split("/", 1)[1]
        elif line.startswith("--- "):
            continue
        elif line.startswith("@@"):
            old, new = [], []
            out.append((path, old, new))
        elif old is not None and line[:1] in (" ", "-", "+", ""):
            body = line[1:]
            if line[:1] in (" ", ""):
                old.append(body)
                new.append(body)
            elif line[:1] == "-":
                old.append(body)
            else:
                new.append(body)
    return out


def apply(patch: Path, tree: Path) -> list[str]:
    """Apply ``patch`` under ``tree``; returns one line per hunk (applied / already applied)."""
    report = []
    for k, (rel, old, new) in enumerate(hunks(patch.read_text())):
        f = tree / rel
        lines = f.read_text().split("\n")
        def find(block):
            return [i for i in range(len(lines) - len(block) + 1) if lines[i:i + len(block)] == block]
        if len(find(new)) == 1 and old != new:
            report.append(f"{rel}: hunk {k} already applied")
            continue
        at = find(old)
        if len(at) != 1:
            raise SystemExit(f"{f}: hunk {k} of {patch} matches {len(at)} places (needs exactly 1)")
        lines[at[0]:at[0] + len(old)] = new
        f.write_text("\n".join(lines))
        report.append(f"{rel}: hunk {k} applied")
    return report


if __name__ == "__main__":
    if len(sys.argv) != 3:
        raise SystemExit(__doc__.split("\n\n")[1])
    print("\n".join(apply(Path(sys.argv[1]), Path(sys.argv[2]))))
