"""Write the shipped reference-actor checkpoint: a run's generator weights + its recorded evaluation.

Usage (the last step of smpl_assets/actor/reproduce_generator.sh):
    .venv/bin/python scripts/export_actor_generator.py --checkpoint RUN/generator.safetensors \
        --eval EVAL.json --step0-eval STEP0_EVAL.json --steps N --out smpl_assets/actor_generator.safetensors

EVAL.json / STEP0_EVAL.json are `neural-render eval --json` outputs of the trained checkpoint and of the
initialisation alone (scripts/generator_step0.py) on the unseen CMU hop (frames 101-196, actor v2,
256^2). They are stored in the file's metadata ("metrics"), with what it was trained on and the
script that reproduces it; tests/test_generator_shipped.py reads them.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

KEYS = ("frames", "ssim", "psnr", "fg_ssim", "fg_psnr", "masked_l1", "face_ssim", "warp_error", "warp_error_gt")


def main() -> None:
    from neural_render.generator.checkpoint import export_inference

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--checkpoint", required=True, help="the run's generator.safetensors")
    ap.add_argument("--eval", required=True, help="`neural-render eval --json` of the checkpoint")
    ap.add_argument("--step0-eval", required=True, help="`neural-render eval --json` of the step-0 model")
    ap.add_argument("--steps", type=int, required=True, help="training steps of the run")
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    ev = json.loads(Path(a.eval).read_text())
    ev0 = json.loads(Path(a.step0_eval).read_text())
    metrics = {
        "actor_version": 2,
        "unseen_cmu_131_03_hop_101_196_v2_256": {k: ev[k] for k in KEYS},
        "step0_unseen_cmu_131_03_hop_101_196_v2_256": {k: ev0[k] for k in KEYS},
        "trained_on": (f"reference actor v2 (loose T-shirt, flared skirt, long hair), CMU 131_01 walk (30 fps, "
                       f"224 train frames), {a.steps} steps, CPU"),
        "reproduce": "smpl_assets/actor/reproduce_generator.sh",
    }
    export_inference(a.checkpoint, a.out, metrics)
    print(json.dumps({"out": a.out, "size_bytes": Path(a.out).stat().st_size, **metrics}))


if __name__ == "__main__":
    main()
