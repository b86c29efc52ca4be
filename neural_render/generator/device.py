"""The `--device` choice shared by train, generate, eval and the benchmarks (a leaf module)."""

from __future__ import annotations

from neural_render.errors import InputError


def resolve_device(name: str) -> str:
    """"auto" -> "cuda" when torch sees a GPU, else "cpu"; "cpu"/"cuda[:N]" checked.

    Raises InputError (exit 2) for an unknown name or CUDA asked for where there is none.
    """
    import torch

    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise InputError("CUDA requested but not available", where="--device", fix="use --device cpu")
    if name not in ("cpu",) and not name.startswith("cuda"):
        raise InputError(f"unknown device '{name}'", where="--device", fix="use cpu, cuda or auto")
    return name
