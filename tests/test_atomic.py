"""naslid.atomic: a write replaces the file whole or not at all, with the umask's mode, and is the only writer."""

import json
import math
import os
import re
import stat
from pathlib import Path

import pytest

from naslid.atomic import copy_file, write_bytes, write_json, write_text, write_with

PACKAGE = Path(__file__).parents[1] / "src" / "naslid"


def test_write_json_replaces_the_file_with_json_dumps_text(tmp_path):
    path = tmp_path / "result.json"
    path.write_text("old")
    data = {"schema": "naslid.test/1", "values": [1.5, None, "x"]}
    assert write_json(path, data, indent=1, trailing_newline=True) == path
    assert path.read_text() == json.dumps(data, indent=1) + "\n"
    write_json(path, data)
    assert path.read_text() == json.dumps(data)
    assert [p.name for p in tmp_path.iterdir()] == ["result.json"]


def test_an_exception_mid_write_leaves_the_old_file_and_no_temporary(tmp_path):
    path = tmp_path / "state.pt"
    path.write_bytes(b"old contents")
    seen = []

    def half_write(handle):
        handle.write(b"new contents, cut short")
        handle.flush()
        seen.extend(p.name for p in tmp_path.glob("*.tmp"))  # what the runs' stale-file cleanup would find
        raise KeyboardInterrupt  # a kill arrives mid-write

    with pytest.raises(KeyboardInterrupt):
        write_with(path, half_write)
    assert len(seen) == 1 and re.fullmatch(r"state\.pt\..+\.tmp", seen[0])
    assert path.read_bytes() == b"old contents"
    assert [p.name for p in tmp_path.iterdir()] == ["state.pt"]


def test_json_that_cannot_be_written_leaves_the_old_file(tmp_path):
    path = tmp_path / "scores.json"
    path.write_text("{}")
    with pytest.raises(ValueError, match="Out of range float values are not JSON compliant"):
        write_json(path, {"tau": math.nan}, indent=1, allow_nan=False)
    assert path.read_text() == "{}"
    assert [p.name for p in tmp_path.iterdir()] == ["scores.json"]


@pytest.mark.parametrize("umask", [0o022, 0o027, 0o002])
def test_file_mode_follows_the_umask(tmp_path, umask):
    previous = os.umask(umask)
    try:
        written = [write_bytes(tmp_path / "a.bin", b"\x00\x01"), write_text(tmp_path / "b.md", "| a |\n"),
                   write_json(tmp_path / "c.json", [1])]
        (tmp_path / "reference").touch()
    finally:
        os.umask(previous)
    expected = 0o666 & ~umask
    assert stat.S_IMODE((tmp_path / "reference").stat().st_mode) == expected
    for path in written:
        assert stat.S_IMODE(path.stat().st_mode) == expected, path.name


def test_copy_file_copies_the_bytes(tmp_path):
    source = tmp_path / "root_epoch2.pt"
    source.write_bytes(bytes(range(256)) * 1000)
    target = tmp_path / "copy" / "latest.pt"
    target.parent.mkdir()
    assert copy_file(source, target) == target
    assert target.read_bytes() == source.read_bytes()
    assert [p.name for p in target.parent.iterdir()] == ["latest.pt"]


def test_write_text_keeps_the_text_as_given(tmp_path):
    text = "line one\r\nline two: caf\u00e9\n"
    write_text(tmp_path / "notes.md", text)
    assert (tmp_path / "notes.md").read_bytes() == text.encode("utf-8")


# Direct writes: a temporary file and a rename, or a write that is not atomic at all.
_WRITES_OUTSIDE_ATOMIC = re.compile(r"\bmkstemp\b|NamedTemporaryFile|\bos\.(replace|rename)\(|"
                                    r"\.(write_text|write_bytes)\(|\bjson\.dump\(")


@pytest.mark.parametrize("path", sorted(PACKAGE.rglob("*.py")), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_files_are_written_only_through_naslid_atomic(path):
    if path == PACKAGE / "atomic.py":
        return
    found = [f"line {number}: {line.strip()}" for number, line in enumerate(path.read_text().splitlines(), 1)
             if _WRITES_OUTSIDE_ATOMIC.search(line)]
    assert not found, f"{path.relative_to(PACKAGE)} writes a file itself; use naslid.atomic: {found}"
