"""Checkpoints: atomic, checksummed safetensors files; model initialisation from a checkpoint.

Two kinds of file, both plain safetensors (no pickle anywhere, so loading one runs no code):

- **weights** (``best.safetensors``, ``final.safetensors``): the model's ``state_dict()`` keys as they
  are, so ``safetensors.torch.load_file`` + ``model.load_state_dict`` works without vpnet.
- **training state** (``checkpoints/step_000001200.safetensors``): the model under ``model.``, the
  optimiser's per-parameter tensors under ``optim.``; everything else (epoch, position in the epoch,
  best metric, optimiser hyper-parameters, scheduler and loss-scaler state, the resolved config) is
  JSON in the safetensors metadata. RNG states are not stored: the engine reseeds every step from
  (seed, rank, step) and the data is a pure function of (seed, epoch, index), so they are redundant.

Both carry a SHA-256 over their tensors and metadata (metadata key ``sha256``). A file that fails the
check, or cannot be parsed (truncated, garbled), raises :class:`CorruptCheckpointError`; the run folder's
:class:`CheckpointManager` then falls back to the previous checkpoint and says so. Writes go to a
temporary file in the same folder, are fsynced, then renamed over the target, so a crash or a full
disk (ENOSPC) mid-write leaves the previous file intact.

Files are read by :func:`vpnet.models.weights.read_checkpoint` (safetensors, ``torch.save`` files
weights-only, told apart by content), keys and shapes compared by
:func:`vpnet.models.weights.diff_state_dict`, and written by :func:`vpnet.models.weights.save_safetensors` (the
one atomic writer): one implementation of each for the whole package.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from vpnet.errors import CheckpointError, WeightsError  # CheckpointError re-exported
from vpnet.models.weights import diff_state_dict, read_checkpoint, save_safetensors

log = logging.getLogger(__name__)

FORMAT_WEIGHTS = "vpnet.weights.v1"
FORMAT_TRAIN_STATE = "vpnet.train_state.v1"
#: submodules of :class:`VPNRecognizer` that a ``full`` initialisation may leave as built (the
#: two-stage recipe loads an ``l1`` checkpoint, which has no pose backbone and no VPN, into ``l3``).
OPTIONAL_IN_FULL_INIT = ("pose_backbone.", "vpn.")
#: what each ``init_mode`` takes from a checkpoint (key prefixes of the recognizer's state dict).
INIT_PREFIXES = {
    "backbone": ("backbone.",),
    "backbone+vpn": ("backbone.", "pose_backbone.", "vpn."),
    "pose_backbone": ("pose_backbone.",),
}


class CorruptCheckpointError(CheckpointError):
    """A checkpoint whose checksum does not match or that cannot be parsed."""


# --- checksummed safetensors ----------------------------------------------------------------------


def _digest(tensors: Mapping[str, torch.Tensor], metadata: Mapping[str, str]) -> str:
    h = hashlib.sha256()
    for key in sorted(tensors):
        t = tensors[key].detach().cpu().contiguous()
        h.update(f"{key}|{t.dtype}|{tuple(t.shape)}|".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    for key in sorted(metadata):
        if key != "sha256":
            h.update(f"{key}={metadata[key]}\n".encode())
    return h.hexdigest()


def save_tensors(path: str | Path, tensors: Mapping[str, torch.Tensor], metadata: Mapping[str, str]) -> None:
    """Write a checksummed safetensors file atomically (tensors are copied to CPU, contiguous)."""
    cpu = {k: v.detach().to("cpu", copy=True).contiguous() for k, v in tensors.items()}
    meta = {k: str(v) for k, v in metadata.items()}
    meta["sha256"] = _digest(cpu, meta)
    save_safetensors(cpu, path, metadata=meta)


def load_tensors(path: str | Path, *, verify: bool = True) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """(tensors, metadata) of a checkpoint file (:func:`vpnet.models.weights.read_checkpoint`);
    checks the SHA-256 when the file has one.

    Raises:
        FileNotFoundError: no such file.
        CorruptCheckpointError: unparsable file or checksum mismatch.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    try:
        tensors, metadata = read_checkpoint(path)
    except WeightsError as e:
        raise CorruptCheckpointError(str(e)) from None
    expected = metadata.get("sha256")
    if verify and expected is not None and _digest(tensors, metadata) != expected:
        raise CorruptCheckpointError(f"{path}: checksum mismatch (the file is corrupt)")
    return tensors, metadata


# --- model weights --------------------------------------------------------------------------------


def save_weights(path: str | Path, model: nn.Module, metadata: Mapping[str, Any] | None = None) -> None:
    """The model's state dict as a checksummed safetensors file (``format`` = weights)."""
    meta = {"format": FORMAT_WEIGHTS, **{k: _to_str(v) for k, v in (metadata or {}).items()}}
    save_tensors(path, unwrap(model).state_dict(), meta)


def load_state_dict(path: str | Path) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """The model state dict in a vpnet weights or training-state file, or a plain state dict.

    Accepts our safetensors files (checksum checked), any safetensors state dict, and ``torch.save``
    state dicts whatever their file names (read with ``torch.load(weights_only=True)``, optionally
    nested under ``state_dict``, ``model`` or ``model_state``): see :func:`load_tensors`.
    """
    tensors, meta = load_tensors(path)
    if meta.get("format") == FORMAT_TRAIN_STATE:
        tensors = {k[len("model.") :]: v for k, v in tensors.items() if k.startswith("model.")}
    return tensors, meta


def load_model_weights(model: nn.Module, path: str | Path, *, mode: str = "full") -> list[str]:
    """Load a checkpoint into ``model`` (a :class:`VPNRecognizer`); returns the keys left as built.

    Modes (``train.init_mode``):

    - ``full``: every tensor of the checkpoint must exist in the model with the same shape; the model's
      pose backbone and VPN may be absent from it (an ``l1`` checkpoint into ``l3``: the two-stage
      recipe), nothing else may.
    - ``backbone``: only ``backbone.*`` (the head and everything else keep their fresh init: another
      dataset, another class count). ``backbone+vpn``: also ``pose_backbone.*`` and ``vpn.*``.
    - ``pose_backbone``: only ``pose_backbone.*``, e.g. from a ``pose_only`` run on the target data
      (the two-stage recipe for the pose stream: ``vpnet demo`` starts ``l2``/``l3`` that way).

    Raises:
        CheckpointError: listing the unexpected, missing and mismatched keys and shapes, with a hint.
    """
    state, _ = load_state_dict(path)
    return apply_state_dict(model, state, mode=mode, source=str(path))


def apply_state_dict(
    model: nn.Module, state: Mapping[str, torch.Tensor], *, mode: str = "exact", source: str = "checkpoint"
) -> list[str]:
    """Copy ``state`` into ``model``; ``mode`` is an ``init_mode`` (see :func:`load_model_weights`) or
    ``exact`` (every key on both sides, same shapes: evaluation and resume). Returns the keys left as built."""
    model = unwrap(model)
    own = model.state_dict()
    if mode in ("full", "exact"):
        wanted = state
    elif mode in INIT_PREFIXES:
        prefixes = INIT_PREFIXES[mode]
        wanted = {k: v for k, v in state.items() if k.startswith(prefixes)}
        if not wanted:
            raise CheckpointError(f"{source}: has no tensors under {', '.join(prefixes)} (init_mode={mode!r})")
    else:
        raise ValueError(f"init_mode must be one of full, exact, {', '.join(INIT_PREFIXES)}; got {mode!r}")

    if mode == "exact":
        required = list(own)
    elif mode == "full":
        required = [k for k in own if not k.startswith(OPTIONAL_IN_FULL_INIT)]
    else:
        required = [k for k in own if k.startswith(INIT_PREFIXES[mode])]
    diff = diff_state_dict(own, wanted, required=required)
    if not diff.fits:
        lines = [f"{source} does not fit the model (init_mode={mode!r}):", *(f"  {line}" for line in diff.lines())]
        if any(k.startswith("head.") for k in diff.mismatched) and mode in ("full", "exact"):
            lines.append(
                "  A different class count? Use train.init_mode=backbone (or backbone+vpn) to take the "
                "backbone from another dataset's checkpoint and train a new head."
            )
        else:
            lines.append("  Is it a checkpoint of another model (model.backbone / model.variant / sizes)?")
        raise CheckpointError("\n".join(lines))
    with torch.no_grad():
        for k, v in wanted.items():
            own[k].copy_(v)
    left = sorted(k for k in own if k not in wanted)
    if mode != "exact":
        log.info("initialised %d tensors from %s (init_mode=%s); %d left as built",
                 len(wanted), source, mode, len(left))
    return left


def unwrap(model: nn.Module) -> nn.Module:
    """The module inside DDP / torch.compile wrappers."""
    while True:
        if hasattr(model, "module") and isinstance(model.module, nn.Module):
            model = model.module
        elif hasattr(model, "_orig_mod") and isinstance(model._orig_mod, nn.Module):
            model = model._orig_mod
        else:
            return model


# --- training state -------------------------------------------------------------------------------


@dataclass
class TrainState:
    """Where a run is: the next optimiser step is step ``step_in_epoch`` of epoch ``epoch`` (0-based)."""

    epoch: int = 0
    step_in_epoch: int = 0
    global_step: int = 0
    best_metric: float | None = None
    best_epoch: int | None = None
    skipped_steps: int = 0
    #: sum of loss x items and items of the current epoch so far (its mean training loss).
    epoch_loss_sum: float = 0.0
    epoch_items: float = 0.0
    #: per-epoch summaries (train loss, validation metrics), JSON-able.
    history: list[dict[str, Any]] = field(default_factory=list)

    def to_json(self) -> str:
        return json.dumps(self.__dict__)

    @classmethod
    def from_json(cls, text: str) -> TrainState:
        """The state :meth:`to_json` wrote; ValueError when it is not that (a JSON list, text counters)."""
        d = json.loads(text)
        if not isinstance(d, dict):
            raise ValueError(f"the state is a JSON {type(d).__name__}, not an object")
        state = cls(**d)  # TypeError for unknown keys
        for name in ("epoch", "step_in_epoch", "global_step", "skipped_steps"):
            v = getattr(state, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 0:
                raise ValueError(f"{name}={v!r} is not a count")
        for name in ("best_metric", "best_epoch", "epoch_loss_sum", "epoch_items"):
            v = getattr(state, name)
            if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float))):
                raise ValueError(f"{name}={v!r} is not a number")
        if not isinstance(state.history, list):
            raise ValueError("history is not a list")
        return state


def save_train_state(
    path: str | Path,
    *,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: Any,
    scaler: Any,
    state: TrainState,
    config_yaml: str,
    world_size: int,
) -> None:
    """One file with everything needed to continue the run exactly (see the module docstring)."""
    tensors = {f"model.{k}": v for k, v in unwrap(model).state_dict().items()}
    opt = optimizer.state_dict()
    opt_scalars: dict[str, dict[str, Any]] = {}
    for idx, pstate in opt["state"].items():
        for name, value in pstate.items():
            if isinstance(value, torch.Tensor):
                tensors[f"optim.{idx}.{name}"] = value
            else:
                opt_scalars.setdefault(str(idx), {})[name] = value
    meta = {
        "format": FORMAT_TRAIN_STATE,
        "state": state.to_json(),
        "optim_param_groups": json.dumps(opt["param_groups"]),
        "optim_scalars": json.dumps(opt_scalars),
        "scheduler": json.dumps(scheduler.state_dict() if scheduler is not None else None),
        "scaler": json.dumps(scaler.state_dict() if scaler is not None and scaler.is_enabled() else None),
        "config": config_yaml,
        "world_size": str(world_size),
    }
    save_tensors(path, tensors, meta)


@dataclass
class LoadedTrainState:
    path: Path
    state: TrainState
    model: dict[str, torch.Tensor]
    optimizer: dict[str, Any]
    scheduler: dict[str, Any] | None
    scaler: dict[str, Any] | None
    config_yaml: str
    world_size: int


def load_train_state(path: str | Path) -> LoadedTrainState:
    """Read a training-state file written by :func:`save_train_state` (checksum checked)."""
    tensors, meta = load_tensors(path)
    if meta.get("format") != FORMAT_TRAIN_STATE:
        raise CheckpointError(
            f"{path}: not a training-state checkpoint (format {meta.get('format')!r}); to start a new run "
            "from these weights use train.init_from instead of --resume"
        )
    model = {k[6:]: v for k, v in tensors.items() if k.startswith("model.")}
    per_param: dict[int, dict[str, Any]] = {}
    try:  # metadata edited by hand or by another program: a corrupt checkpoint, never a traceback
        for k, v in tensors.items():
            if k.startswith("optim."):
                _, idx, name = k.split(".", 2)
                per_param.setdefault(int(idx), {})[name] = v
        for idx, scalars in json.loads(meta["optim_scalars"]).items():
            per_param.setdefault(int(idx), {}).update(scalars)
        groups, scheduler, scaler = (json.loads(meta[k]) for k in ("optim_param_groups", "scheduler", "scaler"))
        if not isinstance(groups, list) or not all(isinstance(g, dict) for g in groups):
            raise ValueError("optim_param_groups is not a list of objects")
        for name, value in (("scheduler", scheduler), ("scaler", scaler)):
            if value is not None and not isinstance(value, dict):
                raise ValueError(f"{name} is not an object")
        return LoadedTrainState(
            path=Path(path),
            state=TrainState.from_json(meta["state"]),
            model=model,
            optimizer={"state": per_param, "param_groups": groups},
            scheduler=scheduler,
            scaler=scaler,
            config_yaml=str(meta.get("config", "")),
            world_size=int(meta.get("world_size", "1")),
        )
    except (KeyError, ValueError, TypeError, AttributeError) as e:
        raise CorruptCheckpointError(f"{path}: its training-state metadata is damaged ({type(e).__name__}: "
                                     f"{e})") from None


class CheckpointManager:
    """The training-state files of a run folder: ``<dir>/step_<global step>.safetensors``.

    Keeps the newest ``keep`` files; a new file is written completely before an old one is deleted.
    """

    _NAME = re.compile(r"^step_(\d{9})\.safetensors$")

    def __init__(self, directory: str | Path, *, keep: int = 2):
        self.directory = Path(directory)
        self.keep = max(1, keep)

    def path_for(self, global_step: int) -> Path:
        return self.directory / f"step_{global_step:09d}.safetensors"

    def list(self) -> list[Path]:
        """Checkpoint files, newest first."""
        if not self.directory.is_dir():
            return []
        found = [(int(m.group(1)), p) for p in self.directory.iterdir() if (m := self._NAME.match(p.name))]
        return [p for _, p in sorted(found, reverse=True)]

    def save(self, **kwargs: Any) -> Path:
        """:func:`save_train_state` to the file of ``kwargs['state'].global_step``, then rotate."""
        path = self.path_for(kwargs["state"].global_step)
        save_train_state(path, **kwargs)
        for old in self.list()[self.keep :]:
            old.unlink(missing_ok=True)
        return path

    def remove_partial_files(self) -> list[Path]:
        """Delete temp files of writes that never finished (a run killed while saving); returns them."""
        if not self.directory.is_dir():
            return []
        stale = [p for p in self.directory.glob(".step_*.tmp") if p.is_file()]
        for p in stale:
            p.unlink(missing_ok=True)
        return stale

    def load_latest(self) -> LoadedTrainState | None:
        """The newest checkpoint that reads back and passes its checksum (older ones as fallback).

        Each corrupt file is reported with a warning naming it, so the user knows which step the run
        really resumes from.
        """
        for path in self.list():
            try:
                loaded = load_train_state(path)
            except CorruptCheckpointError as e:
                log.warning("skipping corrupt checkpoint: %s; trying the previous one", e)
                continue
            return loaded
        return None


def _to_str(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)
