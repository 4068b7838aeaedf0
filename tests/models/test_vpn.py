"""The recognizer: every variant and switch (shapes at the paper's size and a small CPU size, backward),
the feature-cache path, fully convolutional inference, gradients of L_e and L_a, input checks."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from vpnet.config import ModelConfig
from vpnet.models import VPNRecognizer, build_recognizer, vpn_loss
from vpnet.models.losses import attention_regularizer
from vpnet.models.weights import save_safetensors

# name -> ModelConfig overrides. Table 1 rows, baselines, Table 2-4 switches, other skeletons, ResNeXt.
CONFIGS = {
    "l1": {"variant": "l1"},
    "l2": {"variant": "l2"},
    "l3": {"variant": "l3"},
    "pose_only": {"variant": "pose_only"},
    "l3-lstm": {"pose_backbone": "lstm"},
    "l3-separable": {"coupler": "separable"},
    "l2-lstm-separable": {"variant": "l2", "pose_backbone": "lstm", "coupler": "separable"},
    "l3-spatial-only": {"attention": "spatial"},
    "l3-kl_fp": {"embedding_loss": "kl_fp"},
    "l3-kl_pf": {"embedding_loss": "kl_pf"},
    "l3-bi_kl": {"embedding_loss": "bi_kl"},
    "l3-l1": {"embedding_loss": "l1"},
    "l3-embed-a_s": {"embed_pose_input": "a_s"},
    "l3-sparse-graph": {"adjacency": "sparse"},
    "l3-smarthome": {"skeleton": "lcrnet13", "t_p": 30, "num_classes": 31},
    "l3-nucla": {"skeleton": "ucla20", "t_p": 5, "num_classes": 10},
    "l3-resnext101": {"backbone": "resnext101"},
    "l1-resnext101": {"variant": "l1", "backbone": "resnext101"},
}
JOINTS = {"ntu25": 25, "lcrnet13": 13, "ucla20": 20}
#: parameters that get no gradient by design: the one-way KL losses detach one side of the embedding,
#: and its projection is used by nothing else.
NO_GRADIENT = {"l3-kl_fp": {"vpn.embedding.t_v.weight"}, "l3-kl_pf": {"vpn.embedding.t_p.weight"}}


def config(name: str, **extra) -> ModelConfig:
    return dataclasses.replace(ModelConfig(), **{**CONFIGS[name], **extra})


def inputs(cfg: ModelConfig, n: int = 2, *, h: int | None = None, w: int | None = None):
    video = torch.rand(n, 3, cfg.clip_len, h or cfg.crop_size, w or cfg.crop_size) * 2 - 1
    poses = torch.randn(n, 3, cfg.t_p, JOINTS[cfg.skeleton]) * 0.3
    return video, poses


def check_output(model: VPNRecognizer, cfg: ModelConfig, out, n: int, grid: tuple[int, int, int]) -> None:
    t_c, m, nn_ = grid
    assert out.logits.shape == (n, cfg.num_classes)
    has_attention = cfg.variant in ("l2", "l3")
    assert (out.a_s is not None) == has_attention and (out.z1 is not None) == has_attention
    assert (out.a_t is not None) == (has_attention and cfg.attention == "spatiotemporal")
    assert (out.l_e is not None) == (cfg.variant == "l3")
    if has_attention:
        assert out.a_s.shape == (n, m, nn_) and out.z1.shape == (n, m * nn_)
    if out.a_t is not None:
        assert out.a_t.shape == (n, t_c)
        if not out.a_t.is_meta:
            torch.testing.assert_close(out.a_t.sum(dim=1), torch.ones(n))
    if out.l_e is not None:
        assert out.l_e.shape == (n,)
    assert (model.pose_backbone is None) == (cfg.variant == "l1")
    assert (model.vpn is None) == (cfg.variant in ("l1", "pose_only"))
    assert (model.backbone is None) == (cfg.variant == "pose_only")


@pytest.mark.parametrize("name", CONFIGS)
def test_every_variant_at_paper_size(name):
    """64 x 224 x 224 clips on the meta device (shapes only, no compute)."""
    cfg = config(name)
    with torch.device("meta"):
        model = build_recognizer(cfg)
        out = model(*inputs(cfg))
    t_c = 4 if cfg.backbone == "resnext101" else 8
    check_output(model, cfg, out, 2, (t_c, 7, 7))


@pytest.mark.parametrize("name", CONFIGS)
def test_every_variant_trains_at_a_small_size(name):
    """16 x 64 x 64 clips on the CPU: forward, loss, backward; every parameter gets a finite gradient
    (but those of :data:`NO_GRADIENT`, which get none)."""
    torch.manual_seed(0)
    cfg = config(name, clip_len=16, crop_size=64, num_classes=CONFIGS[name].get("num_classes", 7))
    model = build_recognizer(cfg).train()
    video, poses = inputs(cfg)
    out = model(video, poses)
    check_output(model, cfg, out, 2, (1 if cfg.backbone == "resnext101" else 2, 2, 2))
    terms = vpn_loss(out, torch.tensor([0, 3]))
    assert torch.isfinite(terms.total) and terms.total > 0
    terms.total.backward()
    no_gradient = NO_GRADIENT.get(name, set())
    assert no_gradient <= dict(model.named_parameters()).keys()
    for pname, p in model.named_parameters():
        if pname in no_gradient:
            assert p.grad is None, f"{pname} is detached from the embedding loss but got a gradient"
            continue
        assert p.grad is not None, f"{pname} got no gradient"
        assert torch.isfinite(p.grad).all(), pname


def test_vpn_sizes_follow_the_paper():
    with torch.device("meta"):
        model = build_recognizer(ModelConfig())
    assert (model.t_c, model.m, model.n, model.t_p, model.num_joints) == (8, 7, 7, 20, 25)
    vpn = model.vpn
    assert vpn.embedding.t_v.weight.shape == (256, 50_176)  # D_e x D_v, D_v = 1024 * 7 * 7
    assert vpn.embedding.t_p.weight.shape == (256, 49)
    assert [lin.out_features for lin in vpn.coupler.spatial if isinstance(lin, torch.nn.Linear)] == [256, 49]
    assert [lin.out_features for lin in vpn.coupler.temporal if isinstance(lin, torch.nn.Linear)] == [128, 8]
    assert model.head.dropout.p == 0.3 and model.head.fc.in_features == 1024


@pytest.fixture()
def small_l3() -> tuple[VPNRecognizer, ModelConfig]:
    torch.manual_seed(0)
    cfg = ModelConfig(clip_len=16, crop_size=64, num_classes=5)
    return build_recognizer(cfg), cfg


def test_feature_cache_path_is_the_same_computation(small_l3):
    model, cfg = small_l3
    model.eval()
    video, poses = inputs(cfg)
    with torch.no_grad():
        direct = model(video, poses)
        f = model.forward_features(video)
        cached = model(None, poses, features=f)
    assert f.shape == (2, 1024, 2, 2, 2)
    torch.testing.assert_close(cached.logits, direct.logits)
    torch.testing.assert_close(cached.l_e, direct.l_e)
    torch.testing.assert_close(cached.a_s, direct.a_s)


def test_fully_convolutional_inference_on_a_larger_crop(small_l3):
    model, cfg = small_l3
    model.eval()
    video, poses = inputs(cfg, h=96, w=128)
    with torch.no_grad():
        out = model(video, poses)
    assert out.logits.shape == (2, 5)
    assert out.a_s.shape == (2, 3, 4)  # A_S resized to the 3 x 4 map
    assert out.z1.shape == (2, 4) and out.a_t.shape == (2, 2)
    assert out.l_e is None  # T_v has a fixed input size
    assert vpn_loss(out, torch.tensor([0, 1])).embed.item() == 0


def test_embedding_loss_alone_reaches_the_backbone_and_the_spatial_attention(small_l3):
    model, cfg = small_l3
    model.train()
    out = model(*inputs(cfg))
    out.l_e.mean().backward()
    for name in ("Conv3d_1a_7x7.conv3d.weight", "Mixed_4c.b1b.conv3d.weight", "Mixed_5c.b0.conv3d.weight"):
        assert model.backbone.get_parameter(name).grad.abs().sum() > 0, name
    spatial = model.vpn.coupler.spatial
    assert spatial[0].weight.grad.abs().sum() > 0 and spatial[2].weight.grad.abs().sum() > 0  # z1 branch
    assert model.pose_backbone.weight.grad.abs().sum() > 0  # and on to the GCN's W_t
    assert all(p.grad is None for p in model.vpn.coupler.temporal.parameters())  # L_e does not involve A_T
    assert all(p.grad is None for p in model.head.parameters())


@pytest.mark.parametrize("loss, reaches_video, reaches_poses", [("kl_fp", False, True), ("kl_pf", True, False)])
def test_one_way_kl_embedding_loss_feeds_back_to_one_side(loss, reaches_video, reaches_poses):
    """L_e alone: kl_fp moves the pose side (T_p, z1 branch, GCN) only, kl_pf the RGB side (T_v, backbone) only."""
    torch.manual_seed(0)
    cfg = ModelConfig(clip_len=16, crop_size=64, num_classes=5, embedding_loss=loss)
    model = build_recognizer(cfg).train()
    model(*inputs(cfg)).l_e.mean().backward()
    video_side = [model.vpn.embedding.t_v.weight, model.backbone.get_parameter("Mixed_5c.b0.conv3d.weight")]
    pose_side = [model.vpn.embedding.t_p.weight, model.vpn.coupler.spatial[2].weight, model.pose_backbone.weight]
    for params, reached in ((video_side, reaches_video), (pose_side, reaches_poses)):
        for p in params:
            assert (p.grad is not None and p.grad.abs().sum() > 0) if reached else p.grad is None


def test_embedding_on_a_s_also_reaches_the_spatial_attention():
    torch.manual_seed(0)
    cfg = ModelConfig(clip_len=16, crop_size=64, num_classes=5, embed_pose_input="a_s")
    model = build_recognizer(cfg)
    model(*inputs(cfg)).l_e.mean().backward()
    assert model.vpn.coupler.spatial[2].weight.grad.abs().sum() > 0


def test_attention_regularizer_temporal_term_has_a_gradient(small_l3):
    model, cfg = small_l3
    with torch.no_grad():  # leave the near-uniform start: with exactly uniform A_T the gradient is zero
        model.vpn.coupler.temporal[2].weight.normal_(std=1.0)
    out = model(*inputs(cfg))
    attention_regularizer(torch.zeros_like(out.a_s), out.a_t).mean().backward()
    grad = model.vpn.coupler.temporal[2].weight.grad
    assert grad is not None and grad.abs().sum() > 1e-4


def test_inputs_take_the_models_dtype(small_l3):
    """Half-precision cached features and float64 clips and poses go into a float32 model (the engine
    passes them as they come)."""
    model, cfg = small_l3
    model.eval()
    video, poses = inputs(cfg)
    with torch.no_grad():
        f16 = model.forward_features(video).half()
        ref = model(None, poses, features=f16.float())
        half = model(None, poses, features=f16)
        direct = model(video, poses)
        wide = model(video.double(), poses.double())
        wide_features = model.forward_features(video.double())
    assert half.logits.dtype == wide.logits.dtype == torch.float32
    for a, b in ((half, ref), (wide, direct)):
        for name in ("logits", "a_s", "a_t", "l_e"):
            torch.testing.assert_close(getattr(a, name), getattr(b, name), rtol=0, atol=0)
    assert wide_features.dtype == torch.float32


def test_bf16_autocast_and_channels_last(small_l3):
    model, cfg = small_l3
    model.eval()
    video, poses = inputs(cfg)
    with torch.no_grad():
        ref = model(video, poses)
        model.to(torch.float32, memory_format=torch.channels_last_3d)  # the usual idiom works (backbone only)
        cl = model(video.contiguous(memory_format=torch.channels_last_3d), poses)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            bf = model(video.contiguous(memory_format=torch.channels_last_3d), poses)
    torch.testing.assert_close(cl.logits, ref.logits, rtol=1e-4, atol=1e-4)
    assert model.backbone.Mixed_3b.b1b.conv3d.weight.is_contiguous(memory_format=torch.channels_last_3d)
    assert bf.l_e.dtype == torch.float32 and torch.isfinite(bf.logits).all()
    torch.testing.assert_close(bf.logits.float(), ref.logits, rtol=0.1, atol=0.1)


def test_backbone_weights_and_bn_momentum_from_the_config(tmp_path):
    from vpnet.models.i3d import InceptionI3d

    torch.manual_seed(1)
    ref = InceptionI3d(num_classes=400)
    path = save_safetensors(ref.state_dict(), tmp_path / "i3d.safetensors")
    model = build_recognizer(ModelConfig(clip_len=16, crop_size=64, backbone_weights=str(path), bn_momentum=0.01))
    assert torch.equal(model.backbone.Mixed_5c.b2b.conv3d.weight, ref.Mixed_5c.b2b.conv3d.weight)
    assert model.backbone.logits is None  # the Kinetics head is not part of the recognizer
    bns = [m for m in model.backbone.modules() if isinstance(m, torch.nn.BatchNorm3d)]
    assert bns and all(m.momentum == 0.01 for m in bns)
    default = build_recognizer(ModelConfig(variant="l1", clip_len=16, crop_size=64))
    assert all(m.momentum == 0.1 for m in default.backbone.modules() if isinstance(m, torch.nn.BatchNorm3d))


def test_attention_init_std_from_the_config():
    from vpnet.engine.config_loader import load_config
    from vpnet.errors import ConfigError

    torch.manual_seed(0)
    model = build_recognizer(ModelConfig(variant="l2", clip_len=16, crop_size=64, attention_init_std=0.3))
    for mlp in (model.vpn.coupler.spatial, model.vpn.coupler.temporal):
        assert mlp[2].weight.std().item() == pytest.approx(0.3, rel=0.15)
    assert load_config(None, ["model.attention_init_std=0.3"]).model.attention_init_std == 0.3
    with pytest.raises(ConfigError, match="model.attention_init_std"):
        load_config(None, ["model.attention_init_std=-1"])


# ---------------------------------------------------------------------------------------------- bad input

@pytest.mark.parametrize(("make", "message"), [
    (lambda v, p: (v[0], p), r"video must be \(N, 3, T, H, W\) RGB in \[-1, 1\], got \(3, 16, 64, 64\)"),
    (lambda v, p: (v[:, :1], p), r"video must be \(N, 3, T, H, W\).*got \(2, 1, 16, 64, 64\)"),
    (lambda v, p: ((v * 100).to(torch.uint8), p), "video must be a float tensor"),
    (lambda v, p: (v[:, :, :8], p), r"video has T=8 frames; this model was built for T=16 \(t_c=2"),
    (lambda v, p: (v[:, :, :, :60], p),
     r"video is 60x64; H and W must be multiples of the backbone's spatial stride 32"),
    (lambda v, p: (v, p[:, :, :10]), r"poses have t_p=10 time steps; this model expects t_p=20"),
    (lambda v, p: (v, p[..., :17]), r"poses have J=17 joints; this model's skeleton has J=25"),
    (lambda v, p: (v, p.permute(0, 3, 2, 1)), r"poses must be \(N, 3, t_p=20, J=25\) in metres, got \(2, 25, 20, 3\)"),
    (lambda v, p: (v, p.long()), "poses must be a float tensor"),
    (lambda v, p: (v, torch.cat([p, p[:1]])), "batch sizes differ: 2 clips but 3 pose sequences"),
    (lambda v, p: (v, None), r"variant 'l3' needs poses \(N, 3, 20, 25\)"),
    (lambda v, p: (None, p), "variant 'l3' needs video"),
])
def test_bad_inputs_get_clear_errors(small_l3, make, message):
    model, cfg = small_l3
    video, poses = make(*inputs(cfg))
    with pytest.raises(ValueError, match=message):
        model(video, poses)


def test_bad_features_get_clear_errors(small_l3):
    model, cfg = small_l3
    _, poses = inputs(cfg)
    with pytest.raises(ValueError,
                       match=r"features must be backbone maps \(N, 1024, t_c, m, n\), got \(2, 512, 2, 2, 2\)"):
        model(None, poses, features=torch.zeros(2, 512, 2, 2, 2))
    with pytest.raises(ValueError, match="features have t_c=3; this model was built for t_c=2"):
        model(None, poses, features=torch.zeros(2, 1024, 3, 2, 2))


def test_unused_inputs_are_ignored():
    cfg = ModelConfig(variant="pose_only", num_classes=4)
    model = build_recognizer(cfg).eval()
    _, poses = inputs(cfg)
    with torch.no_grad():
        torch.testing.assert_close(model(torch.zeros(2, 3, 8, 8, 8), poses).logits, model(None, poses).logits)
    with pytest.raises(RuntimeError, match="'pose_only' has no visual backbone"):
        model.forward_features(torch.zeros(1, 3, 64, 224, 224))


@pytest.mark.parametrize(("overrides", "message"), [
    ({"variant": "l9"}, "model.variant must be one of l1, l2, l3, pose_only; got 'l9'"),
    ({"coupler": "joint"}, "model.coupler must be one of coupled, separable; got 'joint'"),
    ({"embedding_loss": "cosine"}, "model.embedding_loss must be one of"),
    ({"backbone": "x3d"}, "model.backbone must be one of i3d, resnext101"),
    ({"pixel_norm": "imagenet"},
     "model.pixel_norm must be one of none, hara_activitynet, hara_kinetics; got 'imagenet'"),
    ({"pixel_norm": "hara_kinetics"},
     "model.pixel_norm=hara_kinetics does not fit backbone i3d: its weights take model.pixel_norm=none"),
    ({"clip_len": 60},
     r"model.clip_len=60 and model.crop_size=224 must be multiples of the i3d strides \(8 in time, 32"),
    ({"skeleton": "coco17"}, "unknown skeleton layout 'coco17'"),
])
def test_bad_configs_get_clear_errors(overrides, message):
    with pytest.raises(ValueError, match=message):
        with torch.device("meta"):
            build_recognizer(dataclasses.replace(ModelConfig(), **overrides))


def test_config_choices_are_model_config_fields_and_the_package_exports_resolve():
    import vpnet.models
    from vpnet.config import MODEL_CHOICES

    default = ModelConfig()
    for field, choices in MODEL_CHOICES.items():
        assert getattr(default, field) in choices, field
    for name in vpnet.models.__all__:
        assert getattr(vpnet.models, name) is not None, name
    with pytest.raises(AttributeError, match="has no attribute 'nope'"):
        vpnet.models.nope  # noqa: B018
