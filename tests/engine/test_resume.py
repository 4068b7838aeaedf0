"""Exact resume: a real ``vpnet train`` killed hard (SIGKILL) mid-epoch, or stopped by SIGTERM, and
run again ends with the same weights and validation metrics as an uninterrupted run.

CPU, deterministic mode, same machine and thread count: the comparison is **exact** (bitwise equal
weights), since data, order and dropout are pure functions of (seed, epoch, index/step) and the
optimiser state is in the checkpoint.
"""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from vpnet.engine.checkpoint import CheckpointManager, load_state_dict, load_train_state


def _cmd(overrides: list[str]) -> list[str]:
    return [sys.executable, "-m", "vpnet.cli", "train", *overrides]


def _env() -> dict[str, str]:
    return {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}


def _run(overrides: list[str]) -> subprocess.CompletedProcess:
    r = subprocess.run(_cmd(overrides), env=_env(), capture_output=True, text=True, timeout=240)
    assert r.returncode == 0, r.stderr[-3000:]
    return r


def _interrupt(overrides: list[str], run_dir: Path, sig: int, at_step: int) -> subprocess.CompletedProcess:
    """Start a run, send ``sig`` once checkpoint ``at_step`` exists, wait for it to end."""
    proc = subprocess.Popen(_cmd(overrides), env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    target = CheckpointManager(run_dir / "checkpoints").path_for(at_step)
    deadline = time.monotonic() + 240
    while not target.exists():
        assert proc.poll() is None, proc.communicate()[1][-3000:]
        assert time.monotonic() < deadline, "the run never reached the step"
        time.sleep(0.02)
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=120)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def _assert_same_run(a: Path, b: Path) -> None:
    wa, _ = load_state_dict(a / "final.safetensors")
    wb, _ = load_state_dict(b / "final.safetensors")
    assert wa.keys() == wb.keys()
    for k in wa:
        assert torch.equal(wa[k], wb[k]), k  # bitwise: BN running statistics and momentum included
    cols = ("epoch", "global_step", "lr", "train_loss", "val_top1", "val_top5", "val_mean_class")
    ea = [{c: r[c] for c in cols} for r in csv.DictReader(open(a / "epochs.csv"))]
    eb = [{c: r[c] for c in cols} for r in csv.DictReader(open(b / "epochs.csv"))]
    assert ea == eb and all(r["val_top1"] for r in ea)  # every epoch's loss and validation metrics
    sa = list(csv.DictReader(open(a / "steps.csv")))
    sb = list(csv.DictReader(open(b / "steps.csv")))
    assert [r["loss"] for r in sa] == [r["loss"] for r in sb]  # the redone steps were not logged twice


@pytest.fixture(scope="module")
def reference(ntu_small, overrides_for, tmp_path_factory):
    """The uninterrupted run: 2 epochs of 3 steps, a checkpoint every step, dropout on (its masks
    come from the per-step seeds, so the resumed run must draw the same ones)."""
    root = tmp_path_factory.mktemp("resume")

    def overrides(name: str) -> list[str]:
        # validation on test (NTU has no validation split) so that the metrics are compared too
        return overrides_for(ntu_small, root, name=name, model__dropout=0.3, train__val_split="test",
                             train__ckpt_every_steps=1, train__keep_checkpoints=2, train__log_every=1)

    _run(overrides("uninterrupted"))
    return root, overrides


def test_sigkill_mid_epoch_then_resume_is_exact(reference):
    root, overrides = reference
    run = root / "killed"
    ref_state = load_train_state(CheckpointManager(root / "uninterrupted" / "checkpoints").list()[0]).state
    steps_per_epoch = ref_state.global_step // 2
    assert steps_per_epoch >= 3, "the resume test needs epochs of 3+ steps"
    kill_after = steps_per_epoch + 1  # one step into the second epoch
    r = _interrupt(overrides("killed"), run, signal.SIGKILL, kill_after)
    assert r.returncode == -signal.SIGKILL
    assert not (run / "final.safetensors").exists()
    latest = CheckpointManager(run / "checkpoints").load_latest()
    assert latest.state.epoch == 1 and 0 < latest.state.step_in_epoch < steps_per_epoch  # mid-epoch
    r = _run(overrides("killed"))
    assert "resuming from" in r.stderr and f"epoch 2, step {latest.state.step_in_epoch} of the epoch" in r.stderr
    _assert_same_run(root / "uninterrupted", run)


def test_sigterm_writes_a_checkpoint_and_resumes_exactly(reference):
    root, overrides = reference
    run = root / "terminated"
    r = _interrupt(overrides("terminated"), run, signal.SIGTERM, 2)
    assert r.returncode == 143, r.stderr[-2000:]
    assert "SIGTERM received" in r.stderr and "run the same command again to resume" in r.stderr
    stopped_at = CheckpointManager(run / "checkpoints").load_latest().state.global_step
    assert stopped_at >= 2
    _run(overrides("terminated"))
    _assert_same_run(root / "uninterrupted", run)
