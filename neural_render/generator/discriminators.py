"""PatchGAN discriminators (pix2pixHD line).

`MultiscaleDiscriminator` judges consecutive-frame pairs: its input is the guidance passes of frame
t concatenated with frames t-1 and t (real pair vs generated pair), at `num_d` scales (the image
halved each time). `CropDiscriminator` is a single-scale PatchGAN for face / hand crops.
Each returns, per scale, the list of intermediate feature maps (last = patch logits), so the
generator can use feature matching.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class PatchDiscriminator(nn.Module):
    def __init__(self, in_ch: int, ndf: int = 32, n_layers: int = 3):
        super().__init__()
        layers = [nn.Sequential(nn.Conv2d(in_ch, ndf, 4, stride=2, padding=2), nn.LeakyReLU(0.2, True))]
        ch = ndf
        for i in range(1, n_layers):
            nch = min(ch * 2, 8 * ndf)
            layers.append(nn.Sequential(nn.Conv2d(ch, nch, 4, stride=2, padding=2),
                                        nn.InstanceNorm2d(nch), nn.LeakyReLU(0.2, True)))
            ch = nch
        nch = min(ch * 2, 8 * ndf)
        layers.append(nn.Sequential(nn.Conv2d(ch, nch, 4, stride=1, padding=2), nn.InstanceNorm2d(nch),
                                    nn.LeakyReLU(0.2, True)))
        layers.append(nn.Conv2d(nch, 1, 4, stride=1, padding=2))
        self.layers = nn.ModuleList(layers)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        feats = []
        for layer in self.layers:
            x = layer(x)
            feats.append(x)
        return feats


class MultiscaleDiscriminator(nn.Module):
    """`num_d` PatchGANs on the input at scales 1, 1/2, 1/4 ... ."""

    def __init__(self, in_ch: int, ndf: int = 32, n_layers: int = 3, num_d: int = 2):
        super().__init__()
        self.ds = nn.ModuleList(PatchDiscriminator(in_ch, ndf, n_layers) for _ in range(num_d))

    def forward(self, x: torch.Tensor) -> list[list[torch.Tensor]]:
        outs = []
        for i, d in enumerate(self.ds):
            if i:
                x = F.avg_pool2d(x, 3, stride=2, padding=1, count_include_pad=False)
            outs.append(d(x))
        return outs


def pair_input(cond: torch.Tensor, prev: torch.Tensor, cur: torch.Tensor) -> torch.Tensor:
    """Discriminator input for a consecutive-frame pair: (N, C + 6, H, W)."""
    return torch.cat([cond, prev, cur], 1)


class CropDiscriminator(nn.Module):
    """PatchGAN on (guidance crop, RGB crop), one scale, fewer layers (crops are small)."""

    def __init__(self, in_ch: int, ndf: int = 32):
        super().__init__()
        self.d = PatchDiscriminator(in_ch + 3, ndf, n_layers=2)

    def forward(self, guide_crop: torch.Tensor, rgb_crop: torch.Tensor) -> list[list[torch.Tensor]]:
        return [self.d(torch.cat([guide_crop, rgb_crop], 1))]
