"""Hand landmarks (MediaPipe's 21 per hand) -> SMPL-H finger rotations, with joint limits.

The landmarks (x, y pixels and MediaPipe's relative depth z, in x's scale: a right-handed camera
frame up to scale) fix each finger bone's direction in the hand's own frame (wrist -> middle
knuckle, index -> little knuckle, their normal), which does not depend on the camera or on the
wrist's orientation. Per finger, from the knuckle outwards, each bone's direction is expressed in
its parent bone's frame and turned into a flexion angle (toward the palm) and, at the knuckles,
an abduction angle (sideways in the palm's plane); these are clamped to the joint limits below
(the middle and end joints are hinges: no abduction) and turned back into the rotation of the
body's flat-hand bone, so the result is always an anatomically possible hand. The rotations are
relative to the body's flat hand (SMPL-H / AMASS hand poses), in the body's world-aligned rest axes.

Landmark order (MediaPipe = OpenPose = COCO-WholeBody hands): 0 wrist, 1-4 thumb (CMC, MCP, IP,
tip), 5-8 index (MCP, PIP, DIP, tip), 9-12 middle, 13-16 ring, 17-20 little.
"""

from __future__ import annotations

import numpy as np

from neural_render.body.skeletons import MANO_FINGERS

HAND21_FINGERS = ("thumb", "index", "middle", "ring", "pinky")
# Joint limits in degrees: (flexion min, flexion max, abduction max) per finger joint 1..3.
LIMITS = {
    "thumb": ((-30.0, 70.0, 45.0), (-15.0, 75.0, 0.0), (-15.0, 90.0, 0.0)),
    "finger": ((-25.0, 95.0, 25.0), (0.0, 115.0, 0.0), (-5.0, 95.0, 0.0)),
}


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), 1e-12)


def hand_frame(points: np.ndarray, side: int) -> np.ndarray:
    """(3, 3) rows = (along: wrist -> middle knuckle, across: little -> index knuckle, back of the
    hand) from 21 hand points (21, 3); side 0 = left, 1 = right (the back normal's sign)."""
    along = _unit(points[9] - points[0])
    across = points[5] - points[17]
    across = _unit(across - (across @ along) * along)
    back = np.cross(along, across) * (-1.0 if side == 0 else 1.0)
    return np.stack([along, across, back])


def body_hand_points(body, betas=None) -> np.ndarray:
    """(2, 21, 3) the body's flat-hand points (wrist, joints, tips), model space."""
    from neural_render.motion.finger_retarget import body_flat_hand

    J, tips = body_flat_hand(body, betas)
    out = np.zeros((2, 21, 3))
    for s in range(2):
        out[s, 0] = J[20 + s]
        for f_i, f in enumerate(HAND21_FINGERS):
            m = MANO_FINGERS.index(f)
            for k in range(3):
                out[s, 1 + 4 * f_i + k] = J[22 + 15 * s + 3 * m + k]
            out[s, 4 + 4 * f_i] = tips[5 * s + m]
    return out


def _rot(axis: np.ndarray, angle: float) -> np.ndarray:
    axis = _unit(axis)
    K = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
    return np.eye(3) + np.sin(angle) * K + (1 - np.cos(angle)) * K @ K


def _rotvec(R: np.ndarray) -> np.ndarray:
    from neural_render.motion import rotations as rot

    return rot.matrix_to_aa(R)


def fit_hand(points: np.ndarray, rest: np.ndarray, side: int) -> tuple[np.ndarray, dict]:
    """Local finger rotations (15, 3) axis-angle (MANO order, model axes) for one hand.

    points: (21, 3) landmarks (any right-handed frame and scale); rest: (21, 3) the body's flat hand.
    Returns (rotations, info with the clamped amount in degrees)."""
    Fs = hand_frame(points, side)   # source frame rows, in source coordinates
    Fb = hand_frame(rest, side)     # body frame rows, in model coordinates
    out = np.zeros((15, 3))
    clamped = 0.0
    for f_i, f in enumerate(HAND21_FINGERS):
        m = MANO_FINGERS.index(f)
        lim = LIMITS["thumb" if f == "thumb" else "finger"]
        idx = [0] + [1 + 4 * f_i + k for k in range(4)]  # wrist, 3 joints, tip
        G_parent = np.eye(3)                               # hand-coordinate rotation of the parent bone
        for k in range(3):
            a, b = idx[k + 1], idx[k + 2]
            r = Fb @ (rest[b] - rest[a])                   # rest bone in hand coordinates
            t = Fs @ (points[b] - points[a])               # wanted bone in hand coordinates
            if not (np.all(np.isfinite(t)) and np.linalg.norm(t) > 1e-9):
                continue                                   # no evidence: straight on its parent
            # The joint's frame, following the parent bone: e1 = the bone's unbent direction,
            # e2 = toward the palm, e3 = sideways.
            e1 = G_parent @ _unit(r)
            palm = G_parent @ np.array([0.0, 0.0, -1.0])
            e2 = _unit(palm - (palm @ e1) * e1)
            e3 = np.cross(e1, e2)
            tu = _unit(t)
            flex = np.degrees(np.arctan2(tu @ e2, tu @ e1))
            abd = np.degrees(np.arctan2(tu @ e3, np.hypot(tu @ e1, tu @ e2)))
            lo, hi, amax = lim[k]
            fc, ac = float(np.clip(flex, lo, hi)), float(np.clip(abd, -amax, amax))
            clamped = max(clamped, abs(fc - flex), abs(ac - abd))
            d = np.cos(np.radians(fc)) * e1 + np.sin(np.radians(fc)) * e2
            d = np.cos(np.radians(ac)) * d + np.sin(np.radians(ac)) * e3
            G = _swing(e1, d) @ G_parent                   # this bone's rotation, hand coordinates
            local = G_parent.T @ G                         # relative to the parent bone
            out[3 * m + k] = _rotvec(Fb.T @ local @ Fb)    # in the body's model axes
            G_parent = G
    return out, {"clamped_deg": round(clamped, 2)}


def _swing(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Smallest rotation taking unit a onto unit b."""
    axis = np.cross(a, b)
    s, c = np.linalg.norm(axis), float(a @ b)
    if s < 1e-12:
        return np.eye(3) if c > 0 else _rot(np.array([1.0, 0, 0]) if abs(a[0]) < 0.9 else np.array([0, 1.0, 0]), np.pi)
    return _rot(axis / s, np.arctan2(s, c))


def fit_hand_poses(landmarks: np.ndarray, body, betas=None) -> tuple[np.ndarray, np.ndarray]:
    """(T, 90) hand poses and (T, 2) found flags from landmarks (T, 2, 21, 3) (left, right; NaN or
    all-zero = hand not found: that hand takes the body's relaxed default there)."""
    L = np.asarray(landmarks, np.float64)
    T = L.shape[0]
    rest = body_hand_points(body, betas)
    mean = np.asarray(body.hands.hands_mean, np.float64).reshape(2, 45)
    out = np.tile(mean.reshape(1, 90), (T, 1))
    found = np.zeros((T, 2), bool)
    for t in range(T):
        for s in range(2):
            p = L[t, s]
            if not np.all(np.isfinite(p)) or not np.any(p):
                continue
            rots, _ = fit_hand(p, rest[s], s)
            out[t, 45 * s:45 * s + 45] = rots.reshape(45)
            found[t, s] = True
    return out.astype(np.float32), found
