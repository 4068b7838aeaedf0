"""The paper's inference: max over clips of the softmax, chunked forward passes, bad items dropped."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from vpnet.data.types import DataError
from vpnet.engine.evaluate import predict
from vpnet.models import VPNOutput


class ScoresAsFeatures(nn.Module):
    """A model whose logits are its input features (N, K, 1, 1, 1) -> (N, K): the aggregation is then
    checkable by hand. It records the batch sizes it was called with."""

    def __init__(self):
        super().__init__()
        self.calls: list[tuple[int, bool]] = []

    def forward(self, video, poses, *, features=None):
        self.calls.append((features.shape[0], self.training))
        return VPNOutput(logits=features.flatten(1))


def _item(name: str, label: int, clips: list[list[float]] | None) -> dict | None:
    if clips is None:
        return None  # a bad item: the dataset reported it and returns None
    f = torch.tensor(clips, dtype=torch.float32)[..., None, None, None]  # (K, classes, 1, 1, 1)
    return {"features": f, "poses": torch.zeros(len(clips), 3, 4, 5), "label": label, "name": name, "meta": {}}


def test_max_over_clips_of_the_softmax_by_hand():
    # b: one clip sure of class 1, two fairly sure of class 0: the max picks 1, a mean would pick 0
    clips_b = [[0.0, 3.0, 0.0], [2.0, 0.0, 0.0], [2.0, 0.0, 0.0]]
    clips_a = [[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, 0.5, 0.0]]
    data = [_item("b", 1, clips_b), _item("bad", 1, None), _item("a", 2, clips_a)]
    model = ScoresAsFeatures()
    pred = predict(model, data, batch_size=3, clip_batch=3)
    assert pred.names == ["a", "b"] and pred.labels.tolist() == [2, 1] and pred.dropped == 1
    softmax = np.exp(np.array([clips_a, clips_b]))
    softmax /= softmax.sum(-1, keepdims=True)  # (video, clip, class)
    np.testing.assert_allclose(pred.scores, softmax.max(axis=1), rtol=1e-6)
    assert pred.scores[1].argmax() == 1 and softmax[1].mean(0).argmax() == 0
    assert model.calls == [(3, False), (3, False)]  # 6 clips in chunks of eval.clip_batch = 3, eval mode
    assert model.training  # and the model's mode is restored after


def test_every_item_failing_is_a_clear_error():
    with pytest.raises(DataError, match="no item of the dataset could be evaluated"):
        predict(ScoresAsFeatures(), [None, None], batch_size=2)


def test_a_run_resumes_and_evaluates_after_its_pretraining_file_is_gone(tiny, tmp_path):
    """The run's checkpoints hold the whole backbone: model.backbone_weights is neither read nor needed."""
    from vpnet.engine.config_loader import load_config
    from vpnet.engine.evaluate import evaluate
    from vpnet.engine.train import train
    from vpnet.errors import WeightsError
    from vpnet.models import inception_i3d
    from vpnet.models.weights import save_safetensors

    torch.manual_seed(3)
    pretrained = tmp_path / "i3d_pretrained.safetensors"
    save_safetensors(inception_i3d(num_classes=0).state_dict(), pretrained)
    cfg = load_config(None, tiny(model__backbone_weights=pretrained, train__epochs=1, train__val_split="null"))
    first = train(cfg)
    pretrained.unlink()
    again = train(cfg)  # resumes the finished run: the model is built from its last checkpoint
    assert again.state.global_step == first.state.global_step
    ev = evaluate(cfg, run_dir=first.run_dir)
    assert ev.metrics.num_samples == 12 and ev.results["checkpoint"] == str(first.run_dir / "final.safetensors")
    # a fresh run does need the file: a weights error naming it, not a traceback
    with pytest.raises(WeightsError, match="i3d_pretrained.safetensors.* nor an existing file"):
        train(load_config(None, tiny(name="fresh", model__backbone_weights=pretrained)))
