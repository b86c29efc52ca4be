"""Rotation conversions in torch, the differentiable twin of `rotations` (same maths, same shapes).

Used by the torch LBS (`body.lbs_torch`) and the keypoint fit; torch is imported by this module,
so nothing Blender-side imports it.
"""

from __future__ import annotations

import torch


def rodrigues(aa: torch.Tensor) -> torch.Tensor:
    """Axis-angle (..., 3) radians -> rotation matrices (..., 3, 3); gradient-safe at zero angle.

    Written elementwise (R = cI + s[k]x + (1-c) k k^T, entry by entry): no small matmuls, which
    on CPU is several times faster than building the cross-product matrix and squaring it.
    """
    angle = torch.sqrt((aa * aa).sum(-1, keepdim=True) + 1e-16)
    k = aa / angle
    s, c = torch.sin(angle)[..., 0], torch.cos(angle)[..., 0]
    C = 1 - c
    x, y, z = k.unbind(-1)
    rows = [C * x * x + c, C * x * y - s * z, C * x * z + s * y,
            C * x * y + s * z, C * y * y + c, C * y * z - s * x,
            C * x * z - s * y, C * y * z + s * x, C * z * z + c]
    return torch.stack(rows, -1).reshape(aa.shape[:-1] + (3, 3))
