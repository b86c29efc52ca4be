"""`neural-render body info|preview`."""

from __future__ import annotations

import json


def register(sub) -> None:
    body = sub.add_parser("body", help="body models: info, preview")
    bsub = body.add_subparsers(dest="body_command", metavar="ACTION", required=True)
    info = bsub.add_parser("info", help="describe a body model")
    info.add_argument("--model", default=None, help="SMPL .pkl/.npz file or folder (default: the free default body)")
    info.add_argument("--gender", default="neutral", choices=["neutral", "female", "male"])
    info.add_argument("--json", action="store_true")
    info.set_defaults(func=_info)


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
