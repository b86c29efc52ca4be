"""Video in and out, the one place for it: read frames of a video file or of a folder of images
(OpenCV; png/jpg/... in natural order, frame 0 is the first file, so a detector pipeline's frames
work as they are) and write H.264 videos (imageio-ffmpeg, atomically). Frames are (H, W, 3) uint8
RGB. numpy only at import time.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np

from neural_render.errors import InputError
from neural_render.fileio import atomic_path, read_image

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")
VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v")


def image_sequence(folder: str | Path) -> list[Path]:
    """The image files of a folder in natural order ([] when it is not a folder)."""
    p = Path(folder)
    if not p.is_dir():
        return []
    return sorted((q for q in p.iterdir() if q.suffix.lower() in IMAGE_SUFFIXES), key=lambda q: natural_key(q.name))


def frame_info(path: str | Path) -> dict:
    """width, height, fps (None when unknown, as for image folders) and frame count of a video."""
    import cv2

    path = Path(path)
    if path.is_dir():
        files = image_sequence(path)
        if not files:
            raise InputError("folder has no images", path=path, fix="pass a video file or a folder of png/jpg frames")
        h, w = read_image(files[0]).shape[:2]
        return {"width": w, "height": h, "fps": None, "frames": len(files)}
    if not path.is_file():
        raise InputError("video not found", path=path)
    cap = cv2.VideoCapture(str(path))
    try:
        if not cap.isOpened():
            raise InputError("cannot open video", path=path, fix="use a video OpenCV/FFmpeg can read (mp4, avi, mov)")
        info = {"width": int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), "height": int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT)),
                "fps": float(cap.get(cv2.CAP_PROP_FPS) or 0) or None, "frames": int(cap.get(cv2.CAP_PROP_FRAME_COUNT))}
    finally:
        cap.release()
    if info["width"] <= 0 or info["height"] <= 0:
        raise InputError("video has no readable frames", path=path)
    return info


def read_frames(path: str | Path, indices) -> dict[int, np.ndarray]:
    """RGB uint8 frames at the given indices of a video or image folder (unreadable ones left out)."""
    import cv2

    path = Path(path)
    if path.is_dir():
        files = image_sequence(path)
        return {i: read_image(files[i]) for i in sorted(set(indices)) if 0 <= i < len(files)}
    if path.suffix.lower() in IMAGE_SUFFIXES:  # a photo: one frame
        return {0: read_image(path)} if 0 in set(indices) else {}
    cap = cv2.VideoCapture(str(path))
    out = {}
    try:
        for i in sorted(set(indices)):
            cap.set(cv2.CAP_PROP_POS_FRAMES, i)
            ok, frame = cap.read()
            if ok:
                out[i] = frame[..., ::-1].copy()
    finally:
        cap.release()
    return out


def iter_frames(path: str | Path, start: int = 0, stop: int | None = None) -> Iterator[np.ndarray]:
    """RGB uint8 frames start..stop-1 of a video or image folder."""
    import cv2

    if Path(path).is_dir():
        for f in image_sequence(path)[start:stop]:
            yield read_image(f)
        return
    cap = cv2.VideoCapture(str(path))
    if not cap.isOpened():
        raise InputError("cannot open video", path=path, fix="use a video OpenCV/FFmpeg can read (mp4, avi, mov)")
    try:
        if start:
            cap.set(cv2.CAP_PROP_POS_FRAMES, start)
        i = start
        while stop is None or i < stop:
            ok, img = cap.read()
            if not ok:
                break
            yield img[..., ::-1]
            i += 1
    finally:
        cap.release()


def list_videos(videos: list[str | Path]) -> list[Path]:
    """Expand folders into their video files (natural order); a folder of images is one video."""
    out: list[Path] = []
    for v in videos:
        p = Path(v)
        if p.is_dir():
            hits = [q for q in p.iterdir() if q.suffix.lower() in VIDEO_SUFFIXES]
            if not hits and image_sequence(p):
                out.append(p)  # a folder of frames is one video
                continue
            out += sorted(hits, key=lambda q: natural_key(q.name))
        elif p.is_file():
            out.append(p)
        else:
            raise InputError("video not found", path=p, where="--video")
    if not out:
        raise InputError("no video files", path=", ".join(map(str, videos)), where="--video")
    return out


def natural_key(name: str) -> list:
    """Sort key putting "frame2" before "frame10" (digit runs compare as numbers)."""
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", name)]


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
