"""Feature cache: extraction, the dataset over it, training and evaluating the VPN head on it."""

from __future__ import annotations

import json
import logging

import numpy as np
import pytest
import torch

from vpnet._io import RunLock
from vpnet.data import build_dataset
from vpnet.data.types import DataError
from vpnet.engine.checkpoint import load_state_dict, save_weights
from vpnet.engine.config_loader import ConfigError, load_config
from vpnet.engine.evaluate import evaluate
from vpnet.engine.feature_store import FeatureDataset, from_bits, to_bits
from vpnet.engine.features import _SplitWriter, extract_features
from vpnet.engine.train import train
from vpnet.errors import OutputError
from vpnet.models import build_recognizer


def test_half_precision_bits_roundtrip():
    x = torch.tensor([1.0, -2.5, 3.14159, 65504.0, 1e-3])
    assert torch.equal(from_bits(to_bits(x, "float16"), "float16"), x.half())
    assert torch.equal(from_bits(to_bits(x, "bfloat16"), "bfloat16"), x.bfloat16())


def test_extract_then_train_and_evaluate_on_the_cache(tiny, tmp_path, vpnet_log):
    cfg = load_config(None, tiny(model__variant="l3"))
    torch.manual_seed(5)
    backbone_src = build_recognizer(cfg.model).eval()
    save_weights(tmp_path / "l1.safetensors", backbone_src)
    out = tmp_path / "features"
    meta = extract_features(cfg, out, views=2, dtype="bfloat16", checkpoint=tmp_path / "l1.safetensors")

    # layout: training split with 2 random views per video, test split with the 2 test clips at 96x96
    assert meta["train"]["mode"] == "train" and meta["train"]["views"] == 2
    assert meta["train"]["feature_shape"] == [1024, 1, 2, 2] and meta["train"]["pose_shape"] == [3, 20, 25]
    assert meta["test"]["mode"] == "test" and meta["test"]["views"] == 2
    assert meta["test"]["feature_shape"] == [1024, 1, 3, 3]  # whole crop at eval.short_side: fully convolutional
    assert meta["train"]["written"] == 12 and meta["train"]["failed"] == 0 and meta["train"]["complete"]
    assert json.loads((out / "train" / "meta.json").read_text())["dtype"] == "bfloat16"

    # the cached maps are the backbone's maps of the same training clip (epoch 1 = view 1), poses too
    cached = FeatureDataset(out, "train")
    video_ds = build_dataset(cfg.data, "train", mode="train")
    video_ds.set_epoch(1)
    cached.set_epoch(1)
    i = 3
    sample, item = video_ds[i], cached[i]
    assert item["name"] == sample["name"] and item["label"] == sample["label"]
    with torch.no_grad():
        f = backbone_src.forward_features(sample["video"][None])[0]
    assert item["features"].dtype == torch.bfloat16  # stored precision; the engine casts on the device
    torch.testing.assert_close(item["features"].float(), f, rtol=1e-2, atol=1e-2)  # bfloat16: 8 bits of mantissa
    torch.testing.assert_close(item["poses"], sample["poses"])
    cached.set_epoch(0)
    assert not torch.equal(cached[i]["features"], item["features"])  # another epoch, another view
    test_item = FeatureDataset(out, "test", mode="test")[0]
    assert test_item["features"].shape == (2, 1024, 1, 3, 3) and test_item["poses"].shape == (2, 3, 20, 25)
    with pytest.raises(DataError, match="holds test clips"):
        FeatureDataset(out, "test", mode="train")
    with pytest.raises(DataError, match="holds random training clips; evaluation needs"):
        FeatureDataset(out, "train", mode="test")

    # extraction resumes: items not marked done (a run stopped midway) are redone, the rest kept
    before = np.load(out / "test" / "features.npy").copy()
    done = np.load(out / "test" / "done.npy")
    done[[2, 7]] = False
    np.save(out / "test" / "done.npy", done)
    np.load(out / "test" / "features.npy", mmap_mode="r+")[[2, 7]] = 0
    again = extract_features(cfg, out, splits=["test"], dtype="bfloat16", checkpoint=tmp_path / "l1.safetensors")
    assert again["test"]["written"] == 12 and np.load(out / "test" / "done.npy").all()
    assert np.array_equal(np.load(out / "test" / "features.npy"), before)
    with pytest.raises(DataError, match="other settings"):
        extract_features(cfg, out, splits=["test"], dtype="float16", checkpoint=tmp_path / "l1.safetensors")
    with RunLock(out, "extract.lock"), pytest.raises(OutputError, match=f"feature cache folder {out} is in use"):
        extract_features(cfg, out, splits=["test"], dtype="bfloat16", checkpoint=tmp_path / "l1.safetensors")

    # train the VPN on the cache: same forward code after the backbone; the backbone stays frozen and
    # is the cache's (taken from its checkpoint), so the run's weights also work on video
    cfg2 = load_config(None, tiny(name="cached", data__feature_dir=out, train__epochs=2, data__batch_size=4,
                                  train__val_split="test"))
    with vpnet_log.at_level(logging.INFO, logger="vpnet"):
        result = train(cfg2)
    # validation on test (asked for: NTU has no validation split) reads the cached test clips, and says so
    assert "test (2 clips, short side 96, max over clips): top-1" in vpnet_log.text
    final, _ = load_state_dict(result.final_weights)
    for k, v in backbone_src.state_dict().items():
        if k.startswith("backbone."):
            assert torch.equal(final[k], v), k
    assert not torch.equal(final["head.fc.weight"], backbone_src.state_dict()["head.fc.weight"])
    # the paper's inference on cached test clips (max over the 2 clips of the softmax)
    ev = evaluate(cfg2, run_dir=result.run_dir)
    assert ev.metrics.num_samples == 12 and ev.results["num_clips"] == 2 and ev.results["short_side"] == 96
    # other eval settings than the cache holds: an error naming both, not the cached clips under another name
    for other, asked in ((["eval.mode=single"], "single centre clip"),
                         (["eval.num_clips=3"], "3 clips, short side 96"),
                         (["eval.short_side=128"], "2 clips, short side 128")):
        with pytest.raises(ConfigError, match=f"holds 2 clips, short side 96, max over clips per video, but the eval "
                                              f"settings ask for {asked}"):
            evaluate(load_config(None, [*tiny(name="cached", data__feature_dir=out), *other]), run_dir=result.run_dir)
    # and on video, the same weights give the same scores up to the cache's bfloat16 rounding
    ev_video = evaluate(load_config(None, tiny(name="cached")), checkpoint=result.final_weights,
                        out_dir=tmp_path / "ev_video")
    cached_scores = evaluate(cfg2, checkpoint=result.final_weights, out_dir=tmp_path / "ev_cached").predictions.scores
    assert np.abs(ev_video.predictions.scores - cached_scores).max() < 0.05


def test_an_item_that_failed_in_one_view_is_not_cached(tmp_path):
    """A training item whose view 0 failed must not be marked done with that slot left as zeros."""
    w = _SplitWriter(tmp_path / "train", names=["a", "b"], labels=[3, 4], views=2, mode="train", dtype="float16",
                     extra={})
    f, p = torch.ones(1, 4, 1, 1, 1), torch.ones(1, 3, 2, 5)
    frames, box = np.arange(8)[None], np.array([[1.0, 2.0, 33.0, 34.0]])
    w.put(0, 0, f, p, frames, box)
    w.fail(1, "could not be decoded")
    w.put(0, 1, f * 2, p, frames + 5, box + 1)
    w.put(1, 1, f, p, frames, box)  # view 1 of the item whose view 0 failed
    meta = w.finish()
    assert meta["written"] == 1 and meta["failed"] == 1
    assert np.load(tmp_path / "train" / "done.npy").tolist() == [True, False]
    assert json.loads((tmp_path / "train" / "failed.json").read_text()) == {"1": "could not be decoded"}
    assert np.load(tmp_path / "train" / "labels.npy").tolist() == [3, 4]
    # where each cached clip comes from: its frames and crop box, per view
    assert np.load(tmp_path / "train" / "windows.npy")[0].tolist() == [list(range(8)), list(range(5, 13))]
    assert np.load(tmp_path / "train" / "boxes.npy")[0].tolist() == [[1, 2, 33, 34], [2, 3, 34, 35]]
    ds = FeatureDataset(tmp_path, "train")
    assert len(ds) == 1 and ds[0]["name"] == "a" and ds[0]["label"] == 3
    ds.set_epoch(1)
    assert torch.equal(ds[0]["features"].float(), f[0] * 2)
    # the next extraction retries the failed item only; a success clears its failure
    again = _SplitWriter(tmp_path / "train", names=["a", "b"], labels=[3, 4], views=2, mode="train", dtype="float16",
                         extra={})
    assert again.todo().tolist() == [1]
    again.put(1, 0, f * 3, p, frames, box)
    again.put(1, 1, f * 4, p, frames, box)
    assert again.finish()["written"] == 2 and again.meta["failed"] == 0
    # a given A_S beside the maps (the oracle probe's ground truth) comes with each clip as ``a_s``
    a_s = np.arange(2 * 2 * 1 * 1, dtype=np.float32).reshape(2, 2, 1, 1)
    np.save(tmp_path / "train" / "a_s.npy", a_s)
    ds = FeatureDataset(tmp_path, "train")
    ds.set_epoch(1)
    assert [x["a_s"].tolist() for x in (ds[0], ds[1])] == [[[1.0]], [[3.0]]]
    np.save(tmp_path / "train" / "a_s.npy", a_s[:1])
    with pytest.raises(DataError, match="a_s.npy.*items, clips"):
        FeatureDataset(tmp_path, "train")[0]
    with pytest.raises(DataError, match="other settings or data"):  # other records in the same folder
        _SplitWriter(tmp_path / "train", names=["a", "c"], labels=[3, 4], views=2, mode="train", dtype="float16",
                     extra={})


def test_bad_settings(tiny, tmp_path):
    cfg = load_config(None, tiny())
    with pytest.raises(ConfigError, match="feature dtype"):
        extract_features(cfg, tmp_path, dtype="int8")
    with pytest.raises(ConfigError, match="not a split"):
        extract_features(cfg, tmp_path, splits=["val"])
    with pytest.raises(DataError, match="no feature cache for split 'train'"):
        FeatureDataset(tmp_path, "train")
    with pytest.raises(ConfigError, match="pose_only has no visual backbone"):
        extract_features(load_config(None, tiny(model__variant="pose_only")), tmp_path)
    if not torch.cuda.is_available():  # the device comes from train.device, as for training: no silent CPU run
        with pytest.raises(ConfigError, match="train.device=cuda but CUDA is not available"):
            extract_features(load_config(None, tiny(train__device="cuda")), tmp_path / "cuda")


def test_a_cache_of_an_older_vpnet_is_not_resumed(tmp_path):
    """A split written before the clips' frames and boxes were stored cannot be completed: refused, not
    written with holes."""
    w = _SplitWriter(tmp_path / "train", names=["a"], labels=[0], views=1, mode="train", dtype="float16", extra={})
    w.put(0, 0, torch.ones(1, 4, 1, 1, 1), torch.ones(1, 3, 2, 5), np.arange(4)[None], np.zeros((1, 4)))
    w.flush()
    (tmp_path / "train" / "windows.npy").unlink()
    with pytest.raises(DataError, match="older vpnet"):
        _SplitWriter(tmp_path / "train", names=["a"], labels=[0], views=1, mode="train", dtype="float16", extra={})
