import os
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]

# Fuzz tests draw the same examples on every run ("ci", the default), so a red CI is reproducible
# and never a roll of the dice; HYPOTHESIS_PROFILE=explore draws new ones (and more of them).
try:
    from hypothesis import settings as _hyp_settings

    _hyp_settings.register_profile("ci", derandomize=True, database=None)
    _hyp_settings.register_profile("explore", max_examples=500)
    _hyp_settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
except ImportError:  # hypothesis is a dev extra
    pass
SHARED_DATA = Path(os.environ.get("NEURAL_RENDER_SHARED_DATA", ROOT.parent / "shared" / "data"))


def random_joint_tree(rng, parents, num_vertices: int, bone_sd: float, vertex_sd: float):
    """A random skeleton and point cloud around it, for synthetic body files: joints grown from
    the root along `parents` (each offset N(0, bone_sd) m per axis), each vertex owned by a random
    joint and scattered N(0, vertex_sd) m around it, and a joint regressor that averages each
    joint's vertices. Returns (joints (J, 3), owner (V,), vertices (V, 3), J_regressor (J, V))."""
    J = len(parents)
    joints = np.zeros((J, 3))
    for j in range(1, J):
        joints[j] = joints[parents[j]] + rng.normal(0, bone_sd, 3)
    owner = rng.integers(0, J, num_vertices)
    v = joints[owner] + rng.normal(0, vertex_sd, (num_vertices, 3))
    J_reg = np.zeros((J, num_vertices))
    for j in range(J):
        idx = np.flatnonzero(owner == j)
        J_reg[j, idx] = 1.0 / max(len(idx), 1)
    return joints, owner, v, J_reg


def synthetic_smpl_arrays(seed: int = 0, num_vertices: int = 6890) -> dict:
    """A random but structurally valid SMPL-format model (same keys, shapes and tree as SMPL)."""
    rng = np.random.default_rng(seed)
    from neural_render.body.skeletons import SMPL_PARENTS

    V = num_vertices
    joints, owner, v, J_reg = random_joint_tree(rng, SMPL_PARENTS, V, 0.1, 0.03)
    w = np.exp(rng.normal(0, 1, (V, 24)) + 6 * np.eye(24)[owner])
    w /= w.sum(1, keepdims=True)
    kintree = np.stack([SMPL_PARENTS, np.arange(24)]).astype(np.int64)
    kintree[0, 0] = 4294967295  # as in the official files
    return {
        "v_template": v - J_reg[0] @ v,
        "f": rng.integers(0, V, (2 * V, 3)).astype(np.uint32),
        "J_regressor": J_reg, "weights": w, "kintree_table": kintree,
        "shapedirs": rng.normal(0, 0.01, (V, 3, 10)), "posedirs": rng.normal(0, 0.001, (V, 3, 207)),
    }


@pytest.fixture
def synthetic_smpl():
    return synthetic_smpl_arrays()


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip(f"shared test data not found at {SHARED_DATA}")
    return SHARED_DATA
