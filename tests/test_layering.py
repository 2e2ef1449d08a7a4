"""Dependencies point one way (STYLE.md house rule 3), for every module of naslid.

The floors, bottom up: the ground floor (naslid's top-level modules: `atomic`, `hooks`, `memory`, `options`,
`plugins`, `reading`, `registry`, `ranker_names`, ...: utilities every room may use), then the rooms in ROOMS order,
`cli` last (the `naslid.cli` package and `naslid.__main__`). A ground-floor module imports no room at all; a room
imports the ground floor and the rooms before it in ROOMS, never a later one (`lid` and `data`: no other room).
Imports inside functions count: a lazy import is still a dependency.
"""

import ast
from pathlib import Path

import pytest

ROOMS = ["spaces", "nn", "data", "lid", "partition", "train", "search", "rankers", "bench", "runs", "cli"]
PACKAGE = Path(__file__).parents[1] / "src" / "naslid"
# lid must profile any model, so it imports no other room at all
ISOLATED = {"lid", "data"}
GROUND = "the ground floor"


def _room_of(path: Path) -> str:
    """The sub-package a module is in; a top-level module is on the ground floor, except the entry point."""
    relative = path.relative_to(PACKAGE)
    if len(relative.parts) > 1:
        return relative.parts[0]
    return "cli" if relative.stem == "__main__" else GROUND


def _imported_rooms(path: Path) -> set[str]:
    rooms = set()
    for node in ast.walk(ast.parse(path.read_text())):
        names = []
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        for name in names:
            parts = name.split(".")
            if parts[0] == "naslid" and len(parts) > 1 and parts[1] in ROOMS:
                rooms.add(parts[1])
    return rooms


@pytest.mark.parametrize("path", sorted(PACKAGE.rglob("*.py")), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_no_upward_imports(path):
    room = _room_of(path)
    assert room in ROOMS or room == GROUND, f"{path.relative_to(PACKAGE)}: sub-package {room!r} is not in ROOMS"
    allowed = set() if room in ISOLATED or room == GROUND else set(ROOMS[: ROOMS.index(room)])
    upward = _imported_rooms(path) - allowed - {room}
    assert not upward, f"{path.relative_to(PACKAGE)} ({room}) imports {sorted(upward)}"


def test_the_ground_floor_is_checked_and_lazy_imports_count(tmp_path):
    assert _room_of(PACKAGE / "memory.py") == GROUND and _room_of(PACKAGE / "cli" / "__init__.py") == "cli"
    assert _room_of(PACKAGE / "__main__.py") == "cli"
    module = tmp_path / "lazy.py"
    module.write_text("def flags():\n    from naslid.runs.configure import run_options\n    return run_options()\n")
    assert _imported_rooms(module) == {"runs"}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _module_imports(path: Path, modules: set[str]) -> set[str]:
    """naslid modules `path` imports anywhere (inside functions and TYPE_CHECKING blocks too)."""
    package = _module_name(path) if path.name == "__init__.py" else _module_name(path).rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            for alias in node.names:
                target = f"{base}.{alias.name}"
                found.add(target if target in modules else base)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return (found & modules) - {_module_name(path)}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The import graph's strongly connected components of more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    components = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        for target in sorted(graph[module]):
            if target not in index:
                visit(target)
                low[module] = min(low[module], low[target])
            elif target in stack:
                low[module] = min(low[module], index[target])
        if low[module] == index[module]:
            component = []
            while not component or component[-1] != module:
                component.append(stack.pop())
            if len(component) > 1:
                components.append(sorted(component))

    for module in sorted(graph):
        if module not in index:
            visit(module)
    return components


def test_no_import_cycles():
    paths = sorted(PACKAGE.rglob("*.py"))
    modules = {_module_name(path) for path in paths}
    graph = {_module_name(path): _module_imports(path, modules) for path in paths}
    assert _cycles(graph) == []


def test_cycle_finder_finds_a_cycle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []
