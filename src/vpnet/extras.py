"""Optional dependencies (extras): a clear error naming the fix when one is missing.

Extras (``pip install 'vpnet[NAME]'``; ``all`` holds every one):

- ``pose``: MediaPipe Pose for :mod:`vpnet.poses`. MediaPipe itself is installed by ``vpnet pose install``
  (see :mod:`vpnet.poses` for why it cannot be a plain requirement).
- ``export``: onnx, onnxscript and onnxruntime for :mod:`vpnet.export` and ``vpnet predict --onnx``.
- ``openvino``: OpenVINO for ``vpnet predict --backend openvino`` (exported ONNX files, int8 and bf16 kernels).
- ``viz``: scikit-learn for the t-SNE figure of :mod:`vpnet.viz`.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from vpnet.errors import VpnetError

__all__ = ["MissingExtraError", "require"]

#: the fix for each extra, as a user would type it.
FIXES = {
    "pose": "run `vpnet pose install` "
            "(MediaPipe 0.10.21 for numpy 2 and its light dependencies; `make install` does it)",
    "export": "run `pip install 'vpnet[export]'` (onnx, onnxscript, onnxruntime)",
    "viz": "run `pip install 'vpnet[viz]'` (scikit-learn)",
    "openvino": "run `pip install 'vpnet[openvino]'` (OpenVINO, the fastest CPU runtime: --backend openvino)",
}


class MissingExtraError(VpnetError, ImportError):
    """An optional dependency is not installed; the message names the extra and the command that installs it."""

    def __init__(self, module: str, extra: str, what: str):
        self.module, self.extra = module, extra
        super().__init__(f"{what} needs the Python package {module!r}, which is not installed: {FIXES[extra]}")


def require(module: str, *, extra: str, what: str) -> ModuleType:
    """Import ``module`` or raise :class:`MissingExtraError` naming ``extra`` and its install command."""
    try:
        return importlib.import_module(module)
    except ImportError as e:
        # A broken install (e.g. a wrong protobuf) is not "missing": keep its real message.
        if getattr(e, "name", None) not in (None, module, module.split(".")[0]):
            raise MissingExtraError(module, extra, f"{what} (import of {module} failed: {e})") from e
        raise MissingExtraError(module, extra, what) from None
