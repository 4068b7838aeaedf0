"""The model zoo as data: every model vpnet can fetch or build, with what it was trained on, how accurate
it is and how to get it (``src/vpnet/resources/zoo.yaml``; ``vpnet weights list`` prints it).

Two kinds of entries:

- ``fetch``: published weights downloaded and verified by :func:`vpnet.models.weights.fetch` (its
  :class:`~vpnet.models.weights.WeightsSpec` is named by ``weights``). The default model of
  ``vpnet predict``, the Kinetics-400 I3D, is one: an RGB recogniser of the 400 Kinetics classes.
- ``build``: a model trained here from data the user has (``vpnet weights build NAME --data DIR`` runs
  its preset into the weights cache); its accuracy is the one that command measured in this project.

The zoo is package data, not a file under ``configs/`` (whose ``metafile.yaml`` maps presets to paper
numbers): ``vpnet weights list`` and ``vpnet predict`` work from an installed package without a source
checkout. Torch-free.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from vpnet.errors import ConfigError, WeightsError

__all__ = ["ZooEntry", "read_zoo", "get_entry", "default_name", "built_run", "ZOO_FILE"]

ZOO_FILE = "zoo.yaml"
KINDS = ("fetch", "build")


@dataclass(frozen=True)
class ZooEntry:
    """One model of the zoo (see ``zoo.yaml`` for the fields' meaning)."""

    name: str
    kind: str
    what: str
    trained_on: str
    generated: bool = False
    #: fetch: the :class:`~vpnet.models.weights.WeightsSpec` name.
    weights: str | None = None
    #: fetch: how the model reads a video (``clip_len``, ``frame_stride``, ``crop_size``, ``crop``).
    input: dict[str, Any] = field(default_factory=dict)
    #: build: the preset and the config key the ``--data`` folder goes to.
    preset: str | None = None
    data_key: str | None = None
    accuracy: dict[str, float] = field(default_factory=dict)
    accuracy_source: str = ""
    how: str = ""


def _load() -> dict[str, Any]:
    from omegaconf import OmegaConf

    text = resources.files("vpnet.resources").joinpath(ZOO_FILE).read_text()
    return OmegaConf.to_container(OmegaConf.create(text)) or {}


def read_zoo() -> dict[str, ZooEntry]:
    """Every zoo entry by name, checked (kind, the fields each kind needs)."""
    raw = _load()
    out = {}
    for name, d in (raw.get("models") or {}).items():
        try:
            entry = ZooEntry(name=name, **d)
        except TypeError as e:
            raise ConfigError(f"{ZOO_FILE}: {name}: {e}") from None
        need = ("weights",) if entry.kind == "fetch" else ("preset", "data_key")
        if entry.kind not in KINDS or any(getattr(entry, k) is None for k in need):
            raise ConfigError(f"{ZOO_FILE}: {name}: kind must be one of {', '.join(KINDS)} and a {entry.kind} "
                              f"entry needs {', '.join(need)}")
        out[name] = entry
    return out


def default_name() -> str:
    """The model ``vpnet predict`` runs when given none."""
    return str(_load()["default"])


def get_entry(name: str) -> ZooEntry:
    """The zoo entry ``name``; :class:`~vpnet.errors.WeightsError` listing the known ones."""
    zoo = read_zoo()
    if name not in zoo:
        raise WeightsError(None, f"unknown model {name!r}; the zoo has {', '.join(zoo)} (`vpnet weights list`)")
    return zoo[name]


def built_run(name: str) -> Path:
    """Where ``vpnet weights build NAME`` writes the run of a ``build`` entry: ``<weights cache>/zoo/NAME``."""
    from vpnet.models.weights import weights_dir

    return weights_dir() / "zoo" / name
