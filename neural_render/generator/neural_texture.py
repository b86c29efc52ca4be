"""A learnable neural texture in the body's UV space, sampled through the UV pass.

Deferred-neural-rendering style: the texture is a Laplacian pyramid of feature images
(levels of decreasing resolution, summed after sampling), so coarse levels learn quickly from few
frames and fine levels add detail. Sampling uses `grid_sample` (bilinear), so gradients flow into
exactly the texels that are visible.

UV convention: u, v in [0, 1], v = 0 at the bottom of the texture image (Blender / OBJ), so the
texture's image row is (1 - v) * H. Pixels outside the body (mask 0) get zeros.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class NeuralTexture(nn.Module):
    """Multi-resolution feature texture.

    Args:
        channels: feature channels C.
        size: side of the finest level in texels.
        levels: pyramid levels (size, size/2, ...).
    """

    def __init__(self, channels: int = 8, size: int = 256, levels: int = 4):
        super().__init__()
        self.channels, self.size, self.levels = channels, size, levels
        self.pyramid = nn.ParameterList(
            [nn.Parameter(torch.zeros(1, channels, max(size >> i, 4), max(size >> i, 4))) for i in range(levels)])

    def forward(self, uv: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """Sample features.

        Args:
            uv: (N, 2, H, W) texture coordinates in [0, 1].
            mask: (N, 1, H, W) in {0, 1}; where 0 the output is 0. None: all pixels sampled.
        Returns:
            (N, C, H, W) features.
        """
        n = uv.shape[0]
        # grid_sample wants x, y in [-1, 1], y = -1 at the top row; v = 1 is the top row.
        grid = torch.stack([uv[:, 0] * 2 - 1, 1 - uv[:, 1] * 2], dim=-1).to(self.pyramid[0].dtype)
        out = None
        for tex in self.pyramid:
            s = F.grid_sample(tex.expand(n, -1, -1, -1), grid, mode="bilinear", padding_mode="border",
                              align_corners=False)
            out = s if out is None else out + s
        if mask is not None:
            out = out * mask.to(out.dtype)
        return out

    def as_image(self, channels: tuple[int, int, int] = (0, 1, 2)) -> torch.Tensor:
        """(3, size, size) of the summed pyramid's chosen channels (for previews), range as stored."""
        full = None
        for tex in self.pyramid:
            up = F.interpolate(tex, size=(self.size, self.size), mode="bilinear", align_corners=False)
            full = up if full is None else full + up
        return full[0, list(channels)]
