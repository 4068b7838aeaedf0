"""The report of ``vpnet demo`` (:func:`vpnet.demo.run_benchmark`): a folder ``<out>/report/``.

Every number comes from the files the runs wrote: the top-1 of each seed from its evaluation's
``results.json``, the confusion matrix from ``confusion.csv`` of ``l3`` seed 0, the curves from each run's
``epochs.csv``; the attention is that of the ``l3`` seed-0 model (loaded from its run folder, as
``vpnet predict`` loads it) on the cached test maps, drawn over the frames those maps were computed from.

Layout::

    report/
        README.md           the report page: Table-1-style table, the l3 run folder, the pictures, wall time
        summary.json        {"variants": {v: {"top1_mean", "top1_std", "seeds", "top1_object_pairs",
                            "attention_precision", "l_e_matched", "l_e_shuffled", "a_s_within_class",
                            "a_s_between_classes"}}, "comparisons": {"l3-l1": {"difference", "ci95"}, ...},
                            "probes": {"oracle_minus_l1_object_pairs", "fixed_map_minus_l1_object_pairs"},
                            "fusion_weight", "fusion_source", "protocol", "attention_grid": [t_c, m, n],
                            "classes", "wall_seconds", "size", "recipe" (:func:`vpnet.demo.recipe_key`),
                            "chance", "kinetics", "test_videos", "l3_run",
                            "runs": {v: [{"run", "eval"}]}}
        confusion_l3.png    l3 seed 0 on the test subjects, the demo's classes only
        curves.png          training loss per epoch, every variant and seed
        attention.png       one row per confusable pair: A_ST on a test clip of each of its two classes
        attention_truth.png A_S of l2 and l3 (seed 0) on the same test clips of the object pairs, with the
                            ground-truth boxes of the acting and the decoy hand, a colour bar and a legend
        attention/<pair>-<class>-<video>.png   the same clips, one picture each (plot_attention_over_time)
"""

from __future__ import annotations

import csv
import json
import logging
import math
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from vpnet._io import atomic_write_bytes
from vpnet.demo import DESCRIPTIONS

if TYPE_CHECKING:
    from vpnet.demo import BenchmarkResult

log = logging.getLogger(__name__)

__all__ = ["write_report", "format_table", "summary", "markdown_table", "DESCRIPTIONS"]


#: the report's file names (also in the module docstring).
SUMMARY, PAGE, CONFUSION, CURVES, ATTENTION, TRUTH = "summary.json", "README.md", "confusion_l3.png", "curves.png", \
    "attention.png", "attention_truth.png"
#: the paired comparisons of the summary, each with a 95 % bootstrap interval over the test videos.
COMPARISONS = (("l3", "l1"), ("l3", "l2"), ("l3", "late_fusion"), ("l2", "l1"), ("l3_infonce", "l3"),
               ("l2_softmax", "l2"))
_MEASURES = ("attention_precision", "l_e_matched", "l_e_shuffled", "a_s_within_class", "a_s_between_classes")


# ---------------------------------------------------------------------------------------------
# numbers


def _eval_top1(eval_dir: Path, fallback: float) -> float:
    """Top-1 in % from an evaluation folder's ``results.json`` (``fallback`` when it is not there)."""
    path = Path(eval_dir) / "results.json"
    if not path.is_file():
        log.warning("%s not found: the report uses the in-memory top-1 of that run", path)
        return fallback
    top1 = 100.0 * float(json.loads(path.read_text())["top1"])
    if not math.isclose(top1, fallback, abs_tol=1e-6):
        log.warning("%s says top-1 %.4f %%, the benchmark %.4f %%: the report uses the file", path, top1, fallback)
    return top1


def _mean_std(seeds: list[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (ddof 1; 0 for one seed)."""
    a = np.asarray(seeds, dtype=np.float64)
    return float(a.mean()), float(a.std(ddof=1)) if len(a) > 1 else 0.0


def _object_mask(result: BenchmarkResult) -> np.ndarray:
    from vpnet.data.adl import CLASSES

    objects = {i for i, c in enumerate(CLASSES) if c.kind == "object"}
    return np.array([int(y) in objects for y in result.test_labels], bool)


def _mean_of(values: list[float]) -> float | None:
    values = [v for v in values if v is not None and math.isfinite(v)]
    return float(np.mean(values)) if values else None


def summary(result: BenchmarkResult, *, wall_seconds: float, size_name: str) -> dict[str, Any]:
    """``summary.json``'s content (see the module docstring), per-seed top-1 read from the evaluation outputs."""
    from vpnet.demo import SIZES, recipe_key
    from vpnet.engine.metrics import paired_bootstrap

    variants: dict[str, Any] = {}
    runs: dict[str, Any] = {}
    test_videos = None
    objects = _object_mask(result)
    for name, v in result.variants.items():
        seeds = ([_eval_top1(d, t) for d, t in zip(v.eval_dirs, v.top1)] if v.eval_dirs else list(v.top1))
        mean, std = _mean_std(seeds)
        entry: dict[str, Any] = {"top1_mean": mean, "top1_std": std, "seeds": seeds}
        hits = v.correct(result.test_labels)
        entry["top1_object_pairs"] = (_mean_of([100.0 * float(c[objects].mean()) for c in hits])
                                      if hits and objects.any() else None)
        for key in _MEASURES:
            entry[key] = _mean_of([a.get(key) for a in v.attention])
        entry["attention_precision_seeds"] = [a["attention_precision"] for a in v.attention]
        variants[name] = entry
        runs[name] = [{"run": str(r), "eval": str(e)} for r, e in zip(v.run_dirs, v.eval_dirs)]
        if test_videos is None and v.eval_dirs and (Path(v.eval_dirs[0]) / "results.json").is_file():
            test_videos = json.loads((Path(v.eval_dirs[0]) / "results.json").read_text()).get("num_samples")
    comparisons = {}
    for a, b in COMPARISONS:
        va, vb = result.variants.get(a), result.variants.get(b)
        if va is not None and vb is not None and va.scores and len(va.scores) == len(vb.scores):
            labels = result.test_labels
            d, lo, hi = paired_bootstrap(np.stack(va.correct(labels)), np.stack(vb.correct(labels)))
            comparisons[f"{a}-{b}"] = {"difference": d, "ci95": [lo, hi]}
    probes = {}
    for probe in ("oracle", "fixed_map"):
        if probe in variants and "l1" in variants and variants[probe]["top1_object_pairs"] is not None:
            probes[f"{probe}_minus_l1_object_pairs"] = (variants[probe]["top1_object_pairs"]
                                                       - variants["l1"]["top1_object_pairs"])
    l3 = _l3_run(result)
    weights = result.base_config.model.backbone_weights
    return {
        "variants": variants,
        "comparisons": comparisons,
        "probes": probes,
        "fusion_weight": result.fusion_weight,
        "fusion_source": result.fusion_source,
        "protocol": result.protocol,
        "attention_grid": [int(x) for x in result.attention_grid],
        "classes": list(result.classes),
        "wall_seconds": round(float(wall_seconds), 1),
        "size": size_name,
        "recipe": recipe_key(SIZES[size_name], result.overrides) if size_name in SIZES else None,
        "overrides": list(result.overrides),
        "chance": 100.0 / len(result.classes),
        "kinetics": weights == "kinetics400",
        "test_videos": test_videos,
        "l3_run": None if l3 is None else str(l3),
        "runs": runs,
    }


def _l3_run(result: BenchmarkResult) -> Path | None:
    v = result.variants.get("l3")
    return Path(v.run_dirs[0]) if v is not None and v.run_dirs else None


def _row(name: str, mean: float, std: float, seeds: list[float]) -> tuple[str, str, str]:
    return name, f"{mean:5.1f} ± {std:4.1f}", "  ".join(f"{s:5.1f}" for s in seeds)


def format_table(result: BenchmarkResult) -> str:
    """The console table: top-1 on the test subjects per variant, mean ± std over seeds, each seed, chance."""
    rows = [("variant", "top-1 % (mean ± std)", "per seed", "attention precision")]
    for name, v in result.variants.items():
        row = _row(name, *_mean_std(v.top1), list(v.top1)) if v.top1 else (name, "-", "-")
        rows.append((*row, _fmt(_mean_of([a["attention_precision"] for a in v.attention]), ".2f")))
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    seeds = max((len(v.top1) for v in result.variants.values()), default=0)
    lines.append(f"chance: {100.0 / len(result.classes):.1f} % ({len(result.classes)} classes); "
                 f"{seeds} seed{'s' * (seeds != 1)}; attention grid t_c x m x n = "
                 f"{' x '.join(str(x) for x in result.attention_grid)}")
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------
# pictures


def _close(fig) -> None:
    import matplotlib.pyplot as plt

    plt.close(fig)


def _read_confusion(path: Path) -> tuple[np.ndarray, list[str]]:
    """``confusion.csv`` of ``vpnet evaluate`` -> (counts (K, K), class names)."""
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    names = rows[0][1:]
    return np.array([[int(x) for x in r[1:]] for r in rows[1:]], dtype=np.int64), names


def plot_l3_confusion(result: BenchmarkResult, out: Path) -> Path | None:
    """The confusion matrix of ``l3`` seed 0 (its evaluation's ``confusion.csv``), the demo's classes only."""
    from vpnet.engine.metrics import plot_confusion

    v = result.variants.get("l3")
    if v is None or not v.eval_dirs:
        return None
    path = Path(v.eval_dirs[0]) / "confusion.csv"
    if not path.is_file():
        log.warning("%s not found: no confusion matrix in the report", path)
        return None
    cm, names = _read_confusion(path)
    keep = [names.index(c) for c in result.classes if c in names]
    cm = cm[np.ix_(keep, keep)]
    acc = 100.0 * np.trace(cm) / max(int(cm.sum()), 1)
    plot_confusion(out, cm, [names[i] for i in keep],
                   title=f"l3 (seed 0) on the test subjects: top-1 {acc:.1f} % of {int(cm.sum())} videos")
    return out


def _read_epochs(path: Path) -> dict[str, np.ndarray]:
    """``epoch`` and ``train_loss`` columns of a run's ``epochs.csv``."""
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    return {k: np.array([float(r[k]) for r in rows]) for k in ("epoch", "train_loss")}


def plot_curves(result: BenchmarkResult, out: Path) -> Path | None:
    """Training loss per epoch of every run: one colour per variant, one line per seed (the demo trains
    without a validation split, so there is no validation curve)."""
    from matplotlib.ticker import FuncFormatter, MaxNLocator

    from vpnet.viz import _figure, _save

    logs = {name: [_read_epochs(Path(r) / "epochs.csv") for r in v.run_dirs if (Path(r) / "epochs.csv").is_file()]
            for name, v in result.variants.items()}
    if not any(logs.values()):
        return None
    fig, axes = _figure(6.5, 4)
    ax = axes[0, 0]
    for k, (name, runs) in enumerate(logs.items()):
        for s, e in enumerate(runs):
            ax.plot(e["epoch"], e["train_loss"], color=f"C{k}", lw=1.6 if s == 0 else 0.8, alpha=1.0 if s == 0 else 0.5,
                    label=name if s == 0 else None, marker="." if len(e["epoch"]) < 12 else None)
    ax.set_xlabel("epoch")
    ax.set_ylabel("training loss")
    ax.set_yscale("log")
    plain = FuncFormatter(lambda y, _: f"{y:g}")
    ax.yaxis.set_major_formatter(plain)
    ax.yaxis.set_minor_formatter(plain)
    ax.tick_params(axis="y", which="minor", labelsize=7)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_title("training loss per epoch (thick: seed 0, thin: other seeds)", fontsize=9)
    ax.legend(fontsize=8)
    fig.tight_layout()
    _save(fig, out)
    _close(fig)
    return out


@dataclass
class AttentionClip:
    """One test clip of the l3 model: what the model saw and what it said."""

    name: str
    label: int
    prediction: int
    score: float  # softmax of the prediction
    crops: np.ndarray  # (T, S, S, 3) uint8: the clip's frames
    a_s: np.ndarray  # (m, n)
    a_t: np.ndarray | None  # (t_c,)


def l3_attention_clips(run_dir: Path, classes: list[int], *, per_class: int = 1) -> list[AttentionClip]:
    """A_S and A_T of a run's model on the first ``per_class`` test clips (by name) of each class in ``classes``.

    The model is loaded as ``vpnet predict`` loads it (:func:`vpnet.inference.load_model`: ``config.yaml``
    and ``final.safetensors``) and runs on the run's cached test maps (``data.feature_dir``: what the
    evaluation read); the frames are the test clips of the prepared store those maps were extracted
    from (the same sample cut, with no feature cache), converted back to uint8.
    """
    import dataclasses

    import torch

    from vpnet.engine.builders import build_split
    from vpnet.engine.config_loader import load_config
    from vpnet.engine.feature_store import FeatureDataset
    from vpnet.engine.forward import eval_clips
    from vpnet.inference import load_model

    cfg = load_config(Path(run_dir) / "config.yaml", [])
    if not cfg.data.feature_dir:
        raise ValueError(f"{run_dir} was not trained on cached maps (data.feature_dir is not set)")
    model, spec = load_model(run=run_dir)
    if model.vpn is None:
        raise ValueError(f"{run_dir}: variant {spec.variant} has no attention")
    clips = eval_clips(cfg)
    feats = FeatureDataset(cfg.data.feature_dir, "test", mode="test", clips=clips)
    video_cfg = dataclasses.replace(cfg, data=dataclasses.replace(cfg.data, feature_dir=None))
    videos = build_split(video_cfg, "test", mode="test", clips=clips)
    video_index = {r.name: i for i, r in enumerate(videos.records)}
    wanted = {c: per_class for c in classes}
    out: list[AttentionClip] = []
    for i in np.argsort(np.array(feats.names, dtype=object)[feats.index], kind="stable"):
        label = int(feats.labels[feats.index[i]])
        if wanted.get(label, 0) <= 0:
            continue
        item = feats[int(i)]
        if item["name"] not in video_index:
            continue
        wanted[label] -= 1
        with torch.no_grad():
            y = model(features=item["features"].float(), poses=item["poses"].float())  # K clips of the video
        probs = y.logits.softmax(-1)
        k = int(probs.max(-1).values.argmax())  # the clip the video's score (max over clips) comes from
        pred = int(probs.max(0).values.argmax())
        video = videos.load(video_index[item["name"]])["video"][k].numpy()  # (3, T, S, S) in [-1, 1]
        crops = np.clip(np.rint((np.moveaxis(video, 0, -1) + 1.0) * 127.5), 0, 255).astype(np.uint8)
        out.append(AttentionClip(
            name=item["name"], label=label, prediction=pred, score=float(probs.max(0).values[pred]), crops=crops,
            a_s=y.a_s[k].float().numpy(), a_t=None if y.a_t is None else y.a_t[k].float().numpy()))
        if not any(wanted.values()):
            break
    return out


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")


def plot_attention(result: BenchmarkResult, report: Path, *, per_class: int = 1) -> tuple[Path | None, list[Path]]:
    """``attention.png`` (one row per confusable pair) and ``attention/*.png`` (one per clip) of l3 seed 0."""
    from vpnet.viz import _figure, _save, attention_panels, plot_attention_over_time, show_attention

    run = _l3_run(result)
    if run is None:
        return None, []
    names = list(result.classes)
    pairs = [(a, a + 1) for a in range(0, len(names) - 1, 2)]  # consecutive classes are the confusable pairs
    clips = l3_attention_clips(run, [c for p in pairs for c in p], per_class=per_class)
    if not clips:
        log.warning("no test clip of %s to draw the attention on", run)
        return None, []
    folder = report / "attention"
    folder.mkdir(parents=True, exist_ok=True)
    singles = []
    rows = []  # one per pair with test clips
    for pair_no, pair in enumerate(pairs, 1):
        row = sorted((c for c in clips if c.label in pair), key=lambda c: (c.label, c.name))
        for c in row:
            path = folder / f"pair{pair_no}-{_slug(names[c.label])}-{c.name}.png"
            _close(plot_attention_over_time(c.crops, c.a_s, c.a_t, path, title=_clip_title(c, names)))
            singles.append(path)
        if row:
            rows.append(row)
    t_c = max(1 if c.a_t is None else len(c.a_t) for c in clips)
    cols = max(len(r) for r in rows) * t_c
    fig, axes = _figure(1.7 * cols, 1.95 * len(rows), ncols=cols, nrows=len(rows))
    for ax in axes.flat:
        ax.axis("off")
    for r, row in enumerate(rows):
        for j, c in enumerate(row):
            for t, (frame, heat) in enumerate(attention_panels(c.crops, c.a_s, c.a_t)):
                ax = axes[r, j * t_c + t]
                show_attention(ax, frame, heat)
                # the clip's name over its first panel, left-aligned so that it runs over the next ones
                ax.set_title(("" if t else _clip_title(c, names, short=True) + "\n")
                             + (f"A_T={float(c.a_t[t]):.2f}" if c.a_t is not None else ""), fontsize=7, loc="left")
    fig.suptitle("l3 (seed 0): A_ST = A_S x A_T on test clips, one row per confusable pair", fontsize=9)
    fig.tight_layout()
    combined = report / ATTENTION
    _save(fig, combined)
    _close(fig)
    return combined, singles


def plot_attention_truth(result: BenchmarkResult, out: Path, *, clips: int = 10) -> Path | None:
    """A_S of ``l2`` and ``l3`` (seed 0) on the same test clips (one per object class, first by name), over
    the clip's middle frame, with the ground-truth boxes of the acting (green) and decoy (red) hand, one
    colour bar (A_S as a share of the map) and a legend."""
    import dataclasses

    from matplotlib.patches import Patch, Rectangle

    from vpnet.data.adl import CLASSES
    from vpnet.engine.builders import build_split
    from vpnet.engine.forward import eval_clips
    from vpnet.viz import _figure, _save

    models = [v for v in ("l2", "l3") if v in result.variants and result.variants[v].attention]
    if not models:
        return None
    measures = {v: result.variants[v].attention[0] for v in models}
    names = measures[models[0]]["names"]
    labels = dict(zip(result.test_names, result.test_labels.tolist()))
    chosen: list[str] = []
    for k, cls in enumerate(CLASSES):
        if cls.kind == "object" and len(chosen) < clips:
            chosen += sorted(n for n in names if labels.get(n) == k)[:1]
    if not chosen:
        return None
    cfg = result.base_config
    test_dir = result.feature_dir / "test"
    cache_names = json.loads((test_dir / "names.json").read_text())
    windows, crops = np.load(test_dir / "windows.npy"), np.load(test_dir / "boxes.npy")
    video_cfg = dataclasses.replace(cfg, data=dataclasses.replace(cfg.data, feature_dir=None))
    videos = build_split(video_cfg, "test", mode="test", clips=eval_clips(cfg))
    video_index = {r.name: i for i, r in enumerate(videos.records)}
    m, n = result.attention_grid[1:]
    fig, axes = _figure(1.6 * len(chosen) + 0.8, 1.75 * len(models) + 0.5, ncols=len(chosen), nrows=len(models))
    image = None
    for col, name in enumerate(chosen):
        frames = videos.load(video_index[name])["video"][0].numpy()  # (3, T, S, S) in [-1, 1]
        t_mid = frames.shape[1] // 2
        frame = np.clip(np.rint((np.moveaxis(frames[:, t_mid], 0, -1) + 1) * 127.5), 0, 255).astype(np.uint8)
        size = frame.shape[0]
        i = cache_names.index(name)
        x0, y0, x1, y1 = crops[i, 0]
        truth = json.loads((result.data_root / "annotations" / f"{name}.json").read_text())
        frame_no = int(windows[i, 0, t_mid])
        for row, v in enumerate(models):
            ax = axes[row, col]
            a_s = measures[v]["a_s"][measures[v]["names"].index(name)]
            share = a_s / max(float(a_s.sum()), 1e-12)
            ax.imshow(frame)
            image = ax.imshow(share, cmap="viridis", alpha=0.55, vmin=0, vmax=0.5, extent=(0, size, size, 0),
                              interpolation="nearest")
            for role, color in (("acting", "lime"), ("decoy", "red")):
                bx = np.asarray(truth[role][min(frame_no, len(truth[role]) - 1)], np.float64)
                bx = (bx - [x0, y0, x0, y0]) * size / (x1 - x0)
                ax.add_patch(Rectangle((bx[0], bx[1]), bx[2] - bx[0], bx[3] - bx[1], fill=False, color=color, lw=1.2))
            ax.set_xlim(0, size)
            ax.set_ylim(size, 0)
            ax.set_xticks([])
            ax.set_yticks([])
            if col == 0:
                ax.set_ylabel(v, fontsize=9)
            if row == 0:
                ax.set_title(result.classes[labels[name]], fontsize=7)
    fig.legend(handles=[Patch(fill=False, edgecolor="lime", label="acting hand + its object"),
                        Patch(fill=False, edgecolor="red", label="decoy hand + the other object")],
               loc="lower center", ncol=2, fontsize=8, frameon=False)
    fig.tight_layout(rect=(0, 0.08, 0.93, 1))
    bar = fig.add_axes((0.94, 0.15, 0.012, 0.7))
    fig.colorbar(image, cax=bar).set_label("A_S share of the map", fontsize=8)
    _save(fig, out)
    _close(fig)
    return out


def _clip_title(c: AttentionClip, names: list[str], *, short: bool = False) -> str:
    """The clip's class and the model's answer (with its softmax), and the video's name unless ``short``."""
    verdict = f"right, {c.score:.2f}" if c.prediction == c.label else f"l3 says {names[c.prediction]} {c.score:.2f}"
    return f"{names[c.label]}: {verdict}" if short else f"{names[c.label]} ({c.name}): {verdict}"


# ---------------------------------------------------------------------------------------------
# the page


def _duration(seconds: float) -> str:
    m, s = divmod(int(round(seconds)), 60)
    return f"{m} min {s:02d} s" if m else f"{s} s"


def _link(path: Path, report: Path) -> str:
    """``path`` relative to the report folder when it can be, else absolute."""
    try:
        return os.path.relpath(path, report)
    except ValueError:  # another drive (Windows)
        return str(path)


def _fmt(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def markdown_table(data: dict[str, Any], *, describe: bool = True) -> list[str]:
    """The Table-1-style markdown table of a ``summary.json`` (``describe``: with the "what it is" column):
    top-1, per seed, top-1 on the object pairs, attention precision, eq. (4) matched / shuffled."""
    what = " what it is |" if describe else ""
    lines = [f"| variant |{what} top-1 % (mean ± std) | per seed | object pairs % | attention precision | "
             "L_e matched / shuffled |", "|---|" + "---|" * (6 if describe else 5)]
    for name, v in data["variants"].items():
        what = f" {DESCRIPTIONS.get(name, '')} |" if describe else ""
        le = ("-" if v.get("l_e_matched") is None
              else f"{v['l_e_matched']:.2f} / {v['l_e_shuffled']:.2f}")
        lines.append(f"| `{name}` |{what} **{v['top1_mean']:.1f} ± {v['top1_std']:.1f}** | "
                     + ", ".join(f"{s:.1f}" for s in v["seeds"])
                     + f" | {_fmt(v.get('top1_object_pairs'), '.1f')} | {_fmt(v.get('attention_precision'), '.2f')} | "
                     f"{le} |")
    return lines


def comparison_lines(data: dict[str, Any]) -> list[str]:
    """The paired differences with their 95 % intervals, and the probes' checks, as markdown bullets."""
    lines = [f"- `{k}`: {c['difference']:+.1f} points, 95 % CI [{c['ci95'][0]:+.1f}, {c['ci95'][1]:+.1f}]"
             for k, c in data.get("comparisons", {}).items()]
    probes = data.get("probes", {})
    if "oracle_minus_l1_object_pairs" in probes:
        lines.append(f"- oracle - l1 on the object pairs: {probes['oracle_minus_l1_object_pairs']:+.1f} points "
                     "(the data needs pose-guided selection when this is large)")
    if "fixed_map_minus_l1_object_pairs" in probes:
        lines.append(f"- fixed map - l1 on the object pairs: {probes['fixed_map_minus_l1_object_pairs']:+.1f} points "
                     "(no fixed region solves them when this is small)")
    return lines


def _page(data: dict[str, Any], result: BenchmarkResult, report: Path, pictures: dict[str, Any]) -> str:
    t_c, m, n = data["attention_grid"]
    cfg = result.base_config
    k400 = "from the Kinetics-400 weights" if data["kinetics"] else "randomly initialised: `--no-kinetics`"
    seeds = max((len(v["seeds"]) for v in data["variants"].values()), default=0)
    lines = [
        "# vpnet demo: what each VPN component adds, on vpnet-ADL",
        "",
        f"Size `{data['size']}`: {len(data['classes'])} classes, protocol `{data['protocol']}` "
        f"({data['test_videos'] if data['test_videos'] is not None else '?'} test videos of "
        f"{'the validation performers' if data['protocol'] == 'csval' else 'held-out performers'}), "
        f"clips of {cfg.model.clip_len}x{cfg.model.crop_size}x{cfg.model.crop_size}, attention grid "
        f"t_c x m x n = {t_c} x {m} x {n}, {seeds} seed{'s' * (seeds != 1)} per variant. The I3D is frozen "
        f"({k400}) and its Mixed_5c maps cached; every variant trains with the same recipe, and `l2` and `l3` "
        f"start from the pose backbone of the `pose_only` run of their seed (the two-stage recipe), their "
        f"attention's last layers drawn with std {cfg.model.attention_init_std:g} "
        f"(`model.attention_init_std`). The late fusion weighs l1 by {data['fusion_weight']:g} "
        f"({data['fusion_source']}).",
        "",
        *markdown_table(data),
    ]
    lines += [
        "",
        f"Chance: {data['chance']:.1f} %. Top-1 of each seed from its evaluation's `results.json`; std over seeds "
        f"(ddof 1). *Object pairs*: top-1 on the 10 classes that differ only by the object in the acting hand. "
        "*Attention precision*: A_ST's mass on the acting hand's cells over its mass on the acting and the decoy "
        "hand's cells (ground-truth boxes, object-pair test clips; a pose-blind map scores about 0.5). "
        "*L_e matched / shuffled*: eq. (4) between each clip's f_e and its own P_e, and another clip's (equal "
        f"when the embedding has collapsed). All numbers: [`{SUMMARY}`]({SUMMARY}). "
        f"Wall time: {_duration(data['wall_seconds'])}.",
        "",
        "Paired differences in top-1 (95 % bootstrap intervals over the test videos, seeds pooled):",
        "",
        *comparison_lines(data),
        "",
    ]
    if data["l3_run"]:
        run = Path(data["l3_run"])
        lines += [
            "## The trained l3 model",
            "",
            f"Run folder [`{_link(run, report)}`]({_link(run, report)}) (absolute: `{run}`): `config.yaml` and "
            "`final.safetensors`, what `vpnet predict` needs:",
            "",
            "```bash",
            f"vpnet predict my_video.mp4 --run {run} --out my_video.json",
            "```",
            "",
        ]
    if pictures.get("confusion"):
        lines += ["## Confusion matrix of l3 (seed 0), test subjects", "", f"![l3 confusion matrix]({CONFUSION})", ""]
    if pictures.get("attention"):
        lines += [
            "## A_ST attention of l3 (seed 0) on test clips of each confusable pair",
            "",
            "Consecutive classes are pairs: the object pairs differ only by the object in the acting hand (RGB "
            "tells them apart), the depth pairs only by motion in depth (the 3D poses do). Each panel: the "
            "middle frame of a feature time step, A_S x A_T there (scaled by the largest step) over it.",
            "",
            f"![A_ST attention]({ATTENTION})",
            "",
            "One picture per clip: " + ", ".join(f"[`{p.name}`]({_link(p, report)})" for p in pictures["singles"]),
            "",
        ]
    if pictures.get("truth"):
        lines += [
            "## Where l2 and l3 look: A_S against the ground truth",
            "",
            "The same test clips of the object pairs for both models (seed 0): the middle frame, A_S over it "
            "(colour bar: the share of the map's mass per cell, 1/(m n) for a uniform map), the acting hand with "
            "its object (green box) and the decoy hand with the pair's other object (red box).",
            "",
            f"![A_S of l2 and l3 against the ground truth]({TRUTH})",
            "",
        ]
    if pictures.get("curves"):
        lines += ["## Training curves", "", f"![training curves]({CURVES})", ""]
    return "\n".join(lines)


def write_report(result: BenchmarkResult, out: Path, *, wall_seconds: float, size_name: str) -> Path:
    """Write ``<out>/report/`` (see the module docstring) and return that folder."""
    report = Path(out) / "report"
    report.mkdir(parents=True, exist_ok=True)
    data = summary(result, wall_seconds=wall_seconds, size_name=size_name)
    pictures: dict[str, Any] = {"singles": []}
    pictures["confusion"] = plot_l3_confusion(result, report / CONFUSION)
    pictures["curves"] = plot_curves(result, report / CURVES)
    pictures["attention"], pictures["singles"] = plot_attention(result, report)
    pictures["truth"] = plot_attention_truth(result, report / TRUTH)
    atomic_write_bytes(report / SUMMARY, (json.dumps(data, indent=2) + "\n").encode())
    atomic_write_bytes(report / PAGE, (_page(data, result, report, pictures) + "\n").encode())
    return report
