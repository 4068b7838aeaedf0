"""Loading a run's configuration: YAML presets composed with ``_base_``, dotted overrides, checks.

A config is the :class:`vpnet.config.Config` dataclass tree. :func:`load_config` builds one from

1. the schema defaults (``vpnet/config.py``),
2. the ``_base_`` files of the YAML file, in order, each resolved recursively (a base may have bases),
3. the YAML file itself,
4. dotted command-line overrides (``model.t_p=30 train.epochs=2``), left to right.

``name`` (the run folder's name) defaults to the YAML file's stem, so a preset's runs are named after it.

``_base_`` is a path or a list of paths **relative to the file that names them** (MMAction2's habit),
so presets keep every hyper-parameter in one place: ``configs/_base_/`` holds the schedule, the models
and the datasets; a preset names its bases and adds what is its own. A key that is not in the schema is
an error naming the key, where it came from, the valid keys and the closest match; a value of the wrong
type is an error naming the key, the expected type and the value. Interpolations such as
``${oc.env:VPNET_DATA,data}`` (an environment variable with a default) and ``${model.t_p}`` are resolved
when the config is loaded, so a saved config (:func:`save_config`) is complete and reproducible.
"""

from __future__ import annotations

import dataclasses
import difflib
import typing
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from vpnet.config import AMPS, DATA_CHOICES, FPS_RANGE, MODEL_CHOICES, OPTIM_CHOICES, Config
from vpnet.errors import ConfigError  # re-exported
from vpnet.models.registry import backbone_names, get_backbone, get_pose_backbone, pose_backbone_names

#: the key that names the files a YAML file is composed on.
BASE_KEY = "_base_"

#: values that are not free-form (the model's from :data:`vpnet.config.MODEL_CHOICES`), checked when the
#: config is loaded, before anything is built (the data package checks the dataset and protocol).
CHOICES: dict[str, tuple[str, ...]] = {
    **{f"model.{key}": values for key, values in MODEL_CHOICES.items()},
    **{f"data.{key}": values for key, values in DATA_CHOICES.items()},
    **{f"optim.{key}": values for key, values in OPTIM_CHOICES.items()},
    "train.amp": AMPS,
    "train.init_mode": ("full", "backbone", "backbone+vpn", "pose_backbone"),
    "train.device": ("auto", "cpu", "cuda"),
    "eval.mode": ("multi", "single"),
    "eval.amp": AMPS,
}

#: lower bounds of numeric values (inclusive).
MINIMUM: dict[str, float] = {
    "train.epochs": 1,
    "train.global_batch": 1,
    "train.grad_accum": 1,
    "train.ckpt_every_steps": 0,
    "train.ckpt_every_epochs": 0,
    "train.keep_checkpoints": 1,
    "train.val_every": 0,
    "train.log_every": 1,
    "data.batch_size": 1,
    "data.num_workers": 0,
    "eval.num_clips": 1,
    "eval.short_side": 32,
    "eval.batch_size": 1,
    "eval.clip_batch": 1,
    "optim.lr": 0.0,
    "optim.momentum": 0.0,
    "optim.weight_decay": 0.0,
    "optim.lr_step": 1,
    "model.num_classes": 0,
    "model.t_p": 1,
    "model.attention_init_std": 0.0,
    "model.embed_temperature": 1e-3,
    "data.pose_rotate": 0.0,
    "data.pose_scale": 0.0,
    "data.pose_jitter": 0.0,
    "data.pose_crop": 0.0,
}


def load_config(path: str | Path | None = None, overrides: Sequence[str] = ()) -> Config:
    """The resolved, checked :class:`Config` from a YAML file (or the defaults) and dotted overrides.

    Args:
        path: a YAML file (``None``: the schema defaults alone).
        overrides: ``"section.key=value"`` strings, applied after the file, left to right
            (YAML syntax for the value: ``train.init_from=null``, ``model.dropout=0``).

    Raises:
        ConfigError: a missing file, a ``_base_`` cycle, an unknown key, a wrong type, a value out of
            range or not among its choices, an interpolation that cannot be resolved.
    """
    from omegaconf import OmegaConf
    from omegaconf.errors import OmegaConfBaseException

    layers: list[tuple[str, dict[str, Any]]] = []
    if path is not None:
        layers.extend(_file_layers(Path(path), chain=()))
        if not any("name" in layer for _, layer in layers):
            # a preset's runs are named after it: configs/vpn_i3d_ntu60-xsub.yaml -> runs/vpn_i3d_ntu60-xsub
            layers.insert(0, ("the config file's name", {"name": Path(path).stem}))
    if overrides:
        layers.append(("command line", _parse_overrides(overrides)))

    merged = OmegaConf.structured(Config)
    for source, layer in layers:
        _check_keys(layer, Config, prefix="", source=source)
        try:
            merged = OmegaConf.merge(merged, OmegaConf.create(layer))
        except OmegaConfBaseException as e:
            raise ConfigError(_type_error_message(e, source)) from None
    try:
        cfg = OmegaConf.to_object(merged)
    except OmegaConfBaseException as e:
        key = getattr(e, "full_key", None)
        raise ConfigError(f"config key {key!r}: {_first_line(e)}" if key else _first_line(e)) from None
    assert isinstance(cfg, Config)
    check_values(cfg)
    _warn_unset_missing_list(cfg, layers)
    return cfg


def _warn_unset_missing_list(cfg: Config, layers: list[tuple[str, dict[str, Any]]]) -> None:
    """NTU without ``data.missing_list`` in any layer: the official protocol's excluded samples are kept.
    Said once, here, where "not set" and "set to null" (a knowing choice, silent) can be told apart."""
    if not cfg.data.dataset.startswith("ntu") or cfg.data.missing_list is not None or cfg.data.prepared_dir:
        return
    if any("missing_list" in (layer.get("data") or {}) for _, layer in layers):
        return
    import logging

    from vpnet.data.ntu import MISSING_LISTS

    file, count = MISSING_LISTS[120 if cfg.data.dataset == "ntu120" else 60]
    logging.getLogger("vpnet.data").warning(
        "%s: the official protocol excludes the %d samples listed in %s from the official NTU RGB+D repository; "
        "data.missing_list is not set, so they are used (set data.missing_list=FILE, or null to keep them "
        "knowingly)", cfg.data.dataset, count, file)


def check_values(cfg: Config) -> None:
    """Choices and ranges of the values (see :data:`CHOICES`, :data:`MINIMUM`); raises ConfigError."""
    problems = []
    for key, choices in CHOICES.items():
        value = get_key(cfg, key)
        if value not in choices:
            problems.append(f"{key}={value!r} is not one of: {', '.join(choices)}")
    if cfg.model.backbone not in backbone_names():
        problems.append(f"model.backbone={cfg.model.backbone!r} is not one of: {', '.join(backbone_names())}")
    if cfg.model.pose_backbone not in pose_backbone_names():
        problems.append(f"model.pose_backbone={cfg.model.pose_backbone!r} is not one of: "
                        f"{', '.join(pose_backbone_names())}")
    for key, low in MINIMUM.items():
        value = get_key(cfg, key)
        if value is not None and value < low:
            problems.append(f"{key}={value!r} must be >= {low:g}")
    if cfg.model.kl_temperature is not None and cfg.model.kl_temperature <= 0:
        problems.append(f"model.kl_temperature={cfg.model.kl_temperature!r} must be > 0 (or null: raw embeddings)")
    if not 0.0 <= cfg.loss.lambda1 <= 1.0:
        problems.append(f"loss.lambda1={cfg.loss.lambda1!r} must be in [0, 1]")
    if not problems:  # the relations between values, once each value is valid on its own
        problems += _contradictions(cfg)
    if len(problems) == 1:
        raise ConfigError(f"invalid config value: {problems[0]}")
    if problems:
        raise ConfigError("invalid config values:\n  " + "\n  ".join(problems))


def _contradictions(cfg: Config) -> list[str]:
    """Values that are each valid but cannot go together; caught here rather than inside the model's
    forward pass after the run folder exists."""
    m, d, t = cfg.model, cfg.data, cfg.train
    out = []
    video = m.variant != "pose_only"
    pairs = [("t_p", "poses per clip")]
    if video:
        pairs += [("clip_len", "frames per clip"), ("crop_size", "crop size")]
    for key, what in pairs:
        if getattr(d, key) != getattr(m, key):
            out.append(f"data.{key}={getattr(d, key)} but model.{key}={getattr(m, key)}: the model is built for the "
                       f"{what} the data gives; set one of them to the other's value (data.{key} defaults to "
                       f"${{model.{key}}})")
    if video:
        backbone = get_backbone(m.backbone)
        if backbone.strides is not None:
            ts, ss = backbone.strides
            if m.clip_len % ts or m.crop_size % ss:
                out.append(f"model.clip_len={m.clip_len} and model.crop_size={m.crop_size} must be multiples of the "
                           f"{m.backbone} strides ({ts} in time, {ss} in space)")
        if m.pixel_norm not in backbone.pixel_norms:
            out.append(f"model.pixel_norm={m.pixel_norm} does not fit backbone {m.backbone}: its weights take "
                       f"model.pixel_norm={' or '.join(backbone.pixel_norms)}")
    if m.attention_source != "pose" and m.variant != "l2":
        out.append(f"model.attention_source={m.attention_source} is a probe of the attention network, for "
                   f"model.variant=l2 only (got {m.variant}): the embedding of l3 reads the pose's z1")
    if m.variant != "l1":
        out += _pose_contradictions(cfg)
    if not FPS_RANGE[0] <= d.fps <= FPS_RANGE[1]:
        out.append(f"data.fps={d.fps} must be the training videos' frame rate, in [{FPS_RANGE[0]:g}, {FPS_RANGE[1]:g}] "
                   "(NTU, N-UCLA: 30)")
    if m.variant == "l3" and m.embed_pose_input == "z1" and m.attention_init_std == 0:
        out.append("model.attention_init_std=0 with model.embed_pose_input=z1: the coupler's last layers start at "
                   "zero, so the pose embedding P_e = 0 and its normalisation's gradient is ~1e12 on the first "
                   "step; use a small std (default 0.01) or model.embed_pose_input=a_s")
    for key in ("pose_scale", "pose_crop"):
        if getattr(d, key) >= 1:
            out.append(f"data.{key}={getattr(d, key)} must be < 1")
    if t.global_batch % d.batch_size:
        out.append(f"train.global_batch={t.global_batch} is not a multiple of data.batch_size={d.batch_size} "
                   "(global batch = batch size x processes x train.grad_accum)")
    if d.dataset == "custom" and not (d.manifest or d.split_dir or d.prepared_dir or d.feature_dir):
        out.append("data.dataset=custom needs data.manifest (a CSV/JSON file listing video,poses,label) or "
                   "data.split_dir holding manifest.csv (or a store: data.prepared_dir / data.feature_dir)")
    return out


def _pose_contradictions(cfg: Config) -> list[str]:
    """The pose backbone, stream and normalisation against the skeleton layout."""
    from vpnet.data.clips import body_frame_joints
    from vpnet.skeletons import bone_depths, get_layout

    m, d = cfg.model, cfg.data
    out = []
    pose = get_pose_backbone(m.pose_backbone)
    if m.t_p < pose.min_t_p:
        out.append(f"model.t_p={m.t_p}: model.pose_backbone={m.pose_backbone} needs t_p >= {pose.min_t_p}"
                   + (" (it pools time twice by 2)" if m.pose_backbone == "gcn" else ""))
    try:
        layout = get_layout(m.skeleton)
    except ConfigError as e:
        return [*out, str(e)]
    try:
        body_frame_joints(layout, d.pose_norm)
    except ConfigError as e:
        out.append(str(e))
    needs = [f"model.pose_backbone={m.pose_backbone}"] if pose.needs_bone_tree else []
    if d.pose_stream.startswith("bone"):
        needs.append(f"data.pose_stream={d.pose_stream}")
    if needs:
        try:
            bone_depths(layout)
        except ConfigError as e:
            out.append(f"{' and '.join(needs)} cannot work with model.skeleton={m.skeleton}: it needs a bone tree "
                       f"over every joint, and {e}")
    return out


def get_key(cfg: Any, dotted: str) -> Any:
    """``get_key(cfg, "train.epochs")`` -> ``cfg.train.epochs``."""
    for part in dotted.split("."):
        cfg = getattr(cfg, part)
    return cfg


def config_to_yaml(cfg: Config) -> str:
    """The config as YAML (every key, interpolations resolved)."""
    from omegaconf import OmegaConf

    return OmegaConf.to_yaml(OmegaConf.structured(cfg), resolve=True)


def save_config(cfg: Config, path: str | Path) -> None:
    """Write the resolved config as YAML; :func:`load_config` reads it back to an equal config."""
    from vpnet._io import atomic_write_bytes

    atomic_write_bytes(Path(path), config_to_yaml(cfg).encode())


# --- internals ------------------------------------------------------------------------------------


def _file_layers(path: Path, chain: tuple[Path, ...]) -> list[tuple[str, dict[str, Any]]]:
    """The (source, dict) layers of a YAML file: its bases' layers first, then its own."""
    from omegaconf import OmegaConf

    path = path.expanduser()
    if not path.is_file():
        where = f" (named in {chain[-1]} under {BASE_KEY})" if chain else ""
        raise ConfigError(f"config file not found: {path}{where}")
    resolved = path.resolve()
    if resolved in chain:
        cycle = " -> ".join(str(p) for p in (*chain, resolved))
        raise ConfigError(f"{BASE_KEY} cycle: {cycle}")
    try:
        data = OmegaConf.to_container(OmegaConf.load(path), resolve=False)
    except Exception as e:  # the YAML parser's errors, and OmegaConf's on a top-level list
        raise ConfigError(f"{path}: not a valid config file: {' '.join(str(e).split())}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of config keys at the top level, got {type(data).__name__}")
    bases = data.pop(BASE_KEY, [])
    if isinstance(bases, str):
        bases = [bases]
    if not isinstance(bases, list) or not all(isinstance(b, str) for b in bases):
        raise ConfigError(f"{path}: {BASE_KEY} must be a path or a list of paths, got {bases!r}")
    layers = []
    for base in bases:
        layers.extend(_file_layers(path.parent / base, chain=(*chain, resolved)))
    layers.append((str(path), data))
    return layers


def _parse_overrides(overrides: Sequence[str]) -> dict[str, Any]:
    """``["model.t_p=30", ...]`` -> a nested dict (values parsed as YAML, like OmegaConf's dotlist)."""
    from omegaconf import OmegaConf

    for item in overrides:
        key, sep, _ = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(
                f"override {item!r} is not of the form section.key=value (e.g. train.epochs=2)"
            )
    container = OmegaConf.to_container(OmegaConf.from_dotlist(list(overrides)), resolve=False)
    assert isinstance(container, dict)
    return container


def _check_keys(layer: dict[str, Any], schema: type, *, prefix: str, source: str) -> None:
    types = _field_types(schema)
    for key, value in layer.items():
        full = prefix + str(key)
        if key not in types:
            if key == BASE_KEY:
                raise ConfigError(f"{source}: {BASE_KEY} is only allowed at the top level of a YAML file")
            names = list(types)
            close = difflib.get_close_matches(str(key), names, n=1)
            hint = f" (did you mean {prefix + close[0]!r}?)" if close else ""
            section = f"section {prefix[:-1]!r}" if prefix else "the top level"
            raise ConfigError(
                f"{source}: unknown config key {full!r}{hint}. Valid keys of {section}: {', '.join(names)}"
            )
        ftype = types[key]
        if dataclasses.is_dataclass(ftype):
            if not isinstance(value, dict):
                raise ConfigError(
                    f"{source}: config key {full!r} is a section (keys: {', '.join(_field_types(ftype))}), "
                    f"got the value {value!r}"
                )
            _check_keys(value, ftype, prefix=full + ".", source=source)


def _field_types(schema: type) -> dict[str, Any]:
    hints = typing.get_type_hints(schema)
    return {f.name: hints[f.name] for f in dataclasses.fields(schema)}


def _type_name(key: str | None) -> str:
    if not key:
        return "?"
    schema: Any = Config
    parts = key.split(".")
    try:
        for part in parts[:-1]:
            schema = _field_types(schema)[part]
        hint = _field_types(schema)[parts[-1]]
    except (KeyError, TypeError):
        return "?"
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    if args and len(typing.get_args(hint)) == 2:  # Optional[X]
        return f"{args[0].__name__} or null"
    return getattr(hint, "__name__", str(hint))


def _type_error_message(e: Exception, source: str) -> str:
    key = getattr(e, "full_key", None)
    value = getattr(e, "value", None)
    return f"{source}: config key {key!r} expects {_type_name(key)}, got {value!r} ({_first_line(e)})"


def _first_line(e: Exception) -> str:
    return str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
