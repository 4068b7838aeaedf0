"""The data side of vpnet: datasets as their owners ship them, turned into model-ready samples.

- Per dataset, a reader module (``ntu``, ``smarthome``, ``nucla``, ``custom``): pose files, sample
  names, protocols, class names, and a :class:`~vpnet.data.registry.DatasetReader` registered under
  the dataset's name.
- :mod:`~vpnet.data.registry`: datasets by name, :func:`dataset_info`, :func:`dataset_records`,
  :func:`check_paths`, :func:`build_dataset`.
- :mod:`~vpnet.data.video` decodes videos, :mod:`~vpnet.data.clips` cuts samples (windows, main
  actor, poses, crop boxes), :mod:`~vpnet.data.pipeline` chains those cuts into the named steps of a
  sample, :mod:`~vpnet.data.transforms` makes model input, :mod:`~vpnet.data.prepared`
  is the store written by ``vpnet prepare``, :mod:`~vpnet.data.datasets` the torch Dataset and :func:`collate`.

Importing this package is cheap: torch is loaded by the functions that need it.
"""

from __future__ import annotations

import importlib

from vpnet.data.registry import (
    DatasetInfo,
    DatasetReader,
    build_dataset,
    check_paths,
    dataset_info,
    dataset_names,
    dataset_records,
    get_dataset,
    register_dataset,
)

_LAZY = {"collate": "vpnet.data.datasets", "VideoPoseDataset": "vpnet.data.datasets",
         "ClipSettings": "vpnet.data.datasets", "make_sample": "vpnet.data.datasets"}


def __getattr__(name: str):
    # torch-dependent names load on first use, so `import vpnet.data` stays cheap.
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["DatasetInfo", "DatasetReader", "build_dataset", "check_paths", "collate", "dataset_info", "dataset_names",
           "dataset_records", "get_dataset", "register_dataset", *sorted(set(_LAZY) - {"collate"})]
