"""Sub-commands `train`, `generate`, `eval` and `actor render`."""

from __future__ import annotations

import json
import math

from neural_render.cli_args import print_result
from neural_render.errors import InputError, check_range

# Command-line bounds, checked before anything is allocated (SECURITY.md).
MAX_TRAIN_SIZE = 4096    # pixels, square
MAX_IMAGE_SIZE = 8192    # pixels, as passes' --size
MAX_BATCH = 4096


def _passes(text: str) -> list[str]:
    from neural_render.generator.networks import PASS_CHANNELS

    names = [p.strip() for p in text.split(",") if p.strip()]
    bad = [p for p in names if p not in PASS_CHANNELS]
    if bad or not names:
        raise InputError(f"unknown pass(es) {bad or text!r}", where="--passes",
                         fix=f"comma-separated names from {list(PASS_CHANNELS)}")
    return names


def register(sub) -> None:
    _register_train(sub)
    _register_generate(sub)
    _register_eval(sub)
    _register_actor(sub)


def _register_train(sub) -> None:
    from neural_render.generator.train import TrainOptions

    d = TrainOptions()
    p = sub.add_parser("train", help="train the pose-conditioned generator on a paired folder")
    p.add_argument("--data", required=True, help="paired folder (frames/ + passes), e.g. from `actor render`")
    p.add_argument("--out", required=True, help="run folder (checkpoints, logs, samples); resumed if it exists")
    p.add_argument("--steps", type=int, default=d.steps)
    p.add_argument("--size", type=int, default=d.size, help="training resolution (square), pixels")
    p.add_argument("--device", default="auto", help="cuda, cpu or auto")
    p.add_argument("--batch", type=int, default=d.batch)
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--lr", type=float, default=d.lr)
    p.add_argument("--texture-lr", type=float, default=d.texture_lr)
    p.add_argument("--plate-lr", type=float, default=d.plate_lr, help="background plate learning rate (0 = fixed)")
    p.add_argument("--passes", default=",".join(d.passes), help="generator inputs, comma-separated")
    p.add_argument("--ngf", type=int, default=d.ngf)
    p.add_argument("--n-res", type=int, default=d.n_res)
    p.add_argument("--n-down", type=int, default=d.n_down)
    p.add_argument("--texture-channels", type=int, default=d.texture_channels, help="0 disables the neural texture")
    p.add_argument("--texture-size", type=int, default=d.texture_size)
    p.add_argument("--no-temporal", action="store_true", help="do not feed the previous frame")
    p.add_argument("--no-refine", action="store_true", help="no face/hand crop refiner")
    p.add_argument("--background", action="store_true", help="input DIR/background.png")
    p.add_argument("--l1", type=float, default=d.l1)
    p.add_argument("--ssim", type=float, default=d.ssim, help="weight of 1 - MS-SSIM")
    p.add_argument("--crop-l1", type=float, default=d.crop_l1)
    p.add_argument("--gan", type=float, default=d.gan, help="pair-discriminator weight (0 = off)")
    p.add_argument("--fm", type=float, default=d.fm, help="feature-matching weight")
    p.add_argument("--crop-gan", type=float, default=d.crop_gan, help="crop-discriminator weight (0 = off)")
    p.add_argument("--ckpt-every", type=int, default=d.ckpt_every)
    p.add_argument("--log-every", type=int, default=d.log_every)
    p.add_argument("--sample-every", type=int, default=d.sample_every)
    p.add_argument("--val", default=None, help="held-out paired folder: metrics + best.safetensors")
    p.add_argument("--val-every", type=int, default=0)
    p.add_argument("--val-frames", type=int, default=d.val_frames)
    p.add_argument("--split", default="train", help="split.json subset to train on ('all' = every frame)")
    p.add_argument("--no-init-from-data", action="store_true",
                   help="start the texture and background plate at zero (default: from the training frames)")
    p.add_argument("--no-residual", action="store_true", help="plain tanh output instead of base + residual")
    p.add_argument("--crop", type=int, default=0, help="train on random CROPxCROP windows around the person")
    p.add_argument("--snapshot-every", type=int, default=0, help="keep inference snapshots every N steps")
    p.add_argument("--val-split", default=None, help="split.json subset of the --val folder")
    p.add_argument("--compile", action="store_true", help="torch.compile the model")
    p.add_argument("--amp", default="auto", choices=["auto", "bf16", "off"])
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0 = default)")
    p.add_argument("--no-resume", action="store_true", help="start over even if RUN has a checkpoint")
    p.add_argument("--no-progress", action="store_true")
    p.add_argument("--max-seconds", type=float, default=0.0,
                   help="end the run after the step that passes this many seconds (checkpoint + logs); 0 = off")
    p.add_argument("--grad-clip", type=float, default=0.0,
                   help="clip the generator's global gradient norm to this (e.g. 1; steadies runs from a zero texture); 0 = off")
    p.add_argument("--init", default=None, metavar="CKPT",
                   help="fine-tune from this checkpoint: the multi-identity animator "
                        "(smpl_assets/animator/animator.safetensors: the run takes its architecture) or a "
                        "generator checkpoint with this run's architecture (anything else exits 2)")
    p.add_argument("--arch", default="auto", choices=["auto", "generator", "animator"],
                   help="network: the per-person generator, or the animator's U-Net on a per-person "
                        "texture (--ngf, --n-down levels); auto = the --init checkpoint's, else generator")
    p.add_argument("--stop-at", type=int, default=0, help=argparse_suppress())
    p.set_defaults(func=_train)


def _register_generate(sub) -> None:
    p = sub.add_parser("generate", help="turn a passes folder into frames of the trained person")
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--passes", required=True, help="folder with the pass sub-folders (+ legend.json)")
    p.add_argument("--out", required=True)
    p.add_argument("--video", default=None, help="also write an .mp4")
    p.add_argument("--fps", type=float, default=None, help="video frame rate (default legend.json or 30)")
    p.add_argument("--device", default="auto")
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--size", type=int, default=None, help="resize passes to this height first")
    p.add_argument("--compile", action="store_true", help="torch.compile (CUDA graphs on CUDA)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_generate)


def _register_eval(sub) -> None:
    p = sub.add_parser("eval", help="metrics of a checkpoint on a paired folder")
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--data", required=True)
    p.add_argument("--json", action="store_true")
    p.add_argument("--device", default="auto")
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--size", type=int, default=None)
    p.add_argument("--split", default=None, help="evaluate only this split.json subset")
    p.add_argument("--save", default=None, help="also write the generated frames here")
    p.set_defaults(func=_eval)


def _register_actor(sub) -> None:
    p = sub.add_parser("actor", help="the reference actor (a textured default body rendered by Cycles)")
    asub = p.add_subparsers(dest="actor_command", metavar="ACTION")
    r = asub.add_parser("render", help="ground-truth frames + all passes for a motion: a paired dataset")
    r.add_argument("--motion", required=True, help="canonical motion .npz")
    r.add_argument("--out", required=True)
    r.add_argument("--size", type=int, default=256)
    r.add_argument("--frames", default=None, help="A:B frame range (motion frame indices, B exclusive)")
    r.add_argument("--samples", type=int, default=None, help="Cycles samples per pixel (default: actor.json, 8 + denoiser)")
    r.add_argument("--renderer", default="blender", choices=["blender", "raster"], help="renderer of the passes")
    r.add_argument("--split", type=float, default=0.0,
                   help="write split.json with this time-contiguous test fraction at the end (0 = none)")
    r.add_argument("--cycles-device", default=None, choices=["cpu", "cuda", "optix", "auto"],
                   help="Cycles on the CPU (default) or the GPU (same as $NEURAL_RENDER_CYCLES_DEVICE)")
    r.add_argument("--actor-version", type=int, default=2, choices=[1, 2],
                   help="2 (default): the actor wears its garments and long hair (actor.json outfit); "
                        "1: the textured body alone (the actor before garments)")
    r.add_argument("--cloth", action="store_true",
                   help="simulate the skirt with Blender's cloth (the body as collider, pinned at the waist) "
                        "instead of skinning it to the body (v2 only; slower)")
    r.add_argument("--json", action="store_true")
    r.set_defaults(func=_actor_render)
    p.set_defaults(func=lambda a: (p.print_help(), 2)[1])


def argparse_suppress():
    import argparse

    return argparse.SUPPRESS


def _clean(o):
    if isinstance(o, float) and not math.isfinite(o):
        return None
    if isinstance(o, dict):
        return {k: _clean(v) for k, v in o.items()}
    if isinstance(o, list):
        return [_clean(v) for v in o]
    return o


def _train(args) -> int:
    from neural_render.generator.train import TrainOptions, train

    check_range(args.size, 16, MAX_TRAIN_SIZE, "--size", "pixels")
    check_range(args.batch, 1, MAX_BATCH, "--batch")
    check_range(args.grad_clip, 0.0, 1e6, "--grad-clip")
    check_range(args.texture_size, 1, MAX_TRAIN_SIZE, "--texture-size", "pixels")
    check_range(args.crop, 0, MAX_TRAIN_SIZE, "--crop", "pixels")
    check_range(args.ngf, 1, 1024, "--ngf")
    check_range(args.steps, 0, 10**9, "--steps")
    o = TrainOptions(
        data=args.data, out=args.out, steps=args.steps, size=args.size, device=args.device, batch=args.batch,
        seed=args.seed, lr=args.lr, texture_lr=args.texture_lr, plate_lr=args.plate_lr, passes=_passes(args.passes), ngf=args.ngf,
        n_res=args.n_res, n_down=args.n_down, texture_channels=args.texture_channels,
        texture_size=args.texture_size, temporal=not args.no_temporal, refine_crops=not args.no_refine,
        background=args.background, l1=args.l1, ssim=args.ssim, crop_l1=args.crop_l1, gan=args.gan, fm=args.fm,
        crop_gan=args.crop_gan, ckpt_every=args.ckpt_every, log_every=args.log_every,
        sample_every=args.sample_every, val=args.val, val_every=args.val_every, val_frames=args.val_frames,
        compile=args.compile, amp=args.amp, threads=args.threads, resume=not args.no_resume,
        progress=not args.no_progress, split=None if args.split == "all" else args.split, stop_at=args.stop_at, max_seconds=args.max_seconds,
        crop=args.crop, init_from_data=not args.no_init_from_data, residual=not args.no_residual,
        snapshot_every=args.snapshot_every, val_split=args.val_split, grad_clip=args.grad_clip,
        arch=args.arch, init=args.init)
    from neural_render.fileio import exclusive_folder

    with exclusive_folder(args.out, "train run"):
        res = train(o)
    print(json.dumps(_clean(res)))
    return 0


def _generate(args) -> int:
    from neural_render.generator.infer import generate

    from neural_render.motion.motion import MAX_FPS, MIN_FPS

    check_range(args.size, 8, MAX_IMAGE_SIZE, "--size", "pixels")
    check_range(args.batch, 1, MAX_BATCH, "--batch")
    check_range(args.fps, MIN_FPS, MAX_FPS, "--fps", "frames per second")
    from neural_render.fileio import exclusive_folder

    with exclusive_folder(args.out, "generate run"):
        res = generate(args.checkpoint, args.passes, args.out, video=args.video, device=args.device,
                       batch=args.batch, compile=args.compile, size=args.size, fps=args.fps, progress=not args.json)
    print(json.dumps(res) if args.json else f"wrote {res['frames']} frames to {res['out']}"
          + (f" and {res['video']}" if res["video"] else "") + f" ({res['ms_per_frame']} ms/frame)")
    return 0


def _eval(args) -> int:
    from neural_render.generator.infer import evaluate

    check_range(args.size, 8, MAX_IMAGE_SIZE, "--size", "pixels")
    check_range(args.batch, 1, MAX_BATCH, "--batch")
    import contextlib

    from neural_render.fileio import exclusive_folder

    with exclusive_folder(args.save, "eval --save run") if args.save else contextlib.nullcontext():
        res = _clean(evaluate(args.checkpoint, args.data, device=args.device, batch=args.batch, size=args.size,
                              split=args.split, save_dir=args.save))
    print_result(res, args.json)
    return 0


def _actor_render(args) -> int:
    from neural_render.blender.actor import render_actor

    if args.cycles_device:
        import os

        from neural_render.blender.cycles_device import ENV

        os.environ[ENV] = args.cycles_device
    from neural_render.fileio import exclusive_folder

    from neural_render.blender.bpy_util import quiet_stdout

    # Blender's C code logs every saved frame to stdout: keep it off so `--json` prints JSON alone.
    with exclusive_folder(args.out, "actor render"), quiet_stdout():
        res = render_actor(args.motion, args.out, size=args.size, frames=args.frames, samples=args.samples,
                           test_fraction=args.split, renderer=args.renderer, progress=not args.json,
                           actor_version=args.actor_version, cloth=args.cloth)
    print(json.dumps(_clean(res)) if args.json else f"wrote {res['frames']} frames + passes to {args.out}")
    return 0
