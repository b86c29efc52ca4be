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
   vertex that rides on the moved limb (1 inside it, blended at the joint, 0 elsewhere).
2. The joint regressor averages vertices on both sides of a joint, so s0 moves the joint c by
   ~0.5, not 1. A smooth correction fixes that exactly: one bump per joint (the joint
   regressor's support, diffused over the mesh graph), weights solved so that J_regressor @ s
   is 1 for every joint in subtree(c) and 0 for every other joint (24 x 24 linear system).
3. Displacement of vertex v = unit * s(v) * d, d the segment's unit direction in the rest pose
   (the bone direction, or a body axis for the hip offsets).

Only numpy; used by smpl_assets/build_default_body.py (and tests), never at run time.
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


def _neighbour_mean(x: np.ndarray, edges: np.ndarray, V: int) -> np.ndarray:
    """Mean over mesh neighbours of a per-vertex field x (V, K)."""
    acc = np.zeros_like(x)
    np.add.at(acc, edges[:, 0], x[edges[:, 1]])
    np.add.at(acc, edges[:, 1], x[edges[:, 0]])
    deg = np.bincount(edges.ravel(), minlength=V).astype(np.float64)
    return acc / np.maximum(deg, 1.0)[:, None]


def joint_bumps(J_regressor: np.ndarray, faces: np.ndarray, weights: np.ndarray,
                parents: np.ndarray = SMPL_PARENTS, steps: int = 4) -> np.ndarray:
    """(V, 24) smooth per-joint correction fields, one-sided: each joint regressor's support,
    diffused over the mesh graph `steps` times (half own value, half neighbour mean), times the
    share of the vertex NOT riding on the joint's own subtree (so a correction reshapes the parent
    side of the joint instead of bulging the limb below it); scaled to a peak of 1. The root's
    field is not one-sided (everything rides on the root)."""
    V = J_regressor.shape[1]
    e = np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]]).astype(np.int64)
    e = np.unique(np.sort(e, 1), axis=0)
    phi = (J_regressor.T > 0).astype(np.float64)
    for _ in range(steps):
        phi = 0.5 * phi + 0.5 * _neighbour_mean(phi, e, V)
    for j in range(J_regressor.shape[0]):
        if int(parents[j]) >= 0:
            phi[:, j] *= 1.0 - weights[:, subtree(j, parents)].sum(1)
    return phi / phi.max(0, keepdims=True)


def proportion_shapedirs(v_template: np.ndarray, faces: np.ndarray, weights: np.ndarray,
                         J_regressor: np.ndarray, unit: float = PROPORTION_UNIT_M) -> np.ndarray:
    """Shape directions (V, 3, K) of the proportion components, K = len(PROPORTION_COMPONENTS).

    v_template (V, 3) metres Y-up; faces (F, 3); weights (V, 24) skinning weights; J_regressor
    (24, V). Column k moves the joints of its segments' subtrees by exactly `unit` metres along
    the segment direction (J_regressor @ column == unit * d on those joints, 0 elsewhere, to
    float precision). Deterministic: the same float inputs give the same bytes.
    """
    v = np.asarray(v_template, np.float64)
    W = np.asarray(weights, np.float64)
    R = np.asarray(J_regressor, np.float64)
    rest = R @ v
    phi = joint_bumps(R, np.asarray(faces), W)
    M = R @ phi                                             # (24, 24) joint response to each bump
    out = np.zeros(v.shape + (len(PROPORTION_COMPONENTS),))
    for k, (_name, segments, kind, _meaning) in enumerate(PROPORTION_COMPONENTS):
        for a_name, c_name in segments:
            a, c = _J[a_name], _J[c_name]
            moved = subtree(c)
            s = W[:, moved].sum(1)                          # rides on the moved limb
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
