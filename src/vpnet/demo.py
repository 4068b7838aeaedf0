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

import json
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from vpnet.config import Config
from vpnet.data.adl import CLASSES, ADLSpec, make_adl
from vpnet.errors import ConfigError

__all__ = ["DemoSize", "SIZES", "Variant", "VARIANTS", "DEFAULT_VARIANTS", "LATE_FUSION", "run_benchmark",
           "BenchmarkResult", "recipe_key"]

#: the probes' attention: A_S a softmax over the cells and no residual, so that the head pools f where A_ST
#: looks (the strongest selection a map can make: what the oracle measures is what the data offers).
SELECTIVE = ("model.spatial_attention=softmax", "model.attention_residual=false")


@dataclass(frozen=True)
class Variant:
    """One row of the benchmark: the model variant and the overrides that make it."""

    model: str  # ``model.variant``
    overrides: tuple[str, ...] = ()
    #: starts from the pose backbone of the ``pose_only`` run of its seed (the two-stage recipe)
    stage2: bool = False
    description: str = ""


#: every variant the benchmark knows, in the order they are trained and reported. ``l2`` and ``l3`` are the
#: paper's (eq. 2 and 4); ``l2_softmax`` and ``l3_infonce`` are the mechanisms tried against the collapse of
#: the attention (RESULTS.md: none made it follow the acting hand on the validation performers); the
#: probes measure the data: ``fixed_map`` (one map, no pose) and ``oracle`` (the ground-truth map).
#: ``late_fusion`` is not trained: the softmax average of ``l1`` and ``pose_only``.
VARIANTS: dict[str, Variant] = {
    "pose_only": Variant("pose_only", description="3D poses alone: the GCN pose backbone and a linear classifier"),
    "l1": Variant("l1", description="RGB alone: the frozen I3D's Mixed_5c map f, pooled, and a linear classifier"),
    "l2": Variant("l2", stage2=True, description="l1 + the pose-driven spatio-temporal attention of eq. (2) "
                  "(A_S sigmoid, f' = A_ST f + f)"),
    "l3": Variant("l3", stage2=True, description="l2 + the video-pose embedding loss of eq. (4): the full VPN"),
    "l2_softmax": Variant("l2", SELECTIVE, stage2=True, description="l2 with an attention that redistributes "
                          "(A_S softmax over the cells, f' = A_ST f)"),
    "l3_infonce": Variant("l3", ("model.spatial_attention=softmax", "model.embedding_loss=infonce"), stage2=True,
                          description="l3 with A_S a softmax over the cells and an InfoNCE embedding loss that a "
                          "constant embedding cannot meet"),
    "fixed_map": Variant("l2", ("model.attention_source=fixed", *SELECTIVE),
                         description="probe: one learned A_S and A_T for every clip, no pose (softmax, f' = A_ST f)"),
    "oracle": Variant("l2", ("model.attention_source=given", *SELECTIVE),
                      description="probe: A_S from the ground-truth box of the acting hand and its object, one "
                      "learned A_T, no pose (softmax, f' = A_ST f)"),
}
#: the late-fusion baseline, computed from ``l1`` and ``pose_only``.
LATE_FUSION = "late_fusion"
DESCRIPTIONS = {**{k: v.description for k, v in VARIANTS.items()},
                LATE_FUSION: "softmax average of l1 and pose_only, weight chosen on the validation performers"}
#: what ``vpnet demo`` runs unless ``--variants`` says otherwise
DEFAULT_VARIANTS = ("pose_only", "l1", "l2", "l3", "fixed_map", "oracle", LATE_FUSION)


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
    #: weight of ``l1`` in the late fusion (``pose_only`` gets 1 - w): chosen on the validation performers
    #: (``vpnet demo --validation``, size small, seed 0: 0.65 of a grid of 0.05 steps)
    fusion_weight: float = 0.65

    def __post_init__(self):
        # the attention needs room to choose: at least 4 x 4 x 4 cells (t_c = T / 8, m = n = crop / 32)
        for key, value, stride in (("clip_len", self.clip_len, 8), ("crop_size", self.crop_size, 32)):
            if value < 4 * stride or value % stride:
                raise ConfigError(f"demo size {key}={value} gives an attention grid smaller than 4x4x4: it must be a "
                                  f"multiple of {stride} and >= {4 * stride}")
        if not 0.0 <= self.fusion_weight <= 1.0:
            raise ConfigError(f"demo size fusion_weight={self.fusion_weight} must be in [0, 1]")


#: ``--size``: ``tiny`` is the CI test's (about a minute), ``small`` the default (``make demo``),
#: ``large`` twice the videos.
SIZES: dict[str, DemoSize] = {
    "tiny": DemoSize(per_class=3, clip_len=32, crop_size=128, epochs=3, views=1, seeds=2, batch=8),
    "small": DemoSize(per_class=27, clip_len=32, crop_size=128, epochs=30, views=2),
    "large": DemoSize(per_class=54, clip_len=32, crop_size=128, epochs=30, views=3),
}


@dataclass
class VariantResult:
    """One variant's runs, seed by seed (mean and std: :mod:`vpnet.demo_report`)."""

    top1: list[float] = field(default_factory=list)  # % per seed
    run_dirs: list[Path] = field(default_factory=list)
    eval_dirs: list[Path] = field(default_factory=list)
    #: per seed: the test videos' softmax scores (N, K), in the order of :attr:`BenchmarkResult.test_names`
    scores: list[np.ndarray] = field(default_factory=list)
    #: per seed: the attention measures of :func:`attention_measures` (empty without attention)
    attention: list[dict[str, Any]] = field(default_factory=list)

    def correct(self, labels: np.ndarray) -> list[np.ndarray]:
        """Per seed: 1.0 where the test video's top class is its label ``labels`` (N,), else 0.0."""
        return [(s.argmax(1) == labels).astype(np.float64) for s in self.scores]


@dataclass
class BenchmarkResult:
    variants: dict[str, VariantResult]
    attention_grid: tuple[int, int, int]
    classes: list[str]
    data_root: Path
    store: Path
    feature_dir: Path
    base_config: Config
    protocol: str = "cs"
    test_names: list[str] = field(default_factory=list)
    test_labels: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    #: weight of l1 in the late fusion, and where it came from
    fusion_weight: float = 0.5
    fusion_source: str = ""
    #: the config overrides every run took (``vpnet demo ... model.pose_backbone=ctrgcn``); part of the recipe key
    overrides: tuple[str, ...] = ()


def _config(size: DemoSize, store: Path, features: Path | None, variant: str, seed: int, run_root: Path,
            weights: str | None, extra: Sequence[str] = (), *, protocol: str = "cs", name: str | None = None) -> Config:
    from vpnet.engine.config_loader import load_config

    overrides = [
        f"name={name or variant}-seed{seed}", f"output_dir={run_root}",
        "data.dataset=adl", f"data.protocol={protocol}", f"data.prepared_dir={store}", "data.num_workers=0",
        f"data.feature_dir={features if features is not None else 'null'}",
        f"data.batch_size={size.batch}", "data.pose_norm=translation", "data.pose_jitter=0.01",
        f"model.variant={variant}", f"model.num_classes={len(CLASSES)}", f"model.clip_len={size.clip_len}",
        f"model.crop_size={size.crop_size}", f"model.backbone_weights={weights or 'null'}",
        f"model.attention_init_std={size.attention_init_std}",
        f"train.epochs={size.epochs}", f"train.global_batch={size.batch}", f"train.seed={seed}",
        "train.ckpt_every_steps=0", "train.ckpt_every_epochs=0", "train.log_every=5", "train.deterministic=true",
        "train.val_split=null",
        "train.tensorboard=false",
        "optim.optimizer=sgd", "optim.schedule=cosine", f"optim.lr={size.lr}", f"optim.momentum={size.momentum}",
        f"optim.weight_decay={size.weight_decay}",
        # one centre clip per test video: the cache holds what evaluation reads
        "eval.mode=single", "eval.amp=bf16", "eval.clip_batch=8", f"eval.batch_size={size.batch}",
        *extra,
    ]
    return load_config(None, overrides)


def recipe_key(size: DemoSize, overrides: Sequence[str] = ()) -> str:
    """A fingerprint of everything a demo result depends on besides the seed: the generator's version and
    sizes and the resolved config of a run (paths left out). Reports carry it, so that a benchmark
    reading a report can tell it was made with the present recipe."""
    import hashlib

    from vpnet.engine.config_loader import config_to_yaml

    cfg = config_to_yaml(_config(size, Path("STORE"), Path("FEATURES"), "l3", 0, Path("RUNS"), "kinetics400",
                                 overrides))
    return hashlib.sha256(f"{ADLSpec(per_class=size.per_class).key()}\n{size!r}\n{cfg}".encode()).hexdigest()[:16]


def run_benchmark(out: Path, cache: Path, size: DemoSize, *, weights: bool = True, workers: int = 2,
                  variants: Sequence[str] = DEFAULT_VARIANTS, overrides: Sequence[str] = (),
                  protocol: str = "cs", say: Callable[[str], None] = print) -> BenchmarkResult:
    """Generate, prepare, extract, then train and evaluate ``variants`` x ``size.seeds``; see the module docstring.

    ``overrides``: dotted config overrides added to every run's config (an ablation of the recipe, e.g.
    ``["loss.lambda2=0.01"]``); ``out/runs/<variant>-seed<k>`` are replaced. ``protocol``: ``cs`` (the test
    performers) or ``csval`` (the validation performers, carved from the training ones: where settings are
    chosen; there the late-fusion weight is chosen too).
    """
    from vpnet.engine.evaluate import evaluate
    from vpnet.engine.features import extract_features
    from vpnet.engine.train import train

    unknown = [v for v in variants if v not in VARIANTS and v != LATE_FUSION]
    if unknown:
        raise ConfigError(f"unknown demo variant(s) {', '.join(unknown)}: choose from {', '.join(VARIANTS)}, "
                          f"{LATE_FUSION}")
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
    base = _config(size, store, None, "l1", 0, out / "runs", backbone, ["train.channels_last=true"], protocol=protocol)
    suffix = "" if protocol == "cs" else f"-{protocol}"
    kind = "k400" if weights else "random"
    feat_dir = store.parent / f"features-i3d-{kind}-{size.clip_len}x{size.crop_size}{suffix}"
    t_c, m = size.clip_len // 8, size.crop_size // 32
    say(f"[3/5] frozen I3D ({'Kinetics-400' if weights else 'random init'}) Mixed_5c maps "
        f"{size.clip_len}x{size.crop_size}x{size.crop_size} -> 1024x{t_c}x{m}x{m} -> {feat_dir}")
    extract_features(base, feat_dir, splits=["train", "test"], views=size.views, dtype="bfloat16", replace_other=True)
    truth = _write_truth(feat_dir, data.annotation_dir, (t_c, m, m))
    wanted = set(variants) | ({"pose_only", "l1"} if LATE_FUSION in variants else set())
    if any(VARIANTS[v].stage2 for v in wanted if v in VARIANTS):
        wanted.add("pose_only")  # the two-stage variants start from its pose backbone
    order = [v for v in VARIANTS if v in wanted]
    results = {v: VariantResult() for v in order}
    say(f"[4/5] training {', '.join(order)} x {size.seeds} seeds on the cached maps")
    test_names: list[str] = []
    test_labels = np.zeros(0, np.int64)
    for name in order:
        spec_v = VARIANTS[name]
        for seed in range(size.seeds):
            stage2 = [f"train.init_from={results['pose_only'].run_dirs[seed] / 'final.safetensors'}",
                      "train.init_mode=pose_backbone"] if spec_v.stage2 else []
            cfg = _config(size, store, feat_dir, spec_v.model, seed, out / "runs", backbone,
                          [*spec_v.overrides, *stage2, *overrides], protocol=protocol, name=name)
            t0 = time.perf_counter()
            shutil.rmtree(out / "runs" / cfg.name, ignore_errors=True)  # a rerun trains afresh
            run = train(cfg, resume=None)
            if run.interrupted:  # SIGTERM: train wrote a checkpoint and returned; the demo stops here
                from vpnet.errors import TrainingError

                raise TrainingError(f"stopped by SIGTERM while training {name} seed {seed}; the cache is kept: "
                                    "run vpnet demo again (its runs start afresh)")
            # training is over: its resumable checkpoints (the frozen I3D included, ~90 MB each) go
            shutil.rmtree(run.run_dir / "checkpoints", ignore_errors=True)
            ev = evaluate(cfg, run_dir=run.run_dir)
            top1 = 100.0 * float(ev.metrics.top1)
            res = results[name]
            res.top1.append(top1)
            res.run_dirs.append(run.run_dir)
            res.eval_dirs.append(ev.out_dir)
            pred = ev.predictions
            if not test_names:
                test_names, test_labels = list(pred.names), np.asarray(pred.labels)
            if list(pred.names) != test_names:
                raise RuntimeError(f"{name} seed {seed} was evaluated on other test videos than the first run")
            res.scores.append(pred.scores)
            if spec_v.model in ("l2", "l3"):
                res.attention.append(attention_measures(run.run_dir, truth))
            say(f"      {name:9s} seed {seed}: top-1 {top1:5.1f} %  ({time.perf_counter() - t0:.0f} s)")
    result = BenchmarkResult(variants=results, attention_grid=(t_c, m, m), classes=list(data.class_names),
                             data_root=data_root, store=store, feature_dir=feat_dir, base_config=base,
                             protocol=protocol, test_names=test_names, test_labels=test_labels,
                             fusion_weight=size.fusion_weight, fusion_source="DemoSize.fusion_weight",
                             overrides=tuple(overrides))
    if LATE_FUSION in variants:
        _late_fusion(result, size, choose=protocol != "cs")
    # the l3 runs keep their weights (the model to predict with); the others' go
    for name, res in results.items():
        if name != "l3":
            for run_dir in res.run_dirs:
                (run_dir / "final.safetensors").unlink(missing_ok=True)
    return result


#: the late fusion's candidate weights of l1, searched on the validation performers
FUSION_GRID = tuple(np.round(np.linspace(0.0, 1.0, 21), 2))


def _late_fusion(result: BenchmarkResult, size: DemoSize, *, choose: bool) -> None:
    """Add ``late_fusion``: w softmax(l1) + (1 - w) softmax(pose_only) per seed; ``choose``: pick w on
    this (validation) split, the mean top-1 over seeds; else the size's weight (chosen so before)."""
    l1, pose = result.variants["l1"], result.variants["pose_only"]
    labels = result.test_labels

    def mix(w: float) -> VariantResult:
        return VariantResult(scores=[w * a + (1 - w) * b for a, b in zip(l1.scores, pose.scores)])

    if choose:
        w = max(FUSION_GRID, key=lambda w: (np.mean([c.mean() for c in mix(w).correct(labels)]), -abs(w - 0.5)))
        result.fusion_weight, result.fusion_source = float(w), f"chosen here, on protocol {result.protocol}"
    fused = mix(result.fusion_weight)
    fused.top1 = [100.0 * float(c.mean()) for c in fused.correct(labels)]
    result.variants[LATE_FUSION] = fused


def _write_truth(feat_dir: Path, annotation_dir: Path, grid: tuple[int, int, int]) -> dict[str, Any]:
    """The ground truth on each cached clip's grid (:func:`vpnet.attention_truth.truth_maps`); writes the
    ``oracle``'s A_S, the acting hand's coverage over the clip scaled to a maximum of 1, as ``a_s.npy`` of
    each split. Returns the test split's ``acting``, ``decoy`` (N, t_c, m, n), ``has`` (N,) and ``names``."""
    from vpnet._io import atomic_write_bytes
    from vpnet.attention_truth import truth_maps
    from vpnet.engine.features import _npy_bytes

    out: dict[str, Any] = {}
    for split in ("train", "test"):
        folder = feat_dir / split
        names = json.loads((folder / "names.json").read_text())
        acting, decoy, has = truth_maps(annotation_dir, names, np.load(folder / "windows.npy"),
                                        np.load(folder / "boxes.npy"), grid)
        oracle = acting.mean(2)  # (N, V, m, n)
        oracle = oracle / np.maximum(oracle.max(axis=(2, 3), keepdims=True), 1e-6)
        atomic_write_bytes(folder / "a_s.npy", _npy_bytes(oracle.astype(np.float32)))
        if split == "test":
            out = {"acting": acting[:, 0], "decoy": decoy[:, 0], "has": has, "names": names,
                   "labels": np.load(folder / "labels.npy")}
    return out


def attention_measures(run_dir: Path, truth: dict[str, Any]) -> dict[str, Any]:
    """A trained l2/l3 run's attention on the cached test clips against the ground truth: attention precision
    (object classes), A_S spread within and between classes, and for l3 eq. (4) on matched and shuffled
    pairs (:mod:`vpnet.attention_truth`). Also the per-clip ``a_s`` (N, m, n) and ``a_t`` (N, t_c)."""
    import torch

    from vpnet.attention_truth import a_s_spread, attention_precision, embedding_distances
    from vpnet.engine.config_loader import load_config
    from vpnet.engine.feature_store import FeatureDataset
    from vpnet.engine.forward import eval_clips
    from vpnet.inference import load_model

    cfg = load_config(Path(run_dir) / "config.yaml", [])
    model, _ = load_model(run=run_dir)
    feats = FeatureDataset(cfg.data.feature_dir, "test", mode="test", clips=eval_clips(cfg))
    a_s, a_t, f_e, p_e = [], [], [], []
    with torch.no_grad():
        for start in range(0, len(feats), 64):
            items = feats.__getitems__(list(range(start, min(start + 64, len(feats)))))
            f = torch.stack([x["features"][0] for x in items]).float()
            poses = torch.stack([x["poses"][0] for x in items]).float()
            given = torch.stack([x["a_s"][0] for x in items]) if "a_s" in items[0] else None
            y = model(features=f, poses=poses, a_s=given)
            a_s.append(y.a_s.float().numpy())
            a_t.append(np.ones((len(f), f.shape[2]), np.float32) / f.shape[2] if y.a_t is None
                       else y.a_t.float().numpy())
            emb = model.vpn.embedding
            if emb is not None:
                pose_vec = y.z1 if model.vpn.embed_pose_input == "z1" else torch.sigmoid(y.z1)
                fe, pe = emb.embed(f, pose_vec)
                f_e.append(fe.numpy())
                p_e.append(pe.numpy())
    a_s_all, a_t_all = np.concatenate(a_s), np.concatenate(a_t)
    rows = feats.index  # the cache's item order, which the truth follows
    has = truth["has"][rows]
    a_st = a_s_all[:, None] * a_t_all[:, :, None, None]
    precision = attention_precision(a_st[has], truth["acting"][rows][has], truth["decoy"][rows][has])
    within, between = a_s_spread(a_s_all, truth["labels"][rows])
    out: dict[str, Any] = {"attention_precision": float(np.nanmean(precision)), "a_s_within_class": within,
                           "a_s_between_classes": between, "a_s": a_s_all, "a_t": a_t_all,
                           "names": [feats.names[i] for i in rows]}
    if f_e:
        out["l_e_matched"], out["l_e_shuffled"] = embedding_distances(np.concatenate(f_e), np.concatenate(p_e))
    return out


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
                    out=store, protocols=["cs", "csval"], splits=None, shard="0/1", workers=workers,
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
