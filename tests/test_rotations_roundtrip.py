"""Every rotation conversion round-trips, near 0 and near 180 degrees included.

`motion.rotations` (numpy) and `motion.rotations_torch` are the only rotation code in the package;
these properties are what the fit, the rig, retargeting and dataset sampling rely on. The axis
(0, 1, -1)/sqrt(2) at 180 degrees is the case an earlier copy in fit.py got wrong.
"""

import math

import numpy as np
import pytest

from neural_render.motion import rotations as rot

hyp = pytest.importorskip("hypothesis")
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

SPECIAL_AXES = [(0, 1, -1), (0, -1, 1), (1, 0, -1), (1, -1, 0), (1, 0, 0), (0, 0, 1), (1, 1, 1), (-1, 2, -3)]
SPECIAL_ANGLES = [0.0, 1e-9, 1e-6, 1e-3, 0.5, math.pi / 2, math.pi - 1e-3, math.pi - 1e-6, math.pi - 1e-9, math.pi]

axes = st.one_of(
    st.sampled_from(SPECIAL_AXES),
    st.tuples(*[st.floats(-1, 1, allow_nan=False)] * 3).filter(lambda v: np.linalg.norm(v) > 1e-3))
angles = st.one_of(st.sampled_from(SPECIAL_ANGLES), st.floats(0, math.pi))


def _aa(axis, angle) -> np.ndarray:
    a = np.asarray(axis, np.float64)
    return a / np.linalg.norm(a) * angle


def _matrix_from_axis_angle(axis, angle) -> np.ndarray:
    """Independent reference: R = c I + s [k]x + (1 - c) k k^T, written out with np.cross."""
    k = np.asarray(axis, np.float64) / np.linalg.norm(axis)
    c, s = math.cos(angle), math.sin(angle)
    Kx = np.stack([np.cross(k, e) for e in np.eye(3)], 1)
    return c * np.eye(3) + s * Kx + (1 - c) * np.outer(k, k)


def _same_rotation(aa1: np.ndarray, aa2: np.ndarray) -> bool:
    """Axis-angle vectors equal, or both at pi with opposite axes (the same rotation)."""
    if np.allclose(aa1, aa2, atol=1e-6):
        return True
    return abs(np.linalg.norm(aa1) - math.pi) < 1e-6 and np.allclose(aa1, -aa2, atol=1e-6)


@settings(max_examples=150, deadline=None)
@given(axes, angles)
def test_axis_angle_matrix_quaternion_round_trips(axis, angle):
    aa = _aa(axis, angle)
    R = rot.aa_to_matrix(aa)
    np.testing.assert_allclose(R, _matrix_from_axis_angle(axis, angle), atol=1e-12)
    np.testing.assert_allclose(rot.aa_to_matrix(rot.matrix_to_aa(R)), R, atol=1e-9)
    assert _same_rotation(rot.matrix_to_aa(R), aa)
    q = rot.matrix_to_quat(R)
    assert q[0] >= 0 and abs(np.linalg.norm(q) - 1) < 1e-12
    np.testing.assert_allclose(rot.quat_to_matrix(q), R, atol=1e-9)
    q2 = rot.aa_to_quat(aa)
    np.testing.assert_allclose(rot.quat_to_matrix(q2), R, atol=1e-9)
    assert _same_rotation(rot.quat_to_aa(q2), aa)


@settings(max_examples=100, deadline=None)
@given(axes, angles, st.sampled_from(["XYZ", "XZY", "YXZ", "YZX", "ZXY", "ZYX"]))
def test_euler_round_trips_in_every_order(axis, angle, order):
    R = rot.aa_to_matrix(_aa(axis, angle))
    e = rot.matrix_to_euler(R, order)
    np.testing.assert_allclose(rot.euler_to_matrix(e, order), R, atol=1e-7)


@settings(max_examples=100, deadline=None)
@given(axes, angles)
def test_torch_twin_matches_numpy(axis, angle):
    torch = pytest.importorskip("torch")
    from neural_render.motion import rotations_torch

    aa = _aa(axis, angle)
    R = rotations_torch.rodrigues(torch.as_tensor(aa)).numpy()
    np.testing.assert_allclose(R, rot.aa_to_matrix(aa), atol=1e-7)


def test_half_turn_about_the_axis_an_old_copy_got_wrong():
    axis = np.array([0.0, 1.0, -1.0]) / math.sqrt(2)
    for angle in (math.pi, math.pi - 1e-4, math.pi - 1e-7):
        R = _matrix_from_axis_angle(axis, angle)
        aa = rot.matrix_to_aa(R)
        # Matrix error, as the issue measured it (the wrong copy gave 2.0 here).
        assert np.abs(rot.aa_to_matrix(aa) - R).max() < 1e-6
        assert abs(abs(aa @ axis) - angle) < 1e-6


def test_batched_shapes_and_dtype():
    aa = np.random.default_rng(0).normal(size=(4, 5, 3)).astype(np.float32)
    assert rot.rodrigues(aa).dtype == np.float32 and rot.rodrigues(aa).shape == (4, 5, 3, 3)
    assert rot.aa_to_matrix(aa).dtype == np.float64
    assert rot.matrix_to_aa(rot.aa_to_matrix(aa)).shape == (4, 5, 3)
    assert rot.matrix_to_quat(rot.aa_to_matrix(aa)).shape == (4, 5, 4)
