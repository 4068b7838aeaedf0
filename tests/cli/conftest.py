"""Fixtures of the CLI tests: generated NTU skeletons and a finished tiny pose-only run on them (a few
seconds of CPU, trained once per test module)."""
from __future__ import annotations

import pytest
from typer.testing import CliRunner

from vpnet.cli import app
from vpnet.data import synthetic

from ._bad_args import pose_run


def invoke(*args: object):
    """``vpnet ARGS...`` in-process."""
    return CliRunner().invoke(app, [str(a) for a in args])


def one_error(r, code: int, *fragments: str) -> str:
    """The command failed with ``code`` and exactly one ``error:`` line holding ``fragments`` (log lines of
    work already done may precede it); no traceback, usage panel or box. ``r``: a ``CliRunner`` result or a
    ``subprocess.CompletedProcess``. Returns the line."""
    out = r.output if hasattr(r, "output") else r.stdout + r.stderr
    assert (r.exit_code if hasattr(r, "exit_code") else r.returncode) == code, out
    assert "Traceback" not in out and "Usage:" not in out and "\u256d" not in out, out
    if getattr(r, "exception", None) is not None:
        assert isinstance(r.exception, SystemExit), repr(r.exception)
    lines = [x for x in out.splitlines() if x.startswith("error:")]
    assert len(lines) == 1, out
    for f in fragments:
        assert f in lines[0], (f, lines[0])
    return lines[0]


@pytest.fixture(scope="module")
def poses(tmp_path_factory):
    """Generated NTU-format skeletons (no videos): 2 classes x 6 samples, both cs splits."""
    return synthetic.make_ntu(tmp_path_factory.mktemp("poses"), num_classes=2, per_class=6, frames=24,
                              videos=False, seed=4)


@pytest.fixture(scope="module")
def trained(poses, tmp_path_factory):
    """A finished tiny pose-only run on ``poses`` (its folder)."""
    root = tmp_path_factory.mktemp("trained")
    r = invoke("train", *pose_run(poses, root))
    assert r.exit_code == 0, r.output
    return root / "run"
