"""The ``vpnet`` command: one entry point, one module per subcommand.

Each subcommand module imports torch and friends inside its functions, so ``vpnet --help`` is fast.

Every failure is one ``error: ...`` line on stderr (:mod:`vpnet.cli._errors`), usage errors included:
click's and Typer's boxed panels are reworded by :class:`OneLineErrors`. SIGTERM ends every command
the way Ctrl-C does (temporary files removed, exit 143), except ``train``, which writes a checkpoint.
"""

from __future__ import annotations

import os
import signal
import sys
from typing import Any

import typer
from typer._click import exceptions as click_exc  # typer >= 0.20 vendors click: its exception types live here
from typer.core import TyperGroup

from vpnet.cli import demo, evaluate, extract_features, info, predict, prepare, train, viz, weights
from vpnet.cli._errors import EXIT_INTERRUPTED, EXIT_SIGTERM, TRACEBACK_ENV, Terminated, one_line, report_bug


class OneLineErrors(TyperGroup):
    """The top-level group: click's usage errors (an unknown option, a missing argument, a bad value)
    become ``error: <message> (see 'vpnet CMD --help')``, exit 2, and SIGTERM raises :class:`Terminated`
    in the main thread so that the ``finally`` and ``except BaseException`` blocks that remove temporary
    files run, as they do for Ctrl-C."""

    def main(self, args: Any = None, prog_name: str | None = None, complete_var: str | None = None,
             standalone_mode: bool = True, **extra: Any) -> Any:
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        old = _install_sigterm()
        try:
            code = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except click_exc.NoArgsIsHelpError as e:  # `vpnet` or `vpnet viz` alone: the help, as before
            e.show()
            code = e.exit_code
        except click_exc.UsageError as e:
            where = e.ctx.command_path if e.ctx is not None else "vpnet"
            typer.echo(f"error: {one_line(e.format_message())} (see '{where} --help')", err=True)
            code = e.exit_code
        except click_exc.ClickException as e:
            typer.echo(f"error: {one_line(e.format_message())}", err=True)
            code = e.exit_code
        except typer.Abort:
            typer.echo("error: aborted", err=True)
            code = 1
        except Terminated:  # outside a command's own handling (e.g. while parsing)
            code = EXIT_SIGTERM
        except KeyboardInterrupt:
            typer.echo("interrupted", err=True)
            code = EXIT_INTERRUPTED
        except Exception as e:  # a bug outside a command's user_errors block (e.g. printing its summary)
            if os.environ.get(TRACEBACK_ENV) == "1":
                raise
            code = report_bug(e)
        finally:
            _restore_sigterm(old)
        sys.exit(code if isinstance(code, int) else 0)


def _raise_terminated(signum: int, frame: Any) -> None:
    raise Terminated()


def _install_sigterm() -> Any:
    try:
        return signal.signal(signal.SIGTERM, _raise_terminated)
    except ValueError:  # not the main thread (an embedding application): leave signals alone
        return None


def _restore_sigterm(old: Any) -> None:
    if old is not None:
        try:
            signal.signal(signal.SIGTERM, old)
        except ValueError:
            pass


app = typer.Typer(
    name="vpnet",
    help="VPN (Video-Pose Network): activity recognition from RGB video and 3D poses.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    cls=OneLineErrors,
)
app.add_typer(weights.app, name="weights")
app.command("train")(train.train_command)
app.command("evaluate")(evaluate.evaluate_command)
app.command("extract-features")(extract_features.extract_features_command)
app.command("info")(info.info_command)
app.command("demo")(demo.demo_command)
app.command("prepare")(prepare.prepare_command)
app.command("predict")(predict.predict_command)
app.command("export")(predict.export_command)
app.add_typer(predict.pose_app, name="pose")
app.add_typer(viz.app, name="viz")


def main() -> None:
    app()
