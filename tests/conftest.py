"""Fixtures shared by the whole suite.

Real sample files live beside the project in ``../shared/data`` (or wherever ``VPNET_SHARED_DATA``
points); tests that need them take the ``shared_data`` fixture and skip, with the reason, when the
folder is absent. Every such test has a twin on generated fixtures that always runs.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _shared_data_dir() -> Path:
    env = os.environ.get("VPNET_SHARED_DATA")
    return Path(env) if env else REPO.parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """``../shared/data`` (or ``$VPNET_SHARED_DATA``); skips the test when it is absent."""
    path = _shared_data_dir()
    if not path.is_dir():
        pytest.skip(f"real sample data not found at {path} (set VPNET_SHARED_DATA to its folder)")
    return path


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    """Keep each test session's weight cache out of the user's, unless a test opts in.

    ``VPNET_TEST_REAL_CACHE=1`` lets the tests reuse the user's cache (fast reruns of the
    real-weights tests); by default they use ``VPNET_CACHE`` if already set, else a temp dir.
    """
    if os.environ.get("VPNET_TEST_REAL_CACHE") != "1" and "VPNET_CACHE" not in os.environ:
        monkeypatch.setenv("VPNET_CACHE", str(tmp_path_factory.getbasetemp() / "vpnet-cache"))
    yield
