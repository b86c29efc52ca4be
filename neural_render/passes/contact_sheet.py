"""One PNG showing every pass for a few frames (rows = frames, columns = passes), for eyeballing.

Label passes are shown in their palette colours, depth as the sequence-normalised grey, UV as
(u, v) in red/green; the real files are untouched.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from neural_render.fileio import write_image
from neural_render.passes.spec import frame_filename


def _read(path: Path) -> np.ndarray | None:
    from neural_render.fileio import read_image

    return read_image(path, "unchanged", missing_ok=True)


def _tile(name: str, img: np.ndarray | None, legend: dict, W: int, H: int) -> np.ndarray:
    if img is None:
        return np.zeros((H, W, 3), np.uint8)
    if img.dtype == np.uint16:
        img = (img >> 8).astype(np.uint8)
    if name == "parts" and img.ndim == 2:
        img = np.asarray(legend["palettes"]["parts_colors"], np.uint8)[img]
    elif name == "instance":
        img = (np.asarray(img, np.int32) * 67 % 256).astype(np.uint8)
    elif name == "uv":
        img = np.stack([img[..., 1], img[..., 2], np.where(img[..., 0] > 0, 64, 0)], -1).astype(np.uint8)
    if img.ndim == 2:
        img = np.repeat(img[..., None], 3, 2)
    return np.ascontiguousarray(img[..., :3])


def contact_sheet(out_dir, legend: dict, max_frames: int = 4, tile: int = 256) -> Path:
    """Write out_dir/contact_sheet.png for up to `max_frames` frames spread over the sequence."""
    import cv2

    out_dir = Path(out_dir)
    frames = [f["index"] for f in legend["frames"]]
    if not frames:
        raise ValueError("no frames to show")
    pick = sorted(set(frames[int(round(i))] for i in np.linspace(0, len(frames) - 1, min(max_frames, len(frames)))))
    names = [p for p in legend["passes"]]
    W0, H0 = legend["resolution"]["width"], legend["resolution"]["height"]
    s = tile / max(W0, H0)
    W, H = max(1, int(round(W0 * s))), max(1, int(round(H0 * s)))
    header = 22
    rows = []
    for f in pick:
        cells = []
        for n in names:
            img = _tile(n, _read(out_dir / n / frame_filename(f)), legend, W0, H0)
            img = cv2.resize(img, (W, H), interpolation=cv2.INTER_NEAREST)
            cell = np.full((H + header, W, 3), 32, np.uint8)
            cell[header:] = img
            cv2.putText(cell, f"{n} {frame_filename(f)[:-4]}", (4, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.45,
                        (235, 235, 235), 1, cv2.LINE_AA)
            cells.append(cell)
        rows.append(np.concatenate(cells, 1))
    sheet = np.concatenate(rows, 0)
    path = out_dir / "contact_sheet.png"
    write_image(path, sheet)
    return path
