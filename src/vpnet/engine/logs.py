"""Run logs: stdlib logging to the console and ``<run>/train.log``, CSV tables, TensorBoard.

Only the main process writes files. CSV tables are appended across resumed runs; rows from steps that
are about to be redone (logged after the checkpoint a run resumes from) are dropped first, so a
resumed run's ``steps.csv`` reads like an uninterrupted one.
"""

from __future__ import annotations

import csv
import logging
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

PACKAGE_LOGGER = "vpnet"


def setup_logging(run_dir: Path | None = None, *, rank: int = 0, level: int = logging.INFO) -> logging.Logger:
    """Console handler (``[rank N]`` prefix on other ranks, warnings only there) and a file handler.

    Handlers added here replace earlier ones of this function, so calling it twice (tests, a second
    run in one process) does not duplicate lines.
    """
    logger = logging.getLogger(PACKAGE_LOGGER)
    logger.setLevel(level)
    for h in list(logger.handlers):
        if getattr(h, "_vpnet", False):
            logger.removeHandler(h)
            h.close()
    prefix = "" if rank == 0 else f"[rank {rank}] "
    console = logging.StreamHandler(sys.stderr)
    console.setFormatter(logging.Formatter(f"{prefix}%(asctime)s %(levelname)s %(message)s", "%H:%M:%S"))
    console.setLevel(level if rank == 0 else logging.WARNING)
    console._vpnet = True  # type: ignore[attr-defined]
    logger.addHandler(console)
    if run_dir is not None and rank == 0:
        run_dir.mkdir(parents=True, exist_ok=True)
        fh = logging.FileHandler(run_dir / "train.log")
        fh.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        fh._vpnet = True  # type: ignore[attr-defined]
        logger.addHandler(fh)
    logger.propagate = False
    return logger


class CSVLog:
    """An append-only CSV table with a fixed header; ``truncate_after(col, value)`` drops later rows."""

    def __init__(self, path: Path, columns: list[str]):
        self.path = path
        self.columns = columns
        if not path.exists() or path.stat().st_size == 0:
            with open(path, "w", newline="") as f:
                csv.writer(f).writerow(columns)

    def truncate_after(self, column: str, value: float) -> None:
        """Keep only the rows whose ``column`` is <= ``value`` (rows about to be redone go)."""
        with open(self.path, newline="") as f:
            rows = list(csv.DictReader(f))
        kept = [r for r in rows if r.get(column) not in (None, "") and float(r[column]) <= value]
        if len(kept) != len(rows):
            with open(self.path, "w", newline="") as f:
                w = csv.DictWriter(f, fieldnames=self.columns, extrasaction="ignore")
                w.writeheader()
                w.writerows(kept)

    def write(self, row: Mapping[str, Any]) -> None:
        with open(self.path, "a", newline="") as f:
            csv.DictWriter(f, fieldnames=self.columns, extrasaction="ignore").writerow(
                {k: _fmt(row.get(k)) for k in self.columns}
            )


def _fmt(v: Any) -> Any:
    return f"{v:.6g}" if isinstance(v, float) else ("" if v is None else v)


class RunLog:
    """The step and epoch tables of a run, plus TensorBoard scalars when available (main process only)."""

    STEP_COLUMNS = ["global_step", "epoch", "step", "lr", "loss", "ce", "embed", "attn", "clips_per_s", "skipped_steps"]
    EPOCH_COLUMNS = ["epoch", "global_step", "lr", "train_loss", "val_top1", "val_top5", "val_mean_class", "best"]

    def __init__(self, run_dir: Path, *, enabled: bool, tensorboard: bool, resume_step: int = 0, resume_epoch: int = 0):
        self.enabled = enabled
        self.tb = None
        if not enabled:
            return
        self.steps = CSVLog(run_dir / "steps.csv", self.STEP_COLUMNS)
        self.epochs = CSVLog(run_dir / "epochs.csv", self.EPOCH_COLUMNS)
        self.steps.truncate_after("global_step", resume_step)
        self.epochs.truncate_after("epoch", resume_epoch)  # rows are 1-based: epochs 1..resume_epoch are done
        if tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter
            except ImportError:  # tensorboard is an optional extra
                logging.getLogger(__name__).info("tensorboard is not installed: CSV logs only")
            else:
                self.tb = SummaryWriter(str(run_dir / "tensorboard"), purge_step=resume_step or None)

    def step(self, row: Mapping[str, Any]) -> None:
        if not self.enabled:
            return
        self.steps.write(row)
        if self.tb is not None:
            for k in ("loss", "ce", "embed", "attn", "lr", "clips_per_s"):
                if row.get(k) is not None:
                    self.tb.add_scalar(f"train/{k}", row[k], row["global_step"])

    def epoch(self, row: Mapping[str, Any]) -> None:
        if not self.enabled:
            return
        self.epochs.write(row)
        if self.tb is not None:
            for k in ("train_loss", "val_top1", "val_top5", "val_mean_class"):
                if row.get(k) is not None:
                    self.tb.add_scalar(f"epoch/{k}", row[k], row["epoch"])
            self.tb.flush()

    def close(self) -> None:
        if self.tb is not None:
            self.tb.close()
