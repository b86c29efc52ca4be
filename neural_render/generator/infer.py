"""Inference: passes folder -> generated frames (+ video).

`neural-render generate --checkpoint CKPT --passes DIR --out DIR [--video out.mp4]`.

Temporal mode runs the two stages the model was trained with, each batched over all frames:
stage 1 generates every frame with a zero previous frame; stage 2 generates frame t with stage 1's
frame t-1 as the previous frame (zeros at a sequence start). No frame depends on a chain of earlier
outputs, so errors cannot accumulate and the whole sequence is batched. On CUDA: bf16 autocast,
channels_last, and optionally `torch.compile(mode="reduce-overhead")` (CUDA graphs; batches are
padded to a fixed size so one graph serves all).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from neural_render.errors import InputError


def to_uint8(x) -> np.ndarray:
    """(N, 3, H, W) tensor in [-1, 1] -> (N, H, W, 3) uint8."""
    return ((x.float().clamp(-1, 1) + 1) * 127.5).round().byte().permute(0, 2, 3, 1).cpu().numpy()


class Runner:
    """Batched, optionally compiled forward of a NeuralRenderer on one device."""

    def __init__(self, renderer, device: str = "cpu", amp: bool | None = None, compile: bool = False,
                 batch: int = 8):
        import torch

        self.device = device
        self.cuda = device.startswith("cuda")
        self.amp = self.cuda if amp is None else amp
        self.batch = batch
        self.renderer = renderer.to(device).eval()
        if self.cuda:
            self.renderer.to(memory_format=torch.channels_last)
        self.fn = self.renderer
        self.pad = compile
        if compile:
            self.fn = torch.compile(self.renderer, mode="reduce-overhead" if self.cuda else "default")

    def __call__(self, batch: dict, prev=None):
        import torch

        n = next(iter(batch.values())).shape[0]
        if self.pad and n < self.batch:  # fixed shapes for CUDA graphs
            batch = {k: torch.cat([v, v[-1:].expand(self.batch - n, *v.shape[1:])]) for k, v in batch.items()}
            if prev is not None:
                prev = torch.cat([prev, prev[-1:].expand(self.batch - n, *prev.shape[1:])])
        dev_type = "cuda" if self.cuda else "cpu"
        with torch.inference_mode(), torch.autocast(dev_type, dtype=torch.bfloat16, enabled=self.amp):
            out = self.fn(batch, prev=prev)
        return out[:n].float()


def generate_dataset(renderer, ds, device: str = "cpu", batch: int = 8, indices=None, runner: Runner | None = None,
                     progress: bool = False) -> list[np.ndarray]:
    """Generate frames for `indices` (default all) of a PairedDataset; returns (H, W, 3) uint8 list."""
    import torch

    from neural_render.generator.data import to_device

    run = runner or Runner(renderer, device, batch=batch)
    idx = list(range(len(ds))) if indices is None else [int(i) for i in indices]
    cfg = renderer.cfg

    def stage(ids, prevs: dict | None) -> dict:
        res = {}
        it = range(0, len(ids), run.batch)
        if progress:
            from tqdm import tqdm

            it = tqdm(it, desc="generate" if prevs is None else "generate (temporal)", unit="batch")
        for s in it:
            chunk = ids[s:s + run.batch]
            b = to_device(ds.batch(chunk), run.device)
            prev = None
            if prevs is not None:
                prev = torch.stack([prevs[ds.prev_index(i)] if ds.prev_index(i) is not None
                                    else torch.zeros_like(next(iter(prevs.values()))) for i in chunk]).to(run.device)
            out = run(b, prev)
            for i, o in zip(chunk, out):
                res[i] = o.cpu()
        return res

    if not cfg.temporal:
        out = stage(idx, None)
    else:
        need = sorted({ds.prev_index(i) for i in idx if ds.prev_index(i) is not None} | ({idx[0]} if idx else set()))
        first = stage(need, None)
        out = stage(idx, first)
    return [to_uint8(out[i][None])[0] for i in idx]


def generate(checkpoint: str, passes_dir: str, out_dir: str, video: str | None = None, device: str = "auto",
             batch: int = 8, compile: bool = False, size: int | None = None, fps: float | None = None,
             progress: bool = True) -> dict:
    """Generate frames for every frame of a passes folder; writes OUT/000001.png ... (+ video)."""
    from neural_render.fileio import write_image
    from neural_render.generator.checkpoint import load_renderer
    from neural_render.generator.data import PairedDataset
    from neural_render.generator.device import resolve_device
    from neural_render.video import write_video

    device = resolve_device(device)
    renderer, meta = load_renderer(checkpoint, device)
    ds = PairedDataset(passes_dir, renderer.cfg.passes, size=size, require_frames=False,
                       crop_fraction=renderer.cfg.crop_fraction)
    mult = 2 ** renderer.cfg.n_down
    if ds.hw[0] % mult or ds.hw[1] % mult:
        raise InputError(f"pass resolution {ds.hw[1]}x{ds.hw[0]} is not a multiple of {mult}", path=passes_dir,
                         fix=f"render passes at e.g. 256 or 512, or pass --size {ds.hw[0] // mult * mult}")
    if video and not str(video).lower().endswith((".mp4", ".mov", ".mkv", ".webm")):
        raise InputError("unsupported video extension", path=str(video), fix="use .mp4")
    t0 = time.time()
    frames = generate_dataset(renderer, ds, device=device, batch=batch, runner=Runner(renderer, device, compile=compile,
                                                                                      batch=batch), progress=progress)
    seconds = time.time() - t0
    out = Path(out_dir)
    for n, f in zip(ds.numbers, frames):
        write_image(out / f"{n:06d}.png", f)
    if video:
        write_video(video, frames, fps or read_fps(passes_dir) or 30.0)
    return {"frames": len(frames), "out": str(out), "video": video, "seconds": round(seconds, 3),
            "ms_per_frame": round(1000 * seconds / max(len(frames), 1), 2), "device": device, "size": list(ds.hw)}


def validate(renderer, ds, device: str, batch: int = 8, indices=None,
             progress: bool = False) -> tuple[dict, list[np.ndarray], float]:
    """Generate frames `indices` (default all) of a paired dataset and compare them with its ground truth.

    Returns (metrics as in `metrics.evaluate_sequence`, the generated (H, W, 3) uint8 frames,
    seconds spent generating). The renderer is put in eval mode for the call and restored after.
    """
    import torch

    from neural_render.generator.metrics import evaluate_sequence

    idx = list(range(len(ds))) if indices is None else [int(i) for i in indices]
    was_training = renderer.training
    renderer.eval()
    t0 = time.time()
    with torch.no_grad():
        frames = generate_dataset(renderer, ds, device=device, batch=batch, indices=idx, progress=progress)
    seconds = time.time() - t0
    renderer.train(was_training)
    gt = [ds.frame_uint8(i) for i in idx]
    masks = [ds.arrays["fg"][i] for i in idx]
    return evaluate_sequence(frames, gt, masks, [ds.face_box(i) for i in idx]), frames, seconds


def evaluate(checkpoint: str, data_dir: str, device: str = "auto", batch: int = 8, size: int | None = None,
             split: str | None = None, save_dir: str | None = None, progress: bool = False) -> dict:
    """Load a checkpoint and `validate` it on every frame of a paired folder (see metrics.py)."""
    from neural_render.fileio import write_image
    from neural_render.generator.checkpoint import load_renderer
    from neural_render.generator.data import open_paired
    from neural_render.generator.device import resolve_device

    device = resolve_device(device)
    renderer, meta = load_renderer(checkpoint, device)
    ds = open_paired(data_dir, renderer.cfg.passes, size=size, split=split, crop_fraction=renderer.cfg.crop_fraction)
    res, frames, gen_s = validate(renderer, ds, device, batch=batch, progress=progress)
    if save_dir:
        for n, f in zip(ds.numbers, frames):
            write_image(Path(save_dir) / f"{n:06d}.png", f)
    res.update({"size": list(ds.hw), "device": device, "generate_ms_per_frame": round(1000 * gen_s / len(ds), 2),
                "checkpoint": str(checkpoint), "data": str(data_dir), "step": int(meta.get("step", 0))})
    return res


def read_fps(passes_dir: str | Path) -> float | None:
    """The sequence frame rate from legend.json (keys 'fps' or 'frame_rate'), if any."""
    p = Path(passes_dir) / "legend.json"
    if not p.is_file():
        return None
    from neural_render.motion.motion import MAX_FPS, MIN_FPS

    try:
        d = json.loads(p.read_text())
    except (ValueError, RecursionError):
        return None
    if not isinstance(d, dict):
        return None
    for k in ("fps", "frame_rate", "framerate"):
        if isinstance(d.get(k), (int, float)) and MIN_FPS <= d[k] <= MAX_FPS:
            return float(d[k])
    seq = d.get("sequence") or d.get("motion") or {}
    if isinstance(seq, dict):
        for k in ("fps", "frame_rate"):
            if isinstance(seq.get(k), (int, float)) and MIN_FPS <= seq[k] <= MAX_FPS:
                return float(seq[k])
    return None
