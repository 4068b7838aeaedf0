"""Config loading: presets, composition, overrides, and the errors a user sees."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from vpnet.config import MODEL_CHOICES, Config
from vpnet.engine.config_loader import ConfigError, config_to_yaml, load_config, save_config
from vpnet.engine.forward import eval_clips
from vpnet.presets import list_presets

REPO = Path(__file__).resolve().parents[2]
PRESETS = list_presets(REPO / "configs")
#: the pose-only baselines of ours (configs/pose_*), trained with a recipe of ours, not the paper's
OURS = [p for p in PRESETS if p.stem.startswith("pose_")]


@pytest.mark.parametrize("path", [p for p in PRESETS if p not in OURS], ids=lambda p: p.stem)
def test_every_preset_loads_with_the_paper_recipe(path):
    cfg = load_config(path)
    assert cfg.name == path.stem  # runs are named after the preset
    # the paper's hyper-parameters (section 4.1), from the one base file
    assert (cfg.optim.lr, cfg.optim.momentum, cfg.optim.lr_step, cfg.optim.lr_gamma) == (0.01, 0.9, 10, 0.1)
    assert (cfg.train.epochs, cfg.train.global_batch) == (30, 16)
    assert (cfg.loss.lambda1, cfg.loss.lambda2) == (0.8, 1e-5)
    assert (cfg.model.clip_len, cfg.model.crop_size) == (64, 224)
    assert cfg.eval.mode == "multi" and eval_clips(cfg) == (10, 256)  # 224 x 256/224
    expected_tp = {"ntu60": 20, "ntu120": 20, "smarthome": 30, "nucla": 5, "folders": 20}[cfg.data.dataset]
    assert cfg.model.t_p == cfg.data.t_p == expected_tp
    for key in ("video_dir", "pose_dir", "split_dir", "manifest", "prepared_dir", "feature_dir"):
        value = getattr(cfg.data, key)
        assert value is None or not Path(value).is_absolute(), (path, key, value)


@pytest.mark.parametrize("path", OURS, ids=lambda p: p.stem)
def test_pose_only_presets_load_with_our_recipe(path):
    cfg = load_config(path)
    assert cfg.name == path.stem and cfg.model.variant == "pose_only"
    assert cfg.model.pose_backbone == path.stem.split("_")[1]
    # the graph network's lr, epochs and batch: chosen on N-UCLA's validation split (_base_/models/pose_stgcnpp.yaml)
    lr, epochs, batch = (3e-3, 40, 16) if cfg.model.pose_backbone == "stgcnpp" else (1e-3, 60, 32)
    assert (cfg.optim.optimizer, cfg.optim.schedule, cfg.optim.lr, cfg.train.epochs) == ("adamw", "cosine", lr, epochs)
    assert cfg.data.batch_size == cfg.train.global_batch == batch
    assert (cfg.model.t_p, cfg.data.pose_norm, cfg.data.pose_span, cfg.train.val_split) == (20, "rotate", "auto", None)
    assert (cfg.data.pose_rotate, cfg.data.pose_scale, cfg.data.pose_jitter, cfg.data.pose_crop) == (0, 0, 0.01, 0)


def test_pose_only_presets_cover_every_dataset_and_protocol():
    seen = {(c.data.dataset, c.data.protocol, c.model.pose_backbone) for c in map(load_config, OURS)}
    assert len(OURS) == len(seen) == 25  # (GCN, LSTM, ST-GCN++-like) x 8 paper protocols + own data (folders)
    assert {(d, p) for d, p, _ in seen} == {(c.data.dataset, c.data.protocol) for c in map(load_config, PRESETS)}


def test_presets_cover_every_dataset_and_protocol_for_l1_and_l3():
    assert len(PRESETS) >= 60
    seen = {(c.data.dataset, c.data.protocol, c.model.variant) for c in map(load_config, PRESETS)}
    for ds, protos in {"ntu60": ("cs", "cv"), "ntu120": ("csub", "cset"), "smarthome": ("cs", "cv1", "cv2"),
                       "nucla": ("v3",)}.items():
        for proto in protos:
            assert (ds, proto, "l1") in seen and (ds, proto, "l3") in seen, (ds, proto)


def test_ablation_presets_set_what_their_row_says():
    cfg = load_config(REPO / "configs/ablations/vpn-lstm-separable_i3d_ntu120-xsub.yaml")
    assert (cfg.model.pose_backbone, cfg.model.coupler, cfg.model.variant) == ("lstm", "separable", "l3")
    cfg = load_config(REPO / "configs/ablations/vpn-spatial-gcn-noembed_i3d_smarthome-cv2.yaml")
    assert (cfg.model.attention, cfg.model.variant, cfg.model.num_classes) == ("spatial", "l2", 19)
    cfg = load_config(REPO / "configs/ablations/vpn-bikl_i3d_smarthome-cs.yaml")
    assert (cfg.model.embedding_loss, cfg.model.num_classes, cfg.model.t_p) == ("bi_kl", 31, 30)
    cfg = load_config(REPO / "configs/vpn_resnext101_ntu60-xview.yaml")
    assert (cfg.model.backbone, cfg.data.protocol) == ("resnext101", "cv")
    cfg = load_config(REPO / "configs/vpn_i3d_nucla-v3.yaml")
    assert (cfg.train.init_mode, cfg.model.skeleton, cfg.model.num_classes) == ("backbone", "ucla20", 10)


def test_environment_variable_moves_the_data_root(monkeypatch):
    monkeypatch.setenv("VPNET_DATA", "/datasets")
    cfg = load_config(REPO / "configs/vpn_i3d_ntu60-xsub.yaml")
    assert cfg.data.video_dir == "/datasets/ntu/nturgb+d_rgb"


def test_overrides_apply_left_to_right_with_types():
    cfg = load_config(REPO / "configs/vpn_i3d_ntu60-xsub.yaml",
                      ["model.t_p=30", "train.epochs=2", "train.epochs=3", "train.init_from=null", "optim.lr=1e-3"])
    assert (cfg.model.t_p, cfg.data.t_p, cfg.train.epochs, cfg.optim.lr) == (30, 30, 3, 1e-3)
    assert cfg.train.init_from is None


def test_defaults_without_a_file():
    cfg = load_config(None)
    assert cfg.model == Config().model and cfg.train == Config().train
    assert (cfg.data.clip_len, cfg.data.crop_size, cfg.data.t_p) == (64, 224, 20)  # interpolated from model.*


def test_saved_config_reads_back_equal(tmp_path):
    cfg = load_config(REPO / "configs/vpn_i3d_smarthome-cv1.yaml", ["train.epochs=7"])
    save_config(cfg, tmp_path / "config.yaml")
    assert load_config(tmp_path / "config.yaml") == cfg
    assert "${" not in (tmp_path / "config.yaml").read_text()  # interpolations resolved: reproducible


def test_unknown_key_names_it_suggests_and_lists_valid_keys(tmp_path):
    with pytest.raises(ConfigError) as e:
        load_config(None, ["model.tp=30"])
    msg = str(e.value)
    assert "'model.tp'" in msg and "command line" in msg and "did you mean 'model.t_p'" in msg
    assert "variant" in msg and "embedding_loss" in msg  # the valid keys of the section
    bad = tmp_path / "bad.yaml"
    bad.write_text("train:\n  epoch: 3\n")
    with pytest.raises(ConfigError, match=r"bad.yaml: unknown config key 'train.epoch' \(did you mean 'train.epochs'"):
        load_config(bad)
    with pytest.raises(ConfigError, match="unknown config key 'modle'"):
        load_config(None, ["modle.t_p=3"])


def test_wrong_type_names_key_type_and_value(tmp_path):
    with pytest.raises(ConfigError) as e:
        load_config(None, ["train.epochs=many"])
    assert "'train.epochs'" in str(e.value) and "expects int" in str(e.value) and "'many'" in str(e.value)
    bad = tmp_path / "bad.yaml"
    bad.write_text("model: 3\n")
    with pytest.raises(ConfigError, match="'model' is a section"):
        load_config(bad)
    with pytest.raises(ConfigError, match="'train.init_from' expects str or null"):
        load_config(None, ["train.init_from=[1,2]"])


def test_value_checks():
    with pytest.raises(ConfigError, match=r"train.amp='fp8' is not one of: none, bf16, fp16"):
        load_config(None, ["train.amp=fp8"])
    with pytest.raises(ConfigError, match=r"train.epochs=0 must be >= 1"):
        load_config(None, ["train.epochs=0"])
    with pytest.raises(ConfigError, match="not of the form"):
        load_config(None, ["train.epochs"])


def test_base_composition_order_cycle_and_missing(tmp_path):
    (tmp_path / "a.yaml").write_text("train:\n  epochs: 5\n  seed: 1\n")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub/b.yaml").write_text("_base_: ../a.yaml\ntrain:\n  epochs: 6\n")
    (tmp_path / "c.yaml").write_text("_base_: [a.yaml, sub/b.yaml]\ntrain:\n  seed: 2\n")
    cfg = load_config(tmp_path / "c.yaml")
    assert (cfg.train.epochs, cfg.train.seed, cfg.name) == (6, 2, "c")
    (tmp_path / "x.yaml").write_text("_base_: y.yaml\n")
    (tmp_path / "y.yaml").write_text("_base_: x.yaml\n")
    with pytest.raises(ConfigError, match="_base_ cycle"):
        load_config(tmp_path / "x.yaml")
    (tmp_path / "z.yaml").write_text("_base_: nowhere.yaml\n")
    with pytest.raises(ConfigError, match=r"config file not found: .*nowhere.yaml \(named in .*z.yaml"):
        load_config(tmp_path / "z.yaml")
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(tmp_path / "absent.yaml")


def _dotted(tree: dict, prefix: str = "") -> set[str]:
    out = set()
    for key, value in tree.items():
        out |= _dotted(value, f"{prefix}{key}.") if isinstance(value, dict) else {prefix + key}
    return out


def test_yaml_holds_exactly_the_schema_keys():
    schema = _dotted(dataclasses.asdict(Config()))
    assert {"model.t_p", "train.global_batch", "eval.short_side", "data.missing_list"} <= schema
    assert _dotted(OmegaConf.to_container(OmegaConf.create(config_to_yaml(Config())))) == schema


def test_model_choices_are_checked_when_loading():
    with pytest.raises(ConfigError) as e:
        load_config(None, ["model.variant=l4", "model.embedding_loss=kl"])
    msg = str(e.value)
    assert "model.variant='l4' is not one of: l1, l2, l3, pose_only" in msg
    assert f"model.embedding_loss='kl' is not one of: {', '.join(MODEL_CHOICES['embedding_loss'])}" in msg


def test_settings_that_break_training_or_prediction_are_refused():
    """attention_init_std=0 with the z1 embedding (P_e = 0), a non-positive KL temperature, an absurd
    training frame rate: config errors naming the key."""
    with pytest.raises(ConfigError, match=r"model.attention_init_std=0 with model.embed_pose_input=z1: .*P_e = 0"):
        load_config(None, ["model.attention_init_std=0"])
    load_config(None, ["model.attention_init_std=0", "model.embed_pose_input=a_s"])  # sigmoid(0) = 0.5: fine
    load_config(None, ["model.attention_init_std=0", "model.variant=l2"])  # no embedding
    with pytest.raises(ConfigError, match=r"model.kl_temperature=0.0 must be > 0"):
        load_config(None, ["model.kl_temperature=0"])
    assert load_config(None, ["model.kl_temperature=null"]).model.kl_temperature is None
    for fps in (0, 5000):
        with pytest.raises(ConfigError, match=rf"data.fps={fps}.* must be the training videos' frame rate"):
            load_config(None, [f"data.fps={fps}"])


def test_attention_probes_are_for_l2_only():
    from vpnet.engine.config_loader import load_config

    for source in ("fixed", "given"):
        cfg = load_config(None, ["model.variant=l2", f"model.attention_source={source}"])
        assert cfg.model.attention_source == source
        with pytest.raises(ConfigError, match="attention_source=.*l2 only"):
            load_config(None, ["model.variant=l3", f"model.attention_source={source}"])
    with pytest.raises(ConfigError, match="model.spatial_attention"):
        load_config(None, ["model.spatial_attention=relu"])
    with pytest.raises(ConfigError, match="model.embed_temperature"):
        load_config(None, ["model.embed_temperature=0"])
