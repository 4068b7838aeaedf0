"""The configuration schema: typed dataclasses, one per section.

A run's config is a :class:`Config`. YAML presets in ``configs/`` and dotted command-line overrides
(``model.t_p=30``) are merged onto these defaults by :func:`vpnet.engine.config_loader.load_config`, which
rejects unknown keys and wrong types. Defaults are the paper's (section 4.1) unless a comment says
otherwise. This module holds data only: no torch, no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

# The allowed values of ModelConfig's choice fields, defined once: the models, the CLI and the
# engine's config checks import these.
VARIANTS = ("l1", "l2", "l3", "pose_only")
PIXEL_NORMS = ("none", "hara_activitynet", "hara_kinetics")
ADJACENCIES = ("paper", "sparse")
COUPLERS = ("coupled", "separable")
ATTENTIONS = ("spatiotemporal", "spatial")
EMBEDDING_LOSSES = ("normalized_euclidean", "kl_fp", "kl_pf", "bi_kl", "l1", "infonce")
ATTENTION_SOURCES = ("pose", "fixed", "given")
SPATIAL_ATTENTIONS = ("sigmoid", "softmax")
EMBED_POSE_INPUTS = ("z1", "a_s")
SAMPLINGS = ("loop", "stretch")
POSE_NORMS = ("translation", "rotate", "rotate_scale")
POSE_SPANS = ("auto", "window", "clip")
POSE_STREAMS = ("joint", "bone", "joint_motion", "bone_motion")
OPTIMIZERS = ("sgd", "adamw")
AMPS = ("none", "bf16", "fp16")
#: frame rates a video or a model may declare; outside them (0: none stored, > 1000: a broken header)
#: prediction uses the model's training rate and says so in its notes.
FPS_RANGE = (1.0, 1000.0)
SCHEDULES = ("step", "cosine")
#: ModelConfig field -> its allowed values (``skeleton`` is checked by :func:`vpnet.skeletons.get_layout`,
#: ``backbone`` and ``pose_backbone`` by the backbone registries, :func:`vpnet.models.registry.backbone_names`
#: and :func:`vpnet.models.registry.pose_backbone_names`).
MODEL_CHOICES: dict[str, tuple[str, ...]] = {
    "variant": VARIANTS, "pixel_norm": PIXEL_NORMS,
    "adjacency": ADJACENCIES, "coupler": COUPLERS, "attention": ATTENTIONS, "embedding_loss": EMBEDDING_LOSSES,
    "embed_pose_input": EMBED_POSE_INPUTS, "attention_source": ATTENTION_SOURCES,
    "spatial_attention": SPATIAL_ATTENTIONS,
}
#: DataConfig and OptimConfig fields -> their allowed values.
DATA_CHOICES: dict[str, tuple[str, ...]] = {"sampling": SAMPLINGS, "pose_norm": POSE_NORMS, "pose_span": POSE_SPANS,
                                            "pose_stream": POSE_STREAMS}
OPTIM_CHOICES: dict[str, tuple[str, ...]] = {"optimizer": OPTIMIZERS, "schedule": SCHEDULES}


@dataclass
class ModelConfig:
    """The recognizer: backbone + VPN + head."""

    #: ``l1`` backbone only, ``l2`` + attention network, ``l3`` + spatial embedding (full VPN),
    #: ``pose_only`` pose backbone + linear classifier on h* (Table 1 and baselines).
    variant: str = "l3"
    #: ``i3d`` (Inception-v1 I3D, Mixed_5c) or ``resnext101`` (3D ResNeXt-101, last stage).
    backbone: str = "i3d"
    #: ``None`` (random init), ``kinetics400`` (DeepMind RGB I3D), or a path to a state dict.
    backbone_weights: Optional[str] = None
    #: what the backbone's weights expect as input; the model converts its [-1, 1] clips to it.
    #: ``none``: [-1, 1] as it is (I3D, and any backbone trained by vpnet or from scratch);
    #: ``hara_activitynet``: [0, 255] pixels minus the ActivityNet mean (Hara et al.'s 2017-2018
    #: ResNeXt releases, e.g. ``resnext-101-kinetics.pth``); ``hara_kinetics``: [0, 1] pixels
    #: standardised with Kinetics mean and std (their 2020 releases). resnext101 only.
    pixel_norm: str = "none"
    #: classes of the classifier; 0: the dataset's class count, filled in before the model is built
    #: (the ``*_custom`` presets: own data names its classes).
    num_classes: int = 60
    #: input clip the model is built for: frames T and crop H = W. The attention grid follows the
    #: backbone's strides: t_c = T / 8 (i3d) or T / 16 (resnext101), m = n = crop / 32.
    clip_len: int = 64
    crop_size: int = 224
    #: joint layout of the poses: ``ntu25``, ``lcrnet13``, ``ucla20``.
    skeleton: str = "ntu25"
    #: number of poses per clip (NTU 20, Smarthome 30, N-UCLA 5).
    t_p: int = 20
    #: a pose backbone of :mod:`vpnet.models.registry`: ``gcn`` (the paper's, Table 2 "ours"), ``lstm`` (the
    #: Separable STA baseline of Table 2), and graph networks not in the paper (:mod:`vpnet.models.ctrgcn`):
    #: ``stgcnpp`` (ST-GCN++-like, the ``pose_stgcnpp_*`` presets'), ``ctrgcn`` (a compact CTR-GCN) and
    #: ``ctrgcn_large`` (CTR-GCN's published width and depth, for GPUs).
    pose_backbone: str = "gcn"
    #: graph of eq. (1): ``paper`` (beta for every non-bone pair) or ``sparse`` (authors' code).
    adjacency: str = "paper"
    alpha: float = 5.0
    beta: float = 2.0
    #: Table 2: ``coupled`` A_ST = inflate(A_S) * inflate(A_T), or ``separable`` (dissociated).
    coupler: str = "coupled"
    #: Table 4: ``spatiotemporal`` or ``spatial`` (spatial attention only).
    attention: str = "spatiotemporal"
    #: Table 3: ``normalized_euclidean`` (eq. 4, the paper's), ``kl_fp``, ``kl_pf``, ``bi_kl``, ``l1``; and
    #: ``infonce`` (not in the paper): a contrastive loss over the batch that a constant embedding
    #: cannot meet (:func:`vpnet.models.embedding.embedding_loss`).
    embedding_loss: str = "normalized_euclidean"
    #: temperature of the ``infonce`` embedding loss (cosine similarities are divided by it).
    embed_temperature: float = 0.1
    #: what the pose side of the embedding reads: ``z1`` (paper) or ``a_s`` (authors' code).
    embed_pose_input: str = "z1"
    #: KL embedding losses (``kl_fp``, ``kl_pf``, ``bi_kl``): softmax(e / ||e|| / kl_temperature) on both
    #: sides; ``None``: softmax of the raw embeddings (the paper's formula, peaked on the video side since
    #: |f_e| >> |P_e|). Default 0.1, measured on the demo (``l3`` with ``kl_fp``, seed 0; RESULTS.md,
    #: bench_kl_temperature.py): raw 68.3 %, tau 1.0 and 0.1 both 78.6 %; 0.1 is kept because at 1.0 both
    #: distributions are almost uniform (the loss then says little), at 0.1 they are not.
    kl_temperature: Optional[float] = 0.1
    #: ``kl_fp`` / ``kl_pf`` send gradient to both embeddings instead of one (Table 3's are one-way).
    kl_two_way: bool = False
    embed_dim: int = 256
    #: std of the normal init of the coupler's last layers (W_z1, W_z2 of eq. 2). The authors' code
    #: zeros them: A_S = 0.5 and A_T uniform for every pose at the start. Near zero, on vpnet-ADL the
    #: attention settled on one map for every clip; 0.3 starts it pose-dependent and it learns to code
    #: the classes the poses tell apart (``vpnet demo``, benchmarks/RESULTS.md).
    attention_init_std: float = 0.01
    #: where A_S and A_T come from: ``pose`` (eq. 2, the paper's), or two probes of the mechanism
    #: (``l2`` only, no pose backbone): ``fixed``, one learned A_S and A_T shared by every clip, and
    #: ``given``, A_S given with each clip (the feature cache's ``a_s.npy``, e.g. ground truth) and one
    #: learned A_T.
    attention_source: str = "pose"
    #: how A_S is normalised: ``sigmoid`` (eq. 2, the paper's: each cell in (0, 1) on its own) or
    #: ``softmax`` over the m x n cells (not in the paper: the cells compete, the map redistributes).
    #: With ``softmax``, A_ST is scaled by t_c*m*n so that it averages 1 over the map.
    spatial_attention: str = "sigmoid"
    #: ``f' = A_ST f + f`` (true: the paper's) or ``f' = A_ST f`` (false: with the head's average
    #: pool, an attention-weighted pooling of f; not in the paper).
    attention_residual: bool = True
    dropout: float = 0.3
    #: BatchNorm momentum of the backbone (PyTorch convention). DeepMind trained with 0.001
    #: (their 0.999 decay); short runs need 0.1, else the running statistics lag the weights for
    #: thousands of steps.
    bn_momentum: float = 0.1


@dataclass
class LossConfig:
    """L = lambda1 L_C + (1 - lambda1) L_e + lambda2 L_a, eq. (5)."""

    lambda1: float = 0.8
    lambda2: float = 1e-5


@dataclass
class DataConfig:
    """Where the data is and how clips and poses are sampled."""

    #: ``ntu60``, ``ntu120``, ``smarthome``, ``nucla``, ``custom`` (a manifest), ``folders`` (class folders).
    dataset: str = "ntu60"
    #: ntu60: ``cs`` | ``cv``; ntu120: ``csub`` | ``cset``; smarthome: ``cs`` | ``cv1`` | ``cv2``;
    #: nucla: ``v3``; custom: the split column of the manifest.
    protocol: str = "cs"
    #: raw data as the owners ship it.
    video_dir: Optional[str] = None
    pose_dir: Optional[str] = None
    #: folder with the split files (Smarthome) or the manifest (custom); dataset-specific.
    split_dir: Optional[str] = None
    manifest: Optional[str] = None
    #: folders: a file naming each video's split (``<class>/<video> <split>`` per line), when
    #: ``video_dir`` holds ``<class>/<video>`` rather than ``<split>/<class>/<video>``.
    split_file: Optional[str] = None
    #: NTU: the owners' list of samples with missing or incomplete skeletons
    #: (``NTU_RGBD[120]_samples_with_missing_skeletons.txt``), which the official protocols exclude.
    missing_list: Optional[str] = None
    #: a folder written by ``vpnet prepare``; used instead of the raw videos when set.
    prepared_dir: Optional[str] = None
    #: a folder written by ``vpnet extract-features``; trains the head on cached backbone maps.
    feature_dir: Optional[str] = None
    clip_len: int = "${model.clip_len}"  # type: ignore[assignment]
    crop_size: int = "${model.crop_size}"  # type: ignore[assignment]
    t_p: int = "${model.t_p}"  # type: ignore[assignment]
    #: temporal stride of the training window when the video is long enough (else 1).
    frame_stride: int = 2
    #: frame rate of the training videos, the rate ``frame_stride`` counts frames at (NTU and N-UCLA:
    #: 30). Stored with the model: ``vpnet predict`` resamples every video to it (README, "Frame rate").
    fps: float = 30.0
    #: a video shorter than ``clip_len`` frames: ``loop`` (the authors' loaders: forward, jump back,
    #: forward again) or ``stretch`` (indices spread monotonically over the whole video, frames
    #: repeated). Measured on N-UCLA, whose median clip is 31 frames: see benchmarks/RESULTS.md.
    sampling: str = "loop"
    #: where a clip's t_p poses come from: ``window`` (the frames of its RGB window, the paper's),
    #: ``clip`` (spread over the whole clip), ``auto`` (``clip`` for pose-only models, which have no
    #: RGB window, else ``window``).
    pose_span: str = "auto"
    #: pose normalisation: ``translation`` (the paper's: relative to the body centre of the first
    #: sampled pose), ``rotate`` (also rotated about the vertical axis to the body frame of the first
    #: pose: hips on the x axis), ``rotate_scale`` (also divided by the torso length).
    pose_norm: str = "translation"
    #: what the pose backbone reads (after normalisation and augmentation, inside the model, so the model's
    #: input stays the joints everywhere: VPN's coupler, predict, export): ``joint`` positions, ``bone``
    #: vectors (joint minus its parent in the layout's bone tree, :func:`vpnet.skeletons.bone_parents`),
    #: ``joint_motion`` or ``bone_motion`` (the difference between consecutive sampled poses, zero after
    #: the last). Several runs, one per stream, are fused by ``vpnet evaluate --ensemble``.
    pose_stream: str = "joint"
    #: training augmentation of the poses (all 0: none, the paper's): rotation about the vertical axis
    #: up to +-``pose_rotate`` degrees, scale by up to +-``pose_scale``, Gaussian joint jitter of std
    #: ``pose_jitter`` (poses' unit), and a random temporal crop keeping at least 1 - ``pose_crop`` of
    #: the clip (poses drawn over the whole clip, i.e. pose-only models).
    pose_rotate: float = 0.0
    pose_scale: float = 0.0
    pose_jitter: float = 0.0
    pose_crop: float = 0.0
    #: margin added to each side of the skeleton box, as a fraction of its size.
    crop_margin: float = 0.1
    #: training augmentation of the crop box: side scaled by up to +-crop_jitter, centre moved by
    #: up to crop_jitter / 2 of the side (the people always stay inside). 0 disables it.
    crop_jitter: float = 0.1
    #: seed of the sampling randomness; a sample is a pure function of (seed, epoch, index).
    seed: int = "${train.seed}"  # type: ignore[assignment]
    #: clips per process per step.
    batch_size: int = 4
    num_workers: int = 4


@dataclass
class OptimConfig:
    """SGD with a step schedule (paper 4.1); AdamW and a cosine schedule for recipes of our own."""

    #: ``sgd`` (with ``momentum``) or ``adamw``.
    optimizer: str = "sgd"
    #: ``step`` (lr x lr_gamma every lr_step epochs) or ``cosine`` (from lr to 0 over train.epochs).
    schedule: str = "step"
    lr: float = 0.01
    momentum: float = 0.9
    weight_decay: float = 0.0
    #: lr x lr_gamma every lr_step epochs.
    lr_step: int = 10
    lr_gamma: float = 0.1


@dataclass
class TrainConfig:
    epochs: int = 30
    #: clips per optimiser step over all processes (paper: 4 GPUs x 4 = 16).
    global_batch: int = 16
    #: ``none``, ``bf16`` or ``fp16`` autocast. fp32 is the CPU default: bf16 training on CPU
    #: produced NaN gradients in about 1 of 10 backward passes (torch 2.x, x86).
    amp: str = "none"
    channels_last: bool = False
    compile: bool = False
    sync_bn: bool = False
    seed: int = 0
    deterministic: bool = False
    #: checkpoint to start from and what to take from it: ``full`` (same model, e.g. an l1
    #: checkpoint for the two-stage recipe), ``backbone`` or ``backbone+vpn`` (another dataset),
    #: ``pose_backbone`` (e.g. a ``pose_only`` run's pose backbone into ``l3``).
    init_from: Optional[str] = None
    init_mode: str = "full"
    #: skip (and count) optimiser steps whose gradients are not finite.
    skip_nonfinite: bool = True
    # --- engine settings ---
    #: micro-batches per optimiser step. ``None``: derived as
    #: global_batch / (data.batch_size x world size); an explicit value must agree with it.
    grad_accum: Optional[int] = None
    #: ``auto`` (the process's CUDA device under torchrun when there is one, else CPU), ``cpu``, ``cuda``.
    device: str = "auto"
    #: BatchNorm layers in eval mode (running statistics frozen, affine parameters still trained):
    #: for fine-tuning with very small per-process batches.
    freeze_bn: bool = False
    #: a checkpoint every N optimiser steps (0: only at the end of each epoch and on SIGTERM).
    ckpt_every_steps: int = 1000
    #: a checkpoint at the end of every N-th epoch (0: none at epoch ends, only the step checkpoints, the
    #: final weights and SIGTERM's; for short runs on cached features, where writing the frozen backbone
    #: every epoch costs more than the epoch).
    ckpt_every_epochs: int = 1
    #: how many step/epoch checkpoints to keep (older ones are deleted; ``best`` is kept apart).
    keep_checkpoints: int = 2
    #: split for best-checkpoint selection: ``auto`` (the dataset's validation split, else none:
    #: the final weights are the result), a split name (``test`` only on purpose: it is marked), or
    #: ``None`` (no validation).
    val_split: Optional[str] = "auto"
    #: validate every N epochs (single-clip inference; the final evaluation uses ``eval``).
    val_every: int = 1
    #: a log line (and CSV/TensorBoard row) every N optimiser steps.
    log_every: int = 10
    #: also write TensorBoard event files (when the ``tensorboard`` package is installed).
    tensorboard: bool = True


@dataclass
class EvalConfig:
    """The paper's inference: fully convolutional in space, several clips, max over clips."""

    #: ``multi`` (paper) or ``single`` (one centre clip, centre crop).
    mode: str = "multi"
    num_clips: int = 10
    #: short side of the whole-crop input in ``multi`` mode (no centre crop). None (the default): what
    #: the model was trained at, in the paper's test-to-training proportion, ``model.crop_size`` x 256/224
    #: rounded to the backbone's spatial stride (256 for the paper's 224 crops, 64 for a 64-pixel model).
    short_side: Optional[int] = None
    # --- engine settings ---
    #: split evaluated by ``vpnet evaluate`` unless told otherwise.
    split: str = "test"
    #: videos per batch (each holds ``num_clips`` clips in ``multi`` mode).
    batch_size: int = 1
    #: clips per forward pass (bounds memory when a batch holds many clips).
    clip_batch: int = 10
    #: autocast for inference: ``none``, ``bf16`` or ``fp16`` (bf16 forward-only is fine on CPU).
    amp: str = "none"


@dataclass
class Config:
    name: str = "vpn"
    #: runs are written to ``<output_dir>/<name>``.
    output_dir: str = "runs"
    model: ModelConfig = field(default_factory=ModelConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    data: DataConfig = field(default_factory=DataConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
