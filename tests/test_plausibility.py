"""Implausible-frame flags of a fit (motion/plausibility.py): each check fires on what it names."""

import numpy as np

from neural_render.motion.plausibility import implausible_frames


def _still(T=10):
    rng = np.random.default_rng(0)
    J = np.repeat(rng.normal(0, 0.3, (1, 24, 3)), T, 0)
    J[:, :, 1] += 4.0  # 4 m in front of a camera at the origin looking along +y
    return J


def test_a_steady_plausible_clip_raises_nothing():
    flags = implausible_frames(np.full(10, 40.0), np.zeros(10), _still(), 30.0, [np.zeros(3)])
    assert not any(v.any() for v in flags.values())


def test_depth_jump_of_the_pelvis_along_the_view_ray():
    J = _still()
    J[6:, :, 1] += 0.3  # 0.3 m in one frame at 30 fps = 9 m/s away from the camera
    flags = implausible_frames(np.zeros(10), np.zeros(10), J, 30.0, [np.zeros(3)])
    assert np.flatnonzero(flags["depth_jump"]).tolist() == [5, 6]
    # the same step across the view ray is no depth jump (2D would have seen it)
    J = _still()
    J[6:, :, 0] += 0.3
    assert not implausible_frames(np.zeros(10), np.zeros(10), J, 30.0, [np.zeros(3)])["depth_jump"].any()


def test_a_limb_flipping_in_depth_and_prior_and_limit_outliers():
    J = _still()
    J[4, 20, 1] -= 0.6  # a wrist 60 cm nearer for one frame: 18 m/s relative to the pelvis
    nll = np.full(10, 40.0)
    nll[2] = 400.0
    lim = np.zeros(10)
    lim[7] = 2.5
    flags = implausible_frames(nll, lim, J, 30.0, [np.zeros(3)])
    assert np.flatnonzero(flags["depth_jump"]).tolist() == [3, 4, 5]
    assert np.flatnonzero(flags["pose_prior"]).tolist() == [2]
    assert np.flatnonzero(flags["joint_limits"]).tolist() == [7]
