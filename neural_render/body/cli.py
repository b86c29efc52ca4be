"""`neural-render body info|preview`."""

from __future__ import annotations

import json


def register(sub) -> None:
    body = sub.add_parser("body", help="body models: info, preview, export")
    bsub = body.add_subparsers(dest="body_command", metavar="ACTION", required=True)
    info = bsub.add_parser("info", help="describe a body model")
    info.add_argument("--model", default=None, help="SMPL .pkl/.npz file or folder (default: the free default body)")
    info.add_argument("--gender", default="neutral", choices=["neutral", "female", "male"])
    info.add_argument("--json", action="store_true")
    info.set_defaults(func=_info)
    prev = bsub.add_parser("preview", help="render the body in rest pose and a few SMPL poses, coloured by part")
    prev.add_argument("--out", required=True, help="output PNG")
    prev.add_argument("--model", default=None, help="SMPL .pkl/.npz file or folder (default: the free default body)")
    prev.add_argument("--gender", default="neutral", choices=["neutral", "female", "male"])
    prev.add_argument("--poses", default=None,
                      help="SMPL pose pickle (smpl_poses (T,72)) to sample poses from "
                           "(default: the shared sample sequence if present, else built-in poses)")
    prev.add_argument("--count", type=int, default=5, help="tiles per row: rest pose + count-1 poses")
    prev.add_argument("--size", type=int, default=384, help="tile size in pixels")
    prev.add_argument("--betas", default=None, help="comma-separated shape coefficients")
    prev.set_defaults(func=_preview)
    exp = bsub.add_parser("export", help="write the body as a model file smplx reads (SMPL-H with hands, or SMPL)")
    exp.add_argument("--out", required=True, help="output .pkl (e.g. SMPLH_NEUTRAL.pkl)")
    exp.add_argument("--layout", choices=("smplh", "smpl"), default="smplh",
                     help="smplh: 52 joints, smplx.SMPLH(model_path=OUT, use_pca=False); smpl: 24 joints")
    exp.add_argument("--model", default=None, help="body model file or folder (default: the free default body)")
    exp.add_argument("--gender", default="neutral", choices=["neutral", "female", "male"])
    exp.set_defaults(func=_export)


def _info(args) -> int:
    from neural_render.body import load_body

    info = load_body(args.model, gender=args.gender).info()
    if args.json:
        print(json.dumps(info, indent=2))
    else:
        for k, v in info.items():
            if k != "joint_names":
                print(f"{k:18s} {v}")
    return 0


def _preview(args) -> int:
    from pathlib import Path

    import numpy as np

    from neural_render.body import load_body
    from neural_render.body.preview import default_pose_file, sample_poses, write_preview
    from neural_render.errors import InputError

    from neural_render.errors import check_range

    check_range(args.size, 32, 4096, "--size", "pixels")
    check_range(args.count, 1, 64, "--count")
    body = load_body(args.model, gender=args.gender)
    betas = None
    if args.betas:
        try:
            betas = np.array([float(x) for x in args.betas.split(",")], np.float32)
        except ValueError:
            raise InputError(f"--betas must be comma-separated numbers, got '{args.betas}'",
                             where="command line") from None
    pose_file = args.poses if args.poses else default_pose_file()
    if pose_file is not None and not Path(pose_file).exists():
        raise InputError("pose file not found", path=pose_file, fix="pass an SMPL pose .pkl (smpl_poses)")
    poses = sample_poses(pose_file, args.count)
    out = write_preview(body, args.out, poses, args.size, betas=betas)
    print(f"wrote {out} ({len(poses)} poses)")
    return 0


def _export(args) -> int:
    from neural_render.body import load_body
    from neural_render.body.export import export_body

    body = load_body(args.model, gender=args.gender)
    out = export_body(body, args.out, args.layout)
    joints = 52 if args.layout == "smplh" else 24
    print(f"wrote {out} ({args.layout}, {joints} joints, {body.num_vertices} vertices)")
    return 0
