"""`neural-render bench body|passes|fit|generator|train|dataset|detect --json`: speed figures for BENCHMARKS.md.

Each target lives beside the code it measures (`neural_render.<area>.bench:run`) and returns a
JSON-serialisable dict. `bench all` (neural_render.bench_all) is the GPU check: the CUDA tests, every
benchmark and a summary table against the goals, written to one folder.
"""

from __future__ import annotations

import importlib

from neural_render.cli_args import print_result

TARGETS = {
    "body": "neural_render.body.bench",
    "passes": "neural_render.passes.bench",
    "fit": "neural_render.motion.bench",
    "generator": "neural_render.generator.bench",
    "dataset": "neural_render.dataset.bench",
    "train": "neural_render.generator.bench_train",
    "detect": "neural_render.capture.detect_bench",
}


def register(sub) -> None:
    p = sub.add_parser("bench", help="measure speed (results for BENCHMARKS.md)")
    p.add_argument("target", choices=sorted(TARGETS) + ["all"],
                   help="what to measure; `all` = the GPU check (CUDA tests + every benchmark + summary)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--device", default="auto",
                   help="cpu, cuda or auto (all available; `all`: CUDA when present)")
    p.add_argument("--quick", action="store_true", help="fewer repetitions (smoke run)")
    p.add_argument("--out", default=None, help="`all`: output folder (default $OUT, else ./gpu_check_out)")
    p.add_argument("--train-seconds", type=float, default=None,
                   help="`all`: wall-clock budget of the timed training run (default 120, --quick 20)")
    p.set_defaults(func=_run)


def _run(args) -> int:
    if args.target == "all":
        from neural_render.bench_all import run_all

        return run_all(args.device, args.quick, args.out, args.train_seconds)
    from neural_render.bench_all import machine

    mod = importlib.import_module(TARGETS[args.target])
    result = {"target": args.target, "machine": machine(), **mod.run(device=args.device, quick=args.quick)}
    print_result(result, args.json)
    return 0
