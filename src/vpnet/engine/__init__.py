"""The engine: configs, training, evaluation, metrics and the feature cache.

- :mod:`~vpnet.engine.config_loader` ``load_config(path, overrides)``: YAML presets (``_base_``), dotted overrides,
  checks.
- :mod:`~vpnet.engine.train` ``train(cfg)``: the loop, DDP (torchrun), AMP, accumulation, checkpoints, resume.
- :mod:`~vpnet.engine.evaluate` ``evaluate(cfg, checkpoint=...)``: the paper's multi-clip inference, metrics files.
- :mod:`~vpnet.engine.features` ``extract_features(cfg, out)``: the feature cache writer;
  :mod:`~vpnet.engine.feature_store` ``FeatureDataset``: its format and reader.
- :mod:`~vpnet.engine.builders`: datasets, models and loaders from a config;
  :mod:`~vpnet.engine.forward`: the one forward path over clips (video or cached features).
- :mod:`~vpnet.engine.metrics`, :mod:`~vpnet.engine.checkpoint`, :mod:`~vpnet.engine.distributed`,
  :mod:`~vpnet.engine.logs`: the pieces.

Importing this package is cheap: torch loads with the submodules that need it. ``train`` and
``evaluate`` are functions of the submodules of the same names: ``from vpnet.engine.train import train``.
"""

from __future__ import annotations

import importlib

_LAZY = {
    "ConfigError": "vpnet.engine.config_loader",
    "load_config": "vpnet.engine.config_loader",
    "save_config": "vpnet.engine.config_loader",
    "TrainResult": "vpnet.engine.train",
    "TrainingError": "vpnet.engine.train",
    "predict": "vpnet.engine.evaluate",
    "EvalResult": "vpnet.engine.evaluate",
    "extract_features": "vpnet.engine.features",
    "FeatureDataset": "vpnet.engine.feature_store",
    "classification_metrics": "vpnet.engine.metrics",
    "CheckpointError": "vpnet.engine.checkpoint",
    "load_model_weights": "vpnet.engine.checkpoint",
}


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = sorted(_LAZY)
