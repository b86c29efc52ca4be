"""Helpers for the motion tests: a body to retarget onto, and the shared clips' paths."""

from __future__ import annotations

import numpy as np

from neural_render.body import body_from_arrays
from neural_render.body.skeletons import SMPL_PARENTS

# Approximate rest joints of SMPL's neutral body (Y-up, metres, facing +z): enough to give a
# human-proportioned skeleton when the default body asset is not built yet.
HUMAN_JOINTS = np.array([
    [0.0, -0.223, 0.028], [0.070, -0.314, 0.021], [-0.068, -0.314, 0.024], [-0.002, -0.109, -0.007],
    [0.104, -0.676, 0.017], [-0.106, -0.675, 0.011], [0.005, 0.035, 0.003], [0.092, -1.096, -0.028],
    [-0.092, -1.101, -0.029], [-0.002, 0.095, 0.026], [0.116, -1.156, 0.099], [-0.117, -1.157, 0.104],
    [-0.003, 0.312, -0.009], [0.077, 0.219, -0.017], [-0.078, 0.219, -0.015], [0.006, 0.395, 0.041],
    [0.172, 0.229, -0.020], [-0.173, 0.228, -0.012], [0.432, 0.215, -0.037], [-0.434, 0.214, -0.040],
    [0.690, 0.222, -0.040], [-0.690, 0.222, -0.042], [0.775, 0.212, -0.050], [-0.776, 0.212, -0.052],
])


def humanoid_arrays(seed: int = 0, per_joint: int = 40) -> dict:
    """An SMPL-format model whose joints sit at HUMAN_JOINTS (vertices are small clouds at them)."""
    rng = np.random.default_rng(seed)
    V = 24 * per_joint
    owner = np.repeat(np.arange(24), per_joint)
    v = HUMAN_JOINTS[owner] + rng.normal(0, 0.02, (V, 3))
    J_reg = np.zeros((24, V))
    for j in range(24):
        J_reg[j, owner == j] = 1.0 / per_joint
    v += (HUMAN_JOINTS - J_reg @ v)[owner]  # joints exactly at HUMAN_JOINTS
    w = np.eye(24)[owner]
    kintree = np.stack([SMPL_PARENTS, np.arange(24)]).astype(np.int64)
    return {"v_template": v, "f": rng.integers(0, V, (V, 3)), "J_regressor": J_reg, "weights": w,
            "kintree_table": kintree, "shapedirs": rng.normal(0, 0.01, (V, 3, 10)),
            "posedirs": np.zeros((V, 3, 207))}


def make_body():
    """The default body when it exists, else the humanoid stand-in."""
    try:
        from neural_render.body import load_body
        return load_body()
    except Exception:
        return body_from_arrays(humanoid_arrays(), "humanoid")
