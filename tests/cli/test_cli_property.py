"""Property test of issue 22: every command, driven with generated bad arguments (:mod:`tests.cli._bad_args`),
ends with an exit code of the README's table, one ``error:`` line, no traceback, no input modified and
nothing left behind. ``VPNET_PROPERTY_CASES`` sets the number of command lines (``benchmarks/bench_sweep.py``
runs hundreds)."""

from __future__ import annotations

import os

import pytest

from ._bad_args import cases, check, make_world

#: the first 16 cases are one per command template (every command), the rest drawn at random.
N = int(os.environ.get("VPNET_PROPERTY_CASES", "24"))


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    return make_world(tmp_path_factory.mktemp("world"))


def test_generated_bad_command_lines(world):
    failures = {}
    for args in cases(world, N, seed=22):
        problems = check(world, args)
        if problems:
            failures[" ".join(args)] = problems
    assert not failures, "\n".join(f"vpnet {k}: {v}" for k, v in failures.items())
