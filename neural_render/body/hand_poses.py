"""Simple SMPL-H hand poses and a measure of how a finger keeps its volume when it bends.

`curl(angle_deg, fingers, joints, n)` builds (n, 90) hand poses that flex fingers toward the palm
(for tests, benchmarks and figures of the hands); `finger_volume_ratio(body, ...)` measures the
skinning of a bent finger (1.0 = volume kept; LBS candy-wrapping or collapse shows as < 1).
"""

from __future__ import annotations

import numpy as np

from neural_render.body.skeletons import MANO_FINGERS


def curl(angle_deg: float, fingers=MANO_FINGERS[:4], joints=(0, 1, 2), n: int = 1) -> np.ndarray:
    """(n, 90) hand poses (axis-angle, left hand's 15 joints then the right's, MANO order) flexing
    the given fingers' joints (0 knuckle, 1 middle, 2 tip) by angle_deg toward the palm.

    In SMPL's T-pose the palms face down (-y): the left hand's fingers point +x and curl about
    -z, the right hand's point -x and curl about +z (AMASS SMPL-H / MANO conventions)."""
    h = np.zeros((n, 90), np.float32)
    for side, sign in ((0, -1.0), (1, 1.0)):
        for f in fingers:
            for k in joints:
                j = 15 * side + 3 * MANO_FINGERS.index(f) + k
                h[:, 3 * j + 2] = sign * np.radians(angle_deg)
    return h


def finger_volume_ratio(body, angle_deg: float = 90.0, finger: str = "index") -> float:
    """Volume of the part of one (left) finger beyond its middle joint, curled by angle_deg at
    that joint, over the same part straight: the mesh's volume by the divergence theorem over the
    part's triangles, apexed at the joint (the open cut there lies near the joint, so its cone
    adds ~nothing). 1.0 = volume kept; LBS candy-wrapping / collapse shows as < 1.
    body: a body model with SMPL-H hands (`body.hands`)."""
    m = MANO_FINGERS.index(finger)
    j2 = 22 + 3 * m + 1  # the middle joint of the left finger
    w = body.hands.weights
    part = w[:, [j2, j2 + 1]].sum(1) > 0.5
    tri = body.faces[np.all(part[body.faces], 1)]
    vols = []
    for a in (0.0, angle_deg):
        h = curl(a, fingers=(finger,), joints=(1,))
        out = body.forward(body.smplh_poses(np.zeros((1, 72)), h))
        v = out.vertices[0].astype(np.float64)
        o = out.joints52[0, j2].astype(np.float64)
        p = v[tri] - o
        vols.append(abs(np.einsum("ij,ij->i", p[:, 0], np.cross(p[:, 1], p[:, 2])).sum()) / 6)
    return vols[1] / vols[0]
