"""Export a trained recognizer as ONNX: plain tensors in, plain tensors out.

:class:`InferenceModel` wraps a :class:`~vpnet.models.VPNRecognizer` for inference: positional
inputs ``video`` (N, 3, T, S, S) in [-1, 1] and/or ``poses`` (N, 3, t_p, J) in metres (whichever
the variant reads), and a tuple of outputs ``logits`` (N, K), then, where the variant has them, the
spatial attention ``a_s`` (N, m, n) and the temporal attention ``a_t`` (N, t_c). The raw
recognizer returns a dataclass with optional parts, which neither ``torch.jit.trace`` nor
``torch.export`` accepts.

The exported input size is the training crop (``model.crop_size``) and clip length; the batch
axis is dynamic. ONNX files carry the model description (:class:`vpnet.inference.ModelSpec`: class
names, skeleton, clip settings) in their metadata under ``vpnet``, so ``vpnet predict --onnx FILE``
needs nothing else.

**int8** (``vpnet export --int8 --calibration SET``): static quantisation of the convolutions (weights int8
per output channel, activations uint8 per tensor, as QuantizeLinear/DequantizeLinear pairs: the standard
QDQ form that onnxruntime and OpenVINO both run as int8 kernels), with activation ranges calibrated on
the windows of a few real clips cut exactly as ``vpnet predict`` cuts them (:func:`calibration_feeds`).
Only convolution inputs are quantised (decision): they are >99 % of a VPN-I3D's arithmetic, while the pose
network, the attention and the softmaxes are small and range-sensitive. The file records its calibration
(clips, their SHA-256, window count, method) in the metadata entry ``vpnet.quantization``. A calibration
set that does not fit the model (tensors of another shape, poses of another skeleton, clips labelled
with classes the model does not have) is refused before any work.

**No TorchScript** (decision): PyTorch 2.13 deprecates ``torch.jit.save``/``torch.jit.load`` (both warn)
and vpnet had no consumer for such a file, whose traced inputs were nameless (``x``, ``y``). ONNX files
are the one export: named inputs and outputs, the model description inside, run by ``vpnet predict
--onnx`` with onnxruntime and matching PyTorch to 1e-5; in Python, a run folder or its safetensors
weights load with :func:`vpnet.inference.load_recognizer`.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import Tensor

from vpnet.models.vpn import InferenceModel

ONNX_OPSET = 18
FORMATS = ("onnx",)
#: windows of the calibration set used by default: a few clips' worth (ranges settle after ~10 windows).
CALIBRATION_WINDOWS = 16

__all__ = ["InferenceModel", "export_model", "FORMATS", "ONNX_OPSET", "cached_export", "on_backend",
           "calibration_feeds", "quantize_int8", "CALIBRATION_WINDOWS"]


def _example(spec) -> tuple[Tensor, ...]:
    g = torch.Generator().manual_seed(0)
    return tuple(torch.rand(shape, generator=g) * (2 if name == "video" else 1) - (1 if name == "video" else 0.5)
                 for name, shape in spec.input_shapes().items())


def export_model(*, out: str | Path, fmt: str, run: str | Path | None = None,
                 checkpoint: str | Path | None = None, model: str | None = None, opset: int = ONNX_OPSET,
                 int8: bool = False,
                 calibration: str | Path | None = None, calibration_windows: int = CALIBRATION_WINDOWS) -> Path:
    """Export the model of a run folder, a weights file or the zoo (``model``: its name) to ``out`` (written
    atomically); ``int8``: quantised with activation ranges calibrated on ``calibration`` (see
    :func:`calibration_feeds`).

    Raises:
        MissingExtraError: ONNX without the ``export`` extra.
        InferenceError: a calibration set that does not fit the model.
    """
    from vpnet._io import atomic_write_bytes
    from vpnet.inference import load_recognizer

    if fmt not in FORMATS:
        raise ValueError(f"format must be onnx (TorchScript export was dropped: see vpnet.export); got {fmt!r}")
    out = Path(out)
    from vpnet.extras import require  # the extra, before loading anything

    require("onnx", extra="export", what="ONNX export")
    require("onnxscript", extra="export", what="ONNX export")
    if int8:
        require("onnxruntime", extra="export", what="int8 quantisation")
        if calibration is None:
            raise ValueError("int8 export needs a calibration set (calibration=...)")
    if sum(x is not None for x in (run, checkpoint, model)) != 1:
        raise ValueError("give exactly one of run=, checkpoint=, model=")
    rec = load_recognizer(run=run, checkpoint=checkpoint, model=model)
    feeds = None
    if int8:  # the calibration set is read and checked before the (slow) export
        feeds, sources = calibration_feeds(rec, calibration, max_windows=calibration_windows)
    data = onnx_bytes(rec.backend.net, rec.spec, _example(rec.spec), opset=opset)
    if feeds is not None:
        data = quantize_int8(data, feeds, sources=sources)
    atomic_write_bytes(out, data)
    return out


def on_backend(rec, backend: str, *, precision: str = "auto", threads: int = 0):
    """``rec`` (a PyTorch :class:`~vpnet.inference.Recognizer`) on ``backend`` (``pytorch``: itself;
    ``onnxruntime`` or ``openvino``: its fp32 ONNX export, made once and cached, :func:`cached_export`)."""
    from vpnet.inference import BACKENDS, Recognizer, TorchBackend, open_exported

    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {', '.join(BACKENDS)}, got {backend!r}")
    if backend == "pytorch" or not isinstance(rec.backend, TorchBackend):
        return rec
    exported = open_exported(cached_export(rec.backend.net, rec.spec), backend=backend, precision=precision,
                             threads=threads)
    return Recognizer(exported, rec.spec, source=rec.source)


def cached_export(net, spec, *, folder: str | Path | None = None) -> Path:
    """The fp32 ONNX file of ``net`` (an :class:`InferenceModel`, or a plain classifier ``video -> logits``)
    with ``spec``, exported once into ``folder`` (default ``<vpnet cache>/onnx``) under the hash of its weights
    and description: what ``--backend onnxruntime|openvino`` runs for a run folder, a checkpoint or the zoo."""
    import hashlib

    from vpnet._io import atomic_write_bytes, cache_dir
    from vpnet.extras import require

    require("onnx", extra="export", what="running a PyTorch model on an ONNX runtime (its export)")
    require("onnxscript", extra="export", what="running a PyTorch model on an ONNX runtime (its export)")
    h = hashlib.sha256(spec.to_json().encode())
    for name, tensor in net.state_dict().items():
        h.update(name.encode())
        h.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    path = Path(folder or cache_dir() / "onnx") / f"{h.hexdigest()[:40]}.onnx"
    if not path.is_file():
        atomic_write_bytes(path, onnx_bytes(net.eval(), spec, _example(spec)))
    return path


def calibration_feeds(rec, source: str | Path, *, max_windows: int = CALIBRATION_WINDOWS):
    """Up to ``max_windows`` model inputs for int8 calibration, and what they came from
    (``[{"source", "sha256", "windows"}]``).

    ``source``: a ``.npz`` of input tensors named as the model's inputs (``video`` (N, 3, T, S, S) in [-1, 1],
    ``poses`` (N, 3, t_p, J)); a custom-dataset manifest ``.csv`` (columns ``video``, optional ``poses`` and
    ``label``, paths relative to it); a folder of videos (a pose file of the same stem beside a video is
    used, else MediaPipe); or one video. Videos are cut into windows exactly as ``rec.predict`` cuts them.

    Raises:
        InferenceError: the set does not fit the model (other input shapes, another skeleton, labels that
            are not the model's classes), or holds nothing.
    """
    import csv

    import numpy as np

    from vpnet._io import sha256_file
    from vpnet.data.video import VIDEO_SUFFIXES
    from vpnet.errors import InferenceError

    source = Path(source)
    if not source.exists():
        raise InferenceError(f"{source}: calibration set not found")
    spec = rec.spec
    want = spec.input_shapes()
    if source.suffix.lower() == ".npz":
        with np.load(source, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
        if set(arrays) != set(want):
            raise InferenceError(f"{source}: calibration arrays {sorted(arrays)}, but the model takes "
                                 f"{', '.join(want)}: a calibration set of another model")
        for k, shape in want.items():
            if arrays[k].ndim != len(shape) or tuple(arrays[k].shape[1:]) != shape[1:]:
                raise InferenceError(f"{source}: calibration input {k!r} has shape {arrays[k].shape}, the model takes "
                                     f"(N, {', '.join(map(str, shape[1:]))}): a calibration set of another model")
        n = min(len(arrays[k]) for k in want)
        if n == 0:
            raise InferenceError(f"{source}: the calibration set holds no input")
        feeds = [{k: arrays[k][i:i + 1].astype(np.float32) for k in want} for i in range(min(n, max_windows))]
        return feeds, [{"source": source.name, "sha256": sha256_file(source), "windows": len(feeds)}]
    items: list[tuple[Path, Path | None]] = []
    if source.suffix.lower() == ".csv":
        with source.open(newline="") as f:
            rows = list(csv.DictReader(f))
        if not rows or "video" not in rows[0]:
            raise InferenceError(f"{source}: a calibration manifest needs a 'video' column and at least one row")
        labels = {r["label"] for r in rows if r.get("label")}
        foreign = sorted(labels - set(spec.class_names))
        if foreign:
            raise InferenceError(f"{source}: calibration clips are labelled {', '.join(foreign[:5])}, which are not "
                                 f"classes of this model ({len(spec.class_names)} classes: "
                                 f"{', '.join(spec.class_names[:5])}, ...): a calibration set of another dataset")
        items = [(source.parent / r["video"], source.parent / r["poses"] if r.get("poses") else None) for r in rows]
    elif source.is_dir():
        for v in sorted(p for p in source.iterdir() if p.suffix.lower() in VIDEO_SUFFIXES):
            beside = [v.with_suffix(s) for s in (".npz", ".skeleton", ".json")]
            items.append((v, next((p for p in beside if p.is_file()), None)))
        if not items:
            raise InferenceError(f"{source}: the calibration folder holds no video")
    else:
        items = [(source, None)]
    feeds, sources = [], []

    # what predict's steps give the model, window by window; the model itself need not run (the outputs
    # handed back are placeholders of the right shapes, never seen: only the inputs are kept)
    m, n = spec.grid
    blank = {"logits": np.zeros((1, len(spec.class_names)), np.float32), "a_s": np.zeros((1, m, n), np.float32),
             "a_t": np.zeros((1, spec.t_c), np.float32)}

    class Capture:
        def __call__(self, inputs):
            feeds.append({k: np.array(inputs[k], dtype=np.float32) for k in want})
            return {k: blank[k] for k in spec.outputs}

    from vpnet.inference import Recognizer

    capture = Recognizer(Capture(), spec, source=rec.source)
    for video, poses in items:
        if len(feeds) >= max_windows:
            break
        before = len(feeds)
        capture.predict(video, poses=poses)
        sources.append({"source": video.name, "sha256": sha256_file(video), "windows": len(feeds) - before})
    return feeds[:max_windows], sources


def quantize_int8(fp32: bytes, feeds: list[dict], *, sources: list[dict]) -> bytes:
    """``fp32`` (an exported ONNX model) with its convolutions quantised to int8 (QDQ), activation ranges
    from ``feeds`` (min-max); the calibration record goes into the metadata entry ``vpnet.quantization``."""
    import json
    import tempfile

    import onnx
    import onnxruntime
    from onnxruntime.quantization import (
        CalibrationDataReader,
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )
    from onnxruntime.quantization.shape_inference import quant_pre_process

    class Reader(CalibrationDataReader):
        def __init__(self):
            self._it = iter(feeds)

        def get_next(self):
            return next(self._it, None)

    with tempfile.TemporaryDirectory(prefix="vpnet-int8-") as tmp:
        src, pre, out = (Path(tmp) / n for n in ("fp32.onnx", "pre.onnx", "int8.onnx"))
        src.write_bytes(fp32)
        quant_pre_process(str(src), str(pre))  # shapes inferred, graph simplified: what the quantiser expects
        quantize_static(str(pre), str(out), Reader(), quant_format=QuantFormat.QDQ, op_types_to_quantize=["Conv"],
                        per_channel=True, activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                        calibrate_method=CalibrationMethod.MinMax,
                        # convolution outputs stay float: an int8 logits layer clips a clip's logits to the
                        # calibration clips' range (measured: Kinetics I3D top-1 score 0.91 -> 0.33; with
                        # float outputs 0.87, the same top-4)
                        extra_options={"OpTypesToExcludeOutputQuantization": ["Conv"]})
        model = onnx.load(str(out))
    record = {"scheme": "static int8 (QDQ): convolution inputs, weights int8 per output channel, activations uint8 "
                        "per tensor, outputs float", "method": "min-max", "windows": len(feeds), "calibration": sources,
              "onnxruntime": onnxruntime.__version__}
    meta = {e.key: e.value for e in onnx.load_from_string(fp32).metadata_props}
    del model.metadata_props[:]
    for key, value in (("vpnet", meta["vpnet"]), ("vpnet.quantization", json.dumps(record))):
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.checker.check_model(model)
    return model.SerializeToString()


def onnx_bytes(net: InferenceModel, spec, example: tuple[Tensor, ...], *, opset: int = ONNX_OPSET) -> bytes:
    """The ONNX model of ``net`` (dynamic batch axis) with ``spec`` in its metadata, serialised."""
    import onnx

    batch = torch.export.Dim("batch", min=1, max=1024)
    with torch.no_grad():
        program = torch.onnx.export(
            net, example, input_names=list(spec.inputs), output_names=list(spec.outputs), opset_version=opset,
            # one entry per input given (pose_only and l1 models take one): a dict naming "y" fails for them
            dynamo=True, dynamic_shapes=tuple({0: batch} for _ in example),
            verbose=False)
    proto = program.model_proto
    entry = proto.metadata_props.add()
    entry.key, entry.value = "vpnet", spec.to_json()
    onnx.checker.check_model(proto)
    return proto.SerializeToString()
