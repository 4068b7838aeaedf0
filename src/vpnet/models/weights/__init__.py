"""Pretrained weights and checkpoint files.

- :mod:`.specs`: weights described as data (:class:`WeightsSpec`, :data:`KINETICS400`, the registry);
- :mod:`.fetch`: the cache folder, download, verification, conversion, ``weights=`` resolution;
- :mod:`.io`: checkpoint files in and out (format detection, restricted loading, the key-and-shape
  diff, the one atomic safetensors writer, used by the engine's checkpoints too);
- :mod:`.pickles`: the numpy-only unpickler.

The DeepMind checkpoint's conversion lives beside the I3D, in :mod:`vpnet.models.i3d_deepmind`.
Importing this package loads neither torch nor a model (``vpnet weights list`` stays instant).
"""

from __future__ import annotations

from vpnet.errors import DownloadError, WeightsError
from vpnet.models.weights.fetch import CACHE_ENV, cache_dir, cached_path, fetch, resolve, sha256_file, weights_dir
from vpnet.models.weights.io import (
                                     StateDiff,
                                     check_state_dict,
                                     checkpoint_format,
                                     diff_state_dict,
                                     load_into,
                                     read_checkpoint,
                                     read_state_dict,
                                     save_safetensors,
)
from vpnet.models.weights.pickles import NumpyOnlyUnpickler, unpickle_numpy
from vpnet.models.weights.specs import KINETICS400, WeightsSpec, get_spec, known_weights, register_weights

__all__ = [
    "WeightsSpec", "KINETICS400", "register_weights", "known_weights", "get_spec",
    "CACHE_ENV", "cache_dir", "weights_dir", "cached_path", "sha256_file", "fetch", "resolve",
    "checkpoint_format", "read_checkpoint", "read_state_dict", "StateDiff", "diff_state_dict",
    "check_state_dict", "load_into", "save_safetensors",
    "NumpyOnlyUnpickler", "unpickle_numpy", "WeightsError", "DownloadError",
]
