"""`neural-render passes --motion motion.npz --out DIR [--size 512] [--frames A:B] [--renderer blender|raster]
[--profile default|champ] [--camera follow|fixed] [--contact-sheet]`."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np

from neural_render.errors import InputError


def register(sub) -> None:
    p = sub.add_parser("passes", help="render guidance passes (skeleton, parts, normal, depth, mask, uv) of a motion")
    p.add_argument("--motion", required=True, help="motion .npz (canonical / AMASS keys); repeat for several people",
                   action="append")
    p.add_argument("--out", required=True, help="output folder (one sub-folder per pass + legend.json)")
    p.add_argument("--size", default="512", help="N or WxH pixels (default 512)")
    p.add_argument("--frames", default=None,
                   help="A:B[:S] motion frame indices, 0-based, B exclusive (python slice); default all")
    p.add_argument("--renderer", choices=("blender", "raster"), default="blender",
                   help="blender: Cycles via the bpy module; raster: OpenGL offscreen (EGL/OSMesa)")
    p.add_argument("--profile", choices=("default", "champ", "hands"), default="default",
                   help="hands: fingers get their own part labels (25..34) and the skeleton is wholebody")
    p.add_argument("--skeleton", choices=("body25", "coco18", "wholebody"), default=None,
                   help="skeleton style (profile's default); wholebody = DWPose's body + feet + hands + face drawing")
    p.add_argument("--camera", choices=("follow", "fixed"), default="follow")
    p.add_argument("--fps", type=float, default=None,
                   help="resample the motion to this frame rate first (frame indices then count at this rate)")
    p.add_argument("--focal-mm", type=float, default=50.0, help="focal length on a 36 mm-wide sensor")
    p.add_argument("--elevation", type=float, default=5.0, help="camera elevation, degrees")
    p.add_argument("--azimuth", type=float, default=0.0, help="camera azimuth from the body's facing, degrees")
    p.add_argument("--model", default=None, help="SMPL model file (default: the shipped default body)")
    p.add_argument("--passes", default=None, help="comma-separated subset of passes (default all)")
    p.add_argument("--normal-bits", type=int, choices=(8, 16), default=8)
    p.add_argument("--occlusion", action="store_true", help="occlusion-aware skeleton (depth-ordered, hidden dimmed)")
    p.add_argument("--contact-sheet", action="store_true", help="also write DIR/contact_sheet.png")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=run)


def parse_size(text: str) -> tuple[int, int]:
    try:
        parts = [int(x) for x in str(text).lower().split("x")]
        W, H = (parts[0], parts[0]) if len(parts) == 1 else (parts[0], parts[1])
        if len(parts) > 2 or W < 8 or H < 8 or W > 8192 or H > 8192:
            raise ValueError
    except ValueError:
        raise InputError(f"bad size '{text}'", where="--size", fix="use N or WxH with 8 <= N <= 8192") from None
    return W, H


def parse_frames(text: str | None, num_frames: int) -> list[int]:
    if text is None:
        return list(range(num_frames))
    try:
        bits = [b.strip() for b in text.split(":")]
        if len(bits) == 1:
            idx = [int(bits[0])]
        elif len(bits) in (2, 3):
            vals = [int(b) if b else None for b in bits]
            idx = list(range(num_frames))[slice(*vals)]
        else:
            raise ValueError
    except ValueError:
        raise InputError(f"bad frame range '{text}'", where="--frames", fix="use A:B (0-based, B exclusive), e.g. 0:30") from None
    if not idx or any(i < 0 or i >= num_frames for i in idx):
        raise InputError(f"frame range '{text}' selects no frames of a {num_frames}-frame motion", where="--frames",
                         fix=f"use indices within 0..{num_frames - 1}")
    return idx


def load_motion(path: str):
    """A Motion (the motion engineer's class)."""
    from neural_render.motion.motion import Motion

    return Motion.load(path)


def run(args) -> int:
    from neural_render.body import load_body
    from neural_render.renderers import render_passes
    from neural_render.passes.scene import BodyInstance
    from neural_render.passes.spec import ALL_PASS_NAMES, PASS_NAMES

    W, H = parse_size(args.size)
    passes = PASS_NAMES
    if args.passes:
        passes = tuple(p.strip() for p in args.passes.split(",") if p.strip())
        bad = [p for p in passes if p not in ALL_PASS_NAMES]
        if bad:
            raise InputError(f"unknown pass(es) {bad}", where="--passes", fix=f"choose from {list(ALL_PASS_NAMES)}")
    body = load_body(args.model)
    motions = [load_motion(m) for m in args.motion]
    if args.fps is not None:
        motions = [m.resample(args.fps) for m in motions]
    instances = [BodyInstance.from_motion(body, m.poses, m.trans, m.betas if m.betas.size else None, up=m.up,
                                          instance_id=i + 1, name=f"person{i + 1}", hand_poses=m.hand_poses)
                 for i, m in enumerate(motions)]
    T = max(m.num_frames for m in motions)
    frames = parse_frames(args.frames, T)
    if args.renderer == "raster":
        from neural_render.passes.raster import available

        ok, why = available()
        if not ok:
            raise InputError(f"the raster renderer cannot start here ({why})", where="--renderer raster",
                             fix="install Mesa EGL (libegl1) or use --renderer blender")
    from neural_render.passes.render import resolve_cameras

    cams = resolve_cameras(instances, args.camera, (W, H), fps=motions[0].fps, focal_mm=args.focal_mm,
                           elevation_deg=args.elevation, azimuth_deg=args.azimuth)
    from neural_render.fileio import exclusive_folder

    out = Path(args.out)
    with exclusive_folder(out, "passes run"):  # a second run on DIR is refused; dead runs' temporaries go
        existed = out.exists()
        try:
            leg = render_passes(instances, cams, out, (W, H), frames, renderer=args.renderer, passes=passes,
                                profile=args.profile, progress=not args.no_progress, skeleton_style=args.skeleton,
                                occlusion=args.occlusion, normal_bits=args.normal_bits,
                                contact_sheet=args.contact_sheet, fps=motions[0].fps)
        except BaseException:
            if not existed:  # no partial output: remove the folder this run created
                shutil.rmtree(out, ignore_errors=True)
            raise
    n = len(leg["frames"])
    print(f"wrote {n} frame(s) of {', '.join(leg['passes'])} at {W}x{H} to {out}"
          + (f" (+ contact_sheet.png)" if args.contact_sheet else ""))
    return 0
