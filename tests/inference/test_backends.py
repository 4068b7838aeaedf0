"""The ONNX runtimes of ``vpnet predict --backend`` against PyTorch, int8 export with its calibration, and the
errors: a calibration set that does not fit the model, a runtime that is not installed."""

from __future__ import annotations

import json
import sys

import numpy as np
import pytest
from typer.testing import CliRunner

from vpnet.cli import app
from vpnet.inference import load_recognizer

pytest.importorskip("onnxruntime", reason="the export extra is not installed (pip install 'vpnet[export]')")


def run_cli(*args):
    return CliRunner().invoke(app, [str(a) for a in args], catch_exceptions=False)


def fresh(code: str) -> dict:
    """Run ``code`` (which prints one JSON line last) in a fresh interpreter and return that JSON. OpenVINO is
    never loaded into the test process: its thread pool (TBB) stays alive, and later tests fork DataLoader and
    prepare workers; a fork beside those threads crashed the suite (SIGSEGV) now and then."""
    import subprocess
    import textwrap

    res = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-3000:]
    return json.loads(res.stdout.strip().splitlines()[-1])


def skip_without_openvino() -> None:
    import importlib.util

    if importlib.util.find_spec("openvino") is None:  # looked up, not imported (see fresh)
        pytest.skip("the openvino extra is not installed")


def cli_fresh(*args):
    """``vpnet ARGS`` in a fresh interpreter (see :func:`fresh`): the CompletedProcess."""
    import subprocess

    return subprocess.run([sys.executable, "-m", "vpnet.cli", *map(str, args)], capture_output=True, text=True,
                          timeout=300)


MATCH = """
import json, sys
import numpy as np
from vpnet.export import on_backend
from vpnet.inference import load_recognizer
ref = load_recognizer(run=sys.argv[1])
fast = on_backend(ref, sys.argv[2])
again = on_backend(load_recognizer(run=sys.argv[1]), sys.argv[2])  # the cached export, not a second one
diffs = {}
for seed in range(3):
    rng = np.random.default_rng(seed)
    feeds = {k: rng.uniform(-1, 1, shape).astype(np.float32) * (0.5 if k == "poses" else 1.0)
             for k, shape in ref.spec.input_shapes().items()}
    want, got = ref.backend(feeds), fast.backend(feeds)
    for k in want:
        diffs[k] = max(diffs.get(k, 0.0), float(np.abs(got[k] - want[k]).max()))
print(json.dumps({"runtime": fast.backend.runtime, "precision": fast.backend.precision, "diffs": diffs,
                  "same_spec": fast.spec == ref.spec, "same_file": str(again.backend.path) == str(fast.backend.path),
                  "outputs": sorted(got)}))
"""


@pytest.mark.parametrize("backend", ["onnxruntime", "openvino"])
def test_onnx_runtimes_match_pytorch(tiny_run, backend):
    """A run folder on an ONNX runtime (exported once, cached): logits and attention as PyTorch's, fp32."""
    if backend == "openvino":
        skip_without_openvino()
    r = fresh(MATCH.replace("sys.argv[1]", repr(str(tiny_run))).replace("sys.argv[2]", repr(backend)))
    assert r["runtime"] == backend and r["precision"] == "fp32" and r["same_spec"] and r["same_file"]
    assert r["outputs"] == ["a_s", "a_t", "logits"]
    assert max(r["diffs"].values()) < 1e-4, r["diffs"]


def _manifest(tiny_data, tmp_path, rows, name="calib.csv"):
    path = tmp_path / name
    path.write_text("video,poses,label\n" + "\n".join(",".join(str(c) for c in r) for r in rows) + "\n")
    return path


@pytest.fixture(scope="module")
def int8_file(tiny_run, tmp_path_factory):
    """The tiny run exported to int8, calibrated on its training videos (with their pose files)."""
    tiny_data = tiny_run.parent / "data"
    tmp = tmp_path_factory.mktemp("int8")
    rows = [(tiny_data / f"{c}{i}.mp4", tiny_data / f"{c}{i}.npz", c) for c in ("left", "right") for i in range(3)]
    manifest = _manifest(tiny_data, tmp, rows)
    out = tmp / "tiny_int8.onnx"
    res = run_cli("export", "--run", tiny_run, "--out", out, "--int8", "--calibration", manifest)
    assert res.exit_code == 0, res.output
    assert "exported onnx (int8)" in res.output
    return out


def test_int8_export_records_its_calibration(int8_file, tiny_run):
    import onnx

    from vpnet._io import sha256_file
    from vpnet.inference import OnnxBackend

    tiny_data = tiny_run.parent / "data"
    b = OnnxBackend(int8_file)
    q = b.quantization
    assert b.precision == "int8" and q["method"] == "min-max" and "int8" in q["scheme"]
    assert [c["source"] for c in q["calibration"]] == [f"{c}{i}.mp4" for c in ("left", "right") for i in range(3)]
    assert q["calibration"][0]["sha256"] == sha256_file(tiny_data / "left0.mp4")
    # 20-frame videos, 8-frame windows at stride 2 (span 15): 2 windows each, 6 videos, 12 < 16 asked for
    assert q["windows"] == sum(c["windows"] for c in q["calibration"]) == 12
    assert b.spec == load_recognizer(run=tiny_run).spec  # the model description, as in an fp32 file
    ops = [n.op_type for n in onnx.load(str(int8_file)).graph.node]
    convs = ops.count("Conv")
    assert convs > 10 and ops.count("DequantizeLinear") >= convs  # every convolution's weight and input


AGREE = """
import json
import numpy as np
from pathlib import Path
from vpnet.inference import load_recognizer
run, int8, backend = Path(RUN), Path(INT8), BACKEND
data = run.parent / "data"
ref = load_recognizer(run=run)
q = load_recognizer(onnx=int8, backend=backend)
agree = total = 0
diff = 0.0
for c in ("left", "right"):
    for i in range(4):
        args = dict(poses=data / f"{c}{i}.npz", hop=2)
        a, b = ref.predict(data / f"{c}{i}.mp4", **args), q.predict(data / f"{c}{i}.mp4", **args)
        assert len(a.windows) == len(b.windows)
        for wa, wb in zip(a.windows, b.windows):
            agree += int(wa.scores.argmax() == wb.scores.argmax())
            diff = max(diff, float(np.abs(wa.scores - wb.scores).max()))
            total += 1
print(json.dumps({"precision": q.backend.precision, "agree": agree, "total": total, "diff": diff}))
"""


@pytest.mark.parametrize("backend", ["onnxruntime", "openvino"])
def test_int8_agrees_with_fp32_on_the_top_class(int8_file, tiny_run, backend):
    """Every window of the 8 generated videos (the 2 held out included): int8 and PyTorch fp32 name the same
    class, and the scores stay close."""
    if backend == "openvino":
        skip_without_openvino()
    r = fresh(AGREE.replace("RUN", repr(str(tiny_run))).replace("INT8", repr(str(int8_file)))
              .replace("BACKEND", repr(backend)))
    assert r["precision"] == "int8"
    assert r["total"] == 8 * 4  # hop 2 over 20 frames: windows starting at 0, 2, 4 and the last one
    assert r["agree"] == r["total"]
    assert r["diff"] < 0.05


def test_calibration_that_does_not_fit_is_refused(tiny_run, tmp_path):
    """Tensors of another shape, clips labelled with other classes, poses of another skeleton: refused at
    export with the file named, nothing written."""
    tiny_data = tiny_run.parent / "data"
    out = tmp_path / "q.onnx"
    wrong = tmp_path / "wrong.npz"
    np.savez(wrong, video=np.zeros((2, 3, 16, 64, 64), np.float32), poses=np.zeros((2, 3, 4, 25), np.float32))
    res = run_cli("export", "--run", tiny_run, "--out", out, "--int8", "--calibration", wrong)
    assert res.exit_code == 1
    assert "wrong.npz: calibration input 'video' has shape (2, 3, 16, 64, 64), the model takes (N, 3, 8, 64, 64)" \
        in res.output
    labels = _manifest(tiny_data, tmp_path, [(tiny_data / "left0.mp4", tiny_data / "left0.npz", "jump")])
    res = run_cli("export", "--run", tiny_run, "--out", out, "--int8", "--calibration", labels)
    assert res.exit_code == 1 and "calib.csv: calibration clips are labelled jump" in res.output
    xyz = np.random.default_rng(0).normal(size=(20, 13, 3)).astype(np.float32)
    np.savez(tmp_path / "lcr.npz", xyz=xyz, layout=np.array("lcrnet13"))
    layout = _manifest(tiny_data, tmp_path, [(tiny_data / "left0.mp4", tmp_path / "lcr.npz", "left")], "lcr.csv")
    res = run_cli("export", "--run", tiny_run, "--out", out, "--int8", "--calibration", layout)
    assert res.exit_code == 1 and "trained on ntu25 skeletons" in res.output and "lcrnet13" in res.output
    res = run_cli("export", "--run", tiny_run, "--out", out, "--int8")
    assert res.exit_code == 2 and "--int8 needs --calibration" in res.output
    assert not out.exists()


@pytest.mark.parametrize("module,extra", [("openvino", "vpnet[openvino]"), ("onnxruntime", "vpnet[export]")])
def test_a_missing_runtime_names_its_extra(int8_file, tiny_run, tmp_path, monkeypatch, module, extra):
    monkeypatch.setitem(sys.modules, module, None)
    backend = module
    res = run_cli("predict", tiny_run.parent / "data" / "left0.mp4", "--onnx", int8_file, "--backend", backend,
                  "--poses", tiny_run.parent / "data" / "left0.npz", "--out", tmp_path / "r.json")
    assert res.exit_code == 1 and extra in res.output and not (tmp_path / "r.json").exists()


def test_predict_cli_on_openvino_int8(int8_file, tiny_run, tmp_path):
    skip_without_openvino()
    data = tiny_run.parent / "data"
    outs = {}
    for backend, model in (("pytorch", ["--run", tiny_run]), ("openvino", ["--onnx", int8_file])):
        res = cli_fresh("predict", data / "right3.mp4", *model, "--backend", backend, "--poses",
                        data / "right3.npz", "--out", tmp_path / f"{backend}.json")
        assert res.returncode == 0, res.stderr
        outs[backend] = json.loads((tmp_path / f"{backend}.json").read_text())
    assert outs["openvino"]["top_class"] == outs["pytorch"]["top_class"]
    np.testing.assert_allclose(outs["openvino"]["scores"], outs["pytorch"]["scores"], atol=0.05)
    res = run_cli("predict", data / "right3.mp4", "--onnx", int8_file, "--precision", "bf16")
    assert res.exit_code == 1 and "onnxruntime has no bf16 CPU kernels" in res.output
