"""A tiny synthetic paired dataset (tests, benchmarks, smoke runs without Blender).

A textured, shaded ellipsoid 'body' walks across a plain backdrop. Every pass follows the real
encodings of `neural_render.passes.spec` (uv: R part, G/B = 255 u/v; normal: 0.5 (n + 1); mask
0/255; parts 0..24; depth uint16), and the frames are a deterministic function of the passes
(texture(u, v) * Lambert shading + backdrop), so a generator can learn the mapping exactly.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from neural_render.fileio import write_image, write_json


def texture_color(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """(..., 3) float RGB in [0, 1] of the synthetic texture at (u, v)."""
    checker = ((np.floor(u * 6) + np.floor(v * 6)) % 2)[..., None]
    base = np.stack([0.3 + 0.6 * u, 0.3 + 0.5 * v, 0.6 - 0.3 * u], -1)
    return np.clip(base * (0.75 + 0.25 * checker), 0, 1)


def make_frame(t: float, size: int, cx_offset: float = 0.0, shading: bool = True) -> dict:
    """All passes + the frame of time t (float frame index)."""
    h = w = size
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float64) + 0.5
    cx = w * (0.35 + 0.3 * (0.5 + 0.5 * np.sin(0.4 * t)) + cx_offset)
    cy = h * 0.5
    rx, ry = w * 0.18 * (1 + 0.1 * np.cos(0.7 * t)), h * 0.38
    dx, dy = (xs - cx) / rx, (ys - cy) / ry
    r2 = dx * dx + dy * dy
    m = r2 < 1
    nz = np.sqrt(np.clip(1 - r2, 0, 1))
    normal = np.stack([dx, -dy, nz], -1) * m[..., None]
    phase = 0.3 * t
    u = ((np.arctan2(dx, nz) / np.pi + 0.5) * 0.5 + phase * 0.05) % 1.0
    v = np.clip(0.5 - 0.5 * dy, 0, 1)
    parts = np.where(m, np.where(dy < -0.6, 16, 1 + (dx > 0) + 2 * (dy > 0)), 0).astype(np.uint8)
    light = np.clip(0.35 + 0.65 * (normal @ np.array([0.4, 0.5, 0.77])), 0, 1) if shading else np.ones((h, w))
    bg = np.array([0.78, 0.8, 0.83]) * (0.9 + 0.1 * ys / h)[..., None]
    color = texture_color(u, v) * light[..., None]
    frame = np.where(m[..., None], color, bg)
    depth = np.where(m, 3.0 - 0.3 * nz, 0.0)
    skel = np.zeros((h, w, 3), np.uint8)
    import cv2

    pts = [(int(cx), int(cy - 0.8 * ry)), (int(cx), int(cy)), (int(cx - 0.6 * rx), int(cy + 0.8 * ry)),
           (int(cx + 0.6 * rx), int(cy + 0.8 * ry))]
    cv2.line(skel, pts[0], pts[1], (255, 0, 0), max(1, size // 64))
    cv2.line(skel, pts[1], pts[2], (0, 255, 0), max(1, size // 64))
    cv2.line(skel, pts[1], pts[3], (0, 0, 255), max(1, size // 64))
    uv = np.stack([parts, np.round(255 * u) * m, np.round(255 * v) * m], -1).astype(np.uint8)
    return {"frames": np.round(frame * 255).astype(np.uint8), "skeleton": skel, "parts": parts,
            "normal": np.round(255 * 0.5 * (normal + 1) * m[..., None]).astype(np.uint8),
            "depth": np.round(np.where(m, 65535 * (1 - (depth - 2.7) / 0.3 * 0.5), 0)).astype(np.uint16),
            "mask": (m * 255).astype(np.uint8), "uv": uv}


def write_dataset(out: str | Path, frames: int = 8, size: int = 32, start: float = 0.0, split: bool = False,
                  cx_offset: float = 0.0, shading: bool = True) -> Path:
    """Write a synthetic paired dataset folder (frames + all passes + legend.json)."""
    out = Path(out)
    for i in range(frames):
        d = make_frame(start + i, size, cx_offset, shading)
        for name, img in d.items():
            write_image(out / name / f"{i + 1:06d}.png", img)
    write_json(out / "legend.json", {"synthetic": True, "resolution": [size, size], "fps": 30})
    if split:
        cut = max(1, int(frames * 0.75))
        write_json(out / "split.json", {"train": list(range(1, cut + 1)), "test": list(range(cut + 1, frames + 1))})
    return out
