"""User-facing errors of every subcommand: one clear line on stderr, no traceback, an exit code per class."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from vpnet.errors import (
    CheckpointError,
    ConfigError,
    DataError,
    InferenceError,
    OutputError,
    TrainingError,
    VpnetError,
    is_worker_death,
)
from vpnet.extras import MissingExtraError

if TYPE_CHECKING:
    from vpnet.config import Config


#: exit code of each error class, most specific first: the one place the CLI decides them (docs/errors.md
#: "Exit codes" table says the same). Anything else that escapes is a bug and keeps its traceback.
EXIT_CODES: tuple[tuple[type[BaseException], int], ...] = (
    (ConfigError, 2),  # a config value or command-line argument (typer's usage errors are 2 too)
    (TrainingError, 3),  # training stopped (NaN loss, a data worker killed, a full disk); what was kept is said
    (OutputError, 4),  # an output that cannot be written (checked before work) or a full disk
    (DataError, 1),  # an input file: data, weights (WeightsError), a missing file
    (CheckpointError, 1),
    (InferenceError, 1),  # a model that does not fit the input (a foreign ONNX file, another skeleton)
    (MissingExtraError, 1),  # an optional dependency (extra) is missing: the message gives the install command
    (FileNotFoundError, 1),
    (OSError, 4),  # the system refused a write or a read: no permission, no space
)
#: outcomes that are not errors: a batch command (prepare) that skipped and reported unusable items; Ctrl-C;
#: SIGTERM, after which training wrote a checkpoint (rerun to resume).
EXIT_ITEMS_FAILED = 1
EXIT_INTERRUPTED = 130
EXIT_SIGTERM = 143


def exit_code(error: BaseException) -> int | None:
    """The exit code of a user-facing error, or None for a bug."""
    for cls, code in EXIT_CODES:
        if isinstance(error, cls):
            return code
    return None


def error_line(error: BaseException, doing: str | None = None) -> str:
    """One line for a user: the message, or for an OSError what could not be done and why."""
    if isinstance(error, OSError) and not isinstance(error, VpnetError) and error.strerror:
        where = error.filename2 or error.filename  # os.replace(tmp, dst) names the destination second
        what = f"cannot {doing}" if doing else "file operation failed"
        return f"{what}: {error.strerror}" + (f" ({where})" if where else "")
    return str(error)


@contextmanager
def user_errors(doing: str | None = None) -> Iterator[None]:
    """Turn the errors a user can fix into ``error: ...`` on stderr and the exit code of :data:`EXIT_CODES`;
    ``doing`` ("write model.safetensors") words an OSError. Anything else is a bug and keeps its traceback
    (``--log-level debug`` is not needed to see it)."""
    try:
        yield
    except KeyboardInterrupt:
        typer.echo("interrupted", err=True)
        raise typer.Exit(EXIT_INTERRUPTED) from None
    except Exception as e:
        if is_worker_death(e):  # train turns it into a TrainingError; evaluate and extract-features meet it here
            first = str(e).strip().splitlines()[0]
            e = TrainingError(f"a data-loading worker process died ({first}); nothing half-written was kept. Run the "
                              "same command again (extract-features resumes where it stopped); if the system killed "
                              "it for memory, lower data.num_workers or data.batch_size")
        code = exit_code(e)
        if code is None:
            raise
        logging.getLogger("vpnet").debug("error details", exc_info=True)
        typer.echo(f"error: {error_line(e, doing)}", err=True)
        raise typer.Exit(code) from None


def load(config: Path | None, overrides: list[str] | None) -> Config:
    """:func:`vpnet.engine.config_loader.load_config` with the CLI's argument types."""
    from vpnet.engine.config_loader import load_config

    return load_config(config, list(overrides or []))
