"""Train the multi-identity generator (multi_identity.py) from scratch on synthetic identity pairs.

    python -m neural_render.generator.train_animator pairs --out PAIRS --count 1600 --size 128 --seed 0
    python -m neural_render.generator.train_animator train --pairs PAIRS --out animator.safetensors \
        --steps 3000 --batch 8 --device cpu|cuda

`pairs` renders identity_pairs.make_pair examples into PAIRS/shard_NNN.npz (uint8, 100 a shard;
resumable: existing shards are kept). `train` fits the network with L1 + (1 - SSIM) on the person
(the target body's mask dilated by 3 px) + L1 on the whole frame, Adam, cosine decay, a fixed seed;
the last 20 pairs of shard_000 are held out and scored (person SSIM / PSNR) against the looked-up
texture alone. With `--reload-every N` new shards written meanwhile (a `pairs` run still going)
join the training set every N steps. The checkpoint is fp32 safetensors (~2 MB at ngf 24).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

KEYS = ("warped", "conf", "normal", "mask", "background", "target", "target_mask")


def generate_pairs(out: str | Path, count: int, size: int = 128, seed: int = 0, shard: int = 100,
                   texture_size: int = 128, progress: bool = True) -> None:
    from neural_render.body import load_body
    from neural_render.fileio import write_npz
    from neural_render.generator.identity_pairs import PoseSource, make_pair
    from neural_render.generator.uv_atlas import atlas
    from neural_render.passes.raster import RasterRenderer

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    body = load_body()
    A = atlas(body, texture_size)
    poses = PoseSource()
    n_shards = -(-count // shard)
    it = range(n_shards)
    if progress:
        from tqdm import tqdm

        it = tqdm(it, desc="pair shards", unit="shard")
    with RasterRenderer(size, size) as r:
        for s in it:
            path = out / f"shard_{s:03d}.npz"
            if path.is_file():
                continue
            rng = np.random.default_rng([seed, s])  # one stream per shard: resumable, order-free
            items = [make_pair(rng, body, A, poses, size, r) for _ in range(min(shard, count - s * shard))]
            write_npz(path, **{k: np.stack([it[k] for it in items]) for k in KEYS})


VAL_PAIRS = 20   # the last pairs of shard_000, never trained on


def load_pairs(folder: str | Path) -> dict:
    """All pairs of folder/shard_*.npz, concatenated."""
    files = sorted(Path(folder).glob("shard_*.npz"))
    if not files:
        from neural_render.errors import InputError

        raise InputError("no shard_*.npz pairs", path=folder, fix="run `train_animator pairs` first")
    parts = [dict(np.load(f)) for f in files]
    return {k: np.concatenate([p[k] for p in parts]) for k in KEYS}


def _person(b: dict, dilate: int = 3):
    import cv2
    import torch

    m = np.stack([cv2.dilate(((t > 127) | (p > 127)).astype(np.uint8), np.ones((2 * dilate + 1,) * 2, np.uint8))
                  for t, p in zip(b["target_mask"], b["mask"])])
    return torch.from_numpy(m.astype(np.float32))[:, None]


def train(pairs: str | Path, out: str | Path, steps: int = 3000, batch: int = 8, lr: float = 2e-3,
          ngf: int = 24, device: str = "cpu", seed: int = 0, threads: int | None = None,
          init: str | None = None, log_every: int = 50, progress: bool = True, reload_every: int = 0,
          minutes: float | None = None, crop: int | None = None) -> dict:
    import torch

    from neural_render.generator import multi_identity as mi
    from neural_render.generator.losses import ssim as ssim_t

    if threads:
        torch.set_num_threads(threads)
    torch.manual_seed(seed)
    data = load_pairs(pairs)
    shards = len(list(Path(pairs).glob("shard_*.npz")))
    first = len(np.load(sorted(Path(pairs).glob("shard_*.npz"))[0])["target"])
    n_val = min(VAL_PAIRS, first // 2)
    val = {k: data[k][first - n_val:first] for k in KEYS}
    keep = np.r_[0:first - n_val, first:len(data["target"])]
    data = {k: data[k][keep] for k in KEYS}
    net = mi.load(init, device).train() if init else mi.AnimatorNet(mi.AnimatorConfig(ngf=ngf)).to(device)
    opt = torch.optim.Adam(net.parameters(), lr=lr, betas=(0.9, 0.99))
    # Cosine decay over the run's progress: steps done / steps, or the time used / `minutes` when
    # that is further along (a run bounded by the clock still ends on a decayed rate).
    budget = 60.0 * minutes if minutes else None
    rng = np.random.default_rng(seed)
    dev = torch.device(device)
    t0 = time.perf_counter()
    it = range(steps)
    if progress:
        from tqdm import tqdm

        it = tqdm(it, desc="train animator", unit="step")
    log = []
    done = 0
    for step in it:
        frac = step / steps if budget is None else max(step / steps, (time.perf_counter() - t0) / budget)
        if frac >= 1:
            break
        for g in opt.param_groups:
            g["lr"] = lr * (0.05 + 0.95 * 0.5 * (1 + np.cos(np.pi * frac)))
        if reload_every and step and step % reload_every == 0:
            files = sorted(Path(pairs).glob("shard_*.npz"))[shards:]
            if files:
                shards += len(files)
                new = [dict(np.load(f)) for f in files]
                data = {k: np.concatenate([data[k]] + [n[k] for n in new]) for k in KEYS}
        idx = rng.choice(len(data["target"]), batch, replace=False)
        b = {k: data[k][idx] for k in KEYS}
        H = b["target"].shape[1]
        if crop and crop < H:  # one random window per batch (cheaper steps; the net is convolutional)
            y0, x0 = rng.integers(0, H - crop + 1, 2)
            b = {k: v[:, y0:y0 + crop, x0:x0 + crop] for k, v in b.items()}
        if rng.random() < 0.5:  # left-right flip: the task is symmetric
            b = {k: v[:, :, ::-1] for k, v in b.items()}
            b["normal"] = b["normal"].copy()
            nx = b["normal"][..., 0].astype(np.int16)
            b["normal"][..., 0] = np.where(b["mask"] > 127, 255 - nx, 0).astype(np.uint8)
        x = mi.batch_input(b).to(dev)
        y = torch.from_numpy(np.ascontiguousarray(b["target"], np.float32)).permute(0, 3, 1, 2).to(dev) / 127.5 - 1
        w = _person(b).to(dev)
        pred = net(x)
        l1_person = ((pred - y).abs() * w).sum() / (w.sum() * 3).clamp(min=1)
        l1_all = (pred - y).abs().mean()
        ss = 1 - ssim_t(pred * w + y * (1 - w), y)
        loss = l1_person + 0.2 * l1_all + 0.5 * ss
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        done = step + 1
        if step % log_every == 0 or step == steps - 1:
            log.append({"step": step, "loss": round(loss.item(), 5), "l1_person": round(l1_person.item(), 5),
                        "seconds": round(time.perf_counter() - t0, 1)})
            if progress:
                it.set_postfix(loss=f"{loss.item():.4f}")
    net.eval()
    val = evaluate_pairs(net, val, device)
    meta = {"steps": done, "planned_steps": steps, "minutes": minutes, "batch": batch, "lr": lr, "pairs": int(len(data["target"])), "val_pairs": int(n_val), "seed": seed,
            "seconds": round(time.perf_counter() - t0, 1), "device": device, "val": val, "init": init}
    mi.save(out, net, meta)
    Path(str(out) + ".log.json").write_text(json.dumps({"meta": meta, "log": log}, indent=1))
    return meta


def evaluate_pairs(net, data: dict, device: str = "cpu") -> dict:
    """Person SSIM / PSNR (project fg metrics) of the network and of the looked-up texture alone."""
    import torch

    from neural_render.generator import multi_identity as mi
    from neural_render.generator.metrics import fg_region, masked_stats

    res = {"net": [], "texture": []}
    with torch.no_grad():
        for s in range(0, len(data["target"]), 16):
            b = {k: v[s:s + 16] for k, v in data.items()}
            pred = net(mi.batch_input(b).to(device))
            imgs = ((pred.clamp(-1, 1) + 1) * 127.5).round().byte().permute(0, 2, 3, 1).cpu().numpy()
            for i in range(len(imgs)):
                region = fg_region(b["target_mask"][i] > 127)
                m = (b["mask"][i] > 127)[..., None]
                tex = np.where(m, b["warped"][i], b["background"][i])
                res["net"].append(masked_stats(imgs[i], b["target"][i], region))
                res["texture"].append(masked_stats(tex, b["target"][i], region))
    return {k: {"fg_ssim": round(float(np.nanmean([r["fg_ssim"] for r in v])), 4),
                "fg_psnr": round(float(np.nanmean([r["fg_psnr"] for r in v])), 3)} for k, v in res.items()}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m neural_render.generator.train_animator", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    g = sub.add_parser("pairs")
    g.add_argument("--out", required=True)
    g.add_argument("--count", type=int, default=1600)
    g.add_argument("--size", type=int, default=128)
    g.add_argument("--seed", type=int, default=0)
    t = sub.add_parser("train")
    t.add_argument("--pairs", required=True)
    t.add_argument("--out", required=True)
    t.add_argument("--steps", type=int, default=3000)
    t.add_argument("--batch", type=int, default=8)
    t.add_argument("--lr", type=float, default=2e-3)
    t.add_argument("--ngf", type=int, default=24)
    t.add_argument("--device", default="cpu")
    t.add_argument("--threads", type=int, default=None)
    t.add_argument("--init", default=None, help="start from this animator checkpoint")
    t.add_argument("--crop", type=int, default=None, help="train on random crops of this size (multiple of 8)")
    t.add_argument("--minutes", type=float, default=None, help="stop after this wall time (lr decays over it)")
    t.add_argument("--reload-every", type=int, default=0, help="add shards written meanwhile every N steps")
    a = p.parse_args(argv)
    if a.cmd == "pairs":
        generate_pairs(a.out, a.count, a.size, a.seed)
    else:
        print(json.dumps(train(a.pairs, a.out, a.steps, a.batch, a.lr, a.ngf, a.device, threads=a.threads, init=a.init,
                                reload_every=a.reload_every, minutes=a.minutes, crop=a.crop), indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
