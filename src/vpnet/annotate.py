"""The annotated video of ``vpnet predict --video-out``: label and score, the A_ST heat map over the
crop, the skeleton.

Each frame shows the window it belongs to (the latest window that starts at or before it): that
window's top class and score, and, where the model has attention, the spatial attention A_S
(upsampled from its m x n grid to the crop box) weighted by the temporal attention A_T of the
feature step the frame falls in (A_ST = A_S * A_T, relative to the window's largest A_T step), as a
JET heat map blended into the crop, with its colour bar (0 to 1) and the current A_T step and value in
the top-right corner; the crop box; the main actor's skeleton; under the label, for a model trained
on generated data only, a red line saying so. Frames are scaled so
that the longer side is at most ``max_side`` pixels (default 1280) and encoded as H.264 (MPEG-4 Part
2 where FFmpeg has no H.264 encoder). Decoding streams: one source frame at a time.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from vpnet.data import clips
from vpnet.inference import Prediction
from vpnet.skeletons import get_layout

__all__ = ["write_annotated_video", "annotate_frame", "GENERATED_LINE"]

#: the line under the label of every frame when the model was trained on generated data only.
GENERATED_LINE = "model trained on generated video only: not meaningful on real video"


def _frame_windows(pred: Prediction) -> np.ndarray:
    """(T,) index of the window each frame is shown with."""
    starts = np.array([w.start_frame for w in pred.windows])
    return np.clip(np.searchsorted(starts, np.arange(pred.num_frames), side="right") - 1, 0, len(starts) - 1)


def annotate_frame(frame: np.ndarray, pred: Prediction, i: int, k: int, uv: np.ndarray | None,
                   track: np.ndarray | None) -> np.ndarray:
    """Frame ``i`` (H, W, 3) uint8 RGB drawn with window ``k``'s results; returns a new array."""
    import cv2

    out = frame.copy()
    win = pred.windows[k]
    x0, y0, x1, y1 = (int(v) for v in win.box)
    thick = max(2, round(max(frame.shape[:2]) / 400))
    scale = max(frame.shape[:2]) / 900
    attention_note = ""
    if win.a_s is not None and x1 > x0 and y1 > y0:
        weight = 1.0
        if win.a_t is not None and win.a_t.size:
            span = max(win.end_frame - win.start_frame + 1, 1)
            step = max(min(int((i - win.start_frame) * len(win.a_t) / span), len(win.a_t) - 1), 0)
            weight = float(win.a_t[step] / max(win.a_t.max(), 1e-8))
            attention_note = f"A_T step {step + 1}/{len(win.a_t)}: {float(win.a_t[step]):.2f}"
        heat = cv2.resize(win.a_s.astype(np.float32), (x1 - x0, y1 - y0), interpolation=cv2.INTER_LINEAR)
        heat = np.clip(heat * weight, 0, 1)
        colour = cv2.applyColorMap((heat * 255).astype(np.uint8), cv2.COLORMAP_JET)[..., ::-1]
        region = out[y0:y1, x0:x1]
        out[y0:y1, x0:x1] = (0.55 * region + 0.45 * colour).astype(np.uint8)
        _colour_bar(out, scale, thick, attention_note)
    cv2.rectangle(out, (x0, y0), (x1 - 1, y1 - 1), (255, 255, 255), thick)
    if uv is not None and track is not None and i < len(track) and track[i] >= 0:
        pts = uv[i, track[i]]
        for a, b in get_layout(pred.sequence.layout).bones:
            if np.isfinite(pts[[a, b]]).all():
                cv2.line(out, tuple(int(v) for v in pts[a]), tuple(int(v) for v in pts[b]), (0, 255, 0), thick,
                         cv2.LINE_AA)
    k_top = int(win.scores.argmax())
    text = f"{pred.classes[k_top]} {win.scores[k_top]:.2f}"
    (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, thick)
    cv2.rectangle(out, (0, 0), (tw + 20, th + base + 20), (0, 0, 0), -1)
    cv2.putText(out, text, (10, th + 10), cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), thick, cv2.LINE_AA)
    if pred.warning:  # a model trained on generated data: said on every frame, not only in the JSON
        small = scale * 0.6
        (ww, wh), wbase = cv2.getTextSize(GENERATED_LINE, cv2.FONT_HERSHEY_SIMPLEX, small, max(1, thick // 2))
        top = th + base + 20
        cv2.rectangle(out, (0, top), (ww + 20, top + wh + wbase + 16), (0, 0, 160), -1)
        cv2.putText(out, GENERATED_LINE, (10, top + wh + 8), cv2.FONT_HERSHEY_SIMPLEX, small, (255, 255, 255),
                    max(1, thick // 2), cv2.LINE_AA)
    return out


def _colour_bar(out: np.ndarray, scale: float, thick: int, note: str) -> None:
    """The heat map's legend on a dark panel in the top-right corner: a title, the JET scale from 0
    (bottom) to 1 (top) of A_S x A_T relative to the window's largest step, and the current A_T step
    and value."""
    import cv2

    h, w = out.shape[:2]
    font, small, line = cv2.FONT_HERSHEY_SIMPLEX, scale * 0.55, max(1, thick // 2)
    title = "A_S x A_T"
    (title_w, text_h), _ = cv2.getTextSize(title, font, small, line)
    note_w = cv2.getTextSize(note, font, small, line)[0][0] if note else 0
    digit_w = cv2.getTextSize("1", font, small, line)[0][0]
    bar_h, bar_w, pad = max(20, h // 4), max(6, w // 80), max(6, int(8 * scale))
    panel_w = max(title_w, note_w, bar_w + digit_w + pad) + 2 * pad
    panel_h = pad + text_h + pad + bar_h + (pad + text_h if note else 0) + pad
    px0, py0 = w - panel_w - pad, pad
    region = out[py0:py0 + panel_h, px0:px0 + panel_w]
    region[:] = (0.35 * region).astype(np.uint8)
    cv2.putText(out, title, (px0 + pad, py0 + pad + text_h), font, small, (255, 255, 255), line, cv2.LINE_AA)
    bx0, by0 = px0 + pad + digit_w + pad, py0 + 2 * pad + text_h
    ramp = np.linspace(255, 0, bar_h).astype(np.uint8)[:, None].repeat(bar_w, axis=1)
    out[by0:by0 + bar_h, bx0:bx0 + bar_w] = cv2.applyColorMap(ramp, cv2.COLORMAP_JET)[..., ::-1]
    for text, y in (("1", by0 + text_h), ("0", by0 + bar_h)):
        cv2.putText(out, text, (px0 + pad, y), font, small, (255, 255, 255), line, cv2.LINE_AA)
    if note:
        cv2.putText(out, note, (px0 + pad, by0 + bar_h + pad + text_h), font, small, (255, 255, 255), line,
                    cv2.LINE_AA)


def write_annotated_video(pred: Prediction, video: str | Path, out: str | Path, *, max_side: int = 1280) -> Path:
    """Decode ``video`` again and write the annotated copy to ``out`` (a temp file renamed at the end:
    never a half-written video)."""
    import av
    import cv2

    from vpnet.poses import iter_frames

    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.stem}.{os.getpid()}.tmp{out.suffix or '.mp4'}")
    seq = pred.sequence
    uv = clips.video_uv(seq, pred.size) if seq is not None else None
    track = pred.track
    which = _frame_windows(pred)
    w, h = pred.size
    scale = min(1.0, max_side / max(w, h))
    ow, oh = (max(2, int(round(v * scale)) // 2 * 2) for v in (w, h))  # even sides for yuv420p
    try:
        with av.open(str(tmp), "w", format="mp4" if out.suffix.lower() in ("", ".mp4", ".m4v", ".mov") else None) as c:
            try:
                stream = c.add_stream("libx264", rate=round(pred.fps) or 30)
            except (av.error.FFmpegError, ValueError):
                stream = c.add_stream("mpeg4", rate=round(pred.fps) or 30)
            stream.width, stream.height, stream.pix_fmt = ow, oh, "yuv420p"
            for i, frame in enumerate(iter_frames(video)):
                if i >= pred.num_frames:
                    break
                img = annotate_frame(frame, pred, i, int(which[i]), uv, track)
                if (ow, oh) != (w, h):
                    img = cv2.resize(img, (ow, oh), interpolation=cv2.INTER_AREA)
                for pkt in stream.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                    c.mux(pkt)
            for pkt in stream.encode():
                c.mux(pkt)
        os.replace(tmp, out)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return out
