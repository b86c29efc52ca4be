"""`neural-render prepare --video V --keypoints K --out DIR [--calibration FILE --views ...]` and
`neural-render detect SRC --out DIR` (the built-in detector; see capture/detect_output.py)."""

from __future__ import annotations

import json


def register(sub) -> None:
    _register_detect(sub)
    p = sub.add_parser("prepare", help="real video (+ keypoints) -> paired training set (+ fit_report.json)")
    p.add_argument("--video", action="append", required=True,
                   help="video file, a folder of videos, or a folder of frames (png/jpg); repeat for several calibrated views")
    p.add_argument("--keypoints", default=None,
                   help="OpenPose JSON folder, COCO/MediaPipe file, or (multi-view) a folder of per-camera JSON folders "
                        "(default: the built-in detector finds the person in the one video; kept in DIR/detection/)")
    p.add_argument("--out", required=True)
    p.add_argument("--calibration", default=None, help="camera calibration (Qualisys .qca.txt, Pose2Sim .toml, cameras.json)")
    p.add_argument("--views", default=None, help="comma-separated camera/folder names to use (default: all)")
    p.add_argument("--format", dest="fmt", default="auto", choices=["auto", "openpose", "coco", "mediapipe"])
    p.add_argument("--size", type=int, default=512, help="square output size in pixels (default 512)")
    p.add_argument("--frames", default=None, help="frame range A:B of the video/keypoints")
    p.add_argument("--test-tail", type=float, default=0.2, help="fraction at the end held out for evaluation")
    p.add_argument("--holdout-view", default=None, help="hold out one camera entirely (train on the others)")
    p.add_argument("--max-error-px", type=float, default=None,
                   help="also exclude frames whose reprojection error exceeds this (source pixels)")
    p.add_argument("--renderer", default="blender", choices=["blender", "raster"])
    p.add_argument("--device", default="cpu", help="fitting device: cpu or cuda")
    p.add_argument("--no-refine", action="store_true",
                   help="skip refining the fit against the person's silhouettes (background subtraction)")
    p.add_argument("--min-silhouette-iou", type=float, default=0.5,
                   help="exclude a camera's frames whose refined body overlaps the person's silhouette less (IoU)")
    p.add_argument("--refine-iterations", type=int, default=None, help="silhouette refinement steps per chunk")
    p.add_argument("--silhouettes", default="auto", choices=["auto", "detector", "background", "both"],
                   help="the person's silhouette for the refinement: the built-in detector's person masks, "
                        "background subtraction, or both (auto: detector when it ran for lack of --keypoints)")
    p.set_defaults(func=_run)


def _register_detect(sub) -> None:
    p = sub.add_parser("detect", help="video, folder of frames or photo -> DIR/keypoints_coco.json, landmarks.json, masks/")
    p.add_argument("src", help="a video file, a folder of frames (png/jpg) or one image")
    p.add_argument("--out", required=True, help="output folder (replaced as a whole when the run succeeds)")
    p.add_argument("--person", default=None,
                   help="the subject when several people are visible: a pixel X,Y on them or a box X0,Y0,X1,Y1 "
                        "in the first frame (default: the largest, most central person, then followed)")
    p.add_argument("--frames", default=None, help="frame range A:B (default: all)")
    p.add_argument("--no-hands", action="store_true", help="skip the hand landmarks (faster)")
    p.add_argument("--no-masks", action="store_true", help="skip person segmentation and masks/")
    p.set_defaults(func=_run_detect)


def _frame_range(text: str | None) -> tuple[int, int] | None:
    from neural_render.errors import InputError

    if not text:
        return None
    try:
        a, b = (int(x) for x in text.split(":"))
    except ValueError:
        raise InputError(f"bad frame range '{text}'", where="--frames", fix="use A:B") from None
    if not 0 <= a < b:
        raise InputError(f"empty frame range '{text}'", where="--frames", fix="use A:B with 0 <= A < B")
    return a, b


def _run_detect(args) -> int:
    from neural_render.capture.detect_output import run_detect

    from neural_render.fileio import exclusive_folder

    with exclusive_folder(args.out, "detect run"):
        summary = run_detect(args.src, args.out, person=args.person, hands=not args.no_hands,
                             masks=not args.no_masks, frames=_frame_range(args.frames))
    lost = summary.pop("lost_frames")
    summary["lost"] = len(lost)
    summary["lost_frames"] = lost[:20] + (["..."] if len(lost) > 20 else [])
    print(json.dumps(summary))
    return 0


def _run(args) -> int:
    from neural_render.capture.prepare import PrepareOptions, prepare
    from neural_render.errors import InputError, check_range

    check_range(args.size, 16, 4096, "--size", "pixels")
    frames = None
    if args.frames:
        try:
            a, b = (int(x) for x in args.frames.split(":"))
        except ValueError:
            raise InputError(f"bad frame range '{args.frames}'", where="--frames", fix="use A:B") from None
        frames = (a, b)
    opts = PrepareOptions(size=args.size, frames=frames, test_tail=args.test_tail, holdout_view=args.holdout_view,
                          renderer=args.renderer, device=args.device, max_error_px=args.max_error_px, fmt=args.fmt,
                          views=args.views.split(",") if args.views else None, calibration=args.calibration,
                          refine=not args.no_refine, min_silhouette_iou=args.min_silhouette_iou,
                          silhouettes=args.silhouettes,
                          refine_options={} if args.refine_iterations is None else {"iterations": args.refine_iterations})
    from neural_render.fileio import exclusive_replacement

    with exclusive_replacement(args.out, "prepare run"):  # DIR is staged beside and replaced whole
        rep = prepare(args.video, args.keypoints, args.out, opts)
    print(json.dumps({"out": args.out, "frames": rep["frames"], "median_reprojection_px": rep["median_reprojection_px"],
                      "silhouette_iou": None if not rep["silhouette_refinement"] else {
                          k: {"before": v["silhouette_iou_before"], "after": v["silhouette_iou_after"]}
                          for k, v in rep["silhouette_refinement"]["views"].items()},
                      "excluded_frames": rep["excluded_frames"], "views": {k: {kk: v[kk] for kk in ("folder", "train_frames", "test_frames")}
                                                                           for k, v in rep["views"].items()}}, indent=2))
    return 0
