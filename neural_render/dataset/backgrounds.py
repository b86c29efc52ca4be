"""Backgrounds behind the rendered people: procedural (seeded gradient + soft blobs) or a random crop
of an image from a folder. Pure numpy/OpenCV functions of the scene description, uint8 RGB (H, W, 3).
"""

from __future__ import annotations

import numpy as np

from neural_render.errors import InputError


def background(desc: dict, width: int, height: int) -> np.ndarray:
    if desc["type"] == "images":
        return _image_crop(desc, width, height)
    return _procedural(desc, width, height)


def _srgb(linear: np.ndarray) -> np.ndarray:
    linear = np.clip(linear, 0, 1)
    return np.where(linear <= 0.0031308, 12.92 * linear, 1.055 * np.power(linear, 1 / 2.4) - 0.055)


def _procedural(desc: dict, W: int, H: int) -> np.ndarray:
    rng = np.random.default_rng(desc["seed"])
    y = (np.arange(H, dtype=np.float64) + 0.5)[:, None] / H
    x = (np.arange(W, dtype=np.float64) + 0.5)[None, :] / W
    top, bottom = np.array(desc["top"]), np.array(desc["bottom"])
    # Sky-to-ground gradient with a soft horizon.
    t = 1.0 / (1.0 + np.exp(-(y - desc["horizon"]) * 25.0))
    img = (1 - t)[..., None] * top + t[..., None] * bottom
    img = np.broadcast_to(img, (H, W, 3)).copy()
    for _ in range(desc["blobs"]):
        cx, cy = rng.uniform(0, 1, 2)
        r = rng.uniform(0.03, 0.25)
        col = rng.uniform(0, 1, 3)
        a = rng.uniform(0.15, 0.6)
        w = np.exp(-(((x - cx) * W / max(W, H)) ** 2 + ((y - cy) * H / max(W, H)) ** 2) / (2 * r * r))
        img = img * (1 - a * w[..., None]) + col * (a * w[..., None])
    # Fine texture so the background is not flat (seeded, resolution-independent in expectation).
    img *= 1.0 + 0.04 * rng.standard_normal((H, W, 1))
    return np.round(_srgb(img) * 255).astype(np.uint8)


def _image_crop(desc: dict, W: int, H: int) -> np.ndarray:
    import cv2

    from neural_render.fileio import read_image

    img = read_image(desc["path"], missing_ok=True)
    if img is None:
        raise InputError("cannot read background image", path=desc["path"], fix="remove or replace the file")
    h, w = img.shape[:2]
    # Largest crop with the output's aspect ratio, shrunk by zoom, placed at (cx, cy).
    s = min(w / W, h / H) / desc["zoom"]
    cw, ch = max(1, int(W * s)), max(1, int(H * s))
    x0 = int(round(desc["cx"] * (w - cw)))
    y0 = int(round(desc["cy"] * (h - ch)))
    crop = img[y0:y0 + ch, x0:x0 + cw]
    if desc.get("flip"):
        crop = crop[:, ::-1]
    return np.ascontiguousarray(cv2.resize(np.ascontiguousarray(crop), (W, H), interpolation=cv2.INTER_AREA))


def composite(rgba: np.ndarray, bg: np.ndarray) -> np.ndarray:
    """Alpha-composite a straight-alpha RGBA uint8 render over an RGB uint8 background."""
    a = rgba[..., 3:4].astype(np.float32) / 255.0
    out = rgba[..., :3].astype(np.float32) * a + bg.astype(np.float32) * (1 - a)
    return np.clip(np.round(out), 0, 255).astype(np.uint8)
