"""`neural-render bench train`: training steps per second, and a loss that falls, over a timed run.

The real training loop (`generator.train.train`, default architecture and loss, bf16 autocast on
CUDA) runs on a synthetic paired set (`generator.synthetic`: 16 frames of an ellipsoid 'body' with
every pass) for a fixed wall-clock budget (`--max-seconds` of `neural-render train`). Steps per
second are measured after the first 10 % of the steps (start-up, cuDNN autotuning, first
allocations); the loss figures are the mean L1 of the first and the last 5 logged steps. The
texture and background start at zero (`--no-init-from-data`): the data-driven start is already
close to the frames, and a curve that starts there shows Adam's first jolt more than learning.
From a zero texture the unclipped default diverged here (64 px, batch 2: L1 0.44 -> 325 in 20 s),
so the run clips the generator's gradient norm to 1 (`train --grad-clip 1`: L1 0.44 -> 0.024).
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path


def run(device: str = "auto", quick: bool = False, seconds: float | None = None, size: int | None = None,
        batch: int | None = None, keep: str | Path | None = None) -> dict:
    """Train for `seconds` (default 120, quick 20) at `size` px, `batch` frames a step (default 512 px
    and 4; quick on the CPU 64 px and 2, a smoke run). `loss_falls` is judged from 10 logged steps on.

    `keep`: a folder to copy the run's curve.png and log.jsonl into. Returns a JSON-ready dict.
    """
    import torch

    from neural_render.generator.device import resolve_device
    from neural_render.generator.synthetic import write_dataset
    from neural_render.generator.train import TrainOptions, train

    dev = resolve_device("cuda" if device == "auto" and torch.cuda.is_available() else
                         "cpu" if device == "auto" else device)
    small = quick and dev == "cpu"
    size = size or (64 if small else 512)
    batch = batch or (2 if small else 4)
    seconds = float(seconds if seconds is not None else (20 if quick else 120))
    work = Path(tempfile.mkdtemp(prefix="nr_bench_train_"))
    try:
        data = write_dataset(work / "data", frames=16, size=size)
        opts = TrainOptions(data=str(data), out=str(work / "run"), steps=10**9, size=size, device=dev, batch=batch,
                            log_every=1, ckpt_every=10**9, sample_every=10**9, progress=False, split=None,
                            max_seconds=seconds, init_from_data=False, grad_clip=1.0)
        summary = train(opts)
        rows = [json.loads(x) for x in (work / "run" / "log.jsonl").read_text().splitlines() if x.strip()]
        if keep:
            Path(keep).mkdir(parents=True, exist_ok=True)
            for name in ("curve.png", "log.jsonl"):
                if (work / "run" / name).is_file():
                    shutil.copy(work / "run" / name, Path(keep) / f"train_{name}")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    k = max(1, len(rows) // 10)
    timed = rows[k - 1:]
    if len(timed) >= 2 and timed[-1]["seconds"] > timed[0]["seconds"]:
        steps_per_s = (timed[-1]["step"] - timed[0]["step"]) / (timed[-1]["seconds"] - timed[0]["seconds"])
    else:  # too few steps to leave the start-up out: the whole run
        steps_per_s = summary["steps"] / max(summary["seconds"], 1e-9)
    n = min(5, max(1, len(rows) // 2))
    first = sum(r["l1"] for r in rows[:n]) / n
    last = sum(r["l1"] for r in rows[-n:]) / n
    return {"device": dev, "size": size, "batch": batch, "budget_s": seconds, "steps": summary["steps"],
            "seconds": summary["seconds"], "steps_per_s": None if steps_per_s is None else round(steps_per_s, 3),
            "frames_per_s": None if steps_per_s is None else round(steps_per_s * batch, 2),
            "l1_first": round(first, 5), "l1_last": round(last, 5), "l1_ratio": round(last / first, 4) if first else None,
            "loss_falls": bool(last < first) if len(rows) >= 10 else None, "precision": "bf16" if dev.startswith("cuda") else "fp32",
            "architecture": "TrainOptions defaults (ngf 32, n_res 4, neural texture 8 ch, crop refiner, temporal)"}
