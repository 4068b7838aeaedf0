"""The built-in benchmark behind ``vpnet demo``: what each VPN component adds, on vpnet-ADL, on a CPU.

Steps (each cached, each resumable):

1. generate vpnet-ADL (:mod:`vpnet.data.adl`: NTU-format files, 12 classes that need both modalities);
2. ``vpnet prepare`` it (person crops, JPEG store);
3. extract the Kinetics-400 I3D's ``Mixed_5c`` maps f once (:mod:`vpnet.engine.features`): the I3D is
   frozen, which is what makes a 32x128x128 input, hence an attention grid of t_c x m x n = 4x4x4,
   affordable on two cores; training clips are cached in ``views`` augmented versions;
4. train ``pose_only``, ``l1``, ``l2`` and ``l3`` on the cached maps, each over several seeds (the same
   recipe for all: AdamW, cosine schedule), and evaluate each on the cross-subject test subjects;
5. write the report: a Table-1-style table, ``summary.json``, the confusion matrix of ``l3``, the A_ST
   attention on test clips of each confusable pair, and the training curves.

With the I3D frozen, ``l1`` is the Kinetics I3D's pooled map f with a trained linear classifier,
and ``l2``/``l3`` add the pose-driven attention (and the embedding) on the same f: the comparison
isolates what the attention and the embedding add, at the price of not fine-tuning the I3D.
"""

from __future__ import annotations

import json
import logging
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from vpnet.config import Config
from vpnet.data.adl import CLASSES, ADLSpec, make_adl

log = logging.getLogger(__name__)

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
    lr: float = 1e-3


#: ``--size``: ``tiny`` is the CI test's, ``small`` the default (about 8 minutes on 2 cores), ``large``
#: twice the videos.
SIZES: dict[str, DemoSize] = {
    "tiny": DemoSize(per_class=3, clip_len=16, crop_size=64, epochs=3, views=1, seeds=2, batch=8),
    "small": DemoSize(per_class=27, clip_len=32, crop_size=128, epochs=40, views=2),
    "large": DemoSize(per_class=54, clip_len=32, crop_size=128, epochs=40, views=3),
}


@dataclass
class VariantResult:
    top1: list[float] = field(default_factory=list)  # % per seed
    run_dirs: list[Path] = field(default_factory=list)
    eval_dirs: list[Path] = field(default_factory=list)

    @property
    def mean(self) -> float:
        return float(np.mean(self.top1))

    @property
    def std(self) -> float:
        return float(np.std(self.top1, ddof=1)) if len(self.top1) > 1 else 0.0


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
            weights: bool) -> Config:
    from vpnet.engine.config_loader import load_config

    overrides = [
        f"name={variant}-seed{seed}", f"output_dir={run_root}",
        "data.dataset=adl", "data.protocol=cs", f"data.prepared_dir={store}", "data.num_workers=0",
        f"data.feature_dir={features if features is not None else 'null'}",
        f"data.batch_size={size.batch}", "data.pose_norm=translation", "data.pose_jitter=0.01",
        f"model.variant={variant}", f"model.num_classes={len(CLASSES)}", f"model.clip_len={size.clip_len}",
        f"model.crop_size={size.crop_size}", f"model.backbone_weights={'kinetics400' if weights else 'null'}",
        f"train.epochs={size.epochs}", f"train.global_batch={size.batch}", f"train.seed={seed}",
        "train.ckpt_every_steps=0", "train.log_every=5", "train.deterministic=true", "train.val_split=null",
        "train.tensorboard=false",
        "optim.optimizer=adamw", "optim.schedule=cosine", f"optim.lr={size.lr}", "optim.weight_decay=0.01",
        # one centre clip per test video: the cache holds what evaluation reads
        "eval.mode=single", "eval.amp=bf16", "eval.clip_batch=8", f"eval.batch_size={size.batch}",
    ]
    return load_config(None, overrides)


def run_benchmark(out: Path, cache: Path, size: DemoSize, *, weights: bool = True, workers: int = 2,
                  variants: tuple[str, ...] = VARIANTS, say: Callable[[str], None] = print) -> BenchmarkResult:
    """Generate, prepare, extract, then train and evaluate ``variants`` x ``size.seeds``; see the module docstring."""
    from vpnet.engine.evaluate import evaluate
    from vpnet.engine.features import extract_features
    from vpnet.engine.train import train

    spec = ADLSpec(per_class=size.per_class)
    data_root = cache / f"adl-{spec.key()}"
    say(f"[1/5] vpnet-ADL: {len(CLASSES)} classes x {size.per_class} videos -> {data_root}")
    data = _generate(data_root, spec, workers)
    store = data_root / "prepared"
    say(f"[2/5] vpnet prepare -> {store}")
    _prepare(data.video_dir, data.pose_dir, store, workers, max(160, size.crop_size + size.crop_size // 4))
    base = _config(size, store, None, "l1", 0, out / "runs", weights)
    feat_dir = store.parent / f"features-i3d{'-k400' if weights else '-scratch'}-{size.clip_len}x{size.crop_size}"
    t_c, m = size.clip_len // 8, size.crop_size // 32
    say(f"[3/5] frozen I3D ({'Kinetics-400' if weights else 'random init'}) Mixed_5c maps "
        f"{size.clip_len}x{size.crop_size}x{size.crop_size} -> 1024x{t_c}x{m}x{m} -> {feat_dir}")
    extract_features(base, feat_dir, splits=["train", "test"], views=size.views, dtype="bfloat16")
    results = {v: VariantResult() for v in variants}
    say(f"[4/5] training {', '.join(variants)} x {size.seeds} seeds on the cached maps")
    for variant in variants:
        for seed in range(size.seeds):
            cfg = _config(size, store, feat_dir, variant, seed, out / "runs", weights)
            t0 = time.perf_counter()
            run = train(cfg, resume="auto")
            ev = evaluate(cfg, run_dir=run.run_dir)
            top1 = 100.0 * float(ev.metrics.top1)
            results[variant].top1.append(top1)
            results[variant].run_dirs.append(run.run_dir)
            results[variant].eval_dirs.append(ev.out_dir)
            say(f"      {variant:9s} seed {seed}: top-1 {top1:5.1f} %  ({time.perf_counter() - t0:.0f} s)")
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
