"""Joint and keypoint definitions: SMPL's 24-joint tree, OpenPose BODY_25 and COCO-17.

These are facts of the formats, shared by the body, the motion importers and the passes.
"""

from __future__ import annotations

import numpy as np

SMPL_JOINT_NAMES: tuple[str, ...] = (
    "pelvis", "left_hip", "right_hip", "spine1", "left_knee", "right_knee", "spine2",
    "left_ankle", "right_ankle", "spine3", "left_foot", "right_foot", "neck", "left_collar",
    "right_collar", "head", "left_shoulder", "right_shoulder", "left_elbow", "right_elbow",
    "left_wrist", "right_wrist", "left_hand", "right_hand",
)
SMPL_PARENTS = np.array([-1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 12, 13, 14, 16, 17, 18, 19, 20, 21],
                        dtype=np.int64)
NUM_JOINTS = 24

BODY25_NAMES: tuple[str, ...] = (
    "Nose", "Neck", "RShoulder", "RElbow", "RWrist", "LShoulder", "LElbow", "LWrist", "MidHip",
    "RHip", "RKnee", "RAnkle", "LHip", "LKnee", "LAnkle", "REye", "LEye", "REar", "LEar",
    "LBigToe", "LSmallToe", "LHeel", "RBigToe", "RSmallToe", "RHeel",
)
# OpenPose's drawing order of limbs (pairs of keypoint indices).
BODY25_LIMBS: tuple[tuple[int, int], ...] = (
    (1, 8), (1, 2), (1, 5), (2, 3), (3, 4), (5, 6), (6, 7), (8, 9), (9, 10), (10, 11), (8, 12),
    (12, 13), (13, 14), (1, 0), (0, 15), (15, 17), (0, 16), (16, 18), (14, 19), (19, 20),
    (14, 21), (11, 22), (22, 23), (11, 24),
)

COCO17_NAMES: tuple[str, ...] = (
    "nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder", "right_shoulder",
    "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_hip", "right_hip",
    "left_knee", "right_knee", "left_ankle", "right_ankle",
)
# The skeleton of the COCO keypoint annotation file (0-based).
COCO17_LIMBS: tuple[tuple[int, int], ...] = (
    (15, 13), (13, 11), (16, 14), (14, 12), (11, 12), (5, 11), (6, 12), (5, 6), (5, 7), (6, 8),
    (7, 9), (8, 10), (1, 2), (0, 1), (0, 2), (1, 3), (2, 4), (3, 5), (4, 6),
)

# BODY_25 keypoints that coincide with an SMPL joint (the others come from surface vertices).
BODY25_FROM_SMPL_JOINT: dict[int, int] = {
    1: 12, 2: 17, 3: 19, 4: 21, 5: 16, 6: 18, 7: 20, 8: 0, 9: 2, 10: 5, 11: 8, 12: 1, 13: 4, 14: 7,
}
COCO17_FROM_BODY25: tuple[int, ...] = (0, 16, 15, 18, 17, 5, 2, 6, 3, 7, 4, 12, 9, 13, 10, 14, 11)

# --- COCO-WholeBody (133 keypoints): body 0-16 (COCO-17), feet 17-22, face 23-90 (68, iBUG
# order), left hand 91-111, right hand 112-132 (21 each: wrist, then 4 per finger from the base).
FEET6_NAMES: tuple[str, ...] = ("left_big_toe", "left_small_toe", "left_heel",
                                "right_big_toe", "right_small_toe", "right_heel")
FINGER_NAMES: tuple[str, ...] = ("thumb", "index", "middle", "ring", "pinky")
HAND21_NAMES: tuple[str, ...] = ("wrist",) + tuple(
    f"{f}{k}" for f in FINGER_NAMES for k in (("_cmc", "_mcp", "_ip", "_tip") if f == "thumb"
                                               else ("_mcp", "_pip", "_dip", "_tip")))
# Hand bones (pairs of the 21 hand points): each finger from the wrist outwards, thumb first.
HAND21_EDGES: tuple[tuple[int, int], ...] = tuple(
    (0 if k == 0 else 1 + 4 * f + k - 1, 1 + 4 * f + k) for f in range(5) for k in range(4))
WHOLEBODY_NAMES: tuple[str, ...] = (COCO17_NAMES + FEET6_NAMES + tuple(f"face_{i}" for i in range(68))
                                    + tuple(f"left_hand_{n}" for n in HAND21_NAMES)
                                    + tuple(f"right_hand_{n}" for n in HAND21_NAMES))
WB_FEET, WB_FACE, WB_LHAND, WB_RHAND = 17, 23, 91, 112
# BODY_25 index of each COCO-WholeBody foot point.
WHOLEBODY_FEET_FROM_BODY25: tuple[int, ...] = (19, 20, 21, 22, 23, 24)
# OpenPose COCO-18 (the body part of DWPose's drawing) from COCO-WholeBody; -1 = neck, which
# DWPose places midway between the shoulders.
OPENPOSE18_FROM_WHOLEBODY: tuple[int, ...] = (0, -1, 6, 8, 10, 5, 7, 9, 12, 14, 16, 11, 13, 15, 2, 1, 4, 3)

# --- SMPL-H's 52 joints: SMPL's first 22, then 15 finger joints per hand (left, then right) in
# MANO's finger order, 3 joints per finger from the knuckle outwards.
MANO_FINGERS: tuple[str, ...] = ("index", "middle", "pinky", "ring", "thumb")
SMPLH_JOINT_NAMES: tuple[str, ...] = SMPL_JOINT_NAMES[:22] + tuple(
    f"{side}_{f}{k}" for side in ("left", "right") for f in MANO_FINGERS for k in (1, 2, 3))
SMPLH_PARENTS = np.array(list(SMPL_PARENTS[:22]) + [
    (20 if side == 0 else 21) if k == 0 else 22 + 15 * side + 3 * f + k - 1
    for side in range(2) for f in range(5) for k in range(3)], dtype=np.int64)
NUM_JOINTS_SMPLH = 52
NUM_HAND_POSE = 45  # axis-angle values per hand (15 joints x 3)

# Vertex ids of the SMPL-family meshes' surface keypoints (the smplx package's vertex selector):
# SMPL / SMPL-H share SMPL's 6,890-vertex topology; SMPL-X has 10,475 vertices.
TOPOLOGY_VERTEX_IDS: dict[int, dict[str, int]] = {
    6890: {"nose": 332, "reye": 6260, "leye": 2800, "rear": 4071, "lear": 583, "rthumb": 6191, "rindex": 5782,
           "rmiddle": 5905, "rring": 6016, "rpinky": 6133, "lthumb": 2746, "lindex": 2319, "lmiddle": 2445,
           "lring": 2556, "lpinky": 2673, "LBigToe": 3216, "LSmallToe": 3226, "LHeel": 3387, "RBigToe": 6617,
           "RSmallToe": 6624, "RHeel": 6787},
    10475: {"nose": 9120, "reye": 9929, "leye": 9448, "rear": 616, "lear": 6, "rthumb": 8079, "rindex": 7669,
            "rmiddle": 7794, "rring": 7905, "rpinky": 8022, "lthumb": 5361, "lindex": 4933, "lmiddle": 5058,
            "lring": 5169, "lpinky": 5286, "LBigToe": 5770, "LSmallToe": 5780, "LHeel": 8846, "RBigToe": 8463,
            "RSmallToe": 8474, "RHeel": 8635},
}
# BODY_25 index of each named surface keypoint.
BODY25_FROM_VERTEX_NAME = {"nose": 0, "reye": 15, "leye": 16, "rear": 17, "lear": 18, "LBigToe": 19, "LSmallToe": 20,
                           "LHeel": 21, "RBigToe": 22, "RSmallToe": 23, "RHeel": 24}
