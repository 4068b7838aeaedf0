"""``vpnet predict``, ``vpnet export`` and ``vpnet pose install``: inference on your own videos."""

from __future__ import annotations

import json
from pathlib import Path
from typing import List, Optional

import typer

from vpnet._io import check_writable
from vpnet.cli._checks import check_at_least, check_device, check_outputs, check_suffix
from vpnet.cli._errors import user_errors

#: what --video-out writes (an MP4 container, H.264).
VIDEO_OUT_SUFFIXES = (".mp4", ".m4v", ".mov")


def _video_files(folder: Path) -> list[Path]:
    from vpnet.data.video import VIDEO_SUFFIXES

    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in VIDEO_SUFFIXES)


def predict_command(
    source: str = typer.Argument(..., metavar="VIDEO", help="A video file, a frame folder, or a folder of video "
                                 "files; with --live also a camera device (/dev/video0) or a stream URL."),
    run: Optional[Path] = typer.Option(None, "--run", "-r", help="Run folder (its final weights)."),
    checkpoint: Optional[Path] = typer.Option(None, "--checkpoint", help="Weights file written by vpnet train."),
    onnx: Optional[Path] = typer.Option(None, "--onnx", help="ONNX model written by vpnet export."),
    model: Optional[str] = typer.Option(
        None, "--model", "-m", help="A model of the zoo by name (`vpnet weights list`). Default, when no model "
        "option is given: kinetics400, the Kinetics-400 I3D (RGB, 400 classes, fetched on first use)."),
    aggregate: str = typer.Option(
        "mean", "--aggregate", help="Video score from the windows' softmax: mean (default; a distribution "
        "summing to 1) or max (the paper's test rule; per class, from different windows)."),
    out: Optional[Path] = typer.Option(
        None, "--out", "-o", help="Result JSON (a folder when VIDEO is a folder of videos). Default: "
        "VIDEO's name with .json, in the current folder."),
    poses: Optional[Path] = typer.Option(
        None, "--poses", help="Pose file instead of MediaPipe: NTU .skeleton, Smarthome/N-UCLA .json, .npz/.npy."),
    video_out: Optional[Path] = typer.Option(
        None, "--video-out", help="Annotated video (.mp4): label and score, A_ST heat map, skeleton. A folder "
        "when VIDEO is a folder of videos."),
    hop: Optional[int] = typer.Option(
        None, "--hop", help="Frames between window starts, at the model's frame rate (default: one window span)."),
    fps: Optional[float] = typer.Option(
        None, "--fps", help="The video's frame rate, when its file has none or a wrong one (frame folders: 30)."),
    poses_fps: Optional[float] = typer.Option(
        None, "--poses-fps", help="Frame rate of the --poses file (default: the video's; frame i is video frame i)."),
    max_gap: int = typer.Option(15, "--max-gap", help="Longest run of frames without a person that is interpolated."),
    device: str = typer.Option("cpu", "--device", help="torch device (PyTorch models)."),
    backend: Optional[str] = typer.Option(
        None, "--backend", help="Inference runtime: pytorch (the reference; default for --run, --checkpoint, "
        "--model), onnxruntime (default for --onnx) or openvino (the fastest on CPUs; the openvino extra). A "
        "PyTorch model on an ONNX runtime is exported once (fp32) and cached; int8 files: vpnet export --int8."),
    precision: str = typer.Option(
        "auto", "--precision", help="ONNX runtimes: auto (the file's: fp32, or int8 for an --int8 export), fp32, "
                                    "or bf16 (openvino, on CPUs with bfloat16)."),
    live: bool = typer.Option(
        False, "--live", help="Score windows as frames arrive from VIDEO (a file, a camera device such as "
        "/dev/video0, or a stream URL PyAV opens): one JSON line per window (start_frame, end_frame, latency_s, "
        "top_class, score, scores) to stdout or --out; Ctrl-C stops with everything so far written."),
    replay: bool = typer.Option(
        False, "--replay", help="--live on a file: deliver its frames at its own frame rate, as a camera would."),
    stall_timeout: float = typer.Option(
        10.0, "--stall-timeout", help="--live: seconds without a new frame after which the source counts as stalled."),
) -> None:
    """Recognise the activity in your own video(s): sliding windows over the whole video, per-window
    scores and the video's score (mean over windows of the softmax; --aggregate max for the paper's rule).
    Without a model option: the Kinetics-400 I3D of the model zoo (RGB only, no poses). VPN models take
    poses from MediaPipe (the pose extra: `vpnet pose install`) unless --poses is given, on the frames the
    windows sample, in one decoding pass overlapped with the model (--video-out extracts every frame's
    poses first and caches them in $VPNET_CACHE/poses, keyed by the video's content). --live scores
    windows as frames arrive (files, cameras, streams), one JSON line each. For a folder of videos,
    each VIDEO.EXT gives OUT/VIDEO.EXT.json (and VIDEO.EXT.mp4 under --video-out): the extension stays
    in the name, so that clip.avi and clip.mp4 get one result each."""
    from vpnet.data.types import DataError
    from vpnet.inference import AGGREGATES, BACKENDS, PRECISIONS

    video = Path(source)
    with user_errors():
        if backend is not None and backend not in BACKENDS:
            raise typer.BadParameter(f"--backend must be one of {', '.join(BACKENDS)}, got {backend!r}")
        if precision not in PRECISIONS:
            raise typer.BadParameter(f"--precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
        if backend == "pytorch" and onnx is not None:
            raise typer.BadParameter("--onnx files run on onnxruntime or openvino, not pytorch")
        if precision != "auto" and (backend or ("onnxruntime" if onnx else "pytorch")) == "pytorch":
            raise typer.BadParameter("--precision applies to ONNX runtimes (PyTorch models use their eval.amp)")
        if sum(x is not None for x in (run, checkpoint, onnx, model)) > 1:
            raise typer.BadParameter("give at most one of --run, --checkpoint, --onnx, --model")
        check_at_least("--hop", hop, 1)
        for name, value in (("--fps", fps), ("--poses-fps", poses_fps)):
            if value is not None and not 1 <= value <= 1000:
                raise typer.BadParameter(f"{name} must be a frame rate in [1, 1000], got {value:g}")
        if live:
            if any(x is not None for x in (poses, video_out, poses_fps)):
                raise typer.BadParameter("--live extracts poses as frames arrive: --poses, --poses-fps and "
                                         "--video-out are for whole files")
            if stall_timeout <= 0:
                raise typer.BadParameter(f"--stall-timeout must be > 0, got {stall_timeout:g}")
            return _live(source, out, run=run, checkpoint=checkpoint, onnx=onnx, model=model, device=device,
                         backend=backend, precision=precision, hop=hop, fps=fps, stall_timeout=stall_timeout,
                         replay=replay)
        if aggregate not in AGGREGATES:
            raise typer.BadParameter(f"--aggregate must be one of {', '.join(AGGREGATES)}, got {aggregate!r}")
        check_at_least("--max-gap", max_gap, 0)
        if not video.exists():
            raise DataError(video, "no such video file or folder")
        from vpnet.data.video import FRAME_SUFFIXES

        many = video.is_dir() and not any(p.suffix.lower() in FRAME_SUFFIXES for p in video.iterdir())
        if many:
            items = _video_files(video)
            if not items:
                raise DataError(video, "folder holds no video files (.mp4, .avi, .mkv, .mov, .webm, ...)")
            if poses is not None:
                raise typer.BadParameter("--poses takes one video, not a folder")
            out_dir = out or Path(video.name + "_predictions")
            jobs = [(v, out_dir / f"{v.name}.json", video_out / f"{v.name}.mp4" if video_out else None)
                    for v in items]
        else:
            jobs = [(video, out or Path(f"{video.stem}.json"), video_out)]
        for _, j, vo in jobs:
            check_writable(j, what="result JSON", folder=False)
            if vo is not None:
                check_writable(vo, what="annotated video", folder=False)
        from vpnet.poses import default_cache_dir

        check_outputs([item for _, j, vo in jobs for item in (("--out", j), ("--video-out", vo))],
                      inputs=[video, poses, checkpoint, onnx], runs=[run], caches=[default_cache_dir()])
        if not many:
            check_suffix("--out", out, (".json",))
            check_suffix("--video-out", video_out, VIDEO_OUT_SUFFIXES)
        if onnx is None:  # ONNX models run on onnxruntime's CPU provider
            check_device("--device", device)
        if poses is not None and not poses.is_file():
            raise DataError(poses, "pose file not found")
        rec = _recognizer(run=run, checkpoint=checkpoint, onnx=onnx, model=model, device=device, backend=backend,
                          precision=precision)
        if poses is not None and rec.spec.crop == "centre" and not rec.spec.uses_poses:
            raise typer.BadParameter(f"--poses: {rec.source} reads no poses (an RGB model on the whole frame); "
                                     "drop --poses, or give a VPN model (--run, --checkpoint, --onnx, --model)")
        if poses is None and rec.spec.uses_poses:
            from vpnet.poses import _mediapipe

            _mediapipe()  # the pose extra, before any work
        failed = []
        for v, json_out, vo in jobs:
            try:
                pred = _predict_one(rec, v, json_out, vo, poses=poses, hop=hop, max_gap=max_gap, fps=fps,
                                    pose_fps=poses_fps, aggregate=aggregate)
            except (DataError, ValueError, OSError) as e:
                if not many:
                    raise
                failed.append(v)
                typer.echo(f"skipped {v}: {e}", err=True)
                continue
            typer.echo(f"{v}: {pred.top_class} ({pred.top_score:.3f}), {len(pred.windows)} windows -> {json_out}"
                       + (f", {vo}" if vo else ""))
            if pred.warning:
                typer.echo(f"warning: {pred.warning}", err=True)
        if failed:
            typer.echo(f"{len(failed)} of {len(jobs)} videos failed (see above); the others are written", err=True)
            raise typer.Exit(1)


def _recognizer(*, run, checkpoint, onnx, model, device, backend, precision):
    """The model asked for on the runtime asked for (a PyTorch model on an ONNX runtime: exported once, cached)."""
    from vpnet.export import on_backend
    from vpnet.inference import load_recognizer

    if onnx is not None:
        return load_recognizer(onnx=onnx, backend=backend or "onnxruntime", precision=precision)
    rec = load_recognizer(run=run, checkpoint=checkpoint, model=model, device=device)
    return on_backend(rec, backend or "pytorch", precision=precision)


def _live(source: str, out: Path | None, *, run, checkpoint, onnx, model, device, backend, precision, hop, fps,
          stall_timeout, replay) -> None:
    """``predict --live``: one JSON line per window as it is scored; Ctrl-C stops with every line so far written;
    a source that stalls, ends early or changes resolution: the windows so far, then one error line."""
    import sys

    from vpnet.data.types import DataError
    from vpnet.stream import is_stream_url

    if not (is_stream_url(source) or source.startswith("/dev/") or Path(source).exists()):
        raise DataError(source, "no such video file, frame folder, device or stream URL")
    if out is not None:
        check_writable(out, what="result lines", folder=False)
        check_outputs({"--out": out}, inputs=[Path(source), checkpoint, onnx], runs=[run])
        check_suffix("--out", out, (".jsonl", ".json", ".ndjson"))
    if onnx is None:
        check_device("--device", device)
    rec = _recognizer(run=run, checkpoint=checkpoint, onnx=onnx, model=model, device=device, backend=backend,
                      precision=precision)
    if rec.spec.uses_poses:
        from vpnet.poses import _mediapipe

        _mediapipe()  # the pose extra, before any work
    sink = out.open("w") if out is not None else sys.stdout
    count = 0
    try:
        for window in rec.stream(source, fps=fps, hop=hop, stall_timeout=stall_timeout, replay=replay):
            sink.write(json.dumps(window.to_dict(rec.class_names)) + "\n")
            sink.flush()  # a line per window, as it is scored
            count += 1
    except KeyboardInterrupt:
        typer.echo(f"{source}: stopped by Ctrl-C after {count} windows, all written"
                   + (f" to {out}" if out else ""), err=True)
        raise typer.Exit(130) from None
    finally:
        if out is not None:
            sink.close()
    typer.echo(f"{source}: {count} windows" + (f" -> {out}" if out else ""), err=True)


def _predict_one(rec, video: Path, json_out: Path, video_out: Path | None, *, poses, hop, max_gap, aggregate,
                 fps=None, pose_fps=None):
    from vpnet._io import atomic_write_bytes
    from vpnet.poses import default_cache_dir

    pred = rec.predict(video, poses=poses, hop=hop, pose_cache=default_cache_dir(), max_gap=max_gap, fps=fps,
                       pose_fps=pose_fps, aggregate=aggregate, frame_poses=video_out is not None)
    doc = pred.to_dict()
    if video_out is not None:
        from vpnet.annotate import write_annotated_video

        write_annotated_video(pred, video, video_out)
        doc["video_out"] = str(video_out)
    atomic_write_bytes(json_out, (json.dumps(doc, indent=1) + "\n").encode())
    return pred


def export_command(
    run: Optional[Path] = typer.Option(None, "--run", "-r", help="Run folder (its final weights)."),
    checkpoint: Optional[Path] = typer.Option(None, "--checkpoint", help="Weights file written by vpnet train."),
    fmt: str = typer.Option("onnx", "--format", "-f", help="onnx (the one format: TorchScript, deprecated by "
                            "PyTorch, was dropped)."),
    out: Path = typer.Option(..., "--out", "-o", help="Output file (.onnx)."),
    model: Optional[str] = typer.Option(None, "--model", "-m", help="A model of the zoo by name instead."),
    int8: bool = typer.Option(False, "--int8", help="Quantise the convolutions to int8 (static; needs "
                              "--calibration). Runs fastest on --backend openvino."),
    calibration: Optional[Path] = typer.Option(
        None, "--calibration", help="--int8: clips to calibrate on: a manifest .csv (video, poses, label), a "
        "folder of videos (pose files of the same name beside them, else MediaPipe), one video, or a .npz of "
        "model inputs. A set that does not fit the model is refused."),
    calibration_windows: int = typer.Option(16, "--calibration-windows", help="--int8: windows calibrated on."),
) -> None:
    """Export a trained recognizer: clip + poses in, class logits and attention (A_S, A_T) out, plain
    tensors at the training input size, dynamic batch. ONNX opset 18 (the export extra). --int8 writes a
    statically quantised file that records its calibration clips."""
    with user_errors():
        if sum(x is not None for x in (run, checkpoint, model)) != 1:
            raise typer.BadParameter("give exactly one of --run, --checkpoint, --model")
        if int8 and calibration is None:
            raise typer.BadParameter("--int8 needs --calibration (a few clips the model's activations are "
                                     "measured on)")
        if calibration is not None and not int8:
            raise typer.BadParameter("--calibration is for --int8")
        check_at_least("--calibration-windows", calibration_windows, 1)
        if calibration is not None and not calibration.exists():
            raise FileNotFoundError(f"calibration set not found: {calibration}")
        if fmt != "onnx":
            raise typer.BadParameter(f"--format must be onnx, got {fmt!r} (TorchScript export was dropped: "
                                     "torch.jit is deprecated; vpnet predict --onnx runs the ONNX file)")
        check_writable(out, what="export", folder=False)
        check_outputs({"--out": out}, inputs=[checkpoint, calibration], runs=[run])
        check_suffix("--out", out, EXPORT_SUFFIXES[fmt])
        from vpnet.export import export_model

        path = export_model(out=out, fmt=fmt, run=run, checkpoint=checkpoint, model=model, int8=int8,
                            calibration=calibration, calibration_windows=calibration_windows)
    typer.echo(f"exported {fmt}{' (int8)' if int8 else ''}: {path}")


#: the file names each export format writes.
EXPORT_SUFFIXES = {"onnx": (".onnx",)}

pose_app = typer.Typer(help="MediaPipe pose extraction (the pose extra).", no_args_is_help=True)


@pose_app.command("install")
def pose_install_command(
    dry_run: bool = typer.Option(False, "--dry-run", help="Print the pip commands only."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Pass -q to pip."),
) -> None:
    """Install MediaPipe 0.10.21 (numpy-2 build, without the jax/opencv-contrib it declares but pose does
    not use) and its light dependencies into this Python."""
    import subprocess

    from vpnet.poses import install_command

    for cmd in install_command():
        cmd = [*cmd[:4], "-q", *cmd[4:]] if quiet else cmd
        typer.echo(" ".join(cmd))
        if not dry_run:
            if subprocess.run(cmd).returncode != 0:
                typer.echo("error: pip failed (see above)", err=True)
                raise typer.Exit(1)


@pose_app.command("extract")
def pose_extract_command(
    videos: List[Path] = typer.Argument(..., help="Video files or frame folders (any number: one process)."),
    out: Path = typer.Option(..., "--out", "-o", help="Output .npz for one video; a folder for several "
                             "(<name>.npz each; <name.ext>.npz where two names differ only by suffix)."),
) -> None:
    """Run MediaPipe Pose on videos and save the landmarks (MediaPipe 'world' and 'image', (T, 33, 4)),
    read by --poses, custom manifests and data.pose_dir. Many videos run in one process (MediaPipe
    starts once) with a progress bar; a video that cannot be used is reported and the others go on
    (exit code 1 then)."""
    from vpnet.cli._errors import EXIT_ITEMS_FAILED

    with user_errors():
        from vpnet.data.types import DataError
        from vpnet.poses import extract_many

        missing = [v for v in videos if not v.exists()]
        if missing:
            raise DataError(missing[0], "no such video file or frame folder")
        if len(videos) == 1:  # one video: --out is its .npz, and a failure is the command's error
            jobs = [(videos[0], out)]
            check_writable(out, what="pose file", folder=False)
        else:
            stems = [v.stem for v in videos]
            jobs = [(v, out / (f"{v.stem}.npz" if stems.count(v.stem) == 1 else f"{v.name}.npz")) for v in videos]
            check_writable(out, what="pose folder")
        check_outputs({"--out": out}, inputs=list(videos))
        if len(jobs) == 1:
            check_suffix("--out", out, (".npz",))
        failed = extract_many(jobs, progress=len(jobs) > 1, desc="poses")
        if len(jobs) == 1 and failed:
            raise DataError(videos[0], failed[str(videos[0])])
    for video, path in jobs:
        if str(video) in failed:
            typer.echo(f"skipped {video}: {failed[str(video)]}", err=True)
        else:
            typer.echo(f"{video} -> {path}")
    if failed:
        typer.echo(f"{len(failed)} of {len(jobs)} videos failed (see above); the others are written", err=True)
        raise typer.Exit(EXIT_ITEMS_FAILED)
