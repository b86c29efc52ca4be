"""Motion -> BVH of the SMPL skeleton (the body's own rest offsets), which re-imports to the same motion.

The BVH is Y-up (the format's usual convention), the root has 6 channels whose position is the
pelvis's world position (its OFFSET is 0), every other joint has 3 rotation channels in ZYX order,
and SMPL's leaf joints (head, hands, feet) get End Sites one parent-bone's direction further.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from neural_render.body.skeletons import SMPL_JOINT_NAMES, SMPL_PARENTS
from neural_render.motion import rotations as rot
from neural_render.motion.bvh import BVH, write_bvh
from neural_render.motion.source_skeleton import UNITS

ROT_CHANNELS = ["Zrotation", "Yrotation", "Xrotation"]
END_LENGTH = {"head": 0.15, "left_hand": 0.08, "right_hand": 0.08, "left_foot": 0.05, "right_foot": 0.05}


def motion_to_bvh(motion, body, unit: str = "m") -> BVH:
    """The BVH structure of `motion` on `body` (lengths in `unit`)."""
    if unit not in UNITS:
        raise ValueError(f"unknown unit {unit!r}; use one of {', '.join(UNITS)}")
    k = 1.0 / UNITS[unit]
    if motion.up != "y":
        motion = motion.with_up("y", body=body)
    rest = body.rest_joints(motion.betas).astype(np.float64)
    names, parents, offsets, channels, is_end = [], [], [], [], []
    smpl_to_bvh = {}
    children = {j: [c for c in range(24) if SMPL_PARENTS[c] == j] for j in range(24)}

    def add(j: int, parent_row: int) -> None:
        row = len(names)
        smpl_to_bvh[j] = row
        names.append(SMPL_JOINT_NAMES[j])
        parents.append(parent_row)
        offsets.append(np.zeros(3) if j == 0 else (rest[j] - rest[SMPL_PARENTS[j]]) * k)
        channels.append((["Xposition", "Yposition", "Zposition"] if j == 0 else []) + ROT_CHANNELS)
        is_end.append(False)
        for c in children[j]:
            add(c, row)
        if not children[j]:
            d = rest[j] - rest[SMPL_PARENTS[j]]
            d = d / max(np.linalg.norm(d), 1e-9)
            names.append(SMPL_JOINT_NAMES[j] + "_end")
            parents.append(row)
            offsets.append(d * END_LENGTH.get(SMPL_JOINT_NAMES[j], 0.05) * k)
            channels.append([])
            is_end.append(True)

    add(0, -1)
    T = motion.num_frames
    R = rot.aa_to_matrix(motion.poses.reshape(T, 24, 3).astype(np.float64))
    eul = np.degrees(rot.matrix_to_euler(R, "ZYX"))   # (T, 24, 3) in channel order Z, Y, X
    # Channel columns follow the joint order of the file.
    cols = []
    order = sorted(smpl_to_bvh, key=lambda j: smpl_to_bvh[j])
    root_pos = (motion.trans.astype(np.float64) + rest[0][None]) * k
    for j in order:
        if j == 0:
            cols.append(root_pos)
        cols.append(eul[:, j])
    frames = np.concatenate(cols, axis=1)
    return BVH(names=names, parents=np.array(parents), offsets=np.array(offsets), channels=channels,
               is_end=np.array(is_end), frame_time=1.0 / motion.fps, frames=frames)


def save_bvh(motion, path: str | Path, body, unit: str = "m", precision: int = 6) -> Path:
    """Write `motion` as a BVH of the SMPL skeleton (atomically)."""
    return write_bvh(path, motion_to_bvh(motion, body, unit), precision)
