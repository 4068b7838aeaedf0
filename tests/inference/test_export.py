"""Export: ONNX (checked with onnxruntime against PyTorch) and TorchScript."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from vpnet.inference import InferenceError, load_model, load_recognizer

#: ONNX Runtime vs PyTorch (fp32, CPU): measured relative differences of a few 1e-6.
ATOL, RTOL = 1e-4, 1e-5


def test_onnx_matches_pytorch(tiny_run, onnx_file):
    import onnx
    import onnxruntime as ort

    from vpnet.export import InferenceModel

    proto = onnx.load(str(onnx_file))
    assert max(o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")) >= 17
    model, spec = load_model(run=tiny_run)
    sess = ort.InferenceSession(str(onnx_file), providers=["CPUExecutionProvider"])
    assert [i.name for i in sess.get_inputs()] == ["video", "poses"]
    assert [o.name for o in sess.get_outputs()] == ["logits", "a_s", "a_t"]
    g = torch.Generator().manual_seed(1)
    for batch in (1, 3):  # the batch axis is dynamic
        video = torch.rand(batch, 3, 8, 64, 64, generator=g) * 2 - 1
        poses = torch.randn(batch, 3, 4, 25, generator=g) * 0.3
        with torch.no_grad():
            ref = InferenceModel(model).eval()(video, poses)
        got = sess.run(None, {"video": video.numpy(), "poses": poses.numpy()})
        for r, o, name in zip(ref, got, spec.outputs):
            assert o.shape == tuple(r.shape), name
            np.testing.assert_allclose(o, r.numpy(), atol=ATOL, rtol=RTOL, err_msg=name)


def test_onnx_with_other_inputs_is_refused(tmp_path):
    """An ONNX model that is not a vpnet export, and one whose inputs disagree with its metadata."""
    pytest.importorskip("onnxruntime", reason="the export extra is not installed")
    from onnx import TensorProto, helper, save

    def model(inputs, meta=None):
        g = helper.make_graph([helper.make_node("Identity", [inputs[0][0]], ["logits"])], "g",
                              [helper.make_tensor_value_info(n, TensorProto.FLOAT, s) for n, s in inputs],
                              [helper.make_tensor_value_info("logits", TensorProto.FLOAT, inputs[0][1])])
        m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 18)])
        m.ir_version = 8
        if meta:
            e = m.metadata_props.add()
            e.key, e.value = "vpnet", meta
        save(m, str(tmp_path / "m.onnx"))
        return tmp_path / "m.onnx"

    with pytest.raises(InferenceError, match=r"m\.onnx: an ONNX model without vpnet's metadata.*vpnet export"):
        load_recognizer(onnx=model([("image", ["N", 3, 224, 224])]))
    from vpnet.inference import ModelSpec

    spec = ModelSpec(variant="l1", skeleton="ntu25", num_joints=25, clip_len=8, crop_size=64, t_p=4,
                     frame_stride=2, crop_margin=0.1, class_names=("a", "b"))
    with pytest.raises(InferenceError,
                       match=r"model inputs are video \['N', 3, 16, 64, 64\].*video \(N, 3, 8, 64, 64\)"):
        load_recognizer(onnx=model([("video", ["N", 3, 16, 64, 64])], spec.to_json()))
    (tmp_path / "junk.onnx").write_bytes(b"not a model")
    with pytest.raises(InferenceError, match="junk.onnx: not an ONNX model"):
        load_recognizer(onnx=tmp_path / "junk.onnx")


def test_export_cli_and_missing_extra(tiny_run, tmp_path, monkeypatch):
    import sys

    from typer.testing import CliRunner

    from vpnet.cli import app

    res = CliRunner().invoke(app, ["export", "--run", str(tiny_run), "--format", "torchscript", "--out",
                                   str(tmp_path / "m.pt")], catch_exceptions=False)
    assert res.exit_code == 2 and "--format must be onnx" in res.output and "torch.jit is deprecated" in res.output
    assert not (tmp_path / "m.pt").exists()
    monkeypatch.setitem(sys.modules, "onnx", None)
    res = CliRunner().invoke(app, ["export", "--run", str(tiny_run), "--format", "onnx", "--out",
                                   str(tmp_path / "m.onnx")], catch_exceptions=False)
    assert res.exit_code == 1 and "pip install 'vpnet[export]'" in res.output
    assert not (tmp_path / "m.onnx").exists()
