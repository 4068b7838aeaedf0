"""The ``vpnet`` command: one entry point, one module per subcommand.

Each subcommand module imports torch and friends inside its functions, so ``vpnet --help`` is fast.
"""

from __future__ import annotations

import typer

from vpnet.cli import weights

app = typer.Typer(
    name="vpnet",
    help="VPN (Video-Pose Network): activity recognition from RGB video and 3D poses.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.add_typer(weights.app, name="weights")


def main() -> None:
    app()
