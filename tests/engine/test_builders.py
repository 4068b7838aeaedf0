"""The engine's data checks and datasets: the paths a config needs, pose-only data, the presets' NTU lists."""

from __future__ import annotations

from pathlib import Path

import pytest

from vpnet.engine.builders import build_split, check_dataset
from vpnet.engine.config_loader import ConfigError, load_config
from vpnet.engine.forward import eval_clips

REPO = Path(__file__).resolve().parents[2]


def test_pose_only_needs_no_video_and_decodes_none(tiny, tmp_path):
    cfg = load_config(None, tiny(model__variant="pose_only", data__video_dir=tmp_path / "absent"))
    info = check_dataset(cfg, ["train", "test"])
    assert info.name == "ntu60" and info.num_classes == 60
    ds = build_split(cfg, "test", mode="test", clips=(2, 96))
    sample = ds[0]
    assert "video" not in sample and sample["poses"].shape == (2, 3, 20, 25)
    with pytest.raises(ConfigError, match=r"data.video_dir: .*absent does not exist"):  # the other variants need it
        check_dataset(load_config(None, tiny(data__video_dir=tmp_path / "absent")))


def test_splits_and_class_count_are_checked(tiny):
    with pytest.raises(ConfigError, match=r"split 'val' is not a split of ntu60 \(train, test\)"):
        check_dataset(load_config(None, tiny()), ["train", "val"])
    with pytest.raises(ConfigError, match="model.num_classes=10 but ntu60 .* set model.num_classes=60"):
        check_dataset(load_config(None, tiny(model__num_classes=10)))
    with pytest.raises(ConfigError, match="unknown dataset 'ntu61'"):
        check_dataset(load_config(None, tiny(data__dataset="ntu61")))


def test_eval_clips_follow_the_mode():
    assert eval_clips(load_config(None, ["eval.num_clips=4", "eval.short_side=128"])) == (4, 128)
    assert eval_clips(load_config(None, ["eval.mode=single", "eval.num_clips=4"])) == (1, None)
    # unset: the model's training crop in the paper's proportion (224 -> 256), not 256 for a 64-pixel model
    # (64 x 256/224 = 73, rounded to the I3D's stride 32)
    assert eval_clips(load_config(None, ["model.crop_size=64"])) == (10, 64)
    assert eval_clips(load_config(None, ["model.crop_size=128"])) == (10, 160)
    assert eval_clips(load_config(None, [])) == (10, 256)


@pytest.mark.parametrize("preset, listed", [("vpn_i3d_ntu60-xsub.yaml", "NTU_RGBD_samples_with_missing_skeletons.txt"),
                                            ("i3d_ntu120-xset.yaml", "NTU_RGBD120_samples_with_missing_skeletons.txt")])
def test_ntu_presets_need_the_official_missing_skeleton_list(preset, listed, tmp_path, monkeypatch):
    monkeypatch.setenv("VPNET_DATA", str(tmp_path))
    for folder in ("nturgb+d_rgb", "nturgb+d_skeletons"):
        (tmp_path / "ntu" / folder).mkdir(parents=True)
    cfg = load_config(REPO / "configs" / preset)
    with pytest.raises(ConfigError) as e:
        check_dataset(cfg)
    assert f"data.missing_list: {tmp_path}/ntu/{listed} does not exist" in str(e.value)
    assert "data.video_dir:" not in str(e.value) and "data.pose_dir:" not in str(e.value)
    check_dataset(load_config(REPO / "configs" / preset, ["data.missing_list=null"]))  # the opt-out
