"""`neural-render bench generator`: inference latency/throughput, model FLOPs and utilization, train-step time.

Inputs are random tensors with the shapes of real passes (no files needed). FLOPs are counted with
`torch.utils.flop_counter.FlopCounterMode` (multiply-add = 2 FLOPs) for one forward of the default
shipped architecture (temporal inference runs it twice per frame: see infer.py; reported per pass).
Utilization = achieved FLOP/s / peak; peak is known for H100/H200 bf16 dense (989 TFLOP/s) and
unknown on CPU (reported as null).
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


def run(device: str = "auto", quick: bool = False) -> dict:
    import torch

    devices = (["cpu"] + (["cuda"] if torch.cuda.is_available() else [])) if device == "auto" else [device]
    results = {"note": "temporal configs run the model twice per generated frame (stage 1 + stage 2); "
                       "figures here are per forward pass"}
    for name, cfg in _configs().items():
        results[name] = _run_config(cfg, devices, quick)
    return results


def _run_config(cfg, devices, quick) -> dict:
    import torch

    from neural_render.generator.networks import NeuralRenderer, count_parameters

    results = {"config": cfg.__dict__, "parameters": count_parameters(NeuralRenderer(cfg))}
    for dev in devices:
        model = NeuralRenderer(cfg).to(dev).eval()
        cuda = dev.startswith("cuda")
        if cuda:
            model.to(memory_format=torch.channels_last)
        amp = cuda
        sizes = [256, 512]
        batches = [1, 16] if cuda else [1, 4]
        reps = 3 if quick else (20 if cuda else 5)
        rows = []
        for size in sizes:
            for n in batches:
                b = _batch(cfg, n, size, dev)
                fl = flops_per_forward(model, {k: v[:1] for k, v in b.items()})
                s = time_forward(model, b, dev, reps, amp)
                ach = fl * n / s
                peak = _peak(dev)
                rows.append({"size": size, "batch": n, "ms_per_forward": round(1000 * s, 2),
                             "ms_per_frame": round(1000 * s / n, 2), "gflop_per_frame_forward": round(fl / 1e9, 3),
                             "achieved_tflops": round(ach / 1e12, 4), "precision": "bf16" if amp else "fp32",
                             "utilization": None if peak is None else round(ach / peak, 4)})
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
        results[dev] = {"inference": rows, "train_step_128px_batch4_s": round(sorted(step_times)[len(step_times) // 2], 4)}
    return results
