"""`neural-render motion import|export|info|bone-maps`."""

from __future__ import annotations

import json
from pathlib import Path

from neural_render.cli_args import frame_range
from neural_render.errors import InputError
from neural_render.motion.import_options import MotionImportOptions


def register(sub) -> None:
    from neural_render.motion.importers import FORMATS

    motion = sub.add_parser("motion", help="motions: import BVH/FBX/AMASS/SMPL/keypoints, export, info")
    msub = motion.add_subparsers(dest="motion_command", metavar="ACTION", required=True)

    imp = msub.add_parser("import", help="read a mocap clip / SMPL parameters / keypoints into motion.npz")
    imp.add_argument("src", help="input file or folder (.bvh, .fbx, .npz, .pkl, .smpl, keypoint JSON; a video, "
                     "folder of frames or photo is run through the built-in detector first)")
    imp.add_argument("--out", required=True, help="output motion .npz (a .preview.png is written beside it)")
    imp.add_argument("--format", default="auto", choices=FORMATS)
    imp.add_argument("--fps", type=float, default=None, help="resample to this frame rate (default: keep)")
    imp.add_argument("--source-fps", type=float, default=None,
                     help="frame rate of the source when the file has none (SMPL .pkl: default 30) or to override it")
    imp.add_argument("--body", default="default", help="'default' or an SMPL model file to retarget onto")
    imp.add_argument("--bone-map", default=None,
                     help="bone-map preset name or JSON file (default: best-matching preset)")
    imp.add_argument("--unit", default=None, help="source length unit for BVH/FBX (default: detected): "
                     "m, cm, mm, in, cmu, dm, ft")
    imp.add_argument("--swing-fix", action="store_true",
                     help="BVH/FBX: point every mapped bone exactly along the source bone each frame "
                          "(default: keep the mapped joints' global orientations)")
    imp.add_argument("--shape", default="source", choices=["source", "body"],
                     help="BVH/FBX: 'source' (default) fits the body's shape (height + segment lengths) to "
                          "the source skeleton's proportions and stores those betas in the motion; 'body' "
                          "keeps the body's own shape (betas 0) and only scales the root path by leg length")
    imp.add_argument("--up", default="z", choices=["z", "y"], help="up axis of the written motion")
    imp.add_argument("--ground", default="auto", choices=["auto", "on", "off"],
                     help="put the lowest point of the body on the floor (auto: only for sources without one)")
    imp.add_argument("--smooth", type=float, default=0.0, help="Savitzky-Golay window in seconds (0: off)")
    imp.add_argument("--frames", default=None, help="keep source frames A:B (before resampling)")
    imp.add_argument("--video", action="append", default=None,
                     help="video for keypoint input (fitted body preview); repeat for several views")
    imp.add_argument("--calibration", default=None,
                     help="camera calibration for multi-view keypoints (e.g. Qualisys XML, Pose2Sim TOML)")
    imp.add_argument("--device", default="cpu", help="keypoint fitting device: cpu or cuda")
    imp.add_argument("--hands", action="store_true",
                     help="video/photo: also detect the hands (MediaPipe) and fit the fingers (joint-limited) "
                          "into the motion's hand poses")
    imp.add_argument("--image-id", default=None,
                     help="COCO annotation file of several photos: fit the one with this image id or file name")
    imp.add_argument("--all-images", action="store_true",
                     help="COCO annotation file of several photos: fit each as its own one-frame motion, written "
                          "as OUT_<image id>.npz")
    imp.add_argument("--person", default=None,
                     help="video/photo input with several people: a pixel X,Y on the subject or a box X0,Y0,X1,Y1 "
                          "(first frame; default: the largest, most central person)")
    imp.add_argument("--no-preview", action="store_true", help="skip the preview image")
    imp.add_argument("--json", action="store_true", help="print the summary as JSON")
    imp.set_defaults(func=_import)

    exp = msub.add_parser("export", help="write a motion.npz as .bvh (SMPL skeleton) or .smpl")
    exp.add_argument("motion")
    exp.add_argument("--out", required=True, help="output .bvh or .smpl")
    exp.add_argument("--body", default="default")
    exp.add_argument("--unit", default="m", help="BVH length unit (m, cm, ...)")
    exp.set_defaults(func=_export)

    info = msub.add_parser("info", help="describe a motion.npz")
    info.add_argument("motion")
    info.add_argument("--json", action="store_true")
    info.set_defaults(func=_info)

    ev = msub.add_parser("evaluate", help="retarget a BVH/FBX clip and measure it against the source "
                         "(MPJPE, bone directions, timing)")
    ev.add_argument("src")
    ev.add_argument("--body", default="default")
    ev.add_argument("--bone-map", default=None)
    ev.add_argument("--unit", default=None)
    ev.add_argument("--swing-fix", action="store_true")
    ev.add_argument("--shape", default="source", choices=["source", "body"],
                    help="'source' (default): fit the body's shape to the source skeleton first; "
                         "'body': keep the body's own shape")
    ev.add_argument("--json", action="store_true")
    ev.set_defaults(func=_evaluate)

    nm = msub.add_parser("normalize", help="EDN global pose normalization of a motion onto a target clip "
                         "(ankle-height range and body height), or onto the floor")
    nm.add_argument("motion")
    nm.add_argument("--out", required=True)
    nm.add_argument("--target", default=None, help="target motion.npz (its ankle range and body); "
                    "without it the motion is only grounded")
    nm.add_argument("--body", default="default", help="body of the source motion")
    nm.add_argument("--target-body", default=None, help="body of the target motion (default: --body)")
    nm.set_defaults(func=_normalize)

    cmp_ = msub.add_parser("compare", help="MPJPE between two motion.npz files on one body (frame by frame)")
    cmp_.add_argument("a")
    cmp_.add_argument("b")
    cmp_.add_argument("--body", default="default")
    cmp_.add_argument("--json", action="store_true")
    cmp_.set_defaults(func=_compare)

    bm = msub.add_parser("bone-maps", help="list the bone-map presets")
    bm.set_defaults(func=_bone_maps)


def _video_arg(videos: list[str] | None):
    if not videos:
        return None
    return videos[0] if len(videos) == 1 else list(videos)


def import_options(args) -> MotionImportOptions:
    """`motion import`'s flags as one MotionImportOptions (built once per call)."""
    return MotionImportOptions(fmt=args.format, fps=args.fps, source_fps=args.source_fps, bone_map=args.bone_map,
                               unit=args.unit, swing_fix=args.swing_fix, shape=args.shape, up=args.up,
                               ground=args.ground, smooth=args.smooth, frames=frame_range(args.frames),
                               video=_video_arg(args.video), calibration=args.calibration, device=args.device,
                               image_id=args.image_id)


def _import(args) -> int:
    if args.all_images:
        return _import_all_images(args)
    return _import_one(args)


def _import_all_images(args) -> int:
    """One single-frame motion per image of a COCO annotation file: OUT_<id>.npz (+ previews).

    All or nothing: every image is fitted into a temporary folder beside OUT, and the files are
    moved into place only when all of them succeeded (one bad image leaves nothing behind)."""
    import copy
    import os
    import shutil
    import tempfile

    from neural_render.motion.keypoints import read_coco

    if args.image_id is not None:
        raise InputError("--all-images and --image-id exclude each other", where="--all-images")
    out = Path(args.out)
    if out.suffix != ".npz":
        raise InputError("output must be a .npz file", path=out, where="--out")
    ids = read_coco(args.src).frame_names
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.stem}.all-images-", dir=out.parent))
    reports = []
    try:
        for i in ids:
            a = copy.copy(args)
            a.image_id, a.all_images = i, False
            a.out = str(tmp / f"{out.stem}_{_safe_name(i)}.npz")
            try:
                reports.append(_import_report(a))
            except InputError as e:
                raise InputError(f"{e}; nothing written", where=f"--all-images, image {i}") from None
        for f in sorted(tmp.iterdir()):
            os.replace(f, out.parent / f.name)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    for r in reports:
        for k in ("out", "preview"):
            if k in r:
                r[k] = str(out.parent / Path(r[k]).name)
    if args.json:
        print(json.dumps(reports, indent=2, default=str))
    else:
        for r in reports:
            _print_summary(r)
    return 0


def _safe_name(text: str) -> str:
    import re

    return re.sub(r"[^A-Za-z0-9._-]+", "_", str(text))


def _import_one(args) -> int:
    report = _import_report(args)
    if args.json:
        print(json.dumps(report, indent=2, default=str))
    else:
        _print_summary(report)
    return 0


def _import_report(args) -> dict:
    """Import `args.src` to `args.out` (+ its preview); returns the report."""
    from neural_render.body import load_body
    from neural_render.motion.importers import import_motion
    from neural_render.motion.preview import preview_path, render_preview

    out = Path(args.out)
    if out.suffix != ".npz":
        raise InputError("output must be a .npz file", path=out, where="--out")
    body = load_body(None if args.body == "default" else args.body)
    fmt, frames, kset, video = args.format, frame_range(args.frames), None, _video_arg(args.video)
    if fmt in ("auto", "video") and Path(args.src).exists():
        from neural_render.motion.importers import detect_format

        fmt = detect_format(args.src) if fmt == "auto" else fmt
        if fmt == "video":
            # No keypoint file: the built-in detector reads the video / frames / photo first.
            from neural_render.capture.video_motion import detect_keypoint_set

            kset = detect_keypoint_set(args.src, frames=frames, person=args.person, hands=args.hands)
            video = args.src
    # A detected video's frames were selected before detection: the importer must not trim again.
    options = import_options(args).replace(fmt=fmt, frames=None if kset is not None else frames, video=video)
    motion, report = import_motion(args.src, options, body=body, keypoint_set=kset)
    if kset is not None and frames is not None:
        motion.metadata["video_start_frame"] = int(frames[0] or 0)
    motion.metadata.setdefault("import", {k: v for k, v in report.items() if k in ("format", "bone_map")})
    # Render the preview before writing anything, so a failure leaves no output behind.
    image = None
    if not args.no_preview:
        cams = (report.get("fit") or {}).get("cameras") if isinstance(report.get("fit"), dict) else None
        if video and cams:
            from neural_render.motion.preview import render_video_preview
            video = video if isinstance(video, (str, Path)) else video[0]
            cam = next((c for c in cams if Path(str(c.get("name", ""))).stem == Path(video).stem), cams[0])
            image = render_video_preview(motion.joints(body), motion.fps, cam, video,
                                         start_frame=int(motion.metadata.get("video_start_frame", 0)))
        if image is None:
            image = render_preview(motion.joints(body), motion.up,
                                   title=f"{motion.num_frames} frames @ {motion.fps:g} fps")
    motion.save(out)
    report["out"] = str(out)
    if image is not None:
        from neural_render.fileio import write_image
        write_image(preview_path(out), image)
        report["preview"] = str(preview_path(out))
    return report


def _print_summary(r: dict) -> None:
    print(f"{r['source']} ({r['format']}) -> {r['out']}")
    print(f"  frames {r['frames']}  fps {r['fps']:g}  duration {r['duration_s']:.2f} s  up {r['up']}")
    if "retarget" in r:
        rt = r["retarget"]
        print(f"  bone map '{r['bone_map']}': {rt['mapped']}/24 SMPL joints mapped; source unit {rt['unit']} "
              f"({rt['metres_per_unit']:.4g} m), up {rt['source_up']}, leg ratio {rt['leg_ratio']:.3f}")
        print("  mapping: " + ", ".join(f"{k}<-{v}" for k, v in rt["mapping"].items()))
        sh = rt.get("shape") or {}
        if sh.get("mode") == "source":
            nz = {k: v for k, v in (sh.get("betas") or {}).items() if abs(v) >= 0.05}
            print(f"  shape fitted to the source skeleton: rest offsets within {sh.get('residual_cm')} cm mean, "
                  f"{sh.get('max_residual_cm')} cm max; betas " + ", ".join(f"{k} {v:+.2f}" for k, v in nz.items()))
        elif sh:
            print("  shape: the body's own (--shape body)")
        for w in rt["warnings"]:
            print(f"  warning: {w}")
    if "fit" in r:
        fit = r["fit"]
        err = {k: v for k, v in fit.items() if "err" in k or k.startswith("median_repro") or k == "flagged_frames"
               or k == "implausible"} \
            if isinstance(fit, dict) else fit
        print(f"  fit: {json.dumps(err, default=str)}")
    if "ground_shift_m" in r:
        print(f"  grounded: shifted {r['ground_shift_m']:+.3f} m vertically")
    if "preview" in r:
        print(f"  preview {r['preview']}")


def _export(args) -> int:
    from neural_render.body import load_body
    from neural_render.motion.motion import Motion

    motion = Motion.load(args.motion)
    body = load_body(None if args.body == "default" else args.body)
    out = Path(args.out)
    if out.suffix.lower() == ".bvh":
        from neural_render.motion.export import save_bvh
        save_bvh(motion, out, body, unit=args.unit)
    elif out.suffix.lower() == ".smpl":
        from neural_render.motion.smpl_params import save_smpl_file
        save_smpl_file(motion, out, body)
    else:
        raise InputError("unknown export type", path=out, where="--out", fix="use .bvh or .smpl")
    print(f"{args.motion} -> {out} ({motion.num_frames} frames @ {motion.fps:g} fps)")
    return 0


def _info(args) -> int:
    from neural_render.motion.motion import Motion

    m = Motion.load(args.motion)
    info = m.summary() | {"metadata": m.metadata}
    print(json.dumps(info, indent=2, default=str) if args.json else
          "\n".join(f"{k:12s} {v}" for k, v in info.items()))
    return 0


def _evaluate(args) -> int:
    import time

    from neural_render.body import load_body
    from neural_render.motion.bone_maps import auto_finger_map, auto_map
    from neural_render.motion.importers import detect_format
    from neural_render.motion.retarget import evaluate, retarget

    src = Path(args.src)
    if not src.exists():
        raise InputError("input not found", path=src)
    fmt = detect_format(src)
    if fmt not in ("bvh", "fbx"):
        raise InputError(f"evaluate works on BVH/FBX clips, this is {fmt}", path=src)
    body = load_body(None if args.body == "default" else args.body)
    t0 = time.perf_counter()
    if fmt == "bvh":
        from neural_render.motion.bvh import read_bvh
        from neural_render.motion.source_skeleton import clip_from_bvh
        clip = clip_from_bvh(read_bvh(src))
    else:
        from neural_render.motion.fbx import read_fbx
        clip = read_fbx(src)
    t1 = time.perf_counter()
    mapping, name, warnings = auto_map(clip.skeleton, args.bone_map, path=src)
    res = retarget(clip, body, mapping, unit=args.unit, warnings=warnings, swing_fix=args.swing_fix,
                   shape=args.shape, finger_mapping=auto_finger_map(clip.skeleton, mapping, args.bone_map))
    t2 = time.perf_counter()
    ev = evaluate(clip, res, body)
    out = {"source": str(src), "format": fmt, "frames": clip.num_frames, "fps": clip.fps, "bone_map": name,
           "read_s": round(t1 - t0, 3), "retarget_s": round(t2 - t1, 3),
           "retarget_frames_per_s": round(clip.num_frames / max(t2 - t1, 1e-9), 1),
           **{k: (round(v, 5) if isinstance(v, float) else v) for k, v in ev.items()},
           **res.summary(clip.skeleton.names)}
    if args.json:
        print(json.dumps(out, indent=2, default=str))
    else:
        print(f"{src.name}: {out['frames']} frames, map '{name}', unit {res.unit}, leg ratio {res.scale:.3f}")
        print(f"  MPJPE (pose on source proportions) {ev['mpjpe_m'] * 100:.2f} cm; "
              f"body joints {ev['mpjpe_body_m'] * 100:.2f} cm")
        print(f"  bone direction error median {ev['bone_dir_median_deg']:.2f} deg, p95 {ev['bone_dir_p95_deg']:.2f} deg")
        if res.shape.get("mode") == "source":
            print(f"  shape fitted to the source: rest offsets within {res.shape['residual_cm']} cm mean, "
                  f"{res.shape['max_residual_cm']} cm max")
        print(f"  read {out['read_s']} s, retarget {out['retarget_s']} s ({out['retarget_frames_per_s']} frames/s)")
    return 0


def _normalize(args) -> int:
    from neural_render.body import load_body
    from neural_render.motion.motion import Motion
    from neural_render.motion.normalize import edn_normalize_motion, ground_motion, motion_ankle_stats

    body = load_body(None if args.body == "default" else args.body)
    m = Motion.load(args.motion)
    if args.target:
        tb = body if not args.target_body else load_body(None if args.target_body == "default" else args.target_body)
        stats = motion_ankle_stats(Motion.load(args.target), tb)
        out = edn_normalize_motion(m, body, stats)
        what = f"ankle range -> [{stats.a_min:.3f}, {stats.a_max:.3f}] m"
    else:
        out, shift = ground_motion(m, body)
        what = f"grounded ({shift:+.3f} m)"
    out.metadata["normalized"] = what
    out.save(args.out)
    print(f"{args.motion} -> {args.out}: {what}")
    return 0


def _compare(args) -> int:
    import numpy as np

    from neural_render.body import load_body
    from neural_render.motion.motion import Motion

    body = load_body(None if args.body == "default" else args.body)
    a, b = Motion.load(args.a), Motion.load(args.b)
    if abs(a.fps - b.fps) > 1e-6:
        b = b.resample(a.fps)
    if a.up != b.up:
        b = b.with_up(a.up, body=body)
    n = min(a.num_frames, b.num_frames)
    err = np.linalg.norm(a.joints(body)[:n] - b.joints(body)[:n], axis=-1)
    out = {"frames_compared": n, "frames": [a.num_frames, b.num_frames], "mpjpe_m": float(err.mean()),
           "max_m": float(err.max()), "per_joint_m": [round(float(v), 4) for v in err.mean(0)]}
    if args.json:
        print(json.dumps(out, indent=2))
    else:
        print(f"{n} frames: MPJPE {out['mpjpe_m'] * 100:.2f} cm, max {out['max_m'] * 100:.2f} cm")
    return 0


def _bone_maps(args) -> int:
    from neural_render.motion.bone_maps import list_presets, load_bone_map, presets_dir

    print(f"presets in {presets_dir()}:")
    for n in list_presets():
        print(f"  {n:14s} {load_bone_map(n).get('description', '')[:100]}")
    return 0
