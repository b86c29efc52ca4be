"""The multi-identity generator: one small network for every person, driven by a photo's appearance.

Input at the target frame (H, W), all from `animate`'s pipeline, channels first, in [-1, 1]:
    warped (3)     the photo's colours lifted to the body's UV atlas and looked up at the target pose
    conf (1)       that texel's confidence (0 = never seen in a photo: filled by symmetry/neighbours)
    normal (3)     the target body's camera-space normals (0 outside)
    mask (1)       the target body's silhouette
    background (3) the photo with the person inpainted away
Output: an RGB correction and a soft alpha, composited: alpha * (warped + delta) + (1 - alpha) *
background. Unseen or poorly seen regions, shading for the new pose, the soft silhouette edge and
what the mesh misses are learned from many synthetic identities (identity_pairs.py). The network is
a 3-level U-Net with `ngf` base channels (ngf 24: ~0.5 M parameters, ~2 MB in fp32).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

IN_CHANNELS = 11


@dataclass
class AnimatorConfig:
    ngf: int = 24
    levels: int = 3

    def to_json(self) -> str:
        return json.dumps(asdict(self))


def _block(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1), nn.GroupNorm(4, cout), nn.SiLU(),
                         nn.Conv2d(cout, cout, 3, padding=1), nn.GroupNorm(4, cout), nn.SiLU())


class AnimatorNet(nn.Module):
    def __init__(self, cfg: AnimatorConfig | None = None):
        super().__init__()
        self.cfg = cfg = cfg or AnimatorConfig()
        ch = [cfg.ngf * 2 ** i for i in range(cfg.levels + 1)]
        self.inc = _block(IN_CHANNELS, ch[0])
        self.down = nn.ModuleList([_block(ch[i], ch[i + 1]) for i in range(cfg.levels)])
        self.up = nn.ModuleList([_block(ch[i + 1] + ch[i], ch[i]) for i in reversed(range(cfg.levels))])
        self.out = nn.Conv2d(ch[0], 4, 3, padding=1)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x (N, 11, H, W) in [-1, 1] (H, W multiples of 2^levels) -> (N, 3, H, W) in [-1, 1]."""
        warped, mask, bg = x[:, 0:3], x[:, 7:8], x[:, 8:11]
        skips = [self.inc(x)]
        for d in self.down:
            skips.append(d(F.avg_pool2d(skips[-1], 2)))
        h = skips.pop()
        for u in self.up:
            s = skips.pop()
            h = u(torch.cat([F.interpolate(h, size=s.shape[-2:], mode="bilinear", align_corners=False), s], 1))
        o = self.out(h)
        # Zero-initialised head: alpha starts as the body's mask, the colour as the looked-up texture.
        alpha = torch.sigmoid(o[:, 3:4] + 8 * (mask - 0.0))
        rgb = (warped + o[:, :3]).clamp(-1, 1)
        return alpha * rgb + (1 - alpha) * bg


def to_input(warped: np.ndarray, conf: np.ndarray, normal_u8: np.ndarray, mask: np.ndarray,
             background: np.ndarray) -> torch.Tensor:
    """Network input (1, 11, H, W) from uint8/float images (H, W, C): warped and background 0..255,
    conf 0..1 (or 0..255 uint8), normal uint8 pass encoding (0 outside), mask bool/0..255."""
    def f(a, scale):
        a = np.asarray(a, np.float32)
        return a / scale * 2 - 1

    conf = np.asarray(conf, np.float32)
    conf = conf / 255.0 if conf.max() > 1.0 else conf
    m = (np.asarray(mask) > 0).astype(np.float32)
    parts = [f(warped, 255.0), conf[..., None] * 2 - 1, f(normal_u8, 255.0) * m[..., None],
             m[..., None] * 2 - 1, f(background, 255.0)]
    return torch.from_numpy(np.concatenate(parts, -1).transpose(2, 0, 1)[None].copy())


def batch_input(b: dict) -> torch.Tensor:
    """(N, 11, H, W) from a batch dict of uint8 arrays (N, H, W, C) as `identity_pairs.make_pair` writes."""
    def f(k):
        return torch.from_numpy(np.asarray(b[k], np.float32)).permute(0, 3, 1, 2) / 127.5 - 1

    m = torch.from_numpy((np.asarray(b["mask"]) > 127).astype(np.float32))[:, None]
    conf = torch.from_numpy(np.asarray(b["conf"], np.float32))[:, None] / 127.5 - 1
    return torch.cat([f("warped"), conf, f("normal") * m, m * 2 - 1, f("background")], 1)


def save(path, net: AnimatorNet, meta: dict | None = None) -> None:
    from safetensors.torch import save_file

    from neural_render.fileio import atomic_path

    tensors = {k: v.detach().float().cpu().contiguous() for k, v in net.state_dict().items()}
    with atomic_path(path) as tmp:
        save_file(tensors, str(tmp), metadata={"kind": "neural_render.animator", "config": net.cfg.to_json(),
                                               "meta": json.dumps(meta or {})})


def load(path, device: str = "cpu") -> AnimatorNet:
    from safetensors import safe_open

    from neural_render.errors import InputError

    try:
        with safe_open(str(path), "pt", device="cpu") as f:
            md = f.metadata() or {}
            tensors = {k: f.get_tensor(k) for k in f.keys()}
    except Exception as e:  # noqa: BLE001 - any unreadable file is the user's bad input here
        raise InputError(f"cannot read checkpoint ({e.__class__.__name__})", path=path, where="--checkpoint") from None
    if md.get("kind") != "neural_render.animator":
        raise InputError("not a multi-identity generator checkpoint", path=path, where="--checkpoint",
                         fix="use smpl_assets/animator/animator.safetensors or one made by train_animator")
    net = AnimatorNet(AnimatorConfig(**json.loads(md["config"])))
    net.load_state_dict(tensors)
    return net.to(device).eval()


def cpu_has_fast_bf16() -> bool:
    """True on a CPU with native bf16 matrix units (Intel AMX or AVX512-BF16, read from Linux's
    /proc/cpuinfo) that torch's oneDNN can use; False elsewhere (bf16 would be emulated there)."""
    try:
        flags = Path("/proc/cpuinfo").read_text(errors="replace")
    except OSError:
        return False
    return (" amx_bf16" in flags or " avx512_bf16" in flags) and bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())


class Animator:
    """Inference wrapper `animate` uses: one frame at a time.

    bf16: run the network in bfloat16, channels-last (None = on a CPU with native bf16 units,
    `cpu_has_fast_bf16`): 2.5-3x faster per frame there, outputs within ~1/255 on average of fp32
    (largest difference seen 0.03 in [-1, 1])."""

    def __init__(self, net: AnimatorNet, device: str = "cpu", bf16: bool | None = None):
        self.device = torch.device(device)
        self.bf16 = (self.device.type == "cpu" and cpu_has_fast_bf16()) if bf16 is None else bf16
        self.dtype = torch.bfloat16 if self.bf16 else torch.float32
        self.net = net.to(self.dtype).to(memory_format=torch.channels_last) if self.bf16 else net

    @torch.no_grad()
    def frame(self, warped: np.ndarray, conf: np.ndarray, buffers: dict, background: np.ndarray) -> np.ndarray:
        from neural_render.passes.writer import encode_normal

        H, W = warped.shape[:2]
        k = 2 ** self.net.cfg.levels
        ph, pw = (-H) % k, (-W) % k
        x = to_input(warped, conf, encode_normal(buffers["normal"], buffers["mask"]), buffers["mask"], background)
        if ph or pw:
            x = F.pad(x, (0, pw, 0, ph), mode="replicate")
        x = x.to(self.device, self.dtype)
        if self.bf16:
            x = x.contiguous(memory_format=torch.channels_last)
        y = self.net(x)[0, :, :H, :W].float()
        return ((y.clamp(-1, 1) + 1) * 127.5).round().byte().permute(1, 2, 0).cpu().numpy()


def load_animator(path, device: str = "cpu", bf16: bool | None = None) -> Animator:
    return Animator(load(path, device), device, bf16)
