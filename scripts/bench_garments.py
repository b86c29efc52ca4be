"""Cost of garments and hair per dataset frame: the same batch with `garments.enabled` false (bare
bodies with painted clothing, the pre-garment look) and true, Cycles RGB at 256^2, 16 samples.

Usage (from the repository root):  .venv/bin/python scripts/bench_garments.py [--samples 6] [--rounds 2]

Both configs render the same scenes (same seed: cameras, bodies, motions, light are drawn from the
same streams; the outfit has its own). The clothed run also writes its new labels (person_mask,
segmentation, amodal masks). Runs alternate (bare, clothed, bare, clothed, ...) so load from other
jobs hits both alike. Reports CPU seconds per frame (user + system of the driver and its worker,
start-up included) and wall seconds per frame, per config, and the ratio clothed / bare.
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


def config(clothed: bool, samples: int) -> dict:
    from neural_render.dataset.config import validate

    passes = ["instances", "mask"] + (["person_mask", "segmentation"] if clothed else [])
    return validate({"seed": 0, "samples": samples, "frames_per_sample": 2, "frame_step": 10, "resolution": 256,
                     "people": {"min": 1, "max": 2}, "passes": passes, "rgb": {"cycles": True, "samples": 16},
                     "garments": {"enabled": clothed}})


def main() -> None:
    from neural_render.dataset.runners import run_batch

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--samples", type=int, default=6)
    ap.add_argument("--rounds", type=int, default=2)
    a = ap.parse_args()
    tot = {False: [0.0, 0.0, 0], True: [0.0, 0.0, 0]}
    for _ in range(a.rounds):
        for clothed in (False, True):
            tmp = tempfile.mkdtemp(prefix="nr_bench_garments_")
            c0 = cpu()
            try:
                s = run_batch(config(clothed, a.samples), os.path.join(tmp, "d"), workers=1, progress=False)
            finally:
                shutil.rmtree(tmp, ignore_errors=True)
            t = tot[clothed]
            t[0] += cpu() - c0
            t[1] += s["seconds"]
            t[2] += s["frames_rendered"]
    out = {k: {"cpu_s_per_frame": round(v[0] / v[2], 3), "wall_s_per_frame": round(v[1] / v[2], 3), "frames": v[2]}
           for k, v in (("bare", tot[False]), ("clothed", tot[True]))}
    out["cpu_ratio_clothed_over_bare"] = round(out["clothed"]["cpu_s_per_frame"] / out["bare"]["cpu_s_per_frame"], 3)
    out["wall_ratio_clothed_over_bare"] = round(out["clothed"]["wall_s_per_frame"] / out["bare"]["wall_s_per_frame"], 3)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
