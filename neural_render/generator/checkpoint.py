"""Checkpoints in safetensors: model weights for inference, full training state for exact resume.

One file holds everything, written atomically (a kill mid-write leaves the previous file intact):

- tensors ``model.<module>.<param>`` for every module (renderer, discriminators, ...),
- tensors ``optim.<name>.<param index>.<key>`` for optimizer state (Adam moments, step),
- tensor ``rng.torch`` (CPU generator state) and ``rng.cuda.<i>``,
- metadata (str -> str): ``format``, ``config`` (GeneratorConfig JSON), ``step``, ``train`` (the
  training options JSON), ``optim`` (param groups and non-tensor state, JSON), ``rng`` (numpy and
  Python `random` states, JSON), ``metrics`` (optional JSON).

An inference checkpoint (`export_inference`) keeps only ``model.renderer.*`` + config + metrics.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np

from neural_render.errors import InputError
from neural_render.fileio import atomic_path

FORMAT = "neural-render-generator/1"


def _state_tensors(prefix: str, state: dict) -> dict:
    return {f"{prefix}.{k}": v.detach().contiguous().cpu().clone() for k, v in state.items()}


def _optim_to_flat(name: str, opt) -> tuple[dict, dict]:
    import torch

    sd = opt.state_dict()
    tensors, meta_state = {}, {}
    for idx, st in sd["state"].items():
        for k, v in st.items():
            if torch.is_tensor(v):
                tensors[f"optim.{name}.{idx}.{k}"] = v.detach().contiguous().cpu().clone()
            else:
                meta_state.setdefault(str(idx), {})[k] = v
    return tensors, {"param_groups": sd["param_groups"], "state": meta_state}


def _optim_from_flat(name: str, opt, tensors: dict, meta: dict) -> None:
    state: dict = {}
    pre = f"optim.{name}."
    for key, v in tensors.items():
        if key.startswith(pre):
            idx, k = key[len(pre):].split(".", 1)
            state.setdefault(int(idx), {})[k] = v
    for idx, st in meta.get("state", {}).items():
        state.setdefault(int(idx), {}).update(st)
    opt.load_state_dict({"state": state, "param_groups": meta["param_groups"]})


def rng_state() -> tuple[dict, dict]:
    import torch

    tensors = {"rng.torch": torch.get_rng_state().clone()}
    if torch.cuda.is_available():
        for i, s in enumerate(torch.cuda.get_rng_state_all()):
            tensors[f"rng.cuda.{i}"] = s.clone()
    np_state = np.random.get_state()
    py_state = random.getstate()
    meta = {"numpy": [np_state[0], np_state[1].tolist(), int(np_state[2]), int(np_state[3]), float(np_state[4])],
            "python": [py_state[0], list(py_state[1]), py_state[2]]}
    return tensors, meta


def set_rng_state(tensors: dict, meta: dict) -> None:
    import torch

    if "rng.torch" in tensors:
        torch.set_rng_state(tensors["rng.torch"])
    if torch.cuda.is_available():
        states = [tensors[k] for k in sorted(t for t in tensors if t.startswith("rng.cuda."))]
        if len(states) == torch.cuda.device_count():
            torch.cuda.set_rng_state_all(states)
    if "numpy" in meta:
        s = meta["numpy"]
        np.random.set_state((s[0], np.asarray(s[1], np.uint32), s[2], s[3], s[4]))
    if "python" in meta:
        s = meta["python"]
        random.setstate((s[0], tuple(s[1]), s[2]))


def save(path: str | Path, modules: dict, cfg, step: int = 0, optimizers: dict | None = None,
         train_options: dict | None = None, metrics: dict | None = None, with_rng: bool = True) -> None:
    """Write modules (name -> nn.Module), optimizers (name -> Optimizer) and RNG states to `path`."""
    from safetensors.torch import save_file

    tensors: dict = {}
    for name, mod in modules.items():
        tensors.update(_state_tensors(f"model.{name}", mod.state_dict()))
    optim_meta = {}
    for name, opt in (optimizers or {}).items():
        t, m = _optim_to_flat(name, opt)
        tensors.update(t)
        optim_meta[name] = m
    meta = {"format": FORMAT, "config": cfg.to_json(), "step": str(int(step)),
            "train": json.dumps(train_options or {}, default=str), "optim": json.dumps(optim_meta)}
    if with_rng:
        t, m = rng_state()
        tensors.update(t)
        meta["rng"] = json.dumps(m)
    if metrics:
        meta["metrics"] = json.dumps(metrics)
    with atomic_path(path) as tmp:
        save_file(tensors, str(tmp), metadata=meta)


def read(path: str | Path, device: str = "cpu") -> tuple[dict, dict]:
    """(tensors, metadata) of a checkpoint; InputError when it is not one of ours."""
    from safetensors import safe_open

    path = Path(path)
    if not path.is_file():
        raise InputError("checkpoint not found", path=str(path), fix="pass a .safetensors file written by "
                         "`neural-render train` (RUN/generator.safetensors)")
    try:
        with safe_open(str(path), framework="pt", device=device) as f:
            meta = f.metadata() or {}
            tensors = {k: f.get_tensor(k) for k in f.keys()}
    except Exception as e:  # safetensors raises its own error types
        raise InputError(f"not a safetensors checkpoint ({e})", path=str(path),
                         fix="pass a file written by `neural-render train`") from None
    if meta.get("format") != FORMAT:
        raise InputError("not a neural-render generator checkpoint", path=str(path),
                         fix="pass RUN/generator.safetensors from `neural-render train`")
    return tensors, meta


def load_modules(tensors: dict, modules: dict, strict: bool = True) -> None:
    for name, mod in modules.items():
        pre = f"model.{name}."
        sd = {k[len(pre):]: v for k, v in tensors.items() if k.startswith(pre)}
        mod.load_state_dict(sd, strict=strict)


def restore(path: str | Path, modules: dict, optimizers: dict | None = None, device: str = "cpu") -> dict:
    """Load weights, optimizer and RNG states in place; returns the metadata (step as int)."""
    tensors, meta = read(path, "cpu")
    load_modules(tensors, modules)
    optim_meta = json.loads(meta.get("optim", "{}"))
    for name, opt in (optimizers or {}).items():
        if name in optim_meta:
            _optim_from_flat(name, opt, {k: v.to(device) for k, v in tensors.items()
                                         if k.startswith(f"optim.{name}.")}, optim_meta[name])
    if "rng" in meta:
        set_rng_state(tensors, json.loads(meta["rng"]))
    out = dict(meta)
    out["step"] = int(meta.get("step", 0))
    return out


def load_renderer(path: str | Path, device: str = "cpu"):
    """The NeuralRenderer of a checkpoint (training or inference file), in eval mode, plus metadata."""
    from neural_render.generator.networks import GeneratorConfig, NeuralRenderer

    tensors, meta = read(path, "cpu")
    cfg = GeneratorConfig.from_json(meta["config"])
    model = NeuralRenderer(cfg)
    load_modules(tensors, {"renderer": model})
    return model.to(device).eval(), meta


def export_inference(src: str | Path, dst: str | Path, metrics: dict | None = None) -> None:
    """Copy only the renderer weights + config (+ metrics) of a training checkpoint to `dst`."""
    from safetensors.torch import save_file

    tensors, meta = read(src, "cpu")
    keep = {k: v.contiguous() for k, v in tensors.items() if k.startswith("model.renderer.")}
    out_meta = {"format": FORMAT, "config": meta["config"], "step": meta.get("step", "0"),
                "train": meta.get("train", "{}")}
    if metrics or "metrics" in meta:
        out_meta["metrics"] = json.dumps(metrics) if metrics else meta["metrics"]
    with atomic_path(dst) as tmp:
        save_file(keep, str(tmp), metadata=out_meta)
