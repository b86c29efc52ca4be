"""Contact sheet of 24 random people from the example dataset config (docs/synthetic_people.jpg).

Usage (from the repository root):
    .venv/bin/python scripts/contact_sheet_people.py [--out docs/synthetic_people.jpg] [--count 24] [--workers 1]

Renders `--count` one-person scenes with the example config's distributions (bodies, garments, hair,
fabrics, skin tones, lights, backgrounds; `batch --print-example`), one frame each, then crops every
image around its person (person_mask) into an 8-column grid, JPEG quality 85.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np


def main() -> None:
    import cv2
    import yaml

    from neural_render.dataset.config import example_config_text, validate
    from neural_render.dataset.runners import run_batch
    from neural_render.paths import assets_dir

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="docs/synthetic_people.jpg")
    ap.add_argument("--count", type=int, default=24)
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    raw = yaml.safe_load(example_config_text())
    raw.update(seed=a.seed, samples=a.count, frames_per_sample=1, resolution=[256, 320], people={"min": 1, "max": 1},
               passes=["instances", "person_mask"])
    raw["rgb"]["samples"] = 16
    cfg = validate(raw, base_dir=assets_dir().parent)
    tmp = tempfile.mkdtemp(prefix="nr_contact_")
    try:
        run_batch(cfg, os.path.join(tmp, "d"), workers=a.workers, progress=True)
        tiles = []
        for i in range(1, a.count + 1):
            img = cv2.imread(os.path.join(tmp, "d", "images", f"{i:06d}.png"))
            m = cv2.imread(os.path.join(tmp, "d", "person_mask", f"{i:06d}.png"), cv2.IMREAD_GRAYSCALE) > 0
            ys, xs = np.nonzero(m)
            cy, cx = (ys.min() + ys.max()) / 2, (xs.min() + xs.max()) / 2
            h = max(ys.max() - ys.min(), 1.5 * (xs.max() - xs.min())) * 1.1 + 8
            w = h / 1.5
            y0, x0 = int(round(cy - h / 2)), int(round(cx - w / 2))
            pad = int(h)
            big = cv2.copyMakeBorder(img, pad, pad, pad, pad, cv2.BORDER_REPLICATE)
            crop = big[y0 + pad:y0 + pad + int(h), x0 + pad:x0 + pad + int(w)]
            tiles.append(cv2.resize(crop, (128, 192), interpolation=cv2.INTER_AREA))
        cols = 8
        rows = [np.hstack(tiles[r * cols:(r + 1) * cols]) for r in range(len(tiles) // cols)]
        Path(a.out).parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(a.out, np.vstack(rows), [cv2.IMWRITE_JPEG_QUALITY, 85])
        print(f"wrote {a.out}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
