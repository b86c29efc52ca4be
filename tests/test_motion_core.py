"""Motion: save/load round trip, bad files, resampling with slerp, trimming, up-axis conversion."""

import numpy as np
import pytest

from motion_testutil import make_body
from neural_render.errors import InputError
from neural_render.motion import Motion
from neural_render.motion import rotations as rot


def _random_motion(T=20, seed=0, fps=30.0):
    rng = np.random.default_rng(seed)
    return Motion(rng.normal(0, 0.4, (T, 72)), rng.normal(0, 1, (T, 3)), rng.normal(0, 1, 10), fps,
                  "female", "z", {"note": "x"})


def test_save_load_round_trip(tmp_path):
    m = _random_motion()
    p = m.save(tmp_path / "m.npz")
    m2 = Motion.load(p)
    assert np.array_equal(m.poses, m2.poses) and np.array_equal(m.trans, m2.trans)
    assert np.array_equal(m.betas, m2.betas)
    assert (m2.fps, m2.gender, m2.up, m2.metadata) == (30.0, "female", "z", {"note": "x"})
    # AMASS-compatible keys
    with np.load(p) as z:
        assert {"poses", "trans", "betas", "mocap_framerate", "gender", "up"} <= set(z.files)
        assert z["poses"].dtype == np.float32 and z["poses"].shape == (20, 72)
    assert list(tmp_path.iterdir()) == [p]  # no temporary left behind


@pytest.mark.parametrize("bad,msg", [
    (dict(poses=np.zeros((5, 71)), trans=np.zeros((5, 3))), "expected \\(T, 72\\)"),
    (dict(poses=np.zeros((5, 100)), trans=np.zeros((5, 3))), "100 values"),
    (dict(poses=np.full((5, 156), np.nan), trans=np.zeros((5, 3))), "non-finite"),
    (dict(poses=np.zeros((5, 72)), trans=np.zeros((4, 3))), "trans has shape"),
    (dict(poses=np.full((5, 72), np.nan), trans=np.zeros((5, 3))), "non-finite"),
    (dict(trans=np.zeros((5, 3))), "no 'poses'"),
    (dict(poses=np.zeros((5, 72)), trans=np.zeros((5, 3)), mocap_framerate=-1.0), "mocap_framerate"),
])
def test_load_rejects_bad_files(tmp_path, bad, msg):
    p = tmp_path / "bad.npz"
    np.savez(p, **bad)
    with pytest.raises(InputError, match=msg):
        Motion.load(p)


def test_load_garbage_and_missing(tmp_path):
    p = tmp_path / "g.npz"
    p.write_bytes(b"not a zip")
    with pytest.raises(InputError, match="not a readable"):
        Motion.load(p)
    with pytest.raises(InputError, match="not found"):
        Motion.load(tmp_path / "nope.npz")


def test_resample_keeps_span_and_interpolates_by_slerp():
    # A single joint spinning at constant angular velocity about z: slerp must stay on it.
    T, fps = 13, 12.0
    ang = np.linspace(0, 2.4, T)
    poses = np.zeros((T, 72))
    poses[:, 5] = ang               # joint 1 about z
    trans = np.stack([np.linspace(0, 1, T)] * 3, 1)
    m = Motion(poses, trans, fps=fps)
    r = m.resample(30.0)
    assert r.fps == 30.0
    assert r.num_frames == int(np.floor((T - 1) / fps * 30 + 1e-6)) + 1
    t = np.arange(r.num_frames) / 30.0
    expect = 2.4 * t / ((T - 1) / fps)
    np.testing.assert_allclose(r.poses[:, 5], expect, atol=1e-5)
    np.testing.assert_allclose(r.trans[:, 0], t / ((T - 1) / fps), atol=1e-5)
    # Round trip back to the original rate is exact at the original frames.
    back = r.resample(fps)
    np.testing.assert_allclose(back.poses, m.poses, atol=1e-5)


def test_resample_slerp_takes_shortest_path():
    # Rotation by +170 deg then -170 deg about x (= +190): the midpoint is 180 deg, not 0.
    poses = np.zeros((2, 72))
    poses[0, 3] = np.radians(170)
    poses[1, 3] = np.radians(-170)
    m = Motion(poses, np.zeros((2, 3)), fps=1.0).resample(2.0)
    R = rot.aa_to_matrix(m.poses[1, 3:6])
    assert np.degrees(rot.angle_between(R, np.eye(3))) == pytest.approx(180, abs=1e-3)


def test_trim_and_frames():
    m = _random_motion(T=10)
    t = m.trim(2, 5)
    assert t.num_frames == 3 and np.array_equal(t.poses, m.poses[2:5])
    assert len(list(t.frames())) == 3
    with pytest.raises(InputError):
        m.trim(8, 3)


def test_with_up_moves_the_posed_body_rigidly():
    body = make_body()
    m = _random_motion(T=4).copy(up="y", betas=np.zeros(10))
    v_y = body.forward(m.poses, m.betas, m.trans, keypoints=False).vertices
    mz = m.with_up("z", body=body)
    v_z = body.forward(mz.poses, mz.betas, mz.trans, keypoints=False).vertices
    from neural_render.body.axes import to_z_up
    np.testing.assert_allclose(v_z, to_z_up(v_y), atol=1e-4)
    back = mz.with_up("y", body=body)
    np.testing.assert_allclose(back.joints(body), m.joints(body), atol=1e-4)
    with pytest.raises(ValueError):
        m.with_up("z")  # needs the body


def test_joints_fk_matches_skinning():
    body = make_body()
    m = _random_motion(T=3).copy(betas=np.zeros(10))
    out = body.forward(m.poses, m.betas, m.trans, keypoints=False)
    np.testing.assert_allclose(m.joints(body), out.joints, atol=1e-4)
