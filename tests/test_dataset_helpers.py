"""Test material for the dataset tests: a small capsule-man body in SMPL format and a walking motion.

The capsule man is a real closed-surface humanoid (one capsule per SMPL bone, ~1.2k vertices) so
renders are cheap, silhouettes are clean and occlusions happen; it is built here, independently of
the default body asset that another part of the project ships.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from neural_render.body.skeletons import BODY25_FROM_SMPL_JOINT, SMPL_PARENTS

# Approximate SMPL neutral rest joints (Y-up, facing +z, +x = the body's left), metres.
REST_JOINTS = np.array([
    [0, .93, 0], [.09, .84, 0], [-.09, .84, 0], [0, 1.04, 0], [.10, .47, 0], [-.10, .47, 0],
    [0, 1.17, 0], [.11, .08, -.02], [-.11, .08, -.02], [0, 1.22, .02], [.12, .02, .11], [-.12, .02, .11],
    [0, 1.44, 0], [.07, 1.35, 0], [-.07, 1.35, 0], [0, 1.55, .03], [.18, 1.38, 0], [-.18, 1.38, 0],
    [.44, 1.38, 0], [-.44, 1.38, 0], [.70, 1.38, 0], [-.70, 1.38, 0], [.78, 1.38, 0], [-.78, 1.38, 0],
], float)
RADIUS = {1: .08, 2: .08, 3: .13, 4: .07, 5: .07, 6: .14, 7: .05, 8: .05, 9: .14, 10: .04, 11: .04,
          12: .06, 13: .06, 14: .06, 15: .10, 16: .06, 17: .06, 18: .05, 19: .05, 20: .04, 21: .04,
          22: .04, 23: .04}
# BODY_25 points that are not SMPL joints: face points on the head, toes on the feet, heels at ankles.
EXTRA_BODY25 = {0: 15, 15: 15, 16: 15, 17: 15, 18: 15, 19: 10, 20: 10, 21: 7, 22: 11, 23: 11, 24: 8}


def _capsule(a, b, r, seg=10, rings=5):
    """Closed cylinder from a to b with radius r: vertices (n,3), faces (m,3)."""
    axis = b - a
    length = np.linalg.norm(axis)
    d = axis / length
    tmp = np.array([1.0, 0, 0]) if abs(d[0]) < 0.9 else np.array([0, 1.0, 0])
    u = np.cross(d, tmp)
    u /= np.linalg.norm(u)
    w = np.cross(d, u)
    ang = np.linspace(0, 2 * np.pi, seg, endpoint=False)
    verts = []
    for t in np.linspace(-0.15, 1.15, rings):  # overlap the neighbours a little
        c = a + axis * t
        verts += [c + r * (np.cos(q) * u + np.sin(q) * w) for q in ang]
    verts += [a - d * (0.15 * length + 0.5 * r), b + d * (0.15 * length + 0.5 * r)]
    faces = []
    for i in range(rings - 1):
        for k in range(seg):
            p, q = i * seg + k, i * seg + (k + 1) % seg
            faces += [[p, q, q + seg], [p, q + seg, p + seg]]
    s, e = rings * seg, rings * seg + 1
    for k in range(seg):
        faces += [[s, (k + 1) % seg, k], [e, (rings - 1) * seg + k, (rings - 1) * seg + (k + 1) % seg]]
    return np.array(verts), np.array(faces)


def capsule_man_arrays(seed: int = 0) -> dict:
    """SMPL-format arrays (v_template, f, J_regressor, weights, kintree_table, shapedirs, posedirs, kp_body25)."""
    rng = np.random.default_rng(seed)
    verts, faces, owner = [], [], []
    n = 0
    for j in range(1, 24):
        p = SMPL_PARENTS[j]
        a, b = REST_JOINTS[p], REST_JOINTS[j]
        if j == 15:  # the head: a capsule upwards from the head joint
            a, b = REST_JOINTS[15] - [0, 0.08, 0], REST_JOINTS[15] + [0, 0.12, 0]
        v, f = _capsule(a, b, RADIUS[j])
        verts.append(v)
        faces.append(f + n)
        owner += [p if j != 15 else 15] * len(v)
        n += len(v)
    # One loose vertex exactly at each joint: the joint regressor picks it.
    verts.append(REST_JOINTS.copy())
    owner += list(range(24))
    v = np.concatenate(verts)
    V = len(v)
    J_reg = np.zeros((24, V))
    J_reg[np.arange(24), n + np.arange(24)] = 1.0
    weights = np.eye(24)[owner]
    kintree = np.stack([SMPL_PARENTS, np.arange(24)]).astype(np.int64)
    kp = np.zeros((25, V + 24))
    for k, j in {**BODY25_FROM_SMPL_JOINT, **EXTRA_BODY25}.items():
        kp[k, V + j] = 1.0
    return {"v_template": v, "f": np.concatenate(faces).astype(np.int32), "J_regressor": J_reg,
            "weights": weights, "kintree_table": kintree,
            "shapedirs": rng.normal(0, 0.01, (V, 3, 10)), "posedirs": np.zeros((V, 3, 207)),
            "kp_body25": kp}


def walk_motion_arrays(T: int = 90, fps: float = 30.0) -> dict:
    """A synthetic walk, canonical motion keys, up="z" (root carries the Y-up -> Z-up turn)."""
    t = np.arange(T) / fps
    poses = np.zeros((T, 72))
    poses[:, 0] = np.pi / 2  # Y-up -> Z-up: body faces world -y
    swing = 0.5 * np.sin(2 * np.pi * 1.0 * t)
    poses[:, 3 * 1] = swing      # left hip about x
    poses[:, 3 * 2] = -swing     # right hip
    poses[:, 3 * 4] = 0.4 * (1 + np.sin(2 * np.pi * t - 1))  # knees bend
    poses[:, 3 * 5] = 0.4 * (1 + np.sin(2 * np.pi * t + 2))
    poses[:, 3 * 16 + 2] = -1.2  # arms down
    poses[:, 3 * 17 + 2] = 1.2
    poses[:, 3 * 16 + 1] = -swing * 0.6
    poses[:, 3 * 17 + 1] = -swing * 0.6
    trans = np.zeros((T, 3))
    trans[:, 1] = -1.2 * t       # walk towards -y
    return {"poses": poses, "trans": trans, "betas": np.zeros(10), "mocap_framerate": fps,
            "gender": "neutral", "up": "z"}


def write_test_assets(folder: Path) -> tuple[Path, Path]:
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    body, motion = folder / "capsule_man.npz", folder / "walk.npz"
    np.savez(body, **capsule_man_arrays())
    np.savez(motion, **walk_motion_arrays())
    return body, motion


def small_config(body: Path, motion: Path, **over) -> dict:
    cfg = {"seed": 7, "samples": 4, "frames_per_sample": 2, "frame_step": 6, "resolution": [72, 64],
           "people": {"min": 1, "max": 3}, "bodies": {"models": [str(body)]},
           "motions": {"sources": [str(motion)]}, "passes": ["instances", "mask"],
           "camera": {"distance": [4.0, 5.0]}, "rgb": {"cycles": True, "samples": 2}}
    for k, v in over.items():
        if isinstance(v, dict) and isinstance(cfg.get(k), dict):
            cfg[k] = {**cfg[k], **v}
        else:
            cfg[k] = v
    return cfg


def test_capsule_man_is_a_valid_body(tmp_path):
    from neural_render.body import load_body

    body_path, motion_path = write_test_assets(tmp_path)
    body = load_body(body_path)
    np.testing.assert_allclose(body.rest_joints(), REST_JOINTS, atol=1e-6)
    out = body.forward(walk_motion_arrays()["poses"][:3], None, walk_motion_arrays()["trans"][:3])
    assert out.body25.shape == (3, 25, 3) and out.coco17.shape == (3, 17, 3)
    # Z-up: the head is above the pelvis in world z.
    assert np.all(out.joints[:, 15, 2] > out.joints[:, 0, 2] + 0.4)
