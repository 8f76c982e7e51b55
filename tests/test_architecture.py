"""The import rules of docs/architecture.md, checked by parsing every module's imports."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parents[1] / "sync4dgs"

# package -> sync4dgs sub-packages it must never import
FORBIDDEN = {
    "data": {"model", "render", "train", "eval", "export", "viewer", "cli"},
    "render": {"data", "sync", "model", "train", "eval", "export", "viewer", "cli"},
    "model": {"train", "eval", "export", "viewer", "cli", "data"},
    "sync": {"train", "eval", "export", "viewer", "cli"},
    "eval": {"train", "viewer", "cli"},
    "export": {"train", "viewer", "cli"},
    "viewer": {"train", "cli"},
    "train": {"viewer", "cli"},
}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.add(node.module)
    return {m.split(".")[1] for m in out if m.startswith("sync4dgs.") and len(m.split(".")) > 1}


@pytest.mark.parametrize("layer", sorted(FORBIDDEN))
def test_layer_imports(layer):
    bad = []
    for f in sorted((PKG / layer).rglob("*.py")):
        hit = _imports(f) & FORBIDDEN[layer]
        if hit:
            bad.append(f"{f.relative_to(PKG.parent)} imports {sorted(hit)}")
    assert not bad, "\n".join(bad)


def test_no_bare_except():
    bad = []
    for f in PKG.rglob("*.py"):
        for node in ast.walk(ast.parse(f.read_text())):
            if isinstance(node, ast.ExceptHandler) and node.type is None:
                bad.append(f"{f.relative_to(PKG.parent)}:{node.lineno}")
    assert not bad, bad
