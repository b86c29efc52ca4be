"""`neural-render animate`: the person in a photo performs a motion (neural_render/generator/animate.py)."""

from __future__ import annotations

from neural_render.cli_args import frame_range
from neural_render.errors import InputError


def register(sub) -> None:
    p = sub.add_parser("animate", help="animate the person in a photo with a motion, at the photo's camera")
    p.add_argument("--image", action="append", required=True,
                   help="photo of one person, whole body; repeat to fuse several photos of the same person "
                        "(front, back...): the first one gives the camera, the place and the body shape")
    p.add_argument("--keypoints", action="append", default=None,
                   help="keypoints of the photo (OpenPose JSON, COCO JSON, MediaPipe); one per --image, in "
                        "order; default: the built-in detector")
    p.add_argument("--motion", required=True,
                   help="any source `motion import` reads: motion .npz, BVH, FBX, AMASS/SMPL, keypoints, a video")
    p.add_argument("--out", required=True, help="output folder (frames/, passes/, animate.json, video, contact sheet)")
    p.add_argument("--video", default=None, help="also write the video here (default: only OUT/animate.mp4)")
    p.add_argument("--size", type=int, default=None,
                   help="longer side of the frames in px (default: the photo's, at most 1024); aspect kept")
    p.add_argument("--part", action="append", default=None, metavar="REGION=PHOTO",
                   help="take a region's appearance from another photo: upper, lower, head or shoes "
                        "(e.g. --part upper=B.jpg)")
    p.add_argument("--checkpoint", default=None,
                   help="multi-identity generator checkpoint (.safetensors); default: the lifted texture alone")
    p.add_argument("--frames", default=None, help="motion frames A:B only")
    p.add_argument("--focal", type=float, default=None,
                   help="the (first) photo's focal length in pixels, when known (default: a 60 deg field of view "
                        "across its larger side); with the camera a motion was fitted from, frames line up with that video")
    p.add_argument("--anchor", default="auto", choices=["auto", "upright", "rigid"],
                   help="where the motion starts: upright = turned to face the person's way at their spot, on "
                        "their floor; rigid = its first frame moved onto the photo's body (a motion fitted from "
                        "the video the photo is the first frame of); auto (default) = rigid when the first "
                        "frame's pose is the photo's (mean joint distance <= 10 cm), else upright")
    p.add_argument("--precision", default="auto", choices=["auto", "fp32", "bf16"],
                   help="arithmetic of the --checkpoint generator: auto (default) = bf16 on CPUs with bf16 units "
                        "(Intel AMX / AVX512-BF16: ~2.5x faster, within a grey level on average), else fp32")
    p.add_argument("--texture-size", type=int, default=256, help="UV atlas texels per side (default 256)")
    p.add_argument("--device", default="cpu", help="cpu or cuda (body fitting and the generator)")
    p.set_defaults(func=_run)


def _parse_parts(items: list[str] | None) -> dict:
    out = {}
    for it in items or []:
        if "=" not in it:
            raise InputError(f"'{it}' is not REGION=PHOTO", where="--part", fix="e.g. --part upper=B.jpg")
        region, photo = it.split("=", 1)
        out[region.strip()] = (photo, None)
    return out


def _run(args) -> int:
    from neural_render.generator.animate import AnimateOptions, animate

    from neural_render.errors import check_range

    check_range(args.size, 16, 8192, "--size", "pixels")
    if args.texture_size not in (64, 128, 256, 512, 1024):
        raise InputError(f"texture size {args.texture_size}", where="--texture-size", fix="use 128, 256 or 512")
    opts = AnimateOptions(size=args.size, device=args.device, texture_size=args.texture_size,
                          keypoints=args.keypoints or [], parts=_parse_parts(args.part), video=args.video,
                          checkpoint=args.checkpoint, frames=frame_range(args.frames), focal=args.focal,
                          anchor=args.anchor, precision=args.precision)
    from neural_render.fileio import exclusive_folder

    with exclusive_folder(args.out, "animate run"):
        rep = animate(args.image, args.motion, args.out, opts)
    print(f"{rep['frames']} frames {rep['size']['width']}x{rep['size']['height']} -> {args.out}/frames "
          f"({rep['frames_per_s']} frames/s; fit reprojection {rep['fit'][0]['reprojection_px']} px)")
    return 0
