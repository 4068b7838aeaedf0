"""User-facing errors of the engine's subcommands: one clear line on stderr, no traceback."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import typer

if TYPE_CHECKING:
    from vpnet.config import Config


@contextmanager
def user_errors() -> Iterator[None]:
    """Turn the errors a user can fix (config, data, checkpoint, training) into ``error: ...`` and an
    exit code: 2 for a config problem, 1 otherwise. Anything else is a bug and keeps its traceback."""
    try:
        yield
    except Exception as e:
        from vpnet.data.types import DataError
        from vpnet.engine.config import ConfigError

        known: tuple[type[BaseException], ...] = (DataError, FileNotFoundError)
        try:  # these modules import torch; only look them up once something failed
            from vpnet.engine.checkpoint import CheckpointError
            from vpnet.engine.train import TrainingError

            known = (*known, CheckpointError, TrainingError)
        except ImportError:
            pass
        if isinstance(e, ConfigError):
            typer.echo(f"error: {e}", err=True)
            raise typer.Exit(2) from None
        if isinstance(e, known):
            logging.getLogger("vpnet").debug("error details", exc_info=True)
            typer.echo(f"error: {e}", err=True)
            raise typer.Exit(1) from None
        raise


def load(config: Path | None, overrides: list[str] | None) -> Config:
    """:func:`vpnet.engine.config.load_config` with the CLI's argument types."""
    from vpnet.engine.config import load_config

    return load_config(config, list(overrides or []))
