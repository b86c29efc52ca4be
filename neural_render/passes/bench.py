"""`neural-render bench passes`: pass-rendering throughput of both renderers, and their agreement.

For each renderer and size (256^2, 512^2) it renders frames of a real clip (the shared CMU walk
when present, else a synthetic motion) with the default body and the follow camera, and reports
seconds per frame for
- "buffers": every pass in memory (geometry posing, the render, reading back, skeleton drawing,
  keypoint visibility) = `iter_frame_passes`;
- "files": the same plus encoding and writing every pass file (`render_passes`).
The first frame (start-up: bpy scene / GL context, shader compile) is timed separately.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

import numpy as np


def _clip():
    from neural_render.body import load_body

    body = load_body()
    shared = Path(os.environ.get("NEURAL_RENDER_SHARED_DATA", Path(__file__).resolve().parents[2].parent / "shared" / "data"))
    src = shared / "mocap" / "cmu_131_01_walk.bvh"
    if src.exists():
        try:
            from neural_render.motion.importers import import_motion

            m = import_motion(src, fps=30)[0]
            return body, m.poses, m.trans, m.betas, m.up, f"CMU 131_01 walk ({m.num_frames} frames @30 fps)"
        except Exception:  # noqa: BLE001 - fall back to a synthetic motion
            pass
    T = 120
    rng = np.random.default_rng(0)
    poses = np.zeros((T, 72), np.float32)
    poses[:, 0] = np.pi / 2
    poses[:, 3:] = 0.2 * np.sin(np.linspace(0, 4 * np.pi, T))[:, None] * rng.normal(0, 1, 69)
    trans = np.stack([np.zeros(T), np.linspace(0, 2, T), np.ones(T)], 1).astype(np.float32)
    return body, poses, trans, None, "z", "synthetic swing (120 frames)"


def _one(renderer: str, size: int, n: int, inst, cams, frames) -> dict:
    from neural_render.passes.render import iter_frame_passes, make_renderer, render_passes

    t0 = time.perf_counter()
    rend = make_renderer(renderer, size, size)
    first = None
    try:
        t = time.perf_counter()
        it = iter_frame_passes([inst], cams, size, frames[:1], renderer_obj=rend)
        for _ in it:
            pass
        first = time.perf_counter() - t0
        t, c = time.perf_counter(), time.process_time()
        for _ in iter_frame_passes([inst], cams, size, frames[1:n + 1], renderer_obj=rend):
            pass
        buffers = (time.perf_counter() - t) / n
        cpu = (time.process_time() - c) / n  # CPU seconds of all this process's threads (Cycles, llvmpipe)
    finally:
        rend.close()
    with tempfile.TemporaryDirectory() as d:
        t = time.perf_counter()
        render_passes([inst], cams, d, size, frames[1:n + 1], renderer=renderer, progress=False)
        files_total = time.perf_counter() - t
    return {"renderer": renderer, "size": size, "frames": n, "startup_s": round(first, 3),
            "buffers_s_per_frame": round(buffers, 4), "buffers_fps": round(1 / buffers, 2),
            "buffers_cpu_s_per_frame": round(cpu, 4),
            "files_s_per_frame_incl_startup": round(files_total / n, 4)}


def agreement(inst, cams, size: int, frames) -> dict:
    """Blender vs raster on the same frames (buffers in memory): per-part IoU (mean over the parts
    visible in either), mean normal angle on the common foreground, depth differences, skeletons."""
    from neural_render.passes.render import iter_frame_passes

    out = {r: list(iter_frame_passes([inst], cams, size, frames, renderer=r)) for r in ("raster", "blender")}
    per = []
    for a, b in zip(out["raster"], out["blender"]):
        ious = []
        for k in range(1, 25):
            u = ((a["parts"] == k) | (b["parts"] == k)).sum()
            if u:
                ious.append(((a["parts"] == k) & (b["parts"] == k)).sum() / u)
        both = a["mask"] & b["mask"]
        cosang = np.clip((a["normal"] * b["normal"]).sum(-1), -1, 1)[both]
        dd = np.abs(a["depth"] - b["depth"])[both]
        per.append({"part_iou": float(np.mean(ious)), "normal_deg": float(np.degrees(np.arccos(cosang)).mean()),
                    "depth_max_m": float(dd.max()), "depth_p99_m": float(np.percentile(dd, 99)),
                    "depth_over_1cm": float((dd > 0.01).mean()),
                    "mask_iou": float(both.sum() / (a["mask"] | b["mask"]).sum()),
                    "skeleton_identical": bool(np.array_equal(a["skeleton"], b["skeleton"]))})
    return {"size": size, "frames": len(per),
            "part_iou_mean": round(float(np.mean([p["part_iou"] for p in per])), 4),
            "part_iou_min": round(float(np.min([p["part_iou"] for p in per])), 4),
            "normal_deg_mean": round(float(np.mean([p["normal_deg"] for p in per])), 4),
            "depth_p99_m_max": float(np.max([p["depth_p99_m"] for p in per])),
            "depth_max_m": float(np.max([p["depth_max_m"] for p in per])),
            "depth_fraction_over_1cm_max": float(np.max([p["depth_over_1cm"] for p in per])),
            "mask_iou_min": round(float(np.min([p["mask_iou"] for p in per])), 4),
            "skeleton_identical_frames": int(sum(p["skeleton_identical"] for p in per))}


def run(device: str = "auto", quick: bool = False) -> dict:
    from neural_render.passes.raster import available
    from neural_render.passes.render import resolve_cameras
    from neural_render.passes.scene import BodyInstance

    body, poses, trans, betas, up, clip = _clip()
    inst = BodyInstance.from_motion(body, poses, trans, betas, up=up)
    n = 6 if quick else 24
    frames = np.linspace(0, len(poses) - 1, n + 1).round().astype(int).tolist()
    results = []
    ok, why = available()
    for size in (256, 512):
        cams = resolve_cameras([inst], "follow", size)
        try:
            import bpy  # noqa: F401

            results.append(_one("blender", size, n, inst, cams, frames))
        except ImportError:
            results.append({"renderer": "blender", "size": size, "skipped": "bpy not installed"})
        if ok:
            results.append(_one("raster", size, n, inst, cams, frames))
        else:
            results.append({"renderer": "raster", "size": size, "skipped": why})
    agree = None
    if ok:
        try:
            import bpy  # noqa: F401

            cams = resolve_cameras([inst], "follow", 512)
            agree = agreement(inst, cams, 512, np.linspace(0, len(poses) - 1, 4 if quick else 12).round().astype(int).tolist())
        except ImportError:
            pass
    gl = {}
    if ok:
        from neural_render.passes.raster import RasterRenderer

        r = RasterRenderer(8, 8)
        from OpenGL import GL

        gl = {"gl_renderer": GL.glGetString(GL.GL_RENDERER).decode(), "platform": r.platform_name}
        r.close()
    try:
        load = os.getloadavg()[0]
    except OSError:
        load = None
    return {"clip": clip, "body_vertices": int(body.num_vertices), "results": results, "agreement": agree,
            "raster_gl": gl,
            "load_average_1min": load, "note": "all passes: skeleton, parts, normal, depth, mask, uv"}
