"""Dependencies point one way: a room imports only from rooms above it (STYLE.md house rule 3)."""

import ast
from pathlib import Path

import pytest

ROOMS = ["spaces", "nn", "data", "lid", "partition", "train", "search", "bench", "runs", "cli"]
PACKAGE = Path(__file__).parents[1] / "src" / "naslid"
# lid must profile any model, so it imports no other room at all
ISOLATED = {"lid", "data"}


def _room_of(path: Path) -> str:
    relative = path.relative_to(PACKAGE)
    return relative.parts[0] if len(relative.parts) > 1 else relative.stem


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
    if room not in ROOMS:
        return
    allowed = set() if room in ISOLATED else set(ROOMS[: ROOMS.index(room)])
    upward = _imported_rooms(path) - allowed - {room}
    assert not upward, f"{path.relative_to(PACKAGE)} ({room}) imports {sorted(upward)}"
