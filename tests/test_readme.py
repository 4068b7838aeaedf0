"""Every README Python block runs as written.

Blocks that read a dataset (paths like ``/data/ntu``) or the user's own files (a run folder, a video) are
marked ``<!-- readme-test: needs data -->`` on the line before their fence; every other block is extracted
and run, in a fresh interpreter, from the repository root. The quick start's model block loads the
Kinetics-400 weights: it runs when they are in the user's cache (``vpnet weights fetch kinetics400``) and
is skipped with that reason otherwise; it runs the full-size model on CPU (about 30 s), so it is marked
slow (``-m slow``).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
MARK = "<!-- readme-test: needs data -->"


def python_blocks() -> list[tuple[int, str, bool]]:
    """(line, code, needs data) of every ```python block of the README."""
    lines = (REPO / "README.md").read_text().splitlines()
    out, i = [], 0
    while i < len(lines):
        if lines[i].strip() == "```python":
            start = i
            j = i + 1
            while lines[j].strip() != "```":
                j += 1
            needs = start > 0 and lines[start - 1].strip() == MARK
            out.append((start + 1, "\n".join(lines[start + 1:j]), needs))
            i = j
        i += 1
    return out


def test_blocks_are_found_and_marked():
    blocks = python_blocks()
    assert len(blocks) >= 3 and any(not needs for _, _, needs in blocks)
    for line, code, needs in blocks:  # a block that reads dataset paths must say so
        assert needs or not re.search(r"/data/|\bD/", code), f"README line {line}: mark it {MARK}"


@pytest.mark.parametrize("line,code", [
    # a block with the Kinetics weights runs the full-size I3D on CPU (~30 s): slow
    pytest.param(line, code, id=f"line{line}", marks=[pytest.mark.slow] if "kinetics400" in code else [])
    for line, code, needs in python_blocks() if not needs])
def test_block_runs(line, code, monkeypatch):
    if "kinetics400" in code:
        from vpnet.models import weights

        monkeypatch.delenv("VPNET_CACHE", raising=False)  # the user's cache, not the suite's empty one
        cached = weights.cached_path("kinetics400")
        if not cached.is_file():
            pytest.skip(f"README line {line} loads the Kinetics-400 weights, not cached at {cached} "
                        "(vpnet weights fetch kinetics400)")
    r = subprocess.run([sys.executable, "-c", code], cwd=REPO, env={**os.environ, "OMP_NUM_THREADS": "2"},
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, f"README line {line}:\n{r.stderr[-3000:]}"
