"""`neural-render prepare`: a real video (or several calibrated views) + keypoints -> paired data.

For every view the output is a folder in the layout `neural-render train` reads
(neural_render/generator/data.py): frames/ (undistorted, cropped to a fixed square around the
subject, resized to --size), the passes rendered at that same camera, legend.json, split.json
(a contiguous tail held out; poorly fitted frames excluded), background.png (temporal median
outside the body mask) and overlay.mp4 (the fitted body over the real frames). One view: DIR
itself; several: DIR/views/<camera>/. DIR/fit_report.json holds the per-frame reprojection error,
the flagged frames and the reasons.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from neural_render.errors import InputError
from neural_render.fileio import write_image, write_json


@dataclass
class PrepareOptions:
    size: int = 512                    # output frames and passes are size x size pixels
    frames: tuple[int, int] | None = None  # motion/video frame range A:B
    test_tail: float = 0.2             # fraction of the clip (its end) held out for evaluation
    holdout_view: str | None = None    # a camera held out entirely (multi-view)
    renderer: str = "blender"
    device: str = "cpu"
    max_error_px: float | None = None  # reprojection error (in source pixels) above which a frame is excluded
    fmt: str = "auto"
    views: list[str] | None = None
    calibration: str | None = None
    progress: bool = True
    passes: tuple[str, ...] = ("skeleton", "parts", "normal", "depth", "mask", "uv")
    fit_options: dict = field(default_factory=dict)


def prepare(videos: list[str | Path], keypoints: str | Path, out: str | Path, opts: PrepareOptions | None = None) -> dict:
    """Fit, render and write the paired set(s). Returns the fit report (also DIR/fit_report.json)."""
    from neural_render.body import load_body
    from neural_render.capture.video import list_videos
    from neural_render.motion.fit import FitOptions
    from neural_render.motion.keypoint_import import fit_keypoint_source, video_info

    opts = opts or PrepareOptions()
    out = Path(out)
    if opts.size % 8:
        raise InputError(f"size {opts.size} is not a multiple of 8", where="--size", fix="use e.g. 256 or 512")
    if not 0 <= opts.test_tail < 1:
        raise InputError(f"test tail {opts.test_tail} outside [0, 1)", where="--test-tail")
    video_paths = list_videos(videos)
    infos = [video_info(v) for v in video_paths]
    body = load_body()
    t0 = time.perf_counter()
    fit = fit_keypoint_source(keypoints, opts.fmt, fps=infos[0]["fps"], body=body,
                              video=video_paths if len(video_paths) > 1 else video_paths[0],
                              calibration=opts.calibration, views=opts.views, frames=opts.frames,
                              options=FitOptions(device=opts.device, **opts.fit_options))
    fit_s = time.perf_counter() - t0
    cams = fit.cameras
    pairs = _pair_videos(cams, video_paths, infos)
    T = fit.motion.num_frames
    start = opts.frames[0] if opts.frames else 0
    for _, vpath, info in pairs:
        if info["frames"] and info["frames"] < start + T:
            raise InputError(f"video has {info['frames']} frames but the keypoints {start + T}", path=vpath,
                             fix="pass --frames A:B inside both")

    excluded, reasons = _excluded_frames(fit, opts.max_error_px)
    cut = int(round(T * (1 - opts.test_tail)))
    multi = len(pairs) > 1
    view_reports = {}
    for cam, vpath, info in pairs:
        vdir = out / "views" / cam.name if multi else out
        held_out = opts.holdout_view is not None and opts.holdout_view in (cam.name, vpath.stem)
        view_reports[cam.name] = _write_view(vdir, cam, vpath, fit, body, start, excluded, cut, held_out, opts)
    if opts.holdout_view and not any(r["held_out"] for r in view_reports.values()):
        raise InputError(f"no view named '{opts.holdout_view}'", where="--holdout-view",
                         fix=f"choose one of {[c.name for c, _, _ in pairs]}")

    report = fit.report()
    report.update({
        "videos": [str(v) for _, v, _ in pairs], "frame_offset": start, "fit_seconds": round(fit_s, 2),
        "excluded_frames": sorted(int(t) for t in excluded), "exclusion_reasons": reasons,
        "split": {"train": f"frames {start}..{start + cut - 1} (fit-flagged excluded)",
                  "test": f"frames {start + cut}..{start + T - 1}", "holdout_view": opts.holdout_view},
        "views": view_reports, "layout": "views/<camera>/" if multi else ".",
    })
    write_json(out / "fit_report.json", report)
    return report


def _pair_videos(cams, videos: list[Path], infos: list[dict]):
    """(camera, video, info) per fitted camera: by the number in the names, else by order."""
    import re

    if len(cams) == 1:
        return [(cams[0], videos[0], infos[0])]
    num = lambda s: (re.findall(r"\d+", s) or [None])[-1]  # noqa: E731
    by_num = {num(v.stem): (v, i) for v, i in zip(videos, infos)}
    out = []
    for k, c in enumerate(cams):
        hit = by_num.get(num(c.name))
        if hit is None:
            if len(videos) != len(cams):
                raise InputError(f"no video for camera '{c.name}'", where="--video",
                                 fix="pass one video per view, named like the cameras (cam01.mp4 <-> cam_01)")
            hit = (videos[k], infos[k])
        out.append((c, hit[0], hit[1]))
    return out


def _excluded_frames(fit, max_error_px: float | None):
    """Frames left out of training: the fit's own flags plus an optional error threshold."""
    reasons: dict[str, list[int]] = {k: np.flatnonzero(v).tolist() for k, v in fit.flags.items()}
    excluded = set(np.flatnonzero(fit.flagged).tolist())
    if max_error_px is not None:
        worst = np.nanmax(np.where(np.isfinite(fit.reprojection_px), fit.reprojection_px, -1), axis=1)
        over = np.flatnonzero(worst > max_error_px).tolist()
        reasons["over_max_error_px"] = over
        excluded |= set(over)
    return excluded, reasons


def _write_view(vdir: Path, cam, video: Path, fit, body, start: int, excluded: set, cut: int, held_out: bool,
                opts: PrepareOptions) -> dict:
    from neural_render.capture.video import iter_frames, square_crop_around, undistorter
    from neural_render.passes.camera import Camera as PassCamera
    from neural_render.passes.render import render_passes
    from neural_render.passes.scene import BodyInstance

    T = fit.motion.num_frames
    # Crop around where the fitted body is in this view (ideal pinhole pixels).
    uv = cam.project(fit.keypoints3d, distort=False)
    crop = square_crop_around(uv, cam.width, cam.height, opts.size, margin=0.15)
    K = crop.apply_to_K(cam.K)
    # Calibrations give fx and fy a hair apart (here 0.01 %); the passes renderers take square pixels.
    # Averaging moves a point at the crop's edge by |fx - fy| / 2 * (u - cx) / fx: well under 0.1 px.
    K[0, 0] = K[1, 1] = 0.5 * (K[0, 0] + K[1, 1])
    pcam = PassCamera(K, cam.world_to_camera, opts.size, opts.size)
    m = fit.motion
    inst = BodyInstance.from_motion(body, m.poses, m.trans, m.betas, up=m.up)
    legend = render_passes([inst], [pcam] * T, vdir, size=opts.size, renderer=opts.renderer,
                           passes=opts.passes, progress=opts.progress, fps=m.fps)

    from neural_render.passes.spec import frame_filename

    undistort = undistorter(cam.K, cam.dist, cam.width, cam.height)
    frames = []
    it = iter_frames(video, start, start + T)
    if opts.progress:
        from tqdm import tqdm

        it = tqdm(it, total=T, desc=f"frames {cam.name}", unit="frame")
    written = 0
    for t, img in enumerate(it):
        f = crop.apply_to_image(undistort(np.ascontiguousarray(img)))
        write_image(vdir / "frames" / frame_filename(t), f)
        frames.append(f)
        written += 1
    if written < T:
        raise InputError(f"video ended after {written} of {T} frames", path=video)
    masks = np.stack([_read_mask(vdir / "mask" / frame_filename(t)) for t in range(T)])
    bg = estimate_background(np.stack(frames), masks)
    write_image(vdir / "background.png", bg)
    _overlay_video(vdir, frames, legend, m.fps)

    good = [t for t in range(T) if t not in excluded]
    number = lambda t: t + 1  # noqa: E731  frame files are motion index + 1
    if held_out:
        split = {"train": [], "test": [number(t) for t in good]}
    elif opts.holdout_view:
        split = {"train": [number(t) for t in good], "test": []}
    else:
        split = {"train": [number(t) for t in good if t < cut], "test": [number(t) for t in good if t >= cut]}
    split["excluded"] = [number(t) for t in sorted(excluded)]
    write_json(vdir / "split.json", split)
    rep = fit.reprojection_px[:, [c.name for c in fit.cameras].index(cam.name)]
    return {"folder": str(vdir), "video": str(video), "crop": {"x0": crop.x0, "y0": crop.y0, "side": crop.side,
            "size": crop.size}, "held_out": held_out, "train_frames": len(split["train"]),
            "test_frames": len(split["test"]),
            "median_reprojection_px": None if not np.isfinite(rep).any() else round(float(np.nanmedian(rep)), 2)}


def _read_mask(path: Path) -> np.ndarray:
    import cv2

    m = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
    if m is None:
        raise RuntimeError(f"mask not written: {path}")
    return m > 127


def estimate_background(frames: np.ndarray, masks: np.ndarray, dilate_px: int = 9, max_frames: int = 200) -> np.ndarray:
    """Static background (H, W, 3) uint8: per-pixel temporal median of the frames where the fitted
    body (dilated, since the fit is not pixel exact) does not cover the pixel; pixels the body always
    covers are inpainted from their surroundings."""
    import cv2

    idx = np.linspace(0, len(frames) - 1, min(max_frames, len(frames))).round().astype(int)
    kernel = np.ones((2 * dilate_px + 1, 2 * dilate_px + 1), np.uint8)
    covered = np.stack([cv2.dilate(masks[i].astype(np.uint8), kernel) > 0 for i in idx])
    stack = frames[idx].astype(np.float32)
    stack[covered] = np.nan
    with np.errstate(all="ignore"):
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            bg = np.nanmedian(stack, axis=0)
    hole = ~np.isfinite(bg).all(-1)
    bg = np.nan_to_num(bg).clip(0, 255).astype(np.uint8)
    if hole.any():
        bg = cv2.inpaint(bg, hole.astype(np.uint8), 5, cv2.INPAINT_TELEA)
    return bg


def _overlay_video(vdir: Path, frames: list[np.ndarray], legend: dict, fps: float) -> None:
    """The fitted body (part colours, half transparent) and skeleton over the real frames."""
    import cv2

    from neural_render.generator.video import write_video
    from neural_render.passes.spec import frame_filename, parts_colors

    colours = parts_colors("default")
    out = []
    for t, f in enumerate(frames):
        name = frame_filename(t)
        parts = cv2.imread(str(vdir / "parts" / name), cv2.IMREAD_UNCHANGED)
        img = f.astype(np.float32)
        if parts is not None:
            fg = parts > 0
            img[fg] = 0.5 * img[fg] + 0.5 * colours[parts[fg]]
        skel = cv2.imread(str(vdir / "skeleton" / name), cv2.IMREAD_COLOR)
        if skel is not None:
            s = skel[..., ::-1]
            on = s.max(-1) > 0
            img[on] = s[on]
        out.append(img.clip(0, 255).astype(np.uint8))
    write_video(vdir / "overlay.mp4", out, fps=fps)
