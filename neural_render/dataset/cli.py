"""`neural-render batch --config CFG.yaml --out DIR [--workers N] [--ray ADDRESS]`,
`neural-render batch --print-example` and `neural-render dataset check DIR`."""

from __future__ import annotations

import json
import sys


def register(sub) -> None:
    b = sub.add_parser("batch", help="render a seeded, randomized, labelled synthetic dataset (resumable)")
    b.add_argument("--config", help="YAML config (see --print-example)")
    b.add_argument("--out", help="output folder; rerun the same command to resume an interrupted run")
    b.add_argument("--workers", type=int, default=1, help="parallel worker processes (one Blender each)")
    b.add_argument("--ray", nargs="?", const="local", default=None, metavar="ADDRESS",
                   help="run on Ray: an address (e.g. ray://head:10001 or auto), or no value for a local Ray")
    b.add_argument("--print-example", action="store_true", help="print a small valid config and exit")
    b.add_argument("--verify", action="store_true", help="on resume, also check every file's SHA-256")
    b.add_argument("--no-progress", action="store_true", help="no progress bar")
    b.add_argument("--json", action="store_true", help="print the summary as JSON")
    b.add_argument("--cycles-device", default=None, choices=["cpu", "cuda", "optix", "auto"],
                   help="Cycles RGB on the CPU (default) or the GPU (sets $NEURAL_RENDER_CYCLES_DEVICE for the workers)")
    b.set_defaults(func=_batch)

    d = sub.add_parser("dataset", help="synthetic datasets: check")
    dsub = d.add_subparsers(dest="dataset_command", metavar="ACTION", required=True)
    c = dsub.add_parser("check", help="validate a dataset folder written by `neural-render batch`")
    c.add_argument("dir")
    c.add_argument("--tolerance-px", type=float, default=0.5, help="reprojection tolerance (pixels)")
    c.add_argument("--no-smpl", action="store_true", help="skip re-posing the bodies from the SMPL labels")
    c.add_argument("--json", action="store_true")
    c.set_defaults(func=_check)


def _batch(args) -> int:
    from neural_render.dataset.config import example_config_text, load_config
    from neural_render.errors import InputError

    if args.print_example:
        sys.stdout.write(example_config_text())
        return 0
    if not args.config or not args.out:
        raise InputError("--config and --out are required", fix="e.g. neural-render batch --config cfg.yaml --out data/")
    cfg = load_config(args.config)
    if args.cycles_device:
        import os

        from neural_render.blender.cycles_device import ENV

        os.environ[ENV] = args.cycles_device  # worker processes inherit it
    from neural_render.dataset.runners import run_batch

    summary = run_batch(cfg, args.out, workers=args.workers, ray_address=args.ray,
                        progress=not args.no_progress, verify_hashes=args.verify)
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        print(f"dataset: {summary['out']}  samples {summary['samples']} (rendered {summary['rendered_samples']}, "
              f"already done {summary['resumed_samples']})  images {summary['images']}  "
              f"annotations {summary['annotations']}  {summary['seconds']} s")
    return 0


def _check(args) -> int:
    from neural_render.dataset.check import check_dataset

    report = check_dataset(args.dir, tolerance_px=args.tolerance_px, smpl=not args.no_smpl)
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        status = "OK" if report["ok"] else "FAILED"
        print(f"{status}: {report['images']} images, {report['annotations']} annotations, "
              f"max reprojection error {report['max_reprojection_px']:.4f} px, "
              f"visible keypoints outside masks {report['visible_outside_mask']}, "
              f"missing files {len(report['missing_files'])}")
        for e in report["errors"][:20]:
            print("  " + e)
    return 0 if report["ok"] else 1
