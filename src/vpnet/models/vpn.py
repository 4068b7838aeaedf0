"""VPN as a layer over any backbone map, and the recognizer = backbone + pose backbone + VPN + head.

Data flow (paper fig. 3-4)::

    video (N, 3, T, H, W) -> backbone.forward_features -> f (N, C, t_c, m, n) ------------------+
    poses (N, 3, t_p, J) -> pose_backbone -> h* (N, 128) -> VPN.coupler -> A_S, A_T -> f' = A_ST f + f -> head -> logits
                                                            z1 -> VPN.embedding <- sum_t f -> L_e

Variants (Table 1 and baselines): ``l1`` backbone + head; ``l2`` + attention network (pose backbone
and coupler); ``l3`` + spatial embedding (the full VPN); ``pose_only`` pose backbone + linear
classifier on h*. The Table 2-4 switches (pose backbone, coupler, spatial-only attention, embedding
loss) come from :class:`vpnet.config.ModelConfig`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import torch
from torch import Tensor, nn

from vpnet.config import ATTENTIONS, EMBED_POSE_INPUTS, MODEL_CHOICES, VARIANTS, ModelConfig
from vpnet.models.attention import SpatioTemporalCoupler
from vpnet.models.embedding import SpatialEmbedding
from vpnet.models.registry import get_backbone, get_pose_backbone

__all__ = ["VPN", "VPNOutput", "VPNRecognizer", "InferenceModel", "ClassifierHead", "build_recognizer",
           "build_backbone", "VARIANTS"]


@dataclass
class VPNOutput:
    """What the recognizer returns. Absent parts are None (``l1`` has no attention, ...)."""

    #: (N, K) class scores before softmax.
    logits: Tensor
    #: (N, m, n) spatial attention A_S as applied to f (resized on a larger grid).
    a_s: Tensor | None = None
    #: (N, t_c) temporal attention A_T.
    a_t: Tensor | None = None
    #: (N, m*n) latent spatial attention z1 (pre-sigmoid), on the trained grid.
    z1: Tensor | None = None
    #: (N,) embedding loss L_e per sample; None when not computed (no embedding, or a feature map
    #: of another spatial size than the trained grid: T_v has a fixed input size).
    l_e: Tensor | None = None


class VPNLayerOutput(NamedTuple):
    """The VPN layer's result: :class:`~vpnet.models.attention.CouplerOutput` and L_e, fields read by name."""

    f_prime: Tensor
    a_s: Tensor
    a_t: Tensor | None
    z1: Tensor
    l_e: Tensor | None


class VPN(nn.Module):
    """The VPN layer (paper 3.2) on a backbone map f (N, C, t_c, m, n) and the pose feature h* (N, 128).

    Holds the spatio-temporal coupler (eq. 2) and, with ``embedding=True``, the spatial embedding
    (eq. 3-4). The pose backbone that turns P into h* is the recognizer's ``pose_backbone``, beside
    this layer, so that ``pose_only`` and VPN share one definition of it.
    """

    def __init__(self, *, in_channels: int, t_c: int, m: int, n: int, pose_features: int = 128,
                 coupler: str = "coupled", attention: str = "spatiotemporal", embedding: bool = True,
                 embed_dim: int = 256, embedding_loss: str = "normalized_euclidean", embed_pose_input: str = "z1",
                 attention_init_std: float = 0.01, attention_source: str = "pose", spatial_attention: str = "sigmoid",
                 attention_residual: bool = True, embed_temperature: float = 0.1, kl_temperature: float | None = None,
                 kl_two_way: bool = False):
        super().__init__()
        if attention not in ATTENTIONS:
            raise ValueError(f"attention must be one of {', '.join(ATTENTIONS)}; got {attention!r}")
        if embed_pose_input not in EMBED_POSE_INPUTS:
            raise ValueError(
                f"embed_pose_input must be one of {', '.join(EMBED_POSE_INPUTS)}; got {embed_pose_input!r}")
        self.m, self.n = m, n  # the trained grid: L_e only exists on it
        self.embed_pose_input = embed_pose_input
        if embedding and attention_source != "pose":
            raise ValueError(f"the embedding reads the pose's z1: attention_source={attention_source!r} has none")
        self.coupler = SpatioTemporalCoupler(in_features=pose_features, t_c=t_c, m=m, n=n, coupler=coupler,
                                             temporal=attention == "spatiotemporal", init_std=attention_init_std,
                                             source=attention_source, spatial=spatial_attention,
                                             residual=attention_residual)
        self.embedding = (SpatialEmbedding(in_channels=in_channels, m=m, n=n, embed_dim=embed_dim,
                                           loss=embedding_loss, temperature=embed_temperature,
                                           kl_temperature=kl_temperature, two_way=kl_two_way)
                          if embedding else None)

    def forward(self, f: Tensor, h: Tensor | None, a_s: Tensor | None = None) -> VPNLayerOutput:
        """f (N, C, t_c, m', n'), h* (N, 128) (None: ``attention_source`` fixed or given), a given A_S (N, m, n)
        (``attention_source=given``) -> f' (N, C, t_c, m', n'), A_S, A_T, z1, L_e."""
        att = self.coupler(f, h, a_s)
        l_e = None
        if self.embedding is not None and tuple(f.shape[3:]) == (self.m, self.n):
            pose_vec = att.z1 if self.embed_pose_input == "z1" else torch.sigmoid(att.z1)
            l_e = self.embedding(f, pose_vec)
        return VPNLayerOutput(f_prime=att.f_prime, a_s=att.a_s, a_t=att.a_t, z1=att.z1, l_e=l_e)


class ClassifierHead(nn.Module):
    """Global average pool over (t_c, m, n) when given a map, dropout, linear (paper 4.1)."""

    def __init__(self, in_features: int, num_classes: int, *, dropout: float = 0.3):
        super().__init__()
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(in_features, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        """(N, C, t, m, n) or (N, C) -> (N, K)."""
        if x.dim() == 5:
            x = x.mean(dim=(2, 3, 4))
        return self.fc(self.dropout(x))


class VPNRecognizer(nn.Module):
    """Backbone + pose backbone + VPN + head; see the module docstring for the variants.

    Inputs are checked at this boundary (shapes, clip length, strides, pose length and joints, batch
    sizes) so that a wrong tensor gets an error saying what was expected, not a failure deep inside.
    """

    def __init__(self, *, variant: str, backbone: nn.Module | None, pose_backbone: nn.Module | None,
                 vpn: VPN | None, head: ClassifierHead, clip_len: int, t_c: int, m: int, n: int,
                 t_p: int, num_joints: int, pose_stream: nn.Module | None = None):
        super().__init__()
        self.variant = variant
        self.backbone = backbone
        self.pose_backbone = pose_backbone
        #: joint positions -> what the pose backbone reads (``data.pose_stream``); no state-dict entries
        self.pose_stream = pose_stream if pose_stream is not None else nn.Identity()
        self.vpn = vpn
        self.head = head
        self.clip_len, self.t_c, self.m, self.n = clip_len, t_c, m, n
        self.t_p, self.num_joints = t_p, num_joints

    def to_channels_last(self) -> VPNRecognizer:
        """Put the visual backbone's weights in ``channels_last_3d`` (feed it channels-last clips too)."""
        if self.backbone is not None:
            self.backbone.to(memory_format=torch.channels_last_3d)
        return self

    def to(self, *args, **kwargs) -> VPNRecognizer:
        """``nn.Module.to``; ``memory_format=torch.channels_last_3d`` applies to the visual backbone only.

        PyTorch would apply it to every 4-D and 5-D weight, and the pose backbone's 2D convolutions
        (4-D weights) refuse that format.
        """
        if kwargs.get("memory_format") is torch.channels_last_3d:
            kwargs.pop("memory_format")
            if args or kwargs:
                super().to(*args, **kwargs)
            return self.to_channels_last()
        return super().to(*args, **kwargs)

    @property
    def uses_video(self) -> bool:
        return self.backbone is not None

    @property
    def uses_poses(self) -> bool:
        return self.pose_backbone is not None

    def _check_video(self, video: Tensor) -> None:
        ts, ss = self.backbone.temporal_stride, self.backbone.spatial_stride
        if not isinstance(video, Tensor) or video.dim() != 5 or video.shape[1] != 3:
            got = tuple(video.shape) if isinstance(video, Tensor) else type(video).__name__
            raise ValueError(f"video must be (N, 3, T, H, W) RGB in [-1, 1], got {got}")
        if not video.is_floating_point():
            raise ValueError(f"video must be a float tensor in [-1, 1], got dtype {video.dtype}")
        _, _, t, h, w = video.shape
        if t != self.clip_len:
            raise ValueError(f"video has T={t} frames; this model was built for T={self.clip_len} "
                             f"(t_c={self.t_c} feature steps x temporal stride {ts})")
        if h % ss or w % ss:
            raise ValueError(f"video is {h}x{w}; H and W must be multiples of the backbone's spatial stride {ss} "
                             f"(the model was built for {self.m * ss}x{self.n * ss}; larger crops run fully "
                             "convolutionally)")

    def _check_features(self, f: Tensor) -> None:
        channels = self.backbone.out_channels if self.backbone is not None else None
        if not isinstance(f, Tensor) or f.dim() != 5 or (channels is not None and f.shape[1] != channels):
            got = tuple(f.shape) if isinstance(f, Tensor) else type(f).__name__
            raise ValueError(f"features must be backbone maps (N, {channels or 'C'}, t_c, m, n), got {got}")
        if f.shape[2] != self.t_c:
            raise ValueError(f"features have t_c={f.shape[2]}; this model was built for t_c={self.t_c} "
                             f"(feature map {tuple(f.shape)})")

    def _check_poses(self, poses: Tensor) -> None:
        expected = f"(N, 3, t_p={self.t_p}, J={self.num_joints})"
        if not isinstance(poses, Tensor) or poses.dim() != 4 or poses.shape[1] != 3:
            got = tuple(poses.shape) if isinstance(poses, Tensor) else type(poses).__name__
            raise ValueError(f"poses must be {expected} in metres, got {got}")
        if poses.shape[2] != self.t_p:
            raise ValueError(f"poses have t_p={poses.shape[2]} time steps; this model expects t_p={self.t_p} "
                             f"{expected}, got {tuple(poses.shape)}")
        if poses.shape[3] != self.num_joints:
            raise ValueError(f"poses have J={poses.shape[3]} joints; this model's skeleton has "
                             f"J={self.num_joints} {expected}, got {tuple(poses.shape)}")
        if not poses.is_floating_point():
            raise ValueError(f"poses must be a float tensor (metres), got dtype {poses.dtype}")

    def forward_features(self, video: Tensor) -> Tensor:
        """Backbone maps f (N, C, t_c, m, n) of a checked video clip (the feature-cache entry point)."""
        if self.backbone is None:
            raise RuntimeError(f"variant {self.variant!r} has no visual backbone")
        self._check_video(video)
        return self._features(video)

    def _features(self, video: Tensor) -> Tensor:
        """The backbone on an already checked clip, in the backbone's dtype."""
        return self.backbone.forward_features(video.to(_dtype_of(self.backbone)))

    def forward(self, video: Tensor | None = None, poses: Tensor | None = None, *,
                features: Tensor | None = None, a_s: Tensor | None = None) -> VPNOutput:
        """video (N, 3, T, H, W) in [-1, 1] and/or poses (N, 3, t_p, J) metres -> :class:`VPNOutput`.

        ``features`` (N, C, t_c, m, n) replaces ``video`` (cached backbone maps; the same code after
        the backbone). ``a_s`` (N, m, n): a given A_S, read only by ``model.attention_source=given``.
        Inputs a variant does not use are ignored (``l1`` ignores poses, ``pose_only`` ignores video).
        """
        # Check everything before computing anything: a bad pose tensor should not cost a backbone pass.
        if self.uses_video:
            if features is not None:
                self._check_features(features)
            elif video is not None:
                self._check_video(video)
            else:
                raise ValueError(f"variant {self.variant!r} needs video (N, 3, T, H, W) or features (N, C, t_c, m, n)")
        if self.uses_poses:
            if poses is None:
                raise ValueError(f"variant {self.variant!r} needs poses (N, 3, {self.t_p}, {self.num_joints})")
            self._check_poses(poses)
            clips = features if features is not None else video
            if self.uses_video and poses.shape[0] != clips.shape[0]:
                raise ValueError(f"batch sizes differ: {clips.shape[0]} clips but {poses.shape[0]} pose sequences")

        # Inputs take the dtype of the weights that read them (half cached features into a float
        # model, float64 clips): autocast, when on, still decides the compute dtype inside.
        f = h = None
        if self.uses_video:
            f = features.to(_dtype_of(self.head)) if features is not None else self._features(video)
        if self.uses_poses:
            h = self.pose_backbone(self.pose_stream(poses.to(_dtype_of(self.pose_backbone))))
        if self.vpn is None:
            return VPNOutput(logits=self.head(f if f is not None else h))
        layer = self.vpn(f, h, a_s if self.vpn.coupler.source == "given" else None)
        return VPNOutput(logits=self.head(layer.f_prime), a_s=layer.a_s, a_t=layer.a_t, z1=layer.z1, l_e=layer.l_e)


def _dtype_of(module: nn.Module) -> torch.dtype:
    return next(module.parameters()).dtype


def build_backbone(name: str, *, weights: str | None = None, bn_momentum: float = 0.1,
                   pixel_norm: str = "none") -> nn.Module:
    """A visual backbone without classifier, by its registered name (:mod:`vpnet.models.registry`).

    ``pixel_norm`` (``model.pixel_norm``): the input the weights expect (``resnext101`` with Hara et
    al.'s weights, see :mod:`vpnet.models.resnext3d`); ``i3d`` reads [-1, 1] and takes ``none`` only.
    """
    return get_backbone(name).build(weights=weights, num_classes=0, bn_momentum=bn_momentum, pixel_norm=pixel_norm)


def build_recognizer(cfg: ModelConfig, *, pose_stream: str = "joint") -> VPNRecognizer:
    """The recognizer a :class:`~vpnet.config.ModelConfig` describes (variant, backbone, switches);
    ``pose_stream`` (``data.pose_stream``): what its pose backbone reads (:class:`~vpnet.models.streams.PoseStream`)."""
    from vpnet.models.streams import PoseStream
    from vpnet.skeletons import bone_parents, get_layout

    for field, choices in MODEL_CHOICES.items():
        if getattr(cfg, field) not in choices:
            raise ValueError(f"model.{field} must be one of {', '.join(choices)}; got {getattr(cfg, field)!r}")
    layout = get_layout(cfg.skeleton)

    backbone = None
    t_c = m = n = 0
    if cfg.variant != "pose_only":
        backbone = build_backbone(cfg.backbone, weights=cfg.backbone_weights, bn_momentum=cfg.bn_momentum,
                                  pixel_norm=cfg.pixel_norm)
        ts, ss = backbone.temporal_stride, backbone.spatial_stride
        if cfg.clip_len % ts or cfg.crop_size % ss:
            raise ValueError(f"model.clip_len={cfg.clip_len} and model.crop_size={cfg.crop_size} must be multiples "
                             f"of the {cfg.backbone} strides ({ts} in time, {ss} in space)")
        t_c, m = cfg.clip_len // ts, cfg.crop_size // ss
        n = m

    pose_backbone = stream = None
    if cfg.variant != "l1" and cfg.attention_source == "pose":
        pose_backbone = get_pose_backbone(cfg.pose_backbone).build(layout=layout, cfg=cfg)
        stream = PoseStream(pose_stream, bone_parents(layout) if pose_stream.startswith("bone") else None)

    vpn = None
    if cfg.variant in ("l2", "l3"):
        vpn = VPN(in_channels=backbone.out_channels, t_c=t_c, m=m, n=n,
                  pose_features=pose_backbone.out_features if pose_backbone is not None else 128,
                  coupler=cfg.coupler, attention=cfg.attention, embedding=cfg.variant == "l3",
                  embed_dim=cfg.embed_dim, embedding_loss=cfg.embedding_loss, embed_pose_input=cfg.embed_pose_input,
                  attention_init_std=cfg.attention_init_std, attention_source=cfg.attention_source,
                  spatial_attention=cfg.spatial_attention, attention_residual=cfg.attention_residual,
                  embed_temperature=cfg.embed_temperature, kl_temperature=cfg.kl_temperature,
                  kl_two_way=cfg.kl_two_way)

    head_in = pose_backbone.out_features if cfg.variant == "pose_only" else backbone.out_channels
    head = ClassifierHead(head_in, cfg.num_classes, dropout=cfg.dropout)
    return VPNRecognizer(variant=cfg.variant, backbone=backbone, pose_backbone=pose_backbone, vpn=vpn, head=head,
                         clip_len=cfg.clip_len, t_c=t_c, m=m, n=n, t_p=cfg.t_p, num_joints=layout.num_joints,
                         pose_stream=stream)


class InferenceModel(nn.Module):
    """A recognizer with positional inputs and a tuple of tensors out, for tracing and export (:mod:`vpnet.export`):
    ``forward(video, poses)`` or the one input the variant reads -> ``(logits, [a_s, [a_t]])``."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model
        self.uses_video = model.backbone is not None
        self.uses_poses = model.pose_backbone is not None
        self.has_attention = model.vpn is not None
        self.has_temporal = self.has_attention and model.vpn.coupler.has_temporal
        if self.has_attention and model.vpn.coupler.source == "given":
            raise ValueError("a model with attention_source=given reads A_S with each clip: it cannot be exported")

    def forward(self, x: Tensor, y: Tensor | None = None) -> tuple[Tensor, ...]:
        """``(video, poses)``, or the one input the variant reads (``video`` for l1, ``poses`` for pose_only)."""
        video = x if self.uses_video else None
        poses = (y if self.uses_video else x) if self.uses_poses else None
        out = self.model(video, poses)
        result = [out.logits]
        if self.has_attention:
            result.append(out.a_s)
            if self.has_temporal:
                result.append(out.a_t)
        return tuple(result)
