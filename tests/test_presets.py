"""``configs/metafile.yaml``: every preset says what it reproduces, and ``vpnet info --presets`` shows it."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from vpnet.cli import app
from vpnet.errors import ConfigError
from vpnet.presets import list_presets, read_metafile

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
PRESETS = list_presets(CONFIGS)
ENTRIES = {e.name: e for e in read_metafile(CONFIGS)}


@pytest.mark.parametrize("preset", PRESETS, ids=lambda p: p.stem)
def test_every_preset_has_an_entry(preset):
    entry = ENTRIES[preset.stem]
    assert (CONFIGS.parent / entry.config) == preset
    if entry.paper is not None:
        assert entry.paper.metric == ("mean_class" if "smarthome" in preset.stem else "top1")
        assert 30 < entry.paper.value < 100


def test_entries_hold_the_papers_numbers():
    """A few rows read back from the paper's tables (Table 1 l1/l3, Table 5 RN3D101, Table 6, Table 7)."""
    got = {name: (e.paper.table, e.paper.value) for name, e in ENTRIES.items() if e.paper is not None}
    assert got["i3d_ntu120-xsub"] == ("Table 1", 77.0)
    assert got["vpn_i3d_ntu120-xset"] == ("Table 1", 87.8)
    assert got["vpn_resnext101_ntu60-xview"] == ("Table 5", 98.0)
    assert got["vpn_i3d_smarthome-cv1"] == ("Table 6", 43.8)
    assert got["vpn_i3d_nucla-v3"] == ("Table 7", 93.5)
    assert got["vpn-spatial-gcn_i3d_smarthome-cs"] == ("Table 4", 58.4)
    assert ENTRIES["i3d_ntu60-xsub"].paper is None  # the paper has no I3D row for NTU-60


def test_a_preset_without_an_entry_and_an_entry_without_a_preset_are_errors(tmp_path):
    copy = tmp_path / "configs"
    shutil.copytree(CONFIGS, copy)
    (copy / "vpn_i3d_ntu60-xsub.yaml").rename(copy / "vpn_i3d_ntu60-xsub-renamed.yaml")
    with pytest.raises(ConfigError, match=r"entries without a preset: vpn_i3d_ntu60-xsub; "
                                          r"presets without an entry: vpn_i3d_ntu60-xsub-renamed"):
        read_metafile(copy)


def test_info_presets_prints_each_preset_with_its_paper_number(monkeypatch):
    monkeypatch.chdir(CONFIGS.parent)
    result = CliRunner().invoke(app, ["info", "--presets"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert len(lines) == len(PRESETS)
    row = next(line for line in lines if line.startswith("vpn_i3d_ntu60-xsub "))
    assert "93.5 % top-1" in row and "Table 5" in row
    row = next(line for line in lines if line.startswith("vpn_i3d_smarthome-cs "))
    assert "60.8 % mean per-class" in row


def test_nucla_sampling_follows_the_modality():
    """N-UCLA's short clips: the pose-only presets stretch (measured), the RGB presets keep the paper's loop."""
    from vpnet.engine.config_loader import load_config

    for name in PRESETS:
        if "nucla" in name.stem:
            cfg = load_config(name)
            assert cfg.data.sampling == ("stretch" if cfg.model.variant == "pose_only" else "loop"), name.stem
            assert cfg.data.fps == 30
        if "smarthome" in name.stem:
            assert load_config(name).data.fps == 20


def test_stgcnpp_presets_follow_a_published_design_and_say_its_figure():
    """The 8 pose_stgcnpp presets: ours (no VPN paper row), each with the published 4-stream figure of the design it
    follows where there is one (ST-GCN++ on NTU; CTR-GCN, the same block family, on N-UCLA)."""
    from vpnet.engine.config_loader import load_config

    names = sorted(n for n in ENTRIES if n.startswith("pose_stgcnpp_"))
    assert len(names) == 8
    for name in names:
        cfg = load_config(CONFIGS / f"{name}.yaml")
        assert cfg.model.pose_backbone == "stgcnpp" and cfg.model.variant == "pose_only", name
        assert ENTRIES[name].paper is None
    assert ENTRIES["pose_stgcnpp_ntu60-xsub"].reference.value == 92.1
    assert ENTRIES["pose_stgcnpp_ntu120-xset"].reference.value == 89.8
    assert ENTRIES["pose_stgcnpp_nucla-v3"].reference.value == 96.5
    assert "CTR-GCN" in ENTRIES["pose_stgcnpp_nucla-v3"].reference.table
    assert ENTRIES["pose_stgcnpp_smarthome-cs"].reference is None
    result = CliRunner().invoke(app, ["info", "--presets"])
    row = next(line for line in result.output.splitlines() if line.startswith("pose_stgcnpp_ntu60-xsub "))
    assert "92.1 % top-1" in row and "ST-GCN++" in row
