"""Optional generator RGB: the trained pose-conditioned generator (neural_render.generator) turns each
sample's guidance passes into frames of the person it was trained on, written to generated/NNNNNN.png.

Runs inside the sample's task after its passes are written (so it is resumable per sample like
everything else). The checkpoint is loaded once per worker process; torch runs on the CPU with one
thread so outputs do not depend on the worker count (reduction order changes with thread count).
"""

from __future__ import annotations

from pathlib import Path

from neural_render.errors import InputError

_MODEL: dict = {}


def checkpoint_requirements(checkpoint: str) -> dict:
    """{"passes": [...], "multiple": int} the checkpoint needs (raises InputError if unreadable)."""
    from neural_render.generator.checkpoint import read
    from neural_render.generator.networks import GeneratorConfig

    try:
        _tensors, meta = read(checkpoint, "cpu")
        gcfg = GeneratorConfig.from_json(meta["config"])
    except InputError:
        raise
    except Exception as e:  # noqa: BLE001 - any unreadable file is the user's input
        raise InputError(f"not a generator checkpoint ({type(e).__name__}: {e})", path=checkpoint,
                         where="key 'generator.checkpoint'", fix="use a file written by `neural-render train`") from None
    return {"passes": list(gcfg.passes), "multiple": 2 ** gcfg.n_down}


def validate_for_config(cfg: dict) -> None:
    ckpt = cfg["generator"]["checkpoint"]
    if not ckpt:
        return
    req = checkpoint_requirements(ckpt)
    missing = [p for p in req["passes"] if p not in cfg["passes"]]
    if missing:
        raise InputError(f"the generator checkpoint needs passes {missing}", where="key 'passes'",
                         fix=f"add {', '.join(missing)} to 'passes'")
    W, H = cfg["resolution"]
    if W % req["multiple"] or H % req["multiple"]:
        raise InputError(f"resolution {W}x{H} is not a multiple of {req['multiple']} (the generator's)",
                         where="key 'resolution'", fix=f"use e.g. {max(W, H) // req['multiple'] * req['multiple']}")


def generate_sample(cfg: dict, out_dir: Path, frame_ids: list[int]) -> list[Path]:
    import torch

    from neural_render.fileio import write_image
    from neural_render.generator.checkpoint import load_renderer
    from neural_render.generator.data import PairedDataset
    from neural_render.generator.infer import generate_dataset

    ckpt = cfg["generator"]["checkpoint"]
    torch.set_num_threads(1)
    if _MODEL.get("path") != ckpt:
        _MODEL.update(path=ckpt, renderer=load_renderer(ckpt, "cpu")[0])
    renderer = _MODEL["renderer"]
    ds = PairedDataset(out_dir, renderer.cfg.passes, require_frames=False,
                       crop_fraction=renderer.cfg.crop_fraction, frames=list(frame_ids))
    with torch.no_grad():
        frames = generate_dataset(renderer, ds, device="cpu", batch=len(frame_ids))
    paths = []
    for n, img in zip(ds.numbers, frames):
        p = Path(out_dir) / "generated" / f"{n:06d}.png"
        write_image(p, img)
        paths.append(p)
    return paths
