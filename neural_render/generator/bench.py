"""`neural-render bench generator`: inference latency/throughput, model FLOPs and utilization, train-step time.

Inputs are random tensors with the shapes of real passes (no files needed). FLOPs are counted with
`torch.utils.flop_counter.FlopCounterMode` (multiply-add = 2 FLOPs) for one forward of the default
shipped architecture (temporal inference runs it twice per frame: see infer.py; reported per pass).
Utilization = achieved FLOP/s / peak; peak is known for H100/H200 bf16 dense (989 TFLOP/s) and
unknown on CPU (reported as null). On CUDA the same run also measures the ceiling a plain bf16
matrix product reaches here (8192^3, random data, CUDA events) and the batch-1 latency of the
compiled runner (`generate --compile`: torch.compile "reduce-overhead", CUDA graphs).
"""

from __future__ import annotations

import time

PEAK_BF16 = {"H100": 989.4e12, "H200": 989.4e12, "A100": 312e12}


def _batch(cfg, n: int, size: int, device: str) -> dict:
    import torch

    g = torch.Generator().manual_seed(0)
    b = {"skeleton": torch.rand(n, 3, size, size, generator=g), "parts": torch.randint(0, 25, (n, size, size), generator=g),
         "normal": torch.rand(n, 3, size, size, generator=g) * 2 - 1, "depth": torch.rand(n, 1, size, size, generator=g),
         "mask": torch.ones(n, 1, size, size), "uv": torch.rand(n, 2, size, size, generator=g),
         "fg": torch.ones(n, 1, size, size), "target": torch.rand(n, 3, size, size, generator=g) * 2 - 1,
         "boxes": torch.randint(0, size // 2, (n, 3, 2), generator=g), "box_valid": torch.ones(n, 3, dtype=torch.bool)}
    return {k: v.to(device) for k, v in b.items()}


def _peak(device: str) -> float | None:
    import torch

    if not device.startswith("cuda"):
        return None
    name = torch.cuda.get_device_name(0)
    return next((v for k, v in PEAK_BF16.items() if k in name), None)


def flops_per_forward(model, batch: dict) -> int:
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    with torch.no_grad(), FlopCounterMode(display=False) as fc:
        model(batch, prev=torch.zeros_like(batch["target"]))
    return int(fc.get_total_flops())


def time_forward(model, batch: dict, device: str, reps: int, amp: bool) -> float:
    """Median seconds per forward (one call on the whole batch)."""
    import statistics

    import torch

    dev_type = "cuda" if device.startswith("cuda") else "cpu"
    prev = torch.zeros_like(batch["target"])
    times = []
    with torch.inference_mode(), torch.autocast(dev_type, dtype=torch.bfloat16, enabled=amp):
        for i in range(reps + 2):
            if dev_type == "cuda":
                torch.cuda.synchronize()
            t = time.perf_counter()
            model(batch, prev=prev)
            if dev_type == "cuda":
                torch.cuda.synchronize()
            if i >= 2:  # warm-up
                times.append(time.perf_counter() - t)
    return statistics.median(times)


def matmul_ceiling_tflops(n: int = 8192, reps: int = 10) -> float:
    """TFLOP/s of an n^3 bf16 matrix product on CUDA (random data, median of `reps` after warm-up)."""
    import statistics

    import torch

    a = torch.randn(n, n, device="cuda", dtype=torch.bfloat16)
    b = torch.randn(n, n, device="cuda", dtype=torch.bfloat16)
    for _ in range(3):
        a @ b
    times = []
    for _ in range(reps):
        s, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        s.record()
        a @ b
        e.record()
        e.synchronize()
        times.append(s.elapsed_time(e) / 1000)
    return 2 * n ** 3 / statistics.median(times) / 1e12


def compiled_latency_ms(cfg, size: int = 512, reps: int = 30) -> dict:
    """Batch-1 latency of the compiled CUDA runner (bf16, channels_last, CUDA graphs) vs eager."""
    import statistics

    import torch

    from neural_render.generator.infer import Runner
    from neural_render.generator.networks import NeuralRenderer

    b = _batch(cfg, 1, size, "cuda")
    out = {}
    for name, comp in (("eager", False), ("compiled", True)):
        run = Runner(NeuralRenderer(cfg), "cuda", compile=comp, batch=1)
        t = time.perf_counter()
        run(b)
        torch.cuda.synchronize()
        first = time.perf_counter() - t
        for _ in range(3):
            run(b)
        times = []
        for _ in range(reps):
            torch.cuda.synchronize()
            t = time.perf_counter()
            run(b)
            torch.cuda.synchronize()
            times.append(time.perf_counter() - t)
        out[name] = {"ms": round(1000 * statistics.median(times), 3), "first_call_s": round(first, 2)}
    return out


def _configs() -> dict:
    """The shipped checkpoint's architecture (when present) and the library default."""
    from neural_render.generator.networks import GeneratorConfig

    out = {}
    try:
        from neural_render.generator.checkpoint import read
        from neural_render.paths import asset

        out["shipped"] = GeneratorConfig.from_json(read(asset("actor_generator.safetensors"))[1]["config"])
    except Exception:  # noqa: BLE001 - no shipped checkpoint: bench the default only
        pass
    out["default"] = GeneratorConfig()
    return out


def run(device: str = "auto", quick: bool = False, configs: tuple[str, ...] = ("shipped", "default"),
        sizes: tuple[int, ...] = (256, 512), train_step: bool = True, compile: tuple[str, ...] | None = None) -> dict:
    """Inference rows per config, device, size and batch (1 and 16 on CUDA, 1 and 4 on CPU).

    `compile`: the configs whose compiled batch-1 latency at 512 px is measured on CUDA (a compile
    takes about a minute; default the shipped one, none when quick)."""
    import torch

    devices = (["cpu"] + (["cuda"] if torch.cuda.is_available() else [])) if device == "auto" else [device]
    results: dict = {"note": "temporal configs run the model twice per generated frame (stage 1 + stage 2); "
                             "figures here are per forward pass"}
    if "cuda" in devices:
        results["cuda_bf16_matmul_tflops"] = round(matmul_ceiling_tflops(), 1)
        results["cuda_device"] = torch.cuda.get_device_name(0)
    for name, cfg in _configs().items():
        if name in configs:
            results[name] = _run_config(cfg, devices, quick, sizes, train_step)
            ceiling = results.get("cuda_bf16_matmul_tflops")
            for row in results[name].get("cuda", {}).get("inference", []):
                row["utilization_vs_matmul"] = round(row["achieved_tflops"] / ceiling, 4) if ceiling else None
            if compile is None:
                compile = () if quick else ("shipped",)
            if "cuda" in devices and name in compile and 512 in sizes:
                results[name]["cuda"]["batch1_512"] = compiled_latency_ms(cfg, 512)
    return results


def _run_config(cfg, devices, quick, sizes=(256, 512), train_step: bool = True) -> dict:
    import torch

    from neural_render.generator.networks import NeuralRenderer, count_parameters

    results = {"config": cfg.__dict__, "parameters": count_parameters(NeuralRenderer(cfg))}
    for dev in devices:
        model = NeuralRenderer(cfg).to(dev).eval()
        cuda = dev.startswith("cuda")
        if cuda:
            model.to(memory_format=torch.channels_last)
        amp = cuda
        batches = [1, 16] if cuda else ([1] if quick else [1, 4])
        reps = (5 if cuda else 2) if quick else (20 if cuda else 5)
        rows = []
        for size in sizes:
            for n in batches:
                b = _batch(cfg, n, size, dev)
                fl = flops_per_forward(model, {k: v[:1] for k, v in b.items()})
                s = time_forward(model, b, dev, reps, amp)
                ach = fl * n / s
                peak = _peak(dev)
                rows.append({"size": size, "batch": n, "ms_per_forward": round(1000 * s, 3),
                             "ms_per_frame": round(1000 * s / n, 2), "gflop_per_frame_forward": round(fl / 1e9, 3),
                             "achieved_tflops": round(ach / 1e12, 4), "precision": "bf16" if amp else "fp32",
                             "utilization": None if peak is None else round(ach / peak, 4)})
        results[dev] = {"inference": rows}
        if not train_step:
            continue
        # one training step (generator only, L1 + MS-SSIM, temporal prev pass) at 128x128 crops, batch 4
        from neural_render.generator.losses import ms_ssim

        model.train()
        opt = torch.optim.Adam(model.parameters(), 1e-4)
        b = _batch(cfg, 4, 128, dev)
        step_times = []
        for i in range(2 if quick else 5):
            t = time.perf_counter()
            with torch.no_grad():
                prev = model(b)
            out = model(b, prev=prev)
            loss = (out - b["target"]).abs().mean() + (1 - ms_ssim(out, b["target"]))
            opt.zero_grad()
            loss.backward()
            opt.step()
            if cuda:
                torch.cuda.synchronize()
            step_times.append(time.perf_counter() - t)
        results[dev]["train_step_128px_batch4_s"] = round(sorted(step_times)[len(step_times) // 2], 4)
    return results
