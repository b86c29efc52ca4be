"""Motion -> BVH of the SMPL skeleton (the body's own rest offsets), which re-imports to the same motion.

The BVH is Y-up (the format's usual convention), the root has 6 channels whose position is the
pelvis's world position (its OFFSET is 0), every other joint has 3 rotation channels in ZYX order,
and SMPL's leaf joints (head, hands, feet) get End Sites one parent-bone's direction further.
A motion with hand poses on a body with hands also writes SMPL-H's 30 finger joints (named as
SMPL-H joints, children of the wrists, rest offsets of the body's flat hand), so the `smpl` bone
map re-imports the fingers.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from neural_render.body.skeletons import SMPL_JOINT_NAMES, SMPL_PARENTS, SMPLH_JOINT_NAMES, SMPLH_PARENTS
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
    fingers = motion.hand_poses is not None and getattr(body, "hands", None) is not None
    # Finger k (0..29) is joint 24 + k here; its SMPL-H parent is a wrist or finger 22 + x -> 24 + x.
    parents_all = list(SMPL_PARENTS) + ([int(p) if p < 22 else int(p) + 2 for p in SMPLH_PARENTS[22:]]
                                        if fingers else [])
    names_all = list(SMPL_JOINT_NAMES) + (list(SMPLH_JOINT_NAMES[22:]) if fingers else [])
    if fingers:  # finger joints: the flat hand's rest, placed at this body's wrists
        from neural_render.motion.finger_retarget import body_flat_hand

        Jh, tips = body_flat_hand(body, motion.betas)
        fr = np.array([Jh[22 + k] - Jh[20 + k // 15] + rest[20 + k // 15] for k in range(30)])
        rest = np.concatenate([rest, fr])
    n_all = len(names_all)
    names, parents, offsets, channels, is_end = [], [], [], [], []
    smpl_to_bvh = {}
    children = {j: [c for c in range(n_all) if c > 0 and parents_all[c] == j] for j in range(n_all)}

    def add(j: int, parent_row: int) -> None:
        row = len(names)
        smpl_to_bvh[j] = row
        names.append(names_all[j])
        parents.append(parent_row)
        offsets.append(np.zeros(3) if j == 0 else (rest[j] - rest[parents_all[j]]) * k)
        channels.append((["Xposition", "Yposition", "Zposition"] if j == 0 else []) + ROT_CHANNELS)
        is_end.append(False)
        for c in children[j]:
            add(c, row)
        if not children[j]:
            names.append(names_all[j] + "_end")
            parents.append(row)
            if j >= 24:  # a fingertip: the body's own (the finger's last bone points at it)
                offsets.append((tips[(j - 24) // 3] - Jh[22 + j - 24]) * k)
            else:
                d = rest[j] - rest[parents_all[j]]
                d = d / max(np.linalg.norm(d), 1e-9)
                offsets.append(d * END_LENGTH.get(names_all[j], 0.05) * k)
            channels.append([])
            is_end.append(True)

    add(0, -1)
    T = motion.num_frames
    aa = motion.poses.reshape(T, 24, 3).astype(np.float64)
    if fingers:
        aa = np.concatenate([aa, motion.hand_poses.reshape(T, 30, 3).astype(np.float64)], 1)
    R = rot.aa_to_matrix(aa)
    eul = np.degrees(rot.matrix_to_euler(R, "ZYX"))   # (T, J, 3) in channel order Z, Y, X
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
