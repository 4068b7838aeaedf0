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


@pytest.fixture(autouse=True)
def _no_leftover_log_handlers():
    """Remove the console handlers a CLI command added (``logging.basicConfig`` in ``vpnet prepare``, the
    ``vpnet`` logger's of :func:`vpnet.engine.logs.setup_logging`): in-process CLI tests give each command a
    stderr that is closed afterwards, and a handler left on it would turn the next command's warnings into a
    "Logging error" traceback in its output."""
    import logging

    package = logging.getLogger("vpnet")
    before = set(logging.root.handlers) | set(package.handlers)
    yield
    for logger in (logging.root, package):
        for handler in logger.handlers[:]:
            if handler not in before and (type(handler) is logging.StreamHandler or getattr(handler, "_vpnet", False)):
                logger.removeHandler(handler)
                handler.close()
    if not package.handlers:
        package.propagate = True
