"""The built-in benchmark behind ``vpnet demo``: what each VPN component adds, on vpnet-ADL, on a CPU.

Steps (each cached, each resumable):

1. generate vpnet-ADL (:mod:`vpnet.data.adl`: NTU-format files, 14 classes that need both modalities);
2. ``vpnet prepare`` it (person crops, JPEG store);
3. extract the Kinetics-400 I3D's ``Mixed_5c`` maps f once (:mod:`vpnet.engine.features`): the I3D is
   frozen, which is what makes a 32x128x128 input, hence an attention grid of t_c x m x n = 4x4x4,
   affordable on two cores; training clips are cached in ``views`` augmented versions;
4. train ``pose_only``, ``l1``, ``l2`` and ``l3`` on the cached maps, each over several seeds (the same
   recipe for all: the paper's SGD on a cosine schedule; ``l2`` and ``l3`` start from the pose backbone of
   the ``pose_only`` run of their seed, ``train.init_mode=pose_backbone``, and their attention's last
   layers start at std 0.3, ``model.attention_init_std``), and evaluate each on the
   cross-subject test subjects (one centre clip per video). Each run is trained afresh; its resumable
   checkpoints are removed when it is done, and only the ``l3`` runs keep their weights (the model to
   predict with; the others keep their evaluation and curves);
5. write the report: a Table-1-style table, ``summary.json``, the confusion matrix of ``l3``, the A_ST
   attention on test clips of each confusable pair, and the training curves.

With the I3D frozen, ``l1`` is the Kinetics I3D's pooled map f with a trained linear classifier,
and ``l2``/``l3`` add the pose-driven attention (and the embedding) on the same f: the comparison
isolates what the attention and the embedding add, at the price of not fine-tuning the I3D.
"""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

from vpnet.config import Config
from vpnet.data.adl import CLASSES, ADLSpec, make_adl

__all__ = ["DemoSize", "SIZES", "VARIANTS", "run_benchmark", "BenchmarkResult"]

#: the variants of the paper's Table 1, in the order they are reported.
VARIANTS = ("pose_only", "l1", "l2", "l3")


@dataclass(frozen=True)
class DemoSize:
    """One size of the benchmark: data, input and training settings."""

    per_class: int
    clip_len: int  # T: t_c = T / 8
    crop_size: int  # H = W: m = n = crop / 32
    epochs: int
    views: int  # augmented training clips cached per video
    seeds: int = 3
    batch: int = 32
    # the paper's optimiser (SGD, lr 0.01, momentum 0.9) on a cosine schedule; measured on vpnet-ADL,
    # AdamW (lr 1e-3 to 1e-2) let the attention settle on a constant, pose-blind map (RESULTS.md)
    lr: float = 0.01
    momentum: float = 0.9
    weight_decay: float = 1e-4
    attention_init_std: float = 0.3  # ``model.attention_init_std``: why, in its docstring


#: ``--size``: ``tiny`` is the CI test's (under a minute), ``small`` the default (9 minutes on 2 cores,
#: generation included), ``large`` twice the videos.
SIZES: dict[str, DemoSize] = {
    "tiny": DemoSize(per_class=3, clip_len=16, crop_size=64, epochs=3, views=1, seeds=2, batch=8),
    "small": DemoSize(per_class=27, clip_len=32, crop_size=128, epochs=30, views=2),
    "large": DemoSize(per_class=54, clip_len=32, crop_size=128, epochs=30, views=3),
}


@dataclass
class VariantResult:
    """One variant's runs, seed by seed (mean and std: :mod:`vpnet.demo_report`)."""

    top1: list[float] = field(default_factory=list)  # % per seed
    run_dirs: list[Path] = field(default_factory=list)
    eval_dirs: list[Path] = field(default_factory=list)


@dataclass
class BenchmarkResult:
    variants: dict[str, VariantResult]
    attention_grid: tuple[int, int, int]
    classes: list[str]
    data_root: Path
    store: Path
    feature_dir: Path
    base_config: Config


def _config(size: DemoSize, store: Path, features: Path | None, variant: str, seed: int, run_root: Path,
            weights: str | None, extra: Sequence[str] = ()) -> Config:
    from vpnet.engine.config_loader import load_config

    overrides = [
        f"name={variant}-seed{seed}", f"output_dir={run_root}",
        "data.dataset=adl", "data.protocol=cs", f"data.prepared_dir={store}", "data.num_workers=0",
        f"data.feature_dir={features if features is not None else 'null'}",
        f"data.batch_size={size.batch}", "data.pose_norm=translation", "data.pose_jitter=0.01",
        f"model.variant={variant}", f"model.num_classes={len(CLASSES)}", f"model.clip_len={size.clip_len}",
        f"model.crop_size={size.crop_size}", f"model.backbone_weights={weights or 'null'}",
        f"model.attention_init_std={size.attention_init_std}",
        f"train.epochs={size.epochs}", f"train.global_batch={size.batch}", f"train.seed={seed}",
        "train.ckpt_every_steps=0", "train.log_every=5", "train.deterministic=true", "train.val_split=null",
        "train.tensorboard=false",
        "optim.optimizer=sgd", "optim.schedule=cosine", f"optim.lr={size.lr}", f"optim.momentum={size.momentum}",
        f"optim.weight_decay={size.weight_decay}",
        # one centre clip per test video: the cache holds what evaluation reads
        "eval.mode=single", "eval.amp=bf16", "eval.clip_batch=8", f"eval.batch_size={size.batch}",
        *extra,
    ]
    return load_config(None, overrides)


def run_benchmark(out: Path, cache: Path, size: DemoSize, *, weights: bool = True, workers: int = 2,
                  variants: tuple[str, ...] = VARIANTS, overrides: Sequence[str] = (),
                  say: Callable[[str], None] = print) -> BenchmarkResult:
    """Generate, prepare, extract, then train and evaluate ``variants`` x ``size.seeds``; see the module docstring.

    ``overrides``: dotted config overrides added to every run's config (an ablation of the recipe, e.g.
    ``["loss.lambda2=0.01"]``); ``out/runs/<variant>-seed<k>`` are replaced."""
    from vpnet.engine.evaluate import evaluate
    from vpnet.engine.features import extract_features
    from vpnet.engine.train import train

    spec = ADLSpec(per_class=size.per_class)
    data_root = cache / f"adl-{spec.key()}"
    _check_disk(out, cache, size)
    say(f"[1/5] vpnet-ADL: {len(CLASSES)} classes x {size.per_class} videos -> {data_root}")
    data = _generate(data_root, spec, workers)
    store = data_root / "prepared"
    say(f"[2/5] vpnet prepare -> {store}")
    _prepare(data.video_dir, data.pose_dir, store, workers, max(160, size.crop_size + size.crop_size // 4))
    backbone = "kinetics400" if weights else str(_random_backbone(data_root))
    # channels_last_3d: the I3D's extraction (bf16) 1.6x faster on 2 cores, 3.0 -> 4.7 clips/s at 32x128x128
    base = _config(size, store, None, "l1", 0, out / "runs", backbone, ["train.channels_last=true"])
    feat_dir = store.parent / f"features-i3d{'-k400' if weights else '-random'}-{size.clip_len}x{size.crop_size}"
    t_c, m = size.clip_len // 8, size.crop_size // 32
    say(f"[3/5] frozen I3D ({'Kinetics-400' if weights else 'random init'}) Mixed_5c maps "
        f"{size.clip_len}x{size.crop_size}x{size.crop_size} -> 1024x{t_c}x{m}x{m} -> {feat_dir}")
    extract_features(base, feat_dir, splits=["train", "test"], views=size.views, dtype="bfloat16", replace_other=True)
    # pose_only first: l2 and l3 start from its pose backbone (the two-stage recipe, for the pose stream)
    if {"l2", "l3"} & set(variants) and "pose_only" not in variants:
        variants = ("pose_only", *variants)
    variants = tuple(sorted(variants, key=VARIANTS.index))
    results = {v: VariantResult() for v in variants}
    say(f"[4/5] training {', '.join(variants)} x {size.seeds} seeds on the cached maps")
    for variant in variants:
        for seed in range(size.seeds):
            stage2 = [f"train.init_from={results['pose_only'].run_dirs[seed] / 'final.safetensors'}",
                      "train.init_mode=pose_backbone"] if variant in ("l2", "l3") else []
            cfg = _config(size, store, feat_dir, variant, seed, out / "runs", backbone, [*stage2, *overrides])
            t0 = time.perf_counter()
            shutil.rmtree(out / "runs" / cfg.name, ignore_errors=True)  # a rerun trains afresh
            run = train(cfg, resume=None)
            if run.interrupted:  # SIGTERM: train wrote a checkpoint and returned; the demo stops here
                from vpnet.errors import TrainingError

                raise TrainingError(f"stopped by SIGTERM while training {variant} seed {seed}; the cache is kept: "
                                    "run vpnet demo again (its runs start afresh)")
            # training is over: its resumable checkpoints (the frozen I3D included, ~90 MB each) go
            shutil.rmtree(run.run_dir / "checkpoints", ignore_errors=True)
            ev = evaluate(cfg, run_dir=run.run_dir)
            top1 = 100.0 * float(ev.metrics.top1)
            results[variant].top1.append(top1)
            results[variant].run_dirs.append(run.run_dir)
            results[variant].eval_dirs.append(ev.out_dir)
            say(f"      {variant:9s} seed {seed}: top-1 {top1:5.1f} %  ({time.perf_counter() - t0:.0f} s)")
    for variant in ("pose_only", "l1", "l2"):  # l3's weights stay (the model to predict with); the others' go
        for run_dir in results[variant].run_dirs if variant in results else []:
            (run_dir / "final.safetensors").unlink(missing_ok=True)
    return BenchmarkResult(variants=results, attention_grid=(t_c, m, m), classes=list(data.class_names),
                           data_root=data_root, store=store, feature_dir=feat_dir, base_config=base)


def _generate(root: Path, spec: ADLSpec, workers: int):
    from vpnet.progress import progress_bar

    total = spec.per_class * spec.classes
    with progress_bar(total=total, desc="generate", unit="video") as bar:
        done = [0]

        def step(k: int) -> None:
            bar.update(k - done[0])
            done[0] = k
        data = make_adl(root, spec, workers=workers, progress=step)
        bar.update(total - bar.n)
    return data


def _prepare(video_dir: Path, pose_dir: Path, store: Path, workers: int, size: int) -> None:
    """``vpnet prepare`` (its command function, in this process)."""
    from vpnet.cli.prepare import prepare_command

    prepare_command(config=None, overrides=["data.dataset=adl", f"data.video_dir={video_dir}",
                                            f"data.pose_dir={pose_dir}", "data.missing_list=null"],
                    out=store, protocols=["cs"], splits=None, shard="0/1", workers=workers,
                    size=size, margin=0.2, quality=90, progress=True)


def _random_backbone(folder: Path) -> Path:
    """A random-init I3D saved once (``--no-kinetics``): the cache and every run then hold the same
    backbone, so a trained run reproduces the cached maps on video."""
    import torch

    from vpnet._io import atomic_write_bytes
    from vpnet.models import inception_i3d

    path = folder / "i3d-random-init-seed0.safetensors"
    if not path.is_file():
        from safetensors.torch import save

        torch.manual_seed(0)
        state = inception_i3d(weights=None, num_classes=0).state_dict()
        atomic_write_bytes(path, save({k: v.contiguous() for k, v in state.items()}))
    return path


#: disk per generated video (video, skeleton, prepared store, feature cache: 0.7 MB measured at ``small``)
#: and per run kept (l3's final weights, 68 MB, with the frozen I3D), with margin.
_DISK_PER_VIDEO, _DISK_PER_RUN = 1.5e6, 250e6


def _check_disk(out: Path, cache: Path, size: DemoSize) -> None:
    """Enough free disk for the cache and the runs, before any work (``OutputError`` otherwise)."""
    from vpnet.errors import OutputError

    needs = {cache: size.per_class * len(CLASSES) * _DISK_PER_VIDEO, out: (size.seeds + 1) * _DISK_PER_RUN}
    for folder, need in needs.items():
        probe = next(p for p in (folder, *folder.parents) if p.exists())
        free = shutil.disk_usage(probe).free
        if free < need:
            raise OutputError(f"{folder}: {free / 1e6:.0f} MB free on its disk, the demo needs about "
                              f"{need / 1e6:.0f} MB there (choose another --out / --cache, or --size tiny)")
