"""What a newcomer does to extend vpnet, end to end: a dataset of their own (one reader class) and a
backbone of their own (one module and a spec), both registered here, named in a config like the
built-in ones, and trained for real through the engine. Nothing in ``src/`` is edited."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch
from torch import nn

from vpnet.data import DatasetReader, dataset_info, get_dataset, register_dataset
from vpnet.data.custom import read_poses as read_npz_poses
from vpnet.data.synthetic import make_custom
from vpnet.data.types import SampleRecord
from vpnet.engine.config_loader import load_config
from vpnet.errors import ConfigError
from vpnet.models.registry import BackboneSpec, backbone_names, get_backbone, register_backbone


class ClassFolders(DatasetReader):
    """``<video_dir>/<split>/<class>/<name>.mp4`` with ``<name>.npz`` (NTU-25 poses) beside each video."""

    name = "classfolders"
    protocols = ("default",)
    layout = "ntu25"
    t_p = 8
    path_keys = ("video_dir",)

    def class_names(self, cfg):
        return sorted(p.name for p in (Path(cfg.video_dir) / "train").iterdir() if p.is_dir())

    def records(self, cfg, split):
        classes = self.class_names(cfg)
        return [SampleRecord(name=v.stem, label=classes.index(v.parent.name), video=str(v),
                             poses=str(v.with_suffix(".npz")))
                for v in sorted((Path(cfg.video_dir) / split).glob("*/*.mp4"))]

    def read_poses(self, path):
        return read_npz_poses(path)


class Tiny3d(nn.Module):
    """A two-layer 3D ConvNet with the backbone interface: f is (N, 16, T/8, H/32, W/32)."""

    out_channels, temporal_stride, spatial_stride = 16, 8, 32

    def __init__(self, *, num_classes: int = 0):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv3d(3, 8, 3, stride=(2, 4, 4), padding=1), nn.ReLU(),
                                  nn.Conv3d(8, 16, 3, stride=(4, 8, 8), padding=1), nn.ReLU())
        self.fc = nn.Linear(16, num_classes) if num_classes else None

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.stem(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.stem(x).mean((2, 3, 4)))


def tiny3d(*, weights=None, num_classes: int = 0, bn_momentum: float = 0.1) -> Tiny3d:
    if weights is not None:
        raise ValueError("tiny3d has no pretrained weights")
    return Tiny3d(num_classes=num_classes)


@pytest.fixture(scope="module")
def registered():
    reader = register_dataset(ClassFolders())
    spec = register_backbone(BackboneSpec("tiny3d", tiny3d, head_bias="fc.bias", description="test backbone"))
    return reader, spec


@pytest.fixture(scope="module")
def folders(tmp_path_factory) -> Path:
    """make_custom's videos and poses rearranged into the class-folder layout."""
    src = make_custom(tmp_path_factory.mktemp("custom"), num_classes=2, per_class=4, frames=24, size=(128, 96))
    root = tmp_path_factory.mktemp("classfolders")
    for i, (name, label) in enumerate(zip(src.names, src.labels)):
        dest = root / ("test" if i % 4 == 3 else "train") / src.class_names[label]
        dest.mkdir(parents=True, exist_ok=True)
        shutil.copy(src.video_dir / f"{name}.mp4", dest / f"{name}.mp4")
        shutil.copy(src.pose_dir / f"{name}.npz", dest / f"{name}.npz")
    return root


def test_registered_names_are_known_everywhere(registered):
    reader, spec = registered
    assert get_dataset("classfolders") is reader and get_backbone("tiny3d") is spec
    assert "tiny3d" in backbone_names()
    with pytest.raises(ConfigError, match="registered already"):
        register_dataset(ClassFolders())  # a second, different instance under the same name


def test_a_new_dataset_and_backbone_train_from_a_config(registered, folders, tmp_path):
    from vpnet.engine.train import train

    cfg = load_config(None, [
        "data.dataset=classfolders", "data.protocol=default", f"data.video_dir={folders}",
        "data.batch_size=2", "data.num_workers=0", "model.backbone=tiny3d", "model.variant=l3",
        "model.num_classes=2", "model.clip_len=16", "model.crop_size=64", "model.t_p=8",
        "train.epochs=1", "train.global_batch=2", "train.tensorboard=false", f"output_dir={tmp_path}", "name=new"])
    info = dataset_info(cfg.data)
    assert info.class_names == ["wave_left", "wave_right"]  # sorted class folders
    assert info.layout == "ntu25" and info.splits == ("train", "test")
    result = train(cfg)
    # 6 training videos, batch 2: three optimiser steps, each with a finite loss
    assert result.state.global_step == 3
    final = result.run_dir / "final.safetensors"
    assert final.is_file()
    from safetensors.torch import load_file

    weights = load_file(final)
    assert weights["backbone.stem.0.weight"].shape == (8, 3, 3, 3, 3)  # the new backbone was trained and saved
    assert any(k.startswith("vpn.") for k in weights)  # with VPN on top of it


def test_a_wrong_backbone_name_lists_the_registered_ones(registered):
    with pytest.raises(ConfigError, match="model.backbone='tiny' is not one of: i3d, resnext101, tiny3d"):
        load_config(None, ["model.backbone=tiny"])
