"""Real frames -> the passes' square: the crop around the person (and its K) and lens undistortion.

Reading and writing videos is `neural_render.video`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


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


def undistorter(K: np.ndarray, dist: np.ndarray, width: int, height: int):
    """A function undistorting frames to the ideal pinhole camera K (identity when dist is zero)."""
    if not np.any(dist):
        return lambda img: img
    import cv2

    mx, my = cv2.initUndistortRectifyMap(K, dist, None, K, (width, height), cv2.CV_32FC1)
    return lambda img: cv2.remap(img, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
