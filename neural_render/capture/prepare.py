"""`neural-render prepare`: a real video (or several calibrated views) + keypoints -> paired data.

For every view the output is a folder in the layout `neural-render train` reads
(neural_render/generator/data.py): frames/ (undistorted, cropped to a fixed square around the
subject, resized to --size), the passes rendered at that same camera, legend.json, split.json
(a contiguous tail held out; poorly fitted frames excluded), background.png (temporal median
outside the body mask) and overlay.mp4 (the fitted body over the real frames). One view: DIR
itself; several: DIR/views/<camera>/. DIR/fit_report.json holds the per-frame reprojection error,
the flagged frames and the reasons; DIR/motion.npz the fitted motion (drive the add-on with it);
DIR/fit_overlay.png a contact sheet of the overlay, a row per camera.

Order of work: fit the keypoints; per view, decode, undistort and crop the frames to disk; refine
the fit against the person's silhouettes in every view (background subtraction, silhouette.py);
then render the passes of the refined body per view. Frames stream through disk, so a clip of
several minutes does not have to fit in memory.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from neural_render.camera import Camera
from neural_render.errors import InputError
from neural_render.fileio import read_image, write_image, write_json


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
    refine: bool = True                # refine the fit against the person's silhouettes (see silhouette.py)
    refine_options: dict = field(default_factory=dict)
    min_silhouette_iou: float = 0.5    # after refinement, view-frames below this are excluded (see _silhouette_exclusions)
    # The person's silhouette for the refinement: "detector" (the built-in detector's person masks),
    # "background" (background subtraction), "both" (detector masks plus background-subtraction
    # pixels next to them), "auto" (detector when it ran because no keypoints were given, else
    # background). Detector masks are also written to person_mask/ beside frames/.
    silhouettes: str = "auto"


def prepare(videos: list[str | Path], keypoints: str | Path | None, out: str | Path,
            opts: PrepareOptions | None = None) -> dict:
    """Fit, render and write the paired set(s). Returns the fit report (also DIR/fit_report.json).

    keypoints None: one video, and the built-in detector finds the subject first (its output is
    kept in DIR/detection/: keypoints_coco.json, landmarks.json, masks/)."""
    import tempfile

    from neural_render.body import load_body
    from neural_render.video import list_videos
    from neural_render.motion.fit import FitOptions
    from neural_render.motion.keypoint_import import fit_keypoint_source, video_info

    opts = opts or PrepareOptions()
    out = Path(out)
    check_output_folder(out)
    if opts.size % 8:
        raise InputError(f"size {opts.size} is not a multiple of 8", where="--size", fix="use e.g. 256 or 512")
    if not 0 <= opts.test_tail < 1:
        raise InputError(f"test tail {opts.test_tail} outside [0, 1)", where="--test-tail")
    video_paths = list_videos(videos)
    infos = [video_info(v) for v in video_paths]
    body = load_body()
    with contextlib.ExitStack() as stack:
        det_dir, fit_frames = None, opts.frames
        if keypoints is None:
            from neural_render.capture.detect_output import run_detect

            if len(video_paths) > 1:
                raise InputError(f"{len(video_paths)} videos and no --keypoints", where="--keypoints",
                                 fix="the built-in detector handles one video; pass keypoints for several views")
            out.parent.mkdir(parents=True, exist_ok=True)
            tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix=f".{out.name}.detect-", dir=out.parent)))
            det_dir = tmp / "detection"
            run_detect(video_paths[0], det_dir, hands=False, frames=opts.frames, progress=opts.progress)
            keypoints, fit_frames = det_dir / "landmarks.json", None  # detected frames start at --frames' A
        mode = opts.silhouettes if opts.silhouettes != "auto" else ("detector" if det_dir is not None else "background")
        if mode not in ("detector", "background", "both"):
            raise InputError(f"unknown silhouette source '{opts.silhouettes}'", where="--silhouettes",
                             fix="use auto, detector, background or both")
        mask_dirs: dict[Path, Path] = {}
        if mode != "background" and opts.refine:
            from neural_render.capture.detect_output import run_detect

            for i, v in enumerate(video_paths):
                if det_dir is not None:
                    mask_dirs[v] = det_dir / "masks"
                    continue
                out.parent.mkdir(parents=True, exist_ok=True)
                mdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix=f".{out.name}.masks-",
                                                                            dir=out.parent))) / "det"
                run_detect(v, mdir, hands=False, frames=opts.frames, progress=opts.progress)
                mask_dirs[v] = mdir / "masks"
        t0 = time.perf_counter()
        fit = fit_keypoint_source(keypoints, opts.fmt, fps=infos[0]["fps"], body=body,
                                  video=video_paths if len(video_paths) > 1 else video_paths[0],
                                  calibration=opts.calibration, views=opts.views, frames=fit_frames,
                                  options=FitOptions(device=opts.device, **opts.fit_options))
        fit_s = time.perf_counter() - t0
        return _prepare_fitted(fit, fit_s, video_paths, infos, body, out, opts, det_dir, (mode, mask_dirs))


def _prepare_fitted(fit, fit_s: float, video_paths, infos, body, out: Path, opts: PrepareOptions,
                    det_dir: Path | None, silhouettes=("background", {})) -> dict:
    """Everything after the fit: check the videos against it, then write DIR through a staging folder."""
    import shutil

    cams = fit.cameras
    pairs = _pair_videos(cams, video_paths, infos)
    T = fit.motion.num_frames
    start = opts.frames[0] if opts.frames else 0
    for _, vpath, info in pairs:
        if info["frames"] and info["frames"] < start + T:
            raise InputError(f"video has {info['frames']} frames but the keypoints {start + T}", path=vpath,
                             fix="pass --frames A:B inside both")

    if opts.holdout_view and not any(opts.holdout_view in (c.name, v.stem) for c, v, _ in pairs):
        raise InputError(f"no view named '{opts.holdout_view}'", where="--holdout-view",
                         fix=f"choose one of {[c.name for c, _, _ in pairs]}")
    with staged_folder(out) as work:
        report = _write_all(work, out, fit, fit_s, pairs, body, start, opts, silhouettes)
        if det_dir is not None:
            shutil.move(str(det_dir), str(work / "detection"))
        return report


def check_output_folder(out: Path) -> None:
    """`out` must be new, empty, or a previous prepare output (which is replaced)."""
    if out.exists() and (not out.is_dir() or (any(out.iterdir()) and not (out / "fit_report.json").is_file())):
        raise InputError("output exists and is not a `prepare` output", path=out,
                         fix="choose a new or empty folder (a previous prepare output is replaced)")


@contextlib.contextmanager
def staged_folder(out: Path):
    """Yield a fresh sibling folder to write into; on success it replaces `out` (a previous
    prepare output, or nothing), on any error it is removed: no half-written DIR is ever left."""
    from neural_render.fileio import atomic_dir

    check_output_folder(out)
    with atomic_dir(out) as work:
        yield work


def _write_all(work: Path, out: Path, fit, fit_s: float, pairs, body, start: int, opts: PrepareOptions,
               silhouettes=("background", {})) -> dict:
    """Everything after the fit, written under `work` (renamed to `out` afterwards)."""
    T = fit.motion.num_frames
    excluded, reasons = _excluded_frames(fit, opts.max_error_px)
    cut = int(round(T * (1 - opts.test_tail)))
    multi = len(pairs) > 1
    views = [_extract_view(work / "views" / cam.name if multi else work, cam, vpath, fit, start, opts)
             for cam, vpath, _ in pairs]
    motion, refine_report = fit.motion, None
    mode, mask_dirs = silhouettes
    for v in views:
        if v.video in mask_dirs:
            _write_person_masks(v, mask_dirs[v.video], start)
    if opts.refine:
        t1 = time.perf_counter()
        motion, refine_report = _refine(views, fit, body, opts, mode, mask_dirs)
        refine_report["seconds"] = round(time.perf_counter() - t1, 2)
        refine_report["silhouettes"] = mode
    per_view_excluded = _silhouette_exclusions(refine_report, opts.min_silhouette_iou, reasons)
    view_reports, sheet_rows = {}, {}
    for v in views:
        held_out = opts.holdout_view is not None and opts.holdout_view in (v.cam.name, v.video.stem)
        view_excluded = excluded | per_view_excluded.get(v.cam.name, set())
        sheet_rows[v.cam.name], view_reports[v.cam.name] = _write_view(v, motion, fit, body, view_excluded, cut,
                                                                       held_out, opts)
    for r in view_reports.values():  # report where the folders will be, not the staging folder
        r["folder"] = str(out / Path(r["folder"]).relative_to(work))
    motion.save(work / "motion.npz")
    _write_overlay_sheet(work / "fit_overlay.png", sheet_rows)

    report = fit.report()
    report.update({
        "videos": [str(v) for _, v, _ in pairs], "frame_offset": start, "fit_seconds": round(fit_s, 2),
        "excluded_frames": sorted(int(t) for t in excluded), "exclusion_reasons": reasons,
        "split": {"train": f"frames {start}..{start + cut - 1} (fit-flagged excluded)",
                  "test": f"frames {start + cut}..{start + T - 1}", "holdout_view": opts.holdout_view},
        "silhouette_refinement": refine_report, "motion": str(out / "motion.npz"),
        "views": view_reports, "layout": "views/<camera>/" if multi else ".",
    })
    write_json(work / "fit_report.json", report)
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


@dataclass
class _View:
    """One camera's working state: where its frames are, and the crop camera."""

    folder: Path
    cam: Camera                       # the fit's camera (full frame, with lens distortion)
    video: Path
    crop: object                      # capture.video.SquareCrop
    pcam: Camera                      # the crop's camera (square pixels, no distortion)
    frames: int

    def frame_path(self, t: int) -> Path:
        from neural_render.passes.spec import frame_filename

        return self.folder / "frames" / frame_filename(t)

    def read_frame(self, t: int, size: int | None = None) -> np.ndarray:
        """(H, W, 3) uint8 RGB of motion frame t, optionally resized to size x size."""
        import cv2

        from neural_render.fileio import read_image

        img = read_image(self.frame_path(t))
        if size and size != img.shape[0]:
            img = cv2.resize(img, (size, size), interpolation=cv2.INTER_AREA)
        return img


def _extract_view(vdir: Path, cam, video: Path, fit, start: int, opts: PrepareOptions) -> _View:
    """Decode, undistort and crop the view's frames to vdir/frames (streamed, not kept)."""
    from neural_render.capture.video import square_crop_around, undistorter
    from neural_render.video import iter_frames

    T = fit.motion.num_frames
    # Crop around where the fitted body is in this view (ideal pinhole pixels).
    uv = cam.project(fit.keypoints3d, distort=False)[0]
    crop = square_crop_around(uv, cam.width, cam.height, opts.size, margin=0.15)
    K = crop.apply_to_K(cam.K)
    # Calibrations give fx and fy a hair apart (here 0.01 %); the passes renderers take square pixels.
    # Averaging moves a point at the crop's edge by |fx - fy| / 2 * (u - cx) / fx: well under 0.1 px.
    K[0, 0] = K[1, 1] = 0.5 * (K[0, 0] + K[1, 1])
    view = _View(vdir, cam, video, crop, Camera(K, cam.world_to_camera, opts.size, opts.size, name=cam.name), T)
    undistort = undistorter(cam.K, cam.dist, cam.width, cam.height)
    it = iter_frames(video, start, start + T)
    if opts.progress:
        from tqdm import tqdm

        it = tqdm(it, total=T, desc=f"frames {cam.name}", unit="frame")
    written = 0
    for t, img in enumerate(it):
        write_image(view.frame_path(t), crop.apply_to_image(undistort(np.ascontiguousarray(img))))
        written += 1
    if written < T:
        raise InputError(f"video ended after {written} of {T} frames", path=video)
    return view


def _write_person_masks(view: _View, mask_dir: Path, start: int) -> None:
    """The detector's person masks of the view, undistorted and cropped like its frames, to
    person_mask/ (uint8 0/255; all zero where the detector lost the person)."""
    from neural_render.capture.video import undistorter
    from neural_render.passes.spec import frame_filename

    from neural_render.motion.keypoint_import import video_info

    undistort = undistorter(view.cam.K, view.cam.dist, view.cam.width, view.cam.height)
    # The masks have the video's frame size, which can differ from the calibration's image size
    # (the shared Pose2Sim clip: 1080-wide videos, 1088-wide calibration); the frames are treated
    # the same way (undistort + crop from the decoded size).
    info = video_info(view.video)
    for t in range(view.frames):
        m = _read_source_mask(mask_dir, start + t, int(info["width"]), int(info["height"]))
        m = view.crop.apply_to_image(undistort(m))
        write_image(view.folder / "person_mask" / frame_filename(t), np.where(m > 127, 255, 0).astype(np.uint8))


def _read_source_mask(mask_dir: Path, frame: int, width: int, height: int) -> np.ndarray:
    """(H, W) uint8 mask of source frame `frame` (detect's masks/ are numbered frame + 1)."""
    m = read_image(mask_dir / f"{frame + 1:06d}.png", "gray", missing_ok=True)
    if m is None or m.shape != (height, width):
        return np.zeros((height, width), np.uint8)
    return m


def _refine(views: list[_View], fit, body, opts: PrepareOptions, mode: str = "background",
            mask_dirs: dict | None = None):
    """Refine the fit against the person's silhouettes in every view, at <= 256 px."""
    import cv2

    from neural_render.capture import silhouette as sil
    from neural_render.passes.spec import frame_filename

    work = min(opts.size, 256)
    cams = [v.pcam.scaled(work, work) for v in views]
    m0 = fit.motion

    def body_masks(c: int, ts) -> np.ndarray:
        verts = body.forward(m0.poses[ts], m0.betas, m0.trans[ts]).vertices
        return np.stack([sil.splat_mask(p, work, work) for p in cams[c].project(verts)[0]])

    # Background per view from the initial fit's masks (a subsample of frames is enough).
    backgrounds = []
    for c, v in enumerate(views):
        idx = np.linspace(0, v.frames - 1, min(120, v.frames)).round().astype(int)
        backgrounds.append(estimate_background(np.stack([v.read_frame(t, work) for t in idx]), body_masks(c, idx)))

    ro = sil.RefineOptions(device=opts.device, **opts.refine_options)

    def person_mask(c: int, t: int) -> np.ndarray:
        img = read_image(views[c].folder / "person_mask" / frame_filename(t), "gray")
        return cv2.resize(img, (work, work), interpolation=cv2.INTER_AREA) > 127

    near = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (9, 9))

    def load(c: int, t0: int, t1: int) -> np.ndarray:
        masks = body_masks(c, np.arange(t0, t1))
        has_det = views[c].video in (mask_dirs or {})
        out = []
        for t in range(t0, t1):
            if has_det and mode == "detector":
                out.append(person_mask(c, t))
                continue
            bg = sil.person_silhouette(views[c].read_frame(t, work), backgrounds[c], masks[t - t0], ro.threshold)
            if has_det:  # both: the detector's mask plus background-subtraction pixels right next to it
                det = person_mask(c, t)
                bg = det | (bg & (cv2.dilate(det.astype(np.uint8), near) > 0))
            out.append(bg)
        return np.stack(out)

    return sil.refine(body, m0, cams, load, fit.keypoints3d, skip=fit.flagged, opts=ro, progress=opts.progress)


def _silhouette_exclusions(refine_report: dict | None, min_iou: float, reasons: dict) -> dict[str, set]:
    """Per view, the frames whose refined body still disagrees with the person's silhouette (IoU
    below `min_iou`): a limb the fit could not place, or an occluder. Views whose silhouettes are
    unreliable as a whole (median IoU under 0.6: a moving camera or background, a bad plate) exclude
    nothing, since there the silhouette is what is wrong."""
    out: dict[str, set] = {}
    if not refine_report:
        return out
    for name, v in refine_report["views"].items():
        ious = np.array([np.nan if x is None else x for x in v["per_frame_iou_after"]], np.float64)
        if not np.isfinite(ious).any() or np.nanmedian(ious) < 0.6:
            continue
        bad = set(np.flatnonzero(np.nan_to_num(ious, nan=1.0) < min_iou).tolist())
        if bad:
            out[name] = bad
            reasons[f"low_silhouette_iou:{name}"] = sorted(bad)
    return out


def _write_view(view: _View, motion, fit, body, excluded: set, cut: int, held_out: bool,
                opts: PrepareOptions) -> tuple[list[np.ndarray], dict]:
    """Render the passes of `motion` at the view's crop camera, then background, overlay, split.
    Returns a few overlay frames (for fit_overlay.png) and the view's report."""
    from neural_render.renderers import render_passes
    from neural_render.passes.scene import BodyInstance
    from neural_render.passes.spec import frame_filename

    vdir, cam, T = view.folder, view.cam, view.frames
    inst = BodyInstance.from_motion(body, motion.poses, motion.trans, motion.betas, up=motion.up)
    legend = render_passes([inst], [view.pcam] * T, vdir, size=opts.size, renderer=opts.renderer,
                           passes=opts.passes, progress=opts.progress, fps=motion.fps)
    idx = np.linspace(0, T - 1, min(200, T)).round().astype(int)
    masks = np.stack([_read_mask(vdir / "mask" / frame_filename(t)) for t in idx])
    bg = estimate_background(np.stack([view.read_frame(t) for t in idx]), masks)
    write_image(vdir / "background.png", bg)
    sheet_frames = _overlay_video(view, legend, motion.fps)

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
    crop = view.crop
    return sheet_frames, {"folder": str(vdir), "video": str(view.video), "crop": {"x0": crop.x0, "y0": crop.y0, "side": crop.side,
            "size": crop.size}, "held_out": held_out, "train_frames": len(split["train"]),
            "test_frames": len(split["test"]),
            "median_reprojection_px": None if not np.isfinite(rep).any() else round(float(np.nanmedian(rep)), 2)}


def _write_overlay_sheet(path: Path, rows: dict[str, list[np.ndarray]]) -> None:
    """One row per camera of evenly spaced overlay frames (the fitted body over the video), labelled."""
    import cv2

    lines = []
    for name, frames in rows.items():
        row = np.concatenate(frames, 1).copy()
        cv2.putText(row, name, (6, 20), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (255, 255, 255), 2, cv2.LINE_AA)
        lines.append(row)
    width = max(r.shape[1] for r in lines)
    lines = [np.pad(r, ((0, 0), (0, width - r.shape[1]), (0, 0))) for r in lines]
    write_image(path, np.concatenate(lines, 0))


def _read_mask(path: Path) -> np.ndarray:
    m = read_image(path, "gray", missing_ok=True)
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


def _overlay_video(view: _View, legend: dict, fps: float, keep: int = 5) -> list[np.ndarray]:
    """The fitted body (part colours, half transparent) and skeleton over the real frames, as
    overlay.mp4; returns `keep` evenly spaced overlay frames (for the contact sheet)."""
    from neural_render.video import write_video
    from neural_render.passes.spec import frame_filename, parts_colors

    colours = parts_colors("default")
    vdir = view.folder

    picks = set(np.linspace(0, view.frames - 1, min(keep, view.frames)).round().astype(int).tolist())
    kept: list[np.ndarray] = []

    def frames():
        for t in range(view.frames):
            name = frame_filename(t)
            img = view.read_frame(t).astype(np.float32)
            parts = read_image(vdir / "parts" / name, "unchanged", missing_ok=True)
            if parts is not None:
                fg = parts > 0
                img[fg] = 0.5 * img[fg] + 0.5 * colours[parts[fg]]
            s = read_image(vdir / "skeleton" / name, missing_ok=True)
            if s is not None:
                on = s.max(-1) > 0
                img[on] = s[on]
            out = img.clip(0, 255).astype(np.uint8)
            if t in picks:
                kept.append(out)
            yield out

    write_video(vdir / "overlay.mp4", frames(), fps=fps)
    return kept
