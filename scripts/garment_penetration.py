"""Measure how many garment vertices end up inside the body on real motion clips.

Usage (from the repository root):
    .venv/bin/python scripts/garment_penetration.py [--data ../shared/data] [--outfits 24] [--step 4]

For each clip (the shared CMU walk, hop and dance, retargeted to the default body) and each of
`--outfits` outfits drawn by the dataset sampler from the example config, every `--step`-th frame is
posed (body + garments with the same skinning), and a garment vertex counts as inside when the
nearest point of the posed body surface has its outward normal pointing away from it (Blender's
BVH nearest-point query). Prints one JSON line per clip and the total.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np


def inside_fraction(body_vertices: np.ndarray, faces: np.ndarray, points: np.ndarray) -> float:
    """Fraction of `points` (P, 3) inside the closed surface (body_vertices, faces)."""
    import bpy  # noqa: F401  (loads Blender, which provides mathutils)
    from mathutils import Vector
    from mathutils.bvhtree import BVHTree

    tree = BVHTree.FromPolygons(body_vertices.astype(np.float64).tolist(), faces.tolist())
    inside = 0
    for p in points:
        loc, normal, _i, _d = tree.find_nearest(Vector(p))
        if loc is not None and (Vector(p) - loc).dot(normal) < -1e-4:  # deeper than 0.1 mm
            inside += 1
    return inside / max(len(points), 1)


def main() -> None:
    from neural_render.body import garments as G
    from neural_render.dataset.config import example_config_text, validate
    from neural_render.dataset.outfits import sample_outfit
    from neural_render.dataset.sampling import get_body, get_motion

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default="../shared/data")
    ap.add_argument("--outfits", type=int, default=24)
    ap.add_argument("--step", type=int, default=4)
    ap.add_argument("--no-push", action="store_true", help="skinning only, without the push-out step")
    a = ap.parse_args()
    import yaml

    raw = yaml.safe_load(example_config_text())
    raw["motions"]["sources"] = [str(Path(__file__).resolve().parents[1] / "smpl_assets/motions/cmu_131_01_walk.npz")]
    cfg = validate(raw)
    body = get_body("default")
    clips = {"walk": f"{a.data}/mocap/cmu_131_01_walk.bvh", "hop": f"{a.data}/mocap/cmu_131_03_hop.bvh",
             "dance": f"{a.data}/mocap/cmu_55_01_dance_whirl.fbx"}
    total_in = total = 0
    for name, path in clips.items():
        m = get_motion(path, 30.0)
        frames = np.arange(0, len(m["poses"]), a.step)
        n_in = n = 0
        per_label: dict = {}
        for k in range(a.outfits):
            rng = np.random.default_rng([7, k])
            outfit = sample_outfit(rng, cfg["garments"])
            betas = rng.normal(0, 1, 10)
            gs = G.build_outfit(body, betas, outfit)
            fsel = frames[k % 3::3]  # a third of the frames per outfit keeps the run short
            verts = body.forward(m["poses"][fsel], betas, m["trans"][fsel], keypoints=False).vertices
            posed = G.pose_garments(body, gs, m["poses"][fsel], betas, m["trans"][fsel])
            if not a.no_push:
                posed = G.push_out(verts, body.faces, posed)
            for fi in range(len(fsel)):
                for g, p in zip(gs, posed):
                    frac = inside_fraction(verts[fi], body.faces, p[fi])
                    c = int(round(frac * g.num_vertices))
                    n_in += c
                    n += g.num_vertices
                    d = per_label.setdefault(g.name, [0, 0])
                    d[0] += c
                    d[1] += g.num_vertices
        print(json.dumps({"clip": name, "frames": int(len(frames)), "outfits": a.outfits,
                          "inside_percent": round(100 * n_in / n, 3),
                          "per_garment_percent": {k: round(100 * v[0] / v[1], 3) for k, v in sorted(per_label.items())}}))
        total_in += n_in
        total += n
    print(json.dumps({"all_clips_inside_percent": round(100 * total_in / total, 3)}))


if __name__ == "__main__":
    main()
