"""Checkpoint files, one way in and one way out: format detection, restricted loading, the key-and-shape
diff against a model, and the single atomic safetensors writer (weights cache and training
checkpoints alike).

Files are told apart by their content, not their names (:func:`checkpoint_format`). Every
``torch.load`` uses ``weights_only=True``; other pickles go through
:class:`~vpnet.models.weights.pickles.NumpyOnlyUnpickler`. Torch is imported by the functions that
need it, not at import time.
"""

from __future__ import annotations

import logging
import re
import zipfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from vpnet._io import write_safetensors
from vpnet.errors import WeightsError
from vpnet.models.weights.pickles import unpickle_numpy

if TYPE_CHECKING:
    import torch
    from torch import nn

log = logging.getLogger(__name__)

__all__ = ["checkpoint_format", "read_checkpoint", "read_state_dict", "StateDiff", "diff_state_dict",
           "check_state_dict", "load_into", "save_safetensors"]


#: the pickled magic number that opens a ``torch.save`` file of the legacy (pre-1.6, non-zip) format,
#: e.g. Hara et al.'s 2017 checkpoints.
_TORCH_LEGACY_MAGIC = b"\x80\x02\x8a\nl\xfc\x9cF\xf9 j\xa8P\x19"
#: wrappers around a state dict in training checkpoints (Hara et al.: ``state_dict``).
_WRAPPERS = ("state_dict", "model", "model_state")


def checkpoint_format(path: str | Path) -> str:
    """What a checkpoint file is, from its first bytes (not its name): ``safetensors``, ``torch``
    (a ``torch.save`` zip archive or legacy pickle), ``pickle`` (any other pickle) or ``unknown``."""
    path = Path(path)
    with open(path, "rb") as fh:
        head = fh.read(len(_TORCH_LEGACY_MAGIC))
    # safetensors: the JSON header's length (little-endian u64, at most 100 MB), then the header
    if head[8:9] == b"{" and int.from_bytes(head[:8], "little") <= 100_000_000:
        return "safetensors"
    if head.startswith(_TORCH_LEGACY_MAGIC) or zipfile.is_zipfile(path):
        return "torch"
    if head[:1] == b"\x80":  # the PROTO opcode that opens every pickle of protocol 2 and later
        return "pickle"
    return "unknown"


def read_checkpoint(path: str | Path) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """(tensors, metadata) of a checkpoint file, whatever its name; the one checkpoint reader of vpnet.

    - safetensors: the tensors and the file's metadata as they are;
    - ``torch.save`` files (zip or legacy): ``torch.load(weights_only=True)``, unwrapped from
      ``{"state_dict" | "model" | "model_state": ...}`` and from a ``module.`` prefix (DataParallel);
      metadata ``{}``;
    - other pickles: DeepMind's flax I3D checkpoint, read by :class:`NumpyOnlyUnpickler` and
      converted (:func:`convert_deepmind_i3d`); metadata ``{}``.

    Raises :class:`WeightsError` naming the file and the problem.
    """
    import torch

    path = Path(path)
    if not path.is_file():
        raise WeightsError(path, "no such file")
    try:
        kind = checkpoint_format(path)
    except OSError as exc:
        raise WeightsError(path, f"cannot be read: {exc.strerror or exc}") from exc
    if kind == "safetensors":
        from safetensors import safe_open

        try:
            with safe_open(str(path), framework="pt") as fh:
                return {k: fh.get_tensor(k) for k in fh.keys()}, dict(fh.metadata() or {})
        except Exception as exc:  # noqa: BLE001 - the parser raises several kinds
            raise WeightsError(path, f"not a readable safetensors file: {exc}") from exc
    if kind == "pickle":
        from vpnet.models.i3d_deepmind import convert_deepmind_i3d

        return convert_deepmind_i3d(unpickle_numpy(path.read_bytes(), source=str(path)), source=str(path)), {}
    if kind == "unknown":
        raise WeightsError(path, "not a checkpoint: neither a safetensors file, a torch.save file nor a pickle")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - unpickling errors come in many types
        raise WeightsError(path, _torch_load_problem(exc)) from exc
    for wrapper in _WRAPPERS:
        if isinstance(obj, Mapping) and isinstance(obj.get(wrapper), Mapping):
            obj = obj[wrapper]
            break
    if not isinstance(obj, Mapping):
        raise WeightsError(path, f"expected a state dict (a mapping of names to tensors), found {type(obj).__name__}")
    others = [f"{k} ({type(v).__name__})" for k, v in obj.items() if not isinstance(v, torch.Tensor)]
    if others:
        raise WeightsError(
            path, f"expected a state dict (a mapping of names to tensors); not tensors: {_examples(others)}")
    if not obj:
        raise WeightsError(path, "contains no tensors")
    state = dict(obj)
    if all(k.startswith("module.") for k in state):
        state = {k.removeprefix("module."): v for k, v in state.items()}
    return state, {}


def _torch_load_problem(exc: Exception) -> str:
    """Our words for a failed restricted ``torch.load``: torch's own message suggests
    ``weights_only=False``, which would run whatever code the pickle names."""
    text = str(exc)
    if "Weights only load failed" in text or "weights_only" in text:
        found = re.search(r"Unsupported global: GLOBAL ([\w.]+)", text)
        what = f" (it names {found.group(1)})" if found else ""
        return (f"holds Python objects besides tensors{what}; vpnet loads tensors only and never runs code from a "
                "pickle. If you trust the file, convert it once: python -c \"import torch; from safetensors.torch "
                "import save_file; save_file(torch.load('IN', weights_only=False), 'OUT.safetensors')\" (index the "
                "loaded object down to its dict of tensors first if it wraps one), then use OUT.safetensors")
    first = text.strip().splitlines()[0] if text.strip() else type(exc).__name__
    return f"not a loadable tensor checkpoint (corrupt or truncated?): {first}"


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """The tensors of a checkpoint file (:func:`read_checkpoint` without the metadata)."""
    return read_checkpoint(path)[0]


def _examples(keys: Iterable[str], limit: int = 12) -> str:
    keys = sorted(keys)
    return "; ".join(keys[:limit] + ([f"... and {len(keys) - limit} more"] if len(keys) > limit else []))


@dataclass(frozen=True)
class StateDiff:
    """How a state dict differs from a model's (each list sorted); it fits when all are empty."""

    #: ``"key: checkpoint (shape) vs model (shape)"``.
    mismatched: list[str]
    #: keys the model does not have.
    unexpected: list[str]
    #: required keys of the model that the state dict lacks.
    missing: list[str]

    @property
    def fits(self) -> bool:
        return not (self.mismatched or self.unexpected or self.missing)

    def lines(self) -> list[str]:
        """One line per kind of problem, with the count and up to 12 examples."""
        groups = (("shape mismatch", self.mismatched), ("not in the model", self.unexpected),
                  ("missing from the checkpoint", self.missing))
        return [f"{title} ({len(keys)}): {_examples(keys)}" for title, keys in groups if keys]


def diff_state_dict(own: Mapping[str, torch.Tensor], state: Mapping[str, torch.Tensor], *,
                    required: Iterable[str] | None = None) -> StateDiff:
    """Compare ``state`` with a model's ``own`` state dict, key by key and shape by shape.

    ``required``: the keys of ``own`` that ``state`` must have (default: all of them).
    """
    return StateDiff(
        mismatched=sorted(f"{k}: checkpoint {tuple(v.shape)} vs model {tuple(own[k].shape)}"
                          for k, v in state.items() if k in own and tuple(v.shape) != tuple(own[k].shape)),
        unexpected=sorted(k for k in state if k not in own),
        missing=sorted(k for k in (own if required is None else required) if k not in state),
    )


def check_state_dict(model: nn.Module, state: Mapping[str, torch.Tensor], *, source: str | Path,
                     head_prefixes: tuple[str, ...] = ()) -> dict[str, torch.Tensor]:
    """Check that ``state`` fits ``model`` key by key and shape by shape; return what to load.

    Entries under ``head_prefixes`` (the classifier) are dropped, with a log line, when the model has
    no classifier or one of another size. ``num_batches_tracked`` may be absent. Anything else that
    does not fit raises :class:`WeightsError` listing shape mismatches, unexpected and missing keys.
    """
    expected = model.state_dict()
    state = dict(state)
    dropped = [k for k in state if k.startswith(head_prefixes)
               and (k not in expected or tuple(expected[k].shape) != tuple(state[k].shape))]
    if dropped:
        log.info("%s: not loading the classifier (%s); the model has %s", source,
                 ", ".join(f"{k} {tuple(state[k].shape)}" for k in dropped),
                 ", ".join(f"{k} {tuple(expected[k].shape)}" for k in dropped if k in expected) or "no classifier")
        for k in dropped:
            del state[k]
    # a checkpoint without a classifier (a backbone) leaves the model's at its fresh init
    fresh_head = set() if any(k.startswith(head_prefixes) for k in state) else \
        {k for k in expected if k.startswith(head_prefixes)}
    if fresh_head and not dropped:
        log.info("%s: no classifier in the checkpoint; the model's keeps its fresh init", source)
    diff = diff_state_dict(expected, state, required=[
        k for k in expected if k not in fresh_head and not k.endswith("num_batches_tracked")])
    if not diff.fits:
        raise WeightsError(source, f"does not fit {type(model).__name__}:\n  " + "\n  ".join(diff.lines()))
    return state


def load_into(model: nn.Module, state: Mapping[str, torch.Tensor], *, source: str | Path,
              head_prefixes: tuple[str, ...] = ()) -> None:
    """:func:`check_state_dict`, then copy the tensors into ``model`` (missing classifier keeps its init)."""
    fitted = check_state_dict(model, state, source=source, head_prefixes=head_prefixes)
    model.load_state_dict(fitted, strict=False)


def save_safetensors(state: Mapping[str, torch.Tensor], dest: str | Path, *,
                     metadata: Mapping[str, str] | None = None) -> Path:
    """Write ``state`` to ``dest`` as safetensors, atomically (:func:`vpnet._io.write_safetensors`)."""
    return write_safetensors(dest, state, metadata)
