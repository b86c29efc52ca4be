"""Floor and foot contacts of single-view fits (motion/floor.py, the floor terms of motion/fit.py)."""

import numpy as np

from neural_render.motion.floor import (estimate_contacts, estimate_floor, floor_stats, lowest_foot_points)


def _walk(T=60, fps=30.0, tilt=(0.0, 0.0)):
    """BODY_25-shaped keypoints (T, 25, 3): two feet stepping alternately on a plane through the origin
    with normal tilted by `tilt` (rad about x, y); everything else 0.5-1.6 m above it."""
    rng = np.random.default_rng(0)
    kp = np.zeros((T, 25, 3))
    kp[:, :, 2] = rng.uniform(0.5, 1.6, 25)
    t = np.arange(T) / fps
    for side, (toes, heel) in enumerate((((19, 20), 21), ((22, 23), 24))):
        phase = (t * 1.0 + 0.5 * side) % 1.0          # 1 step per second per foot
        swing = phase < 0.4                           # 40 % of the cycle in the air
        x = np.where(swing, 0.0, 0.0) + np.floor(t * 1.0 + 0.5 * side) * 0.7 + np.where(swing, 0.7 * phase / 0.4, 0.7)
        lift = np.where(swing, 0.12 * np.sin(np.pi * phase / 0.4), 0.0)
        y = 0.2 * side
        kp[:, heel] = np.c_[x - 0.1, np.full(T, y), lift + 0.01]
        for k in toes:
            kp[:, k] = np.c_[x + 0.12, np.full(T, y), lift + 0.0]
    ax, ay = tilt
    Rx = np.array([[1, 0, 0], [0, np.cos(ax), -np.sin(ax)], [0, np.sin(ax), np.cos(ax)]])
    Ry = np.array([[np.cos(ay), 0, np.sin(ay)], [0, 1, 0], [-np.sin(ay), 0, np.cos(ay)]])
    return kp @ (Ry @ Rx).T, Ry @ Rx @ np.array([0, 0, 1.0]), ~((((np.arange(T) / fps)[:, None] * 1.0
                                                                  + 0.5 * np.arange(2)) % 1.0) < 0.4)


def test_contacts_are_the_standing_phases():
    kp, n, standing = _walk()
    c = estimate_contacts(kp, 30.0)
    agree = (c == standing).mean()
    assert agree > 0.85, agree
    assert c[standing].mean() > 0.8 and not c[~standing & (np.roll(~standing, 1, 0) & np.roll(~standing, -1, 0))].any()


def test_floor_plane_follows_a_tilted_ground():
    kp, n, standing = _walk(tilt=(np.radians(8), np.radians(-5)))
    c = estimate_contacts(kp, 30.0, up=n)
    low = lowest_foot_points(kp, n)
    n_est, d, how = estimate_floor(low[c])
    assert "plane" in how and np.degrees(np.arccos(n_est @ n)) < 1.0 and abs(d) < 0.01
    st = floor_stats(kp, c, n_est, d, 30.0)
    assert st["contact_height_mm"] < 5 and st["contact_slide_mm_per_s"] < 20 and st["lowest_point_mm"] > -5


def test_too_few_contacts_give_a_horizontal_floor():
    pts = np.array([[0, 0, 0.1], [0.5, 0, 0.12], [1.0, 0.0, 0.11]])
    n, d, how = estimate_floor(pts)
    assert np.allclose(n, [0, 0, 1]) and abs(d + 0.11) < 1e-9 and "horizontal" in how


def test_contacts_survive_detector_jitter_on_planted_feet():
    """Regression (issue 13): a monocular fit's feet jitter by a centimetre or two per frame, which
    frame-to-frame is 0.3-0.9 m/s of apparent speed: planted feet were missed. With 1.5 cm of noise
    on every foot point (independent per frame, as a detector's), the standing phases are still
    found, as whole runs, and the mid-swing frames stay out."""
    for fps in (30.0, 60.0):
        kp, n, standing = _walk(T=int(4 * fps), fps=fps)
        rng = np.random.default_rng(1)
        noisy = kp.copy()
        noisy[:, 19:25] += rng.normal(0, 0.015, noisy[:, 19:25].shape)
        c = estimate_contacts(noisy, fps)
        recall = c[standing].mean()
        assert recall > 0.85, (fps, recall)
        t = np.arange(len(kp)) / fps
        mid_swing = np.stack([np.abs(((t + 0.5 * s) % 1.0) - 0.2) < 0.1 for s in (0, 1)], 1)
        assert not c[mid_swing].any(), fps
        for s in (0, 1):  # one run per standing phase (no flicker): ~4 steps in 4 s per foot
            starts = int((c[1:, s] & ~c[:-1, s]).sum() + c[0, s])
            assert starts <= 5, (fps, s, starts)
