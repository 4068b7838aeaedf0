"""``vpnet train``: train a config (a preset from ``configs/`` plus dotted overrides)."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from vpnet.cli._errors import EXIT_SIGTERM, load, user_errors

OVERRIDES_HELP = "Dotted overrides applied after the config file, e.g. model.t_p=30 train.epochs=2 data.batch_size=2."


def train_command(
    config: Optional[Path] = typer.Option(None, "--config", "-c", help="YAML config or preset (configs/*.yaml)."),
    overrides: Optional[List[str]] = typer.Argument(None, help=OVERRIDES_HELP, show_default=False),
    resume: Optional[str] = typer.Option(
        None, "--resume", help="Training-state checkpoint to continue from. Default: continue from the newest "
        "valid checkpoint of the run folder, if it has one."),
    run_dir: Optional[Path] = typer.Option(None, "--run-dir", help="Run folder (default: <output_dir>/<name>)."),
    print_config: bool = typer.Option(False, "--print-config", help="Print the resolved config and exit."),
) -> None:
    """Train a model: checkpoints, logs and the resolved config go to the run folder.

    Multi-process (DDP): torchrun --nproc-per-node N -m vpnet.cli train -c CONFIG ...
    (gloo on CPU, NCCL on GPU; data.batch_size is per process, train.global_batch over all of them).
    SIGTERM writes a checkpoint and exits with code 143; running the same command again resumes.
    """
    with user_errors():
        cfg = load(config, overrides)
        if print_config:
            from vpnet.engine.config_loader import config_to_yaml

            typer.echo(config_to_yaml(cfg), nl=False)
            return
        from vpnet.engine.train import train

        result = train(cfg, run_dir=run_dir, resume=resume or "auto")
    if result.interrupted:
        typer.echo(f"interrupted; checkpoint written in {result.run_dir / 'checkpoints'} (run again to resume)",
                   err=True)
        raise typer.Exit(EXIT_SIGTERM)
    s = result.state
    best = (f", best on {result.selected_on} {s.best_metric * 100:.2f} % at epoch {s.best_epoch} "
            f"({result.best_weights})" if s.best_metric is not None else "")
    typer.echo(f"trained {_n(s.epoch, 'epoch')} ({_n(s.global_step, 'step')}){best}\nrun folder: {result.run_dir}")


def _n(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"
