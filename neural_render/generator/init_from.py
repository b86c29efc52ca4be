"""`train --init CKPT`: start a per-person run from another checkpoint's weights (fine-tuning).

Two kinds of checkpoint are accepted:

- a multi-identity animator (`smpl_assets/animator/animator.safetensors`, multi_identity.py): the
  run gets the animator architecture (`GeneratorConfig.arch = "animator"`, the file's `ngf` and
  levels; its inputs are fixed: normals, body mask, the person's texture looked up through the UV
  pass with a confidence channel, the background). The network starts as the prior; the texture
  and the background plate start from the person's training frames as in any run.
- a per-person generator checkpoint (`RUN/generator.safetensors` or a training checkpoint): its
  architecture must equal the run's (the architecture options given to `train`); every weight,
  texture and background plate included, is copied, so step 0 renders exactly what the checkpoint
  renders (a plate stored at another size is resized). A mismatch is refused, naming each
  difference and the option that sets it.

`--arch auto` (the default) takes the architecture of the --init checkpoint, else "generator".
"""

from __future__ import annotations

import json
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np

from neural_render.errors import InputError

# GeneratorConfig field -> the `train` option that sets it (for the mismatch message).
OPTION_OF = {"passes": "--passes", "texture_channels": "--texture-channels", "texture_size": "--texture-size",
             "texture_levels": "(texture levels)", "ngf": "--ngf", "n_down": "--n-down", "n_res": "--n-res",
             "temporal": "--no-temporal", "background": "--background", "refine_crops": "--no-refine",
             "refiner_channels": "(refiner channels)", "crop_fraction": "(crop fraction)",
             "residual": "--no-residual", "arch": "--arch"}
# Fields that may differ: the plate is resized to the run's --size.
FREE_FIELDS = {"plate_size"}


def checkpoint_kind(path: str | Path) -> tuple[str, dict]:
    """("animator" | "generator", metadata) of a checkpoint file, reading only its header."""
    from safetensors import safe_open

    from neural_render.generator.checkpoint import FORMAT

    path = Path(path)
    fix = ("pass smpl_assets/animator/animator.safetensors or a RUN/generator.safetensors "
           "written by `neural-render train`")
    if not path.is_file():
        raise InputError("--init checkpoint not found", path=str(path), where="--init", fix=fix)
    try:
        with safe_open(str(path), framework="pt", device="cpu") as f:
            meta = f.metadata() or {}
    except Exception as e:  # noqa: BLE001 - safetensors raises its own error types: bad input here
        raise InputError(f"not a safetensors checkpoint ({e.__class__.__name__})", path=str(path),
                         where="--init", fix=fix) from None
    if meta.get("kind") == "neural_render.animator":
        return "animator", meta
    if meta.get("format") == FORMAT:
        return "generator", meta
    raise InputError("neither a neural-render generator nor an animator checkpoint", path=str(path),
                     where="--init", fix=fix)


def resolve(o, model_config):
    """TrainOptions of a new run with its architecture settled: `arch` "auto" resolved (from the
    --init checkpoint when given), the animator's fixed inputs and, from an animator file, its
    `ngf` and levels written into the options (so options.json describes the run truthfully).
    Raises InputError when a generator checkpoint's architecture differs from the run's, as
    `model_config` (train's TrainOptions -> GeneratorConfig, passed in so this module does not
    import train, which imports it) builds the run's."""
    from neural_render.generator.networks import ANIMATOR_FIXED, GeneratorConfig

    kind, meta = checkpoint_kind(o.init) if o.init else (None, {})
    ck_cfg = None
    if kind == "animator":
        a = json.loads(meta.get("config", "{}"))
        if o.arch not in ("auto", "animator"):
            raise InputError(f"--init is a multi-identity animator checkpoint but --arch is {o.arch}",
                             path=str(o.init), where="--arch", fix="drop --arch (or pass --arch animator)")
        o = replace(o, arch="animator", ngf=int(a.get("ngf", 24)), n_down=int(a.get("levels", 3)))
    elif kind == "generator":
        ck_cfg = GeneratorConfig.from_json(meta["config"])
        if o.arch == "auto":
            o = replace(o, arch=ck_cfg.arch)
    if o.arch == "auto":
        o = replace(o, arch="generator")
    if o.arch == "animator":
        o = replace(o, **{k: (list(v) if isinstance(v, list) else v) for k, v in ANIMATOR_FIXED.items()})
    if ck_cfg is not None:
        _check_same(ck_cfg, o, model_config(o))
    return o


def _check_same(ck_cfg, o, run_cfg) -> None:
    mine, theirs = asdict(run_cfg), asdict(ck_cfg)
    diff = [k for k in theirs if k not in FREE_FIELDS and theirs[k] != mine.get(k)]
    if diff:
        what = "; ".join(f"{k} {_show(theirs[k])} in the checkpoint, {_show(mine.get(k))} here ({OPTION_OF.get(k, k)})"
                         for k in diff)
        raise InputError(f"--init checkpoint's architecture differs from this run's: {what}",
                         path=str(o.init), where="--init",
                         fix="train with the checkpoint's architecture options, or pass a checkpoint "
                             "trained with these")


def _show(v) -> str:
    return ",".join(v) if isinstance(v, list) else str(v)


def confidence_from_data(ds, size: int) -> np.ndarray:
    """(size, size) 1 where a texel is seen on a training frame's body (through the UV pass), else
    0 (row 0 = v 1): the confidence channel of the animator architecture's texture."""
    seen = np.zeros(size * size, bool)
    uv, fg = ds.arrays["uv"], ds.arrays["fg"]
    for i in range(len(ds)):
        m = (fg[i] > 0) & (uv[i][..., 0] > 0)
        u = uv[i][..., 1][m].astype(np.float64) / 255
        v = uv[i][..., 2][m].astype(np.float64) / 255
        tx = np.clip((u * size).astype(int), 0, size - 1)
        ty = np.clip(((1 - v) * size).astype(int), 0, size - 1)
        seen[ty * size + tx] = True
    return seen.reshape(size, size).astype(np.float32)


def start(renderer, ds, o) -> None:
    """Initialise a new run's renderer in place after `train.init_from_data`: the animator
    architecture's confidence channel from the data, then the --init checkpoint's weights."""
    import torch

    if renderer.cfg.arch == "animator" and o.init_from_data and "uv" in ds.arrays:
        with torch.no_grad():
            renderer.texture.pyramid[0][0, 3] = torch.from_numpy(confidence_from_data(ds, renderer.cfg.texture_size))
    if not o.init:
        return
    kind, _ = checkpoint_kind(o.init)
    if kind == "animator":
        from neural_render.generator.multi_identity import load

        renderer.generator.load_state_dict(load(o.init).state_dict())
        return
    from neural_render.generator import checkpoint as ckpt

    tensors, _ = ckpt.read(o.init, "cpu")
    key = "model.renderer.plate"
    if key in tensors and renderer.plate is not None and tensors[key].shape != renderer.plate.shape:
        import torch.nn.functional as F

        tensors[key] = F.interpolate(tensors[key], size=renderer.plate.shape[-2:], mode="bilinear",
                                     align_corners=False)
    ckpt.load_modules(tensors, {"renderer": renderer})
