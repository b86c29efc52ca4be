"""Silhouette refinement of a fit (capture/silhouette.py): segmentation, splatting, refinement."""

from __future__ import annotations

import numpy as np

from neural_render.capture import silhouette as sil


def test_person_silhouette_keeps_the_person_drops_far_blobs_fills_holes():
    import cv2

    rng = np.random.default_rng(0)
    bg = rng.integers(60, 200, (96, 96, 3)).astype(np.uint8)
    bg = cv2.GaussianBlur(bg, (7, 7), 3)
    frame = bg.copy()
    cv2.rectangle(frame, (30, 20), (50, 80), (250, 30, 30), -1)        # the person
    frame[45:50, 38:43] = bg[45:50, 38:43]                               # a hole (skin == wall)
    cv2.circle(frame, (85, 10), 4, (20, 250, 20), -1)                    # something far away
    body = np.zeros((96, 96), bool)
    body[24:78, 32:49] = True                                            # the fit, a bit off
    s = sil.person_silhouette(frame, bg, body)
    person = np.zeros((96, 96), bool)
    person[20:81, 30:51] = True
    assert sil.iou(s, person) > 0.95
    assert not s[6:15, 81:90].any()


def test_splat_mask_of_dense_points_is_the_solid_shape():
    yy, xx = np.mgrid[0:64:0.7, 0:64:0.7]
    pts = np.stack([xx.ravel(), yy.ravel()], -1)
    disk = np.linalg.norm(pts - 32, axis=-1) < 20
    m = sil.splat_mask(pts[disk], 64, 64)
    jj, ii = np.mgrid[0:64, 0:64]
    truth = np.hypot(ii - 32, jj - 32) < 20
    assert sil.iou(m, truth) > 0.93


def _cameras(joints, size):
    from neural_render.camera import Camera

    c = joints.reshape(-1, 3).mean(0)
    return [Camera.look_at(c + np.array(d), c, size, size) for d in ([0.0, -4.0, 0.3], [4.0, 0.0, 0.3])]


def test_refine_moves_a_misplaced_arm_onto_the_silhouettes():
    """Two views of a body whose true left arm is raised; the 'fit' has it lower. The silhouettes
    of the truth pull the arm up: IoU rises and the wrist moves toward the truth."""
    from neural_render.body import load_body
    from neural_render.motion import Motion

    body = load_body()
    T = 2
    truth_p = np.zeros((T, 72), np.float32)
    truth_p[:, 0] = np.pi / 2                        # Y-up body -> Z-up world
    truth_p[:, 16 * 3 + 2] = -1.0                    # left shoulder: arm down ~57 deg from T
    fit_p = truth_p.copy()
    fit_p[:, 16 * 3 + 2] = -0.7                      # the fit: 17 deg off (~10 cm at the wrist)
    trans = np.zeros((T, 3), np.float32)
    truth = Motion(truth_p, trans, np.zeros(10, np.float32), 30.0, up="z")
    fit = Motion(fit_p, trans, np.zeros(10, np.float32), 30.0, up="z")
    out_t = body.forward(truth.poses, truth.betas, truth.trans)
    cams = _cameras(out_t.joints, 128)
    sils = [np.stack([sil.splat_mask(c.project(v)[0], 128, 128) for v in out_t.vertices])
            for c in cams]
    kp_fit = body.forward(fit.poses, fit.betas, fit.trans).body25
    opts = sil.RefineOptions(iterations=60, lr=0.02, w_tether=0.1)
    refined, rep = sil.refine(body, fit, cams, sils, kp_fit, opts=opts)
    assert rep["refined_frames"] == T
    front, side = rep["views"]["0"], rep["views"]["1"]   # the arm swings in the front view's plane
    assert front["silhouette_iou_after"] > front["silhouette_iou_before"] + 0.05, rep
    assert side["silhouette_iou_after"] > side["silhouette_iou_before"] - 0.03, rep
    wrist = 20
    j_fit = body.forward(fit.poses, fit.betas, fit.trans).joints[:, wrist]
    j_ref = body.forward(refined.poses, refined.betas, refined.trans).joints[:, wrist]
    j_true = out_t.joints[:, wrist]
    before = np.linalg.norm(j_fit - j_true, axis=-1).mean()
    after = np.linalg.norm(j_ref - j_true, axis=-1).mean()
    assert after < 0.5 * before, (before, after)


def test_refine_leaves_frames_with_unusable_silhouettes_alone():
    """A view-frame whose silhouette does not overlap the body (background estimate failed) is
    skipped: the frame comes back unchanged."""
    from neural_render.body import load_body
    from neural_render.motion import Motion

    body = load_body()
    p = np.zeros((1, 72), np.float32)
    p[:, 0] = np.pi / 2
    m = Motion(p, np.zeros((1, 3), np.float32), np.zeros(10, np.float32), 30.0, up="z")
    out = body.forward(m.poses, m.betas, m.trans)
    cams = _cameras(out.joints, 64)
    junk = [np.zeros((1, 64, 64), bool) for _ in cams]
    for s in junk:
        s[0, :8, :8] = True
    kp = out.body25
    refined, rep = sil.refine(body, m, cams, junk, kp, opts=sil.RefineOptions(iterations=5))
    assert rep["refined_frames"] == 0
    np.testing.assert_array_equal(refined.poses, m.poses)


def test_refine_fits_the_shape_seen_by_several_views():
    """Silhouettes of a wider/taller body (betas != 0) in two views: the shared shape moves toward
    it and the IoU rises; with one view the shape is left alone (depth vs size is ambiguous)."""
    from neural_render.body import load_body
    from neural_render.motion import Motion

    body = load_body()
    T = 3
    p = np.zeros((T, 72), np.float32)
    p[:, 0] = np.pi / 2
    p[:, 16 * 3 + 2], p[:, 17 * 3 + 2] = -1.0, 1.0          # arms down-ish, away from the torso
    true_b = np.zeros(10, np.float32)
    true_b[0], true_b[1] = 1.5, 1.0
    truth = Motion(p, np.zeros((T, 3), np.float32), true_b, 30.0, up="z")
    fit = truth.copy(betas=np.zeros(10, np.float32))
    out_t = body.forward(truth.poses, truth.betas, truth.trans)
    cams = _cameras(out_t.joints, 128)
    sils = [np.stack([sil.splat_mask(c.project(v)[0], 128, 128) for v in out_t.vertices])
            for c in cams]
    kp = body.forward(fit.poses, fit.betas, fit.trans).body25
    opts = sil.RefineOptions(iterations=80, lr=0.03, w_tether=0.05, shape_frames=3)
    refined, rep = sil.refine(body, fit, cams, sils, kp, opts=opts)
    assert rep["shape"]["kept"] and rep["shape"]["iou_after"] > rep["shape"]["iou_before"] + 0.03, rep["shape"]
    # The keypoint tether keeps the fit's joints (its skeleton), so the silhouettes mostly buy girth:
    # the shape moves toward the truth, not all the way.
    assert np.linalg.norm(refined.betas[:2] - true_b[:2]) < 0.9 * np.linalg.norm(true_b[:2]), refined.betas
    single, rep1 = sil.refine(body, fit, cams[:1], sils[:1], kp, opts=opts)
    assert rep1["shape"] is None and np.all(single.betas == 0)


def test_refine_survives_a_view_whose_silhouettes_are_empty():
    """Regression (issue 13): a view whose person masks were all empty (the detector's masks were
    dropped) crashed `prepare --silhouettes detector` with a segfault in the shape stage: OpenCV's
    distance transform of an empty mask is FLT_MAX, its square inf, the masked-out loss NaN, and a
    NaN grid made grid_sample's backward write out of bounds. The empty view must simply not count:
    the other views still refine the arm and everything stays finite."""
    from neural_render.body import load_body
    from neural_render.motion import Motion

    body = load_body()
    T = 2
    truth_p = np.zeros((T, 72), np.float32)
    truth_p[:, 0] = np.pi / 2
    truth_p[:, 16 * 3 + 2] = -1.0
    fit_p = truth_p.copy()
    fit_p[:, 16 * 3 + 2] = -0.7
    trans = np.zeros((T, 3), np.float32)
    truth = Motion(truth_p, trans, np.zeros(10, np.float32), 30.0, up="z")
    fit = Motion(fit_p, trans, np.zeros(10, np.float32), 30.0, up="z")
    out_t = body.forward(truth.poses, truth.betas, truth.trans)
    from neural_render.camera import Camera

    c = out_t.joints.reshape(-1, 3).mean(0)
    cams = [Camera.look_at(c + np.array(d), c, 96, 96) for d in ([0.0, -4.0, 0.3], [4.0, 0.0, 0.3], [0.0, 4.0, 0.3])]
    sils = [np.stack([sil.splat_mask(cam.project(v)[0], 96, 96) for v in out_t.vertices]) for cam in cams]
    sils[2][:] = False                                   # the lost view
    kp_fit = body.forward(fit.poses, fit.betas, fit.trans).body25
    opts = sil.RefineOptions(iterations=10, shape_frames=2, vertex_stride=16)
    refined, rep = sil.refine(body, fit, cams, sils, kp_fit, opts=opts)
    assert np.isfinite(refined.poses).all() and np.isfinite(refined.trans).all() and np.isfinite(refined.betas).all()
    assert rep["views"]["2"]["frames_used"] == 0
    assert rep["views"]["0"]["silhouette_iou_after"] > rep["views"]["0"]["silhouette_iou_before"], rep


def test_refine_chunk_ignores_an_empty_silhouette_even_if_marked_usable():
    """The chunk optimiser itself drops view-frames with nothing to fit (a caller's `usable` can be
    stale) instead of turning them into a NaN loss."""
    import torch

    from neural_render.body import load_body
    from neural_render.motion.fit import KeypointBody

    body = load_body()
    p = np.zeros((1, 72), np.float32)
    p[:, 0] = np.pi / 2
    tr = np.zeros((1, 3), np.float32)
    out = body.forward(p, np.zeros(10, np.float32), tr)
    cams = _cameras(out.joints, 64)
    sils = [np.stack([sil.splat_mask(cams[0].project(out.vertices)[0][0], 64, 64)]), np.zeros((1, 64, 64), bool)]
    dev = torch.device("cpu")
    kp_model = KeypointBody(body, "body25", dev, num_betas=10)
    skin = sil._SubsetSkin(body, kp_model, np.arange(0, body.num_vertices, 16), dev)
    betas = torch.zeros(1, 10)
    poses, trans, b = sil._refine_chunk(skin, kp_model, betas, p, tr, cams, sils, out.body25, np.ones((1, 2), bool),
                                        sil.RefineOptions(iterations=3), dev, fit_shape=True)
    assert np.isfinite(poses).all() and np.isfinite(trans).all() and torch.isfinite(b).all()
