"""Shared fixtures of the engine tests: a small generated NTU-format dataset and a tiny config."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def ntu_small(tmp_path_factory):
    """3 actions x 8 videos in the real NTU layout (``.skeleton`` + H.264 ``_rgb.avi``), small frames."""
    from vpnet.data.synthetic import make_ntu

    return make_ntu(tmp_path_factory.mktemp("ntu_small"), num_classes=3, per_class=8, frames=36, size=(192, 108),
                    seed=1)


def tiny_overrides(data, run_root: Path, **extra: object) -> list[str]:
    """Overrides of a CPU-sized VPN (8 frames of 64x64, I3D from scratch) on ``data``; ``extra``
    keys use ``__`` for dots (``train__epochs=3``)."""
    base = {
        "name": "tiny", "output_dir": str(run_root),
        "data.dataset": "ntu60", "data.protocol": "cs", "data.video_dir": str(data.video_dir),
        "data.pose_dir": str(data.pose_dir), "data.batch_size": 2, "data.num_workers": 0,
        "model.variant": "l3", "model.num_classes": 60, "model.clip_len": 8, "model.crop_size": 64,
        "model.dropout": 0.0,
        "train.epochs": 2, "train.global_batch": 4, "train.deterministic": True, "train.ckpt_every_steps": 0,
        "train.tensorboard": False, "train.log_every": 1,
        "optim.lr": 0.01, "eval.num_clips": 2, "eval.short_side": 96, "eval.clip_batch": 4,
    }
    base.update({k.replace("__", "."): v for k, v in extra.items()})
    return [f"{k}={str(v).lower() if isinstance(v, bool) else v}" for k, v in base.items()]


@pytest.fixture(scope="session")
def overrides_for():
    """:func:`tiny_overrides` itself, for module-scoped fixtures."""
    return tiny_overrides


@pytest.fixture
def tiny(ntu_small, tmp_path):
    """``tiny(**extra) -> list of overrides`` for a tiny run under ``tmp_path/runs``."""
    return lambda **extra: tiny_overrides(ntu_small, tmp_path / "runs", **extra)


@pytest.fixture
def vpnet_log(caplog):
    """caplog for the ``vpnet`` logger, which does not propagate to the root once a run set it up."""
    import logging

    logger = logging.getLogger("vpnet")
    logger.addHandler(caplog.handler)
    try:
        yield caplog
    finally:
        logger.removeHandler(caplog.handler)
