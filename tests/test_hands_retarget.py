"""Finger motion from BVH/FBX: bone-map finger entries, retargeting onto SMPL-H's finger joints,
BVH export of the fingers."""

import json
import subprocess
import sys

import numpy as np
import pytest

from neural_render.body import load_body
from neural_render.errors import InputError
from neural_render.motion import rotations as rot

from conftest import ROOT
from neural_render.body.hand_poses import curl


@pytest.fixture(scope="module")
def body():
    return load_body()


def test_bvh_export_and_import_keep_the_fingers(body, tmp_path):
    from neural_render.motion.export import save_bvh
    from neural_render.motion.importers import import_motion
    from neural_render.motion.motion import Motion

    rng = np.random.default_rng(0)
    T = 6
    poses = rng.normal(0, 0.2, (T, 72)).astype(np.float32)
    poses[:, :3] = [np.pi / 2, 0, 0]
    hands = (curl(40, n=T) + rng.normal(0, 0.15, (T, 90))).astype(np.float32)
    m = Motion(poses, rng.normal(0, 0.1, (T, 3)), hand_poses=hands, up="z")
    save_bvh(m, tmp_path / "f.bvh", body)
    text = (tmp_path / "f.bvh").read_text()
    assert "JOINT left_index1" in text and "JOINT right_thumb3" in text
    back, rep = import_motion(tmp_path / "f.bvh", body=body, ground="none", shape="body")
    assert rep["bone_map"] == "smpl" and back.hand_poses is not None
    Ra = rot.aa_to_matrix(hands.reshape(T, 30, 3).astype(np.float64))
    Rb = rot.aa_to_matrix(back.hand_poses.reshape(T, 30, 3).astype(np.float64))
    cos = (np.trace(np.swapaxes(Ra, -1, -2) @ Rb, axis1=-2, axis2=-1) - 1) / 2
    assert np.degrees(np.arccos(np.clip(cos, -1, 1))).max() < 0.05


def test_finger_clip_made_in_blender_retargets(body, tmp_path):
    """A Mixamo-named rig keyed in bpy (scripts/make_finger_clip.py), exported by Blender as BVH
    and FBX: every finger joint maps and the fingers follow the source's (3-4 deg in the hand's
    frame) far better than the relaxed default hand."""
    pytest.importorskip("bpy")
    r = subprocess.run([sys.executable, str(ROOT / "scripts" / "make_finger_clip.py"), "--out", str(tmp_path),
                        "--frames", "12"], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    sys.path.insert(0, str(ROOT / "scripts"))
    from bench_hands import retarget_error

    for ext in ("bvh", "fbx"):
        res = retarget_error(str(tmp_path / f"fingers.{ext}"), body)
        assert res["finger_joints_mapped"] == 30
        err = res["fingers"]["bone_direction_in_hand_deg"]
        base = res["baseline_relaxed_hand"]["bone_direction_in_hand_deg"]
        assert err["mean"] < 6 and err["p95"] < 10, res
        assert base["mean"] > 5 * err["mean"]


def test_two_segment_fingers_and_bad_finger_maps(tmp_path):
    from neural_render.motion.bone_maps import auto_finger_map, validate_bone_map
    from neural_render.motion.source_skeleton import SourceSkeleton

    names = ["Hips", "LeftHand", "LeftHandIndex1", "LeftHandIndex2", "LeftHandIndex2_end"]
    skel = SourceSkeleton(names, np.array([-1, 0, 1, 2, 3]), np.zeros((5, 3)), np.broadcast_to(np.eye(3), (5, 3, 3)),
                          np.array([False, False, False, False, True]))
    m = auto_finger_map(skel, {20: 1}, "mixamo")
    assert m == {0: 2, 1: 3}  # index1, index2; index3 missing (follows its parent)
    assert auto_finger_map(skel, {}, "mixamo") == {}  # no mapped wrist: no fingers
    with pytest.raises(InputError, match="unknown SMPL-H finger joint"):
        validate_bone_map({"joints": {"pelvis": "Hips"}, "fingers": {"left_index4": "x"}})
    presets = {p.stem: json.loads(p.read_text()) for p in (ROOT / "smpl_assets" / "bone_maps").glob("*.json")}
    for name in ("mixamo", "daz", "rokoko", "rigify", "smpl"):
        assert len(presets[name]["fingers"]) == 30, name


def test_hand_landmark_fit_recovers_finger_curls_within_limits(body):
    """Landmarks of known hand poses, seen in an arbitrary camera frame and scale, fit back to the
    same finger bends (joint-limited), far closer than the relaxed default hand."""
    sys.path.insert(0, str(ROOT / "scripts"))
    from bench_hands import _flexions
    from scipy.spatial.transform import Rotation

    from neural_render.motion.hand_fit import fit_hand_poses

    def wholebody(poses, hands):
        o = body.forward(body.smplh_poses(poses, hands))
        return body.keypoints(o.vertices, o.joints, "wholebody")

    rng = np.random.default_rng(2)
    T = 8
    gt = (np.concatenate([curl(a) for a in rng.uniform(0, 70, T)]) + rng.normal(0, 0.08, (T, 90))).astype(np.float32)
    poses = rng.normal(0, 0.2, (T, 72)).astype(np.float32)
    kp = wholebody(poses, gt)
    lm = np.stack([kp[:, 91:112], kp[:, 112:133]], 1) @ Rotation.random(random_state=3).as_matrix().T * 700.0
    lm[3, 1] = np.nan  # a right hand not found
    fit, found = fit_hand_poses(lm, body)
    assert found.sum() == 2 * T - 1
    np.testing.assert_allclose(fit[3, 45:], body.hands.hands_mean[45:], atol=1e-6)
    F_gt, F_fit = _flexions(kp), _flexions(wholebody(poses, fit))
    F_base = _flexions(wholebody(poses, np.broadcast_to(body.hands.hands_mean, (T, 90)).copy()))
    err = np.abs(F_fit - F_gt)[found]
    assert err.mean() < 5 and err.mean() < 0.3 * np.abs(F_base - F_gt)[found].mean()
    # An index finger bent 60 deg backwards at its middle joint: the hinge stops at straight.
    h = kp[0, 91:112].copy()
    pip, dip = h[6].copy(), h[7] - h[6]
    back = np.array([0.0, 1.0, 0.0])  # the back of the left hand in the T-pose
    h[7] = pip + np.linalg.norm(dip) * (0.5 * dip / np.linalg.norm(dip) + 0.866 * back)
    h[8] = h[7] + (h[7] - pip) * 0.8
    assert _flexions(np.concatenate([np.zeros((1, 91, 3)), h[None], kp[:1, 112:]], 1))[0, 0, 4] > 50
    fit1, _ = fit_hand_poses(np.stack([h, kp[0, 112:133]])[None], body)
    assert _flexions(wholebody(poses[:1], fit1))[0, 0, 4] < 12  # index PIP (COCO hand order)
