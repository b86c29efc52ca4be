"""SMPL parameter files: AMASS (SMPL/SMPL-H/SMPL-X), SMPL pkl/npz dicts, Meshcapade .smpl, BVH export,
normalization and smoothing."""

import json
import pickle

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from motion_testutil import humanoid_arrays, make_body
from neural_render.errors import InputError
from neural_render.motion import Motion
from neural_render.motion import rotations as rot
from neural_render.motion.importers import import_motion
from neural_render.motion.smpl_params import (load_amass, load_smpl_dict, load_smpl_file,
                                              motion_from_smpl_dict, save_smpl_file)
from cli_run import run_cli


def test_amass_smplh_takes_body_and_hand_middle_finger(tmp_path):
    T = 5
    poses = np.arange(T * 156, dtype=np.float64).reshape(T, 156) / 1000.0
    poses[:, :3] = [np.pi / 2, 0, 0]   # AMASS roots contain the Y-up -> Z-up turn
    p = tmp_path / "a.npz"
    np.savez(p, poses=poses, trans=np.ones((T, 3)), betas=np.zeros(16), mocap_framerate=np.array(60.0),
             gender=np.array("female"))
    m = load_amass(p)
    assert (m.num_frames, m.fps, m.up, m.gender) == (5, 60.0, "z", "female")
    np.testing.assert_allclose(m.poses[:, :66], poses[:, :66], rtol=1e-6)
    # SMPL hand joints = middle1 of each hand (hand joint 3 of 15).
    np.testing.assert_allclose(m.poses[:, 66:69], poses[:, 66 + 9: 66 + 12], rtol=1e-6)
    np.testing.assert_allclose(m.poses[:, 69:72], poses[:, 111 + 9: 111 + 12], rtol=1e-6)
    assert m.metadata["model"] == "smpl-h"


def test_amass_smplx_and_bad(tmp_path):
    T = 3
    poses = np.random.default_rng(0).normal(size=(T, 165))
    p = tmp_path / "x.npz"
    np.savez(p, poses=poses, trans=np.zeros((T, 3)), mocap_frame_rate=np.array(30.0))
    m = load_amass(p)
    np.testing.assert_allclose(m.poses[:, 66:69], poses[:, 75 + 9: 75 + 12], rtol=1e-5)
    np.savez(p, poses=np.zeros((T, 100)), trans=np.zeros((T, 3)), mocap_framerate=30.0)
    with pytest.raises(InputError, match="100 values per frame"):
        load_amass(p)
    np.savez(p, poses=np.zeros((T, 72)), trans=np.zeros((T, 3)))
    with pytest.raises(InputError, match="frame rate"):
        load_amass(p)


def test_shared_smpl_pickle(shared_data, tmp_path):
    src = shared_data / "smpl" / "smpl_to_fbx_sample.pkl"
    m = load_smpl_dict(src)
    assert m.num_frames == 127 and m.up == "y" and m.metadata["trans_unit"] == "m"
    body = make_body()
    # Through the importer: Z-up, grounded (the file has no floor), resampled.
    mz, rep = import_motion(src, body=body, fps=30, source_fps=60)
    assert mz.up == "z" and rep["format"] == "smpl" and "ground_shift_m" in rep
    assert mz.fps == 30 and mz.num_frames == int(126 / 60 * 30) + 1
    low = body.forward(mz.poses, mz.betas, mz.trans, keypoints=False).vertices[..., 2].min()
    assert abs(low) < 1e-3
    # Standing upright in Z-up: head above pelvis.
    j = mz.joints(body)
    assert np.all(j[:, 15, 2] > j[:, 0, 2])


def test_smpl_dict_units_and_keys(tmp_path):
    rng = np.random.default_rng(1)
    poses = rng.normal(0, 0.2, (4, 72))
    trans = rng.normal(0, 1, (4, 3)) + [0, 1, 3]
    m_cm = motion_from_smpl_dict({"smpl_poses": poses, "smpl_trans": trans * 100})
    assert m_cm.metadata["trans_unit"] == "cm"
    np.testing.assert_allclose(m_cm.trans, trans, rtol=1e-5)
    m_aist = motion_from_smpl_dict({"smpl_poses": poses, "smpl_trans": trans * 93.0, "smpl_scaling": [93.0]})
    np.testing.assert_allclose(m_aist.trans, trans, rtol=1e-5)
    m_hmr = motion_from_smpl_dict({"global_orient": poses[:, :3], "body_pose": poses[:, 3:], "transl": trans})
    np.testing.assert_allclose(m_hmr.poses, poses, rtol=1e-6)
    with pytest.raises(InputError, match="no SMPL pose array"):
        motion_from_smpl_dict({"foo": 1})
    with pytest.raises(InputError, match="non-finite"):
        motion_from_smpl_dict({"poses": np.full((2, 72), np.nan)})
    with pytest.raises(InputError, match="expected \\(2, 3\\)"):
        motion_from_smpl_dict({"poses": np.zeros((2, 72)), "trans": np.zeros((3, 3))})


def test_pickle_not_a_dict_and_evil(tmp_path):
    p = tmp_path / "l.pkl"
    p.write_bytes(pickle.dumps([1, 2]))
    with pytest.raises(InputError, match="expected a dict"):
        load_smpl_dict(p)

    class Evil:
        def __reduce__(self):
            import os
            return (os.system, ("touch pwned",))

    p.write_bytes(pickle.dumps({"poses": Evil()}))
    with pytest.raises(InputError, match="refused"):
        load_smpl_dict(p)


def test_smpl_file_round_trip(tmp_path):
    body = make_body()
    rng = np.random.default_rng(2)
    m = Motion(rng.normal(0, 0.3, (6, 72)), rng.normal(0, 0.5, (6, 3)), np.zeros(10), 24.0, "male", "z")
    p = save_smpl_file(m, tmp_path / "m.smpl", body)
    back = load_smpl_file(p)
    assert back.up == "y" and back.fps == 24.0 and back.gender == "male" and back.num_frames == 6
    np.testing.assert_allclose(back.with_up("z", body=body).joints(body), m.joints(body), atol=1e-4)
    bad = tmp_path / "bad.smpl"
    bad.write_bytes(b"garbage")
    with pytest.raises(InputError, match="not a readable .smpl"):
        load_smpl_file(bad)


def _humanoid_file_and_motion(tmp_path, seed: int, frames: int, pose_sd: float, fps: float):
    """The humanoid stand-in body written to tmp_path/body.npz (and loaded), and a random motion
    on it saved as tmp_path/m.npz: (body_file, body, motion)."""
    from neural_render.body import load_body

    body_file = tmp_path / "body.npz"
    np.savez(body_file, **humanoid_arrays())
    rng = np.random.default_rng(seed)
    m = Motion(rng.normal(0, pose_sd, (frames, 72)), rng.normal(0, 0.5, (frames, 3)), np.zeros(10), fps)
    m.save(tmp_path / "m.npz")
    return body_file, load_body(body_file), m


def test_bvh_export_cli_round_trip(tmp_path):
    body_file, body, m = _humanoid_file_and_motion(tmp_path, 3, 8, 0.4, 30.0)
    for unit in ("m", "cm"):
        out = tmp_path / f"m_{unit}.bvh"
        r = run_cli(["motion", "export", str(tmp_path / "m.npz"), "--out", str(out), "--body", str(body_file),
                     "--unit", unit])
        assert r.returncode == 0, r.stderr
        back, rep = import_motion(out, body=body)
        assert rep["bone_map"] == "smpl" and rep["retarget"]["unit"] == unit
        np.testing.assert_allclose(back.joints(body), m.joints(body), atol=1e-4)
        R1 = rot.aa_to_matrix(back.poses.reshape(-1, 24, 3))
        R0 = rot.aa_to_matrix(m.poses.reshape(-1, 24, 3))
        assert np.degrees(rot.angle_between(R1, R0)).max() < 0.01


@settings(max_examples=80, deadline=None)
@given(st.dictionaries(st.sampled_from(["poses", "smpl_poses", "trans", "smpl_trans", "betas", "smpl_scaling",
                                        "global_orient", "body_pose", "mocap_framerate", "gender"]),
                       st.one_of(hnp.arrays(np.float64, hnp.array_shapes(max_dims=3, max_side=80),
                                            elements=st.floats(allow_nan=True, allow_infinity=True, width=32)),
                                 # issue 17: complex and text arrays, absurd magnitudes and frame rates
                                 hnp.arrays(np.complex128, hnp.array_shapes(max_dims=2, max_side=80)),
                                 hnp.arrays(np.float64, hnp.array_shapes(max_dims=2, max_side=80),
                                            elements=st.sampled_from([0.0, 1e-300, 1e30, -1e300, 1e5])),
                                 hnp.arrays("U3", hnp.array_shapes(max_dims=2, max_side=80)),
                                 st.text(max_size=4), st.integers(-3, 3)),
                       max_size=5))
def test_fuzz_smpl_dict(d):
    from neural_render.motion.motion import MAX_ABS_TRANS, MAX_FPS, MIN_FPS

    try:
        m = motion_from_smpl_dict(d)
    except InputError:
        return
    assert np.all(np.isfinite(m.poses)) and np.all(np.isfinite(m.trans)) and m.poses.shape[1] == 72
    assert np.abs(m.trans).max(initial=0) <= MAX_ABS_TRANS and MIN_FPS <= m.fps <= MAX_FPS


@settings(max_examples=40, deadline=None)
@given(st.binary(max_size=400))
def test_fuzz_npz_bytes(tmp_path_factory, blob):
    p = tmp_path_factory.mktemp("fz") / "f.npz"
    p.write_bytes(blob)
    for fn in (load_amass, load_smpl_dict, Motion.load, load_smpl_file):
        try:
            fn(p)
        except InputError:
            pass


def test_cli_formats_and_keypoint_fallback(tmp_path):
    # A motion.npz re-imports as itself; unknown suffix is a clear error.
    body_file = tmp_path / "body.npz"
    np.savez(body_file, **humanoid_arrays())
    m = Motion(np.zeros((3, 72)), np.zeros((3, 3)), fps=10.0)
    m.save(tmp_path / "in.npz")
    r = run_cli(["motion", "import", str(tmp_path / "in.npz"), "--out", str(tmp_path / "o.npz"), "--body",
                 str(body_file), "--json"])
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["format"] == "motion"
    (tmp_path / "x.abc").write_text("hi")
    r = run_cli(["motion", "import", str(tmp_path / "x.abc"), "--out", str(tmp_path / "o2.npz"), "--body",
                 str(body_file)])
    assert r.returncode == 2 and "--format" in r.stderr and not (tmp_path / "o2.npz").exists()


@settings(max_examples=60, deadline=None)
@given(st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=12),
                    lambda c: st.lists(c, max_size=4) | st.dictionaries(st.text(max_size=14), c, max_size=4),
                    max_leaves=12))
def test_fuzz_bone_map_json(obj):
    from neural_render.motion.bone_maps import validate_bone_map
    from neural_render.motion.source_skeleton import SourceSkeleton
    from neural_render.motion.bone_maps import auto_map
    try:
        bm = validate_bone_map(obj)
    except InputError:
        return
    skel = SourceSkeleton(["Hips", "LeftUpLeg", "RightUpLeg", "Neck"], [-1, 0, 0, 0],
                          [[0, 1, 0], [0.1, 0.9, 0], [-0.1, 0.9, 0], [0, 1.5, 0]], np.tile(np.eye(3), (4, 1, 1)))
    try:
        auto_map(skel, bm)
    except InputError:
        pass


def test_up_axis_detected_from_root_orientation(tmp_path):
    rng = np.random.default_rng(4)
    T = 20
    poses = rng.normal(0, 0.1, (T, 72))
    poses[:, :3] = rng.normal(0, 0.1, (T, 3))          # upright in Y-up model space
    m = motion_from_smpl_dict({"poses": poses, "trans": np.zeros((T, 3))})
    assert m.up == "y"
    body = make_body()
    mz = m.with_up("z", body=body)                       # the same clip, Z-up
    mz2 = motion_from_smpl_dict({"poses": mz.poses, "trans": mz.trans})
    assert mz2.up == "z"
    p = tmp_path / "a.npz"
    np.savez(p, poses=m.poses, trans=m.trans, mocap_framerate=30.0, gender=np.array(b"male"))
    a = load_amass(p)                                    # no 'up' key, Y-up content
    assert a.up == "y" and a.gender == "male" and a.metadata["up_detected"]["up"] == "y"


def test_cli_smpl_export_import_is_identity(tmp_path):
    body_file, body, m = _humanoid_file_and_motion(tmp_path, 6, 5, 0.3, 25.0)
    for args in (["export", str(tmp_path / "m.npz"), "--out", str(tmp_path / "m.smpl")],
                 ["import", str(tmp_path / "m.smpl"), "--out", str(tmp_path / "back.npz"), "--no-preview"]):
        r = run_cli(["motion", *args, "--body", str(body_file)])
        assert r.returncode == 0, r.stderr
    back = Motion.load(tmp_path / "back.npz")
    assert back.up == "z" and back.fps == 25.0
    np.testing.assert_allclose(back.joints(body), m.joints(body), atol=1e-4)
