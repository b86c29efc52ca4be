"""Frames whose fitted 3D is implausible even where the 2D reprojects well.

A monocular fit can match every keypoint in its own image with the wrong depth; these checks look
at the 3D alone:
  pose_prior    the pose prior's negative log-likelihood above PRIOR_NLL_MAX (the held-out AIST++
                sample the prior never saw scores at most ~153; the prior's mean pose ~18)
  joint_limits  squared excess over the prior's joint limits above LIMIT_MAX rad^2 (that sample:
                at most ~0.66)
  depth_jump    the pelvis moving faster than PELVIS_SPEED_MAX m/s along a camera's viewing ray,
                or a joint faster than JOINT_SPEED_MAX m/s relative to the pelvis, between
                consecutive frames (monocular fits jump in depth where 2D cannot tell)
Each is a (T,) bool array; `neural_render.motion.fit` reports them as `implausible` (summary and
fit_report.json) without excluding the frames from anything.
"""

from __future__ import annotations

import numpy as np

PRIOR_NLL_MAX = 250.0
LIMIT_MAX = 1.0
PELVIS_SPEED_MAX = 3.0   # m/s along the viewing ray (a sprint start is ~3 m/s forward)
JOINT_SPEED_MAX = 12.0   # m/s relative to the pelvis (a fast punch or kick peaks around 10 m/s)


def implausible_frames(prior_nll: np.ndarray, limit_penalty: np.ndarray, joints: np.ndarray, fps: float,
                       camera_centres: list[np.ndarray] | None = None, temporal: bool = True) -> dict[str, np.ndarray]:
    """prior_nll, limit_penalty: (T,); joints: (T, 24, 3) world metres; camera_centres: world positions."""
    T = len(joints)
    out = {"pose_prior": np.asarray(prior_nll) > PRIOR_NLL_MAX,
           "joint_limits": np.asarray(limit_penalty) > LIMIT_MAX,
           "depth_jump": np.zeros(T, bool)}
    if temporal and T >= 2 and fps > 0:
        pel = joints[:, 0]
        step = np.diff(pel, axis=0)
        jump = np.zeros(T - 1, bool)
        for c in camera_centres or []:
            ray = pel[:-1] - np.asarray(c)
            ray /= np.maximum(np.linalg.norm(ray, axis=-1, keepdims=True), 1e-9)
            jump |= np.abs((step * ray).sum(-1)) * fps > PELVIS_SPEED_MAX
        rel = joints - pel[:, None]
        jump |= (np.linalg.norm(np.diff(rel, axis=0), axis=-1).max(-1) * fps) > JOINT_SPEED_MAX
        out["depth_jump"][1:] |= jump
        out["depth_jump"][:-1] |= jump
    return out
