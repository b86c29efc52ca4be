"""Generator networks: passes + neural texture + previous frame -> RGB frame.

Image tensors are (N, C, H, W); RGB in [-1, 1]; H and W multiples of 2 ** n_down.

Inputs (selected by `GeneratorConfig.passes`, channel counts in `PASS_CHANNELS`):
  skeleton  3  BODY_25 drawing, [0, 1]
  parts    25  one-hot of labels 0 (background) .. 24 (SMPL parts, SURREAL order)
  normal    3  camera-space unit normal, x right / y up / z toward the camera, 0 on background
  depth     1  per-sequence normalized depth in [0, 1], 0 on background
  mask      1  {0, 1}
  uv        2  raw (u, v) in [0, 1]; with `texture_channels > 0` also drives the neural texture
plus `background` (3, optional static plate) and `prev` (3, the previous generated frame, temporal
mode). Everything is concatenated in a fixed order (`GeneratorConfig.input_channels`).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from neural_render.generator.neural_texture import NeuralTexture

PASS_CHANNELS = {"skeleton": 3, "parts": 25, "normal": 3, "depth": 1, "mask": 1, "uv": 2}
ALL_PASSES = tuple(PASS_CHANNELS)
ARCHS = ("generator", "animator")
# The animator architecture's fixed settings: the multi-identity network's inputs (normals, body
# mask, looked-up colours + confidence through the UV pass, a background), no previous frame.
ANIMATOR_FIXED = {"passes": ["normal", "mask", "uv"], "texture_channels": 4, "temporal": False,
                  "refine_crops": False, "residual": False, "background": True}


@dataclass
class GeneratorConfig:
    """Architecture hyper-parameters (stored in every checkpoint, so a file is self-describing)."""

    passes: list[str] = field(default_factory=lambda: ["skeleton", "parts", "normal", "uv"])
    texture_channels: int = 8      # 0 disables the neural texture
    texture_size: int = 256        # finest texture level, texels
    texture_levels: int = 4
    ngf: int = 32                  # channels at full resolution
    n_down: int = 2                # encoder downsamplings (x2 channels each, capped at 8 * ngf)
    n_res: int = 4                 # residual blocks at the bottleneck
    temporal: bool = True          # input the previous generated frame
    background: bool = False       # input a static background plate
    refine_crops: bool = True      # residual refiner on face / hand crops
    refiner_channels: int = 32
    crop_fraction: float = 0.125   # crop side as a fraction of the image height
    residual: bool = True          # output = base + CNN residual, base = texture RGB on the body,
                                   # the learnt background plate elsewhere (needs texture_channels >= 3)
    plate_size: int = 256          # resolution of the stored background plate (0 = no plate)
    arch: str = "generator"        # "generator" (the pix2pixHD-style network above) or "animator":
                                   # the multi-identity U-Net (multi_identity.py, `ngf`, `n_down`
                                   # levels) on a per-person RGB + confidence texture (ANIMATOR_FIXED)

    def __post_init__(self):
        bad = [p for p in self.passes if p not in PASS_CHANNELS]
        if bad:
            raise ValueError(f"unknown pass(es) {bad}; choose from {list(PASS_CHANNELS)}")
        if self.arch not in ARCHS:
            raise ValueError(f"unknown arch {self.arch!r}; choose from {list(ARCHS)}")
        if self.arch == "animator":  # its inputs are fixed by the network it is initialised from
            for k, v in ANIMATOR_FIXED.items():
                setattr(self, k, list(v) if isinstance(v, list) else v)
        self.passes = [p for p in ALL_PASSES if p in self.passes]  # canonical order
        if self.texture_channels < 3:
            self.residual = False  # the base image comes from the texture's RGB channels

    @property
    def uses_texture(self) -> bool:
        return self.texture_channels > 0

    @property
    def input_channels(self) -> int:
        c = sum(PASS_CHANNELS[p] for p in self.passes) + self.texture_channels
        return c + 3 * int(self.background) + 3 * int(self.temporal)

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> "GeneratorConfig":
        d = json.loads(text)
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in d.items() if k in known})


def _act() -> nn.Module:
    return nn.LeakyReLU(0.2, inplace=True)


class ResBlock(nn.Module):
    def __init__(self, ch: int):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(ch, ch, 3, padding=1), _act(), nn.Conv2d(ch, ch, 3, padding=1))

    def forward(self, x):
        return x + self.body(x)


class Generator(nn.Module):
    """ResNet encoder-decoder (pix2pixHD global-generator line, no normalization so absolute colours
    survive, additive skips from encoder to decoder at each scale)."""

    def __init__(self, in_ch: int, ngf: int = 32, n_down: int = 2, n_res: int = 4):
        super().__init__()
        self.n_down = n_down
        self.stem = nn.Sequential(nn.Conv2d(in_ch, ngf, 3, padding=1), _act())
        chs = [min(ngf * 2 ** i, ngf * 8) for i in range(n_down + 1)]
        self.down = nn.ModuleList(
            nn.Sequential(nn.Conv2d(chs[i], chs[i + 1], 3, stride=2, padding=1), _act()) for i in range(n_down))
        self.res = nn.Sequential(*[ResBlock(chs[-1]) for _ in range(n_res)])
        self.up = nn.ModuleList(
            nn.Sequential(nn.Conv2d(chs[i + 1], chs[i], 3, padding=1), _act()) for i in reversed(range(n_down)))
        self.head = nn.Conv2d(ngf, 3, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N, in_ch, H, W) -> (N, 3, H, W) RGB in [-1, 1]."""
        return torch.tanh(self.forward_residual(x))

    def forward_residual(self, x: torch.Tensor) -> torch.Tensor:
        """(N, in_ch, H, W) -> (N, 3, H, W) unbounded head output."""
        h = self.stem(x)
        skips = [h]
        for d in self.down:
            h = d(h)
            skips.append(h)
        h = self.res(h)
        for i, u in enumerate(self.up):
            h = F.interpolate(h, scale_factor=2.0, mode="nearest")
            h = u(h) + skips[-2 - i]
        return self.head(h)


class CropRefiner(nn.Module):
    """Adds a residual to fixed-size crops (face, hands) of the generated frame.

    Input per crop: generated RGB (3) + the guidance channels of the same crop; output: RGB residual.
    The last layer starts at zero, so an untrained refiner is the identity.
    """

    def __init__(self, guide_ch: int, ch: int = 32):
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(3 + guide_ch, ch, 3, padding=1), _act(),
            nn.Conv2d(ch, ch, 3, padding=1), _act(),
            nn.Conv2d(ch, ch, 3, padding=1), _act(),
            nn.Conv2d(ch, 3, 3, padding=1))
        nn.init.zeros_(self.net[-1].weight)
        nn.init.zeros_(self.net[-1].bias)

    def forward(self, rgb_crop: torch.Tensor, guide_crop: torch.Tensor) -> torch.Tensor:
        return self.net(torch.cat([rgb_crop, guide_crop], 1))


def crop_side(cfg: GeneratorConfig, height: int) -> int:
    """Crop side in pixels for an image of `height` rows (even, at least 8)."""
    return max(8, int(round(height * cfg.crop_fraction / 2)) * 2)


def _crop_index(boxes: torch.Tensor, side: int, device) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Index tensors (batch, rows, cols) broadcasting to (N, K, side, side) for crops at `boxes`.

    Gathers with tensor indices instead of Python ints: no device->host sync per crop on CUDA and
    no value-specialised recompiles under torch.compile (the corners are data)."""
    n, k = boxes.shape[:2]
    ar = torch.arange(side, device=device)
    boxes = boxes.to(device=device, dtype=torch.long)
    rows = (boxes[..., 1:2] + ar)[..., :, None]          # (N, K, side, 1)
    cols = (boxes[..., 0:1] + ar)[..., None, :]          # (N, K, 1, side)
    batch = torch.arange(n, device=device).view(n, 1, 1, 1).expand(n, k, 1, 1)
    return batch, rows, cols


def extract_crops(img: torch.Tensor, boxes: torch.Tensor, side: int) -> torch.Tensor:
    """Crops (N, K, C, side, side) at integer top-left corners `boxes` (N, K, 2) = (x0, y0), inside the image."""
    b, r, c = _crop_index(boxes, side, img.device)
    return img.permute(0, 2, 3, 1)[b, r, c].permute(0, 1, 4, 2, 3)  # (N, K, side, side, C) -> channels 3rd


def paste_crops(like: torch.Tensor, crops: torch.Tensor, boxes: torch.Tensor) -> torch.Tensor:
    """(N, C, H, W) zeros with `crops` (N, K, C, side, side) added at `boxes`; overlaps add up."""
    n, ch, h, w = like.shape
    b, r, c = _crop_index(boxes, crops.shape[-1], like.device)
    canvas = like.new_zeros(n, h, w, ch)
    canvas = canvas.index_put((b, r, c), crops.permute(0, 1, 3, 4, 2).to(like.dtype), accumulate=True)
    return canvas.permute(0, 3, 1, 2)


class NeuralRenderer(nn.Module):
    """Neural texture + generator + crop refiner: the whole per-person model."""

    def __init__(self, cfg: GeneratorConfig):
        super().__init__()
        self.cfg = cfg
        self.texture = NeuralTexture(cfg.texture_channels, cfg.texture_size, cfg.texture_levels) \
            if cfg.uses_texture else None
        if cfg.arch == "animator":
            from neural_render.generator.multi_identity import AnimatorConfig, AnimatorNet

            self.generator = AnimatorNet(AnimatorConfig(ngf=cfg.ngf, levels=cfg.n_down))
        else:
            self.generator = Generator(cfg.input_channels, cfg.ngf, cfg.n_down, cfg.n_res)
        self.refiner = CropRefiner(self.guide_channels, cfg.refiner_channels) if cfg.refine_crops else None
        if cfg.residual:
            if cfg.texture_channels < 3:
                raise ValueError("residual output needs texture_channels >= 3")
            nn.init.zeros_(self.generator.head.weight)   # start as the base image exactly
            nn.init.zeros_(self.generator.head.bias)
        # The scene behind the person (static for a follow camera over a plain backdrop): a
        # learnable plate, initialised from the training frames (see train.init_from_data).
        self.plate = nn.Parameter(torch.zeros(1, 3, cfg.plate_size, cfg.plate_size)) if cfg.plate_size else None

    @property
    def guide_channels(self) -> int:
        return sum(PASS_CHANNELS[p] for p in self.cfg.passes) + self.cfg.texture_channels

    def guidance(self, batch: dict, texture: bool = True) -> torch.Tensor:
        """(N, guide_channels, H, W): the selected passes (+ sampled texture), canonical order."""
        parts = []
        for p in self.cfg.passes:
            x = batch[p]
            if p == "parts":
                x = F.one_hot(x.long().clamp(0, 24), 25).permute(0, 3, 1, 2)
            parts.append(x.float())
        if texture and self.texture is not None:
            parts.append(self.texture(batch["uv"].float(), batch["fg"].float()))
        return torch.cat(parts, 1)

    def background(self, batch: dict, like: torch.Tensor) -> torch.Tensor:
        """(N, 3, H, W) background: the batch's static plate when given, else the learnt plate."""
        if "background" in batch:
            return batch["background"].to(like.dtype)
        n, _, h, w = like.shape
        if self.plate is None:
            return torch.zeros(n, 3, h, w, dtype=like.dtype, device=like.device)
        if "offsets" in batch:   # training crops: the plate window of each crop (full-frame coordinates)
            full = batch["full_hw"][0].tolist()
            plate = F.interpolate(self.plate, size=full, mode="bilinear", align_corners=False)[0]
            return torch.stack([plate[:, y:y + h, x:x + w] for x, y in batch["offsets"].tolist()]).to(like.dtype)
        return F.interpolate(self.plate, size=(h, w), mode="bilinear", align_corners=False).expand(n, -1, -1, -1).to(like.dtype)

    def forward(self, batch: dict, prev: torch.Tensor | None = None, guide: torch.Tensor | None = None,
                refine: bool = True) -> torch.Tensor:
        """Generate frames.

        Args:
            batch: tensors from `data.PairedDataset` / `data.collate` (see module docstring), plus
                "fg" (N, 1, H, W) and, for the refiner, "boxes" (N, 3, 2) crop corners.
            prev: (N, 3, H, W) previous generated frame in [-1, 1]; None -> zeros (first frame).
            guide: precomputed `guidance(batch)` (saves a texture lookup when called twice).
        Returns:
            (N, 3, H, W) RGB in [-1, 1].
        """
        if self.cfg.arch == "animator":
            return self.forward_animator(batch)
        g = self.guidance(batch) if guide is None else guide
        x = [g]
        if self.cfg.background:
            x.append(self.background(batch, g))
        if self.cfg.temporal:
            x.append(torch.zeros_like(g[:, :3]) if prev is None else prev.to(g.dtype))
        x = torch.cat(x, 1)
        if x.is_cuda:
            x = x.contiguous(memory_format=torch.channels_last)
        if self.cfg.residual:
            fg = batch["fg"].to(g.dtype)
            tex_rgb = g[:, self.guide_channels - self.cfg.texture_channels:][:, :3]
            base = fg * tex_rgb + (1 - fg) * self.background(batch, g)
            out = base + self.generator.forward_residual(x)
        else:
            out = self.generator(x)
        if refine and self.refiner is not None and "boxes" in batch:
            out = self.refine(out, g, batch["boxes"])
        return out if self.training else out.clamp(-1, 1)

    def forward_animator(self, batch: dict) -> torch.Tensor:
        """The animator architecture: the multi-identity network's 11 input channels built the way
        `animate` builds them from a lifted photo (multi_identity.to_input), with this person's
        texture in place of the photo's: texture channels 0-2 = RGB in [-1, 1], channel 3 = the
        texel's confidence in [0, 1]; outside the body mask colour and confidence read as 0 (-1)."""
        m = batch["mask"].float()
        tex = self.texture(batch["uv"].float())
        warped = tex[:, :3] * m - (1 - m)
        conf = (tex[:, 3:4] * m).clamp(0, 1) * 2 - 1
        normal = batch["normal"].float() * m
        x = torch.cat([warped, conf, normal, m * 2 - 1, self.background(batch, warped)], 1)
        out = self.generator(x)
        return out if self.training else out.clamp(-1, 1)

    def refine(self, out: torch.Tensor, guide: torch.Tensor, boxes: torch.Tensor) -> torch.Tensor:
        side = crop_side(self.cfg, out.shape[-2])
        n, k = boxes.shape[:2]
        rgb = extract_crops(out, boxes, side).flatten(0, 1)
        gd = extract_crops(guide, boxes, side).flatten(0, 1)
        res = self.refiner(rgb, gd.to(rgb.dtype)).view(n, k, 3, side, side)
        # Paste residuals back; overlapping crops add up (the refiner sees its neighbour's output
        # only through training, which is fine for small overlaps).
        return out + paste_crops(out, res, boxes)


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
