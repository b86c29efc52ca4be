"""Linear blend skinning in torch: batched, differentiable, CPU or CUDA. Same maths as lbs.py.

The pieces are exported for the keypoint fit's `KeypointBody` (which skins only the few vertices
its keypoint regressor uses): `KinematicChain` (rest joints + local rotations -> joint transforms)
and `pose_features` (the pose-corrective blend-shape input).
"""

from __future__ import annotations

import numpy as np
import torch

from neural_render.motion.rotations_torch import rodrigues


def pose_features(rot: torch.Tensor) -> torch.Tensor:
    """(N, J*9 - 9) pose-corrective features R_j - I of joints 1.. from local rotations (N, J, 3, 3)."""
    eye = torch.eye(3, dtype=rot.dtype, device=rot.device)
    return (rot[:, 1:] - eye).reshape(rot.shape[0], -1)


class KinematicChain:
    """A joint tree batched by depth level: every joint of one level is posed at once.

    `chain(rot (N, J, 3, 3), rest_joints (N, J, 3))` -> (G_rot (N, J, 3, 3), G_pos (N, J, 3)): each
    joint's world rotation and position (before the translation), G_j = G_parent(j) [R_j | offset].
    """

    def __init__(self, parents):
        self.parents = [int(p) for p in parents]
        depth = [0] * len(self.parents)
        for j in range(1, len(self.parents)):
            depth[j] = depth[self.parents[j]] + 1
        self.levels = [[j for j in range(len(self.parents)) if depth[j] == d] for d in range(max(depth) + 1)]
        order = [j for lv in self.levels for j in lv]
        slot = {j: i for i, j in enumerate(order)}
        # Per level: the joints, their parents (joint ids) and the parents' slots in the
        # level-ordered arrays built as the chain is walked; and the way back to joint order.
        self._index = [(lv, [self.parents[j] for j in lv], [slot[self.parents[j]] for j in lv])
                       for lv in self.levels[1:]]
        self._inv_order = np.argsort(order)
        self._on: dict = {}

    def _indices(self, device):
        if device not in self._on:
            idx = lambda a: torch.as_tensor(np.asarray(a), dtype=torch.long, device=device)  # noqa: E731
            self._on[device] = ([tuple(idx(a) for a in t) for t in self._index], idx(self._inv_order))
        return self._on[device]

    def __call__(self, rot: torch.Tensor, rest_joints: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        level_idx, inv_order = self._indices(rot.device)
        g_rot = rot[:, :1]
        g_pos = rest_joints[:, :1]
        for lv, par_j, par_slot in level_idx:
            Rp = g_rot[:, par_slot]
            offs = rest_joints[:, lv] - rest_joints[:, par_j]
            # Elementwise products instead of batched 3x3 matmuls: much faster on CPU.
            g_pos = torch.cat([g_pos, g_pos[:, par_slot] + (Rp * offs[:, :, None, :]).sum(-1)], 1)
            g_rot = torch.cat([g_rot, (Rp[..., :, :, None] * rot[:, lv, None, :, :]).sum(-2)], 1)
        return g_rot[:, inv_order], g_pos[:, inv_order]


class TorchLBS(torch.nn.Module):
    """The body's buffers on a device; `forward(poses, betas, trans)` -> (vertices, joints)."""

    def __init__(self, body, device="cpu", dtype=torch.float32):
        super().__init__()
        t = lambda a: torch.as_tensor(np.asarray(a), dtype=dtype, device=device)  # noqa: E731
        self.register_buffer("v_template", t(body.v_template))
        self.register_buffer("shapedirs", t(body.shapedirs))
        self.register_buffer("J_regressor", t(body.J_regressor))
        self.register_buffer("weights", t(body.weights))
        self.register_buffer("posedirs", None if body.posedirs is None
                             else t(body.posedirs).reshape(-1, body.posedirs.shape[-1]).T.contiguous())
        self.parents = [int(p) for p in body.parents]
        self.chain = KinematicChain(self.parents)

    def rest(self, betas: torch.Tensor):
        """Rest vertices (N, V, 3) and joints (N, 24, 3) for betas (N, B); N may be 1 (broadcast)."""
        B = min(betas.shape[-1], self.shapedirs.shape[-1])
        V = self.v_template.shape[0]
        # (N, B) @ (B, V*3): one GEMM (einsum over a 3-D shapedirs is several times slower on CPU).
        dirs = self.shapedirs[..., :B].reshape(V * 3, B)
        v_shaped = self.v_template + (betas[:, :B] @ dirs.T).reshape(-1, V, 3)
        return v_shaped, torch.matmul(self.J_regressor, v_shaped)

    def forward(self, poses: torch.Tensor, betas: torch.Tensor, trans: torch.Tensor, chunk: int | None = None):
        """Pose the body.

        Args:
            poses: (N, 72) axis-angle, SMPL joint order (radians).
            betas: (N, B) or (1, B) shape coefficients.
            trans: (N, 3) metres.
            chunk: poses per block to bound memory (default: 256 on CPU, all at once on CUDA);
                results are identical for any value and gradients flow through every block.
        Returns:
            vertices (N, V, 3), joints (N, 24, 3).
        """
        N = poses.shape[0]
        if chunk is None:
            chunk = N if poses.device.type == "cuda" else 256
        if N > chunk:
            outs = [self.forward(poses[i:i + chunk], betas if betas.shape[0] == 1 else betas[i:i + chunk],
                                 trans[i:i + chunk], chunk) for i in range(0, N, chunk)]
            return torch.cat([o[0] for o in outs]), torch.cat([o[1] for o in outs])
        J = len(self.parents)
        v_shaped, rest_joints = self.rest(betas)  # (1 or N, V, 3)
        rest_joints = rest_joints.expand(N, -1, -1)
        rot = rodrigues(poses.reshape(N, J, 3))
        if self.posedirs is not None:
            v_shaped = v_shaped + (pose_features(rot) @ self.posedirs).reshape(N, -1, 3)
        G_rot, G_pos = self.chain(rot, rest_joints)
        offset = G_pos - (G_rot @ rest_joints[..., None])[..., 0]
        A = torch.cat([G_rot.reshape(N, J, 9), offset], -1)  # (N, J, 12)
        # Blended transforms component-major, (N, 12, V), then fused multiply-adds on contiguous
        # (N, V) rows: ~2x faster on CPU than slicing an interleaved (N, V, 12) tensor.
        T = torch.matmul(A.transpose(1, 2), self.weights.T)
        vT = v_shaped.transpose(1, 2)  # (1 or N, 3, V)
        x, y, z = vT[:, 0], vT[:, 1], vT[:, 2]
        comps = []
        for a in range(3):
            o = torch.addcmul(T[:, 9 + a] + trans[:, a:a + 1], T[:, 3 * a], x)
            o = torch.addcmul(o, T[:, 3 * a + 1], y)
            comps.append(torch.addcmul(o, T[:, 3 * a + 2], z))
        return torch.stack(comps, -1), G_pos + trans[:, None]
