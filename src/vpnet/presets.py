"""The presets under ``configs/`` and what each reproduces (``configs/metafile.yaml``), as data.

``metafile.yaml`` maps every preset to the paper's table, row, column, metric and value it reproduces
(``paper: null`` for our own baselines, which no paper row constrains), and a model of ours that follows a
published design to that design's published figure (``reference``). :func:`read_metafile` checks the
file against the presets that exist, both ways, so neither can drift. Torch-free.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vpnet.errors import ConfigError

__all__ = ["PaperResult", "PresetEntry", "find_configs_dir", "list_presets", "read_metafile"]

METAFILE = "metafile.yaml"


@dataclass(frozen=True)
class PaperResult:
    """One number of the paper: ``value`` % of ``metric`` (``top1`` or ``mean_class``) in ``table``."""

    table: str
    row: str
    column: str
    metric: str
    value: float


@dataclass(frozen=True)
class PresetEntry:
    name: str
    #: the preset's path, relative to the folder holding ``configs/``.
    config: str
    #: what the paper reports for this setting; None for a baseline of ours.
    paper: PaperResult | None
    #: for a model of ours that follows a published design (``pose_ctrgcn_*``): that design's published figure
    #: on this dataset and protocol (``table`` names the publication); None where it reports none.
    reference: PaperResult | None = None


def find_configs_dir(start: str | Path | None = None) -> Path:
    """``configs/`` under ``start`` (default: the working folder), else the one of this source checkout."""
    here = Path(start or Path.cwd()) / "configs"
    if (here / METAFILE).is_file():
        return here
    checkout = Path(__file__).resolve().parents[2] / "configs"
    if (checkout / METAFILE).is_file():
        return checkout
    raise ConfigError(f"no configs/{METAFILE} under {here.parent} or in the vpnet source checkout; "
                      "run from the repository root or pass the configs folder")


def list_presets(configs_dir: str | Path) -> list[Path]:
    """Every preset file under ``configs_dir`` (not the ``_base_`` pieces, not the metafile), sorted."""
    root = Path(configs_dir)
    return sorted(p for p in root.rglob("*.yaml") if "_base_" not in p.relative_to(root).parts and p.name != METAFILE)


def read_metafile(configs_dir: str | Path) -> list[PresetEntry]:
    """The entries of ``configs_dir/metafile.yaml``, in preset order.

    Raises:
        ConfigError: the file is missing or malformed, names a preset that does not exist, or a preset
            has no entry.
    """
    from omegaconf import OmegaConf

    root = Path(configs_dir)
    path = root / METAFILE
    try:
        raw: Any = OmegaConf.to_container(OmegaConf.load(path))
    except (OSError, ValueError) as e:
        raise ConfigError(f"{path}: cannot be read: {e}") from None
    entries = (raw or {}).get("presets") or {}
    presets = {p.stem: p for p in list_presets(root)}
    unknown = sorted(set(entries) - set(presets))
    missing = sorted(set(presets) - set(entries))
    if unknown or missing:
        raise ConfigError(f"{path}: " + "; ".join(
            ([f"entries without a preset: {', '.join(unknown)}"] if unknown else [])
            + ([f"presets without an entry: {', '.join(missing)}"] if missing else [])))
    out = []
    for name, preset in presets.items():
        entry = entries[name] or {}
        result, reference = (_result(path, name, key, entry.get(key)) for key in ("paper", "reference"))
        config = entry.get("config", "")
        if Path(config).name != preset.name:
            raise ConfigError(
                f"{path}: {name}.config is {config!r}, but the preset is {preset.relative_to(root.parent)}")
        out.append(PresetEntry(name=name, config=config, paper=result, reference=reference))
    return out


def _result(path: Path, name: str, key: str, value: Any) -> PaperResult | None:
    try:
        result = None if value is None else PaperResult(**value)
    except TypeError as e:
        raise ConfigError(f"{path}: {name}.{key}: {e}") from None
    if result is not None and result.metric not in ("top1", "mean_class"):
        raise ConfigError(f"{path}: {name}.{key}.metric must be top1 or mean_class, got {result.metric!r}")
    return result
