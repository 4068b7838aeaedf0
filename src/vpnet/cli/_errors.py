"""User-facing errors of every subcommand: one clear line on stderr, no traceback, an exit code per class."""

from __future__ import annotations

import errno
import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from typer._click import exceptions as click_exc  # typer >= 0.20 vendors click

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


#: exit code of each error class, most specific first: the one place the CLI decides them (docs/errors.md's
#: "Exit codes" table says the same). Anything else that escapes is a bug (EXIT_BUG).
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
#: a bug in vpnet (any other exception): one line on stderr, the traceback in a crash log (EX_SOFTWARE).
EXIT_BUG = 70
#: set to 1 to let a bug's traceback through to the terminal (for developers).
TRACEBACK_ENV = "VPNET_TRACEBACK"


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised in the main thread by the CLI's handler (:mod:`vpnet.cli`): a KeyboardInterrupt, so
    every cleanup that Ctrl-C runs (temporary files, worker pools, progress bars) runs for it too."""


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
        kept = ""
        if error.errno in (errno.ENOSPC, errno.EDQUOT):  # every vpnet write is atomic (vpnet._io)
            kept = "; no half-written file was kept and an earlier version of it, if any, is unchanged"
        return f"{what}: {error.strerror}" + (f" ({where})" if where else "") + kept
    return one_line(str(error))


def one_line(text: str) -> str:
    """``text`` on one line: its lines joined with "; " (a multi-line library message, e.g. every mismatched
    tensor of a checkpoint, stays whole; the full text is also in the log)."""
    return "; ".join(line.strip() for line in text.splitlines() if line.strip())


@contextmanager
def user_errors(doing: str | None = None) -> Iterator[None]:
    """Turn the errors a user can fix into ``error: ...`` on stderr and the exit code of :data:`EXIT_CODES`;
    ``doing`` ("write model.safetensors") words an OSError. Anything else is a bug: one line naming it and
    the crash log that holds its traceback (:func:`crash_log`), exit :data:`EXIT_BUG`; with
    ``VPNET_TRACEBACK=1`` the traceback goes to the terminal instead."""
    try:
        yield
    except Terminated:
        typer.echo("terminated (SIGTERM); temporary files removed", err=True)
        raise typer.Exit(EXIT_SIGTERM) from None
    except KeyboardInterrupt:
        typer.echo("interrupted", err=True)
        raise typer.Exit(EXIT_INTERRUPTED) from None
    except (typer.Exit, typer.Abort, click_exc.ClickException):  # the CLI's own: its group formats them
        raise
    except Exception as e:
        if is_worker_death(e):  # train turns it into a TrainingError; evaluate and extract-features meet it here
            first = str(e).strip().splitlines()[0]
            e = TrainingError(f"a data-loading worker process died ({first}); nothing half-written was kept. Run the "
                              "same command again (extract-features resumes where it stopped); if the system killed "
                              "it for memory, lower data.num_workers or data.batch_size")
        code = exit_code(e)
        if code is None:
            if os.environ.get(TRACEBACK_ENV) == "1":
                raise
            raise typer.Exit(report_bug(e)) from None
        logging.getLogger("vpnet").debug("error details: %s", e, exc_info=True)
        typer.echo(f"error: {error_line(e, doing)}", err=True)
        raise typer.Exit(code) from None


def report_bug(error: BaseException) -> int:
    """One line on stderr naming a bug and the crash log that holds its traceback; :data:`EXIT_BUG`."""
    typer.echo(f"error: internal error, a bug in vpnet ({type(error).__name__}: {one_line(str(error))[:300]}); "
               f"the traceback is in {crash_log(error)}", err=True)
    return EXIT_BUG


def crash_log(error: BaseException) -> str:
    """Write ``error``'s traceback (and the command line) to ``<vpnet cache>/logs/crash-<time>-<pid>.log`` and to
    the log files vpnet's logger writes (a run's ``train.log``); the file's path, or "the log" where the cache
    cannot be written."""
    import sys
    import time
    import traceback

    from vpnet._io import atomic_write_bytes, cache_dir

    text = f"vpnet {' '.join(sys.argv[1:])}\n" + "".join(traceback.format_exception(error))
    for handler in logging.getLogger("vpnet").handlers:
        if isinstance(handler, logging.FileHandler):
            handler.stream.write(text)
            handler.flush()
    path = cache_dir() / "logs" / f"crash-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}.log"
    try:
        atomic_write_bytes(path, text.encode())
    except OSError:
        return "the log"
    return str(path)


def load(config: Path | None, overrides: list[str] | None) -> Config:
    """:func:`vpnet.engine.config_loader.load_config` with the CLI's argument types."""
    from vpnet.engine.config_loader import load_config

    return load_config(config, list(overrides or []))
