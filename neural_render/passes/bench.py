"""`neural-render bench passes`: pass-rendering throughput of both renderers, and their agreement.

For each renderer and size (256^2, 512^2) it renders frames of a real clip (the shared CMU walk
when present, else a synthetic motion) with the default body and the follow camera, and reports
seconds per frame for
- "buffers": every pass in memory (geometry posing, the render, reading back, skeleton drawing,
  keypoint visibility) = `iter_frame_passes`;
- "files": the same plus encoding and writing every pass file (`render_passes`).
- "gl": the raster renderer's draw + read-back alone (`RasterRenderer.render_batch` on vertices posed
  beforehand), what the GL device itself sustains.
The first frame (start-up: bpy scene / GL context, shader compile) is timed separately.
`--device cuda` renders the raster passes on the GPU's EGL device, `--device cpu` on a software one
(Mesa llvmpipe), `auto` on EGL's first device; Blender (Cycles/Workbench on the CPU) runs with cpu/auto.
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
    poses, trans = synthetic_swing(120, 0.2, 2.0)
    return body, poses, trans, None, "z", "synthetic swing (120 frames)"


def synthetic_swing(frames: int, amplitude: float, walk_m: float, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A seeded stand-in motion, Z-up: every joint but the root swings (two sine periods over the
    clip, amplitude `amplitude` rad times a fixed N(0, 1) direction per axis) while the pelvis,
    1 m up, moves `walk_m` metres along +y. Returns poses (frames, 72) and trans (frames, 3), float32."""
    rng = np.random.default_rng(seed)
    poses = np.zeros((frames, 72), np.float32)
    poses[:, 0] = np.pi / 2  # SMPL's Y-up rest turned to Z-up
    poses[:, 3:] = amplitude * np.sin(np.linspace(0, 4 * np.pi, frames))[:, None] * rng.normal(0, 1, 69)
    trans = np.stack([np.zeros(frames), np.linspace(0, walk_m, frames), np.ones(frames)], 1).astype(np.float32)
    return poses, trans


def _one(renderer: str, size: int, n: int, inst, cams, frames, egl_device: str | None = None) -> dict:
    from neural_render.passes.render import iter_frame_passes
    from neural_render.renderers import make_renderer, render_passes

    t0 = time.perf_counter()
    rend = make_renderer(renderer, size, size, egl_device=egl_device if renderer == "raster" else None)
    first = None
    gl = {}
    try:
        t = time.perf_counter()
        it = iter_frame_passes([inst], cams, size, frames[:1], renderer=rend)
        for _ in it:
            pass
        first = time.perf_counter() - t0
        t, c = time.perf_counter(), time.process_time()
        for _ in iter_frame_passes([inst], cams, size, frames[1:n + 1], renderer=rend):
            pass
        buffers = (time.perf_counter() - t) / n
        cpu = (time.process_time() - c) / n  # CPU seconds of all this process's threads (Cycles, llvmpipe)
        if renderer == "raster":
            gl = _gl_only(rend, inst, cams, frames[1:n + 1])
    finally:
        rend.close()
    with tempfile.TemporaryDirectory() as d:  # render_passes makes its own renderer ($NEURAL_RENDER_EGL_DEVICE)
        t = time.perf_counter()
        render_passes([inst], cams, d, size, frames[1:n + 1], renderer=renderer, progress=False)
        files = {"files_s_per_frame_incl_startup": round((time.perf_counter() - t) / n, 4)}
    return {"renderer": renderer, "size": size, "frames": n, "startup_s": round(first, 3),
            "buffers_s_per_frame": round(buffers, 4), "buffers_fps": round(1 / buffers, 2),
            "buffers_cpu_s_per_frame": round(cpu, 4), **gl, **files,
            **({"gl_renderer": rend.gl_renderer} if renderer == "raster" else {})}


def _gl_only(rend, inst, cams, frames, reps: int = 3) -> dict:
    """Frames/s of draw + read-back alone: vertices posed first, then `render_batch` timed (best of reps)."""
    posed = inst.posed(list(frames))
    verts = [[posed.vertices[k]] for k in range(len(frames))]
    cameras = [cams[f] for f in frames]
    rend.render_batch([inst], verts, cameras)  # warm-up (buffers, static attributes)
    best = float("inf")
    for _ in range(reps):
        t = time.perf_counter()
        rend.render_batch([inst], verts, cameras)
        best = min(best, time.perf_counter() - t)
    return {"gl_s_per_frame": round(best / len(frames), 5), "gl_fps": round(len(frames) / best, 1),
            "gl_tile_batch": rend.batch_size}


def agreement(inst, cams, size: int, frames) -> dict:
    """Blender vs raster on the same frames (buffers in memory): per-part IoU (mean over the parts
    visible in either), mean normal angle on the common foreground, depth differences, skeletons."""
    from neural_render.renderers import iter_frame_passes

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


def run(device: str = "auto", quick: bool = False, renderers: tuple[str, ...] | None = None,
        sizes: tuple[int, ...] = (256, 512), agreement_check: bool | None = None) -> dict:
    """Rows per renderer and size; `renderers` default: raster, plus blender unless device is cuda."""
    from neural_render.passes.raster import available, resolve_egl_device
    from neural_render.passes.scene import BodyInstance

    egl = {"cuda": "gpu", "cpu": "cpu"}.get(device.split(":")[0])
    renderers = renderers or (("raster",) if egl == "gpu" else ("blender", "raster"))
    body, poses, trans, betas, up, clip = _clip()
    inst = BodyInstance.from_motion(body, poses, trans, betas, up=up)
    n = 6 if quick else 24
    if egl == "gpu" and not quick:
        n = 96  # a GPU draws a frame in well under a millisecond: time enough frames
    frames = np.linspace(0, len(poses) - 1, n + 1).round().astype(int).tolist()
    ok, why = available()
    if ok and egl:
        try:
            resolve_egl_device(egl)
        except RuntimeError as e:
            ok, why = False, str(e)
    old_env = os.environ.get("NEURAL_RENDER_EGL_DEVICE")
    if egl:
        os.environ["NEURAL_RENDER_EGL_DEVICE"] = egl  # also for the renderers render_passes makes
    try:
        return _run(inst, clip, body, poses, renderers, sizes, n, frames, ok, why, egl, agreement_check, quick)
    finally:
        if old_env is None:
            os.environ.pop("NEURAL_RENDER_EGL_DEVICE", None)
        else:
            os.environ["NEURAL_RENDER_EGL_DEVICE"] = old_env


def _run(inst, clip, body, poses, renderers, sizes, n, frames, ok, why, egl, agreement_check, quick) -> dict:
    from neural_render.passes.render import resolve_cameras

    results = []
    for size in sizes:
        cams = resolve_cameras([inst], "follow", size)
        if "blender" in renderers:
            try:
                import bpy  # noqa: F401

                results.append(_one("blender", size, n, inst, cams, frames))
            except ImportError:
                results.append({"renderer": "blender", "size": size, "skipped": "bpy not installed"})
        if "raster" in renderers:
            if ok:
                results.append(_one("raster", size, n, inst, cams, frames, egl_device=egl))
            else:
                results.append({"renderer": "raster", "size": size, "skipped": why})
    agree = None
    if agreement_check is None:
        agreement_check = "blender" in renderers
    if ok and agreement_check:
        try:
            import bpy  # noqa: F401

            cams = resolve_cameras([inst], "follow", 512)
            agree = agreement(inst, cams, 512, np.linspace(0, len(poses) - 1, 4 if quick else 12).round().astype(int).tolist())
        except ImportError:
            pass
    gl = {}
    if ok:
        from neural_render.passes.raster import RasterRenderer

        r = RasterRenderer(8, 8, egl_device=egl)
        gl = {"gl_renderer": r.gl_renderer, "platform": r.platform_name}
        r.close()
    try:
        load = os.getloadavg()[0]
    except OSError:
        load = None
    return {"clip": clip, "body_vertices": int(body.num_vertices), "results": results, "agreement": agree,
            "raster_gl": gl,
            "load_average_1min": load, "note": "all passes: skeleton, parts, normal, depth, mask, uv"}
