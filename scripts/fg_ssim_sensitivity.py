"""How far foreground SSIM falls when the ground truth itself is shifted or blurred a little.

Usage: .venv/bin/python scripts/fg_ssim_sensitivity.py PAIRED_DIR [--split test]

Compares each ground-truth frame with a copy shifted sideways by d pixels, or blurred by a Gaussian
of sigma s, over the same foreground region `neural-render eval` uses. The result bounds what any
generator driven by a fit can score: a fit that is d pixels off gives at best the shifted figure.
Also prints two baselines that need no generator: the last training frame repeated, and the
training frames' colours back-projected through the UV pass onto the test frames' bodies.
"""

from __future__ import annotations

import argparse
import json

import numpy as np


def main() -> None:
    import cv2

    from neural_render.generator.data import open_paired
    from neural_render.generator.metrics import fg_region, ssim_map
    from neural_render.generator.train import back_projected_texture

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("data")
    ap.add_argument("--split", default="test")
    args = ap.parse_args()
    test = open_paired(args.data, split=args.split)
    train = open_paired(args.data, split="train")
    regions = [fg_region(test.arrays["fg"][i]) for i in range(len(test))]
    truth = [test.frame_uint8(i) for i in range(len(test))]

    def fg_ssim(make) -> float:
        return round(float(np.mean([ssim_map(make(i, t), t)[r].mean() for i, (t, r) in enumerate(zip(truth, regions))])), 4)

    out: dict = {"frames": len(test), "shift_px": {}, "blur_sigma_px": {}}
    for d in (0.5, 1.0, 2.0, 3.0):
        M = np.float32([[1, 0, d], [0, 1, 0]])
        out["shift_px"][d] = fg_ssim(lambda i, t: cv2.warpAffine(t, M, t.shape[1::-1], borderMode=cv2.BORDER_REFLECT))
    for s in (0.7, 1.0, 1.5, 2.0):
        out["blur_sigma_px"][s] = fg_ssim(lambda i, t: cv2.GaussianBlur(t, (0, 0), s))

    # Baselines: per test frame, the same camera's last training frame; the back-projected texture.
    from neural_render.generator.data import VIEW_STRIDE

    last = {}  # merged views number frames view * VIEW_STRIDE + n: keep each view's latest
    for j, n in enumerate(train.numbers):
        last[n // VIEW_STRIDE] = j
    out["repeat_last_training_frame"] = fg_ssim(lambda i, t: train.frame_uint8(last[test.numbers[i] // VIEW_STRIDE]))
    size = 256
    tex = back_projected_texture(train, size)

    def textured(i, t):
        uv = test.arrays["uv"][i]
        m = (test.arrays["fg"][i] > 0) & (uv[..., 0] > 0)
        tx = np.clip((uv[..., 1] / 255 * size).astype(int), 0, size - 1)
        ty = np.clip(((1 - uv[..., 2] / 255) * size).astype(int), 0, size - 1)
        bg = test.backgrounds[i] if test.backgrounds is not None else test.background
        img = (bg if bg is not None else t).copy()
        img[m] = tex[ty[m], tx[m]].astype(np.uint8)
        return img

    out["back_projected_texture"] = fg_ssim(textured)
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
