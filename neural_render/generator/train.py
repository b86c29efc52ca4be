"""Training loop: `neural-render train --data DIR --out RUN [--steps N] [--size S] [--device cuda|cpu]`.

Per step (Everybody-Dance-Now temporal scheme, made batch-friendly):
  1. prev = G(passes_{t-1}, prev = 0), no gradient (zeros at a sequence start, and with
     probability `p_zero_prev` so the first frame of a sequence is also learnt);
  2. fake = G(passes_t, prev) (+ residual refiner on face / hand crops);
  3. generator loss = l1 * L1 + ssim * (1 - MS-SSIM) + crop_l1 * L1(face/hand crops)
     [+ gan * LSGAN + fm * feature matching on the multiscale pair discriminator
      (passes_t, prev frame, frame) + crop_gan * LSGAN of the crop discriminator]
     [+ vgg * VGG-19 perceptual loss, only when local weights exist];
  4. discriminators: real pairs (passes_t, gt_{t-1}, gt_t) vs (passes_t, prev, fake).
Inference does the same two stages batched over all frames (see infer.py), so train and test
inputs match and nothing drifts.

Exactness of resume: every random choice of step s (batch indices, zero-prev coin) comes from a
generator seeded with (seed, rank, s), and model/optimizer/RNG states are restored from the
checkpoint, so a run killed after checkpoint k and resumed ends bit-identical to an uninterrupted
one (on the same device and thread count).

Outputs in RUN/: options.json, checkpoints/latest.safetensors (full state, every `ckpt_every`
steps), generator.safetensors (inference weights, same cadence), best.safetensors (best validation
SSIM when --val is given), log.jsonl (scalars), val.jsonl, curve.png (training curve),
samples/step_NNNNNN.png (target | generated | guidance grids), tensorboard/ (when the tensorboard
package is installed).
"""

from __future__ import annotations

import json
import math
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from neural_render.errors import InputError
from neural_render.fileio import write_image, write_json, write_text
from neural_render.generator.device import resolve_device


@dataclass
class TrainOptions:
    data: str = ""
    out: str = ""
    steps: int = 2000
    size: int = 128
    device: str = "auto"
    batch: int = 4
    seed: int = 0
    lr: float = 1e-3
    texture_lr: float = 2e-3
    plate_lr: float = 0.0
    lr_decay_start: float = 0.6       # fraction of steps after which the lr decays linearly to 10 %
    lr_extend_from: list | None = None  # [step, factor]: a run resumed with other --steps decays from here
    passes: list[str] = field(default_factory=lambda: ["skeleton", "parts", "normal", "uv"])
    ngf: int = 32
    n_down: int = 2
    n_res: int = 4
    texture_channels: int = 8
    texture_size: int = 256
    texture_levels: int = 4
    temporal: bool = True
    refine_crops: bool = True
    background: bool = False
    l1: float = 10.0
    ssim: float = 5.0
    crop_l1: float = 10.0
    gan: float = 0.0                  # 0 disables the pair discriminator (fast CPU default)
    fm: float = 10.0
    crop_gan: float = 0.0
    vgg: float = 10.0                 # used only when NEURAL_RENDER_VGG_WEIGHTS exists
    ndf: int = 32
    num_d: int = 2
    p_zero_prev: float = 0.1
    ckpt_every: int = 200
    log_every: int = 10
    sample_every: int = 500
    val: str | None = None            # a held-out paired folder for validation metrics
    val_every: int = 0
    val_frames: int = 48
    compile: bool = False
    amp: str = "auto"                 # auto = bf16 on CUDA, off on CPU; "bf16" / "off"
    threads: int = 0
    resume: bool = True
    progress: bool = True
    split: str | None = "train"
    init_from_data: bool = True       # texture from back-projected frames, plate from the median backdrop
    residual: bool = True
    crop: int = 0                     # train on random crop x crop windows around the person (0 = full frame)
    snapshot_every: int = 0           # keep RUN/snapshots/step_NNNNNN.safetensors (inference weights)
    val_split: str | None = None      # split.json subset of the --val folder
    stop_at: int = 0                  # stop after this step (as if killed after its checkpoint); 0 = never
    max_seconds: float = 0.0          # end the run (logs, checkpoint) after the step that passes this time; 0 = off
    grad_clip: float = 0.0            # clip the generator's global gradient norm to this; 0 = off
    arch: str = "auto"                # "generator", "animator", or "auto" (the --init checkpoint's; else generator)
    init: str | None = None           # start a new run from this checkpoint's weights (init_from.py)


def _model_config(o: TrainOptions):
    from neural_render.generator.networks import GeneratorConfig

    return GeneratorConfig(passes=list(o.passes), texture_channels=o.texture_channels, texture_size=o.texture_size,
                           texture_levels=o.texture_levels, ngf=o.ngf, n_down=o.n_down, n_res=o.n_res,
                           temporal=o.temporal, background=o.background, refine_crops=o.refine_crops,
                           residual=o.residual and o.texture_channels >= 3, plate_size=o.size,
                           arch="generator" if o.arch == "auto" else o.arch)


class _Ddp:
    """torchrun / DDP context: rank, world size, local device (single process when not launched)."""

    def __init__(self, device: str):
        self.world = int(os.environ.get("WORLD_SIZE", "1"))
        self.rank = int(os.environ.get("RANK", "0"))
        self.local_rank = int(os.environ.get("LOCAL_RANK", "0"))
        self.device = device
        if self.world > 1:
            import torch
            import torch.distributed as dist

            backend = "nccl" if device.startswith("cuda") else "gloo"
            dist.init_process_group(backend)
            if device.startswith("cuda"):
                self.device = f"cuda:{self.local_rank}"
                torch.cuda.set_device(self.local_rank)

    @property
    def main(self) -> bool:
        return self.rank == 0

    def wrap(self, module):
        if self.world <= 1:
            return module
        from torch.nn.parallel import DistributedDataParallel as DDP

        ids = [self.local_rank] if self.device.startswith("cuda") else None
        return DDP(module, device_ids=ids, find_unused_parameters=True)

    def close(self):
        if self.world > 1:
            import torch.distributed as dist

            dist.destroy_process_group()


def _broadcast_flag(flag: bool, ddp: _Ddp) -> bool:
    """Rank 0's `flag` on every rank (each rank's clock differs; all must stop at the same step)."""
    if ddp.world <= 1:
        return flag
    import torch
    import torch.distributed as dist

    t = torch.tensor([float(flag)], device=ddp.device)
    dist.broadcast(t, 0)
    return bool(t.item())


def _lr_factor(step: int, o: TrainOptions) -> float:
    """Learning-rate multiplier at `step`: 1 until `lr_decay_start` of the run, then linear to 0.1.
    A run resumed with a different --steps (extended) goes on from the factor it had reached, down
    to 0.1 at its new end: jumping back to the full rate would throw away the converged weights."""
    if o.lr_extend_from and step > o.lr_extend_from[0]:
        s0, f0 = o.lr_extend_from
        return f0 + (0.1 - f0) * min(1.0, (step - s0) / max(1, o.steps - s0))
    start = int(o.steps * o.lr_decay_start)
    if step <= start or o.steps <= start:
        return 1.0
    return 1.0 - 0.9 * (step - start) / max(1, o.steps - start)


def _saved_options(out: Path) -> dict:
    """RUN/options.json of the run being resumed, checked: it must parse and name only known options."""
    import dataclasses

    from neural_render.fileio import read_json

    fix = "the run folder is damaged: pass --no-resume to start over, or choose another --out"
    path = out / "options.json"
    if not path.is_file():
        raise InputError("a checkpoint without options.json", path=path, fix=fix)
    try:
        saved = read_json(path)
    except InputError as e:
        raise InputError(f"{e} while resuming", fix=fix) from None
    known = {f.name for f in dataclasses.fields(TrainOptions)}
    if not isinstance(saved, dict) or set(saved) - known:
        raise InputError(f"not this version's training options (unknown: {sorted(set(saved) - known)[:5]})"
                         if isinstance(saved, dict) else "not a JSON object", path=path, fix=fix)
    return saved


def train(o: TrainOptions) -> dict:
    """Run (or resume) a training run; returns a summary dict."""
    import torch

    from neural_render.generator import checkpoint as ckpt
    from neural_render.generator.data import open_paired
    from neural_render.generator.networks import NeuralRenderer, crop_side

    _check_options(o)
    if o.threads:
        torch.set_num_threads(o.threads)
    device = resolve_device(o.device)
    ddp = _Ddp(device)
    device = ddp.device
    out = Path(o.out)
    ck_path = out / "checkpoints" / "latest.safetensors"
    resuming = o.resume and ck_path.is_file()
    if resuming:  # the run's own options win (architecture must match the checkpoint)
        saved = _saved_options(out)
        keep = {"steps": o.steps, "progress": o.progress, "device": o.device, "threads": o.threads,
                "stop_at": o.stop_at, "max_seconds": o.max_seconds}
        o = TrainOptions(**{**saved, **keep})
    else:  # settle the architecture (--arch, --init) before anything is written
        from neural_render.generator import init_from

        o = init_from.resolve(o, _model_config)
    cfg = _model_config(o)
    ds = open_paired(o.data, cfg.passes, size=o.size, split=o.split, crop_fraction=cfg.crop_fraction)
    if "uv" not in ds.arrays and cfg.uses_texture:
        raise InputError("the neural texture needs the uv pass", path=str(Path(o.data) / "uv"),
                         fix="render the uv pass or train with --texture-channels 0")
    torch.manual_seed(o.seed)
    np.random.seed(o.seed)
    renderer = NeuralRenderer(cfg)
    if not resuming and o.init_from_data:
        init_from_data(renderer, ds)
    if not resuming:
        init_from.start(renderer, ds, o)   # the animator's confidence channel; --init weights
    renderer = renderer.to(device)
    modules, vgg = _modules(renderer, cfg, o, device)
    optims = _optimizers(modules, o)
    start = 0
    if resuming:
        meta = ckpt.restore(ck_path, modules, optims, device=device)
        start = meta["step"]
        if o.steps != saved["steps"]:  # extended (or shortened): keep the lr continuous
            o.lr_extend_from = [start, _lr_factor(start, TrainOptions(**saved))]
            if ddp.main:
                write_json(out / "options.json", asdict(o))
    elif ddp.main:
        out.mkdir(parents=True, exist_ok=True)
        write_json(out / "options.json", asdict(o))
    runner = ddp.wrap(renderer)
    if o.compile:
        runner = torch.compile(runner)
    amp = (o.amp == "bf16") or (o.amp == "auto" and device.startswith("cuda"))
    dev_type = "cuda" if device.startswith("cuda") else "cpu"
    logger = _Logger(out, start, enabled=ddp.main)
    side = crop_side(cfg, o.size)
    prev_idx = np.array([ds.prev_index(i) if ds.prev_index(i) is not None else -1 for i in range(len(ds))])
    loop = _Loop(o, cfg, ds, modules, optims, device, amp, dev_type, side, prev_idx,
                 np.linspace(0, len(ds) - 1, 4).astype(int), logger, out, ck_path, ddp.rank)
    best = logger.best_val
    t0 = time.time() - logger.elapsed
    pbar = None
    if o.progress and ddp.main:
        from tqdm import tqdm

        pbar = tqdm(total=o.steps, initial=start, desc="train", unit="step")
    step = start
    for step in range(start + 1, o.steps + 1):
        b, bp, hp = _step_batch(loop, step)
        logs = _train_step(o, cfg, modules, optims, runner, vgg, b, bp, hp, side, amp, dev_type)
        if not all(math.isfinite(v) for v in logs.values()):
            raise RuntimeError(f"non-finite loss at step {step}: {logs}")
        if pbar is not None:
            pbar.update(1)
            pbar.set_postfix(l1=f"{logs['l1']:.4f}")
        # a time budget ends the run like its last step (the same on every rank: rank 0 decides)
        final = step == o.steps or bool(o.max_seconds and _broadcast_flag(time.time() - t0 >= o.max_seconds, ddp))
        if not ddp.main:
            if final:
                break
            continue
        best = _record_step(loop, step, logs, final, t0, best)
        if (o.stop_at and step >= o.stop_at) or final:
            break
    if pbar is not None:
        pbar.close()
    ddp.close()
    summary = {"steps": step, "seconds": round(time.time() - t0, 1), "frames": len(ds), "size": o.size,
               "checkpoint": str(out / "generator.safetensors"), "last": logger.last}
    if ddp.main:
        write_json(out / "summary.json", summary)
    return summary


@dataclass
class _Loop:
    """What every step of a run uses, fixed once the run is set up: the options, model config,
    paired data, trained modules and their optimizers, device and mixed precision, the crop side,
    each frame's previous frame (-1: none), the frames shown in samples, the logger, the run
    folder, its checkpoint path and this process's rank."""

    o: TrainOptions
    cfg: object
    ds: object
    modules: dict
    optims: dict
    device: str
    amp: bool
    dev_type: str
    side: int
    prev_idx: np.ndarray
    sample_ids: np.ndarray
    logger: "_Logger"
    out: Path
    ck_path: Path
    rank: int


def _step_batch(loop: _Loop, step: int):
    """Step `step`'s learning rate and batch: (b, bp, hp) = the frames, their previous frames and
    which have one (B, 1, 1, 1), cropped when --crop. Every random choice comes from a generator
    seeded with (seed, rank, step), so a resumed run draws the same batches."""
    import torch

    from neural_render.generator.data import to_device

    o, ds, device = loop.o, loop.ds, loop.device
    g = torch.Generator().manual_seed(o.seed * 1_000_003 + loop.rank * 7919 + step)
    idx = torch.randint(len(ds), (o.batch,), generator=g).numpy()
    zero = (torch.rand(o.batch, generator=g) < o.p_zero_prev).numpy()
    pidx = loop.prev_idx[idx]
    has_prev = (pidx >= 0) & ~zero
    f = _lr_factor(step, o)
    for opt in loop.optims.values():
        for grp in opt.param_groups:
            grp["lr"] = grp["base_lr"] * f
    b = to_device(ds.batch(idx), device)
    bp = to_device(ds.batch(np.where(pidx >= 0, pidx, idx)), device)
    hp = torch.from_numpy(has_prev.astype(np.float32)).to(device).view(-1, 1, 1, 1)
    if o.crop and o.crop < o.size:
        offs = crop_offsets(ds, idx, o.crop, g)
        b, bp = crop_batch(b, offs, o.crop, loop.side), crop_batch(bp, offs, o.crop, loop.side)
    return b, bp, hp


def _record_step(loop: _Loop, step: int, logs: dict, final: bool, t0: float, best: float | None) -> float | None:
    """The main process's bookkeeping after a step, each at its cadence (and at the final step):
    scalars, sample grids + curve, validation (best.safetensors on a better SSIM), the resumable
    checkpoint + inference weights, snapshots. Returns the best validation SSIM so far."""
    from neural_render.generator import checkpoint as ckpt

    o, logger, cfg, out = loop.o, loop.logger, loop.cfg, loop.out
    renderer = loop.modules["renderer"]
    if step % o.log_every == 0 or final:
        logger.scalars(step, logs, time.time() - t0)
    if o.sample_every and (step % o.sample_every == 0 or final):
        logger.samples(step, renderer, loop.ds, loop.sample_ids, loop.device, loop.amp, loop.dev_type)
        logger.curve()
    if o.val and o.val_every and (step % o.val_every == 0 or final):
        m = validate(renderer, o.val, o.size, o.val_frames, loop.device, o.val_split)
        m["step"], m["train_seconds"] = step, round(time.time() - t0, 1)
        logger.val(m)
        if best is None or m["ssim"] > best:
            best = m["ssim"]
            ckpt.save(out / "best.safetensors", {"renderer": renderer}, cfg, step, train_options=asdict(o),
                      metrics=m, with_rng=False)
    if step % o.ckpt_every == 0 or final:
        logger.elapsed = time.time() - t0
        ckpt.save(loop.ck_path, loop.modules, cfg, step, loop.optims, train_options=asdict(o))
        ckpt.export_inference(loop.ck_path, out / "generator.safetensors")
        logger.state(step)
    if o.snapshot_every and step % o.snapshot_every == 0:
        ckpt.save(out / "snapshots" / f"step_{step:06d}.safetensors", {"renderer": renderer}, cfg, step,
                  train_options={**asdict(o), "train_seconds": round(time.time() - t0, 1)}, with_rng=False)
    return best


def _check_options(o: TrainOptions) -> None:
    if o.steps < 1:
        raise InputError("--steps must be >= 1", where="--steps", fix="e.g. --steps 2000")
    if o.crop and (o.crop % 8 or o.crop < 32):
        raise InputError(f"--crop {o.crop} must be a multiple of 8 and >= 32", where="--crop", fix="e.g. --crop 128")
    if o.size % 8 or o.size < 32:
        raise InputError(f"--size {o.size} must be a multiple of 8 and >= 32", where="--size", fix="e.g. --size 128")


def _modules(renderer, cfg, o: TrainOptions, device: str) -> tuple[dict, object]:
    """The trained modules ("renderer", and "disc" / "crop_disc" when their GAN weights are on)
    and the VGG loss (None without local weights), on `device`."""
    import torch

    from neural_render.generator import losses as L
    from neural_render.generator.discriminators import CropDiscriminator, MultiscaleDiscriminator
    from neural_render.generator.networks import PASS_CHANNELS

    use_gan, use_crop_gan = o.gan > 0, o.crop_gan > 0 and cfg.refine_crops
    modules = {"renderer": renderer}
    cond_ch = sum(PASS_CHANNELS[p] for p in cfg.passes)
    if use_gan:
        modules["disc"] = MultiscaleDiscriminator(cond_ch + 6, o.ndf, 3, o.num_d).to(device)
    if use_crop_gan:
        modules["crop_disc"] = CropDiscriminator(cond_ch, o.ndf).to(device)
    vgg = L.vgg_loss_from_env() if o.vgg > 0 else None
    if vgg is not None:
        vgg = vgg.to(device)
    if device.startswith("cuda"):
        for m in modules.values():
            m.to(memory_format=torch.channels_last)
    return modules, vgg


def _optimizers(modules: dict, o: TrainOptions) -> dict:
    """Adam for the generator (network, neural texture and, with plate_lr, the background plate, each
    with its own base lr) and for the discriminators when there are any."""
    import torch

    renderer = modules["renderer"]
    tex_params = [p for n, p in renderer.named_parameters() if n.startswith("texture.")]
    net_params = [p for n, p in renderer.named_parameters() if not n.startswith(("texture.", "plate"))]
    groups = [{"params": net_params, "lr": o.lr, "base_lr": o.lr}]
    if tex_params:
        groups.append({"params": tex_params, "lr": o.texture_lr, "base_lr": o.texture_lr})
    if renderer.plate is not None:
        # Adam moves every parameter by ~lr per step whatever its gradient, so a plate pixel that
        # crops rarely cover would drift into visible noise: by default the plate stays at its
        # data-driven initial value (plate_lr 0) and the residual CNN models shadows on it.
        renderer.plate.requires_grad_(o.plate_lr > 0)
        if o.plate_lr > 0:
            groups.append({"params": [renderer.plate], "lr": o.plate_lr, "base_lr": o.plate_lr})
    optims = {"g": torch.optim.Adam(groups, betas=(0.5, 0.999))}
    d_params = [p for k in ("disc", "crop_disc") if k in modules for p in modules[k].parameters()]
    if d_params:
        optims["d"] = torch.optim.Adam([{"params": d_params, "lr": o.lr, "base_lr": o.lr}], betas=(0.5, 0.999))
    return optims


def _train_step(o: TrainOptions, cfg, modules: dict, optims: dict, runner, vgg, b: dict, bp: dict, hp, side: int,
                amp: bool, dev_type: str) -> dict:
    """One optimisation step on batch b (bp: the previous frames, hp: which have one): the generator
    (L1, MS-SSIM, crop L1, VGG, pair and crop GAN + feature matching), then the discriminators.
    Returns the logged loss values."""
    import torch

    from neural_render.generator import losses as L
    from neural_render.generator.discriminators import pair_input
    from neural_render.generator.networks import extract_crops

    renderer = modules["renderer"]
    use_gan, use_crop_gan = "disc" in modules, "crop_disc" in modules
    with torch.autocast(dev_type, dtype=torch.bfloat16, enabled=amp):
        prev = None
        if cfg.temporal:
            with torch.no_grad():
                prev = runner(bp).float() * hp
        fake = runner(b, prev=prev)
    fake = fake.float()
    target = b["target"]
    logs = {}
    loss = o.l1 * (fake - target).abs().mean()
    logs["l1"] = (fake - target).abs().mean().item()
    if o.ssim > 0:
        ms = L.ms_ssim(fake, target)
        loss = loss + o.ssim * (1 - ms)
        logs["ms_ssim"] = ms.item()
    valid = b["box_valid"].float()
    if o.crop_l1 > 0 and valid.any():
        fc = extract_crops(fake, b["boxes"], side)
        rc = extract_crops(target, b["boxes"], side)
        cl = ((fc - rc).abs().mean((2, 3, 4)) * valid).sum() / valid.sum().clamp_min(1)
        loss = loss + o.crop_l1 * cl
        logs["crop_l1"] = cl.item()
    if vgg is not None:
        loss = loss + o.vgg * vgg(fake, target)
    if use_gan or use_crop_gan:
        cond = renderer.guidance(b, texture=False).float()
        prev_real = bp["target"] * hp
        prev_fake = prev if prev is not None else torch.zeros_like(fake)
    if use_gan:
        d = modules["disc"]
        d_fake = d(pair_input(cond, prev_fake, fake))
        with torch.no_grad():
            d_real = d(pair_input(cond, prev_real, target))
        g_gan = L.lsgan_loss(d_fake, True)
        g_fm = L.feature_matching_loss(d_fake, d_real)
        loss = loss + o.gan * g_gan + o.fm * g_fm
        logs["g_gan"], logs["g_fm"] = g_gan.item(), g_fm.item()
    if use_crop_gan and valid.any():
        cd = modules["crop_disc"]
        sel = valid.flatten() > 0
        gcrop = extract_crops(cond, b["boxes"], side).flatten(0, 1)[sel]
        fcrop = extract_crops(fake, b["boxes"], side).flatten(0, 1)[sel]
        g_crop = L.lsgan_loss(cd(gcrop, fcrop), True)
        loss = loss + o.crop_gan * g_crop
        logs["g_crop_gan"] = g_crop.item()
    optims["g"].zero_grad(set_to_none=True)
    loss.backward()
    if o.grad_clip > 0:
        # Adam with beta1 0.5 can take a jolt from one bad batch that the unbounded residual output
        # turns into a runaway loss (from a zero texture: L1 0.4 -> 1e5 within 50 steps).
        torch.nn.utils.clip_grad_norm_([q for grp in optims["g"].param_groups for q in grp["params"]], o.grad_clip)
    optims["g"].step()
    logs["g_total"] = loss.item()
    if "d" in optims:
        d_loss = 0.0
        if use_gan:
            d = modules["disc"]
            d_loss = d_loss + 0.5 * (L.lsgan_loss(d(pair_input(cond, prev_real, target)), True)
                                     + L.lsgan_loss(d(pair_input(cond, prev_fake, fake.detach())), False))
        if use_crop_gan and valid.any():
            cd = modules["crop_disc"]
            rcrop = extract_crops(target, b["boxes"], side).flatten(0, 1)[sel]
            d_loss = d_loss + 0.5 * (L.lsgan_loss(cd(gcrop, rcrop), True)
                                     + L.lsgan_loss(cd(gcrop, fcrop.detach()), False))
        if torch.is_tensor(d_loss):
            optims["d"].zero_grad(set_to_none=True)
            d_loss.backward()
            optims["d"].step()
            logs["d_total"] = d_loss.item()
    return logs


def validate(renderer, data_dir: str, size: int, max_frames: int, device: str, split: str | None = None) -> dict:
    """Metrics of the renderer on the first `max_frames` contiguous frames of a paired folder (split)."""
    from neural_render.generator.data import open_paired
    from neural_render.generator.infer import validate as validate_frames

    ds = open_paired(data_dir, renderer.cfg.passes, size=size, crop_fraction=renderer.cfg.crop_fraction,
                     split=split)
    n = min(len(ds), max_frames) if max_frames else len(ds)
    return validate_frames(renderer, ds, device, batch=8, indices=range(n))[0]


def crop_offsets(ds, idx, crop: int, g) -> np.ndarray:
    """(B, 2) top-left (x0, y0) of a crop x crop window per sample: centred on the person's foreground
    bounding box with a random jitter (per-step generator `g`, so resume stays exact)."""
    import torch

    h, w = ds.hw
    offs = []
    jit = torch.rand(len(idx), 2, generator=g).numpy()
    for k, i in enumerate(idx):
        ys, xs = np.nonzero(ds.arrays["fg"][i])
        if len(xs):
            lo, hi = np.array([xs.min(), ys.min()]), np.array([xs.max(), ys.max()])
            # windows containing the whole box start in [hi - crop + 1, lo]; when the box is larger
            # than the window that interval is reversed and any window inside the box is taken
            a, bb = hi - crop + 1, lo
            lim = np.array([w - crop, h - crop])
            o_lo = np.clip(np.minimum(a, bb), 0, lim)
            o_hi = np.clip(np.maximum(a, bb), 0, lim)
            o = np.round(o_lo + jit[k] * (o_hi - o_lo)).astype(int)
        else:
            o = np.round(jit[k] * [w - crop, h - crop]).astype(int)
        offs.append(o)
    return np.asarray(offs)


def crop_batch(b: dict, offs: np.ndarray, crop: int, side: int) -> dict:
    """Crop every spatial tensor of a batch; shift crop boxes and drop those that leave the window."""
    import torch

    out = {}
    for k, v in b.items():
        if k in ("boxes", "box_valid"):
            continue
        if v.dim() >= 3 and v.shape[-1] >= crop and v.shape[-2] >= crop:
            out[k] = torch.stack([v[n, ..., y:y + crop, x:x + crop] for n, (x, y) in enumerate(offs)])
        else:
            out[k] = v
    out["offsets"] = torch.as_tensor(np.asarray(offs), dtype=torch.int64)
    full = next(v for v in b.values() if v.dim() == 4).shape[-2:]
    out["full_hw"] = torch.tensor([list(full)] * len(offs), dtype=torch.int64)
    if "boxes" in b:
        o = torch.as_tensor(offs, dtype=b["boxes"].dtype, device=b["boxes"].device)[:, None, :]
        boxes = b["boxes"] - o
        inside = (boxes >= 0).all(-1) & (boxes <= crop - side).all(-1)
        out["boxes"] = boxes.clamp(0, crop - side)
        out["box_valid"] = b["box_valid"] & inside
    return out


def _fill_holes(img: np.ndarray, known: np.ndarray, iterations: int = 64) -> np.ndarray:
    """Grow known values into unknown pixels (mean of known 3x3 neighbours), then the global mean."""
    import cv2

    img = img.astype(np.float64).copy()
    known = known.copy()
    k = np.ones((3, 3))
    for _ in range(iterations):
        if known.all():
            break
        s = cv2.filter2D(img * known[..., None], -1, k, borderType=cv2.BORDER_REPLICATE)
        n = cv2.filter2D(known.astype(np.float64), -1, k, borderType=cv2.BORDER_REPLICATE)
        grow = (n > 0) & ~known
        img[grow] = s[grow] / n[grow, None]
        known = known | grow
    if not known.all():
        img[~known] = img[known].mean(0) if known.any() else 0
    return img


def back_projected_texture(ds, size: int) -> np.ndarray:
    """(size, size, 3) mean ground-truth colour (0..255) of every texel seen through the UV pass
    (row 0 = v 1); texels never seen are filled from their neighbours."""
    acc = np.zeros((size * size, 3))
    cnt = np.zeros(size * size)
    uv = ds.arrays["uv"]
    for i in range(len(ds)):
        m = ds.arrays["fg"][i] > 0
        if "uv" in ds.arrays:
            m &= uv[i][..., 0] > 0
        u = uv[i][..., 1][m].astype(np.float64) / 255
        v = uv[i][..., 2][m].astype(np.float64) / 255
        tx = np.clip((u * size).astype(int), 0, size - 1)
        ty = np.clip(((1 - v) * size).astype(int), 0, size - 1)
        flat = ty * size + tx
        np.add.at(cnt, flat, 1)
        for c in range(3):
            acc[:, c] += np.bincount(flat, ds.frame_uint8(i)[m][:, c].astype(np.float64), size * size)
    known = cnt > 0
    tex = np.where(known[:, None], acc / np.maximum(cnt, 1)[:, None], 0).reshape(size, size, 3)
    return _fill_holes(tex, known.reshape(size, size))


def background_plate(ds) -> np.ndarray:
    """(H, W, 3) per-pixel median (0..255) of the ground truth where no person covers the pixel."""
    import cv2

    h, w = ds.hw
    frames = ds.arrays["frames"].astype(np.float32)
    fg = np.stack([cv2.dilate(m, np.ones((7, 7), np.uint8)) for m in ds.arrays["fg"]]) > 0
    masked = np.where(fg[..., None], np.nan, frames)
    with np.errstate(all="ignore"):
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            plate = np.nanmedian(masked, axis=0)
    known = np.isfinite(plate).all(-1)
    return _fill_holes(np.nan_to_num(plate), known)


def init_from_data(renderer, ds) -> None:
    """Data-driven initialisation (no pretrained weights): texture RGB channels = the training frames
    back-projected through the UV pass; background plate = the median backdrop."""
    import torch
    import torch.nn.functional as F

    with torch.no_grad():
        if renderer.texture is not None and "uv" in ds.arrays:
            s = renderer.cfg.texture_size
            tex = torch.from_numpy(back_projected_texture(ds, s) / 127.5 - 1).float().permute(2, 0, 1)
            renderer.texture.pyramid[0][0, :3] = tex
        if renderer.plate is not None and "frames" in ds.arrays:
            plate = torch.from_numpy(background_plate(ds) / 127.5 - 1).float().permute(2, 0, 1)[None]
            renderer.plate.copy_(F.interpolate(plate, size=renderer.plate.shape[-2:], mode="bilinear",
                                               align_corners=False))


class _Logger:
    """Scalars to log.jsonl (+ TensorBoard when installed), samples and a PNG training curve."""

    def __init__(self, out: Path, start: int, enabled: bool):
        self.out, self.enabled = out, enabled
        self.log_path, self.val_path = out / "log.jsonl", out / "val.jsonl"
        self.rows = self._read(self.log_path, start)
        self.vals = self._read(self.val_path, start)
        self.elapsed = self.rows[-1]["seconds"] if self.rows else 0.0
        self.best_val = max((v["ssim"] for v in self.vals), default=None)
        self.last: dict = self.rows[-1] if self.rows else {}
        self.tb = None
        if enabled:
            out.mkdir(parents=True, exist_ok=True)
            # Rewrite the logs without rows past the resumed step (a killed run may have logged more).
            write_text(self.log_path, "".join(json.dumps(r) + "\n" for r in self.rows))
            write_text(self.val_path, "".join(json.dumps(r) + "\n" for r in self.vals))
            try:
                from torch.utils.tensorboard import SummaryWriter

                self.tb = SummaryWriter(str(out / "tensorboard"), purge_step=start + 1)
            except Exception:  # tensorboard not installed: PNG curve + samples only
                self.tb = None

    @staticmethod
    def _read(path: Path, start: int) -> list[dict]:
        if not path.is_file():
            return []
        rows = []
        for n, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except ValueError:
                row = None
            if not isinstance(row, dict) or not isinstance(row.get("step"), int):
                raise InputError("damaged log line", path=path, where=f"line {n}",
                                 fix="delete the line (the log is rewritten from the checkpoint's step), "
                                     "or pass --no-resume")
            rows.append(row)
        return [r for r in rows if r["step"] <= start]

    def scalars(self, step: int, logs: dict, seconds: float) -> None:
        row = {"step": step, "seconds": round(seconds, 2), **{k: round(v, 6) for k, v in logs.items()}}
        self.rows.append(row)
        self.last = row
        with open(self.log_path, "a") as f:
            f.write(json.dumps(row) + "\n")
        if self.tb is not None:
            for k, v in logs.items():
                self.tb.add_scalar(f"train/{k}", v, step)

    def val(self, m: dict) -> None:
        self.vals.append(m)
        with open(self.val_path, "a") as f:
            f.write(json.dumps(m) + "\n")
        if self.tb is not None:
            for k, v in m.items():
                if isinstance(v, float):
                    self.tb.add_scalar(f"val/{k}", v, m["step"])

    def state(self, step: int) -> None:
        if self.tb is not None:
            self.tb.flush()

    def samples(self, step, renderer, ds, ids, device, amp, dev_type) -> None:
        import torch

        from neural_render.generator.infer import generate_dataset

        was = renderer.training
        renderer.eval()
        with torch.no_grad():
            gen = generate_dataset(renderer, ds, device=device, batch=len(ids), indices=ids)
        renderer.train(was)
        rows = []
        for i, g in zip(ids, gen):
            guide = ds.arrays["skeleton"][i] if "skeleton" in ds.arrays else np.zeros_like(g)
            if "normal" in ds.arrays and ds.arrays["normal"][i].dtype == np.uint8:
                guide = np.maximum(guide, ds.arrays["normal"][i])
            rows.append(np.concatenate([ds.frame_uint8(i), g, guide], 1))
        grid = np.concatenate(rows, 0)
        write_image(self.out / "samples" / f"step_{step:06d}.png", grid)
        if self.tb is not None:
            self.tb.add_image("samples", grid, step, dataformats="HWC")

    def curve(self, width: int = 640, height: int = 320) -> None:
        """Plot log10 of the L1 loss (and validation SSIM when present) against step into curve.png."""
        import cv2

        if len(self.rows) < 2:
            return
        img = np.full((height, width, 3), 255, np.uint8)
        steps = np.array([r["step"] for r in self.rows], float)
        pad = 40

        def poly(xs, ys, lo, hi, color):
            x = pad + (xs - steps.min()) / max(steps.max() - steps.min(), 1) * (width - 2 * pad)
            y = height - pad - (ys - lo) / max(hi - lo, 1e-9) * (height - 2 * pad)
            pts = np.stack([x, y], 1).astype(np.int32)
            cv2.polylines(img, [pts], False, color, 1, cv2.LINE_AA)

        l1 = np.log10(np.maximum([r["l1"] for r in self.rows], 1e-6))
        poly(steps, l1, l1.min(), l1.max(), (200, 30, 30))
        cv2.putText(img, f"log10 L1 [{l1.min():.2f}, {l1.max():.2f}]", (pad, 20), cv2.FONT_HERSHEY_SIMPLEX, 0.45,
                    (200, 30, 30), 1, cv2.LINE_AA)
        if len(self.vals) >= 2:
            vs = np.array([v["step"] for v in self.vals], float)
            ss = np.array([v["ssim"] for v in self.vals])
            poly(vs, ss, ss.min(), ss.max(), (30, 120, 30))
            cv2.putText(img, f"val SSIM [{ss.min():.3f}, {ss.max():.3f}]", (pad + 260, 20),
                        cv2.FONT_HERSHEY_SIMPLEX, 0.45, (30, 120, 30), 1, cv2.LINE_AA)
        cv2.rectangle(img, (pad, pad), (width - pad, height - pad), (0, 0, 0), 1)
        cv2.putText(img, f"step {int(steps.min())} .. {int(steps.max())}", (pad, height - 12),
                    cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 0), 1, cv2.LINE_AA)
        write_image(self.out / "curve.png", img)
