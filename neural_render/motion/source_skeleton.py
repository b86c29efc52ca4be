"""A generic source skeleton and its animation, as every mocap importer (BVH, FBX) delivers it.

Everything is global (world) space in the source's own units and axes: the rest pose as joint
positions and orientations, and per frame the global rotation and position of every joint. The
retargeter needs nothing else, so any format that can produce this can drive the SMPL body.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class SourceSkeleton:
    """J joints. Units are the source's (see `detect_unit_scale`)."""

    names: list[str]
    parents: np.ndarray                 # (J,) int, -1 for roots
    rest_positions: np.ndarray          # (J, 3) global rest joint positions
    rest_rotations: np.ndarray          # (J, 3, 3) global rest joint orientations (identity for BVH)
    is_end: np.ndarray | None = None    # (J,) bool: End Sites / tip markers (never mapped)

    def __post_init__(self):
        J = len(self.names)
        self.parents = np.asarray(self.parents, np.int64)
        self.rest_positions = np.asarray(self.rest_positions, np.float64).reshape(J, 3)
        self.rest_rotations = np.asarray(self.rest_rotations, np.float64).reshape(J, 3, 3)
        self.is_end = np.zeros(J, bool) if self.is_end is None else np.asarray(self.is_end, bool)

    @property
    def num_joints(self) -> int:
        return len(self.names)

    def index(self, name: str) -> int:
        return self.names.index(name)

    def children(self, j: int) -> list[int]:
        return [int(c) for c in np.flatnonzero(self.parents == j)]

    def path_to_root(self, j: int) -> list[int]:
        out = []
        while j >= 0:
            out.append(j)
            j = int(self.parents[j])
        return out

    def is_ancestor(self, a: int, b: int) -> bool:
        """True when joint a is a strict ancestor of joint b."""
        return a != b and a in self.path_to_root(b)


@dataclass
class SourceClip:
    """A skeleton's animation: global rotations (T, J, 3, 3) and positions (T, J, 3)."""

    skeleton: SourceSkeleton
    rotations: np.ndarray
    positions: np.ndarray
    fps: float
    source: str = ""
    info: dict = field(default_factory=dict)

    @property
    def num_frames(self) -> int:
        return int(self.rotations.shape[0])


# Length units a mocap file may use, in the order they are tried, as metres per file unit.
# "cmu" is the CMU database's ASF unit exported to BVH (1/0.45 inch): a standing root at ~17.
UNITS: dict[str, float] = {"m": 1.0, "cm": 0.01, "mm": 0.001, "in": 0.0254,
                           "cmu": 0.0254 / 0.45, "dm": 0.1, "ft": 0.3048}
PLAUSIBLE_HEIGHT_M = (1.0, 2.3)


def detect_unit_scale(height_in_units: float) -> tuple[str, float]:
    """Guess the unit from a standing skeleton's height: (name, metres per unit).

    The first unit (in `UNITS` order) giving a plausible human height wins; otherwise the one
    nearest 1.7 m in log scale (children, giants, partial skeletons).
    """
    h = float(height_in_units)
    if not np.isfinite(h) or h <= 0:
        return "m", 1.0
    for name, s in UNITS.items():
        if PLAUSIBLE_HEIGHT_M[0] <= h * s <= PLAUSIBLE_HEIGHT_M[1]:
            return name, s
    name = min(UNITS, key=lambda n: abs(np.log(h * UNITS[n] / 1.7)))
    return name, UNITS[name]


def clip_from_bvh(bvh) -> SourceClip:
    """Source clip of a parsed `neural_render.motion.bvh.BVH` (rest = offsets, identity rotations)."""
    G, P = bvh.forward_kinematics()
    J = len(bvh.names)
    skel = SourceSkeleton(list(bvh.names), bvh.parents.copy(), bvh.rest_positions(),
                          np.broadcast_to(np.eye(3), (J, 3, 3)).copy(), bvh.is_end.copy())
    fps = 1.0 / bvh.frame_time
    # Files store the frame time rounded ("0.0083333" for 120 fps): snap to an integer rate.
    if abs(fps - round(fps)) < 1e-3 * fps:
        fps = float(round(fps))
    return SourceClip(skel, G, P, fps, source=bvh.path, info={"format": "bvh"})
