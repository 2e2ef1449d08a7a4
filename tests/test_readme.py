"""The README's Python API example runs as written (issue 20, item 7), and the files it links exist."""

import ast
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


@pytest.mark.slow
def test_the_python_api_example_runs(tmp_path):
    section = README[README.index("## Python API"):]
    code = section.split("```python\n", 1)[1].split("```", 1)[0]
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=900,
                          env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert done.returncode == 0, done.stderr
    sizes, last = done.stdout.splitlines()
    assert sum(ast.literal_eval(sizes)) == 15625  # the leaves partition NB201
    assert (tmp_path / "runs" / "naslid-tiny" / "metrics.jsonl").is_file()
    lid, accuracy = map(float, last.split())
    assert 5 < lid < 32 and 0 < accuracy < 100


def test_every_linked_file_exists():
    for target in re.findall(r"\]\(((?:docs|examples)/[^)#]+)\)", README):
        assert (ROOT / target).is_file(), target
