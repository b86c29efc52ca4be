"""Proportion shape components: one linear shape direction per skeletal segment.

The default body's first 10 shape components (height + a PCA of anny phenotypes) cannot make a
torso 10 cm shorter or arms 5 cm longer on their own. These components can: component k, at
beta_k = 1, moves every joint below its segment by exactly `PROPORTION_UNIT_M` (5 cm) along the
segment and leaves every other joint where it was, so the segment's length changes by 5 cm (for
the pelvis -> hip components: the hip offset along that axis) and no other segment changes.
They are appended after the existing components (betas[:10] keep their meaning) and are linear
like any SMPL shapedir: rest vertices = v_template + shapedirs @ betas.

Construction of one segment a -> c (each side of a symmetric pair separately, then summed):
1. s0(v) = sum over joints j in subtree(c) of W[v, j] (W: skinning weights): the part of each
   vertex that rides on the moved limb (1 inside it, blended at the joint, 0 elsewhere), plus
   W[v, a] times the vertex's position along the rest bone a -> c (0 at a, 1 at c): the part a
   stretches evenly along the segment (`parent_ramp`).
2. The joint regressor averages vertices around a joint (some of them far from it), so s0 moves
   the joints only roughly right. The smoothest correction makes it exact: s = s0 + G mu with
   G = (L^T L + eps I)^-1 R^T (`smooth_corrections`, L the mesh Laplacian) and mu solved so that
   J_regressor @ s is 1 for every joint in subtree(c) and 0 for every other joint (24 x 24).
3. Displacement of vertex v = unit * s(v) * d, d the segment's unit direction in the rest pose
   (the bone direction, or a body axis for the hip offsets).

numpy + scipy (sparse solve); used by smpl_assets/build_default_body.py (and tests), never at
run time.
"""

from __future__ import annotations

import numpy as np

from neural_render.body.skeletons import SMPL_JOINT_NAMES, SMPL_PARENTS

# One proportion beta = this many metres of segment length (per side for symmetric pairs).
PROPORTION_UNIT_M = 0.05

_J = {n: i for i, n in enumerate(SMPL_JOINT_NAMES)}


def _pair(a: str, c: str) -> list[tuple[str, str]]:
    """Both sides of a symmetric segment ("left_x" -> "left_y" and the mirrored right one)."""
    return [(a.replace("*", s), c.replace("*", s)) for s in ("left", "right")]


# (name, segments (parent joint a, child joint c), direction, meaning). Direction "bone": the rest
# bone a -> c; "out": away from the midline along x (+x on the left, -x on the right); "down": -y;
# "forward": +z (the body faces +z). Model space: Y-up, metres.
PROPORTION_COMPONENTS: tuple[tuple[str, list[tuple[str, str]], str, str], ...] = (
    ("torso_lower", [("pelvis", "spine1")], "bone", "pelvis -> spine1 length"),
    ("spine_mid", [("spine1", "spine2")], "bone", "spine1 -> spine2 length"),
    ("spine_upper", [("spine2", "spine3")], "bone", "spine2 -> spine3 length"),
    ("neck", [("spine3", "neck")], "bone", "spine3 -> neck length"),
    ("head", [("neck", "head")], "bone", "neck -> head length"),
    ("hip_width", _pair("pelvis", "*_hip"), "out", "hip joints outward from the pelvis (per side)"),
    ("hip_drop", _pair("pelvis", "*_hip"), "down", "hip joints lower below the pelvis"),
    ("hip_forward", _pair("pelvis", "*_hip"), "forward", "hip joints forward of the pelvis"),
    ("collar", _pair("spine3", "*_collar"), "bone", "spine3 -> collar length"),
    ("shoulder", _pair("*_collar", "*_shoulder"), "bone", "collar -> shoulder length"),
    ("upper_arm", _pair("*_shoulder", "*_elbow"), "bone", "shoulder -> elbow length"),
    ("forearm", _pair("*_elbow", "*_wrist"), "bone", "elbow -> wrist length"),
    ("hand", _pair("*_wrist", "*_hand"), "bone", "wrist -> hand (knuckles) length"),
    ("thigh", _pair("*_hip", "*_knee"), "bone", "hip -> knee length"),
    ("shin", _pair("*_knee", "*_ankle"), "bone", "knee -> ankle length"),
    ("foot", _pair("*_ankle", "*_foot"), "bone", "ankle -> foot (toes) length"),
)

PROPORTION_NAMES: tuple[str, ...] = tuple(c[0] for c in PROPORTION_COMPONENTS)


def subtree(joint: int, parents: np.ndarray = SMPL_PARENTS) -> list[int]:
    """Joint ids of `joint` and all its descendants (sorted)."""
    out = {joint}
    for j in range(len(parents)):  # parents come before children in SMPL's order
        if int(parents[j]) in out:
            out.add(j)
    return sorted(out)


def segment_direction(rest_joints: np.ndarray, a: int, c: int, kind: str) -> np.ndarray:
    """Unit direction (3,) of one segment in the rest pose (see PROPORTION_COMPONENTS)."""
    if kind == "bone":
        d = rest_joints[c] - rest_joints[a]
        return d / np.linalg.norm(d)
    if kind == "out":
        return np.array([1.0 if rest_joints[c, 0] >= rest_joints[a, 0] else -1.0, 0.0, 0.0])
    if kind == "down":
        return np.array([0.0, -1.0, 0.0])
    if kind == "forward":
        return np.array([0.0, 0.0, 1.0])
    raise ValueError(f"unknown segment direction {kind!r}")


def smooth_corrections(J_regressor: np.ndarray, faces: np.ndarray, eps: float = 1e-3) -> np.ndarray:
    """(V, 24) the smoothest per-vertex fields that each joint regressor row can "see":
    G = Q^-1 R^T with Q = L^T L + eps I, L the mesh graph's (uniform) Laplacian I - D^-1 A.
    A correction G @ mu minimizes the squared Laplacian (bending) of the field plus eps times its
    size, among all fields with the same joint response R @ (G @ mu): smooth, spread over the
    part, no spikes at the regressor's vertices. eps sets how far a correction spreads (1e-3:
    ~ a limb segment)."""
    import scipy.sparse as sp
    import scipy.sparse.linalg as sla

    V = J_regressor.shape[1]
    e = np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]]).astype(np.int64)
    e = np.unique(np.sort(e, 1), axis=0)
    A = sp.coo_matrix((np.ones(len(e)), (e[:, 0], e[:, 1])), shape=(V, V)).tocsr()
    A = A + A.T
    deg = np.asarray(A.sum(1)).ravel()
    L = sp.identity(V, format="csr") - sp.diags(1.0 / np.maximum(deg, 1.0)) @ A
    Q = (L.T @ L + eps * sp.identity(V)).tocsc()
    return sla.splu(Q).solve(np.ascontiguousarray(J_regressor.T, dtype=np.float64))


def parent_ramp(v: np.ndarray, rest_joints: np.ndarray, a: int, c: int,
                parents: np.ndarray = SMPL_PARENTS) -> np.ndarray:
    """(V,) share of each vertex of part a that follows a segment a -> c: its position along the
    rest bone, 0 at joint a to 1 at joint c (clipped). Where a has several children (pelvis,
    spine3) a vertex ahead of several bones is split between them (shares sum to at most 1), so
    the two sides of a symmetric pair, or the neck and the collars, never move it twice."""
    def along(child: int) -> np.ndarray:
        bone = rest_joints[child] - rest_joints[a]
        return np.clip((v - rest_joints[a]) @ bone / (bone @ bone), 0.0, 1.0)

    kids = [int(j) for j in np.flatnonzero(parents == a)]
    t = along(c)
    if len(kids) > 1:
        t = t / np.maximum(1.0, np.sum([along(k) for k in kids], 0))
    return t


def proportion_shapedirs(v_template: np.ndarray, faces: np.ndarray, weights: np.ndarray,
                         J_regressor: np.ndarray, unit: float = PROPORTION_UNIT_M) -> np.ndarray:
    """Shape directions (V, 3, K) of the proportion components, K = len(PROPORTION_COMPONENTS).

    v_template (V, 3) metres Y-up; faces (F, 3); weights (V, 24) skinning weights; J_regressor
    (24, V). Column k moves the joints of its segments' subtrees by exactly `unit` metres along
    the segment direction (J_regressor @ column == unit * d on those joints, 0 elsewhere, to
    float precision). Deterministic: the same float inputs give the same bytes (on one machine;
    another BLAS may round the last bit differently).
    """
    v = np.asarray(v_template, np.float64)
    W = np.asarray(weights, np.float64)
    R = np.asarray(J_regressor, np.float64)
    rest = R @ v
    phi = smooth_corrections(R, np.asarray(faces))
    M = R @ phi                                             # (24, 24) joint response to each field
    out = np.zeros(v.shape + (len(PROPORTION_COMPONENTS),))
    for k, (_name, segments, kind, _meaning) in enumerate(PROPORTION_COMPONENTS):
        for a_name, c_name in segments:
            a, c = _J[a_name], _J[c_name]
            moved = subtree(c)
            # Rides on the moved limb, plus a ramp over the parent part toward c (so the segment
            # stretches along its length instead of at the joint's blend zone).
            s = W[:, moved].sum(1) + W[:, a] * parent_ramp(v, rest, a, c)
            target = np.zeros(R.shape[0])
            target[moved] = 1.0
            s = s + phi @ np.linalg.solve(M, target - R @ s)  # joints move exactly 1 / 0
            out[:, :, k] += unit * s[:, None] * segment_direction(rest, a, c, kind)[None]
    return out.astype(np.float32)


def proportion_metadata(unit: float = PROPORTION_UNIT_M) -> dict:
    """JSON-able description of the proportion components (names, segments, unit)."""
    return {"unit_m": unit, "components": [
        {"name": n, "segments": [list(s) for s in segs], "direction": kind, "meaning": meaning}
        for n, segs, kind, meaning in PROPORTION_COMPONENTS]}
