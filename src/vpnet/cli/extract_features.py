"""``vpnet extract-features``: run a frozen backbone once and cache its feature maps and the poses."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from vpnet.cli._errors import load, user_errors
from vpnet.cli.train import OVERRIDES_HELP


def extract_features_command(
    config: Path = typer.Option(..., "--config", "-c", help="YAML config: the data and the backbone."),
    out: Path = typer.Option(..., "--out", "-o", help="Feature cache folder (then train with data.feature_dir=OUT)."),
    overrides: Optional[List[str]] = typer.Argument(None, help=OVERRIDES_HELP, show_default=False),
    split: Optional[List[str]] = typer.Option(None, "--split", help="Split(s) to extract (repeatable; default: all)."),
    views: int = typer.Option(1, "--views", min=1, help="Training clips stored per video of the train split "
                              "(epoch e trains on view e mod VIEWS)."),
    dtype: str = typer.Option("float16", "--dtype", help="On-disk precision: float16 or bfloat16."),
    checkpoint: Optional[Path] = typer.Option(
        None, "--checkpoint", help="Take the backbone from this checkpoint (e.g. an l1 run) instead of "
        "model.backbone_weights."),
) -> None:
    """Cache backbone feature maps (Mixed_5c for I3D) in half precision, with the poses of each clip.

    Train the VPN head on them with `vpnet train -c CONFIG data.feature_dir=OUT`; it runs the same
    model code after the backbone. Interrupted extraction resumes where it stopped.
    """
    with user_errors():
        cfg = load(config, overrides)
        from vpnet.engine.features import extract_features
        from vpnet.engine.logs import setup_logging

        setup_logging(None)
        result = extract_features(cfg, out, splits=split or None, views=views, dtype=dtype, checkpoint=checkpoint)
    for name, meta in result.items():
        typer.echo(f"{name}: {meta['written']} items, features {tuple(meta['feature_shape'])} {meta['dtype']}, "
                   f"{meta['failed']} failed -> {out / name}")
