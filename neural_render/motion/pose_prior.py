"""Pose prior for fitting, from smpl_assets/pose_prior.npz (built by smpl_assets/build_pose_prior.py).

Two parts, both on the SMPL body pose (joints 1..23, axis-angle, 69 values, no root):
- a Gaussian mixture over joints 1..21 (63 values) fitted on free mocap; `nll` is the
  max-mixture negative log-likelihood (as SMPLify's), shifted so the best pose scores ~0;
- per-joint limits (lo, hi per axis-angle component, radians) from anatomical ranges widened to
  cover the mocap; `limit_penalty` is the squared hinge outside them.
No downloaded weights: the npz is built in this repository from the shared mocap clips.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from neural_render.errors import InputError


def pose_prior_path() -> Path:
    from neural_render.paths import asset

    return asset("pose_prior.npz")


def mirror_poses(body_pose: np.ndarray) -> np.ndarray:
    """Left-right mirror of SMPL body poses (..., 69) (joints 1..23): swap sides, negate y and z."""
    from neural_render.body.skeletons import SMPL_JOINT_NAMES

    names = SMPL_JOINT_NAMES[1:]
    swap = [names.index(n.replace("left", "#").replace("right", "left").replace("#", "right")) for n in names]
    p = np.asarray(body_pose).reshape(body_pose.shape[:-1] + (23, 3))[..., swap, :].copy()
    p[..., 1:] *= -1
    return p.reshape(body_pose.shape)


class PosePrior:
    """Torch evaluation of the prior. nll / limit_penalty take (N, 69) and return (N,)."""

    def __init__(self, data: dict, device="cpu"):
        import torch

        f = lambda a: torch.as_tensor(np.asarray(a, np.float32), device=device)  # noqa: E731
        self.means = f(data["means"])                  # (K, D)
        self.prec_chol = f(data["precision_chol"])     # (K, D, D): precision = L L^T
        self.const = f(data["component_const"])        # (K,) -log w + 0.5 log det cov, shifted
        self.lo = f(data["limit_lo"])                  # (69,)
        self.hi = f(data["limit_hi"])
        self.dim = int(self.means.shape[1])
        # Start pose for fitting: the mixture's mean (a relaxed stance: knees and elbows slightly bent,
        # which breaks the bend-forward/bend-backward symmetry a straight T-pose has under projection).
        w = np.asarray(data.get("weights", np.ones(len(data["means"]))), np.float64)
        mean = np.zeros(69, np.float32)
        mean[:self.dim] = (w[:, None] * np.asarray(data["means"])).sum(0) / w.sum()
        self.mean_pose = f(np.clip(mean, data["limit_lo"], data["limit_hi"]))
        # Component means, heaviest first: starting poses for multi-hypothesis fitting.
        order = np.argsort(-w)
        starts = np.zeros((len(order), 69), np.float32)
        starts[:, :self.dim] = np.asarray(data["means"])[order]
        self.start_poses = f(np.clip(starts, data["limit_lo"], data["limit_hi"]))

    def nll(self, body_pose):
        d = body_pose[None, :, :self.dim] - self.means[:, None]              # (K, N, D)
        m = d @ self.prec_chol                                               # (K, N, D): d^T L, batched over K
        return (0.5 * (m * m).sum(-1) + self.const[:, None]).min(0).values

    def limit_penalty(self, body_pose):
        import torch

        return (torch.relu(self.lo - body_pose) ** 2 + torch.relu(body_pose - self.hi) ** 2).sum(-1)


def load_pose_prior(path: str | Path | None = None, device="cpu") -> PosePrior:
    path = Path(path) if path else pose_prior_path()
    try:
        with np.load(path, allow_pickle=False) as z:
            data = {k: z[k] for k in z.files}
    except FileNotFoundError:
        raise InputError("pose prior not found", path=path,
                         fix="rebuild it: .venv/bin/python smpl_assets/build_pose_prior.py") from None
    except Exception as e:
        raise InputError(f"unreadable pose prior ({type(e).__name__}: {e})", path=path) from None
    for k in ("means", "precision_chol", "component_const", "limit_lo", "limit_hi"):
        if k not in data:
            raise InputError(f"pose prior lacks '{k}'", path=path, fix="rebuild it with smpl_assets/build_pose_prior.py")
    return PosePrior(data, device)
