"""Linear blend skinning in numpy (runs inside Blender's Python; no torch).

Shapes: N poses, V vertices, J = 24 joints, B shape components. Units: metres, radians.
The forward pass is SMPL's: shape blend -> joint regression -> pose correctives -> kinematic chain
-> skinning -> translation.
"""

from __future__ import annotations

import numpy as np

from neural_render.motion.rotations import rodrigues


def shaped_rest(v_template, shapedirs, J_regressor, betas):
    """Rest vertices (N,V,3) and rest joints (N,J,3) for betas (N,B).

    When every row of `betas` is the same (one body, many poses) the shape is computed once and
    broadcast, so the result may be a read-only view.
    """
    betas = np.asarray(betas)
    N = betas.shape[0]
    B = min(betas.shape[-1], shapedirs.shape[-1])
    V = v_template.shape[0]
    dirs = shapedirs[..., :B].reshape(V * 3, B)
    if N > 1 and np.all(betas[1:, :B] == betas[:1, :B]):
        v1 = v_template + (dirs @ betas[0, :B]).reshape(V, 3).astype(v_template.dtype)
        j1 = J_regressor @ v1
        return np.broadcast_to(v1, (N, V, 3)), np.broadcast_to(j1, (N,) + j1.shape)
    # (V*3, B) @ (B, N) is one BLAS call; einsum would loop in numpy.
    v_shaped = v_template[None] + (dirs @ betas[:, :B].T).T.reshape(N, V, 3).astype(v_template.dtype)
    joints = np.matmul(J_regressor, v_shaped)
    return v_shaped, joints


def global_transforms(rot: np.ndarray, joints: np.ndarray, parents: np.ndarray):
    """World rotations (N,J,3,3) and positions (N,J,3) of every joint given local rotations."""
    N, J = rot.shape[:2]
    G_rot = np.empty_like(rot)
    G_pos = np.empty_like(joints)
    G_rot[:, 0] = rot[:, 0]
    G_pos[:, 0] = joints[:, 0]
    for j in range(1, J):
        p = parents[j]
        G_rot[:, j] = G_rot[:, p] @ rot[:, j]
        G_pos[:, j] = G_pos[:, p] + np.einsum("nab,nb->na", G_rot[:, p], joints[:, j] - joints[:, p])
    return G_rot, G_pos


# Poses per block in `lbs`: bounds the (block, V, 12) blended-transform buffer (~170 MB for
# 256 poses of a 14k-vertex body in float32) whatever the batch size.
CHUNK = 256


def lbs(poses, betas, trans, v_template, shapedirs, posedirs, J_regressor, weights, parents, chunk=CHUNK):
    """Pose a body.

    Args:
        poses: (N, 72) axis-angle, SMPL joint order, root first (radians).
        betas: (N, B) shape coefficients.
        trans: (N, 3) root translation (metres, model space).
        posedirs: (V, 3, 207) pose-corrective blend shapes, or None.
        chunk: poses per block (memory bound); results are identical for any value.
    Returns:
        vertices (N, V, 3), joints (N, J, 3).
    """
    N = poses.shape[0]
    if N > chunk:
        verts = np.empty((N, v_template.shape[0], 3), weights.dtype)
        joints = np.empty((N, weights.shape[1], 3), weights.dtype)
        for i in range(0, N, chunk):
            verts[i:i + chunk], joints[i:i + chunk] = lbs(
                poses[i:i + chunk], betas[i:i + chunk], trans[i:i + chunk], v_template, shapedirs,
                posedirs, J_regressor, weights, parents, chunk)
        return verts, joints
    J = weights.shape[1]
    v_shaped, rest_joints = shaped_rest(v_template, shapedirs, J_regressor, betas)
    rot = rodrigues(poses.reshape(N, J, 3))
    if posedirs is not None:
        pose_feature = (rot[:, 1:] - np.eye(3, dtype=rot.dtype)).reshape(N, -1)
        V = v_template.shape[0]
        v_shaped = v_shaped + (posedirs.reshape(V * 3, -1) @ pose_feature.T).T.reshape(N, V, 3)
    G_rot, G_pos = global_transforms(rot, rest_joints, parents)
    # Transform of each joint applied to rest-space points: x -> G_rot (x - rest_joint) + G_pos.
    offset = G_pos - np.einsum("njab,njb->nja", G_rot, rest_joints)
    A = np.concatenate([G_rot.reshape(N, J, 9), offset], axis=-1).astype(weights.dtype)  # (N, J, 12)
    # Blended transforms component-major, (N, 12, V): one GEMM with the long V axis last, then
    # 12 contiguous multiply-adds (interleaved (N, V, 12) slices cost ~2x more in numpy).
    T = np.matmul(A.transpose(0, 2, 1), weights.T)
    shared = v_shaped.strides[0] == 0  # one shape for all poses: transpose it once
    vT = np.ascontiguousarray(np.swapaxes(v_shaped[:1] if shared else v_shaped, 1, 2))  # (N or 1, 3, V)
    x, y, z = vT[:, 0], vT[:, 1], vT[:, 2]
    out = np.empty((N, 3, T.shape[-1]), T.dtype)
    for a in range(3):
        o = out[:, a]
        np.multiply(T[:, 3 * a], x, out=o)
        o += T[:, 3 * a + 1] * y
        o += T[:, 3 * a + 2] * z
        o += T[:, 9 + a] + trans[:, a:a + 1]
    return np.ascontiguousarray(np.swapaxes(out, 1, 2)), G_pos + trans[:, None]
