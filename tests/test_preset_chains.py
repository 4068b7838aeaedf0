"""Presets that chain: a preset that starts from another preset's run (``train.init_from``) finds the file
that run writes. Each chain (``i3d_*`` then ``vpn_i3d_*``; ``i3d_ntu60-xsub`` then the N-UCLA presets) is
trained here on tiny generated data, with the presets' own ``init_from`` and the same ``output_dir``."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from vpnet.presets import list_presets

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
#: what makes a paper preset CPU-sized; everything else (init_from, init_mode, classes, t_p) stays the preset's.
TINY = ["model.backbone_weights=null", "model.clip_len=8", "model.crop_size=32", "data.batch_size=2",
        "data.num_workers=0", "train.epochs=1", "train.global_batch=2", "train.tensorboard=false",
        "train.ckpt_every_steps=0", "train.log_every=100", "eval.mode=single", "data.missing_list=null"]


def chains() -> dict[str, list[str]]:
    """preset -> the presets whose runs it reads, from the ``init_from`` of every preset."""
    from vpnet.engine.config_loader import load_config

    out = {}
    for p in list_presets(CONFIGS):
        init = load_config(p, ["output_dir=RUNS"]).train.init_from
        if init:
            m = re.fullmatch(r"RUNS/([^/]+)/(final|best)\.safetensors", init)
            assert m, f"{p.name}: train.init_from={init} is not a run of another preset under output_dir"
            assert (CONFIGS / f"{m.group(1)}.yaml").is_file(), f"{p.name} reads a run of no preset: {init}"
            out[p.stem] = [m.group(1)]
    return out


def test_every_two_stage_preset_reads_a_preset_run():
    found = chains()
    assert found["vpn_i3d_ntu60-xsub"] == ["i3d_ntu60-xsub"]
    assert found["vpn_i3d_smarthome-cv2"] == ["i3d_smarthome-cv2"]
    assert found["i3d_nucla-v3"] == found["vpn_i3d_nucla-v3"] == ["i3d_ntu60-xsub"]
    # every paper preset chains; vpn_i3d_custom (own data) starts from the Kinetics weights instead
    paper = sorted(p.stem for p in CONFIGS.glob("vpn_i3d_*.yaml") if p.stem != "vpn_i3d_custom")
    assert paper == sorted(k for k in found if k.startswith("vpn"))
    assert "vpn_i3d_custom" not in found


def test_a_two_stage_preset_without_its_first_run_says_which_to_train(tmp_path):
    from vpnet.data.synthetic import make_ntu
    from vpnet.engine.config_loader import load_config
    from vpnet.engine.train import train
    from vpnet.errors import ConfigError

    d = make_ntu(tmp_path / "ntu", num_classes=2, per_class=2, frames=12, size=(64, 36), two_body_every=0)
    data = [f"data.video_dir={d.video_dir}", f"data.pose_dir={d.pose_dir}"]
    cfg = load_config(CONFIGS / "vpn_i3d_ntu60-xsub.yaml", [*TINY, *data, f"output_dir={tmp_path}"])
    with pytest.raises(ConfigError, match=r"i3d_ntu60-xsub/final.safetensors: no such file.*train that one first"):
        train(cfg)


def _data(root: Path) -> dict[str, list[str]]:
    """Tiny generated data per dataset family, as overrides."""
    from vpnet.data.synthetic import make_ntu, make_nucla, make_smarthome

    out = {}
    for version in (60, 120):
        d = make_ntu(root / f"ntu{version}", num_classes=2, per_class=6, frames=20, size=(64, 36), seed=1,
                     version=version, two_body_every=0)
        out[f"ntu{version}"] = [f"data.video_dir={d.video_dir}", f"data.pose_dir={d.pose_dir}"]
    d = make_smarthome(root / "smarthome", num_classes=2, per_class=6, frames=20, size=(64, 48), seed=1)
    out["smarthome"] = [f"data.video_dir={d.video_dir}", f"data.pose_dir={d.pose_dir}", f"data.split_dir={d.split_dir}"]
    d = make_nucla(root / "nucla", num_classes=2, per_class=6, frames=20, size=(64, 48), seed=1)
    out["nucla"] = [f"data.video_dir={d.video_dir}", f"data.pose_dir={d.pose_dir}"]
    return out


@pytest.mark.slow
def test_every_preset_chain_runs(tmp_path):
    """Each first stage is trained once; then every preset that reads it trains from the file it wrote."""
    from vpnet.engine.config_loader import load_config
    from vpnet.engine.train import train

    data = _data(tmp_path / "data")
    runs = tmp_path / "runs"

    def run(preset: str):
        family = preset.replace("-", "_").split("_")[-2]  # vpn_i3d_ntu60-xsub -> ntu60
        cfg = load_config(CONFIGS / f"{preset}.yaml", [*TINY, *data[family], f"output_dir={runs}"])
        return train(cfg)

    found = chains()
    for first in sorted({f for firsts in found.values() for f in firsts}):
        run(first)
    for preset, firsts in sorted(found.items()):
        assert all((runs / f).is_dir() for f in firsts)
        result = run(preset)
        assert result.final_weights is not None and result.final_weights.is_file(), preset
