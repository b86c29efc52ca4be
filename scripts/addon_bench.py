"""Timings of the add-on's operations (for BENCHMARKS.md), headless with the bpy module.

    .venv/bin/python scripts/addon_bench.py [--bvh FILE] [--json]

Measures: extension build, add_body (default body), import_motion of a BVH (retarget + keyframing),
keyframing alone, armature playback (depsgraph evaluation of the deformed mesh per frame), and the
render_passes operator per frame at 256 and 512 px. Each figure is the best of a few runs.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def best(fn, repeat=3):
    times = []
    out = None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return min(times), out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--bvh", default=str(ROOT.parent / "shared" / "data" / "mocap" / "cmu_131_01_walk.bvh"))
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    sys.path.insert(0, str(ROOT / "scripts"))
    from addon_screenshot import register_addon

    import bpy

    from neural_render.addon_cli import build_extension
    from neural_render.blender import addon_api, rig
    from neural_render.motion.importers import import_motion

    tmp = Path(tempfile.mkdtemp(prefix="nr_addon_bench_"))
    res = {"machine": {"python": platform.python_version(), "blender": bpy.app.version_string}}
    t, z = best(lambda: build_extension(tmp / "dist"), 1)
    res["build_s"] = round(t, 2)
    res["zip_mb"] = round(z.stat().st_size / 2**20, 2)
    register_addon()
    scene = bpy.context.scene

    def add():
        bpy.ops.neural_render.add_body()
        return bpy.context.view_layer.objects.active
    t, arm = best(add, 3)
    res["add_body_s"] = round(t, 3)
    res["vertices"] = len(rig.find_mesh(arm).data.vertices)
    t, _ = best(lambda: bpy.ops.neural_render.import_motion(filepath=args.bvh, fps=30.0), 3)
    res["import_motion_s"] = round(t, 3)
    motion, _ = import_motion(args.bvh, fps=30.0)
    res["frames"] = motion.num_frames
    t, _ = best(lambda: rig.keyframe_motion(arm, motion), 3)
    res["keyframe_s"] = round(t, 3)
    mesh = rig.find_mesh(arm)

    def play():
        for f in range(1, 61):
            scene.frame_set(f)
            rig.evaluated_vertices(mesh)
    t, _ = best(play, 2)
    res["playback_fps_with_vertex_readback"] = round(60 / t, 1)
    addon_api.add_camera_for_body(scene, arm, size=256, distance=3.6)
    for size in (256, 512):
        scene.frame_start, scene.frame_end = 60, 69
        t, _ = best(lambda: bpy.ops.neural_render.render_passes(output_dir=str(tmp / f"p{size}"), size=size), 1)
        res[f"render_passes_s_per_frame_{size}"] = round(t / 10, 3)
    print(json.dumps(res, indent=None if args.json else 2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
