"""Evaluation: the paper's inference and the metrics files.

``eval.mode=multi`` (paper 4.1): ``eval.num_clips`` clips spread over each video, the whole human crop
resized to ``eval.short_side`` (no centre crop; the model runs fully convolutionally in space and
resizes A_S to the larger feature map), and the video's score is the **max over clips of the softmax
scores**. ``eval.mode=single``: one centre clip at the training size. The output names the protocol's
primary metric (mean per-class accuracy for Smarthome, top-1 elsewhere).

Files in the output folder (default ``<run>/eval/<split>-<mode>/``): ``results.json``,
``confusion.csv``, ``confusion.png``, ``per_class.csv``, ``predictions.csv`` (per video: label,
prediction, its score, the label's score) and ``scores.npz`` (every video's scores over all classes, what
``vpnet evaluate --ensemble`` fuses: :func:`save_scores`).
"""

from __future__ import annotations

import csv
import logging
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import Dataset

from vpnet._io import check_writable
from vpnet.config import Config
from vpnet.data.types import DataError
from vpnet.engine.builders import build_model, build_split, check_dataset, make_loader, require_items
from vpnet.engine.checkpoint import CheckpointManager, load_state_dict
from vpnet.engine.distributed import DistContext, ShardSampler, all_gather_objects, init_distributed, shutdown
from vpnet.engine.forward import batch_size_of, describe_clips, eval_clips, forward_clips
from vpnet.engine.metrics import ClassificationMetrics, classification_metrics, write_metrics

log = logging.getLogger(__name__)


@dataclass
class Predictions:
    """Video-level scores: (N, K) max over clips of the softmax, labels (N,), names (N,), sorted by name."""

    scores: np.ndarray
    labels: np.ndarray
    names: list[str]
    #: items the dataset could not load (reported by collate), summed over processes.
    dropped: int = 0


@torch.no_grad()
def predict(
    model: nn.Module,
    dataset: Dataset,
    *,
    ctx: DistContext | None = None,
    batch_size: int = 1,
    num_workers: int = 0,
    amp: str = "none",
    clip_batch: int = 10,
    channels_last: bool = False,
    desc: str = "evaluate",
) -> Predictions:
    """Scores of every item of ``dataset`` (sharded over processes, gathered on all of them)."""
    from vpnet.progress import progress_bar

    ctx = ctx or DistContext()
    sampler = ShardSampler(len(dataset), world_size=ctx.world_size, rank=ctx.rank)
    loader = make_loader(dataset, batch_size=batch_size, sampler=sampler, num_workers=num_workers, device=ctx.device)
    was_training = model.training
    model.eval()
    names: list[str] = []
    labels: list[int] = []
    scores: list[np.ndarray] = []
    seen = 0
    bar = progress_bar(total=len(sampler), desc=desc, unit="video", enabled=ctx.is_main)
    try:
        for batch in loader:
            bar.update(min(batch_size, bar.total - bar.n))  # the sampler's items this batch held, loaded or not
            n = batch_size_of(batch)
            seen += n
            if n == 0:
                continue
            logits = forward_clips(lambda x: model(**x).logits, batch, device=ctx.device, amp=amp,
                                   clip_batch=clip_batch, channels_last=channels_last)
            scores.append(logits.softmax(-1).amax(1).cpu().numpy())  # max over clips of the softmax
            names.extend(str(x) for x in batch["name"])
            labels.extend(int(x) for x in batch["label"])
    finally:
        bar.close()
        model.train(was_training)
    part = (names, labels, np.concatenate(scores) if scores else None, len(sampler) - seen)
    gathered = all_gather_objects(part, ctx)
    all_names = [x for g in gathered for x in g[0]]
    all_labels = np.array([x for g in gathered for x in g[1]], dtype=np.int64)
    chunks = [g[2] for g in gathered if g[2] is not None]
    dropped = int(sum(g[3] for g in gathered))
    if not chunks:
        raise DataError(None, f"no item of the dataset could be evaluated ({len(dataset)} items, all failed; "
                              "see the warnings above)")
    all_scores = np.concatenate(chunks)
    order = np.argsort(np.array(all_names, dtype=object), kind="stable")
    return Predictions(all_scores[order], all_labels[order], [all_names[i] for i in order], dropped)


@dataclass
class EvalResult:
    #: None for a manifest without labels (only predictions are written).
    metrics: ClassificationMetrics | None
    primary_metric: str
    out_dir: Path
    results: dict[str, Any]
    predictions: Predictions
    #: :func:`item_counts`: expected, evaluated, skipped per reason.
    items: dict[str, Any] = field(default_factory=dict)


def item_counts(dataset: Dataset, pred: Predictions) -> dict[str, Any]:
    """What ``results.json`` says about the split's items: ``items_expected`` (every record of the split),
    ``items_evaluated`` (in the metrics), ``items_skipped`` ({reason: count}: records left out before
    loading, e.g. not in the prepared store, and items that failed to load, each named in the log) and
    ``videos_failed`` (their total, the older name)."""
    left_out = getattr(dataset, "problems", [])
    skipped = Counter(_reason_kind(why) for _, why in left_out)
    if pred.dropped:
        skipped["could not be loaded (each is named in the log)"] += pred.dropped
    return {"items_expected": len(dataset) + len(left_out), "items_evaluated": len(pred.names),
            "items_skipped": dict(skipped), "videos_failed": sum(skipped.values())}


def _reason_kind(why: str) -> str:
    """A skip reason without what is particular to the item (paths, numbers), so that reasons are counted
    by kind: "video file not found: <path>", "action A<n> is not one of the first <n> classes"."""
    return re.sub(r"\d+", "<n>", re.sub(r"\S*[/\\]\S*", "<path>", str(why)))


def describe_items(items: dict[str, Any]) -> str:
    """One line: "evaluated 13 of 14 items; skipped 1: not in the prepared store ... (1)"."""
    line = f"evaluated {items['items_evaluated']} of {items['items_expected']} items"
    if items["items_skipped"]:
        line += f"; skipped {items['videos_failed']}: " + ", ".join(
            f"{why} ({n})" for why, n in items["items_skipped"].items())
    return line


#: the files evaluate writes into its output folder (:func:`vpnet.engine.metrics.write_metrics`, predictions).
OUTPUT_FILES = ("results.json", "confusion.csv", "confusion.png", "per_class.csv", "predictions.csv", "scores.npz")

#: names of a run folder's weights files that ``checkpoint=`` accepts in place of a path.
RUN_WEIGHTS = ("final", "best")


def find_weights(run_dir: Path, name: str = "final") -> Path:
    """A run folder's weights: ``final`` (else the newest training checkpoint of an unfinished run) or ``best``.

    The final weights are the default everywhere (evaluate, predict, viz): the paper trains a fixed
    number of epochs and reports the final model, and NTU and N-UCLA have no validation split to
    select another on. ``best`` (selected on ``train.val_split``) is used only when asked for.
    """
    if name not in RUN_WEIGHTS:
        raise ValueError(f"run weights must be one of {', '.join(RUN_WEIGHTS)}; got {name!r}")
    path = run_dir / f"{name}.safetensors"
    if path.is_file():
        return path
    if name == "best":
        raise FileNotFoundError(f"no best.safetensors in {run_dir}: the run had no validation split "
                                "(train.val_split); evaluate its final weights")
    ckpts = CheckpointManager(run_dir / "checkpoints").list()
    if ckpts:
        log.info("no final.safetensors in %s (training did not finish): using the newest checkpoint %s",
                 run_dir, ckpts[0].name)
        return ckpts[0]
    raise FileNotFoundError(f"no weights in {run_dir} (final.safetensors or checkpoints/)")


def evaluate(
    cfg: Config,
    *,
    checkpoint: str | Path | None = None,
    split: str | None = None,
    out_dir: str | Path | None = None,
    run_dir: str | Path | None = None,
) -> EvalResult:
    """Evaluate a checkpoint on a split with ``cfg.eval`` (mode, clips, short side).

    Args:
        checkpoint: weights (any file :func:`vpnet.engine.checkpoint.load_state_dict` reads), or
            ``"final"`` / ``"best"`` for the run folder's files (:func:`find_weights`); default ``final``.
            ``results.json`` names the file and, for best weights, the split they were selected on
            (``selected_on``; a warning when that is the evaluated split).
        split: default ``cfg.eval.split``.
        out_dir: default ``<run>/eval/<split>-<mode>``.
        run_dir: the run folder (default ``<output_dir>/<name>``).
    """
    from vpnet.engine.logs import setup_logging

    ctx = init_distributed(cfg.train.device)
    try:
        setup_logging(None, rank=ctx.rank)
        run_dir = Path(run_dir) if run_dir else Path(cfg.output_dir) / cfg.name
        if checkpoint is None or str(checkpoint) in RUN_WEIGHTS:
            checkpoint = find_weights(run_dir, str(checkpoint or "final"))
        checkpoint = Path(checkpoint)
        if not checkpoint.is_file():  # before the data is scanned; the model is built once the split has items
            raise FileNotFoundError(f"checkpoint not found: {checkpoint}")
        split = split or cfg.eval.split
        mode = cfg.eval.mode
        out = check_writable(Path(out_dir) if out_dir else run_dir / "eval" / f"{split}-{mode}", what="output folder")
        info = check_dataset(cfg, [split], labels=False)
        num_clips, short_side = eval_clips(cfg)
        dataset = require_items(cfg, split, build_split(cfg, split, mode="test", clips=(num_clips, short_side)))
        state, meta = load_state_dict(checkpoint)
        model = build_model(cfg, ctx.device, checkpoint=state, mode="exact", source=str(checkpoint))
        selected_on = meta.get("selected_on")  # set in best weights: the split that chose them
        if selected_on == split:
            log.warning("%s was selected on the %s split it is evaluated on: an optimistic estimate "
                        "(results.json: selected_on=%s)", checkpoint.name, split, split)
        log.info("evaluating %s on %s/%s %s (%d videos, %s)", checkpoint, info.name, cfg.data.protocol, split,
                 len(dataset), describe_clips(num_clips, short_side))
        pred = predict(
            model, dataset, ctx=ctx, batch_size=cfg.eval.batch_size, num_workers=cfg.data.num_workers,
            amp=cfg.eval.amp, clip_batch=cfg.eval.clip_batch, channels_last=cfg.train.channels_last,
        )
        items = item_counts(dataset, pred)
        if items["items_skipped"]:
            log.warning("%s", describe_items(items))
        if len(pred.labels) and (pred.labels < 0).all():  # a manifest without labels: predictions only
            return _write_unlabelled(out, pred, checkpoint, ctx.is_main, cfg.model.num_classes,
                                     {"checkpoint": str(checkpoint), "selected_on": selected_on,
                                      "dataset": info.name, "split": split,
                                      "mode": mode, "num_clips": num_clips, "short_side": short_side,
                                      **items}, items)
        metrics = classification_metrics(pred.scores, pred.labels, class_names=info.class_names)
        extra = {
            "checkpoint": str(checkpoint), "selected_on": selected_on, "dataset": info.name,
            "protocol": cfg.data.protocol, "split": split,
            "mode": mode, "num_clips": num_clips, "short_side": short_side, **items,
        }
        results: dict[str, Any] = {}
        if ctx.is_main:
            results = write_metrics(out, metrics, primary_metric=info.primary_metric, extra=extra,
                                    title=f"{info.name} {cfg.data.protocol} {split} ({mode})")
            _write_predictions(out / "predictions.csv", pred, info.class_names)
            save_scores(out / "scores.npz", pred, info.class_names, primary_metric=info.primary_metric,
                        dataset=info.name, protocol=cfg.data.protocol, split=split)
            log.info("%s %s (%s): %s %.2f %% (primary), top-1 %.2f %%, mean per-class %.2f %%; written to %s",
                     info.name, split, mode, info.primary_metric, 100 * metrics.get(info.primary_metric),
                     100 * metrics.top1, 100 * metrics.mean_class, out)
        return EvalResult(metrics, info.primary_metric, out, results, pred, items)
    finally:
        shutdown(ctx)


def save_scores(path: Path, pred: Predictions, class_names: list[str], *, primary_metric: str, dataset: str,
                protocol: str, split: str) -> None:
    """``scores.npz``: ``scores`` (N, K) float32 (each video's max over clips of the softmax), ``labels`` (N,),
    ``names`` (N,) and ``class_names`` (K,) as unicode arrays, and the protocol; no pickles
    (:func:`vpnet.engine.ensemble.load_scores` reads it with ``allow_pickle=False``)."""
    import io

    from vpnet._io import atomic_write_bytes

    buf = io.BytesIO()
    np.savez(buf, scores=pred.scores.astype(np.float32), labels=pred.labels.astype(np.int64),
             names=np.array(pred.names, dtype=str), class_names=np.array(class_names, dtype=str),
             primary_metric=np.array(primary_metric), dataset=np.array(dataset), protocol=np.array(protocol),
             split=np.array(split))
    atomic_write_bytes(path, buf.getvalue())


def _write_predictions(path: Path, pred: Predictions, class_names: list[str]) -> None:
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["name", "label", "label_name", "prediction", "prediction_name", "score", "label_score"])
        for name, label, s in zip(pred.names, pred.labels, pred.scores):
            p = int(s.argmax())
            w.writerow([name, int(label), class_names[label], p, class_names[p], f"{s[p]:.6f}", f"{s[label]:.6f}"])


def _write_unlabelled(out: Path, pred: Predictions, checkpoint: Path, is_main: bool, num_classes: int,
                      extra: dict[str, Any], items: dict[str, Any]) -> EvalResult:
    """``predictions.csv`` (name, prediction, its score) and ``results.json`` without accuracy, for items
    without labels; class names from the checkpoint (vpnet writes them into every weights file)."""
    import json

    from vpnet._io import atomic_write_bytes
    from vpnet.engine.checkpoint import load_tensors

    try:
        names = json.loads(load_tensors(checkpoint, verify=False)[1].get("class_names", "null"))
    except ValueError:
        names = None
    if not isinstance(names, list) or len(names) != num_classes:
        names = [f"class_{i}" for i in range(num_classes)]
    results = {**extra, "labelled": False, "videos": len(pred.names),
               "note": "the manifest has no labels: predictions only, no accuracy"}
    if is_main:
        out.mkdir(parents=True, exist_ok=True)
        with open(out / "predictions.csv", "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["name", "prediction", "prediction_name", "score"])
            for name, s in zip(pred.names, pred.scores):
                p = int(s.argmax())
                w.writerow([name, p, names[p], f"{s[p]:.6f}"])
        atomic_write_bytes(out / "results.json", (json.dumps(results, indent=1) + "\n").encode())
        log.info("%d videos without labels: predictions written to %s (no accuracy)", len(pred.names), out)
    return EvalResult(None, "none", out, results, pred, items)
