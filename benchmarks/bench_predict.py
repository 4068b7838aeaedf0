"""Inference on your own video: backends, stages, end-to-end real-time factor and live latency.

All rows of one run come from the same machine, in this order:

1. **Stages** on the video (default: the real 1080p NTU sample, 103 frames at 30 fps), frames/s: decoding
   (PyAV, frame+slice threads, to YUV as the stream engine holds frames, and to RGB), MediaPipe Pose
   0.10.21 on every frame and on the frames the windows sample only (video frames per second of
   MediaPipe work), and the model (video frames per second of model work with the windows of that video).
2. **Backends** at the paper's size (VPN-I3D ``l3``, 64 frames of 224x224, t_p = 20; Kinetics-400 I3D
   weights where cached, a random head) and the demo's (32 frames of 128x128): PyTorch fp32 (the
   reference), onnxruntime fp32 and int8, OpenVINO fp32, int8 and bf16. ``model s/window``: median of
   ``--repeats`` forward passes of one window; ``real-time factor``: seconds of video per second of
   ``Recognizer.predict`` wall time, poses extracted (nothing cached), the one-pass engine
   (:mod:`vpnet.stream`), median of ``--repeats``.
3. **Live** (``--live-minutes``): ``Recognizer.stream`` on the video replayed at its native frame rate,
   looped, decoded afresh each pass: latency from a window's last frame arriving to its result (median,
   95th percentile), windows expected vs reported, peak RSS and RSS each minute (flat or not).
4. **Accuracy** (``--demo DIR``, a ``vpnet demo`` output folder): int8 vs fp32 top-class agreement over
   the windows of the demo's test videos (performers outside NTU's cross-subject training list), int8
   calibrated on training videos; and the Kinetics-400 I3D's top-5 on the real UCF101 clip through
   each backend (the demo's check), int8 calibrated on the NTU sample (another dataset).

Run: ``.venv/bin/python benchmarks/bench_predict.py [--video PATH] [--demo DIR] [--live-minutes 1]``; the
10-minute soak alone: ``--only live --live-minutes 10 --live-size demo``. Writes the ``predict`` section
of RESULTS.md from everything measured so far (``benchmarks/results/predict_details.json``, which later runs
update) and ``benchmarks/results/predict.json``, exactly ``{"machine", "paper_size": {"<backend>-<precision>":
{"realtime_factor", "model_s_per_window"}}, "live": {"latency_median_s", "latency_p95_s", "windows_dropped",
"peak_rss_mb"}}`` (live: the 10-minute replay where there is one).
Needs the pose, export and openvino extras.
"""

from __future__ import annotations

import argparse
import csv
import json
import resource
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).parent))
from _results import machine, write_section  # noqa: E402
from vpnet.config import DataConfig, ModelConfig  # noqa: E402
from vpnet.data import clips  # noqa: E402
from vpnet.export import cached_export, calibration_feeds, quantize_int8  # noqa: E402
from vpnet.inference import Recognizer, TorchBackend, load_recognizer, open_exported, spec_of  # noqa: E402
from vpnet.models import build_recognizer  # noqa: E402

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
VIDEO = SHARED / "ntu" / "S001C001P001R001A001_rgb.avi"
UCF = SHARED / "kinetics" / "ucf101_applyeyemakeup.avi"
JSON_OUT = Path(__file__).resolve().parent / "results" / "predict.json"
#: everything measured (the demo size, stages, both live runs, accuracy), which the RESULTS section is made from.
DETAILS_OUT = JSON_OUT.with_name("predict_details.json")
SIZES = {"paper_size": (64, 224), "demo_size": (32, 128)}
#: (backend, precision, ONNX file kind); the fast backend is OpenVINO (see RESULTS.md).
CONFIGS = [("pytorch", "fp32", None), ("onnxruntime", "fp32", "fp32"), ("onnxruntime", "int8", "int8"),
           ("openvino", "fp32", "fp32"), ("openvino", "int8", "int8"), ("openvino", "bf16", "fp32")]
FAST = "openvino-int8"


def vpn(clip_len: int, crop: int) -> Recognizer:
    """A VPN-I3D (l3) of that size; the Kinetics I3D backbone where its weights are cached (real
    activations for int8 calibration), else random (speed does not depend on weights)."""
    from vpnet.models.weights.fetch import cached_path

    torch.manual_seed(0)
    weights = "kinetics400" if cached_path("kinetics400").is_file() else None
    cfg = ModelConfig(variant="l3", num_classes=60, clip_len=clip_len, crop_size=crop, t_p=20,
                      backbone_weights=weights)
    model = build_recognizer(cfg).eval()
    spec = spec_of(model, cfg, DataConfig(), [f"c{i}" for i in range(60)])
    return Recognizer(TorchBackend(model, spec), spec, source=f"VPN-I3D l3 {clip_len}x{crop}")


def exported(rec: Recognizer, folder: Path, calibration: Path, windows: int = 4) -> dict[str, Path]:
    """fp32 and int8 ONNX files of ``rec`` (int8 calibrated on ``windows`` windows of ``calibration``)."""
    fp32 = cached_export(rec.backend.net, rec.spec, folder=folder)
    feeds, sources = calibration_feeds(rec, calibration, max_windows=windows)
    int8 = fp32.with_suffix(".int8.onnx")
    int8.write_bytes(quantize_int8(fp32.read_bytes(), feeds, sources=sources))
    return {"fp32": fp32, "int8": int8}


def backend_of(rec: Recognizer, files: dict, backend: str, precision: str, kind: str | None) -> Recognizer:
    if backend == "pytorch":
        return rec
    e = open_exported(files[kind], backend=backend, precision="bf16" if precision == "bf16" else "auto", threads=2)
    return Recognizer(e, rec.spec, source=rec.source)


def model_seconds(rec: Recognizer, repeats: int) -> float:
    rng = np.random.default_rng(0)
    feeds = {k: rng.uniform(-1, 1, shape).astype(np.float32) for k, shape in rec.spec.input_shapes().items()}
    rec.backend(feeds)
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        rec.backend(feeds)
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def end_to_end(rec: Recognizer, video: Path, repeats: int) -> tuple[float, int]:
    """(median wall seconds of predict, windows)."""
    times, n = [], 0
    for _ in range(repeats):
        t = time.perf_counter()
        pred = rec.predict(video)
        times.append(time.perf_counter() - t)
        n = len(pred.windows)
    return statistics.median(times), n


def stages(video: Path, rec: Recognizer, repeats: int) -> dict:
    from vpnet.poses import PoseExtractor, iter_frames
    from vpnet.stream import open_frames

    def rate(fn) -> float:
        out = []
        for _ in range(repeats):
            t = time.perf_counter()
            n = fn()
            out.append(n / (time.perf_counter() - t))
        return statistics.median(out)

    frames = [f.rgb() for f in open_frames(video)[0]]
    n = len(frames)
    fps = float(open_frames(video)[1])
    n_model = len(clips.resample_index(n, fps, rec.spec.fps or fps))
    windows = clips.sliding_windows(n_model, rec.spec.clip_len, stride=rec.spec.frame_stride)
    sampled = sorted({int(f) for w in windows for f in w[clips.pose_positions(rec.spec.clip_len, rec.spec.t_p)]})

    def poses(which) -> int:
        with PoseExtractor() as ex:
            for i in which:
                ex.process(frames[i])
        return n

    return {"frames": n, "fps": fps, "windows": len(windows), "sampled_pose_frames": len(sampled),
            "decode_yuv": rate(lambda: sum(1 for _ in open_frames(video)[0])),
            "decode_rgb": rate(lambda: sum(1 for _ in iter_frames(video))),
            "poses_every_frame": rate(lambda: poses(range(n))),
            "poses_sampled": rate(lambda: poses(sampled))}


def sizes_rows(video: Path, repeats: int, work: Path) -> tuple[dict, dict, list[str]]:
    duration_of = {}
    results: dict = {}
    stage_rows: dict = {}
    notes = []
    for size_name, (clip_len, crop) in SIZES.items():
        ref = vpn(clip_len, crop)
        files = exported(ref, work / size_name, video)
        st = stages(video, ref, repeats) if size_name == "paper_size" else None
        if st:
            stage_rows.update(st)
        duration_of[size_name] = None
        results[size_name] = {}
        for backend, precision, kind in CONFIGS:
            rec = backend_of(ref, files, backend, precision, kind)
            rec.predict(video)  # warm-up: MediaPipe's import and model load, the runtime's first call
            model_s = model_seconds(rec, repeats)
            wall, windows = end_to_end(rec, video, repeats)
            from vpnet.data.video import open_video

            src = open_video(video)
            duration = src.num_frames / src.fps
            results[size_name][f"{backend}-{precision}"] = {
                "realtime_factor": round(duration / wall, 3), "model_s_per_window": round(model_s, 4),
                "predict_s": round(wall, 3), "windows": windows, "video_s": round(duration, 3)}
            print(size_name, backend, precision, results[size_name][f"{backend}-{precision}"], flush=True)
    return results, stage_rows, notes


def steady(video: Path, loops: int, work: Path) -> dict:
    """The paper-size model on the fast backend over the video looped ``loops`` times (decoded afresh each
    pass, not paced): the real-time factor of a long input, windows at the training stride, no start-up."""
    from vpnet.stream import open_frames

    ref = vpn(*SIZES["paper_size"])
    files = exported(ref, work / "steady", video)
    rec = backend_of(ref, files, "openvino", "int8", "int8")
    fps = open_frames(video)[1]
    n = [0]

    def frames():
        for _ in range(loops):
            for f in open_frames(video)[0]:
                n[0] += 1
                yield f

    total = loops * open_frames(video)[2]
    list(rec.stream(frames(), fps=fps, num_frames=total))  # warm-up
    n[0] = 0
    t = time.perf_counter()
    windows = sum(1 for _ in rec.stream(frames(), fps=fps, num_frames=total))  # predict's windows
    wall = time.perf_counter() - t
    return {"backend": FAST, "frames": n[0], "windows": windows, "wall_s": round(wall, 3),
            "realtime_factor": round(n[0] / fps / wall, 3)}


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def live(video: Path, minutes: float, size: str, work: Path) -> dict:
    """The video replayed at its frame rate, looped for ``minutes``, through the fast backend."""
    from vpnet.stream import open_frames

    clip_len, crop = SIZES[size]
    ref = vpn(clip_len, crop)
    files = exported(ref, work / f"live-{size}", video)
    rec = backend_of(ref, files, "openvino", "int8", "int8")
    _, fps, n_file, _ = open_frames(video)
    total = int(minutes * 60 * fps)
    arrivals: list[float] = []

    def replay():
        t0, k = time.monotonic(), 0
        while k < total:
            for frame in open_frames(video)[0]:  # decoded afresh each pass, as a camera delivers them
                wait = t0 + k / fps - time.monotonic()
                if wait > 0:
                    time.sleep(wait)
                yield frame
                k += 1
                if k == total:
                    return

    samples: list[tuple[float, float]] = []
    stop = threading.Event()

    def sample():
        t0 = time.monotonic()
        while not stop.wait(10.0):
            samples.append((time.monotonic() - t0, rss_mb()))

    sampler = threading.Thread(target=sample, daemon=True)
    rss_start = rss_mb()  # the model loaded (and, before it, exported and calibrated in this process)
    sampler.start()
    latencies, reported = [], 0
    t = time.perf_counter()
    for w in rec.stream(replay(), fps=fps):
        latencies.append(w.latency_s)
        reported += 1
    wall = time.perf_counter() - t
    stop.set()
    span = (rec.spec.clip_len - 1) * rec.spec.frame_stride + 1
    expected = (total - span) // span + 1
    del arrivals
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    per_minute = [round(m, 1) for s, m in samples if int(s) % 60 < 10]  # sampled every 10 s: one a minute
    streaming = [m for _, m in samples] or [rss_mb()]
    return {"size": size, "backend": FAST, "minutes": minutes, "frames": total, "fps": fps,
            "window_s": round(span / fps, 3), "windows_expected": expected, "windows_reported": reported,
            "windows_dropped": expected - reported,
            "latency_median_s": round(float(np.median(latencies)), 4),
            "latency_p95_s": round(float(np.percentile(latencies, 95)), 4),
            "latency_max_s": round(float(np.max(latencies)), 4), "peak_rss_mb": round(max(streaming), 1),
            "rss_before_stream_mb": round(rss_start, 1), "process_max_rss_mb": round(peak, 1),
            "rss_mb_each_minute": per_minute, "wall_s": round(wall, 1)}


def demo_agreement(demo: Path, work: Path) -> dict:
    """int8 vs fp32 top class over the windows of the demo's test videos (hop 4), int8 calibrated on
    training videos; the demo's l3 run on OpenVINO and onnxruntime."""
    from vpnet.data.ntu import CS_TRAIN_PERFORMERS_60
    from vpnet.export import export_model

    run = demo / "runs" / "l3-seed0"
    data = next((demo / "cache").glob("adl-*"))
    videos = sorted((data / "nturgb+d_rgb").glob("*.avi"))
    performer = {v: int(v.name[9:12]) for v in videos}
    train = [v for v in videos if performer[v] in CS_TRAIN_PERFORMERS_60]
    test = [v for v in videos if performer[v] not in CS_TRAIN_PERFORMERS_60]
    skeleton = {v: data / "nturgb+d_skeletons" / v.name.replace("_rgb.avi", ".skeleton") for v in videos}
    manifest = work / "calibration.csv"
    with manifest.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["video", "poses"])
        w.writerows([[str(v), str(skeleton[v])] for v in train])
    fp32 = export_model(out=work / "demo_fp32.onnx", fmt="onnx", run=run)
    int8 = export_model(out=work / "demo_int8.onnx", fmt="onnx", run=run, int8=True, calibration=manifest)
    out = {"run": str(run), "test_videos": len(test), "calibration_videos": len(train)}
    ref = load_recognizer(run=run)
    for backend in ("openvino", "onnxruntime"):
        a = load_recognizer(onnx=fp32, backend=backend)
        b = load_recognizer(onnx=int8, backend=backend)
        same = total = same_ref = 0
        for v in test:
            pa, pb = (r.predict(v, poses=skeleton[v], hop=4) for r in (a, b))
            pr = ref.predict(v, poses=skeleton[v], hop=4) if backend == "openvino" else None
            for k, (wa, wb) in enumerate(zip(pa.windows, pb.windows)):
                same += int(wa.scores.argmax() == wb.scores.argmax())
                if pr is not None:
                    same_ref += int(wa.scores.argmax() == pr.windows[k].scores.argmax())
                total += 1
        out[backend] = {"windows": total, "int8_vs_fp32_top1_agreement": round(same / total, 4)}
        if backend == "openvino":
            out[backend]["fp32_vs_pytorch_top1_agreement"] = round(same_ref / total, 4)
        print("agreement", backend, out[backend], flush=True)
    return out


def kinetics_top5(work: Path) -> dict:
    """The Kinetics-400 I3D's top-5 on the real UCF101 clip through each backend (as the demo checks it)."""
    from vpnet.export import export_model

    ref = load_recognizer(model="kinetics400")
    fp32 = cached_export(ref.backend.net, ref.spec, folder=work / "k400")
    int8 = export_model(out=work / "k400_int8.onnx", fmt="onnx", model="kinetics400", int8=True,
                        calibration=VIDEO, calibration_windows=4)
    from vpnet.data.transforms import kinetics_preprocess
    from vpnet.data.video import open_video

    video = open_video(UCF)  # the demo's check: the middle 64 frames, Kinetics preprocessing, one clip
    first = (video.num_frames - 64) // 2
    x = kinetics_preprocess(video.read(np.arange(first, first + 64))).numpy()
    out = {}
    for name, rec in [("pytorch-fp32", ref), ("onnxruntime-fp32", load_recognizer(onnx=fp32)),
                      ("openvino-fp32", load_recognizer(onnx=fp32, backend="openvino")),
                      ("openvino-bf16", load_recognizer(onnx=fp32, backend="openvino", precision="bf16")),
                      ("onnxruntime-int8", load_recognizer(onnx=int8)),
                      ("openvino-int8", load_recognizer(onnx=int8, backend="openvino"))]:
        logits = rec.backend({"video": x})["logits"][0].astype(np.float64)
        probs = np.exp(logits - logits.max())
        probs /= probs.sum()
        top = np.argsort(-probs)[:5]
        out[name] = [[rec.class_names[i], round(float(probs[i]), 4)] for i in top]
        print("kinetics", name, out[name], flush=True)
    return out


def table(results: dict) -> str:
    rows = ["| backend | model s/window (paper) | real-time factor (paper) | model s/window (demo) | "
            "real-time factor (demo) |", "|---|---|---|---|---|"]
    for key in results["paper_size"]:
        p, d = results["paper_size"][key], results["demo_size"][key]
        bold = "**" if key == FAST else ""
        rows.append(f"| {bold}{key}{bold} | {p['model_s_per_window']:.3f} | {bold}{p['realtime_factor']:.2f}x{bold} | "
                    f"{d['model_s_per_window']:.3f} | {d['realtime_factor']:.2f}x |")
    return "\n".join(rows)


def summary(doc: dict) -> dict:
    """``predict.json``: the issue's structure exactly (the live figures: the 10-minute replay where there is one)."""
    live = doc.get("live_soak") or doc.get("live") or {}
    return {"machine": doc.get("machine"),
            "paper_size": {k: {"realtime_factor": v["realtime_factor"], "model_s_per_window": v["model_s_per_window"]}
                           for k, v in doc.get("paper_size", {}).items()},
            "live": {k: live.get(k) for k in ("latency_median_s", "latency_p95_s", "windows_dropped", "peak_rss_mb")}}


def section(doc: dict) -> str:
    """The ``predict`` section of RESULTS.md from everything ``predict.json`` holds."""
    parts = [f"Script: `benchmarks/bench_predict.py` (median of the runs it names; torch and the ONNX runtimes on 2 "
             "threads; run under the team's CPU lock: no other benchmark ran, short unlocked tests may have). "
             f"Video: `{doc.get('video', '?')}`."]
    st = doc.get("stages")
    if st:
        paper = doc["paper_size"]
        model_fps = {k: st["frames"] / (st["windows"] * v["model_s_per_window"]) for k, v in paper.items()}
        secs = st['frames'] / st['fps']
        parts.append(f"""**Stages** ({st['frames']} frames = {secs:.2f} s of video, {st['windows']} paper-size windows;
video frames per second of each stage's work):

| stage | frames/s |
|---|---|
| decoding, PyAV frame+slice threads, to YUV 4:2:0 (what the stream engine holds) | {st['decode_yuv']:.1f} |
| decoding to RGB (the old path) | {st['decode_rgb']:.1f} |
| MediaPipe Pose on every frame (the old path) | {st['poses_every_frame']:.1f} |
| MediaPipe Pose on the {st['sampled_pose_frames']} frames the windows sample (stream) | {st['poses_sampled']:.1f} |
| model, PyTorch fp32 | {model_fps['pytorch-fp32']:.1f} |
| model, {FAST} | {model_fps[FAST]:.1f} |
""")
    if "paper_size" in doc and "demo_size" in doc:
        parts.append("**Backends**: `model s/window` is one forward pass of one window; `real-time factor` is "
                     "seconds of video per second of `Recognizer.predict` (poses extracted by MediaPipe, nothing "
                     "cached, one decoding pass, stages overlapped; > 1 is faster than real time). Paper size: "
                     "VPN-I3D l3, 64x224x224, t_p = 20; demo size: 32x128x128.\n\n" + table(doc))
    lg = doc.get("paper_size_long")
    if lg:
        parts.append(f"""**Long input** (the video looped to {lg['frames']} frames, decoded afresh each pass, not
paced; paper size on {lg['backend']}, windows at the training stride 2): {lg['windows']} windows in
{lg['wall_s']:.2f} s, real-time factor **{lg['realtime_factor']:.2f}x** (no start-up, no short-clip windows
at stride 1; `--only long`).""")
    for key in ("live", "live_soak"):
        lv = doc.get(key)
        if lv:
            parts.append(f"""**Live mode**: `Recognizer.stream` on the video replayed at {lv['fps']:g} fps, looped
for {lv['minutes']:g} min ({lv['frames']} frames, decoded afresh each pass), {lv['size'].replace('_', ' ')} model on
{lv['backend']}; a window spans {lv['window_s']} s. Latency from the arrival of a window's last frame to its
result: median **{lv['latency_median_s']:.3f} s**, 95th percentile {lv['latency_p95_s']:.3f} s, max
{lv['latency_max_s']:.3f} s. Windows: {lv['windows_reported']} reported of {lv['windows_expected']} expected
({lv['windows_dropped']} dropped). RSS while streaming: peak {lv['peak_rss_mb']:.0f} MB (before the stream
{lv.get('rss_before_stream_mb', float('nan')):.0f} MB; the process's maximum, the model's export and calibration
included, {lv.get('process_max_rss_mb', float('nan')):.0f} MB)""" + (
                f"; each minute (MB): {lv['rss_mb_each_minute']}." if lv["rss_mb_each_minute"] else "."))
    ag = doc.get("int8_agreement")
    if ag:
        ov = ag['openvino']
        parts.append(f"""**int8 vs fp32** on the demo's test videos ({ag['test_videos']} videos, windows every 4 frames;
int8 calibrated on the {ag['calibration_videos']} training videos): OpenVINO {ov['int8_vs_fp32_top1_agreement']:.1%}
of {ov['windows']} windows agree on the top class, onnxruntime
{ag['onnxruntime']['int8_vs_fp32_top1_agreement']:.1%}; OpenVINO fp32 vs PyTorch
{ag['openvino']['fp32_vs_pytorch_top1_agreement']:.1%}. The l3 run of `vpnet demo --size tiny --no-kinetics`
(`--demo`: {ag['run']}).""")
    k5 = doc.get("kinetics_top5")
    if k5:
        rows = ["| backend | top-5 on ucf101_applyeyemakeup.avi |", "|---|---|"]
        rows += [f"| {k} | {', '.join(f'{c} {p:.3f}' for c, p in v)} |" for k, v in k5.items()]
        parts.append("**Kinetics-400 I3D**, the demo's check (the middle 64 frames of the real UCF101 clip, Kinetics "
                     "preprocessing, one clip) through each backend; int8 calibrated on 4 windows of the NTU sample "
                     "(another dataset):\n\n"
                     + "\n".join(rows))
    return "\n\n".join(parts) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--video", type=Path, default=VIDEO)
    ap.add_argument("--demo", type=Path, help="a `vpnet demo` output folder (int8 agreement rows)")
    ap.add_argument("--live-minutes", type=float, default=1.0)
    ap.add_argument("--live-size", choices=sorted(SIZES), default="paper_size")
    ap.add_argument("--only", choices=["all", "speed", "long", "live", "accuracy"], default="all")
    args = ap.parse_args()
    torch.set_num_threads(2)
    doc = json.loads(DETAILS_OUT.read_text()) if DETAILS_OUT.is_file() else {}
    doc["machine"] = machine()
    with tempfile.TemporaryDirectory(prefix="bench-predict-") as tmp:
        work = Path(tmp)
        if args.only in ("all", "speed"):
            results, st, _ = sizes_rows(args.video, args.repeats, work)
            doc.update(results)
            doc["stages"] = st
        if args.only in ("all", "speed", "long"):
            doc["paper_size_long"] = steady(args.video, 6, work)
            doc["video"] = args.video.name
        if args.only in ("all", "accuracy"):
            if args.demo:
                doc["int8_agreement"] = demo_agreement(args.demo, work)
            if UCF.is_file():
                doc["kinetics_top5"] = kinetics_top5(work)
        if args.only in ("all", "live"):
            doc["live_soak" if args.live_minutes >= 10 else "live"] = live(
                args.video, args.live_minutes, args.live_size, work)
    JSON_OUT.parent.mkdir(exist_ok=True)
    DETAILS_OUT.write_text(json.dumps(doc, indent=1) + "\n")
    JSON_OUT.write_text(json.dumps(summary(doc), indent=1) + "\n")
    write_section("predict", "Inference on your own video: backends, stages, live mode (bench_predict.py)",
                  section(doc))
    print(json.dumps(doc, indent=1))


if __name__ == "__main__":
    main()
