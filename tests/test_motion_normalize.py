"""EDN global pose normalization, grounding, smoothing, preview image."""

import numpy as np
import pytest

from motion_testutil import make_body
from neural_render.motion import Motion
from neural_render.motion import rotations as rot
from neural_render.motion.filters import smooth_motion
from neural_render.motion.normalize import (AnkleStats, ankle_stats, edn_normalize_2d, edn_normalize_motion,
                                            edn_transform, ground_motion)
from cli_run import run_cli


def _stick_figures(ankle_y, height, x=100.0):
    """(T, 3, 2) keypoints: head, hip, ankle on a vertical line; ankle at ankle_y, given heights."""
    ankle_y = np.asarray(ankle_y, float)
    height = np.asarray(height, float)
    kp = np.zeros((len(ankle_y), 3, 2))
    kp[:, :, 0] = x
    kp[:, 2, 1] = ankle_y
    kp[:, 1, 1] = ankle_y - height / 2
    kp[:, 0, 1] = ankle_y - height
    return kp


def test_edn_maps_ankle_range_and_heights():
    # Source walks from far (ankle y 500, 200 px tall) to close (ankle y 700, 300 px tall).
    s_ankle = np.linspace(500, 700, 21)
    s_h = np.linspace(200, 300, 21)
    src = _stick_figures(s_ankle, s_h)
    tgt = AnkleStats(a_min=400, a_max=800, h_far=100, h_close=400)
    st = ankle_stats(src, ankles=(2,), margin=0.01)
    assert (st.a_min, st.a_max, st.h_far, st.h_close) == pytest.approx((500, 700, 200, 300))
    out = edn_normalize_2d(src, tgt, ankles=(2,), source_stats=st)
    # Ankles map linearly onto the target's range.
    np.testing.assert_allclose(out[:, 2, 1], np.linspace(400, 800, 21))
    # At the far/close ends the figure has the target's height there.
    h = out[:, 2, 1] - out[:, 0, 1]
    assert h[0] == pytest.approx(100) and h[-1] == pytest.approx(400)
    np.testing.assert_allclose(out[:, :, 0], 100.0)  # x scaled about the ankle x: unchanged here
    s, b = edn_transform(np.array([600.0]), st, tgt)
    assert s[0] == pytest.approx(0.5 * (100 / 200) + 0.5 * (400 / 300))
    assert b[0] == pytest.approx(600 - 600)


def test_edn_motion_and_grounding():
    body = make_body()
    rng = np.random.default_rng(0)
    T = 10
    poses = rng.normal(0, 0.05, (T, 72))
    poses[:, :3] = rot.matrix_to_aa(np.broadcast_to(np.array([[1, 0, 0], [0, 0, -1], [0, 1, 0.0]]), (T, 3, 3)))
    trans = np.zeros((T, 3))
    trans[:, 2] = np.linspace(0.3, 0.5, T)   # floating above the floor
    m = Motion(poses, trans, np.zeros(10), 30.0, up="z")
    g, shift = ground_motion(m, body)
    low = body.forward(g.poses, g.betas, g.trans, keypoints=False).vertices[..., 2].min()
    assert low == pytest.approx(0, abs=1e-4) and shift == pytest.approx(g.trans[0, 2] - m.trans[0, 2])
    # EDN on 3D: ankle heights of the result span the target's range.
    tgt = AnkleStats(0.1, 0.2, 1.0, 1.0)
    n = edn_normalize_motion(g, body, tgt)
    ank = n.joints(body)[:, [7, 8], 2].min(1)
    assert ank.min() == pytest.approx(0.1, abs=1e-4) and ank.max() == pytest.approx(0.2, abs=1e-4)


def test_smoothing_reduces_jitter_and_keeps_smooth_motion():
    T = 61
    t = np.arange(T) / 30.0
    clean = np.zeros((T, 72))
    clean[:, 3] = 0.8 * np.sin(t)      # a slow swing of the left hip about x
    noisy = clean.copy()
    noisy[:, 3:6] += np.random.default_rng(0).normal(0, 0.05, (T, 3))
    m = Motion(noisy, np.zeros((T, 3)), fps=30.0)
    s = smooth_motion(m, window_s=0.3)
    err = lambda x: np.degrees(rot.angle_between(rot.aa_to_matrix(x.poses[:, 3:6]), rot.aa_to_matrix(clean[:, 3:6])))
    assert err(s).mean() < 0.6 * err(m).mean()
    smooth_only = smooth_motion(Motion(clean, np.zeros((T, 3)), fps=30.0), window_s=0.3)
    np.testing.assert_allclose(smooth_only.poses[:, 3], clean[:, 3], atol=2e-3)


def test_preview_image(tmp_path):
    import cv2

    from neural_render.motion.preview import preview_path, write_preview
    body = make_body()
    m = Motion(np.zeros((5, 72)), np.zeros((5, 3)), fps=30.0, up="y")
    p = write_preview(m, body, preview_path(tmp_path / "m.npz"), panels=3, size=128)
    assert p.name == "m.preview.png"
    img = cv2.imread(str(p))
    assert img.shape == (128, 384, 3)
    assert (img.max(axis=2) > 100).sum() > 200   # the skeleton is drawn


def test_video_preview_draws_projected_skeleton(tmp_path):
    import cv2

    from neural_render.motion.preview import render_video_preview
    # A 64-frame grey video and a camera 3 m in front of a standing body (Z-up world, body faces -y).
    video = tmp_path / "v.avi"
    w = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 25, (320, 240))
    for _ in range(64):
        w.write(np.full((240, 320, 3), 90, np.uint8))
    w.release()
    body = make_body()
    m = Motion(np.zeros((8, 72)), np.zeros((8, 3)), fps=25.0, up="y").with_up("z", body=body)
    # OpenCV camera at (0, -3, 0) looking along +y: x right, y down (= -z world), z forward (= +y).
    R = np.array([[1, 0, 0], [0, 0, -1], [0, 1, 0.0]])
    W = np.eye(4)
    W[:3, :3] = R
    W[:3, 3] = -R @ np.array([0, -3.0, 0])
    cam = {"K": [[300, 0, 160], [0, 300, 120], [0, 0, 1]], "world_to_camera": W.tolist(), "width": 320,
           "height": 240}
    img = render_video_preview(m.joints(body), m.fps, cam, video, panels=2, height=240)
    assert img.shape == (240, 640, 3)
    coloured = (np.abs(img.astype(int) - 90).max(axis=2) > 60)
    assert coloured.sum() > 300                      # skeleton drawn
    ys, xs = np.nonzero(coloured[:, :320])
    assert 100 < xs.mean() < 220                     # centred on the image


def test_cli_normalize(tmp_path):

    from motion_testutil import humanoid_arrays
    body_file = tmp_path / "b.npz"
    np.savez(body_file, **humanoid_arrays())
    from neural_render.body import load_body
    body = load_body(body_file)
    T = 6
    src = Motion(np.zeros((T, 72)), np.stack([np.linspace(0, 1, T), np.zeros(T), np.linspace(2, 3, T)], 1),
                 np.zeros(10), 30.0, up="y").with_up("z", body=body)
    tgt = Motion(np.zeros((T, 72)), np.zeros((T, 3)), np.zeros(10), 30.0, up="y").with_up("z", body=body)
    src.save(tmp_path / "s.npz")
    tgt.save(tmp_path / "t.npz")
    r = run_cli(["motion", "normalize", str(tmp_path / "s.npz"), "--target", str(tmp_path / "t.npz"), "--out",
                 str(tmp_path / "o.npz"), "--body", str(body_file)])
    assert r.returncode == 0, r.stderr
    out = Motion.load(tmp_path / "o.npz")
    ank = out.joints(body)[:, [7, 8], 2].min(1)
    tank = tgt.joints(body)[:, [7, 8], 2].min(1)
    np.testing.assert_allclose(ank, tank, atol=1e-4)      # put onto the target's ankle heights
