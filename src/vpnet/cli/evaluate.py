"""``vpnet evaluate``: metrics of a trained model on a split, with the paper's inference."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from vpnet.cli._errors import load, user_errors
from vpnet.cli.train import OVERRIDES_HELP


def evaluate_command(
    run: Optional[Path] = typer.Option(
        None, "--run", "-r", help="Run folder: its config.yaml and its final weights are the defaults."),
    config: Optional[Path] = typer.Option(None, "--config", "-c", help="YAML config (default: the run's config.yaml)."),
    overrides: Optional[List[str]] = typer.Argument(None, help=OVERRIDES_HELP, show_default=False),
    checkpoint: Optional[Path] = typer.Option(
        None, "--checkpoint", help="Weights to evaluate: a file, or 'final' (the default) or 'best' for the run "
        "folder's final.safetensors or best.safetensors (best: selected on train.val_split; results.json says which)."),
    split: Optional[str] = typer.Option(None, "--split", help="Split to evaluate (default: eval.split, 'test')."),
    mode: Optional[str] = typer.Option(
        None, "--mode", help="multi: the paper's inference (eval.num_clips clips, whole crop at eval.short_side, "
        "max over clips of the softmax); single: one centre clip. Default: eval.mode."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Output folder (default: <run>/eval/<split>-<mode>)."),
    ensemble: bool = typer.Option(
        False, "--ensemble", help="Fuse the saved scores of the runs given as arguments (run folders, evaluation "
        "folders or scores.npz files; e.g. one run per data.pose_stream): each run's metric and the fusion's, "
        "nothing recomputed. Evaluate each run first; -o writes the fusion's files."),
    weights: Optional[str] = typer.Option(
        None, "--weights", help="With --ensemble: comma-separated weight per run (default: equal)."),
) -> None:
    """Evaluate: top-1, top-5, mean per-class and per-class accuracy, confusion matrix (CSV + PNG),
    results.json, predictions.csv and scores.npz; the protocol's primary metric is named. With --ensemble:
    fuse the saved scores of several runs."""
    if ensemble:
        _ensemble(overrides or [], weights, out, split)
        return
    if weights is not None:
        raise typer.BadParameter("--weights goes with --ensemble", param_hint="'--weights'")
    with user_errors():
        if config is None and run is None:
            raise typer.BadParameter("give --run RUN_FOLDER or --config CONFIG")
        if config is None:
            config = run / "config.yaml"
        if out is not None:  # never over the config, the weights or a run's own files
            from vpnet.cli._checks import check_outputs
            from vpnet.engine.evaluate import OUTPUT_FILES

            weights = None if checkpoint is None or str(checkpoint) in ("final", "best") else checkpoint
            check_outputs([("-o", out / name) for name in OUTPUT_FILES], inputs=[config, weights], runs=[run])
        extra = [f"eval.mode={mode}"] if mode else []
        cfg = load(config, [*(overrides or []), *extra])
        from vpnet.engine.evaluate import evaluate
        from vpnet.engine.metrics import format_summary

        result = evaluate(cfg, checkpoint=checkpoint, split=split, out_dir=out, run_dir=run)
    from vpnet.engine.evaluate import describe_items

    typer.echo(describe_items(result.items))
    if result.metrics is None:
        typer.echo(f"{len(result.predictions.names)} videos without labels: predictions only, no accuracy")
    else:
        typer.echo(format_summary(result.metrics, result.primary_metric))
    typer.echo(f"results: {result.out_dir}")


def _ensemble(sources: List[str], weights: Optional[str], out: Optional[Path], split: Optional[str]) -> None:
    """``vpnet evaluate --ensemble RUN RUN ...``: a table of each run's primary metric and the fusion's."""
    with user_errors():
        if not sources:
            raise typer.BadParameter("--ensemble needs the runs to fuse as arguments", param_hint="'--ensemble'")
        if any("=" in s for s in sources):
            bad = ", ".join(s for s in sources if "=" in s)
            raise typer.BadParameter(f"--ensemble takes run folders, not config overrides: {bad}",
                                     param_hint="'--ensemble'")
        w = None
        if weights is not None:
            try:
                w = [float(x) for x in weights.split(",")]
            except ValueError:
                raise typer.BadParameter(f"comma-separated numbers, got {weights!r}",
                                         param_hint="'--weights'") from None
            if len(w) != len(sources):
                raise typer.BadParameter(f"{len(w)} weights for {len(sources)} runs", param_hint="'--weights'")
        if out is not None:
            from vpnet.cli._checks import check_outputs
            from vpnet.engine.evaluate import OUTPUT_FILES

            paths = [Path(x) for x in sources]
            check_outputs([("-o", out / name) for name in OUTPUT_FILES], inputs=[p for p in paths if p.is_file()],
                          runs=[p for p in paths if p.is_dir()])
        from vpnet.engine.ensemble import ensemble

        result = ensemble(sources, weights=w, out_dir=out, split=split or "test")
    from vpnet.engine.metrics import METRIC_NAMES

    width = max(len(label) for label, _ in result.rows)
    typer.echo(f"{'run':<{width}}  {METRIC_NAMES[result.primary_metric]}")
    for label, value in result.rows:
        typer.echo(f"{label:<{width}}  {100 * value:.2f} %")
    if result.out_dir is not None:
        typer.echo(f"results: {result.out_dir}")
