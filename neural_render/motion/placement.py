"""Put a motion where a person stands: start at their spot, facing their way, on their floor.

`place_motion(motion, body, betas, pelvis_xy, heading, ground_z)` returns the motion (up="z") worn by
a body of shape `betas`, turned about the vertical so its first frame faces `heading` (a horizontal
direction), moved so its first pelvis stands at `pelvis_xy`, and lifted so its lowest point over
the clip touches `ground_z`. The root path keeps its shape (turned with the body): a walk walks
away from the spot in the direction the person faces relative to its own start.
"""

from __future__ import annotations

import numpy as np

from neural_render.motion.rotations import axis_rotation


def _yaw(direction: np.ndarray) -> float:
    return float(np.arctan2(direction[1], direction[0]))


def lowest_point(body, motion, stride: int = 4, chunk: int = 128) -> float:
    """Lowest vertex height (z, metres) over the clip (every `stride`-th frame)."""
    lo = np.inf
    idx = np.arange(0, motion.num_frames, max(1, stride))
    for s in range(0, len(idx), chunk):
        f = idx[s:s + chunk]
        v = body.forward(motion.poses[f], motion.betas, motion.trans[f], keypoints=False).vertices
        lo = min(lo, float(v[..., 2].min()))
    return lo


def place_motion(motion, body, betas: np.ndarray, pelvis_xy: np.ndarray, heading: np.ndarray,
                 ground_z: float):
    """See the module docstring. Returns (placed Motion, dict of what was done)."""
    from neural_render.passes.camera import facing_direction

    m = motion.with_up("z", body=body) if motion.up != "z" else motion.copy()
    nb = body.num_betas
    b = np.zeros(nb, np.float32)
    b[:min(nb, len(betas))] = np.asarray(betas, np.float32)[:nb]
    m = m.copy(betas=b)
    J0 = m.copy(poses=m.poses[:1], trans=m.trans[:1]).joints(body)
    src = facing_direction(J0)
    angle = _yaw(np.asarray(heading, np.float64)) - _yaw(src)
    m = m.rotate_world(axis_rotation("Z", angle), body=body)
    pelvis = body.rest_joints(m.betas)[0]
    start = m.root_positions(pelvis)[0]
    shift = np.array([pelvis_xy[0] - start[0], pelvis_xy[1] - start[1], 0.0], np.float32)
    m = m.copy(trans=m.trans + shift)
    lift = float(ground_z) - lowest_point(body, m)
    m = m.copy(trans=m.trans + np.array([0, 0, lift], np.float32))
    return m, {"turned_deg": round(float(np.degrees(angle)), 2), "moved_m": np.round(shift[:2], 4).tolist(),
               "lifted_m": round(lift, 4)}


# Two poses closer than this (mean SMPL joint distance after the best rigid alignment, metres) are
# taken as the same moment: the photo is the motion's first frame (e.g. a video's first frame).
SAME_POSE_M = 0.10


def rigid_fit(P: np.ndarray, Q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(R (3, 3), t (3,)) minimising sum |R P_i + t - Q_i|^2 (Kabsch; proper rotation) for (N, 3) points."""
    P, Q = np.asarray(P, np.float64), np.asarray(Q, np.float64)
    pc, qc = P.mean(0), Q.mean(0)
    U, _, Vt = np.linalg.svd((P - pc).T @ (Q - qc))
    d = np.sign(np.linalg.det(Vt.T @ U.T))
    R = Vt.T @ np.diag([1.0, 1.0, d]) @ U.T
    return R, qc - R @ pc


def anchor_motion(motion, body, betas: np.ndarray, joints0: np.ndarray):
    """The motion (up="z") worn by a body of shape `betas`, moved rigidly (any rotation, no floor
    constraint) so its first frame's 24 joints best match `joints0` (24, 3): when the photo is the
    motion's first moment, the first frame lands on the photo's body and the rest follows, tilts of
    the photo's world included. Returns (Motion, info) with the mean joint distance after the fit."""
    m = motion.with_up("z", body=body) if motion.up != "z" else motion.copy()
    nb = body.num_betas
    b = np.zeros(nb, np.float32)
    b[:min(nb, len(betas))] = np.asarray(betas, np.float32)[:nb]
    m = m.copy(betas=b)
    J0 = m.copy(poses=m.poses[:1], trans=m.trans[:1]).joints(body)[0]
    R, _ = rigid_fit(J0, joints0)
    m = m.rotate_world(R.astype(np.float32), body=body)
    J1 = m.copy(poses=m.poses[:1], trans=m.trans[:1]).joints(body)[0]
    m = m.copy(trans=m.trans + (np.asarray(joints0).mean(0) - J1.mean(0)).astype(np.float32))
    J2 = m.copy(poses=m.poses[:1], trans=m.trans[:1]).joints(body)[0]
    dist = float(np.linalg.norm(J2 - joints0, axis=1).mean())
    angle = float(np.degrees(np.arccos(np.clip((np.trace(R) - 1) / 2, -1, 1))))
    return m, {"anchor": "rigid", "rotated_deg": round(angle, 2), "pose_distance_m": round(dist, 4)}
