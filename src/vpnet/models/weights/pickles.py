"""Restricted unpickling: numpy arrays in, nothing else.

DeepMind's I3D checkpoint is a pickle of nested dicts of numpy arrays. A pickle can name any importable
callable (``os.system``...) and have it called while loading; :class:`NumpyOnlyUnpickler` resolves only
the three globals numpy arrays need. Torch-free.
"""

from __future__ import annotations

import importlib
import io
import pickle
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from vpnet.errors import WeightsError

if TYPE_CHECKING:
    import numpy as np

__all__ = ["NumpyOnlyUnpickler", "unpickle_numpy"]


def _numpy_reconstruct() -> Any:
    # numpy 2 renamed numpy.core to numpy._core; the checkpoint names the old module.
    for module in ("numpy._core.multiarray", "numpy.core.multiarray"):
        try:
            return importlib.import_module(module)._reconstruct
        except (ImportError, AttributeError):
            continue
    raise ImportError("numpy has no multiarray._reconstruct")


class NumpyOnlyUnpickler(pickle.Unpickler):
    """An unpickler that builds numpy arrays, dtypes and plain containers, and refuses every other global.

    A pickle can name any importable callable (``os.system``...) and have it called while loading;
    this one resolves only ``numpy.ndarray``, ``numpy.dtype`` and ``numpy.core.multiarray._reconstruct``.
    """

    _ALLOWED = {
        ("numpy", "ndarray"), ("numpy", "dtype"),
        ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
    }

    def __init__(self, file: io.BufferedIOBase, *, source: str = "<pickle>"):
        super().__init__(file)
        self.source = source

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in self._ALLOWED:
            raise WeightsError(self.source, f"refusing to unpickle {module}.{name}: only numpy arrays are "
                                            "allowed in this checkpoint (it may be malicious or not a checkpoint)")
        import numpy as np

        return {"ndarray": np.ndarray, "dtype": np.dtype}.get(name) or _numpy_reconstruct()

    def persistent_load(self, pid: Any) -> Any:
        raise WeightsError(self.source, "refusing persistent ids: not a plain numpy pickle")


def unpickle_numpy(data: bytes, *, source: str = "<pickle>") -> dict[str, np.ndarray]:
    """Unpickle nested dicts of numeric numpy arrays; return them flattened with ``/``-joined keys."""
    import numpy as np

    try:
        obj = NumpyOnlyUnpickler(io.BytesIO(data), source=source).load()
    except WeightsError:
        raise
    except Exception as exc:  # noqa: BLE001 - truncated or garbage bytes raise many kinds
        raise WeightsError(source, f"corrupt pickle: {type(exc).__name__}: {exc}") from exc

    flat: dict[str, np.ndarray] = {}

    def walk(node: Any, prefix: str) -> None:
        if isinstance(node, Mapping):
            for key, value in node.items():
                if not isinstance(key, str):
                    raise WeightsError(source, f"non-string key {key!r} under {prefix or '/'}")
                walk(value, f"{prefix}/{key}" if prefix else key)
        elif isinstance(node, np.ndarray):
            if node.dtype.hasobject or node.dtype.kind not in "fiub":
                raise WeightsError(source, f"{prefix}: array of dtype {node.dtype}, expected numbers")
            flat[prefix] = node
        else:
            raise WeightsError(source, f"{prefix or '/'}: found {type(node).__name__}, expected dicts of arrays")

    walk(obj, "")
    if not flat:
        raise WeightsError(source, "no arrays in the checkpoint")
    return flat
