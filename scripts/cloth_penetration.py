"""Garment vertices inside the body with and without the cloth simulation, on the shared CMU clips.

Usage (from the repository root):
    .venv/bin/python scripts/cloth_penetration.py [--data ../shared/data] [--outfits 6] [--window 1.5] [--step 12]

For each clip (the shared CMU walk, hop and dance, retargeted to the default body) and each of
`--outfits` outfits drawn by the dataset sampler from the example config (keeping only outfits with
a garment the cloth switch simulates: a skirt, a dress or a loose top over trousers), a window of
`--window` seconds of the clip (a different part per outfit) is posed four ways on the same frames:

    skinned (raw)        linear blend skinning alone, before push-out
    skinned + push-out   what the dataset renders with `garments.cloth.enabled: false` (the default)
    cloth (raw)          Blender's cloth simulation (`neural_render.blender.cloth`), before push-out
    cloth + push-out     what the dataset renders with the cloth switch on

(the simulation starts with the dataset's 0.5 s lead-in from the rest pose). Every `--step`-th frame of
the window is measured with `garment_penetration.inside_fraction` (nearest point of the posed body
surface, normal pointing away by more than 0.1 mm). Prints one JSON line per clip and the totals, for
all garments and for the simulated garments alone, plus the simulation's seconds per clip frame.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from garment_penetration import inside_fraction  # noqa: E402


def main() -> None:
    import yaml

    from neural_render.blender.cloth import simulate_garments
    from neural_render.body import garments as G
    from neural_render.dataset.config import example_config_text, validate
    from neural_render.dataset.outfits import sample_outfit
    from neural_render.dataset.sampling import get_body, get_motion

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default="../shared/data")
    ap.add_argument("--outfits", type=int, default=6)
    ap.add_argument("--window", type=float, default=1.5, help="seconds of clip simulated per outfit")
    ap.add_argument("--step", type=int, default=12, help="measure every step-th frame of the window")
    ap.add_argument("--lead-in", type=float, default=0.5)
    a = ap.parse_args()
    raw = yaml.safe_load(example_config_text())
    raw["motions"]["sources"] = [str(Path(__file__).resolve().parents[1] / "smpl_assets/motions/cmu_131_01_walk.npz")]
    cfg = validate(raw)
    body = get_body("default")
    clips = {"walk": f"{a.data}/mocap/cmu_131_01_walk.bvh", "hop": f"{a.data}/mocap/cmu_131_03_hop.bvh",
             "dance": f"{a.data}/mocap/cmu_55_01_dance_whirl.fbx"}
    modes = ("skinned_raw", "skinned_push", "cloth_raw", "cloth_push")
    grand = {m: {"all": [0, 0], "simulated": [0, 0]} for m in modes}
    sim_s = sim_frames = 0.0
    seed = 0
    for name, path in clips.items():
        m = get_motion(path, 30.0)
        fps, T = m["fps"], len(m["poses"])
        W = min(int(round(a.window * fps)), T)
        lead = int(round(a.lead_in * fps))
        counts = {mo: {"all": [0, 0], "simulated": [0, 0]} for mo in modes}
        per_garment: dict = {}
        for k in range(a.outfits):
            while True:  # outfits of the example distribution that have a simulated garment
                rng = np.random.default_rng([11, seed])
                seed += 1
                outfit = sample_outfit(rng, cfg["garments"])
                betas = rng.normal(0, 1, 10)
                gs = G.build_outfit(body, betas, outfit)
                if any(g.pin is not None for g in gs):
                    break
            start = int((T - W) * k / max(a.outfits - 1, 1))
            src = np.arange(start, start + W)
            poses = np.concatenate([G.lead_in_poses(m["poses"][start], lead), m["poses"][src]])
            trans = np.concatenate([np.repeat(m["trans"][start:start + 1], lead, 0), m["trans"][src]])
            verts = body.forward(poses, betas, trans, keypoints=False).vertices
            skinned = G.pose_garments(body, gs, poses, betas, trans)
            t = time.perf_counter()
            sim = simulate_garments(body.faces, gs, verts, skinned, fps, floor_from=lead)
            sim_s += time.perf_counter() - t
            sim_frames += len(poses)
            rows = np.arange(lead, lead + W, a.step)
            v = verts[rows]
            posed = {"skinned_raw": [s[rows] for s in skinned],
                     "skinned_push": G.push_out(v, body.faces, [s[rows] for s in skinned]),
                     "cloth_raw": [s[rows] for s in sim],
                     "cloth_push": G.push_out(v, body.faces, [s[rows] for s in sim])}
            for mo in modes:
                for g, p in zip(gs, posed[mo]):
                    for fi in range(len(rows)):
                        c = int(round(inside_fraction(v[fi], body.faces, p[fi]) * g.num_vertices))
                        for key in ("all",) + (("simulated",) if g.pin is not None else ()):
                            counts[mo][key][0] += c
                            counts[mo][key][1] += g.num_vertices
                        if g.pin is not None:
                            d = per_garment.setdefault(f"{g.name}:{mo}", [0, 0])
                            d[0] += c
                            d[1] += g.num_vertices
        out = {"clip": name, "fps": fps, "window_frames": W, "outfits": a.outfits}
        for mo in modes:
            for key in ("all", "simulated"):
                n_in, n = counts[mo][key]
                out[f"{mo}_{key}_inside_percent"] = round(100 * n_in / max(n, 1), 3)
                grand[mo][key][0] += n_in
                grand[mo][key][1] += n
        out["per_simulated_garment_percent"] = {k: round(100 * v[0] / v[1], 3) for k, v in sorted(per_garment.items())}
        print(json.dumps(out), flush=True)
    print(json.dumps({**{f"all_clips_{mo}_{key}_inside_percent": round(100 * grand[mo][key][0] / max(grand[mo][key][1], 1), 3)
                         for mo in modes for key in ("all", "simulated")},
                      "simulation_s_per_frame": round(sim_s / max(sim_frames, 1), 4)}))


if __name__ == "__main__":
    main()
