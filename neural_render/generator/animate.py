"""`neural-render animate`: make the person in a photo perform a motion, seen by the photo's camera.

Steps (timed into DIR/animate.json):
1. fit: the body is fitted to each photo (capture/photo.py: keypoints from a file or the built-in
   detector; shape, pose and the photo's camera in a single-view world).
2. place: the motion (anything `motion import` reads) is worn by the first photo's body shape,
   turned to face where the person faces, started where they stand, its lowest point on their
   floor (motion/placement.py).
3. lift: each photo's pixels go onto the body's UV atlas with per-texel confidence (uv_lift.py);
   several photos are fused by confidence, the unseen rest filled by symmetry and from the nearest
   seen texel of the same body part. `--part upper=B.jpg` takes a region from another photo.
4. background: the photo with the person removed: the fitted body's silhouette (dilated by 4 % of
   the person's height, united with the detector's person mask when there is one) filled by
   OpenCV's Telea inpainting at the output size.
5. frames: per motion frame the body is rasterized at the photo's camera (scaled to the output
   size); the texture is looked up through the UV pass and composited over the background with a
   softened edge; with a multi-identity generator checkpoint the network turns the looked-up
   appearance + passes into the frame instead. The passes are written too.

Output (DIR replaced atomically: nothing half-written on error): frames/000001.png... (one per
motion frame, numbered like every pass: motion index + 1), passes/<pass>/ + passes/legend.json,
texture.png + texture_confidence.png (the lifted atlas), background.png, animate.mp4 (or --video),
contact_sheet.png (photo | passes | result for a few frames) and animate.json.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from neural_render.errors import InputError
from neural_render.fileio import write_image, write_json

MAX_DEFAULT_SIDE = 1024   # without --size, larger photos are scaled down to this longer side
PARTS = {  # --part regions in SMPL part labels (1-based: joint index + 1)
    "upper": (4, 7, 10, 14, 15, 17, 18, 19, 20, 21, 22, 23, 24),   # spine, chest, collars, arms, hands
    "lower": (1, 2, 3, 5, 6),                                      # pelvis, thighs, shins
    "head": (13, 16),                                              # neck, head
    "shoes": (8, 9, 11, 12),                                       # ankles, feet
}


@dataclass
class AnimateOptions:
    size: int | None = None            # longer output side in px (default: the photo's, <= 1024)
    device: str = "cpu"
    texture_size: int = 256            # UV atlas texels per side
    work: int = 768                    # px across the person when lifting the photo
    keypoints: list = field(default_factory=list)   # per --image, a keypoint file or None
    parts: dict = field(default_factory=dict)       # region -> (photo, keypoints or None)
    video: str | None = None
    checkpoint: str | None = None      # multi-identity generator (None: the lifted texture alone)
    frames: tuple[int, int] | None = None
    progress: bool = True
    sheet_frames: int = 4
    focal: float | None = None         # the first photo's focal length in px (default: 60 deg FOV guess)
    anchor: str = "auto"               # "upright", "rigid" or "auto" (see _place)
    precision: str = "auto"            # generator arithmetic: "fp32", "bf16", "auto" (bf16 on CPUs with bf16 units)


def output_size(width: int, height: int, size: int | None) -> tuple[int, int]:
    """(W, H) of the frames: the photo's, scaled so the longer side is `size` (or <= 1024); even."""
    side = max(width, height)
    target = size if size else min(side, MAX_DEFAULT_SIDE)
    s = target / side
    even = lambda x: max(2, int(round(x * s / 2)) * 2)  # noqa: E731
    return even(width), even(height)


def check_output(out: Path) -> None:
    if out.exists() and (not out.is_dir() or (any(out.iterdir()) and not (out / "animate.json").is_file())):
        raise InputError("output exists and is not an `animate` output", path=out, where="--out",
                         fix="choose a new or empty folder (a previous animate output is replaced)")


def load_motion(src: str | Path, body, device: str = "cpu"):
    """Any source `motion import` reads -> Motion (up z)."""
    from neural_render.motion.importers import import_motion

    src = Path(src)
    if not src.exists():
        raise InputError("motion not found", path=src, where="--motion")
    motion, report = import_motion(src, body=body, device=device)
    if motion.num_frames < 1:
        raise InputError("motion has no frames", path=src, where="--motion")
    return (motion.with_up("z", body=body) if motion.up != "z" else motion), report


def animate(images: list[str | Path], motion_src: str | Path, out: str | Path, opts: AnimateOptions | None = None) -> dict:
    """Run the whole job (see the module docstring); returns the animate.json dict."""
    from neural_render.body import load_body
    from neural_render.fileio import atomic_dir

    opts = opts or AnimateOptions()
    out = Path(out)
    if not images:
        raise InputError("no photo given", where="--image", fix="pass --image PHOTO")
    if opts.size is not None and not 16 <= opts.size <= 4096:
        raise InputError(f"size {opts.size} outside 16..4096", where="--size")
    for region in opts.parts:
        if region not in PARTS:
            raise InputError(f"unknown part '{region}'", where="--part", fix=f"use one of {', '.join(PARTS)}")
    check_output(out)
    times: dict[str, float] = {}
    t = time.perf_counter()
    body = load_body()
    motion, motion_report = load_motion(motion_src, body, opts.device)
    if opts.frames:
        motion = motion.trim(*opts.frames)
    times["motion_s"] = time.perf_counter() - t

    t = time.perf_counter()
    fits = _fit_all(images, opts, body)
    part_fits = {r: _fit_one(p, k, opts, body) for r, (p, k) in opts.parts.items()}
    times["fit_s"] = time.perf_counter() - t
    main = fits[0]

    t = time.perf_counter()
    placed, placement = _place(motion, main, body, opts.anchor)
    times["place_s"] = time.perf_counter() - t

    t = time.perf_counter()
    tex = _lift_all(fits, part_fits, body, opts)
    times["lift_s"] = time.perf_counter() - t

    c = main.camera
    W, H = output_size(c.width, c.height, opts.size)
    cam_out = _pass_camera(main).scaled(W, H)
    with atomic_dir(out) as work:
        t = time.perf_counter()
        bg = remove_person(main, body, cam_out)
        write_image(work / "background.png", bg)
        write_image(work / "texture.png", tex.image())
        write_image(work / "texture_confidence.png", np.rint(tex.conf * 255).astype(np.uint8))
        times["background_s"] = time.perf_counter() - t
        t, c = time.perf_counter(), time.process_time()
        frames_info = render_frames(placed, body, cam_out, tex, bg, work, opts)
        times["frames_s"] = time.perf_counter() - t
        times["frames_cpu_s"] = time.process_time() - c   # all threads of this process (not the wall clock)
        t = time.perf_counter()
        _write_video(work, frames_info["frames"], placed.fps)
        _contact_sheet(work, main.image, frames_info["frames"], (W, H), opts.sheet_frames)
        times["video_sheet_s"] = time.perf_counter() - t
        report = {
            "images": [str(f.path) for f in fits], "motion": str(motion_src), "frames": len(frames_info["frames"]),
            "fps": float(placed.fps), "size": {"width": W, "height": H},
            "camera": {"K": np.round(cam_out.K, 5).tolist(), "world_to_camera": np.round(cam_out.world_to_camera, 6).tolist(),
                       "convention": "OpenCV; world Z-up metres (single-view world of the first photo)"},
            "fit": [f.report() for f in fits], "parts": {r: f.report() for r, f in part_fits.items()},
            "placement": placement, "motion_import": _json_safe(motion_report),
            "texture": {"size": tex.size, "seen_fraction": round(float(tex.seen.mean()), 4) if tex.seen is not None else None},
            "background": "photo with the person removed: fitted body silhouette dilated by 4 % of the person's "
                          "height (united with the detector's mask when present), filled by OpenCV Telea inpainting",
            "method": (f"generator {opts.checkpoint} ({opts.precision} precision)" if opts.checkpoint
                       else "lifted UV texture (no generator)"),
            "seconds": {k: round(v, 2) for k, v in times.items()},
            "frames_per_s": round(len(frames_info["frames"]) / max(times["frames_s"], 1e-9), 2),
            "frames_per_cpu_s": round(len(frames_info["frames"]) / max(times["frames_cpu_s"], 1e-9), 2),
            "video": str(opts.video or out / "animate.mp4"),
        }
        write_json(work / "animate.json", report)
    if opts.video:  # written last, once DIR is complete (write_video's own file is atomic too)
        import shutil

        from neural_render.fileio import atomic_path

        with atomic_path(opts.video) as tmp:
            shutil.copyfile(out / "animate.mp4", tmp)
    return report


def _json_safe(o):
    import json

    try:
        json.dumps(o)
        return o
    except TypeError:
        return json.loads(json.dumps(o, default=str))


def _fit_one(path, keypoints, opts: AnimateOptions, body, focal: float | None = None):
    from neural_render.capture.photo import fit_photo

    return fit_photo(path, keypoints=keypoints, device=opts.device, body=body, focal=focal)


def _fit_all(images, opts: AnimateOptions, body) -> list:
    kps = list(opts.keypoints) + [None] * (len(images) - len(opts.keypoints))
    if len(opts.keypoints) > len(images):
        raise InputError(f"{len(opts.keypoints)} keypoint files for {len(images)} photos", where="--keypoints",
                         fix="give at most one --keypoints per --image, in the same order")
    return [_fit_one(p, k, opts, body, opts.focal if i == 0 else None) for i, (p, k) in enumerate(zip(images, kps))]


def _place(motion, fit, body, anchor: str = "auto"):
    """(placed Motion, info). "upright": turned about the vertical to face where the person faces,
    started at their spot, on their floor (any motion). "rigid": the motion's first frame moved onto
    the photo's fitted body by the best rigid transform (a motion that starts at the photo's moment,
    e.g. fitted from the video the photo was taken from: the frames then line up with that video).
    "auto": rigid when the first frame's pose is the photo's (placement.SAME_POSE_M), else upright."""
    from neural_render.motion.placement import SAME_POSE_M, anchor_motion, place_motion
    from neural_render.passes.camera import facing_direction

    if anchor not in ("auto", "upright", "rigid"):
        raise InputError(f"unknown anchor '{anchor}'", where="--anchor", fix="use auto, upright or rigid")
    J = fit.motion.joints(body)
    rigid, info = anchor_motion(motion, body, fit.motion.betas, J[0])
    if anchor == "rigid" or (anchor == "auto" and info["pose_distance_m"] <= SAME_POSE_M):
        return rigid, info
    verts = body.forward(fit.motion.poses, fit.motion.betas, fit.motion.trans, keypoints=False).vertices
    placed, up = place_motion(motion, body, fit.motion.betas, J[0, 0, :2], facing_direction(J), float(verts[..., 2].min()))
    return placed, {"anchor": "upright", **up, "pose_distance_m": info["pose_distance_m"]}


def _pass_camera(fit):
    from neural_render.camera import Camera

    c = fit.camera
    return Camera(c.K, c.world_to_camera, c.width, c.height)  # the passes render without lens distortion


def _lift_all(fits, part_fits, body, opts: AnimateOptions):
    from neural_render.generator import uv_lift
    from neural_render.generator.uv_atlas import atlas

    def lift(f):
        v = body.forward(f.motion.poses, f.motion.betas, f.motion.trans, keypoints=False).vertices[0]
        return uv_lift.lift(f.image, _pass_camera(f), v, body, size=opts.texture_size, work=opts.work,
                            person_mask=f.person_mask)

    tex = uv_lift.fuse([lift(f) for f in fits])
    A = atlas(body, opts.texture_size)
    for region, f in part_fits.items():
        other = lift(f)
        sel = np.isin(A.part, PARTS[region]) & A.valid
        tex.rgb[sel], tex.conf[sel] = other.rgb[sel], other.conf[sel]
        tex.seen = tex.conf > 0
    return uv_lift.fill(tex, A)


def person_mask(fit, body, camera, dilate_frac: float = 0.04) -> np.ndarray:
    """(H, W) bool at `camera`'s size: the fitted body's silhouette dilated by `dilate_frac` of the
    person's height on screen, united with the detector's mask (resized) when there is one."""
    import cv2

    from neural_render.generator.uv_lift import render_buffers

    v = body.forward(fit.motion.poses, fit.motion.betas, fit.motion.trans, keypoints=False).vertices[0]
    m = render_buffers(v, body, camera)["mask"]
    ys = np.nonzero(m.any(1))[0]
    h = (ys.max() - ys.min() + 1) if len(ys) else 0
    r = max(1, int(round(dilate_frac * h)))
    m = cv2.dilate(m.astype(np.uint8), cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1,) * 2)) > 0
    if fit.person_mask is not None:
        pm = cv2.resize(fit.person_mask.astype(np.uint8), (camera.width, camera.height), interpolation=cv2.INTER_NEAREST)
        pm = cv2.dilate(pm, np.ones((5, 5), np.uint8)) > 0
        m |= pm
    return m


def remove_person(fit, body, camera) -> np.ndarray:
    """(H, W, 3) uint8: the photo at `camera`'s size with the person inpainted away (Telea)."""
    import cv2

    img = cv2.resize(fit.image, (camera.width, camera.height), interpolation=cv2.INTER_AREA)
    m = person_mask(fit, body, camera)
    radius = max(3, int(0.01 * max(camera.width, camera.height)))
    return cv2.inpaint(np.ascontiguousarray(img[..., ::-1]), m.astype(np.uint8) * 255, radius,
                       cv2.INPAINT_TELEA)[..., ::-1].copy()


def composite(tex_rgb: np.ndarray, mask: np.ndarray, background: np.ndarray) -> np.ndarray:
    """Person over background with a softened 1-px edge (the raster mask has no antialiasing)."""
    import cv2

    m = mask.astype(np.float32)
    # Grow the person's colours one pixel outward so the soft edge blends toward them, not black.
    k = np.ones((3, 3), np.float32)
    s = cv2.filter2D(tex_rgb * m[..., None], -1, k)
    n = cv2.filter2D(m, -1, k)
    grown = np.where(m[..., None] > 0, tex_rgb, s / np.maximum(n, 1e-6)[..., None])
    alpha = cv2.GaussianBlur(m, (3, 3), 0.6)[..., None]
    out = alpha * grown + (1 - alpha) * background.astype(np.float32)
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def render_frames(motion, body, camera, tex, background: np.ndarray, work: Path, opts: AnimateOptions) -> dict:
    """Render passes + frames of every motion frame into work/passes and work/frames."""
    from neural_render.generator.uv_lift import lookup
    from neural_render.renderers import iter_frame_passes
    from neural_render.passes.writer import PassWriter
    from neural_render.passes.scene import BodyInstance
    from neural_render.passes.spec import frame_filename

    inst = BodyInstance.from_motion(body, motion.poses, motion.trans, motion.betas, up="z")
    T = motion.num_frames
    W, H = camera.width, camera.height
    writer = PassWriter(work / "passes", (W, H), renderer="raster", body=body, instances=[inst], write_instance=False)
    gen = _load_generator(opts.checkpoint, opts.device, opts.precision) if opts.checkpoint else None
    it = iter_frame_passes([inst], [camera] * T, (W, H), None, "raster", fps=motion.fps)
    if opts.progress:
        from tqdm import tqdm

        it = tqdm(it, total=T, desc="animate", unit="frame")
    written = []
    try:
        for fr in it:
            f = fr["frame"]
            writer.write_frame(f, fr, fr["camera"], fr["_keypoints_world"], fr["_ids"])
            rgb = lookup(tex, fr["uv"], fr["mask"])
            if gen is not None:
                img = gen.frame(rgb, lookup(tex, fr["uv"], fr["mask"], "conf"), fr, background)
            else:
                img = composite(rgb, fr["mask"], background)
            write_image(work / "frames" / frame_filename(f), img)
            written.append(f)
    except BaseException:
        writer.close()
        raise
    writer.finish()
    return {"frames": written}


def _load_generator(checkpoint: str, device: str, precision: str = "auto"):
    from neural_render.generator.multi_identity import load_animator

    return load_animator(checkpoint, device, bf16={"auto": None, "fp32": False, "bf16": True}[precision])


def _write_video(work: Path, frames: list[int], fps: float) -> None:
    from neural_render.fileio import read_image
    from neural_render.video import write_video
    from neural_render.passes.spec import frame_filename

    write_video(work / "animate.mp4", (read_image(work / "frames" / frame_filename(f)) for f in frames), fps=fps)


def _contact_sheet(work: Path, photo: np.ndarray, frames: list[int], size: tuple[int, int], n: int) -> None:
    """contact_sheet.png: per row, the photo | skeleton | parts | normal | the generated frame."""
    import cv2

    from neural_render.fileio import read_image
    from neural_render.passes.spec import frame_filename, parts_colors

    W, H = size
    s = 256 / max(W, H)
    w, h = max(1, int(round(W * s))), max(1, int(round(H * s)))
    header = 20
    pick = [frames[int(round(i))] for i in np.linspace(0, len(frames) - 1, min(n, len(frames)))]
    photo_small = cv2.resize(photo, (w, h), interpolation=cv2.INTER_AREA)
    palette = parts_colors()
    rows = []
    for f in pick:
        name = frame_filename(f)
        cells = [("photo", photo_small)]
        for p in ("skeleton", "parts", "normal"):
            img = read_image(work / "passes" / p / name, "unchanged", missing_ok=True)
            if img is None:
                img = np.zeros((H, W, 3), np.uint8)
            elif img.ndim == 2:
                img = palette[np.minimum(img, len(palette) - 1)]
            cells.append((f"{p} {name[:-4]}", img))
        cells.append((f"result {name[:-4]}", read_image(work / "frames" / name)))
        row = []
        for label, img in cells:
            cell = np.full((h + header, w, 3), 32, np.uint8)
            cell[header:] = cv2.resize(np.ascontiguousarray(img[..., :3]), (w, h), interpolation=cv2.INTER_AREA)
            cv2.putText(cell, label, (3, 14), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (235, 235, 235), 1, cv2.LINE_AA)
            row.append(cell)
        rows.append(np.concatenate(row, 1))
    write_image(work / "contact_sheet.png", np.concatenate(rows, 0))
