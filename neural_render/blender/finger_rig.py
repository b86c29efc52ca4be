"""Finger bones for the Blender rig of a body with hands (numpy only; rig.py does the bpy side).

The rig keeps SMPL's 24 bones and adds SMPL-H's 30 finger bones (named as SMPL-H joints:
`left_index1` ...), each finger's first bone a child of SMPL's hand bone. The mesh stays the
24-joint body (relaxed rest hands) and only the hand bone's vertex weights are split over the
finger bones (in the proportions of the body's SMPL-H weights), so with the finger bones at rest
the rig deforms exactly as before - SMPL motions keep matching `BodyModel.forward` - and hand
poses curl the fingers.

Hand poses (AMASS SMPL-H, relative to the flat hand) become finger-bone rotations relative to
the relaxed rest: with rho the relaxed hand pose (`HandLayout.hands_mean`), theta the motion's,
and H_p the relaxed global rotation of a bone's parent finger joint (identity for a finger's
first bone), the model-space local rotation is L_j = H_p theta_j rho_j^T H_p^T (the identity for
theta = rho).
"""

from __future__ import annotations

import numpy as np

from neural_render.body.skeletons import SMPLH_JOINT_NAMES, SMPLH_PARENTS
from neural_render.motion.rotations import aa_to_matrix

FINGER_BONES: tuple[str, ...] = SMPLH_JOINT_NAMES[22:]   # 30 names, left hand's 15 then right's
HAND_BONE_OF_SIDE = (22, 23)                              # SMPL's left_hand / right_hand joints
FINGER_LEAF_LENGTH = 0.02                                 # metres, tip bones continue their parent's direction


def finger_parent(k: int) -> int:
    """Rig parent of finger bone k (0..29): a SMPL hand joint (22/23) or the finger bone index + 24."""
    p = int(SMPLH_PARENTS[22 + k])
    return HAND_BONE_OF_SIDE[k // 15] if p < 22 else 24 + (p - 22)


def rig_weights(body) -> np.ndarray:
    """(V, 54) vertex weights of the rig's bones: SMPL's 24 (hand joints reduced), then the 30
    finger bones, which take each hand joint's weight in the SMPL-H layout's proportions."""
    W24 = np.asarray(body.weights, np.float64)
    W52 = np.asarray(body.hands.weights, np.float64)
    out = np.zeros((W24.shape[0], 54))
    out[:, :24] = W24
    for side, (wrist, hand) in enumerate(((20, 22), (21, 23))):
        cols = list(range(22 + 15 * side, 37 + 15 * side))
        fingers = W52[:, cols]
        total = W52[:, wrist] + fingers.sum(1)
        frac = np.where((total > 1e-12)[:, None], fingers / np.maximum(total, 1e-12)[:, None], 0.0)
        moved = W24[:, hand][:, None] * frac
        out[:, 24 + 15 * side:39 + 15 * side] = moved
        out[:, hand] = W24[:, hand] - moved.sum(1)
    return np.clip(out, 0.0, None)


def finger_joint_basis(body) -> tuple[np.ndarray, np.ndarray]:
    """Finger joints of the rig's (relaxed) rest mesh, linear in beta: J_t (30, 3), J_dirs (30, 3, B)."""
    R = np.asarray(body.hands.J_regressor, np.float64)[22:]
    return R @ body.v_template, np.einsum("jv,vcb->jcb", R, body.shapedirs)


def finger_tails(heads: np.ndarray, hand_heads: np.ndarray) -> np.ndarray:
    """(30, 3) tails: toward the next joint of the finger; tips continue the last segment."""
    tails = np.empty_like(heads)
    for k in range(30):
        nxt = k + 1 if k % 3 != 2 else None
        if nxt is not None:
            tails[k] = heads[nxt]
        else:
            p = finger_parent(k)
            ph = hand_heads[p - 22] if p < 24 else heads[p - 24]
            d = heads[k] - ph
            tails[k] = heads[k] + FINGER_LEAF_LENGTH * d / max(np.linalg.norm(d), 1e-9)
    return tails


def finger_local_rotations(hand_poses: np.ndarray | None, hands_mean: np.ndarray, T: int) -> np.ndarray:
    """(T, 30, 3, 3) model-space local rotations of the finger bones relative to the relaxed rest
    (identity for motions without hand poses)."""
    if hand_poses is None:
        return np.broadcast_to(np.eye(3), (T, 30, 3, 3)).copy()
    theta = aa_to_matrix(np.asarray(hand_poses, np.float64).reshape(T, 30, 3))
    rho = aa_to_matrix(np.asarray(hands_mean, np.float64).reshape(30, 3))
    H = np.empty((30, 3, 3))  # relaxed global rotation of each finger joint (wrist = identity)
    for k in range(30):
        p = int(SMPLH_PARENTS[22 + k])
        H[k] = rho[k] if p < 22 else H[p - 22] @ rho[k]
    out = np.empty((T, 30, 3, 3))
    for k in range(30):
        p = int(SMPLH_PARENTS[22 + k])
        Hp = np.eye(3) if p < 22 else H[p - 22]
        out[:, k] = Hp @ theta[:, k] @ rho[k].T @ Hp.T
    return out
