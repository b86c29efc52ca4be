"""SMPL / SMPL-H / SMPL-X pose vectors -> SMPL's 72 values and the 90 hand values (a numpy leaf
that `motion.motion` and `smpl_params` both use)."""

from __future__ import annotations

import numpy as np

from neural_render.errors import InputError

# SMPL-H/X hand joint order per hand: index1..3, middle1..3, pinky1..3, ring1..3, thumb1..3.
HAND_MIDDLE1 = 3


def body_poses_from_full(poses: np.ndarray, path="", hands: str = "middle") -> np.ndarray:
    """(T, D) SMPL (72), SMPL-H (156) or SMPL-X (165/162) axis-angle -> SMPL (T, 72)."""
    T, D = poses.shape
    if D == 72:
        return poses.copy()
    if D == 66:  # body only (root + 21)
        return np.concatenate([poses, np.zeros((T, 6))], 1)
    if D == 156:        # SMPL-H: 22 body + 15 left hand + 15 right hand
        lh, rh = 66, 66 + 45
    elif D in (165, 162):  # SMPL-X: 22 body + jaw + (2 eyes) + hands
        lh = 66 + (9 if D == 165 else 6)
        rh = lh + 45
    else:
        raise InputError(f"poses has {D} values per frame; expected 72 (SMPL), 156 (SMPL-H) or 165 (SMPL-X)",
                         path=path)
    out = np.zeros((T, 72))
    out[:, :66] = poses[:, :66]
    if hands == "middle":
        out[:, 66:69] = poses[:, lh + 3 * HAND_MIDDLE1: lh + 3 * HAND_MIDDLE1 + 3]
        out[:, 69:72] = poses[:, rh + 3 * HAND_MIDDLE1: rh + 3 * HAND_MIDDLE1 + 3]
    return out


def hand_poses_from_full(poses: np.ndarray) -> np.ndarray | None:
    """(T, 90) hand poses (left 45, right 45, MANO order) from SMPL-H (156) or SMPL-X (165/162)
    poses; None for SMPL (72) or body-only (66) poses, or when every hand value is zero (a file
    that carries no hand motion)."""
    T, D = poses.shape
    if D == 156:
        lh = 66
    elif D in (165, 162):
        lh = 66 + (9 if D == 165 else 6)
    else:
        return None
    hands = np.asarray(poses[:, lh:lh + 90], np.float32)
    return hands if np.any(hands) else None
