"""Write frames to a video with imageio-ffmpeg (H.264, yuv420p), atomically."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Iterable

import numpy as np

from neural_render.fileio import atomic_path


def write_video(path: str | Path, frames: Iterable[np.ndarray], fps: float = 30.0, quality: int = 8) -> None:
    """Encode (H, W, 3) uint8 RGB frames (a list or a generator, streamed); H and W are padded to
    even sizes for yuv420p."""
    import itertools

    import imageio_ffmpeg

    it = iter(frames)
    first = next(it, None)
    if first is None:
        raise ValueError("no frames to write")
    frames = itertools.chain([first], it)
    h, w = first.shape[:2]
    ph, pw = h + h % 2, w + w % 2
    with atomic_path(path) as tmp:
        writer = imageio_ffmpeg.write_frames(str(tmp), (pw, ph), fps=float(fps), quality=quality,
                                             pix_fmt_out="yuv420p", macro_block_size=1,
                                             output_params=["-f", Path(path).suffix.lstrip(".").replace("mkv", "matroska") or "mp4"])
        writer.send(None)
        for f in frames:
            f = np.ascontiguousarray(f[..., :3])
            if (ph, pw) != (h, w):
                f = np.pad(f, ((0, ph - h), (0, pw - w), (0, 0)), mode="edge")
            writer.send(f)
        writer.close()


def read_fps(passes_dir: str | Path) -> float | None:
    """The sequence frame rate from legend.json (keys 'fps' or 'frame_rate'), if any."""
    p = Path(passes_dir) / "legend.json"
    if not p.is_file():
        return None
    from neural_render.motion.motion import MAX_FPS, MIN_FPS

    try:
        d = json.loads(p.read_text())
    except (ValueError, RecursionError):
        return None
    if not isinstance(d, dict):
        return None
    for k in ("fps", "frame_rate", "framerate"):
        if isinstance(d.get(k), (int, float)) and MIN_FPS <= d[k] <= MAX_FPS:
            return float(d[k])
    seq = d.get("sequence") or d.get("motion") or {}
    if isinstance(seq, dict):
        for k in ("fps", "frame_rate"):
            if isinstance(seq.get(k), (int, float)) and MIN_FPS <= seq[k] <= MAX_FPS:
                return float(seq[k])
    return None
