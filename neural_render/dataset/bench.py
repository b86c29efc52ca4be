"""`neural-render bench dataset`: batch throughput, frames per second (and per worker), for
passes-only (instances, mask, parts, normal, depth, skeleton, uv; no RGB) and Cycles RGB (16
samples, plus instance labels) at 256^2 and 512^2, with 1 and 2 local workers.

Each run renders a fresh folder with the default body and the shipped sample motion, 1-2 people
per scene. `frames_per_second` includes start-up (one Blender per worker); `steady_frames_per_second`
counts from the moment every worker has finished its first sample; `cpu_seconds_per_frame` (user +
system time of the driver and its workers, start-up included) is the figure least disturbed by other
load on a shared machine.
"""

from __future__ import annotations

import os
import shutil
import tempfile


def bench_config(mode: str, size: int, samples: int) -> dict:
    from neural_render.dataset.config import validate

    raw = {"seed": 0, "samples": samples, "frames_per_sample": 2, "frame_step": 10, "resolution": size,
           "people": {"min": 1, "max": 2}}
    if mode == "passes":
        raw.update(passes=["instances", "mask", "parts", "normal", "depth", "skeleton", "uv"], rgb={"cycles": False})
    else:
        raw.update(passes=["instances", "mask"], rgb={"cycles": True, "samples": 16})
    return validate(raw)


def run(device: str = "auto", quick: bool = False) -> dict:
    from neural_render.dataset.runners import run_batch

    import resource

    def cpu() -> float:
        a, b = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
        return a.ru_utime + a.ru_stime + b.ru_utime + b.ru_stime

    samples = 2 if quick else 10
    results = []
    for mode in ("passes", "rgb"):
        for size in (256, 512):
            for workers in (1, 2):
                tmp = tempfile.mkdtemp(prefix="nr_bench_dataset_")
                c0 = cpu()
                try:
                    s = run_batch(bench_config(mode, size, samples), os.path.join(tmp, "d"), workers=workers,
                                  progress=False)
                finally:
                    shutil.rmtree(tmp, ignore_errors=True)
                cpu_s = cpu() - c0  # pool workers are reaped by then, so their CPU time is counted
                results.append({"mode": mode, "size": size, "workers": workers, "frames": s["frames_rendered"],
                                "seconds": s["seconds"], "frames_per_second": s["frames_per_second"],
                                "steady_frames_per_second": s["steady_frames_per_second"],
                                "cpu_seconds_per_frame": round(cpu_s / max(s["frames_rendered"], 1), 3),
                                "steady_fps_per_worker": (round(s["steady_frames_per_second"] / workers, 4)
                                                          if s["steady_frames_per_second"] else None)})
    return {"device": "cpu", "samples_per_run": samples, "frames_per_sample": 2, "results": results}
