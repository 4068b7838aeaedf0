"""The ``vpnet`` command: one entry point, one module per subcommand.

Each subcommand module imports torch and friends inside its functions, so ``vpnet --help`` is fast.
"""

from __future__ import annotations

import typer

from vpnet.cli import demo, evaluate, extract_features, info, predict, prepare, train, viz, weights

app = typer.Typer(
    name="vpnet",
    help="VPN (Video-Pose Network): activity recognition from RGB video and 3D poses.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
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
