"""Inference on your own videos: a recognizer from a run folder, a checkpoint or an ONNX file.

::

    from vpnet.inference import load_recognizer
    rec = load_recognizer(run="runs/my_run")          # or checkpoint=..., onnx=...
    pred = rec.predict("kitchen.mp4")                 # poses extracted with MediaPipe (pose extra)
    pred.top_class, pred.top_score, pred.windows[0].top_class
    rec.predict(frames_uint8_THW3, poses="poses.npz") # frames in memory, poses from a file

How a video is read (decisions, as ``vpnet evaluate`` where it applies; the steps are the datasets'
ones, :mod:`vpnet.data.pipeline`, with sliding windows):

- **One source of truth**: everything that shaped the model's input in training (clip length, stride,
  frame rate, sampling, pose span, pose normalisation, crop margin and size, pixel range, precision) is
  its :class:`ModelSpec`, read from the run's stored config or the exported file; the windows are cut by
  the datasets' own steps (:func:`vpnet.data.pipeline.sample_steps` with ``spec.clip_settings()``).
  Files written before a field was stored load with the old behaviour and a one-line warning.
- **Frame rate**: the video is resampled by frame index to the model's training rate (``data.fps``):
  frame j of the model's timeline is the video frame nearest j / fps (:func:`~vpnet.data.clips.resample_index`;
  a 60 fps video uses every other frame, a 15 fps one repeats each). Rates within 1 % (29.97 vs 30)
  are not resampled. A missing or absurd rate (0, > 1000) is taken as the model's rate, with a note.
  The JSON gives ``fps``, ``model_fps``, ``resampled`` and each window's times in seconds.
- **Windows** slide over the whole video: ``clip_len`` frames at the training stride
  (``data.frame_stride``; 1 for a video too short for it, looped or stretched when shorter than a clip
  as in training), one window every ``hop`` frames (default: one window span, so the windows tile the
  video; the last one ends on the last frame). Each window is scored; the video's scores are the **mean
  over windows of the softmax** by default (``aggregate="mean"``: a distribution over the classes, summing
  to 1, the usual video-level score of MMAction2 and torchvision's video references), or the max over
  windows (``aggregate="max"``: the paper's test rule, 4.1, which ``vpnet evaluate`` keeps; the maxima of
  different classes come from different windows, so they do not sum to 1).
- **Poses**: the main actor's (:func:`vpnet.data.clips.actor_track`), ``t_p`` per window at the centres
  of equal segments, normalised as in training: of the window's frames (``pose_span=window``), or, for
  a model trained on poses spread over whole clips (pose-only models), of the whole span each window
  covers (the whole video when it is no longer than a window: exactly what evaluation gives). From
  MediaPipe (:mod:`vpnet.poses`, cached by the video's content in ``$VPNET_CACHE/poses``, with the
  body's root track recovered) or from a pose file (NTU ``.skeleton``, Smarthome ``.json``, N-UCLA
  ``.json``, ``.npz``/``.npy``).
- **Crop**: the box around the people's 2D joints over the window, grown by ``data.crop_margin``, made
  square, resized to ``model.crop_size`` (the training size: one input size, so that an exported model
  with a fixed input takes it too). Models that read no poses and say ``crop="centre"`` (the Kinetics-400
  I3D of the model zoo) take the centre square of 224/256 of the short side instead, which is the
  Kinetics test crop (short side 256, centre 224), and need no pose extraction.
- **Provenance**: every prediction names the model and what it was trained on (``trained_on``); a model
  trained on generated data only (vpnet-ADL) puts a ``warning`` in it (and on the annotated video).
- **One pass** (a video file whose poses MediaPipe extracts, the default): decoded once, MediaPipe on the
  frames the windows sample only, decoding, poses and the model overlapped in threads (:mod:`vpnet.stream`,
  the engine of :meth:`Recognizer.stream` too); every frame's poses (``frame_poses=True``, for drawing
  them) or poses given or cached take the two-pass path: poses first, then the frames cut to the crop as
  they are decoded.
- **Memory**: only the frames (or crops) of the windows in progress are held, never the video.
- **Backends**: PyTorch (the reference), onnxruntime and OpenVINO on exported files (fp32, bf16, int8);
  :data:`BACKENDS`.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from vpnet.config import FPS_RANGE
from vpnet.data import clips, pipeline
from vpnet.data.types import DataError, PoseSequence
from vpnet.errors import InferenceError  # re-exported

if TYPE_CHECKING:
    from vpnet.stream import LiveWindow

log = logging.getLogger(__name__)

__all__ = ["Recognizer", "Prediction", "Window", "ModelSpec", "load_recognizer", "read_pose_file",
           "InferenceError", "AGGREGATES", "GENERATED_WARNING", "BACKENDS", "PRECISIONS", "open_exported"]

ONNX_FORMAT = "vpnet.onnx.v1"
#: how window scores become the video's: ``mean`` (the default: a distribution) or ``max`` (the paper's).
AGGREGATES = ("mean", "max")
#: the ``warning`` of every prediction of a model trained on generated data only.
GENERATED_WARNING = ("this model was trained on generated videos only ({trained_on}); its predictions on real "
                     "video are not meaningful. Use a model trained on real data, e.g. `vpnet predict VIDEO` "
                     "(the Kinetics-400 I3D) or one trained on your own videos")
#: the Kinetics test crop: the centre square of 224/256 of the short side (``ModelSpec.crop="centre"``).
CENTRE_FRACTION = 224 / 256




@dataclass(frozen=True)
class ModelSpec:
    """Everything that shapes a model's input, as it was at training: the one description that
    prediction reads (:meth:`clip_settings` gives the dataset pipeline's settings), written into run
    folders' weights (as the config) and into exported files (this JSON)."""

    variant: str
    skeleton: str
    num_joints: int
    clip_len: int
    crop_size: int
    t_p: int
    frame_stride: int
    crop_margin: float
    class_names: tuple[str, ...]
    #: the model's output names, in order: ``logits`` then ``a_s`` and ``a_t`` where the variant has them.
    outputs: tuple[str, ...] = ("logits",)
    #: the spatial attention grid (m, n) and the feature steps t_c (0 without a visual backbone).
    grid: tuple[int, int] = (0, 0)
    t_c: int = 0
    #: how the poses are normalised (``data.pose_norm`` of training; files exported before it existed
    #: were all ``translation``).
    pose_norm: str = "translation"
    #: how a video shorter than a clip is sampled (``data.sampling`` of training; before it existed: ``loop``).
    sampling: str = "loop"
    #: where a window's t_p poses come from (``data.pose_span`` resolved: ``window`` or ``clip``). Files
    #: written before it was stored: ``window``, what prediction did then.
    pose_span: str = "window"
    #: the frame rate ``frame_stride`` counts frames at (``data.fps``): prediction resamples every video
    #: to it. None (files written before it was stored): the video is taken at its own rate, as before.
    fps: float | None = None
    #: the range the model's video input takes (uint8 pixels mapped linearly onto it).
    pixel_range: tuple[float, float] = (-1.0, 1.0)
    #: the autocast precision the model is evaluated at (``eval.amp``: ``none``, ``bf16``, ``fp16``), which the
    #: PyTorch backend uses too; onnxruntime runs the exported graph in float32.
    amp: str = "none"

    #: fields that older files lack, and what prediction does without them.
    LEGACY = {"pose_span": "poses inside each window", "fps": "no frame-rate resampling"}
    #: ``people`` (the box around the people's joints) or ``centre`` (the Kinetics centre crop, no poses).
    crop: str = "people"
    #: what the model was trained on, in words (``data.dataset``, protocol, where); "" when unknown.
    trained_on: str = ""
    #: whether that data was generated (vpnet-ADL): every prediction then carries a warning.
    generated: bool = False

    @property
    def warning(self) -> str | None:
        """The warning every prediction of this model carries, or None."""
        return GENERATED_WARNING.format(trained_on=self.trained_on or "generated data") if self.generated else None

    @property
    def uses_video(self) -> bool:
        return self.variant != "pose_only"

    @property
    def uses_poses(self) -> bool:
        return self.variant != "l1"

    @property
    def inputs(self) -> tuple[str, ...]:
        return (("video",) if self.uses_video else ()) + (("poses",) if self.uses_poses else ())

    def input_shapes(self) -> dict[str, tuple[int, ...]]:
        """Per input its shape for a batch of one: video (1, 3, T, S, S), poses (1, 3, t_p, J)."""
        shapes = {"video": (1, 3, self.clip_len, self.crop_size, self.crop_size),
                  "poses": (1, 3, self.t_p, self.num_joints)}
        return {k: shapes[k] for k in self.inputs}

    def clip_settings(self) -> pipeline.ClipSettings:
        """The dataset pipeline's test settings of this model (one window at the training crop size)."""
        return pipeline.ClipSettings(
            mode="test", clip_len=self.clip_len, size=self.crop_size, t_p=self.t_p, stride=self.frame_stride,
            margin=self.crop_margin, jitter=0.0, sampling=self.sampling, pose_span=self.pose_span,
            pose_norm=self.pose_norm)

    def to_json(self) -> str:
        return json.dumps({"format": ONNX_FORMAT, **dataclasses.asdict(self)})

    @classmethod
    def from_json(cls, text: str, source: str) -> ModelSpec:
        try:
            d = json.loads(text)
            if d.pop("format", None) != ONNX_FORMAT:
                raise ValueError("not a vpnet model description")
            d["class_names"] = tuple(d["class_names"])
            d["outputs"] = tuple(d["outputs"])
            d["grid"] = tuple(d["grid"])
            if "pixel_range" in d:
                d["pixel_range"] = tuple(d["pixel_range"])
            spec = cls(**d)
        except (ValueError, TypeError, KeyError) as e:
            raise InferenceError(f"{source}: its vpnet metadata cannot be read ({e}); export it again with "
                                 "`vpnet export`") from None
        legacy_notice(source, [k for k in cls.LEGACY if k not in d])
        return spec


def legacy_notice(source: str, missing: list[str]) -> None:
    """The one-line notice for a model file written before ``missing`` fields were stored."""
    if missing:
        log.warning("%s: written before vpnet stored %s: predicting as before (%s); train or export it again to "
                    "store them", source, " and ".join(missing), "; ".join(ModelSpec.LEGACY[k] for k in missing))


def spec_of(model, cfg_model, data_cfg, class_names: list[str] | tuple[str, ...], *, amp: str = "none",
            legacy: tuple[str, ...] = ()) -> ModelSpec:
    """The :class:`ModelSpec` of a built :class:`~vpnet.models.VPNRecognizer` and its config sections
    (``legacy``: the :attr:`ModelSpec.LEGACY` fields the stored config predates, left at their old value)."""
    from vpnet.skeletons import get_layout

    outputs = ["logits"]
    if model.vpn is not None:
        outputs.append("a_s")
        if model.vpn.coupler.has_temporal:
            outputs.append("a_t")
    fields = {"pose_span": pipeline.resolve_pose_span(str(data_cfg.pose_span),
                                                      uses_video=cfg_model.variant != "pose_only"),
              "fps": float(data_cfg.fps)}
    from vpnet.data.registry import training_data

    trained_on, generated = training_data(data_cfg)
    return ModelSpec(
        variant=cfg_model.variant, skeleton=cfg_model.skeleton, num_joints=get_layout(cfg_model.skeleton).num_joints,
        clip_len=cfg_model.clip_len, crop_size=cfg_model.crop_size, t_p=cfg_model.t_p,
        frame_stride=int(data_cfg.frame_stride), crop_margin=float(data_cfg.crop_margin),
        class_names=tuple(class_names), outputs=tuple(outputs), grid=(model.m, model.n), t_c=model.t_c,
        pose_norm=str(data_cfg.pose_norm), sampling=str(data_cfg.sampling), amp=str(amp), trained_on=trained_on,
        generated=generated, **{k: v for k, v in fields.items() if k not in legacy})


# ---------------------------------------------------------------------------------------------
# results


@dataclass
class Window:
    """One scored window: frames ``start_frame``..``end_frame`` (inclusive)."""

    start_frame: int
    end_frame: int
    #: (T,) the clip's frames and (t_p,) the frames its poses come from.
    frames: np.ndarray
    pose_frames: np.ndarray
    #: (x0, y0, x1, y1) crop box in the video's pixels.
    box: np.ndarray
    #: (K,) softmax scores.
    scores: np.ndarray | None = None
    #: (m, n) spatial attention A_S and (t_c,) temporal attention A_T, where the model has them.
    a_s: np.ndarray | None = None
    a_t: np.ndarray | None = None
    #: (3, t_p, J) the normalised poses the model was given, where it takes poses.
    poses: np.ndarray | None = None
    #: the video's frame rate: the window's times in seconds are its frames over it.
    fps: float = 30.0

    @property
    def start_time(self) -> float:
        return self.start_frame / self.fps

    @property
    def end_time(self) -> float:
        return self.end_frame / self.fps

    def to_dict(self, classes: tuple[str, ...]) -> dict[str, Any]:
        k = int(self.scores.argmax())
        d = {"start_frame": self.start_frame, "end_frame": self.end_frame, "start_time": round(self.start_time, 4),
             "end_time": round(self.end_time, 4), "top_class": classes[k],
             "score": float(self.scores[k]), "scores": [round(float(s), 6) for s in self.scores],
             "box": [float(v) for v in self.box]}
        if self.a_s is not None:
            d["a_s"] = [[round(float(v), 6) for v in row] for row in self.a_s]
        if self.a_t is not None:
            d["a_t"] = [round(float(v), 6) for v in self.a_t]
        return d


@dataclass
class Prediction:
    """What :meth:`Recognizer.predict` returns; :meth:`to_dict` is the JSON of ``vpnet predict``."""

    classes: tuple[str, ...]
    #: (K,) whole-video scores: the mean (or max, see ``aggregation``) over windows of the softmax.
    scores: np.ndarray
    windows: list[Window]
    num_frames: int
    fps: float
    size: tuple[int, int]
    video: str = ""
    poses: str = ""
    #: notes on the input (pose gaps, frame count differences).
    notes: list[str] = field(default_factory=list)
    #: the NTU-25 (or the file's layout) poses used, for drawing.
    sequence: PoseSequence | None = None
    #: (T,) the main actor's body in each frame of ``sequence`` (-1: unseen).
    track: np.ndarray | None = None
    #: the frame rate the windows were cut at (the model's training rate; ``fps`` when not resampled).
    model_fps: float | None = None
    #: ``mean`` or ``max`` over windows (:data:`AGGREGATES`).
    aggregation: str = "mean"
    #: the model (zoo name or file) and what it was trained on; ``warning``: see :attr:`ModelSpec.warning`.
    model: str = ""
    trained_on: str = ""
    warning: str | None = None

    @property
    def top_index(self) -> int:
        return int(self.scores.argmax())

    @property
    def top_class(self) -> str:
        return self.classes[self.top_index]

    @property
    def top_score(self) -> float:
        return float(self.scores[self.top_index])

    def to_dict(self) -> dict[str, Any]:
        return {
            "video": self.video, "model": self.model, "trained_on": self.trained_on,
            **({"warning": self.warning} if self.warning else {}),
            "poses": self.poses, "top_class": self.top_class, "top_score": self.top_score,
            "classes": list(self.classes), "scores": [round(float(s), 6) for s in self.scores],
            "num_frames": self.num_frames, "fps": self.fps, "model_fps": self.model_fps,
            "resampled": self.model_fps is not None and self.model_fps != self.fps,
            "width": self.size[0], "height": self.size[1],
            "aggregation": f"{self.aggregation} over windows of the softmax", "notes": self.notes,
            "windows": [w.to_dict(self.classes) for w in self.windows],
        }


# ---------------------------------------------------------------------------------------------
# backends: (video, poses) numpy -> named numpy outputs


class TorchBackend:
    """A :class:`~vpnet.models.VPNRecognizer` (or a plain classifier: ``model(video) -> logits``, such as
    the Kinetics-400 I3D) in eval mode on ``device`` (CPU by default)."""

    def __init__(self, model, spec: ModelSpec, *, device: str = "cpu"):
        import torch

        from vpnet.models.vpn import InferenceModel, VPNRecognizer

        self.device = torch.device(device)
        net = InferenceModel(model) if isinstance(model, VPNRecognizer) else model
        self.net = net.to(self.device).eval()
        self.spec = spec

    def __call__(self, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        import torch

        amp = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(self.spec.amp)
        with torch.inference_mode(), torch.autocast(self.device.type, dtype=amp, enabled=amp is not None):
            args = [torch.from_numpy(np.ascontiguousarray(inputs[k])).to(self.device) for k in self.spec.inputs]
            outs = self.net(*args)
        outs = (outs,) if isinstance(outs, torch.Tensor) else outs
        return {name: o.float().cpu().numpy() for name, o in zip(self.spec.outputs, outs)}


#: the runtimes ``vpnet predict --backend`` chooses from: PyTorch (the reference; run folders, checkpoints, the
#: zoo) and two runtimes of exported ONNX files (``vpnet export``), measured on this project's CPUs in
#: ``benchmarks/RESULTS.md`` (section predict): OpenVINO is the fast one (int8 and bf16 3D convolutions),
#: onnxruntime runs fp32 files as fast as PyTorch but its int8 3D convolutions are slower than its fp32 ones.
BACKENDS = ("pytorch", "onnxruntime", "openvino")
#: how an ONNX file's numbers are computed (``--precision``): ``auto`` is the file's own (fp32, or int8 for a
#: file quantised by ``vpnet export --int8``); ``bf16`` (OpenVINO only) runs an fp32 file in bfloat16 where the
#: CPU has it (AMX, AVX512-BF16), else fp32.
PRECISIONS = ("auto", "fp32", "bf16")


class ExportedBackend:
    """What the runtimes of an exported ONNX file share: the file's vpnet metadata (its :class:`ModelSpec` and,
    for an int8 file, its ``quantization`` record), checked against the graph's inputs and outputs."""

    runtime = ""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        if not self.path.is_file():
            raise FileNotFoundError(f"ONNX model not found: {self.path}")
        self.quantization: dict[str, Any] | None = None

    def _read_meta(self, meta: Mapping[str, str] | None, inputs: dict[str, list], outputs: list[str],
                   num_logits: int | None) -> None:
        self._inputs = inputs
        if meta is None or "vpnet" not in meta:
            raise InferenceError(f"{self.path}: an ONNX model without vpnet's metadata (inputs "
                                 f"{self._describe_inputs()}); export the model with `vpnet export --format onnx`")
        self.spec = ModelSpec.from_json(meta["vpnet"], str(self.path))
        if "vpnet.quantization" in meta:
            self.quantization = json.loads(meta["vpnet.quantization"])
        want = self.spec.input_shapes()
        ok = set(inputs) == set(want) and all(
            len(inputs[k]) == len(v) and all(not isinstance(g, int) or g == w for g, w in zip(inputs[k][1:], v[1:]))
            for k, v in want.items())
        if not ok:
            expected = ", ".join(f"{k} (N, {', '.join(map(str, v[1:]))})" for k, v in want.items())
            raise InferenceError(f"{self.path}: model inputs are {self._describe_inputs()}, but its vpnet metadata "
                                 f"describes {expected}; export the model again with `vpnet export`")
        if tuple(outputs) != self.spec.outputs:
            raise InferenceError(f"{self.path}: model outputs are {outputs}, expected {list(self.spec.outputs)}; "
                                 "export the model again with `vpnet export`")
        from vpnet.spec_checks import check_spec

        check_spec(self.spec, str(self.path), num_logits=num_logits)

    def _describe_inputs(self) -> str:
        return ", ".join(f"{k} {v}" for k, v in self._inputs.items())

    @property
    def precision(self) -> str:
        """``int8`` (a quantised file), else the precision the runtime computes in."""
        return "int8" if self.quantization else "fp32"

    def _unreadable(self, e: Exception) -> InferenceError:
        first = (str(e).splitlines() or [""])[0][:200]
        return InferenceError(f"{self.path}: not an ONNX model {self.runtime} can load ({e.__class__.__name__}: "
                              f"{first}); export one with `vpnet export --format onnx`")


class OnnxBackend(ExportedBackend):
    """An exported ONNX model run by onnxruntime (CPU), all graph optimisations on (constant folding, node
    fusions, NCHWc layouts)."""

    runtime = "onnxruntime"

    def __init__(self, path: str | Path, *, threads: int = 0, precision: str = "auto"):
        from vpnet.extras import require

        ort = require("onnxruntime", extra="export", what="running ONNX models (--backend onnxruntime)")
        super().__init__(path)
        if precision == "bf16":
            raise InferenceError(f"{self.path}: onnxruntime has no bf16 CPU kernels; use --backend openvino for bf16")
        opts = ort.SessionOptions()
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        if threads:
            opts.intra_op_num_threads = threads
        try:
            self.session = ort.InferenceSession(str(self.path), opts, providers=["CPUExecutionProvider"])
        except Exception as e:  # onnxruntime raises its own exception types for unparsable files
            raise self._unreadable(e) from None
        logits = self.session.get_outputs()[0].shape  # (N, K): K fixed where the exporter knew it
        self._read_meta(self.session.get_modelmeta().custom_metadata_map,
                        {i.name: i.shape for i in self.session.get_inputs()},
                        [o.name for o in self.session.get_outputs()],
                        logits[-1] if logits and isinstance(logits[-1], int) else None)

    def __call__(self, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        feeds = {k: np.ascontiguousarray(inputs[k], dtype=np.float32) for k in self.spec.inputs}
        return dict(zip(self.spec.outputs, self.session.run(list(self.spec.outputs), feeds)))


class OpenVinoBackend(ExportedBackend):
    """An exported ONNX model compiled by OpenVINO for the CPU (the ``openvino`` extra), tuned for the latency
    of one window. ``precision``: ``auto`` and ``fp32`` compute an fp32 file in fp32 (OpenVINO itself would
    choose bf16 on CPUs with AMX), ``bf16`` in bfloat16; an int8 file runs its int8 convolutions."""

    runtime = "openvino"
    # OpenVINO's thread pool (TBB) lives on in the process: a process that forks afterwards (DataLoader
    # workers) crashed now and then in the test suite (SIGSEGV), which runs OpenVINO in child processes.

    def __init__(self, path: str | Path, *, threads: int = 0, precision: str = "auto"):
        from vpnet.extras import require

        ov = require("openvino", extra="openvino", what="running ONNX models with OpenVINO (--backend openvino)")
        super().__init__(path)
        core = ov.Core()
        try:
            model = core.read_model(str(self.path))
        except Exception as e:  # OpenVINO raises RuntimeError (and its own types) for unreadable files
            raise self._unreadable(e) from None
        meta = ({"vpnet": model.get_rt_info(["framework", "vpnet"]).astype(str)}
                if model.has_rt_info(["framework", "vpnet"]) else None)
        if meta is not None and model.has_rt_info(["framework", "vpnet.quantization"]):
            meta["vpnet.quantization"] = model.get_rt_info(["framework", "vpnet.quantization"]).astype(str)

        def dims(shape) -> list:
            return [d.get_length() if d.is_static else "N" for d in shape]

        logits = model.outputs[0].get_partial_shape()
        self._read_meta(meta, {i.get_any_name(): dims(i.get_partial_shape()) for i in model.inputs},
                        [o.get_any_name() for o in model.outputs],
                        logits[-1].get_length() if logits.rank.is_static and logits[-1].is_static else None)
        self._bf16 = precision == "bf16"
        config = {"PERFORMANCE_HINT": "LATENCY", "INFERENCE_PRECISION_HINT": "bf16" if self._bf16 else "f32"}
        if threads:
            config["INFERENCE_NUM_THREADS"] = threads
        self.compiled = core.compile_model(model, "CPU", config)
        self.request = self.compiled.create_infer_request()

    @property
    def precision(self) -> str:
        return "int8" if self.quantization else "bf16" if self._bf16 else "fp32"

    def __call__(self, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        feeds = {k: np.ascontiguousarray(inputs[k], dtype=np.float32) for k in self.spec.inputs}
        res = self.request.infer(feeds)
        return {name: np.array(res[self.compiled.output(name)]) for name in self.spec.outputs}


def open_exported(path: str | Path, *, backend: str = "onnxruntime", precision: str = "auto",
                  threads: int = 0) -> ExportedBackend:
    """The runtime ``backend`` (``onnxruntime`` or ``openvino``) on the exported file ``path``."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    if backend == "onnxruntime":
        return OnnxBackend(path, threads=threads, precision=precision)
    if backend == "openvino":
        return OpenVinoBackend(path, threads=threads, precision=precision)
    raise ValueError(f"an ONNX file runs on onnxruntime or openvino, not {backend!r}")


# ---------------------------------------------------------------------------------------------
# loading


def load_model(*, run: str | Path | None = None, checkpoint: str | Path | None = None):
    """(model in eval mode, its :class:`ModelSpec`) from a run folder (its final weights) or a
    weights/checkpoint file that carries its config (vpnet writes it into every weights file)."""
    from vpnet.engine.checkpoint import apply_state_dict, load_state_dict

    if (run is None) == (checkpoint is None):
        raise ValueError("give exactly one of run= or checkpoint=")
    if run is not None:
        from vpnet.engine.evaluate import find_weights

        run = Path(run)
        if not run.is_dir():
            raise FileNotFoundError(f"run folder not found: {run}")
        checkpoint = find_weights(run)
    checkpoint = Path(checkpoint)
    state, meta = load_state_dict(checkpoint)
    cfg_yaml = meta.get("config")
    if cfg_yaml is None and run is not None and (run / "config.yaml").is_file():
        cfg_yaml = (run / "config.yaml").read_text()
    if cfg_yaml is None:
        raise InferenceError(f"{checkpoint}: the file has no model config (not written by vpnet train?); use "
                             "--run with the run folder that holds its config.yaml")
    model_cfg, data_cfg, eval_amp, legacy = _sections(cfg_yaml, str(checkpoint))
    names = _class_names(meta, model_cfg.num_classes, str(checkpoint))
    from vpnet.models import build_recognizer

    model = build_recognizer(dataclasses.replace(model_cfg, backbone_weights=None), pose_stream=data_cfg.pose_stream)
    apply_state_dict(model, state, mode="exact", source=str(checkpoint))
    model.eval()
    legacy_notice(str(checkpoint), list(legacy))
    spec = spec_of(model, model_cfg, data_cfg, names, amp=eval_amp, legacy=legacy)
    from vpnet.spec_checks import check_spec

    check_spec(spec, str(checkpoint), num_logits=model_cfg.num_classes)  # a stored config edited by hand
    return model, spec


def _sections(cfg_yaml: str, source: str):
    import yaml
    from omegaconf import OmegaConf
    from omegaconf.errors import OmegaConfBaseException

    from vpnet.config import Config

    try:
        stored = OmegaConf.create(cfg_yaml)
        cfg = OmegaConf.to_object(OmegaConf.merge(OmegaConf.structured(Config), stored))
    except (OmegaConfBaseException, ValueError, TypeError, yaml.YAMLError) as e:  # a list, bad YAML: edited files
        raise InferenceError(f"{source}: its stored config cannot be read: {e}") from None
    # ``data.fps`` is the one input setting older configs lack (pose_span was stored, only not used).
    legacy = () if OmegaConf.select(stored, "data.fps") is not None else ("fps",)
    return cfg.model, cfg.data, cfg.eval.amp, legacy


def _class_names(meta: Mapping[str, str], num_classes: int, source: str = "") -> list[str]:
    """The file's class names (``class_<i>`` for a file without them); names that do not fit the model
    are an :class:`InferenceError` naming the file, never silently replaced."""
    if "class_names" not in meta:
        return [f"class_{i}" for i in range(num_classes)]
    try:
        names = json.loads(meta["class_names"])
    except ValueError:
        names = None
    if not isinstance(names, list) or len(names) != num_classes:
        got = f"{len(names)} names" if isinstance(names, list) else "no list of names"
        raise InferenceError(f"{source}: its class_names metadata holds {got} but the model scores {num_classes} "
                             "classes; write the file again with vpnet train or export")
    return [str(n) for n in names]


def load_recognizer(*, run: str | Path | None = None, checkpoint: str | Path | None = None,
                    onnx: str | Path | None = None, model: str | None = None, device: str = "cpu",
                    backend: str = "pytorch", precision: str = "auto") -> Recognizer:
    """A :class:`Recognizer` from at most one of a run folder, a weights/checkpoint file, an ONNX file or
    a model of the zoo by name (:mod:`vpnet.zoo`, ``vpnet weights list``); none: the zoo's default, the
    Kinetics-400 I3D (an RGB recognizer of 400 Kinetics classes, fetched and cached on first use).

    ``backend`` (:data:`BACKENDS`): the runtime of an ONNX file (onnxruntime unless ``openvino`` is asked
    for; int8 files are made by ``vpnet export --int8``); ``precision``: see :data:`PRECISIONS`. A PyTorch
    model goes onto an ONNX runtime with :func:`vpnet.export.on_backend` (exported once, cached)."""
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {', '.join(BACKENDS)}, got {backend!r}")
    given = sum(x is not None for x in (run, checkpoint, onnx, model))
    if given > 1:
        raise ValueError("give at most one of run=, checkpoint=, onnx= or model=")
    if onnx is not None:
        exported = open_exported(onnx, backend="onnxruntime" if backend == "pytorch" else backend,
                                 precision=precision)
        return Recognizer(exported, exported.spec, source=str(onnx))
    if given == 0 or model is not None:
        rec = load_zoo_model(model, device=device)
    else:
        net, spec = load_model(run=run, checkpoint=checkpoint)
        rec = Recognizer(TorchBackend(net, spec, device=device), spec, source=str(run or checkpoint))
    if backend != "pytorch":
        raise ValueError(f"backend={backend!r} runs ONNX files: give onnx=, or put this PyTorch model on it with "
                         "vpnet.export.on_backend(recognizer, backend)")
    return rec


def load_zoo_model(name: str | None = None, *, device: str = "cpu") -> Recognizer:
    """A :class:`Recognizer` of the model zoo's model ``name`` (:mod:`vpnet.zoo`; None: its default).

    ``fetch`` models are fetched, verified and cached on first use; ``build`` models must have been built
    (``vpnet weights build NAME``): an :class:`InferenceError` says how otherwise."""
    from vpnet import zoo

    entry = zoo.get_entry(name or zoo.default_name())
    if entry.kind == "build":
        run = zoo.built_run(entry.name)
        if not (run / "final.safetensors").is_file():
            raise InferenceError(f"{entry.name}: not built yet ({run} has no final.safetensors); build it with "
                                 f"`{entry.how}`")
        model, spec = load_model(run=run)
        spec = dataclasses.replace(spec, trained_on=entry.trained_on, generated=entry.generated)
        return Recognizer(TorchBackend(model, spec, device=device), spec, source=entry.name)
    from vpnet.models.registry import get_backbone
    from vpnet.models.weights import get_spec

    wspec = get_spec(entry.weights)
    net = get_backbone(wspec.arch).build(weights=wspec.name, num_classes=wspec.num_classes).eval()
    inp = entry.input
    spec = ModelSpec(variant="l1", skeleton="ntu25", num_joints=25, clip_len=int(inp["clip_len"]),
                     crop_size=int(inp["crop_size"]), t_p=1, frame_stride=int(inp.get("frame_stride", 1)),
                     crop_margin=0.0, class_names=tuple(wspec.categories), crop=str(inp.get("crop", "centre")),
                     trained_on=entry.trained_on, generated=entry.generated)
    return Recognizer(TorchBackend(net, spec, device=device), spec, source=entry.name)


# ---------------------------------------------------------------------------------------------
# poses from files


def read_pose_file(path: str | Path, *, image_size: tuple[int, int] | None = None) -> PoseSequence:
    """Poses from a file of any supported format, told apart by suffix and content: NTU ``.skeleton``,
    Smarthome / N-UCLA ``.json``, generic or MediaPipe ``.npz``/``.npy``."""
    p = Path(path)
    if not p.is_file():
        raise DataError(p, "pose file not found")
    suffix = p.suffix.lower()
    if suffix == ".skeleton":
        from vpnet.data import ntu

        return ntu.read_poses(p)
    if suffix == ".json":
        head = p.read_bytes()[:4096]
        if b'"skeletons"' in head:
            from vpnet.data import nucla

            return nucla.read_poses(p)
        from vpnet.data import smarthome

        return smarthome.read_poses(p)
    from vpnet.data import custom

    return custom.read_poses(p, image_size=image_size)


# ---------------------------------------------------------------------------------------------
# the recognizer


class Recognizer:
    """A model (PyTorch or ONNX) plus the video and pose handling of :meth:`predict`."""

    def __init__(self, backend: Callable[[Mapping[str, np.ndarray]], dict[str, np.ndarray]], spec: ModelSpec, *,
                 source: str = ""):
        if tuple(spec.pixel_range) != (-1.0, 1.0):  # the one range vpnet's models are trained on
            raise InferenceError(f"{source}: model input range {tuple(spec.pixel_range)} is not vpnet's [-1, 1]")
        self.backend = backend
        self.spec = spec
        self.source = source

    @property
    def class_names(self) -> tuple[str, ...]:
        return self.spec.class_names

    def check_layout(self, layout: str, origin: str) -> None:
        """Raise :class:`InferenceError` when poses of ``layout`` (from ``origin``) are not the model's skeleton."""
        if layout != self.spec.skeleton:
            raise InferenceError(
                f"{self.source}: this model was trained on {self.spec.skeleton} skeletons "
                f"({self.spec.num_joints} joints) but {origin} gives {layout} joints; use a model trained on "
                f"{layout} poses (model.skeleton={layout}) or give --poses a {self.spec.skeleton} file")

    def predict(self, video_or_frames: str | Path | np.ndarray | Iterable[np.ndarray],
                poses: str | Path | PoseSequence | None = None, *, fps: float | None = None,
                pose_fps: float | None = None, hop: int | None = None, pose_cache: str | Path | None = None,
                max_gap: int | None = None, aggregate: str = "mean", frame_poses: bool = False,
                progress: Callable[[str, int, int], None] | None = None) -> Prediction:
        """Score a video: a file, a frame folder, or (T, H, W, 3) uint8 RGB frames (array or list).

        Args:
            poses: a pose file (see :func:`read_pose_file`), a :class:`PoseSequence`, or None: MediaPipe
                on the video (needs the ``pose`` extra).
            fps: the video's frame rate: required for what does not store it (in-memory frames: default
                30), else it overrides what the file says.
            pose_fps: the frame rate of the poses given (default: the video's; frame i of the poses is
                frame i of the video).
            hop: frames between window starts at the model's frame rate (default: one window span).
            pose_cache: folder where extracted poses are cached, keyed by the video's content (a second call
                reuses them; ``vpnet predict`` uses :func:`vpnet.poses.default_cache_dir`).
            max_gap: longest run of frames without a person that is interpolated (default 15).
            aggregate: ``mean`` (default) or ``max`` over windows of the softmax (see the module docstring).
            frame_poses: extract the poses of every frame (for drawing them: ``--video-out``), cached in
                ``pose_cache``, in a first pass. Otherwise a video file whose poses are not cached is read in
                one pass (:meth:`stream`: MediaPipe on the frames the windows sample, decoding, poses and the
                model overlapped; nothing is cached, as the poses of the other frames are never computed).
            progress: ``progress(stage, done, total)``, stage ``poses`` or ``windows``.
        """
        from vpnet import poses as mp_poses

        if aggregate not in AGGREGATES:
            raise ValueError(f"aggregate must be one of {', '.join(AGGREGATES)}, got {aggregate!r}")
        is_file = isinstance(video_or_frames, (str, Path))
        frames_in_memory = None
        if not is_file:
            frames_in_memory = [np.asarray(f) for f in video_or_frames]
            if not frames_in_memory:
                raise DataError(None, "no frames given")
            bad = next((f for f in frames_in_memory if f.dtype != np.uint8 or f.ndim != 3 or f.shape[2] != 3), None)
            if bad is not None:
                raise ValueError(f"frames must be (H, W, 3) uint8 RGB, got {bad.shape} {bad.dtype}")
        what = str(video_or_frames) if is_file else "the frames"
        if is_file and poses is None and not frame_poses and Path(video_or_frames).is_file():
            from vpnet import poses as mp

            cached = pose_cache is not None and mp.cache_path(mp.content_key(video_or_frames), pose_cache).is_file()
            centre = self.spec.crop == "centre" and not self.spec.uses_poses
            if centre or not cached:  # cached poses of every frame are used as before
                if self.spec.uses_poses:
                    self.check_layout("ntu25", "MediaPipe (mapped onto NTU-25)")
                return self._predict_one_pass(video_or_frames, fps=fps, hop=hop, aggregate=aggregate,
                                              progress=progress)
        notes: list[str] = []
        if is_file:
            from vpnet.data.video import open_video

            src = open_video(video_or_frames)
            n_video, size, fps_v = src.num_frames, src.size, float(src.fps if fps is None else fps)
        else:
            n_video = len(frames_in_memory)
            size = (int(frames_in_memory[0].shape[1]), int(frames_in_memory[0].shape[0]))
            fps_v = float(30.0 if fps is None else fps)
        fps_v = self._checked_fps(fps_v, what, notes)
        # Poses: a file, a sequence, or MediaPipe on the video; none for a centre-crop RGB model.
        centre = self.spec.crop == "centre" and not self.spec.uses_poses
        seq = None
        if centre:
            pose_source = ""
        elif isinstance(poses, PoseSequence):
            seq, pose_source = poses, poses.source or "poses given"
        elif poses is not None:
            seq, pose_source = read_pose_file(poses, image_size=size), str(poses)
        else:
            if self.spec.uses_poses:  # before spending time on extraction
                self.check_layout("ntu25", "MediaPipe (mapped onto NTU-25)")
            cb = (lambda i: progress("poses", i + 1, n_video)) if progress else None
            gap = mp_poses.MAX_GAP if max_gap is None else max_gap
            if is_file:
                mpp = mp_poses.load_or_extract(video_or_frames, cache_dir=pose_cache, max_gap=gap, progress=cb,
                                               notes=notes)
            else:
                mpp = mp_poses.fill_gaps(mp_poses.extract_poses(frames_in_memory, fps=fps_v, progress=cb), max_gap=gap)
            notes += [f"no person in frames {a}-{b - 1}: the nearest pose is used" for a, b in mpp.missing]
            notes += [f"no person in frames {a}-{b - 1}: interpolated" for a, b in mpp.filled]
            seq, pose_source = mpp.to_sequence(), f"MediaPipe Pose {mp_poses.MEDIAPIPE_VERSION} (model_complexity=1)"
            pose_fps = None  # extracted from the video's own frames
        if self.spec.uses_poses:
            self.check_layout(seq.layout, pose_source)
        # Both onto the model's timeline (its training frame rate): the windows are cut there.
        fps_m = self._model_fps(fps_v)
        video_idx = clips.resample_index(n_video, fps_v, fps_m)
        if fps_m != fps_v:
            notes.append(f"resampled from {fps_v:g} to the model's {fps_m:g} fps by frame index: "
                         f"{len(video_idx)} of the video's {n_video} frames used")
        if centre:
            state = self._centre_steps(hop)({"video_frames": len(video_idx), "num_frames": len(video_idx),
                                             "frame_size": size, "notes": notes})
        else:
            seq = clips.take_frames(seq, clips.resample_index(seq.num_frames, float(pose_fps or fps_v), fps_m))
            state = pipeline.sample_steps(self.spec.clip_settings(), read=False, poses=self.spec.uses_poses,
                                          hop=hop, slide=True)({"seq": seq, "video_frames": len(video_idx),
                                                                "frame_size": size, "notes": notes})
            seq = state["seq"]
        notes = state["notes"]
        poses = state.get("poses", [None] * len(state["windows"]))
        windows = [Window(int(video_idx[w].min()), int(video_idx[w].max()), video_idx[w], video_idx[f], box,
                          poses=p, fps=fps_v)
                   for w, f, box, p in zip(state["windows"], state["pose_frames"], state["boxes"], poses)]
        total = len(windows)

        def score(k: int, crops: np.ndarray | None) -> None:
            feeds: dict[str, np.ndarray] = {}
            if windows[k].poses is not None:
                feeds["poses"] = windows[k].poses[None]
            if crops is not None:
                feeds["video"] = np.ascontiguousarray(clips.to_model_range(crops[None]))
            out = self.backend(feeds)
            logits = out["logits"][0].astype(np.float64)
            e = np.exp(logits - logits.max())
            windows[k].scores = (e / e.sum()).astype(np.float32)
            windows[k].a_s = out["a_s"][0] if "a_s" in out else None
            windows[k].a_t = out["a_t"][0] if "a_t" in out else None
            if progress:
                progress("windows", k + 1, total)

        if self.spec.uses_video:
            frames = mp_poses.iter_frames(video_or_frames if is_file else frames_in_memory)
            stream_windows(frames, windows, self.spec.crop_size, score)
        else:
            for k in range(total):
                score(k, None)
        stacked = np.stack([w.scores for w in windows])
        scores = stacked.mean(axis=0) if aggregate == "mean" else stacked.max(axis=0)
        # The video's own frames (for drawing): each shown with the model frame nearest in time.
        n = int(video_idx[state["num_frames"] - 1]) + 1
        nearest = np.minimum(np.floor(np.arange(n) * (fps_m / fps_v) + 0.5).astype(np.int64), state["num_frames"] - 1)
        return Prediction(classes=self.class_names, scores=scores, windows=windows, num_frames=n, fps=fps_v,
                          size=size, video=what if is_file else "", poses=pose_source, notes=notes,
                          sequence=None if seq is None else clips.take_frames(seq, nearest),
                          track=state["track"][nearest] if "track" in state else None, model_fps=fps_m,
                          aggregation=aggregate, model=self.source, trained_on=self.spec.trained_on,
                          warning=self.spec.warning)

    def stream(self, source: str | Path | Iterable[np.ndarray], *, fps: float | None = None,
               hop: int | None = None, num_frames: int | None = None, stall_timeout: float = 10.0,
               replay: bool = False, pose_extractor: Callable[[], Any] | None = None) -> Iterator[LiveWindow]:
        """Score windows as frames arrive: an iterator of :class:`vpnet.stream.LiveWindow`, one per window in
        order (``start_frame``, ``end_frame``, ``latency_s``, ``scores``; ``to_dict`` gives the JSON line of
        ``vpnet predict --live``). One decoding pass; decoding, poses (MediaPipe on the frames the windows
        sample) and the model run in overlapped threads (see :mod:`vpnet.stream`).

        Args:
            source: a video file, a frame folder, a camera device (``/dev/video0``), a stream URL PyAV opens,
                or an iterable of (H, W, 3) uint8 RGB frames (a generator: frames as they come).
            fps: the source's frame rate (default: what it says; 30 for frames in memory).
            hop: frames between window starts at the model's frame rate (default: one window span).
            num_frames: frames an iterable will give (then the windows are ``predict``'s, the last ending on
                the last frame, and fewer frames are an error); files declare theirs.
            stall_timeout: seconds without a new frame after which the source has stalled.
            replay: deliver a file's frames at its own frame rate, as a camera would.
            pose_extractor: a factory of pose extractors (default: MediaPipe's :class:`vpnet.poses.PoseExtractor`).

        Raises (after yielding every window completed before): :class:`vpnet.stream.StreamError` naming the
        source and what happened (stalled, ended early, decoding failed, resolution changed).
        """
        from vpnet import stream as live

        frames, what, fps_v, declared, _, _ = self._stream_source(source, fps=fps, num_frames=num_frames,
                                                              stall_timeout=stall_timeout, replay=replay)
        if self.spec.uses_poses and pose_extractor is None:
            self.check_layout("ntu25", "MediaPipe (mapped onto NTU-25)")
        yield from live.stream_windows(frames, spec=self.spec, backend=self.backend, source=what, fps=fps_v,
                                       model_fps=self._model_fps(fps_v), num_frames=declared, hop=hop,
                                       stall_timeout=stall_timeout, pose_extractor=pose_extractor)

    def _stream_source(self, source, *, fps: float | None, num_frames: int | None = None,
                       stall_timeout: float = 10.0, replay: bool = False):
        """(frames, name, frame rate, frame count or None, (width, height) or None, notes) of what :meth:`stream`
        reads."""
        from vpnet import stream as live

        if isinstance(source, (str, Path)):
            what = str(source)
            if Path(source).is_dir():  # a frame folder: read in order, 30 fps unless told
                from vpnet.data.video import open_video
                from vpnet.poses import iter_frames

                folder = open_video(source, fps=fps)
                frames, fps_src, declared, size = (iter_frames(source), float(folder.fps), folder.num_frames,
                                                   folder.size)
            else:
                frames, fps_src, declared, size = live.open_frames(source, stall_timeout=stall_timeout, pace=replay)
        else:
            what, frames, fps_src, declared, size = "the frames", source, 30.0, num_frames, None
        notes: list[str] = []
        fps_v = self._checked_fps(float(fps_src if fps is None else fps), what, notes)
        return frames, what, fps_v, declared, size, notes

    def _predict_one_pass(self, video: str | Path, *, fps: float | None, hop: int | None, aggregate: str,
                          progress: Callable[[str, int, int], None] | None) -> Prediction:
        """:meth:`predict` of a video file whose poses MediaPipe extracts: :meth:`stream`'s one decoding pass,
        MediaPipe on the frames the windows sample, the stages overlapped; the windows are ``predict``'s."""
        from vpnet import stream as live
        from vpnet.poses import MEDIAPIPE_VERSION

        frames, what, fps_v, declared, size, notes = self._stream_source(video, fps=fps)
        fps_m = self._model_fps(fps_v)
        n_model = len(clips.resample_index(declared, fps_v, fps_m))
        if fps_m != fps_v:
            notes.append(f"resampled from {fps_v:g} to the model's {fps_m:g} fps by frame index: "
                         f"{n_model} of the video's {declared} frames used")
        total = len(clips.sliding_windows(n_model, self.spec.clip_len, stride=self.spec.frame_stride, hop=hop,
                                          sampling=self.spec.sampling))
        windows: list[Window] = []
        for w in live.stream_windows(frames, spec=self.spec, backend=self.backend, source=what, fps=fps_v,
                                     model_fps=fps_m, num_frames=declared, hop=hop):
            if progress:
                progress("windows", w.index + 1, total)
            if w.scores is None:
                notes.append(f"frames {w.start_frame}-{w.end_frame}: {w.note}")
                continue
            windows.append(Window(w.start_frame, w.end_frame, w.frames, w.pose_frames, w.box, scores=w.scores,
                                  a_s=w.a_s, a_t=w.a_t, poses=w.poses, fps=fps_v))
        if not windows:
            raise DataError(video, f"no person found in the {total} windows' pose frames (MediaPipe Pose); is "
                                   "somebody fully in view?")
        stacked = np.stack([w.scores for w in windows])
        scores = stacked.mean(axis=0) if aggregate == "mean" else stacked.max(axis=0)
        centre = self.spec.crop == "centre" and not self.spec.uses_poses
        return Prediction(classes=self.class_names, scores=scores, windows=windows, num_frames=declared, fps=fps_v,
                          size=size, video=what, notes=notes, model_fps=fps_m, aggregation=aggregate,
                          poses="" if centre else f"MediaPipe Pose {MEDIAPIPE_VERSION} (model_complexity=1) on "
                                                  "the frames the windows sample",
                          model=self.source, trained_on=self.spec.trained_on, warning=self.spec.warning)

    def _checked_fps(self, fps: float, what: str, notes: list[str]) -> float:
        """``fps``, or where it is missing or absurd (not in :data:`FPS_RANGE`) the model's training rate,
        with a note saying so."""
        if np.isfinite(fps) and FPS_RANGE[0] <= fps <= FPS_RANGE[1]:
            return fps
        fallback = self.spec.fps or 30.0
        notes.append(f"{what}: frame rate {fps:g} is missing or absurd; taken as {fallback:g} fps (the model's "
                     "training rate); give the real one with --fps")
        log.warning("%s", notes[-1])
        return fallback

    def _model_fps(self, fps: float) -> float:
        """The frame rate the windows are cut at: the model's training rate, or the video's own when they are
        within 1 % (29.97 vs 30) or the model file predates stored rates."""
        m = self.spec.fps
        return fps if m is None or abs(fps / m - 1.0) <= 0.01 else float(m)

    def _centre_steps(self, hop: int | None) -> pipeline.Compose:
        """The sample steps of a centre-crop RGB model (no poses): windows sliding over the video's frames and
        the Kinetics centre crop; the frames are read by :func:`stream_windows`."""
        s = self.spec
        return pipeline.Compose([
            pipeline.SampleWindows(s.clip_len, s.frame_stride, how="slide", hop=hop, sampling=s.sampling),
            pipeline.SamplePoseFrames(s.clip_len, 1), pipeline.CentreBoxes(CENTRE_FRACTION)])


def stream_windows(frames: Iterable[np.ndarray], windows: list[Window], size: int,
                   on_window: Callable[[int, np.ndarray], None]) -> None:
    """Walk the frames once, crop each to the boxes of the windows that use it, and call
    ``on_window(k, crops (T, size, size, 3))`` as soon as window ``k`` has all its frames.

    Only the crops of unfinished windows are held.
    """
    uses: dict[int, list[tuple[int, np.ndarray]]] = {}
    last = {}
    for k, w in enumerate(windows):
        for f in np.unique(w.frames):
            uses.setdefault(int(f), []).append((k, np.flatnonzero(w.frames == f)))
        last.setdefault(int(w.frames.max()), []).append(k)
    buffers: dict[int, np.ndarray] = {}
    done = 0
    for i, frame in enumerate(frames):
        for k, pos in uses.get(i, ()):
            buf = buffers.get(k)
            if buf is None:
                buf = buffers[k] = np.empty((len(windows[k].frames), size, size, 3), dtype=np.uint8)
            buf[pos] = clips.crop_resize(frame[None], windows[k].box, size)[0]
        for k in last.get(i, ()):
            on_window(k, buffers.pop(k))
            done += 1
        if done == len(windows):
            return
    if done < len(windows):
        raise DataError(None, f"the video ended after {i + 1} frames, before the last window was complete "
                              "(truncated file?)")
