"""Classification metrics and their files: top-k, per-class and mean per-class accuracy, confusion matrix.

Plain numpy, small enough to check by hand. Conventions:

- ``scores`` (N, K): any per-class scores (softmax, max over clips of the softmax, logits); a video's
  prediction is its arg-max, ties broken towards the lower class index (``np.argmax``).
- top-k: the label is among the k highest scores (k is capped at K; ties as for the arg-max).
- per-class accuracy of class c: correct top-1 among the videos of class c (recall). Classes with no
  video in the evaluated split have no accuracy (NaN) and are left out of the mean per-class accuracy
  (the Smarthome protocol's metric), so the mean is over the classes that occur.
- confusion matrix C (K, K): ``C[true, predicted]`` counts.
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

#: names of the metrics a protocol can rank by (``DatasetInfo.primary_metric``).
METRIC_NAMES = {"top1": "top-1 accuracy", "top5": "top-5 accuracy", "mean_class": "mean per-class accuracy"}


def paired_bootstrap(correct_a: np.ndarray, correct_b: np.ndarray, *, resamples: int = 10_000, level: float = 0.95,
                     seed: int = 0) -> tuple[float, float, float]:
    """The accuracy difference a - b in % and its percentile bootstrap interval, paired over videos.

    ``correct_a``, ``correct_b`` (S, N): 1 where model a (b) is right on video n, for S seeds of each
    (the same N test videos, the same order). Each resample draws N videos with replacement and takes
    the mean over seeds and drawn videos of a - b, so the interval covers the test videos' sampling with
    the seeds pooled (Efron & Tibshirani 1993, ch. 13). Returns (difference, low, high).
    """
    a, b = np.atleast_2d(np.asarray(correct_a, np.float64)), np.atleast_2d(np.asarray(correct_b, np.float64))
    if a.shape[1:] != b.shape[1:] or a.shape[1] == 0:
        raise ValueError(f"correct_a and correct_b must be (S, N) over the same N videos, got {a.shape}, {b.shape}")
    diff = a.mean(0) - b.mean(0)  # (N,): per video, pooled over seeds
    rng = np.random.default_rng(seed)
    means = diff[rng.integers(0, len(diff), size=(resamples, len(diff)))].mean(1)
    tail = 100 * (1 - level) / 2
    low, high = np.percentile(means, [tail, 100 - tail])
    return 100 * float(diff.mean()), 100 * float(low), 100 * float(high)


def confusion_matrix(pred: np.ndarray, target: np.ndarray, num_classes: int) -> np.ndarray:
    """(K, K) int64 counts, rows = true class, columns = predicted class."""
    pred = np.asarray(pred, dtype=np.int64)
    target = np.asarray(target, dtype=np.int64)
    if pred.shape != target.shape or pred.ndim != 1:
        raise ValueError(f"pred and target must be (N,) arrays of the same length, got {pred.shape} and {target.shape}")
    for name, a in (("pred", pred), ("target", target)):
        if a.size and (a.min() < 0 or a.max() >= num_classes):
            raise ValueError(f"{name} has class indices outside [0, {num_classes}): min {a.min()}, max {a.max()}")
    counts = np.bincount(target * num_classes + pred, minlength=num_classes * num_classes)
    return counts.reshape(num_classes, num_classes)


def topk_correct(scores: np.ndarray, target: np.ndarray, k: int) -> np.ndarray:
    """(N,) bool: the true class is among the k highest scores.

    Ties are broken towards the lower class index, as ``argmax`` does, so k = 1 agrees with top-1.
    """
    scores = np.asarray(scores)
    target = np.asarray(target, dtype=np.int64)
    k = min(k, scores.shape[1])
    true_score = scores[np.arange(len(target)), target][:, None]
    lower_index = np.arange(scores.shape[1])[None, :] < target[:, None]
    ahead = (scores > true_score) | ((scores == true_score) & lower_index)
    return ahead.sum(axis=1) < k


@dataclass
class ClassificationMetrics:
    num_samples: int
    top1: float
    #: None with 5 classes or fewer: every sample would be right (not a measurement).
    top5: float | None
    mean_class: float
    #: (K,) accuracy per class, NaN for classes without samples.
    per_class: np.ndarray
    #: (K,) number of samples per class.
    support: np.ndarray
    #: (K, K) ``[true, predicted]``.
    confusion: np.ndarray
    class_names: list[str]

    def get(self, name: str) -> float:
        """A headline metric by name: ``top1``, ``top5`` or ``mean_class``."""
        if name not in METRIC_NAMES:
            raise KeyError(f"unknown metric {name!r}; known: {', '.join(METRIC_NAMES)}")
        return float(getattr(self, name))

    def summary(self) -> dict[str, float]:
        """The headline metrics (top-5 only with more than 5 classes)."""
        out = {"top1": self.top1, "top5": self.top5, "mean_class": self.mean_class}
        return {k: v for k, v in out.items() if v is not None}

    def to_json(self) -> dict[str, Any]:
        return {
            "num_samples": self.num_samples,
            **self.summary(),
            "per_class": {
                n: (None if math.isnan(a) else float(a)) for n, a in zip(self.class_names, self.per_class)
            },
            "support": {n: int(s) for n, s in zip(self.class_names, self.support)},
        }


def classification_metrics(
    scores: np.ndarray, target: np.ndarray, *, class_names: Sequence[str] | None = None
) -> ClassificationMetrics:
    """All metrics of (N, K) scores against (N,) true labels."""
    scores = np.asarray(scores, dtype=np.float64)
    target = np.asarray(target, dtype=np.int64)
    if scores.ndim != 2 or target.shape != (scores.shape[0],):
        raise ValueError(f"expected scores (N, K) and target (N,), got {scores.shape} and {target.shape}")
    n, k = scores.shape
    names = list(class_names) if class_names is not None else [str(i) for i in range(k)]
    if len(names) != k:
        raise ValueError(f"{len(names)} class names for {k} score columns")
    if n == 0:
        raise ValueError("no samples to evaluate")
    cm = confusion_matrix(scores.argmax(axis=1), target, k)
    support = cm.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        per_class = np.where(support > 0, np.diag(cm) / np.maximum(support, 1), np.nan)
    return ClassificationMetrics(
        num_samples=n,
        top1=float(np.trace(cm) / n),
        top5=float(topk_correct(scores, target, 5).mean()) if k > 5 else None,
        mean_class=float(np.nanmean(per_class)),
        per_class=per_class,
        support=support,
        confusion=cm,
        class_names=names,
    )


# --- files ----------------------------------------------------------------------------------------


def write_confusion_csv(path: str | Path, cm: np.ndarray, class_names: Sequence[str]) -> None:
    """CSV with a header row of predicted classes and one row per true class."""
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["true \\ predicted", *class_names])
        for name, row in zip(class_names, cm):
            w.writerow([name, *map(int, row)])


def write_per_class_csv(path: str | Path, m: ClassificationMetrics) -> None:
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["class_index", "class_name", "support", "correct", "accuracy"])
        for i, name in enumerate(m.class_names):
            acc = "" if math.isnan(m.per_class[i]) else f"{m.per_class[i]:.6f}"
            w.writerow([i, name, int(m.support[i]), int(m.confusion[i, i]), acc])


def plot_confusion(path: str | Path, cm: np.ndarray, class_names: Sequence[str], *, title: str = "") -> None:
    """Row-normalised confusion matrix as a PNG, class names on both axes (matplotlib, Agg)."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure  # no pyplot: no global figure state

    k = len(class_names)
    size = min(4 + 0.22 * k, 40)
    fig = Figure(figsize=(size, size), dpi=100)
    ax = fig.add_subplot()
    rows = cm.sum(axis=1, keepdims=True)
    norm = np.divide(cm, rows, out=np.zeros(cm.shape, dtype=float), where=rows > 0)
    im = ax.imshow(norm, vmin=0, vmax=1, cmap="Blues", interpolation="nearest")
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04, label="fraction of the true class")
    font = max(4, min(9, 400 // max(k, 1)))
    ax.set_xticks(range(k), labels=class_names, rotation=90, fontsize=font)
    ax.set_yticks(range(k), labels=class_names, fontsize=font)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    if k <= 20:  # counts stay readable only on small matrices
        for i in range(k):
            for j in range(k):
                if cm[i, j]:
                    ax.text(j, i, str(cm[i, j]), ha="center", va="center", fontsize=font,
                            color="white" if norm[i, j] > 0.5 else "black")
    if title:
        ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path)


def write_metrics(
    out_dir: str | Path,
    m: ClassificationMetrics,
    *,
    primary_metric: str,
    extra: dict[str, Any] | None = None,
    title: str = "",
) -> dict[str, Any]:
    """``results.json``, ``confusion.csv``, ``confusion.png``, ``per_class.csv`` in ``out_dir``.

    Returns the JSON written: the headline metrics, ``primary_metric`` (its key, name and value),
    per-class accuracies and support, and ``extra`` (run, checkpoint, split, mode, ...).
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    result = {
        "primary_metric": {"key": primary_metric, "name": METRIC_NAMES[primary_metric], "value": m.get(primary_metric)},
        **m.to_json(),
        **(extra or {}),
    }
    (out / "results.json").write_text(json.dumps(result, indent=2) + "\n")
    write_confusion_csv(out / "confusion.csv", m.confusion, m.class_names)
    write_per_class_csv(out / "per_class.csv", m)
    plot_confusion(out / "confusion.png", m.confusion, m.class_names, title=title)
    return result


def format_summary(m: ClassificationMetrics, primary_metric: str) -> str:
    """One line per headline metric, the primary one marked."""
    lines = []
    for key, name in METRIC_NAMES.items():
        if getattr(m, key) is None:  # top-5 of 5 classes or fewer
            continue
        mark = "  <- primary metric of this protocol" if key == primary_metric else ""
        lines.append(f"{name:>24}: {100 * m.get(key):6.2f} %{mark}")
    return "\n".join(lines)
