"""SMPL-H's 52-joint hand layout of a body (a leaf: `model` and `hand_files` both build on it)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from neural_render.body.skeletons import SMPLH_PARENTS

# SMPL-H joints whose mean is SMPL's "hand" joint (22 left, 23 right): the index, middle, little
# and ring knuckles (the default body places SMPL's hand joint there).
SMPL_HAND_FROM_KNUCKLES = {22: (22, 25, 28, 31), 23: (37, 40, 43, 46)}


@dataclass
class HandLayout:
    """SMPL-H's 52-joint layout of a body (same vertices, faces and shape space as the body).

    v_template may differ from the body's at the hands only (the default body's is the flat hand
    SMPL-H poses start from); hands_mean (90,) is the default hand pose (left 45, right 45) for
    motions without hands."""

    v_template: np.ndarray         # (V, 3)
    J_regressor: np.ndarray        # (52, V)
    weights: np.ndarray            # (V, 52)
    hands_mean: np.ndarray         # (90,)
    posedirs: np.ndarray | None = None  # (V, 3, 459)
    parents: np.ndarray = field(default_factory=lambda: SMPLH_PARENTS.copy())
    source_layout: str = "smplh"   # "smplh" or "smplx" (jaw and eyes folded into the head)
