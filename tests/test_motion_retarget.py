"""Retargeting: exact recovery of known SMPL motions from disguised source skeletons, the shared CMU
clips (MPJPE / bone directions), bone maps, and the CLI import."""

import json

import numpy as np
import pytest

from motion_testutil import humanoid_arrays, make_body
from neural_render.body.axes import Y_UP_TO_Z_UP
from neural_render.body.lbs import global_transforms
from neural_render.body.skeletons import SMPL_JOINT_NAMES, SMPL_PARENTS
from neural_render.errors import InputError
from neural_render.motion import Motion
from neural_render.motion import rotations as rot
from neural_render.motion.bone_maps import auto_map, load_bone_map
from neural_render.motion.bvh import BVH, format_bvh, parse_bvh, read_bvh
from neural_render.motion.retarget import evaluate, retarget
from neural_render.motion.source_skeleton import clip_from_bvh


def _smpl_motion(T=12, seed=1, up="y"):
    rng = np.random.default_rng(seed)
    poses = rng.normal(0, 0.35, (T, 72))
    poses[:, :3] = rng.normal(0, 0.5, (T, 3))
    trans = rng.normal(0, 0.5, (T, 3))
    return Motion(poses, trans, np.zeros(10), 30.0, up=up)


def _disguised_bvh(motion, body, *, apose=True, world=np.eye(3), unit=100.0, extra_spine=True,
                   prefix="mixamorig:", names=None):
    """A BVH that moves exactly like `motion` on `body`, but with an A-pose rest, another world
    orientation/unit, an extra unmapped joint between spine3 and neck, and other joint names."""
    rest = body.rest_joints(motion.betas).astype(np.float64)
    T = motion.num_frames
    R = rot.aa_to_matrix(motion.poses.reshape(T, 24, 3).astype(np.float64))
    G, P = global_transforms(R, np.broadcast_to(rest, (T, 24, 3)).copy(), SMPL_PARENTS)
    P = P + motion.trans[:, None]
    # Rest-pose "Q" per joint: arms 40 deg down (A-pose) in the body's frontal plane.
    q = np.zeros((24, 3))
    if apose:
        a = 0.7 if apose is True else float(apose)
        q[16] = [0, 0, -a]
        q[17] = [0, 0, a]
    Qloc = rot.aa_to_matrix(q)
    Qg, Pa = global_transforms(Qloc[None], rest[None].copy(), SMPL_PARENTS)
    Qg, Pa = Qg[0], Pa[0]
    Gs = G @ np.swapaxes(Qg, -1, -2)[None]            # source globals
    names = names or {j: prefix + n for j, n in zip(range(24), [
        "Hips", "LeftUpLeg", "RightUpLeg", "Spine", "LeftLeg", "RightLeg", "Spine1", "LeftFoot", "RightFoot",
        "Spine2", "LeftToeBase", "RightToeBase", "Neck", "LeftShoulder", "RightShoulder", "Head", "LeftArm",
        "RightArm", "LeftForeArm", "RightForeArm", "LeftHand", "RightHand", "LeftHandMiddle1", "RightHandMiddle1"])}
    # Joint list in a depth-first order, with an extra joint "UpperChest" between spine3 and neck.
    order, par = [], []
    kids = {j: [c for c in range(24) if SMPL_PARENTS[c] == j] for j in range(24)}
    rows = {}

    def visit(j, prow):
        if j == 12 and extra_spine:
            order.append(("extra", j))
            par.append(prow)
            prow = len(order) - 1
        rows[j] = len(order)
        order.append(("smpl", j))
        par.append(prow)
        for c in kids[j]:
            visit(c, rows[j])

    visit(0, -1)
    n = len(order)
    pos_rest = np.zeros((n, 3))
    glob = np.zeros((T, n, 3, 3))
    pos = np.zeros((T, n, 3))
    for i, (kind, j) in enumerate(order):
        if kind == "smpl":
            pos_rest[i], glob[:, i], pos[:, i] = Pa[j], Gs[:, j], P[:, j]
        else:  # halfway between spine3 and neck, rotating with spine3 plus a wobble
            pos_rest[i] = (Pa[9] + Pa[12]) / 2
            wob = rot.aa_to_matrix(np.stack([np.sin(np.arange(T)), np.zeros(T), np.zeros(T)], 1) * 0.3)
            glob[:, i] = Gs[:, 9] @ wob
            pos[:, i] = P[:, 9] + np.einsum("tab,b->ta", Gs[:, 9], pos_rest[i] - Pa[9])
    # Fix the neck so that its position follows the extra joint (positions are FK-consistent).
    W = world * unit
    offsets = np.array([pos_rest[i] - (pos_rest[par[i]] if par[i] >= 0 else 0) for i in range(n)]) @ W.T
    offsets[0] = 0
    chans, cols = [], []
    for i in range(n):
        Rl = glob[:, i] if par[i] < 0 else np.swapaxes(glob[:, par[i]], -1, -2) @ glob[:, i]
        Rl = world[None] @ Rl @ world.T[None] if par[i] < 0 else world[None] @ Rl @ world.T[None]
        e = np.degrees(rot.matrix_to_euler(Rl, "YXZ"))
        if par[i] < 0:
            chans.append(["Xposition", "Yposition", "Zposition", "Yrotation", "Xrotation", "Zrotation"])
            cols += [pos[:, i] @ W.T, e]
        else:
            chans.append(["Yrotation", "Xrotation", "Zrotation"])
            cols.append(e)
    nm = [("UpperChest" if k == "extra" else names[j]) for k, j in order]
    b = BVH(nm, np.array(par), offsets, chans, np.zeros(n, bool), 1 / motion.fps, np.concatenate(cols, 1))
    return parse_bvh(format_bvh(b, precision=9))


@pytest.mark.parametrize("case", ["plain", "zup_cm_apose", "facing_x_inches", "arms_down"])
def test_recovers_known_motion_from_disguised_skeleton(case):
    body = make_body()
    m = _smpl_motion()
    if case == "plain":
        kw = dict(apose=False, world=np.eye(3), unit=1.0)
    elif case == "zup_cm_apose":
        kw = dict(apose=True, world=Y_UP_TO_Z_UP, unit=100.0)
    elif case == "facing_x_inches":  # Y-up, body facing +x, inches
        kw = dict(apose=True, world=rot.aa_to_matrix(np.array([0, np.pi / 2, 0])), unit=1 / 0.0254)
    else:  # arms hanging straight down at rest (CMU-style): the twist reference must not be "up"
        kw = dict(apose=np.pi / 2, world=np.eye(3), unit=1.0)
    bvh = _disguised_bvh(m, body, **kw)
    clip = clip_from_bvh(bvh)
    mapping, name, _ = auto_map(clip.skeleton)
    assert name == "mixamo" and len(mapping) == 24
    res = retarget(clip, body, mapping, up="y")
    assert res.unit == {"plain": "m", "zup_cm_apose": "cm", "facing_x_inches": "in", "arms_down": "m"}[case]
    # Every rest alignment is a proper rotation.
    A = res.alignment[sorted(mapping)]
    np.testing.assert_allclose(A @ np.swapaxes(A, -1, -2), np.broadcast_to(np.eye(3), A.shape), atol=1e-9)
    np.testing.assert_allclose(np.linalg.det(A), 1.0, atol=1e-9)
    assert res.scale == pytest.approx(1.0, abs=1e-6)
    # Same body, same world motion: joints agree once the source's world turn is undone.
    j_src = m.joints(body)
    j_out = res.motion.joints(body)
    W = kw["world"]
    up_fix = Y_UP_TO_Z_UP.T if case == "zup_cm_apose" else np.eye(3)
    j_src_w = j_src @ (up_fix @ W).T
    err = np.linalg.norm(j_out - j_src_w, axis=-1)
    assert err.max() < 1e-3, err.max()
    # Global orientations of all mapped bones preserved (incl. spine3 across the extra joint).
    R_in = rot.aa_to_matrix(m.poses.reshape(-1, 24, 3))
    R_out = rot.aa_to_matrix(res.motion.poses.reshape(-1, 24, 3))
    # A rest pose fixes each bone's direction but not its twist: with the A-pose the arms' twist is
    # estimated from the body's forward axis, exact only up to how the A-pose was made.
    arms = [16, 17, 18, 19, 20, 21, 22, 23] if kw["apose"] else []
    rest_j = [j for j in range(1, 24) if j not in arms]
    np.testing.assert_allclose(R_out[:, rest_j], R_in[:, rest_j], atol=1e-4)
    if arms:
        assert np.degrees(rot.angle_between(R_out[:, arms], R_in[:, arms])).max() < 10


def test_cmu_walk_metrics(shared_data):
    body = make_body()
    for clip_name in ("cmu_131_01_walk.bvh", "cmu_131_03_hop.bvh"):
        clip = clip_from_bvh(read_bvh(shared_data / "mocap" / clip_name))
        mapping, name, warnings = auto_map(clip.skeleton)
        assert name == "cmu_cgspeed" and len(mapping) == 24 and not warnings
        res = retarget(clip, body, mapping)
        assert res.unit == "cmu" and res.up_axis == "+y"
        A = res.alignment[sorted(mapping)]
        np.testing.assert_allclose(np.linalg.det(A), 1.0, atol=1e-9)
        ev = evaluate(clip, res, body)
        assert ev["mpjpe_m"] <= 0.03          # the pose, on the source's proportions
        assert ev["bone_dir_median_deg"] <= 5.0
        assert ev["root_error_m"] < 1e-4
        # Against the body's own joints the difference in proportions shows (CMU's short torso),
        # but the legs, which set the translation scale, agree within a few cm.
        legs = [ev["per_joint_body_m"][n] for n in ("left_knee", "right_knee", "left_ankle", "right_ankle")]
        assert max(legs) < 0.10


def test_unknown_skeleton_is_an_input_error():
    text = """HIERARCHY
ROOT A
{
  OFFSET 0 0 0
  CHANNELS 6 Xposition Yposition Zposition Zrotation Yrotation Xrotation
  JOINT B
  {
    OFFSET 0 1 0
    CHANNELS 3 Zrotation Yrotation Xrotation
    End Site
    {
      OFFSET 0 1 0
    }
  }
}
MOTION
Frames: 1
Frame Time: 0.1
0 0 0 0 0 0 0 0 0
"""
    clip = clip_from_bvh(parse_bvh(text, "weird.bvh"))
    with pytest.raises(InputError, match="no usable mapping.*--bone-map"):
        auto_map(clip.skeleton, path="weird.bvh")


def test_user_bone_map_json(tmp_path):
    body = make_body()
    m = _smpl_motion(T=4)
    names = {j: f"bone_{j:02d}" for j in range(24)}
    bvh = _disguised_bvh(m, body, apose=False, unit=1.0, names=names, extra_spine=False)
    clip = clip_from_bvh(bvh)
    with pytest.raises(InputError):
        auto_map(clip.skeleton)
    bm = tmp_path / "mine.json"
    bm.write_text(json.dumps({"name": "mine", "joints": {n: f"bone_{j:02d}" for j, n in enumerate(SMPL_JOINT_NAMES)}}))
    mapping, name, _ = auto_map(clip.skeleton, bm)
    assert name == "mine" and len(mapping) == 24
    res = retarget(clip, body, mapping, up="y")
    np.testing.assert_allclose(res.motion.joints(body), m.joints(body), atol=1e-3)
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"joints": {"elbow": "x"}}))
    with pytest.raises(InputError, match="unknown SMPL joint 'elbow'"):
        load_bone_map(bad)


def test_presets_load():
    from neural_render.motion.bone_maps import list_presets
    names = list_presets()
    assert {"cmu", "cmu_cgspeed", "mixamo", "daz", "rokoko", "rigify", "smpl", "generic"} <= set(names)
    for n in names:
        load_bone_map(n)


BIPED = ["Bip01 Pelvis", "Bip01 L Thigh", "Bip01 R Thigh", "Bip01 Spine", "Bip01 L Calf", "Bip01 R Calf",
         "Bip01 Spine1", "Bip01 L Foot", "Bip01 R Foot", "Bip01 Spine2", "Bip01 L Toe0", "Bip01 R Toe0",
         "Bip01 Neck", "Bip01 L Clavicle", "Bip01 R Clavicle", "Bip01 Head", "Bip01 L UpperArm",
         "Bip01 R UpperArm", "Bip01 L Forearm", "Bip01 R Forearm", "Bip01 L Hand", "Bip01 R Hand",
         "Bip01 L Finger2", "Bip01 R Finger2"]
UNREAL = ["pelvis", "thigh_l", "thigh_r", "spine_01", "calf_l", "calf_r", "spine_02", "foot_l", "foot_r",
          "spine_03", "ball_l", "ball_r", "neck_01", "clavicle_l", "clavicle_r", "head", "upperarm_l",
          "upperarm_r", "lowerarm_l", "lowerarm_r", "hand_l", "hand_r", "middle_01_l", "middle_01_r"]


@pytest.mark.parametrize("nm", [UNREAL, BIPED], ids=["unreal", "3dsmax_biped"])
def test_generic_patterns_map_unseen_naming(nm):
    body = make_body()
    m = _smpl_motion(T=3)
    bvh = _disguised_bvh(m, body, apose=False, unit=1.0, names=dict(enumerate(nm)), extra_spine=False)
    # Unreal-style names: no preset, the generic patterns must do it.
    mapping, name, _ = auto_map(clip_from_bvh(bvh).skeleton)
    assert name == "generic"
    got = {SMPL_JOINT_NAMES[k]: bvh.names[v] for k, v in mapping.items()}
    for j, n in enumerate(nm):
        assert got.get(SMPL_JOINT_NAMES[j]) == n, (SMPL_JOINT_NAMES[j], got.get(SMPL_JOINT_NAMES[j]))


def test_cli_evaluate(shared_data):
    r = run_cli(["motion", "evaluate", str(shared_data / "mocap" / "cmu_131_03_hop.bvh"), "--json"])
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["frames"] == 1102 and out["bone_map"] == "cmu_cgspeed" and out["mpjpe_m"] <= 0.03


def test_cli_import_walk(shared_data, tmp_path):
    body = tmp_path / "body.npz"
    np.savez(body, **humanoid_arrays())
    out = tmp_path / "walk.npz"
    r = run_cli(["motion", "import", str(shared_data / "mocap" / "cmu_131_01_walk.bvh"), "--out", str(out), "--fps",
                 "30", "--body", str(body), "--json"])
    assert r.returncode == 0, r.stderr
    rep = json.loads(r.stdout)
    assert rep["bone_map"] == "cmu_cgspeed" and rep["fps"] == 30.0
    m = Motion.load(out)
    assert m.num_frames == int((994 - 1) / 120 * 30) + 1 and m.up == "z"
    assert (tmp_path / "walk.preview.png").exists()
    # Z-up: the walker's pelvis is ~0.9 m above the floor and moves horizontally.
    from neural_render.body import load_body
    j = m.joints(load_body(body))
    assert 0.8 < np.median(j[:, 0, 2]) < 1.1
    assert np.ptp(j[:, 0, :2], axis=0).max() > 1.0


def test_unmapped_joints_are_folded_keeping_global_orientations():
    """A map that leaves out spine1/spine2, the collars, hands and feet: every mapped SMPL joint
    still gets the source's global orientation; the unmapped SMPL joints keep their rest pose
    relative to their parents."""
    body = make_body()
    m = _smpl_motion(T=6)
    bvh = _disguised_bvh(m, body, apose=False, unit=1.0, extra_spine=True)
    clip = clip_from_bvh(bvh)
    keep = ["pelvis", "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle",
            "spine3", "neck", "head", "left_shoulder", "right_shoulder", "left_elbow", "right_elbow",
            "left_wrist", "right_wrist"]
    full = load_bone_map("mixamo")
    bm = {"name": "subset", "strip_prefixes": full["strip_prefixes"],
          "joints": {k: v for k, v in full["joints"].items() if k in keep}}
    mapping, _, warnings = auto_map(clip.skeleton, bm)
    assert len(mapping) == len(keep) and any("unmapped" in w for w in warnings)
    res = retarget(clip, body, mapping, up="y")
    T = m.num_frames

    def globals_of(motion):
        R = rot.aa_to_matrix(motion.poses.reshape(T, 24, 3))
        G, _ = global_transforms(R, np.broadcast_to(body.rest_joints(), (T, 24, 3)).copy(), SMPL_PARENTS)
        return G

    G_in, G_out = globals_of(m), globals_of(res.motion)
    idx = [SMPL_JOINT_NAMES.index(n) for n in keep]
    np.testing.assert_allclose(G_out[:, idx], G_in[:, idx], atol=1e-4)
    for n in ("spine1", "spine2", "left_collar", "left_foot", "left_hand"):
        np.testing.assert_allclose(res.motion.poses[:, 3 * SMPL_JOINT_NAMES.index(n):][:, :3], 0, atol=1e-6)


def _biovision_bvh(frames: int = 3) -> str:
    """The classic Biovision hierarchy (Hips, Chest, Neck, Head, LeftCollar, LeftUpArm, LeftLowArm,
    LeftHand, LeftUpLeg, LeftLowLeg, LeftFoot; inches), random small joint rotations."""
    def j(name, off, kids=""):
        return f"JOINT {name}\n{{\nOFFSET {off}\nCHANNELS 3 Zrotation Xrotation Yrotation\n{kids}}}\n"

    def end(off):
        return f"End Site\n{{\nOFFSET {off}\n}}\n"

    def arm(s, x):
        return j(f"{s}Collar", f"{x * 1.1} 16 1.8", j(f"{s}UpArm", f"{x * 5.5} 0 0",
                 j(f"{s}LowArm", "0 -12 0", j(f"{s}Hand", "0 -10 0", end("0 -7 0")))))

    def leg(s, x):
        return j(f"{s}UpLeg", f"{x * 3.9} 0 0", j(f"{s}LowLeg", "0 -18 0", j(f"{s}Foot", "0 -17 0", end("0 -3 5"))))

    rng = np.random.default_rng(5)
    rows = [" ".join(f"{v:.4f}" for v in np.concatenate([[0, 39, 0], rng.normal(0, 15, 3 + 3 * 17)]))
            for _ in range(frames)]
    return ("HIERARCHY\nROOT Hips\n{\nOFFSET 0 0 0\nCHANNELS 6 Xposition Yposition Zposition Zrotation Xrotation Yrotation\n"
            + j("Chest", "0 5 0", j("Neck", "0 18 0", j("Head", "0 5 0", end("0 4 0"))) + arm("Left", 1) + arm("Right", -1))
            + leg("Left", 1) + leg("Right", -1) + f"}}\nMOTION\nFrames: {frames}\nFrame Time: 0.0333333\n" + "\n".join(rows) + "\n")


def test_classic_biovision_hierarchy():
    body = make_body()
    clip = clip_from_bvh(parse_bvh(_biovision_bvh(), "bio.bvh"))
    mapping, name, warnings = auto_map(clip.skeleton)
    got = {SMPL_JOINT_NAMES[k]: clip.skeleton.names[v] for k, v in mapping.items()}
    assert name == "generic" and len(mapping) == 18
    assert got["left_knee"] == "LeftLowLeg" and got["right_elbow"] == "RightLowArm" and got["spine3"] == "Chest"
    res = retarget(clip, body, mapping)
    assert res.unit == "in" and clip.fps == 30.0
    ev = evaluate(clip, res, body)
    assert ev["mpjpe_m"] < 0.03 and ev["bone_dir_median_deg"] < 5


from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from cli_run import run_cli

_FUZZ_BASE = {}


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_fuzz_retarget_garbled_skeletons(data):
    """Garbled but parseable BVHs (zeroed/scaled offsets, wild angles, renamed joints) either
    retarget to finite motions or stop with an InputError."""
    if "bvh" not in _FUZZ_BASE:
        body = make_body()
        _FUZZ_BASE["body"] = body
        _FUZZ_BASE["bvh"] = _disguised_bvh(_smpl_motion(T=3), body, apose=False, unit=1.0)
    body, base = _FUZZ_BASE["body"], _FUZZ_BASE["bvh"]
    n = len(base.names)
    offsets = base.offsets.copy()
    for i in data.draw(st.lists(st.integers(0, n - 1), max_size=6)):
        offsets[i] *= data.draw(st.sampled_from([0.0, -1.0, 1e-9, 1e6, 3.0]))
    frames = base.frames.copy()
    if data.draw(st.booleans()):
        frames[:, 6:] = data.draw(st.sampled_from([0.0, 90.0, 180.0, 1e6]))
    names = list(base.names)
    for i in data.draw(st.lists(st.integers(0, n - 1), max_size=4)):
        names[i] = data.draw(st.sampled_from(["x", "Hips", "mixamorig:Head", "LeftHand"])) + str(i)
    bvh = BVH(names, base.parents, offsets, base.channels, base.is_end, base.frame_time, frames)
    shape = data.draw(st.sampled_from(["body", "source"]))
    try:
        clip = clip_from_bvh(bvh)
        mapping, _, _ = auto_map(clip.skeleton)
        res = retarget(clip, body, mapping, shape=shape)
    except InputError:
        return
    assert np.all(np.isfinite(res.motion.poses)) and np.all(np.isfinite(res.motion.trans))
    assert np.all(np.isfinite(res.motion.betas))


def test_generic_prefers_pelvis_over_floor_root():
    text = """HIERARCHY
ROOT root
{
OFFSET 0 0 0
CHANNELS 6 Xposition Yposition Zposition Zrotation Xrotation Yrotation
JOINT pelvis
{
OFFSET 0 95 0
CHANNELS 3 Zrotation Xrotation Yrotation
JOINT thigh_l
{
OFFSET 10 -5 0
CHANNELS 3 Zrotation Xrotation Yrotation
End Site
{
OFFSET 0 -45 0
}
}
JOINT thigh_r
{
OFFSET -10 -5 0
CHANNELS 3 Zrotation Xrotation Yrotation
End Site
{
OFFSET 0 -45 0
}
}
JOINT spine_01
{
OFFSET 0 10 0
CHANNELS 3 Zrotation Xrotation Yrotation
JOINT neck_01
{
OFFSET 0 50 0
CHANNELS 3 Zrotation Xrotation Yrotation
End Site
{
OFFSET 0 10 0
}
}
}
}
}
MOTION
Frames: 1
Frame Time: 0.04
0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0
"""
    clip = clip_from_bvh(parse_bvh(text))
    mapping, name, _ = auto_map(clip.skeleton)
    assert name == "generic" and clip.skeleton.names[mapping[0]] == "pelvis"
