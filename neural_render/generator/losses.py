"""Losses: L1, SSIM / MS-SSIM, LSGAN, feature matching, optional VGG perceptual loss.

Images in [-1, 1] unless stated. The VGG loss needs VGG-19 weights already on disk (nothing is
downloaded): `vgg_loss_from_env()` returns None unless NEURAL_RENDER_VGG_WEIGHTS names a state dict
with torchvision's `vgg19` key layout and torchvision is importable.
"""

from __future__ import annotations

import os

import torch
import torch.nn.functional as F
from torch import nn


def _gaussian_window(size: int = 11, sigma: float = 1.5, device=None, dtype=torch.float32) -> torch.Tensor:
    x = torch.arange(size, device=device, dtype=dtype) - (size - 1) / 2
    g = torch.exp(-x ** 2 / (2 * sigma ** 2))
    return g / g.sum()


def _blur(x: torch.Tensor, win: torch.Tensor) -> torch.Tensor:
    c = x.shape[1]
    k = win.numel()
    x = F.conv2d(x, win.view(1, 1, 1, k).expand(c, 1, 1, k), groups=c)
    return F.conv2d(x, win.view(1, 1, k, 1).expand(c, 1, k, 1), groups=c)


def ssim_terms(x: torch.Tensor, y: torch.Tensor, data_range: float = 2.0, win_size: int = 11,
               sigma: float = 1.5) -> tuple[torch.Tensor, torch.Tensor]:
    """(ssim map, contrast-structure map), valid region only (no padding), per channel."""
    win = _gaussian_window(win_size, sigma, x.device, x.dtype)
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    mx, my = _blur(x, win), _blur(y, win)
    sxx = _blur(x * x, win) - mx * mx
    syy = _blur(y * y, win) - my * my
    sxy = _blur(x * y, win) - mx * my
    cs = (2 * sxy + c2) / (sxx + syy + c2)
    ssim = (2 * mx * my + c1) / (mx * mx + my * my + c1) * cs
    return ssim, cs


def ssim(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Mean SSIM (Gaussian 11x11, sigma 1.5) over the batch of images in [-1, 1].

    SSIM's luminance term is not shift-invariant, so images are mapped to [0, 1] first (as the
    uint8 metric in metrics.py sees them)."""
    return ssim_terms((x.float() + 1) / 2, (y.float() + 1) / 2, 1.0)[0].mean()


MS_WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)


def ms_ssim(x: torch.Tensor, y: torch.Tensor, levels: int | None = None) -> torch.Tensor:
    """Multi-scale SSIM (Wang et al. 2003) of images in [-1, 1] (mapped to [0, 1]); levels limited so
    the coarsest scale is >= 11 px."""
    x, y = (x.float() + 1) / 2, (y.float() + 1) / 2
    data_range = 1.0
    n = levels or len(MS_WEIGHTS)
    while n > 1 and min(x.shape[-2:]) // 2 ** (n - 1) < 11:
        n -= 1
    w = torch.tensor(MS_WEIGHTS[:n], device=x.device)
    w = w / w.sum()
    vals = []
    for i in range(n):
        s, cs = ssim_terms(x, y, data_range)
        if i < n - 1:
            vals.append(cs.mean().clamp_min(1e-6))
            x, y = F.avg_pool2d(x, 2), F.avg_pool2d(y, 2)
        else:
            vals.append(s.mean().clamp_min(1e-6))
    return torch.prod(torch.stack(vals) ** w)


def lsgan_loss(outputs: list[list[torch.Tensor]], real: bool) -> torch.Tensor:
    """LSGAN (pix2pixHD): mean over scales of mean (D(x) - target)^2 on the last feature map."""
    target = 1.0 if real else 0.0
    return sum(((feats[-1].float() - target) ** 2).mean() for feats in outputs) / len(outputs)


def feature_matching_loss(fake: list[list[torch.Tensor]], real: list[list[torch.Tensor]]) -> torch.Tensor:
    """L1 between discriminator features of generated and real inputs (all layers but the logits)."""
    total, n = 0.0, 0
    for f_scale, r_scale in zip(fake, real):
        for f, r in zip(f_scale[:-1], r_scale[:-1]):
            total = total + F.l1_loss(f.float(), r.detach().float())
            n += 1
    return total / max(n, 1)


class VGGLoss(nn.Module):
    """Perceptual loss on VGG-19 relu1_1..relu5_1 (pix2pixHD weights), from local weights only."""

    LAYERS = (2, 7, 12, 21, 30)
    WEIGHTS = (1 / 32, 1 / 16, 1 / 8, 1 / 4, 1.0)

    def __init__(self, weights_path: str):
        super().__init__()
        import torchvision  # noqa: F401  (optional dependency)
        from torchvision.models import vgg19

        net = vgg19()
        net.load_state_dict(torch.load(weights_path, map_location="cpu", weights_only=True))
        self.features = net.features[: self.LAYERS[-1]].eval().requires_grad_(False)
        self.register_buffer("mean", torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1))

    def forward(self, x, y):
        x = ((x + 1) / 2 - self.mean) / self.std
        y = ((y + 1) / 2 - self.mean) / self.std
        loss, j = 0.0, 0
        for i, layer in enumerate(self.features):
            x, y = layer(x), layer(y)
            if i + 1 in self.LAYERS:
                loss = loss + self.WEIGHTS[j] * F.l1_loss(x, y.detach())
                j += 1
        return loss


def vgg_loss_from_env() -> VGGLoss | None:
    """A VGGLoss when NEURAL_RENDER_VGG_WEIGHTS points to local weights and torchvision exists, else None."""
    path = os.environ.get("NEURAL_RENDER_VGG_WEIGHTS")
    if not path or not os.path.isfile(path):
        return None
    try:
        return VGGLoss(path)
    except ImportError:
        return None
