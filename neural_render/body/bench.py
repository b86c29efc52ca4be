"""`neural-render bench body`: poses per second of the default body's forward pass.

numpy (BodyModel.forward: vertices, joints, BODY_25 and COCO-17) and torch (TorchLBS: vertices
and joints) at batch 1, 64 and 4096, on CPU and on CUDA when available. Random poses
(N(0, 0.4) rad per axis), one shared random shape; float32. A warm-up call precedes timing.
"""

from __future__ import annotations

import time

import numpy as np

BATCHES = (1, 64, 4096)


def _time(fn, batch: int, quick: bool, budget: float | None = None) -> dict:
    """Repeat `fn` for `budget` seconds (default 2, quick 0.3; at least once, at most 200 times);
    poses/s from the median."""
    fn()  # warm-up (allocations, lazy init, CUDA kernels)
    budget = budget if budget is not None else 0.3 if quick else 2.0
    times, cpu = [], []
    start = time.perf_counter()
    while not times or (time.perf_counter() - start < budget and len(times) < 200):
        t, c = time.perf_counter(), time.process_time()
        fn()
        times.append(time.perf_counter() - t)
        cpu.append(time.process_time() - c)
    med = float(np.median(times))
    # CPU seconds of this process per pose (all its threads): on a shared machine wall time also
    # counts waiting for a core, CPU time only the work.
    cpu_med = float(np.median(cpu))
    return {"batch": batch, "poses_per_s": round(batch / med, 1), "ms_per_call": round(med * 1000, 3),
            "cpu_ms_per_pose": round(cpu_med * 1000 / batch, 3), "repeats": len(times)}


def run(device: str = "auto", quick: bool = False, cpu_budget_s: float | None = None) -> dict:
    """Rows per backend, device and batch; `cpu_budget_s`: seconds timed per CPU row (default 2, quick 0.3)."""
    from neural_render.body import load_body

    body = load_body()
    rng = np.random.default_rng(0)
    betas = rng.normal(0, 1, body.num_betas).astype(np.float32)
    batches = BATCHES[:2] + (512,) if quick else BATCHES
    results: dict = {"model": body.name, "vertices": body.num_vertices, "results": []}

    want_cpu = device in ("auto", "cpu")
    if want_cpu:
        for n in batches:
            poses = rng.normal(0, 0.4, (n, 72)).astype(np.float32)
            trans = np.zeros((n, 3), np.float32)
            r = _time(lambda: body.forward(poses, betas, trans), n, quick, cpu_budget_s)
            results["results"].append({"backend": "numpy", "device": "cpu", **r})

    try:
        import torch
    except ImportError:
        results["torch"] = "not installed"
        return results
    devices = []
    if want_cpu:
        devices.append("cpu")
    if device in ("auto", "cuda") and torch.cuda.is_available():
        devices.append("cuda")
    elif device == "cuda":
        results["cuda"] = "not available"
    default_threads = torch.get_num_threads()
    runs = [(dev, default_threads) for dev in devices]
    if "cpu" in devices and default_threads > 1:
        # one thread avoids OpenMP hand-offs, which dominate small batches on a busy machine
        runs.insert(1, ("cpu", 1))
    for dev, threads in runs:
        torch.set_num_threads(threads)
        model = body.to_torch(dev)
        b = torch.as_tensor(betas, device=dev)[None]
        for n in batches:
            poses = torch.as_tensor(rng.normal(0, 0.4, (n, 72)), dtype=torch.float32, device=dev)
            trans = torch.zeros(n, 3, device=dev)

            def call():
                with torch.no_grad():
                    v, _ = model(poses, b, trans)
                if dev == "cuda":
                    torch.cuda.synchronize()
                return v

            r = _time(call, n, quick, cpu_budget_s if dev == "cpu" else None)
            results["results"].append({"backend": "torch", "device": dev, "threads": threads, **r})
    torch.set_num_threads(default_threads)
    return results
