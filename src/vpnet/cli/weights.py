"""``vpnet weights``: fetch, convert and list pretrained weights."""

from __future__ import annotations

import typer

app = typer.Typer(help="Pretrained weights: fetch, verify, convert, list.", no_args_is_help=True)
