"""Temporal smoothing of motions: Savitzky-Golay on rotations (in quaternion space) and translation.

Quaternions are made sign-continuous over time, each component is filtered, and the result is
renormalized: for the small frame-to-frame changes of mocap this equals smoothing on the rotation
manifold to first order, without the wrap-around problems of axis-angle or Euler angles.
"""

from __future__ import annotations

import numpy as np

from neural_render.motion import rotations as rot


def savgol(x: np.ndarray, window: int, order: int = 2) -> np.ndarray:
    """Savitzky-Golay filter along axis 0 (window forced odd, > order; edges by polynomial fit)."""
    from scipy.signal import savgol_filter

    T = x.shape[0]
    window = int(window) | 1
    window = min(window, T if T % 2 == 1 else T - 1)
    if window <= order:
        return x.copy()
    return savgol_filter(x, window, order, axis=0, mode="interp")


def smooth_motion(motion, window_s: float = 0.1, order: int = 2, translation: bool = True):
    """A smoothed copy of `motion`: window of `window_s` seconds (in frames, made odd)."""
    window = max(3, int(round(window_s * motion.fps)))
    T = motion.num_frames
    q = rot.aa_to_quat(motion.poses.reshape(T, 24, 3).astype(np.float64))
    q = rot.quat_continuous(q, axis=0)
    q = savgol(q.reshape(T, -1), window, order).reshape(T, 24, 4)
    poses = rot.quat_to_aa(q).reshape(T, 72)
    trans = savgol(motion.trans.astype(np.float64), window, order) if translation else motion.trans
    return motion.copy(poses=poses.astype(np.float32), trans=np.asarray(trans, np.float32))
