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

__all__ = ["InferenceModel", "export_model", "FORMATS", "ONNX_OPSET"]


def _example(spec) -> tuple[Tensor, ...]:
    g = torch.Generator().manual_seed(0)
    return tuple(torch.rand(shape, generator=g) * (2 if name == "video" else 1) - (1 if name == "video" else 0.5)
                 for name, shape in spec.input_shapes().items())


def export_model(*, out: str | Path, fmt: str, run: str | Path | None = None,
                 checkpoint: str | Path | None = None, opset: int = ONNX_OPSET) -> Path:
    """Export the model of a run folder or a weights file to ``out`` (written atomically).

    Raises:
        MissingExtraError: ONNX without the ``export`` extra.
    """
    from vpnet._io import atomic_write_bytes
    from vpnet.inference import load_model

    if fmt not in FORMATS:
        raise ValueError(f"format must be onnx (TorchScript export was dropped: see vpnet.export); got {fmt!r}")
    out = Path(out)
    from vpnet.extras import require  # the extra, before loading anything

    require("onnx", extra="export", what="ONNX export")
    require("onnxscript", extra="export", what="ONNX export")
    model, spec = load_model(run=run, checkpoint=checkpoint)
    net = InferenceModel(model).eval()
    example = _example(spec)
    atomic_write_bytes(out, onnx_bytes(net, spec, example, opset=opset))
    return out


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
