"""Cost of garments and hair per dataset frame: the same batch with `garments.enabled` false (bare
bodies with painted clothing, the pre-garment look), true (skinned garments), and, with `--cloth`, true
with `garments.cloth.enabled` (loose garments simulated by Blender's cloth); Cycles RGB at 256^2, 16 samples.

Usage (from the repository root):  .venv/bin/python scripts/bench_garments.py [--samples 6] [--rounds 2] [--cloth]

All configs render the same scenes (same seed: cameras, bodies, motions, light are drawn from the
same streams; the outfit has its own). The clothed runs also write their new labels (person_mask,
segmentation, amodal masks). Runs alternate (bare, clothed[, cloth], bare, ...) so load from other
jobs hits them alike. Reports CPU seconds per frame (user + system of the driver and its worker,
start-up included) and wall seconds per frame, per config, and the ratios to bare (and cloth / clothed).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import tempfile


def cpu() -> float:
    a, b = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return a.ru_utime + a.ru_stime + b.ru_utime + b.ru_stime


def config(mode: str, samples: int) -> dict:
    """mode: "bare" | "clothed" | "cloth"."""
    from neural_render.dataset.config import validate

    clothed = mode != "bare"
    passes = ["instances", "mask"] + (["person_mask", "segmentation"] if clothed else [])
    return validate({"seed": 0, "samples": samples, "frames_per_sample": 2, "frame_step": 10, "resolution": 256,
                     "people": {"min": 1, "max": 2}, "passes": passes, "rgb": {"cycles": True, "samples": 16},
                     "garments": {"enabled": clothed, "cloth": {"enabled": mode == "cloth"}}})


def main() -> None:
    from neural_render.dataset.runners import run_batch

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--samples", type=int, default=6)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--cloth", action="store_true", help="also the clothed config with the cloth simulation on")
    a = ap.parse_args()
    modes = ("bare", "clothed", "cloth") if a.cloth else ("bare", "clothed")
    tot = {m: [0.0, 0.0, 0] for m in modes}
    for _ in range(a.rounds):
        for mode in modes:
            tmp = tempfile.mkdtemp(prefix="nr_bench_garments_")
            c0 = cpu()
            try:
                s = run_batch(config(mode, a.samples), os.path.join(tmp, "d"), workers=1, progress=False)
            finally:
                shutil.rmtree(tmp, ignore_errors=True)
            t = tot[mode]
            t[0] += cpu() - c0
            t[1] += s["seconds"]
            t[2] += s["frames_rendered"]
    out = {k: {"cpu_s_per_frame": round(v[0] / v[2], 3), "wall_s_per_frame": round(v[1] / v[2], 3), "frames": v[2]}
           for k, v in tot.items()}
    out["cpu_ratio_clothed_over_bare"] = round(out["clothed"]["cpu_s_per_frame"] / out["bare"]["cpu_s_per_frame"], 3)
    out["wall_ratio_clothed_over_bare"] = round(out["clothed"]["wall_s_per_frame"] / out["bare"]["wall_s_per_frame"], 3)
    if a.cloth:
        for k in ("cpu", "wall"):
            out[f"{k}_ratio_cloth_over_bare"] = round(out["cloth"][f"{k}_s_per_frame"] / out["bare"][f"{k}_s_per_frame"], 3)
            out[f"{k}_ratio_cloth_over_clothed"] = round(out["cloth"][f"{k}_s_per_frame"] / out["clothed"][f"{k}_s_per_frame"], 3)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
