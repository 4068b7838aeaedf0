"""Score fusion of several evaluated runs (multi-stream ensembles: joint, bone, joint motion, bone motion).

Each run's ``vpnet evaluate`` wrote ``scores.npz`` (:func:`vpnet.engine.evaluate.save_scores`): every
video's max over clips of the softmax. The ensemble's score of a video is the weighted mean
``sum_i w_i s_i / sum_i w_i`` of the runs' scores (CTR-GCN and PySKL fuse their streams' scores as a
weighted sum; the argmax is the same). Nothing is recomputed: the runs must have been evaluated on the same
videos of the same split with the same classes, which is checked by name, label and class list.

Files in the output folder: ``results.json`` (each run's metrics and the fusion's, the weights),
``confusion.csv``, ``confusion.png``, ``per_class.csv``, ``predictions.csv`` and ``scores.npz`` of the fusion.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from vpnet.errors import ConfigError, DataError

log = logging.getLogger(__name__)

__all__ = ["ScoreSet", "find_scores", "load_scores", "fuse", "ensemble", "EnsembleResult"]


@dataclass
class ScoreSet:
    """One run's saved scores (see :func:`vpnet.engine.evaluate.save_scores`)."""

    path: Path
    #: what the run is called in reports: its ``data.pose_stream`` and folder name where known.
    label: str
    scores: np.ndarray
    labels: np.ndarray
    names: np.ndarray
    class_names: list[str]
    primary_metric: str
    dataset: str
    protocol: str
    split: str


def find_scores(source: str | Path, split: str = "test") -> Path:
    """The ``scores.npz`` that ``source`` names: the file, an evaluation folder holding it, or a run folder
    (``<run>/eval/scores.npz`` or its one ``<run>/eval/<split>-<mode>/scores.npz``)."""
    p = Path(source)
    if p.is_file():
        return p
    if not p.is_dir():
        raise DataError(p, "not found (give a run folder, an evaluation folder or a scores.npz file)")
    for candidate in (p / "scores.npz", p / "eval" / "scores.npz"):
        if candidate.is_file():
            return candidate
    found = sorted((p / "eval").glob(f"{split}-*/scores.npz"))
    if len(found) == 1:
        return found[0]
    if len(found) > 1:
        raise DataError(p, f"holds several evaluations of {split} ({', '.join(f.parent.name for f in found)}); "
                           "name the one to fuse (its folder or its scores.npz)")
    raise DataError(p, f"no saved scores (scores.npz) of the {split} split: evaluate it first "
                       f"(vpnet evaluate --run {p})")


def _label_of(path: Path) -> str:
    """``bone (run-name)`` from the run's config.yaml beside the evaluation, else the folder name."""
    for parent in path.parents:
        cfg = parent / "config.yaml"
        if cfg.is_file():
            import yaml

            try:
                stream = (yaml.safe_load(cfg.read_text()) or {}).get("data", {}).get("pose_stream", "joint")
            except (yaml.YAMLError, AttributeError):
                break
            return f"{stream} ({parent.name})"
    return path.parent.name


def load_scores(source: str | Path, split: str = "test") -> ScoreSet:
    """A run's saved scores (:func:`find_scores` says where from); a file that is not vpnet's scores is a
    DataError naming it."""
    path = find_scores(source, split)
    try:
        with np.load(path, allow_pickle=False) as z:
            d = {k: z[k] for k in z.files}
        s = ScoreSet(path=path, label=_label_of(path), scores=d["scores"].astype(np.float64),
                     labels=d["labels"].astype(np.int64), names=d["names"].astype(str),
                     class_names=[str(c) for c in d["class_names"]], primary_metric=str(d["primary_metric"]),
                     dataset=str(d["dataset"]), protocol=str(d["protocol"]), split=str(d["split"]))
    except (OSError, ValueError, KeyError) as e:
        raise DataError(path, f"not a scores file written by vpnet evaluate ({e})") from None
    n, k = len(s.names), len(s.class_names)
    if s.scores.shape != (n, k) or s.labels.shape != (n,) or not np.isfinite(s.scores).all():
        raise DataError(path, f"scores {s.scores.shape} do not fit its {n} videos and {k} classes, or are not finite")
    return s


def fuse(sets: Sequence[ScoreSet], weights: Sequence[float] | None = None) -> np.ndarray:
    """(N, K) weighted mean of the runs' scores, ``sum_i w_i s_i / sum_i w_i`` (equal weights by default);
    DataError when the runs scored different videos, labels, classes or splits."""
    if not sets:
        raise ConfigError("an ensemble needs at least one run")
    w = np.ones(len(sets)) if weights is None else np.asarray(weights, dtype=np.float64)
    if w.shape != (len(sets),) or (w < 0).any() or w.sum() <= 0 or not np.isfinite(w).all():
        raise ConfigError(f"--weights: {len(sets)} non-negative numbers with a positive sum are needed, got "
                          f"{list(weights or [])}")
    ref = sets[0]
    for s in sets[1:]:
        what = None
        if s.class_names != ref.class_names:
            what = "classes"
        elif (s.dataset, s.protocol, s.split) != (ref.dataset, ref.protocol, ref.split):
            what = f"data ({s.dataset} {s.protocol} {s.split} against {ref.dataset} {ref.protocol} {ref.split})"
        elif len(s.names) != len(ref.names) or (s.names != ref.names).any():
            what = f"videos ({len(s.names)} against {len(ref.names)}, or other names)"
        elif (s.labels != ref.labels).any():
            what = "labels"
        if what:
            raise DataError(s.path, f"cannot be fused with {ref.path}: other {what}")
    return np.tensordot(w / w.sum(), np.stack([s.scores for s in sets]), axes=1)


@dataclass
class EnsembleResult:
    #: (label, primary metric) of each run, then ("fusion", ...), as fractions.
    rows: list[tuple[str, float]]
    primary_metric: str
    out_dir: Path | None
    results: dict[str, Any]
    scores: np.ndarray


def ensemble(sources: Sequence[str | Path], *, weights: Sequence[float] | None = None,
             out_dir: str | Path | None = None, split: str = "test") -> EnsembleResult:
    """Fuse the saved scores of ``sources`` (runs or evaluations, :func:`find_scores`); report each and the
    fusion; write the fusion's files to ``out_dir`` when given."""
    from vpnet.engine.evaluate import Predictions, _write_predictions, save_scores
    from vpnet.engine.metrics import classification_metrics, write_metrics

    sets = [load_scores(s, split) for s in sources]
    fused = fuse(sets, weights)
    ref = sets[0]
    primary = ref.primary_metric
    per_run = []
    for s in sets:
        m = classification_metrics(s.scores, s.labels, class_names=s.class_names)
        per_run.append({"label": s.label, "scores": str(s.path), primary: m.get(primary), "top1": m.top1,
                        "mean_class": m.mean_class})
    metrics = classification_metrics(fused, ref.labels, class_names=ref.class_names)
    w = [1.0] * len(sets) if weights is None else [float(x) for x in weights]
    extra = {"ensemble": per_run, "weights": w, "dataset": ref.dataset, "protocol": ref.protocol, "split": ref.split,
             "fusion": "weighted mean of the runs' scores (max over clips of the softmax)"}
    results: dict[str, Any] = {**metrics.to_json(), **extra}
    out = None
    if out_dir is not None:
        from vpnet._io import check_writable

        out = check_writable(Path(out_dir), what="output folder")
        results = write_metrics(out, metrics, primary_metric=primary, extra=extra,
                                title=f"{ref.dataset} {ref.protocol} {ref.split} (ensemble of {len(sets)})")
        pred = Predictions(fused, ref.labels, list(ref.names))
        _write_predictions(out / "predictions.csv", pred, ref.class_names)
        save_scores(out / "scores.npz", pred, ref.class_names, primary_metric=primary, dataset=ref.dataset,
                    protocol=ref.protocol, split=ref.split)
    rows = [(r["label"], r[primary]) for r in per_run] + [("fusion", metrics.get(primary))]
    return EnsembleResult(rows, primary, out, results, fused)
