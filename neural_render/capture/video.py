"""Reading video frames (OpenCV), undistorting them and cropping to the square the passes use.

A "video" is a video file or a folder of images (png/jpg/bmp/tif, natural order: frame 0 is the
first file), so frames extracted by a detector pipeline work as they are.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np

from neural_render.errors import InputError


@dataclass(frozen=True)
class SquareCrop:
    """A square window of the (undistorted) video frame, resized to `size` x `size` pixels."""

    x0: float
    y0: float
    side: float
    size: int

    @property
    def scale(self) -> float:
        return self.size / self.side

    def apply_to_K(self, K: np.ndarray) -> np.ndarray:
        """Intrinsics (3, 3) of the cropped, resized image."""
        s = self.scale
        A = np.array([[s, 0, -s * self.x0], [0, s, -s * self.y0], [0, 0, 1.0]])
        # OpenCV pixel centres sit at integers: scaling about the corner shifts them by (s - 1) / 2.
        A[:2, 2] += (s - 1) / 2
        return A @ K

    def apply_to_image(self, img: np.ndarray) -> np.ndarray:
        import cv2

        s = self.scale
        M = np.array([[s, 0, -s * self.x0 + (s - 1) / 2], [0, s, -s * self.y0 + (s - 1) / 2]])
        return cv2.warpAffine(img, M, (self.size, self.size), flags=cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR,
                              borderMode=cv2.BORDER_CONSTANT, borderValue=0)


def square_crop_around(points_uv: np.ndarray, width: int, height: int, size: int, margin: float = 0.12) -> SquareCrop:
    """The smallest square (inside the image where possible) holding every finite point plus a margin.

    points_uv: (..., 2) pixel positions of the subject over the whole clip.
    """
    pts = points_uv.reshape(-1, 2)
    pts = pts[np.isfinite(pts).all(1)]
    if len(pts) == 0:
        side = float(min(width, height))
        return SquareCrop((width - side) / 2, (height - side) / 2, side, size)
    lo, hi = pts.min(0), pts.max(0)
    side = float((hi - lo).max() * (1 + 2 * margin))
    side = min(max(side, 16.0), float(min(width, height)))
    cx, cy = (lo + hi) / 2
    x0 = float(np.clip(cx - side / 2, 0, width - side))
    y0 = float(np.clip(cy - side / 2, 0, height - side))
    return SquareCrop(x0, y0, side, size)


IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")
VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".webm")


def image_sequence(folder: str | Path) -> list[Path]:
    """The image files of a folder in natural order ([] when it is not a folder)."""
    from neural_render.motion.keypoints import natural_key

    p = Path(folder)
    if not p.is_dir():
        return []
    return sorted((q for q in p.iterdir() if q.suffix.lower() in IMAGE_SUFFIXES), key=lambda q: natural_key(q.name))


def read_image(path: str | Path) -> np.ndarray:
    """(H, W, 3) uint8 RGB of an image file."""
    import cv2

    img = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if img is None:
        raise InputError("cannot read image", path=path, fix="use png/jpg frames")
    return np.ascontiguousarray(img[..., ::-1])


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


def undistorter(K: np.ndarray, dist: np.ndarray, width: int, height: int):
    """A function undistorting frames to the ideal pinhole camera K (identity when dist is zero)."""
    if not np.any(dist):
        return lambda img: img
    import cv2

    mx, my = cv2.initUndistortRectifyMap(K, dist, None, K, (width, height), cv2.CV_32FC1)
    return lambda img: cv2.remap(img, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def list_videos(videos: list[str | Path]) -> list[Path]:
    """Expand folders into their video files (natural order); a folder of images is one video."""
    from neural_render.motion.keypoints import natural_key

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
