"""The generator at step 0: the data-driven initialisation alone (texture back-projected from the
training frames, backdrop plate), no gradient step; the baseline a trained checkpoint must beat.

Usage (from the repository root):
    .venv/bin/python scripts/generator_step0.py --options RUN/options.json --out step0.safetensors
then `neural-render eval --checkpoint step0.safetensors --data TEST --json`.
RUN/options.json is the one `neural-render train` writes (same data, architecture and seed).
"""

from __future__ import annotations

import argparse
import json


def main() -> None:
    import numpy as np
    import torch

    from neural_render.generator import checkpoint as ckpt
    from neural_render.generator.data import open_paired
    from neural_render.generator.networks import NeuralRenderer
    from neural_render.generator.train import TrainOptions, _model_config, init_from_data

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--options", required=True)
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    with open(a.options) as f:
        o = TrainOptions(**json.load(f))
    cfg = _model_config(o)
    ds = open_paired(o.data, cfg.passes, size=o.size, split=o.split, crop_fraction=cfg.crop_fraction)
    torch.manual_seed(o.seed)
    np.random.seed(o.seed)
    renderer = NeuralRenderer(cfg)
    if o.init_from_data:
        init_from_data(renderer, ds)
    ckpt.save(a.out, {"renderer": renderer}, cfg, 0, train_options=o.__dict__, with_rng=False)
    print(f"wrote {a.out}")


if __name__ == "__main__":
    main()
