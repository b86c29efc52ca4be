"""The body's UV atlas as a texel grid: which surface point every texel shows.

`atlas(body, size)` rasterizes the body's UV layout (vt / ft) once into a `UVAtlas`: per texel the
face it falls in and its barycentric coordinates (texels outside every UV chart are marked
invalid), the body part, the rest-pose position, and the texel showing the left-right mirrored
surface point (the body is symmetric about its rest pose's x = 0 plane, SMPL model space, Y-up).
Posed texel positions are then `atlas.points(vertices)`: barycentric blends of posed vertices.

Convention (as the UV pass and `train.back_projected_texture`): texel (row, col) covers
u in [col / S, (col + 1) / S), v in [1 - (row + 1) / S, 1 - row / S): row 0 is v = 1.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

_CACHE: dict = {}


@dataclass
class UVAtlas:
    size: int
    valid: np.ndarray        # (S, S) bool: texel inside some UV face
    face: np.ndarray         # (S, S) int32 face index (-1 outside)
    bary: np.ndarray         # (S, S, 3) float32 barycentric coordinates in that face
    part: np.ndarray         # (S, S) uint8 SMPL part 1..24 (0 outside)
    rest: np.ndarray         # (S, S, 3) float32 rest-pose position (model space, metres)
    mirror: np.ndarray       # (S, S, 2) int32 (row, col) of the texel at the mirrored rest position

    def points(self, vertices: np.ndarray) -> np.ndarray:
        """(N, 3) world positions of the valid texels (row-major order) on a posed mesh (V, 3)."""
        return _blend(vertices, self._faces_valid, self.bary[self.valid])

    _faces_valid: np.ndarray = None  # (N, 3) vertex ids of the valid texels' faces


def _blend(vertices: np.ndarray, corners: np.ndarray, bary: np.ndarray) -> np.ndarray:
    v = np.asarray(vertices, np.float32)
    return (v[corners] * bary[..., None]).sum(1)


def atlas(body, size: int = 256) -> UVAtlas:
    """The cached atlas of `body` (a BodyModel with vt/ft) at `size` x `size` texels."""
    key = (id(body), int(size))
    hit = _CACHE.get(key)
    if hit is not None and hit[0] is body:
        return hit[1]
    a = _build(body, int(size))
    _CACHE[key] = (body, a)
    return a


def _build(body, S: int) -> UVAtlas:
    import cv2
    from scipy.spatial import cKDTree

    from neural_render.passes.spec import face_parts

    if body.vt is None or body.ft is None:
        raise ValueError("the body model has no UV coordinates")
    vt, ft, faces = np.asarray(body.vt, np.float64), np.asarray(body.ft), np.asarray(body.faces)
    # Texel-space corner positions: x = u S - 0.5, y = (1 - v) S - 0.5 (texel centres at integers).
    xy = np.stack([vt[:, 0] * S - 0.5, (1 - vt[:, 1]) * S - 0.5], 1)
    tri = xy[ft]                                                     # (F, 3, 2)
    # Face id + 1 per texel: fillConvexPoly with fixed-point corners (4 fractional bits). Face ids
    # below 2^24 are exact in float32.
    ids = np.zeros((S, S), np.float32)
    fixed = np.round(tri * 16).astype(np.int32)
    for f in range(len(ft)):
        cv2.fillConvexPoly(ids, fixed[f], float(f + 1), lineType=cv2.LINE_8, shift=4)
    face = ids.astype(np.int64) - 1
    valid = face >= 0
    rows, cols = np.nonzero(valid)
    fid = face[valid]
    # Barycentrics of the texel centre in its face's UV triangle (clamped: edge texels may sit a
    # hair outside the triangle they were filled with).
    a, b, c = tri[fid, 0], tri[fid, 1], tri[fid, 2]
    p = np.stack([cols, rows], 1).astype(np.float64)
    v0, v1, v2 = b - a, c - a, p - a
    d00, d01, d11 = (v0 * v0).sum(1), (v0 * v1).sum(1), (v1 * v1).sum(1)
    d20, d21 = (v2 * v0).sum(1), (v2 * v1).sum(1)
    den = np.where(np.abs(d00 * d11 - d01 * d01) < 1e-12, 1e-12, d00 * d11 - d01 * d01)
    w1 = (d11 * d20 - d01 * d21) / den
    w2 = (d00 * d21 - d01 * d20) / den
    w = np.clip(np.stack([1 - w1 - w2, w1, w2], 1), 0, 1)
    w /= np.maximum(w.sum(1, keepdims=True), 1e-9)
    bary = np.zeros((S, S, 3), np.float32)
    bary[valid] = w
    corners = faces[fid]
    rest_pts = _blend(body.v_template, corners, w.astype(np.float32))
    rest = np.zeros((S, S, 3), np.float32)
    rest[valid] = rest_pts
    part = np.zeros((S, S), np.uint8)
    part[valid] = face_parts(faces, body.parts)[fid] if body.parts is not None else 0
    # Mirror: the valid texel nearest to each texel's mirrored rest point (x -> -x).
    mirrored = rest_pts * np.array([-1, 1, 1], np.float32)
    _, nn = cKDTree(rest_pts).query(mirrored)
    mirror = np.full((S, S, 2), -1, np.int32)
    mirror[valid] = np.stack([rows[nn], cols[nn]], 1)
    out = UVAtlas(S, valid, np.where(valid, face, -1).astype(np.int32), bary, part, rest, mirror)
    out._faces_valid = corners.astype(np.int64)
    return out
