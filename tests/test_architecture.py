"""The layering of docs/architecture.md, checked by parsing every module's imports.

The table under "## Layers and import rules" is the specification: every sub-package (or top-level module) of
sync4dgs has one row, and the sync4dgs sub-packages it imports (anywhere in it, lazy imports included) must be
EXACTLY the ones its row lists, so the document cannot drift from the code. The documented graph has no cycles.
"""

from __future__ import annotations

import ast
import functools
import re
from pathlib import Path

import pytest

from sync4dgs.model import folder as model_folder

ROOT = Path(__file__).resolve().parents[1]
PKG = ROOT / "sync4dgs"
DOC = ROOT / "docs" / "architecture.md"
ENTRY_POINTS = {"__init__", "__main__"}      # sync4dgs/__init__.py, sync4dgs/__main__.py (-> cli)


@functools.lru_cache(maxsize=None)
def _units() -> dict[str, list[Path]]:
    """sub-package or top-level module name -> its .py files."""
    out: dict[str, list[Path]] = {}
    for f in sorted(PKG.rglob("*.py")):
        parts = f.relative_to(PKG).parts
        name = parts[0][:-3] if len(parts) == 1 else parts[0]
        if name not in ENTRY_POINTS:
            out.setdefault(name, []).append(f)
    return out


@functools.lru_cache(maxsize=None)
def _imports(path: Path) -> set[str]:
    """sync4dgs sub-packages / top-level modules that ``path`` imports (absolute imports, lazy ones too)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.add(node.module)
            if node.module == "sync4dgs":
                out.update(f"sync4dgs.{a.name}" for a in node.names)
    return {m.split(".")[1] for m in out if m.startswith("sync4dgs.") and len(m.split(".")) > 1}


def documented_table() -> dict[str, set[str]]:
    """package -> allowed imports, parsed from the layer table of docs/architecture.md."""
    text = DOC.read_text()
    section = text.split("## Layers and import rules", 1)[1].split("\n## ", 1)[0]
    table: dict[str, set[str]] = {}
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) != 3 or not cells[0].startswith("`sync4dgs."):
            continue
        allowed = set() if cells[2] in ("", "—", "-") else {w.strip(" `") for w in cells[2].split(",")}
        for name in re.findall(r"`sync4dgs\.(\w+)`", cells[0]):
            assert name not in table, f"docs/architecture.md lists sync4dgs.{name} twice"
            table[name] = allowed
    assert table, "docs/architecture.md: no layer table found under '## Layers and import rules'"
    return table


@functools.lru_cache(maxsize=None)
def actual_graph() -> dict[str, set[str]]:
    graph = {}
    for name, files in _units().items():
        deps: set[str] = set()
        for f in files:
            deps |= _imports(f)
        graph[name] = deps - {name}
    return graph


def test_every_package_is_documented_once():
    table, units = documented_table(), set(_units())
    assert set(table) == units, (f"undocumented: {sorted(units - set(table))}; "
                                 f"documented but absent: {sorted(set(table) - units)}")
    unknown = {f"{k} -> {v}" for k, deps in table.items() for v in deps if v not in units}
    assert not unknown, f"docs/architecture.md names unknown packages: {sorted(unknown)}"


@pytest.mark.parametrize("layer", sorted(_units()))
def test_imports_match_the_documented_table_exactly(layer):
    table = documented_table()
    actual = actual_graph()[layer]
    allowed = table.get(layer, set())
    extra = sorted(actual - allowed)
    unused = sorted(allowed - actual)
    bad = [f"{f.relative_to(ROOT)} imports {sorted(_imports(f) & set(extra))}"
           for f in _units()[layer] if _imports(f) & set(extra)]
    assert not extra, f"sync4dgs.{layer} imports {extra}, not allowed by docs/architecture.md:\n" + "\n".join(bad)
    assert not unused, f"docs/architecture.md lets sync4dgs.{layer} import {unused}, which it does not: update the table"


def test_no_cycles_between_packages():
    graph = documented_table()
    state: dict[str, int] = {}          # 1 = on the current path, 2 = done

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for dep in sorted(graph.get(node, ())):
            if state.get(dep) == 1:
                raise AssertionError("import cycle: " + " -> ".join(path[path.index(dep):] + [dep]))
            if dep not in state:
                visit(dep, path + [dep])
        state[node] = 2

    for n in sorted(graph):
        if n not in state:
            visit(n, [n])


# module-level import cycles still in the code (lazy imports both ways); none may be added, and a fixed one
# must leave this list
KNOWN_MODULE_CYCLES = [{"sync4dgs.data.readers.calibrated", "sync4dgs.data.readers.videos"}]


def _module_graph() -> dict[str, set[str]]:
    """module -> sync4dgs modules it imports (a package's own children excluded: importing them from its
    __init__ is not a cycle)."""
    mods: dict[str, Path] = {}
    for f in PKG.rglob("*.py"):
        parts = list(f.relative_to(ROOT).with_suffix("").parts)
        mods[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = f
    graph = {}
    for name, f in mods.items():
        deps = set()
        for node in ast.walk(ast.parse(f.read_text())):
            targets = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                targets = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            deps |= {t for t in targets if t in mods and t != name and not name.startswith(t + ".")}
        graph[name] = deps
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[set[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    out: list[set[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = set()
            while True:
                w = stack.pop()
                comp.add(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(comp)

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_no_new_module_cycles():
    found = _cycles(_module_graph())
    new = [sorted(c) for c in found if c not in KNOWN_MODULE_CYCLES]
    gone = [sorted(c) for c in KNOWN_MODULE_CYCLES if c not in found]
    assert not new, f"import cycles between modules: {new}"
    assert not gone, f"fixed cycles still listed in KNOWN_MODULE_CYCLES: {gone}"


def test_the_checks_see_real_imports():
    """The parser is not vacuous: known arrows of the code are found."""
    graph = actual_graph()
    assert "render" in graph["model"] and "timemap" in graph["data"] and "train" in graph["cli"]


# file and folder names of the model folder M (sync4dgs/model/folder.py owns them; "stage1" is also a results key,
# "offsets.json" / "trajectories.npz" are the stage-1 output format of sync4dgs/sync/align/export.py)
MODEL_FOLDER_NAMES = {"config.json", "train_stats.json", "train.lock", "point_cloud", "model.pt", "time_maps.json",
                      "time_maps_initial.json", "appearance.json", "cameras_refined.json", "offsets.csv", "tb",
                      "checkpoints"}


def test_only_the_model_folder_module_spells_its_file_names():
    owner = PKG / "model" / "folder.py"
    bad = []
    for f in sorted(PKG.rglob("*.py")):
        if f == owner:
            continue
        for node in ast.walk(ast.parse(f.read_text())):
            if isinstance(node, ast.Constant) and node.value in MODEL_FOLDER_NAMES:
                bad.append(f"{f.relative_to(ROOT)}:{node.lineno} {node.value!r}")
    assert not bad, "use sync4dgs.model.folder instead of:\n" + "\n".join(bad)
    owned = {v for k, v in vars(model_folder).items() if k.isupper() and isinstance(v, str)}
    assert MODEL_FOLDER_NAMES <= owned


def test_no_bare_except():
    bad = []
    for f in PKG.rglob("*.py"):
        for node in ast.walk(ast.parse(f.read_text())):
            if isinstance(node, ast.ExceptHandler) and node.type is None:
                bad.append(f"{f.relative_to(PKG.parent)}:{node.lineno}")
    assert not bad, bad
