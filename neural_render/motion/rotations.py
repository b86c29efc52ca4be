"""Rotation helpers in numpy: axis-angle, matrices, quaternions (w, x, y, z), Euler angles, slerp.

Shapes are batched over leading axes: axis-angle (..., 3) radians, matrices (..., 3, 3),
quaternions (..., 4) scalar first. Only numpy (this runs inside Blender's Python).

This module and its torch twin `rotations_torch` are the only homes of rotation conversions in
the package (body LBS, fitting, retargeting, the Blender rig and dataset sampling all call them);
`tests/test_rotations_roundtrip.py` checks every conversion round-trips, near 0 and pi included.
It imports nothing from the package, so `body/` can use it without an import cycle.
"""

from __future__ import annotations

import numpy as np

_AXIS = {"X": 0, "Y": 1, "Z": 2}


def rodrigues(axis_angle: np.ndarray) -> np.ndarray:
    """Axis-angle (..., 3) radians -> rotation matrices (..., 3, 3), in the input's float dtype."""
    aa = np.asarray(axis_angle)
    angle = np.linalg.norm(aa, axis=-1, keepdims=True)
    axis = aa / np.maximum(angle, 1e-12)
    x, y, z = axis[..., 0], axis[..., 1], axis[..., 2]
    zero = np.zeros_like(x)
    K = np.stack([zero, -z, y, z, zero, -x, -y, x, zero], axis=-1).reshape(aa.shape[:-1] + (3, 3))
    s = np.sin(angle)[..., None]
    c = np.cos(angle)[..., None]
    eye = np.eye(3, dtype=aa.dtype)
    return eye + s * K + (1 - c) * (K @ K)


def aa_to_matrix(aa: np.ndarray) -> np.ndarray:
    """Axis-angle (..., 3) radians -> rotation matrices (..., 3, 3) (Rodrigues), float64."""
    return rodrigues(np.asarray(aa, np.float64))


def matrix_to_quat(R: np.ndarray) -> np.ndarray:
    """Rotation matrices (..., 3, 3) -> unit quaternions (..., 4), w >= 0 (Shepperd's method)."""
    R = np.asarray(R, np.float64)
    m = R.reshape(-1, 3, 3)
    tr = m[:, 0, 0] + m[:, 1, 1] + m[:, 2, 2]
    # Pick, per matrix, the numerically largest of 4w^2, 4x^2, 4y^2, 4z^2 to divide by.
    cand = np.stack([tr, m[:, 0, 0], m[:, 1, 1], m[:, 2, 2]], axis=1)
    k = np.argmax(cand, axis=1)
    q = np.empty((m.shape[0], 4))
    i = k == 0
    s = np.sqrt(np.maximum(tr[i] + 1.0, 1e-12)) * 2
    q[i] = np.stack([0.25 * s, (m[i, 2, 1] - m[i, 1, 2]) / s, (m[i, 0, 2] - m[i, 2, 0]) / s,
                     (m[i, 1, 0] - m[i, 0, 1]) / s], 1)
    i = k == 1
    s = np.sqrt(np.maximum(1.0 + m[i, 0, 0] - m[i, 1, 1] - m[i, 2, 2], 1e-12)) * 2
    q[i] = np.stack([(m[i, 2, 1] - m[i, 1, 2]) / s, 0.25 * s, (m[i, 0, 1] + m[i, 1, 0]) / s,
                     (m[i, 0, 2] + m[i, 2, 0]) / s], 1)
    i = k == 2
    s = np.sqrt(np.maximum(1.0 + m[i, 1, 1] - m[i, 0, 0] - m[i, 2, 2], 1e-12)) * 2
    q[i] = np.stack([(m[i, 0, 2] - m[i, 2, 0]) / s, (m[i, 0, 1] + m[i, 1, 0]) / s, 0.25 * s,
                     (m[i, 1, 2] + m[i, 2, 1]) / s], 1)
    i = k == 3
    s = np.sqrt(np.maximum(1.0 + m[i, 2, 2] - m[i, 0, 0] - m[i, 1, 1], 1e-12)) * 2
    q[i] = np.stack([(m[i, 1, 0] - m[i, 0, 1]) / s, (m[i, 0, 2] + m[i, 2, 0]) / s,
                     (m[i, 1, 2] + m[i, 2, 1]) / s, 0.25 * s], 1)
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    q[q[:, 0] < 0] *= -1
    return q.reshape(R.shape[:-2] + (4,))


def quat_to_matrix(q: np.ndarray) -> np.ndarray:
    """Quaternions (..., 4) (w, x, y, z), any norm > 0 -> rotation matrices (..., 3, 3)."""
    q = np.asarray(q, np.float64)
    q = q / np.maximum(np.linalg.norm(q, axis=-1, keepdims=True), 1e-12)
    w, x, y, z = q[..., 0], q[..., 1], q[..., 2], q[..., 3]
    R = np.stack([
        1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y),
        2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x),
        2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)], axis=-1)
    return R.reshape(q.shape[:-1] + (3, 3))


def quat_to_aa(q: np.ndarray) -> np.ndarray:
    """Quaternions (..., 4) -> axis-angle (..., 3) with angle in [0, pi]."""
    q = np.asarray(q, np.float64)
    q = q / np.maximum(np.linalg.norm(q, axis=-1, keepdims=True), 1e-12)
    q = np.where(q[..., :1] < 0, -q, q)
    v = q[..., 1:]
    s = np.linalg.norm(v, axis=-1, keepdims=True)
    angle = 2 * np.arctan2(s, q[..., :1])
    # angle / sin(angle/2) -> 2 as the angle -> 0; keep it finite.
    scale = np.where(s > 1e-8, angle / np.maximum(s, 1e-12), 2.0)
    return v * scale


def aa_to_quat(aa: np.ndarray) -> np.ndarray:
    """Axis-angle (..., 3) -> quaternions (..., 4)."""
    aa = np.asarray(aa, np.float64)
    angle = np.linalg.norm(aa, axis=-1, keepdims=True)
    axis = aa / np.maximum(angle, 1e-12)
    return np.concatenate([np.cos(angle / 2), axis * np.sin(angle / 2)], axis=-1)


def matrix_to_aa(R: np.ndarray) -> np.ndarray:
    """Rotation matrices (..., 3, 3) -> axis-angle (..., 3) (through quaternions: stable near pi)."""
    return quat_to_aa(matrix_to_quat(R))


def quat_continuous(q: np.ndarray, axis: int = 0) -> np.ndarray:
    """Flip signs along `axis` (time) so consecutive quaternions lie in the same hemisphere."""
    q = np.moveaxis(np.array(q, np.float64), axis, 0)
    for t in range(1, q.shape[0]):
        flip = np.sum(q[t] * q[t - 1], axis=-1) < 0
        q[t][flip] *= -1
    return np.moveaxis(q, 0, axis)


def slerp(q0: np.ndarray, q1: np.ndarray, t: np.ndarray | float) -> np.ndarray:
    """Spherical interpolation between quaternions (..., 4) at fraction t (broadcast to (...))."""
    q0 = np.asarray(q0, np.float64)
    q1 = np.asarray(q1, np.float64)
    t = np.asarray(t, np.float64)[..., None]
    dot = np.sum(q0 * q1, axis=-1, keepdims=True)
    q1 = np.where(dot < 0, -q1, q1)  # shortest path
    dot = np.abs(dot)
    theta = np.arccos(np.clip(dot, -1.0, 1.0))
    sin = np.sin(theta)
    small = sin < 1e-6
    w0 = np.where(small, 1 - t, np.sin((1 - t) * theta) / np.where(small, 1, sin))
    w1 = np.where(small, t, np.sin(t * theta) / np.where(small, 1, sin))
    q = w0 * q0 + w1 * q1
    return q / np.linalg.norm(q, axis=-1, keepdims=True)


def axis_rotation(axis: str, angle: np.ndarray) -> np.ndarray:
    """Rotation matrices (..., 3, 3) about one of the axes 'X', 'Y', 'Z' by angle (...) radians."""
    angle = np.asarray(angle, np.float64)
    c, s = np.cos(angle), np.sin(angle)
    one, zero = np.ones_like(angle), np.zeros_like(angle)
    if axis == "X":
        m = [one, zero, zero, zero, c, -s, zero, s, c]
    elif axis == "Y":
        m = [c, zero, s, zero, one, zero, -s, zero, c]
    elif axis == "Z":
        m = [c, -s, zero, s, c, zero, zero, zero, one]
    else:
        raise ValueError(f"unknown axis {axis!r}")
    return np.stack(m, -1).reshape(angle.shape + (3, 3))


def euler_to_matrix(angles: np.ndarray, order: str) -> np.ndarray:
    """Intrinsic Euler angles (..., n) radians in `order` (e.g. "ZYX", as BVH lists its channels).

    BVH semantics: channels "Zrotation Yrotation Xrotation" give R = Rz @ Ry @ Rx.
    """
    angles = np.asarray(angles, np.float64)
    R = np.broadcast_to(np.eye(3), angles.shape[:-1] + (3, 3)).copy()
    for i, ax in enumerate(order):
        R = R @ axis_rotation(ax, angles[..., i])
    return R


def matrix_to_euler(R: np.ndarray, order: str) -> np.ndarray:
    """Rotation matrices (..., 3, 3) -> intrinsic Euler angles (..., 3) radians, R = R_a R_b R_c.

    Works for the six Tait-Bryan orders (all three axes distinct).
    """
    R = np.asarray(R, np.float64)
    i, j, k = (_AXIS[a] for a in order)
    if len({i, j, k}) != 3:
        raise ValueError(f"Euler order {order!r} must name three distinct axes")
    # sign of the permutation (i, j, k): +1 for cyclic XYZ, YZX, ZXY.
    sign = 1.0 if (j - i) % 3 == 1 else -1.0
    # For R = R_i(a) R_j(b) R_k(c): R[i, k] = sign * sin(b) and the rest of row i has norm cos(b);
    # arctan2 of the two stays accurate next to +-90 degrees, where arcsin loses half the digits.
    b = np.arctan2(sign * R[..., i, k], np.hypot(R[..., i, i], R[..., i, j]))
    a = np.arctan2(-sign * R[..., j, k], R[..., k, k])
    # At gimbal lock (cos b = 0) only a + c or a - c is defined: put it into a (c comes out 0).
    gimbal = np.hypot(R[..., j, k], R[..., k, k]) < 1e-12
    a = np.where(gimbal, np.arctan2(sign * R[..., k, j], R[..., j, j]), a)
    # c from what is left, R_k(c) = (R_i(a) R_j(b))^T R, so a, b and c always rebuild R.
    M = np.swapaxes(axis_rotation(order[0], a) @ axis_rotation(order[1], b), -1, -2) @ R
    p, q = (k + 1) % 3, (k + 2) % 3
    c = np.arctan2(M[..., q, p], M[..., p, p])
    return np.stack([a, b, c], -1)


def frame_from_two(primary: np.ndarray, secondary: np.ndarray) -> np.ndarray:
    """Orthonormal frames (..., 3, 3) whose columns are (p, s_perp, p x s_perp).

    p = primary normalized; s_perp = secondary made perpendicular to p (Gram-Schmidt).
    """
    p = np.asarray(primary, np.float64)
    p = p / np.maximum(np.linalg.norm(p, axis=-1, keepdims=True), 1e-12)
    s = np.asarray(secondary, np.float64)
    s = s - np.sum(s * p, -1, keepdims=True) * p
    s = s / np.maximum(np.linalg.norm(s, axis=-1, keepdims=True), 1e-12)
    return np.stack([p, s, np.cross(p, s)], -1)


def rotation_between(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The smallest rotation (3, 3) taking direction a onto direction b."""
    a = np.asarray(a, np.float64) / np.linalg.norm(a)
    b = np.asarray(b, np.float64) / np.linalg.norm(b)
    v = np.cross(a, b)
    c = float(np.dot(a, b))
    if c < -1 + 1e-9:  # opposite: rotate pi about any axis perpendicular to a
        perp = np.cross(a, [1.0, 0, 0])
        if np.linalg.norm(perp) < 1e-6:
            perp = np.cross(a, [0, 1.0, 0])
        return aa_to_matrix(np.pi * perp / np.linalg.norm(perp))
    K = np.array([[0, -v[2], v[1]], [v[2], 0, -v[0]], [-v[1], v[0], 0]])
    return np.eye(3) + K + K @ K / (1 + c)


def angle_between(R1: np.ndarray, R2: np.ndarray) -> np.ndarray:
    """Geodesic angle (...) radians between rotation matrices."""
    M = np.swapaxes(R1, -1, -2) @ R2
    tr = np.clip((np.trace(M, axis1=-2, axis2=-1) - 1) / 2, -1, 1)
    return np.arccos(tr)


def rotations_between(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Batched smallest rotations (..., 3, 3) taking directions a (..., 3) onto b (..., 3)."""
    a = np.asarray(a, np.float64)
    b = np.asarray(b, np.float64)
    a = a / np.maximum(np.linalg.norm(a, axis=-1, keepdims=True), 1e-12)
    b = b / np.maximum(np.linalg.norm(b, axis=-1, keepdims=True), 1e-12)
    v = np.cross(a, b)
    c = np.sum(a * b, -1)
    # Opposite directions: the quaternion (0, axis) for any axis perpendicular to a.
    perp = np.cross(a, np.array([1.0, 0.0, 0.0]))
    alt = np.cross(a, np.array([0.0, 1.0, 0.0]))
    small = np.linalg.norm(perp, axis=-1, keepdims=True) < 1e-6
    perp = np.where(small, alt, perp)
    q = np.concatenate([(1 + c)[..., None], v], -1)
    opposite = (1 + c) < 1e-9
    q = np.where(opposite[..., None], np.concatenate([np.zeros_like(c)[..., None], perp], -1), q)
    return quat_to_matrix(q)
