"""Which device Cycles renders on: CPU (the default) or the GPU through CUDA / OptiX.

`actor render` and `batch` call `apply(scene)`, which reads $NEURAL_RENDER_CYCLES_DEVICE
(`cpu` default, `cuda`, `optix`, `auto` = OptiX, else CUDA, else CPU); both commands' `--cycles-device`
option sets that variable, so dataset workers (other processes) inherit it.

`wheel_kernels()` says, without importing bpy, which GPU kernels the installed bpy wheel carries:
Cycles' CUDA kernels ship as per-architecture cubins (`kernel_sm_NN.cubin.zst`) plus a PTX for
newer chips (`kernel_compute_NN.ptx.zst`, compiled by the driver on first use, which takes
minutes), and OptiX kernels as PTX only. `devices()` asks Cycles itself which devices it sees.
"""

from __future__ import annotations

import importlib.util
import os
import re
from pathlib import Path

from neural_render.errors import InputError

ENV = "NEURAL_RENDER_CYCLES_DEVICE"
CHOICES = ("cpu", "cuda", "optix", "auto")


def choice(value: str | None = None) -> str:
    """The requested device (`value`, else $NEURAL_RENDER_CYCLES_DEVICE, else cpu), validated."""
    text = (value if value is not None else os.environ.get(ENV, "cpu")).strip().lower() or "cpu"
    if text not in CHOICES:
        raise InputError(f"unknown Cycles device '{text}'", where=f"--cycles-device / ${ENV}",
                         fix=f"use one of {', '.join(CHOICES)}")
    return text


def _cycles_lib() -> Path | None:
    spec = importlib.util.find_spec("bpy")
    if spec is None or not spec.origin:
        return None
    hits = sorted(Path(spec.origin).parent.glob("*/scripts/addons_core/cycles/lib"))
    return hits[-1] if hits else None


def wheel_kernels(arch: str | None = None) -> dict:
    """GPU kernels in the installed bpy wheel; `arch` ("sm_90") says how that chip would run CUDA.

    Returns {"bpy_found", "lib", "cuda_cubins" [sm_NN], "cuda_ptx" [compute_NN], "optix_ptx" bool,
    "hip" int (AMD kernel files), "oneapi" bool, and for `arch`: "arch_path" = "cubin" (native),
    "ptx-jit" (driver compiles the PTX on first use) or "none"}.
    """
    lib = _cycles_lib()
    out: dict = {"bpy_found": importlib.util.find_spec("bpy") is not None, "lib": str(lib) if lib else None}
    names = [p.name for p in lib.iterdir()] if lib else []
    cubins = sorted({m.group(1) for n in names if (m := re.match(r"kernel_(sm_\d+)\.cubin", n))},
                    key=lambda s: int(s[3:]))
    ptx = sorted({m.group(1) for n in names if (m := re.match(r"kernel_(compute_\d+)\.ptx", n))},
                 key=lambda s: int(s[8:]))
    out.update(cuda_cubins=cubins, cuda_ptx=ptx, optix_ptx=any(n.startswith("kernel_optix") for n in names),
               hip=sum(n.endswith((".hipfb.zst", ".fatbin.zst")) for n in names),
               oneapi=bool(lib) and any(lib.parents[4].glob("lib/libcycles_kernel_oneapi*")))
    if arch:
        cc = int(arch.split("_")[1])
        out["arch"] = arch
        out["arch_path"] = ("cubin" if arch in cubins else
                            "ptx-jit" if any(int(p.split("_")[1]) <= cc for p in ptx) else "none")
    return out


def devices() -> dict:
    """{"CUDA": [names], "OPTIX": [...], ...} of the GPU devices Cycles sees in this process (bpy)."""
    import bpy

    prefs = bpy.context.preferences.addons["cycles"].preferences
    found: dict = {}
    for kind in ("CUDA", "OPTIX", "HIP", "ONEAPI", "METAL"):
        try:
            devs = prefs.get_devices_for_type(kind)
        except (TypeError, ValueError):  # a backend this build does not know
            continue
        names = [d.name for d in devs if d.type == kind]
        if names:
            found[kind] = names
    return found


def apply(scene, value: str | None = None) -> str:
    """Set `scene` to render on the chosen device; returns "CPU", "CUDA" or "OPTIX".

    An explicit cuda/optix request with no such device is an input error (one line, exit 2);
    `auto` falls back to the CPU.
    """
    want = choice(value)
    if want == "cpu":
        scene.cycles.device = "CPU"
        return "CPU"
    import bpy

    prefs = bpy.context.preferences.addons["cycles"].preferences
    found = devices()
    order = ["OPTIX", "CUDA"] if want == "auto" else [want.upper()]
    for kind in order:
        if kind in found:
            prefs.compute_device_type = kind
            for d in prefs.get_devices_for_type(kind):
                d.use = d.type == kind  # the GPU(s) of this backend only, not the CPU beside them
            scene.cycles.device = "GPU"
            return kind
    if want == "auto":
        scene.cycles.device = "CPU"
        return "CPU"
    raise InputError(f"Cycles sees no {want.upper()} device (found: {found or 'no GPU'})",
                     where=f"--cycles-device / ${ENV}", fix="use --cycles-device cpu, or run on a machine with an NVIDIA GPU")
