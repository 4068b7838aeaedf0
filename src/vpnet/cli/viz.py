"""``vpnet viz``: the paper's figures from your runs and videos (see :mod:`vpnet.viz`)."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from vpnet._io import check_writable
from vpnet.cli._checks import check_outputs, check_suffix
from vpnet.cli._errors import user_errors
from vpnet.errors import ConfigError

#: what every figure is written as.
FIGURE_SUFFIXES = (".png",)


def _check_figures(outputs: dict[str, Optional[Path]], *, inputs=(), runs=()) -> None:
    """Before any work: each figure can be written, is a .png, and is none of the inputs."""
    for target in outputs.values():
        if target is not None:
            check_writable(target, what="figure", folder=False)
    check_outputs(outputs, inputs=inputs, runs=runs)
    for option, target in outputs.items():
        check_suffix(option, target, FIGURE_SUFFIXES)

app = typer.Typer(help="The paper's figures: attention, joint activations, t-SNE, dynamicity, class differences.",
                  no_args_is_help=True)


def _window(pred, index: Optional[int]):
    """The chosen window, default the one where the video's top class scores highest."""
    if index is not None:
        if not 0 <= index < len(pred.windows):
            raise typer.BadParameter(f"--window must be in 0..{len(pred.windows) - 1}")
        return pred.windows[index]
    return max(pred.windows, key=lambda w: float(w.scores[pred.top_index]))


@app.command("attention")
def attention_command(
    video: Path = typer.Argument(..., help="Video file or frame folder."),
    run: Optional[Path] = typer.Option(None, "--run", "-r", help="Run folder."),
    checkpoint: Optional[Path] = typer.Option(None, "--checkpoint", help="Weights file written by vpnet train."),
    poses: Optional[Path] = typer.Option(None, "--poses", help="Pose file instead of MediaPipe."),
    window: Optional[int] = typer.Option(None, "--window", help="Window index (default: the top class's best)."),
    out: Path = typer.Option(..., "--out", "-o", help="PNG file."),
    joints_out: Optional[Path] = typer.Option(None, "--joints-out", help="Also the GCN joint activations (Fig. 5a)."),
) -> None:
    """A_ST over time on the frames of one window (Fig. 5b), optionally the GCN joint activations (Fig. 5a)."""
    with user_errors():
        from vpnet.data.video import open_video, read_clips
        from vpnet.inference import Recognizer, TorchBackend, load_model
        from vpnet.viz import joint_activations, plot_attention_over_time, plot_joint_activations

        _check_figures({"--out": out, "--joints-out": joints_out}, inputs=[video, poses, checkpoint], runs=[run])
        if window is not None and window < 0:
            raise ConfigError(f"--window must be >= 0, got {window}")
        model, spec = load_model(run=run, checkpoint=checkpoint)
        if model.vpn is None:
            raise typer.BadParameter(f"variant {spec.variant} has no attention (use an l2 or l3 model)")
        if joints_out is not None and not hasattr(model.pose_backbone, "graph_conv"):
            raise typer.BadParameter(f"the joint activations are the GCN's eq. (1); this model's pose backbone is "
                                     f"{type(model.pose_backbone).__name__}", param_hint="'--joints-out'")
        rec = Recognizer(TorchBackend(model, spec), spec, source=str(run or checkpoint))
        from vpnet.poses import default_cache_dir

        pred = rec.predict(video, poses=poses, pose_cache=default_cache_dir())
        win = _window(pred, window)
        size = spec.crop_size
        crops = read_clips(open_video(video), win.frames[None], win.box[None], size)[0]
        k = int(win.scores.argmax())
        plot_attention_over_time(crops, win.a_s, win.a_t, out, title=f"frames {win.start_frame}-{win.end_frame}: "
                                 f"{spec.class_names[k]} {win.scores[k]:.2f}")
        if joints_out is not None:
            import torch

            with torch.no_grad():  # what the GCN reads: the poses in the model's stream (data.pose_stream)
                seen = model.pose_stream(torch.as_tensor(win.poses)[None])[0].numpy()
            act = joint_activations(model.pose_backbone, seen)
            plot_joint_activations(act, joints_out, layout=spec.skeleton)
    typer.echo(f"written {out}" + (f" and {joints_out}" if joints_out else ""))


@app.command("class-diff")
def class_diff_command(
    a: Path = typer.Argument(..., help="per_class.csv of run A (vpnet evaluate)."),
    b: Path = typer.Argument(..., help="per_class.csv of run B."),
    out: Path = typer.Option(..., "--out", "-o", help="PNG file."),
    top: int = typer.Option(20, "--top", help="Largest changes shown."),
    label: List[str] = typer.Option(["A", "B"], "--label", help="Names of A and B (twice)."),
) -> None:
    """Per-class accuracy of B minus A, in percentage points (the paper's "+44.3 % clapping")."""
    with user_errors():
        from vpnet.viz import plot_class_difference

        _check_figures({"--out": out}, inputs=[a, b])
        if len(label) != 2:
            raise ConfigError(f"--label is given twice, for A and B; got {len(label)} ({', '.join(label)})")
        if top < 1:
            raise ConfigError(f"--top must be at least 1, got {top}")
        for p in (a, b):
            if not p.is_file():
                raise FileNotFoundError(f"per-class file not found: {p} (written by vpnet evaluate)")
        plot_class_difference(a, b, out, top=top, labels=tuple(label))
    typer.echo(f"written {out}")


def _features(run: Path, split: str):
    """(features (N, D), labels (N,), class names) of a run's model on a split: the pooled map that the
    classifier reads (f' for VPN), averaged over the eval clips."""
    import numpy as np
    import torch

    from vpnet.cli._errors import load
    from vpnet.engine.builders import build_model, build_split, check_dataset, make_loader, require_items
    from vpnet.engine.distributed import ShardSampler
    from vpnet.engine.evaluate import find_weights
    from vpnet.engine.forward import eval_clips, forward_clips

    cfg = load(run / "config.yaml", [])
    info = check_dataset(cfg, [split])
    ds = require_items(cfg, split, build_split(cfg, split, mode="test", clips=eval_clips(cfg)))
    model = build_model(cfg, torch.device("cpu"), checkpoint=find_weights(run)).eval()
    loader = make_loader(ds, batch_size=1, sampler=ShardSampler(len(ds), world_size=1, rank=0), num_workers=0,
                         device=torch.device("cpu"))
    grabbed = []
    hook = model.head.fc.register_forward_hook(lambda m, inp, out: grabbed.append(inp[0].detach()))
    feats, labels = [], []
    try:
        for batch in loader:
            if batch is None:
                continue
            grabbed.clear()
            forward_clips(lambda x: model(**x).logits, batch, device=torch.device("cpu"),
                          clip_batch=cfg.eval.clip_batch)
            feats.append(torch.cat(grabbed).mean(0).numpy())
            labels.append(int(batch["label"][0]))
    finally:
        hook.remove()
    return np.stack(feats), np.array(labels), info.class_names


@app.command("tsne")
def tsne_command(
    runs: List[Path] = typer.Option(..., "--run", "-r", help="Run folders (give two: A and B)."),
    split: str = typer.Option("test", "--split"),
    classes: Optional[str] = typer.Option(None, "--classes", help="Comma-separated class names (default: all)."),
    out: Path = typer.Option(..., "--out", "-o", help="PNG file."),
) -> None:
    """t-SNE of the features of chosen classes, one panel per run (Fig. 6b; the viz extra)."""
    with user_errors():
        from vpnet.extras import require
        from vpnet.viz import plot_tsne

        require("sklearn", extra="viz", what="the t-SNE figure")
        _check_figures({"--out": out}, runs=runs)
        chosen = None
        if classes:  # checked against the data's class names before any feature is computed
            from vpnet.cli._errors import load
            from vpnet.data import dataset_info

            for r in runs:
                if not (r / "config.yaml").is_file():
                    raise FileNotFoundError(f"run folder without config.yaml: {r}")
            names = dataset_info(load(runs[0] / "config.yaml", []).data).class_names
            wanted = [c.strip() for c in classes.split(",") if c.strip()]
            unknown = [c for c in wanted if c not in names]
            if unknown:
                raise ConfigError(f"--classes: unknown classes {unknown} (the run's data has {len(names)} classes, "
                                  f"e.g. {', '.join(names[:5])})")
            chosen = [names.index(c) for c in wanted]
        data = [_features(r, split) for r in runs]
        names = data[0][2]
        plot_tsne([d[0] for d in data], [d[1] for d in data], names, out, titles=[r.name for r in runs],
                  classes=chosen)
    typer.echo(f"written {out}")


@app.command("dynamicity")
def dynamicity_command(
    config: Path = typer.Option(..., "--config", "-c", help="Config naming the data (a run's config.yaml)."),
    per_class: List[Path] = typer.Option(..., "--per-class", help="per_class.csv of a run (repeat for several)."),
    label: Optional[List[str]] = typer.Option(None, "--label", help="Name of each run."),
    split: str = typer.Option("test", "--split"),
    out: Path = typer.Option(..., "--out", "-o", help="PNG file."),
) -> None:
    """Per-class accuracy against action dynamicity (Fig. 6a): the mean Procrustes distance between
    consecutive poses of each video's main actor, averaged per class."""
    with user_errors():
        import numpy as np

        from vpnet.cli._errors import load
        from vpnet.data import clips, dataset_info, dataset_records, get_dataset
        from vpnet.viz import dynamicity, plot_accuracy_vs_dynamicity, read_per_class

        _check_figures({"--out": out}, inputs=[config, *per_class])
        if label and len(label) != len(per_class):
            raise ConfigError(f"--label names each --per-class file: {len(per_class)} files but {len(label)} labels")
        for p in per_class:
            if not p.is_file():
                raise FileNotFoundError(f"per-class file not found: {p} (written by vpnet evaluate)")
        accs = [read_per_class(p) for p in per_class]  # a bad file is refused before the poses are read
        cfg = load(config, [])
        info = dataset_info(cfg.data)
        read = get_dataset(cfg.data.dataset).read_poses
        sums, counts = np.zeros(info.num_classes), np.zeros(info.num_classes)
        for rec in dataset_records(cfg.data, split):
            seq = read(rec.poses)
            track = clips.actor_track(seq)
            seen = track >= 0
            sums[rec.label] += dynamicity(seq.xyz[np.flatnonzero(seen), track[seen]])
            counts[rec.label] += 1
        keep = counts > 0
        accs = [[acc.get(n, np.nan) for n in info.class_names] for acc in accs]
        names = [n for n, k in zip(info.class_names, keep) if k]
        plot_accuracy_vs_dynamicity((sums / np.maximum(counts, 1))[keep], np.array(accs)[:, keep], names, out,
                                    labels=tuple(label or [p.parent.name for p in per_class]))
    typer.echo(f"written {out}")
