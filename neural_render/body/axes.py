"""The one place where SMPL model space (Y-up) meets Blender's world (Z-up).

Model space, as SMPL: +y up, +z forward (the body faces +z), +x the body's left.
Blender world: +z up. The map is a +90 deg rotation about x: (x, y, z) -> (x, -z, y), so the
body faces -y in Blender (toward a camera on the -y axis, Blender's front view).
"""

from __future__ import annotations

import numpy as np

# Rotation taking model-space (Y-up) coordinates to Blender world (Z-up) coordinates.
Y_UP_TO_Z_UP = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, -1.0], [0.0, 1.0, 0.0]])


def to_z_up(points: np.ndarray) -> np.ndarray:
    """(..., 3) Y-up points -> Z-up points."""
    return np.asarray(points) @ Y_UP_TO_Z_UP.T
