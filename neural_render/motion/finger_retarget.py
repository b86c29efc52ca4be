"""Finger retargeting: a source skeleton's finger bones -> SMPL-H hand poses (T, 90).

The same global-orientation transfer as the body (`retarget.py`): for SMPL-H finger joint k mapped
to source joint s, global_k(t) = G_s(t) G0_s^T A_k, where A_k is the rest alignment taking the
body's flat-hand rest bone frame onto the source's rest bone frame. A bone frame is (the bone's
direction toward the next mapped joint of the finger - or the source's own child / the body's
fingertip for the last one -, the hand's back normal made orthogonal to it), so each mapped finger
bone points where the source's points, with the source's twist about it. Unmapped finger joints
follow their parent (2-segment fingers: the missing joint stays straight). Local rotations are
relative to the wrist's global rotation from the body retarget.

The hand's back normal: cross(knuckles - wrist, index knuckle - little knuckle) for the left hand,
the reverse for the right (it points out of the back of the hand for both), from whichever
knuckles are mapped.
"""

from __future__ import annotations

import numpy as np

from neural_render.body.skeletons import MANO_FINGERS, SMPLH_PARENTS
from neural_render.motion import rotations as rot

WRIST = (20, 21)
KNUCKLE = {f: 3 * MANO_FINGERS.index(f) for f in MANO_FINGERS}  # first joint of each finger (0..14)


def body_flat_hand(body, betas=None) -> tuple[np.ndarray, np.ndarray]:
    """(52, 3) SMPL-H rest joints of the body's flat-hand template and (10, 3) fingertips (left
    then right, MANO order), model space Y-up metres."""
    h = body.hands
    v = h.v_template.astype(np.float64)
    if betas is not None:
        b = np.asarray(betas, np.float64).reshape(-1)[:body.num_betas]
        v = v + body.shapedirs[..., :b.size].astype(np.float64) @ b
    J = h.J_regressor.astype(np.float64) @ v
    R = body.keypoint_regressors.get("wholebody")
    if R is not None:  # the fingertip rows of the whole-body regressor (pure vertex rows)
        V = body.num_vertices
        order = ("thumb", "index", "middle", "ring", "pinky")  # COCO-WholeBody hand order
        rows = [start + 4 + 4 * order.index(f) for start in (91, 112) for f in MANO_FINGERS]
        tips = R[rows, :V].astype(np.float64) @ v
    else:  # continue each finger's last segment by its length
        tips = np.array([2 * J[22 + 15 * s + 3 * m + 2] - J[22 + 15 * s + 3 * m + 1]
                         for s in range(2) for m in range(5)])
    return J, tips


def _hand_normal(side: int, wrist: np.ndarray, knuckles: dict[str, np.ndarray]) -> np.ndarray | None:
    """Back-of-hand normal from the wrist and the mapped knuckles (None when too few)."""
    across_pairs = [("index", "pinky"), ("index", "ring"), ("middle", "pinky"), ("index", "middle")]
    across = next((knuckles[a] - knuckles[b] for a, b in across_pairs if a in knuckles and b in knuckles), None)
    fingers = [knuckles[f] for f in ("index", "middle", "ring", "pinky") if f in knuckles]
    if across is None or not fingers:
        return None
    along = np.mean(fingers, 0) - wrist
    n = np.cross(along, across) * (1.0 if side == 0 else -1.0)
    norm = np.linalg.norm(n)
    return n / norm if norm > 1e-9 else None


def retarget_fingers(body, finger_map: dict[int, int], skeleton, rest_m: np.ndarray, G0: np.ndarray,
                     G: np.ndarray, wrist_global: np.ndarray, wrist_src: dict[int, int],
                     betas=None) -> tuple[np.ndarray, dict]:
    """Hand poses (T, 90) from the source's finger rotations.

    rest_m (Js, 3): source rest joints (Y-up metres); G0 (Js, 3, 3) / G (T, Js, 3, 3): source rest
    and per-frame world rotations (Y-up); wrist_global (T, 2, 3, 3): the body's left/right wrist
    global rotations from the body retarget; wrist_src {0|1: source wrist joint}.
    Returns (hand_poses, info)."""
    T = G.shape[0]
    Jb, tips_b = body_flat_hand(body, betas)
    glob = np.empty((T, 30, 3, 3))
    info = {"mapped": len(finger_map), "hands": []}
    for side in (0, 1):
        base = 15 * side
        # Rest hand normals of the body (flat hand) and of the source.
        kb = {f: Jb[22 + base + KNUCKLE[f]] for f in MANO_FINGERS}
        n_b = _hand_normal(side, Jb[WRIST[side]], kb)
        ks = {f: rest_m[finger_map[base + KNUCKLE[f]]] for f in MANO_FINGERS if base + KNUCKLE[f] in finger_map}
        n_s = _hand_normal(side, rest_m[wrist_src[side]], ks) if side in wrist_src else None
        usable = n_b is not None and n_s is not None
        info["hands"].append({"side": ("left", "right")[side], "normal_from_source": bool(usable)})
        for m in range(5):
            for k in range(3):
                idx = base + 3 * m + k
                p = int(SMPLH_PARENTS[22 + idx])
                parent_glob = wrist_global[:, side] if p < 22 else glob[:, p - 22]
                if idx not in finger_map or not usable:
                    glob[:, idx] = parent_glob
                    continue
                s = finger_map[idx]
                # body bone: toward the next joint of the finger, or the fingertip
                end_b = Jb[22 + idx + 1] if k < 2 else tips_b[5 * side + m]
                d_b = end_b - Jb[22 + idx]
                # source bone: toward the next mapped joint of the finger, else the source's child
                nxt = next((finger_map[idx + j] for j in range(1, 3 - k) if idx + j in finger_map), None)
                if nxt is None:
                    kids = skeleton.children(s)
                    nxt = kids[0] if kids else None
                if nxt is None:
                    glob[:, idx] = parent_glob
                    continue
                d_s = rest_m[nxt] - rest_m[s]
                A = rot.frame_from_two(d_s, n_s) @ rot.frame_from_two(d_b, n_b).T
                glob[:, idx] = G[:, s] @ (G0[s].T @ A)[None]
    local = np.empty_like(glob)
    for idx in range(30):
        p = int(SMPLH_PARENTS[22 + idx])
        parent_glob = wrist_global[:, idx // 15] if p < 22 else glob[:, p - 22]
        local[:, idx] = np.swapaxes(parent_glob, -1, -2) @ glob[:, idx]
    return rot.matrix_to_aa(local).reshape(T, 90).astype(np.float32), info
