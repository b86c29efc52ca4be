"""Retarget a source skeleton's animation (BVH, FBX, ...) onto the SMPL body.

Method (global-orientation transfer with rest alignment from the source's own rest pose):
1. Put the source in SMPL's model frame: detect its up axis from the rest pose (pelvis -> neck),
   turn it to +y, convert its length unit to metres (detected from the rest height).
2. For every mapped SMPL joint j, find the rest alignment A_j: the rotation taking SMPL's rest bone
   frame onto the source's rest bone frame. A bone frame is (bone direction toward the next mapped
   joint down SMPL's chain, a twist reference = whichever of the body's forward/up/left axes is most
   perpendicular to that bone, made orthogonal). The pelvis frame is (up, left). Joints with no
   usable bone (hands, feet tips, head) inherit their mapped parent's alignment.
3. Per frame, with the source joint's world rotation G(t) and rest world rotation G0:
   SMPL global_j(t) = G(t) G0^T A_j. So each mapped SMPL bone points exactly where the source bone
   points, whatever the unmapped joints between them did (they are folded in). Unmapped SMPL
   joints follow their parent (identity local rotation).
4. local_j = global_parent^T global_j; axis-angle -> Motion poses.
5. Root translation: the source pelvis path scaled by the leg-length ratio (target / source), so
   the body's feet stay on the source's floor; then trans = p - J0 (LBS keeps the pelvis at J0).
6. up="z": the whole motion is turned Y-up -> Z-up (Motion.with_up).

Shape (`shape="source"`): before step 2's final alignment the body's betas are solved so its rest
joints reproduce the source skeleton's rest geometry: for every mapped joint j with nearest mapped
ancestor a, the body's rest offset J_j - J_a should equal the source's rest offset taken into
SMPL's rest frame through the alignment, A_a^T (s_j - s_a) (pose-invariant: a T-, A- or arms-down
source rest gives the same target). Rest joints are linear in betas, so this is one ridge-regularized
linear least squares (`fit_source_shape`), repeated once with the alignment of the fitted body. On
the default body it frees height (beta 0) and the proportion components (one per segment, see
neural_render/body/proportions.py) and keeps the phenotype components as given; on a body without
proportion components (an SMPL file) it fits the first 10 betas with a stronger prior.
Because the body then has the source's proportions, driving it with the transferred rotations puts
its own joints where the source's are. `shape="body"` keeps the body's shape (the given betas).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from neural_render.body.skeletons import SMPL_JOINT_NAMES, SMPL_PARENTS
from neural_render.errors import InputError
from neural_render.motion import rotations as rot
from neural_render.motion.motion import Motion
from neural_render.motion.source_skeleton import SourceClip, detect_unit_scale

# Bump when retargeting results change for the same input (caches of converted motions key on it).
# 2: twist reference chosen for both skeletons (arms-down rests were 90 deg off in version 1).
# 3: shape="source" (fit the body's betas to the source skeleton), the default of `motion import`.
RETARGET_VERSION = 3
SHAPES = ("source", "body")
# Ridge weights of the shape fit, m^2 of joint-offset error per beta^2: 3 mm per beta where the
# body has proportion components (a proportion beta is 5 cm: the fit reaches ~99.6 % of it), 1 cm
# per beta for phenotype-only shape spaces (SMPL's betas blow up fitting proportions they lack).
SHAPE_PRIOR = {"proportions": 1e-5, "phenotype": 1e-4}

J = {n: i for i, n in enumerate(SMPL_JOINT_NAMES)}
# The bone each SMPL joint's rotation swings: joint -> its chain child (None: no child bone).
CHAIN_CHILD = {
    "pelvis": None, "spine1": "spine2", "spine2": "spine3", "spine3": "neck", "neck": "head",
    "head": None, "left_collar": "left_shoulder", "right_collar": "right_shoulder",
    "left_shoulder": "left_elbow", "right_shoulder": "right_elbow", "left_elbow": "left_wrist",
    "right_elbow": "right_wrist", "left_wrist": "left_hand", "right_wrist": "right_hand",
    "left_hand": None, "right_hand": None, "left_hip": "left_knee", "right_hip": "right_knee",
    "left_knee": "left_ankle", "right_knee": "right_ankle", "left_ankle": "left_foot",
    "right_ankle": "right_foot", "left_foot": None, "right_foot": None,
}


@dataclass
class RetargetResult:
    motion: Motion
    mapping: dict[int, int]              # smpl joint -> source joint
    unit: str                            # detected (or given) source length unit
    unit_scale: float                    # metres per source unit
    scale: float                         # leg-length ratio target / source (applied to translation)
    up_axis: str                         # source up axis, e.g. "+y"
    warnings: list[str] = field(default_factory=list)
    up_rotation: np.ndarray | None = None  # (3, 3) source world -> Y-up
    alignment: np.ndarray | None = None    # (24, 3, 3) rest alignment A_j (SMPL rest frame -> source rest frame)
    shape: dict = field(default_factory=dict)  # shape mode, fitted betas, rest-geometry residual (cm)

    def summary(self, names: list[str]) -> dict:
        return {"unit": self.unit, "metres_per_unit": self.unit_scale, "leg_ratio": round(self.scale, 4),
                "source_up": self.up_axis, "mapped": len(self.mapping),
                "mapping": {SMPL_JOINT_NAMES[k]: names[v] for k, v in sorted(self.mapping.items())},
                "shape": self.shape, "warnings": self.warnings}


def _unit(v: np.ndarray) -> np.ndarray:
    return v / max(np.linalg.norm(v), 1e-12)


def _up_rotation(up: np.ndarray) -> tuple[np.ndarray, str]:
    """Rotation taking the source's dominant up axis to +y, and the axis' name."""
    k = int(np.argmax(np.abs(up)))
    sign = 1.0 if up[k] > 0 else -1.0
    axis = np.zeros(3)
    axis[k] = sign
    name = ("+" if sign > 0 else "-") + "xyz"[k]
    if name == "+y":
        return np.eye(3), name
    if name == "-y":  # upside down: turn about z (keeps x's handedness with z flipped)
        return np.diag([-1.0, -1.0, 1.0]), name
    return rot.rotation_between(axis, np.array([0.0, 1.0, 0.0])), name


def _top_joint(mapping: dict[int, int]) -> int:
    for n in ("neck", "head", "spine3", "spine2", "spine1"):
        if J[n] in mapping:
            return J[n]
    # collars/shoulders: their midpoint is handled by the caller
    return -1


def _body_axes(pos: np.ndarray, mapping_pos) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(left, up, forward) unit axes of a standing body from joint positions.

    `mapping_pos(name)` returns the position of an SMPL-named joint or None.
    """
    lh, rh, pel = mapping_pos("left_hip"), mapping_pos("right_hip"), mapping_pos("pelvis")
    left = _unit(lh - rh)
    top = None
    for n in ("neck", "head", "spine3", "spine2"):
        top = mapping_pos(n)
        if top is not None and np.linalg.norm(top - pel) > 1e-6:
            break
    if top is None:
        ls, rs = mapping_pos("left_shoulder"), mapping_pos("right_shoulder")
        top = (ls + rs) / 2
    up = top - pel
    up = _unit(up - np.dot(up, left) * left)
    fwd = _unit(np.cross(left, up))
    return left, up, fwd


def retarget(clip: SourceClip, body, mapping: dict[int, int], betas: np.ndarray | None = None,
             up: str = "z", unit: str | None = None, warnings: list[str] | None = None,
             swing_fix: bool = False, shape: str = "body",
             finger_mapping: dict[int, int] | None = None) -> RetargetResult:
    """Retarget `clip` onto `body` (a BodyModel) with `mapping` {smpl joint: source joint}.

    shape: "body" keeps `betas` (default zeros: the body's own proportions); "source" fits the
    betas so the body's rest skeleton reproduces the source's (see the module doc), starting from
    `betas` for the components it does not fit. The motion carries the resulting betas.

    swing_fix: off (default), every mapped bone keeps the source joint's global orientation (the
    motion of unmapped joints in between is folded into the next mapped joint's local rotation).
    On, each mapped bone is afterwards swung (minimal rotation, twist kept) onto the source's
    actual per-frame direction toward its mapped chain child: bone directions then match the
    source exactly even where unmapped joints in between (CMU's lowerneck) bend, at the cost of
    the mapped joint's own orientation.

    finger_mapping: {SMPL-H finger joint 0..29: source joint} (`bone_maps.auto_finger_map`); when
    given and the body has hands, the motion carries hand poses (`finger_retarget`).
    """
    skel = clip.skeleton
    if shape not in SHAPES:
        raise InputError(f"unknown shape mode {shape!r}", where="--shape", fix=f"use one of {', '.join(SHAPES)}")
    betas = np.zeros(min(10, body.num_betas), np.float32) if betas is None else np.asarray(betas, np.float32)
    Jr = body.rest_joints(betas).astype(np.float64)       # (24, 3) SMPL rest joints, Y-up metres
    rest = skel.rest_positions
    T = clip.num_frames
    if T == 0:
        raise InputError("the clip has no frames", path=clip.source)
    for name, arr in (("rotations", clip.rotations), ("positions", clip.positions)):
        if not np.all(np.isfinite(arr)):
            raise InputError(f"animation has non-finite {name}", path=clip.source)

    def src_rest(n):
        return rest[mapping[J[n]]] if J[n] in mapping else None

    # 1. Up axis and units from the rest pose.
    size = float(np.ptp(rest, axis=0).max()) if len(rest) else 0.0
    hip_w = float(np.linalg.norm(src_rest("left_hip") - src_rest("right_hip")))
    tops = [src_rest(n) for n in ("neck", "head", "spine3", "spine2", "left_shoulder", "right_shoulder")]
    tall = max((float(np.linalg.norm(t - src_rest("pelvis"))) for t in tops if t is not None), default=0.0)
    if not (np.isfinite(size) and size > 0 and hip_w > 1e-3 * size and tall > 1e-3 * size):
        raise InputError("the source rest pose is degenerate (hips or torso have no extent)",
                         path=clip.source, where="rest pose",
                         fix="check the OFFSETs / bind pose, or map other joints with --bone-map")
    left0, up0, _ = _body_axes(rest, src_rest)
    U, up_name = _up_rotation(up0)
    rest_u = rest @ U.T
    height_units = float(np.ptp(rest_u[:, 1]))
    if unit is None:
        unit, unit_scale = detect_unit_scale(height_units)
    else:
        from neural_render.motion.source_skeleton import UNITS
        if unit not in UNITS:
            raise InputError(f"unknown unit {unit!r}", where="--unit", fix=f"use one of {', '.join(UNITS)}")
        unit_scale = UNITS[unit]
    rest_m = rest_u * unit_scale
    G0 = U[None] @ skel.rest_rotations                     # (Js, 3, 3) source rest world rotations
    G = U[None, None] @ clip.rotations                      # (T, Js, 3, 3)
    P = clip.positions @ U.T * unit_scale                   # (T, Js, 3) metres, Y-up

    # 2. Rest alignment (and, for shape="source", the betas reproducing the source's rest skeleton).
    betas, Jr, A, chain, shape_info, warnings = _align_rest(body, rest_m, mapping, unit_scale, betas, Jr, shape, warnings)
    # 3. Global SMPL rotations per frame.
    glob = _global_rotations(G, G0, P, A, mapping, chain, swing_fix)
    # 4. Locals.
    poses = _local_poses(glob, clip)
    hand_poses, finger_info = None, {}
    if finger_mapping and getattr(body, "hands", None) is not None:
        from neural_render.motion.finger_retarget import retarget_fingers

        wrist_src = {s: mapping[J[n]] for s, n in ((0, "left_wrist"), (1, "right_wrist")) if J[n] in mapping}
        hand_poses, finger_info = retarget_fingers(body, finger_mapping, skel, rest_m, G0, G,
                                                   glob[:, [J["left_wrist"], J["right_wrist"]]], wrist_src, betas)

    # 5. Translation scaled by the leg-length ratio.
    scale, how = _leg_ratio(Jr, rest_m, mapping)
    warnings = list(warnings or [])
    if how != "legs":
        warnings.append(f"translation scaled by {how} ratio (legs not fully mapped)")
    pelvis_path = P[:, mapping[J["pelvis"]]] * scale
    trans = pelvis_path - Jr[0][None]
    motion = Motion(poses, trans, betas, clip.fps, up="y",
                    metadata={"source": str(clip.source), "retarget": {
                        "unit": unit, "leg_ratio": float(scale), "source_up": up_name,
                        "shape": shape, "version": RETARGET_VERSION,
                        **({"fingers": finger_info} if finger_info else {})}},
                    hand_poses=hand_poses)
    if up == "z":
        motion = motion.with_up("z", pelvis=Jr[0])
    return RetargetResult(motion, dict(mapping), unit, unit_scale, float(scale), up_name, warnings,
                          up_rotation=U, alignment=A, shape=shape_info)


def _align_rest(body, rest_m: np.ndarray, mapping: dict[int, int], unit_scale: float, betas: np.ndarray,
                Jr: np.ndarray, shape: str, warnings: list[str] | None):
    """Rest alignment A (24, 3, 3) and the chain, and for shape="source" the betas reproducing the
    source's rest skeleton (with a warning when they leave the shape space).
    Returns (betas, body rest joints Jr (24, 3), A, chain, shape info, warnings)."""
    A, chain = rest_alignment(Jr, rest_m, mapping, unit_scale)
    shape_info: dict = {"mode": shape}
    if shape == "source":
        for _ in range(2):  # the alignment depends (weakly) on the body's rest bone directions
            betas, shape_info = fit_source_shape(body, rest_m, mapping, A, betas)
            Jr = body.rest_joints(betas).astype(np.float64)
            A, chain = rest_alignment(Jr, rest_m, mapping, unit_scale)
        shape_info = shape_residual(body, rest_m, mapping, A, betas) | {
            k: v for k, v in shape_info.items() if k in ("mode", "betas", "fitted", "prior")}
        wild = {k: v for k, v in (shape_info.get("betas") or {}).items() if abs(v) > 4}
        if wild:
            warnings = list(warnings or [])
            warnings.append(
                "the source skeleton's proportions are far outside the body's shape space ("
                + ", ".join(f"{k} {v:+.1f}" for k, v in wild.items())
                + "): check the unit (--unit) and bone map, or keep the body's shape with --shape body")
    return betas, Jr, A, chain, shape_info, warnings


def _global_rotations(G: np.ndarray, G0: np.ndarray, P: np.ndarray, A: np.ndarray, mapping: dict[int, int],
                      chain: dict, swing_fix: bool) -> np.ndarray:
    """(T, 24, 3, 3) SMPL global rotations: each mapped joint takes its source joint's orientation
    (through the rest alignment A), optionally swung onto the source bone's direction; an unmapped
    joint follows its parent."""
    T = G.shape[0]
    glob = np.empty((T, 24, 3, 3))
    for j in range(24):
        if j in mapping:
            s = mapping[j]
            glob[:, j] = G[:, s] @ (G0[s].T @ A[j])[None]
            if swing_fix and j in chain:
                c, d_s = chain[j]
                want = P[:, mapping[c]] - P[:, s]
                ok = np.linalg.norm(want, axis=-1) > 1e-6
                if np.any(ok):
                    have_dir = glob[:, j] @ d_s
                    fix = rot.rotations_between(have_dir, want)
                    glob[ok, j] = fix[ok] @ glob[ok, j]
        else:
            p = int(SMPL_PARENTS[j])
            glob[:, j] = glob[:, p] if p >= 0 else np.eye(3)
    return glob


def _local_poses(glob: np.ndarray, clip: SourceClip) -> np.ndarray:
    """(T, 72) axis-angle local rotations from global ones (T, 24, 3, 3); non-finite -> InputError."""
    T = glob.shape[0]
    local = np.empty_like(glob)
    local[:, 0] = glob[:, 0]
    for j in range(1, 24):
        local[:, j] = np.swapaxes(glob[:, SMPL_PARENTS[j]], -1, -2) @ glob[:, j]
    poses = rot.matrix_to_aa(local).reshape(T, 72)
    if not np.all(np.isfinite(poses)):
        bad = int(np.argwhere(~np.isfinite(poses))[0][0])
        raise InputError(f"retargeting gave non-finite rotations (first at frame {bad})", path=clip.source,
                         fix="the animation or rest pose has degenerate joints")

    return poses


def rest_alignment(Jr: np.ndarray, rest_m: np.ndarray, mapping: dict[int, int],
                   unit_scale: float) -> tuple[np.ndarray, dict[int, tuple[int, np.ndarray]]]:
    """Rest alignment A (24, 3, 3) of SMPL's rest joints Jr (24, 3) onto the source's rest joints
    rest_m (Js, 3) (both Y-up metres), and the chain bones {smpl joint: (chain child, SMPL rest bone)}.
    See the module doc, step 2."""
    def src_rest_m(n):
        return rest_m[mapping[J[n]]] if J[n] in mapping else None

    def smpl_rest(n):
        return Jr[J[n]]

    # Body axes at rest, SMPL and source, in the same (Y-up) frame.
    s_axes = _body_axes(Jr, smpl_rest)
    r_axes = _body_axes(rest_m, src_rest_m)
    A = np.zeros((24, 3, 3))
    have = np.zeros(24, bool)
    chain: dict[int, tuple[int, np.ndarray]] = {}  # smpl joint -> (smpl chain child, SMPL rest bone)
    for j in range(24):
        if j not in mapping:
            continue
        name = SMPL_JOINT_NAMES[j]
        A_j = None
        if name == "pelvis":
            Fs = rot.frame_from_two(s_axes[1], s_axes[0])
            Fr = rot.frame_from_two(r_axes[1], r_axes[0])
            A_j = Fr @ Fs.T
        else:
            c = CHAIN_CHILD[name]
            while c is not None and J[c] not in mapping:
                c = CHAIN_CHILD[c]
            if c is not None:
                d_s = Jr[J[c]] - Jr[j]
                d_r = rest_m[mapping[J[c]]] - rest_m[mapping[j]]
                if np.linalg.norm(d_s) > 1e-4 and np.linalg.norm(d_r) > 1e-4 * unit_scale:
                    chain[j] = (J[c], d_s)
                    # Twist reference: the body axis farthest from parallel to the bone in BOTH
                    # skeletons (an arm along x in a T-pose but hanging down in the source: forward).
                    k = int(np.argmin([max(abs(np.dot(_unit(d_s), a)), abs(np.dot(_unit(d_r), b)))
                                       for a, b in zip(s_axes, r_axes)]))
                    A_j = rot.frame_from_two(d_r, r_axes[k]) @ rot.frame_from_two(d_s, s_axes[k]).T
        if A_j is not None and not (abs(np.linalg.det(A_j) - 1) < 1e-6
                                    and np.allclose(A_j @ A_j.T, np.eye(3), atol=1e-6)):
            A_j = None  # degenerate reference (cannot happen with the choice above; be safe)
        if A_j is None:  # inherit the nearest mapped ancestor's alignment
            a = int(SMPL_PARENTS[j])
            while a >= 0 and not have[a]:
                a = int(SMPL_PARENTS[a])
            A_j = A[a] if a >= 0 else np.eye(3)
        A[j] = A_j
        have[j] = True
    return A, chain


def _mapped_ancestor(j: int, mapping: dict[int, int]) -> int:
    a = int(SMPL_PARENTS[j])
    while a >= 0 and a not in mapping:
        a = int(SMPL_PARENTS[a])
    return a


def _source_offsets(rest_m: np.ndarray, mapping: dict[int, int], A: np.ndarray) -> list[tuple[int, int, np.ndarray]]:
    """[(j, a, target offset (3,))]: every mapped joint j but the pelvis, its nearest mapped
    ancestor a, and the source's rest offset s_j - s_a in SMPL's rest frame (A_a^T (s_j - s_a))."""
    out = []
    for j in sorted(mapping):
        a = _mapped_ancestor(j, mapping)
        if a >= 0:
            out.append((j, a, A[a].T @ (rest_m[mapping[j]] - rest_m[mapping[a]])))
    return out


def shape_components_to_fit(body) -> tuple[list[int], float]:
    """Which betas the source-shape fit frees, and its ridge weight (see SHAPE_PRIOR)."""
    prop = [k for k, n in enumerate(body.shape_names) if n.startswith("proportion_")]
    if prop:
        return [0] + prop, SHAPE_PRIOR["proportions"]
    return list(range(min(10, body.num_betas))), SHAPE_PRIOR["phenotype"]


def fit_source_shape(body, rest_m: np.ndarray, mapping: dict[int, int], A: np.ndarray,
                     betas: np.ndarray | None = None) -> tuple[np.ndarray, dict]:
    """Betas (num_betas,) whose rest joints reproduce the source's rest offsets (ridge least squares).

    rest_m: (Js, 3) source rest joints, Y-up metres; A: (24, 3, 3) rest alignment. Components not
    fitted keep their value in `betas` (zeros when None). Returns (betas float32, info).
    """
    free, prior = shape_components_to_fit(body)
    B = body.num_betas
    base = np.zeros(B, np.float64)
    if betas is not None:
        b = np.asarray(betas, np.float64).reshape(-1)[:B]
        base[:b.size] = b
    base[free] = 0.0
    J0 = body.rest_joints(base.astype(np.float32)).astype(np.float64)          # (24, 3)
    V = body.num_vertices
    Jd = (body.J_regressor.astype(np.float64) @ body.shapedirs[..., free].astype(np.float64).reshape(V, -1))
    Jd = Jd.reshape(24, 3, len(free))                                           # (24, 3, F) m per beta
    rows, rhs = [], []
    for j, a, target in _source_offsets(rest_m, mapping, A):
        rows.append(Jd[j] - Jd[a])
        rhs.append(target - (J0[j] - J0[a]))
    if not rows:
        return base.astype(np.float32), {"mode": "source", "fitted": []}
    D = np.concatenate(rows)                                                    # (3M, F)
    r = np.concatenate(rhs)
    x = np.linalg.solve(D.T @ D + prior * np.eye(len(free)), D.T @ r)
    base[free] = x
    names = body.shape_names or [f"beta{k}" for k in range(B)]
    info = {"mode": "source", "fitted": [names[k] for k in free], "prior": prior,
            "betas": {names[k]: round(float(base[k]), 4) for k in free}}
    return base.astype(np.float32), info


def shape_residual(body, rest_m: np.ndarray, mapping: dict[int, int], A: np.ndarray, betas) -> dict:
    """How far the body's rest offsets (J_j - J_a) are from the source's (cm): mean, max, per joint."""
    Jr = body.rest_joints(np.asarray(betas, np.float32)).astype(np.float64)
    per = {SMPL_JOINT_NAMES[j]: float(np.linalg.norm(Jr[j] - Jr[a] - target))
           for j, a, target in _source_offsets(rest_m, mapping, A)}
    vals = np.array(list(per.values())) if per else np.zeros(1)
    return {"residual_cm": round(float(vals.mean()) * 100, 2), "max_residual_cm": round(float(vals.max()) * 100, 2),
            "per_joint_residual_cm": {k: round(v * 100, 2) for k, v in per.items()}}


def motion_on_shape(motion: Motion, body, betas: np.ndarray | None = None) -> Motion:
    """The same motion on another shape of `body` (an actor with its own betas; None = zeros).

    Joint rotations carry over unchanged. The root path is scaled by the leg-length ratio (new
    shape / motion's shape, as in retargeting) about the world origin, so the feet keep the floor
    and the stride fits the new legs; trans is re-anchored on the new rest pelvis (the root joint
    is at J0 + trans in either up axis, the
    root rotation turning the body about J0). Returns a copy with the new betas.
    """
    new = np.zeros(min(10, body.num_betas), np.float32) if betas is None else np.asarray(betas, np.float32)
    J_old = body.rest_joints(motion.betas).astype(np.float64)
    J_new = body.rest_joints(new).astype(np.float64)
    if np.allclose(J_old, J_new, atol=1e-7):
        return motion.copy(betas=new)
    legs = [(_chain_len(J_new, c), _chain_len(J_old, c)) for c in
            ([J["left_hip"], J["left_knee"], J["left_ankle"]], [J["right_hip"], J["right_knee"], J["right_ankle"]])]
    scale = float(np.mean([a / b for a, b in legs if b and b > 1e-6])) if legs else 1.0
    root = motion.trans.astype(np.float64) + J_old[0]   # LBS turns the root about its rest J0
    trans = root * scale - J_new[0]
    return motion.copy(trans=trans.astype(np.float32), betas=new)


def _chain_len(pos: np.ndarray, idx: list[int | None]) -> float | None:
    if any(i is None for i in idx):
        return None
    return float(sum(np.linalg.norm(pos[idx[k + 1]] - pos[idx[k]]) for k in range(len(idx) - 1)))


def _leg_ratio(Jr: np.ndarray, rest_m: np.ndarray, mapping: dict[int, int]) -> tuple[float, str]:
    """Target / source leg length (hip -> knee -> ankle, mean of both legs); falls back to height."""
    ratios = []
    for side in ("left", "right"):
        names = [f"{side}_hip", f"{side}_knee", f"{side}_ankle"]
        src = _chain_len(rest_m, [mapping.get(J[n]) for n in names])
        tgt = _chain_len(Jr, [J[n] for n in names])
        if src and src > 1e-6:
            ratios.append(tgt / src)
    if ratios:
        return float(np.mean(ratios)), "legs"
    # Pelvis-to-top ratio as a fallback.
    top = _top_joint(mapping)
    if top >= 0:
        src = np.linalg.norm(rest_m[mapping[top]] - rest_m[mapping[0]])
        if src > 1e-6:
            return float(np.linalg.norm(Jr[top] - Jr[0]) / src), "torso"
    return 1.0, "no"


def source_joints_in_smpl_frame(clip: SourceClip, result: RetargetResult) -> np.ndarray:
    """(T, 24, 3) world positions of the source's mapped joints, in the Motion's frame (metres,
    scaled by the leg ratio, up axis as the motion); NaN for unmapped SMPL joints."""
    U = result.up_rotation
    if U is None:
        rest = clip.skeleton.rest_positions
        mp = {k: rest[v] for k, v in result.mapping.items()}
        _, up0, _ = _body_axes(rest, lambda n: mp.get(J[n]))
        U, _ = _up_rotation(up0)
    P = clip.positions @ U.T * result.unit_scale * result.scale
    if result.motion.up == "z":
        from neural_render.body.axes import Y_UP_TO_Z_UP
        P = P @ Y_UP_TO_Z_UP.T
    out = np.full((clip.num_frames, 24, 3), np.nan)
    for k, v in result.mapping.items():
        out[:, k] = P[:, v]
    return out


def _globals(motion) -> np.ndarray:
    """(T, 24, 3, 3) global joint rotations of a Motion (its own world frame)."""
    T = motion.num_frames
    local = rot.aa_to_matrix(motion.poses.reshape(T, 24, 3).astype(np.float64))
    G = np.empty_like(local)
    G[:, 0] = local[:, 0]
    for j in range(1, 24):
        G[:, j] = G[:, SMPL_PARENTS[j]] @ local[:, j]
    return G


def evaluate(clip: SourceClip, result: RetargetResult, body, joints: list[str] | None = None) -> dict:
    """Compare the retargeted body with the source's mapped joints (positions from the file's FK).

    Both are root-aligned per frame (pelvis subtracted); the source is scaled by the leg-length
    ratio. Two position errors over `joints` (default: every mapped joint but the pelvis):
    - `mpjpe_m`: like with like. The source skeleton driven by the retargeted rotations: from the
      source pelvis, each mapped joint is placed from its nearest mapped SMPL ancestor a by the
      source's rest offset turned by the body's global rotation of a (through the rest alignment).
      What remains is the error of the transferred pose (rest alignment, folding of unmapped
      joints, twist), free of the skeletons' differences in proportions and rest geometry.
    - `mpjpe_body_m`: the body's own joints (with the motion's betas), which also contains every
      difference in proportions between the source skeleton and the body: ~0.6 cm on the CMU
      clips with shape="source", ~13 cm with shape="body" (CMU's short torso).
    Also the median/p95 direction error (degrees) of every SMPL bone whose two ends are mapped.
    """
    m = result.motion
    smpl = m.joints(body)  # forward kinematics == the skinned body's joints
    src = source_joints_in_smpl_frame(clip, result)
    smpl_rel = smpl - smpl[:, :1]
    src_rel = src - src[:, :1]
    mapped = sorted(result.mapping)
    sel = [J[n] for n in joints] if joints else mapped
    sel = [j for j in sel if j in result.mapping and j != 0]
    # The source skeleton driven by the retargeted rotations: each mapped joint is placed from its
    # nearest mapped SMPL ancestor a by the source's own rest offset, turned by the body's global
    # rotation of a taken back through the rest alignment (global_a A_a^T). Exact transfer gives the
    # source's own joints; differences in rest geometry between the skeletons cancel out.
    G = _globals(m)  # in the motion's world; the offsets are in the Y-up source frame, and
    # G_world A^T maps them straight into the motion's world (the up turn is part of G's root).
    rest_m = clip.skeleton.rest_positions @ result.up_rotation.T * result.unit_scale * result.scale
    recon = np.full_like(src_rel, np.nan)
    recon[:, 0] = 0.0
    for j in range(1, 24):
        if j not in result.mapping:
            continue
        a = int(SMPL_PARENTS[j])
        while a >= 0 and a not in result.mapping:
            a = int(SMPL_PARENTS[a])
        off = rest_m[result.mapping[j]] - rest_m[result.mapping[a]]
        recon[:, j] = recon[:, a] + np.einsum("tab,b->ta", G[:, a], result.alignment[a].T @ off)
    err = np.linalg.norm(recon[:, sel] - src_rel[:, sel], axis=-1)
    err_body = np.linalg.norm(smpl_rel[:, sel] - src_rel[:, sel], axis=-1)
    bones = [(int(SMPL_PARENTS[j]), j) for j in range(1, 24)
             if j in result.mapping and int(SMPL_PARENTS[j]) in result.mapping]
    ang = []
    for p, c in bones:
        a = smpl[:, c] - smpl[:, p]
        b = src[:, c] - src[:, p]
        na, nb = np.linalg.norm(a, axis=-1), np.linalg.norm(b, axis=-1)
        ok = (na > 1e-4) & (nb > 1e-4)
        cos = np.sum(a[ok] * b[ok], -1) / (na[ok] * nb[ok])
        ang.append(np.degrees(np.arccos(np.clip(cos, -1, 1))))
    ang = np.concatenate(ang) if ang else np.zeros(1)
    root_err = float(np.linalg.norm(smpl[:, 0] - src[:, 0], axis=-1).mean())
    return {"mpjpe_m": float(err.mean()), "mpjpe_body_m": float(err_body.mean()),
            "per_joint_m": {SMPL_JOINT_NAMES[j]: round(float(err[:, k].mean()), 4) for k, j in enumerate(sel)},
            "per_joint_body_m": {SMPL_JOINT_NAMES[j]: round(float(err_body[:, k].mean()), 4)
                                 for k, j in enumerate(sel)},
            "root_error_m": root_err,
            "bone_dir_median_deg": float(np.median(ang)), "bone_dir_p95_deg": float(np.percentile(ang, 95)),
            "joints": [SMPL_JOINT_NAMES[j] for j in sel], "frames": int(m.num_frames)}
