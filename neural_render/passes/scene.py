"""The scene both renderers draw: one or more people (`BodyInstance`), each a mesh per frame.

A `BodyInstance` is a body model with a motion (poses, betas, trans; posed on demand, in chunks),
or any triangle mesh with per-frame vertices (tests use analytic spheres). World coordinates are
Blender's Z-up world in metres: a motion with up="z" (the canonical motion file) poses straight
into world coordinates; up="y" is converted with `neural_render.body.axes.to_z_up`.

Only numpy at import time.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from neural_render.passes.spec import face_parts


@dataclass
class PosedFrames:
    """Posed geometry for some frames, world coordinates (Z-up), metres."""

    vertices: np.ndarray         # (n, V, 3)
    joints: np.ndarray | None    # (n, 24, 3) or None for a plain mesh
    keypoints: np.ndarray | None  # (n, 25, 3) BODY_25 or None
    wholebody: np.ndarray | None = None  # (n, 133, 3) COCO-WholeBody, when the body has that regressor


@dataclass
class BodyInstance:
    """One person in the scene.

    Build with `BodyInstance.from_motion(body, poses, trans, betas)` or
    `BodyInstance.from_vertices(vertices, faces, vertex_parts, ...)`.
    `instance_id` (1..255) is this person's value in the instance pass and Blender's object index.
    """

    faces: np.ndarray               # (F, 3) int32
    face_parts: np.ndarray          # (F,) uint8 1..24
    vertex_parts: np.ndarray        # (V,) uint8 1..24
    num_frames: int
    instance_id: int = 1
    vt: np.ndarray | None = None    # (T, 2) texture coordinates
    ft: np.ndarray | None = None    # (F, 3) texture coordinate index per face corner
    body: object = None             # BodyModel when posed from a motion
    name: str = "body"
    _poses: np.ndarray | None = None
    _betas: np.ndarray | None = None
    _trans: np.ndarray | None = None
    _up: str = "z"
    _hand_poses: np.ndarray | None = None  # (T, 90) finger poses (posed through the body's hand layout)
    _vertices: np.ndarray | None = None   # (T, V, 3) when given directly
    _keypoints: np.ndarray | None = None  # (T, 25, 3) when given directly
    _wholebody: np.ndarray | None = None  # (T, 133, 3) COCO-WholeBody, when given directly
    _cache: dict = field(default_factory=dict, repr=False)

    @classmethod
    def from_motion(cls, body, poses: np.ndarray, trans: np.ndarray | None = None,
                    betas: np.ndarray | None = None, up: str = "z", instance_id: int = 1,
                    name: str = "body", hand_poses: np.ndarray | None = None) -> "BodyInstance":
        """A body model driven by SMPL parameters: poses (T, 72) axis-angle, trans (T, 3) metres."""
        poses = np.asarray(poses, np.float32).reshape(-1, 72)
        T = len(poses)
        trans = np.zeros((T, 3), np.float32) if trans is None else np.asarray(trans, np.float32).reshape(T, 3)
        parts = body.parts if body.parts is not None else (np.argmax(body.weights, 1) + 1).astype(np.uint8)
        return cls(faces=np.asarray(body.faces, np.int32), face_parts=face_parts(body.faces, parts),
                   vertex_parts=np.asarray(parts, np.uint8), num_frames=T, instance_id=instance_id,
                   vt=body.vt, ft=body.ft, body=body, name=name, _poses=poses,
                   _betas=None if betas is None else np.asarray(betas, np.float32), _trans=trans, _up=up,
                   _hand_poses=(None if hand_poses is None or getattr(body, "hands", None) is None
                                else np.asarray(hand_poses, np.float32).reshape(T, 90)))

    @classmethod
    def from_vertices(cls, vertices: np.ndarray, faces: np.ndarray, vertex_parts: np.ndarray | None = None,
                      vt: np.ndarray | None = None, ft: np.ndarray | None = None,
                      keypoints: np.ndarray | None = None, instance_id: int = 1,
                      name: str = "mesh", wholebody: np.ndarray | None = None) -> "BodyInstance":
        """Any triangle mesh: vertices (T, V, 3) world; keypoints (T, 25, 3) world (optional);
        wholebody (T, 133, 3) COCO-WholeBody world points (optional: hands and face of the
        ``wholebody`` skeleton)."""
        vertices = np.asarray(vertices, np.float32)
        if vertices.ndim == 2:
            vertices = vertices[None]
        V = vertices.shape[1]
        vp = np.ones(V, np.uint8) if vertex_parts is None else np.asarray(vertex_parts, np.uint8)
        faces = np.asarray(faces, np.int32)
        return cls(faces=faces, face_parts=face_parts(faces, vp), vertex_parts=vp,
                   num_frames=len(vertices), instance_id=instance_id, vt=vt, ft=ft, name=name,
                   _vertices=vertices, _keypoints=None if keypoints is None else np.asarray(keypoints, np.float32),
                   _wholebody=None if wholebody is None else np.asarray(wholebody, np.float32))

    @property
    def num_vertices(self) -> int:
        return int(self.vertex_parts.shape[0])

    def posed(self, frames) -> PosedFrames:
        """Geometry of the given frame indices (world, metres)."""
        frames = np.atleast_1d(np.asarray(frames, np.int64))
        if self._vertices is not None:
            kp = None if self._keypoints is None else self._keypoints[frames]
            wb = None if self._wholebody is None else self._wholebody[frames]
            return PosedFrames(self._vertices[frames], None, kp, wb)
        key = tuple(frames.tolist())
        if key in self._cache:
            return self._cache[key]
        poses = self._poses[frames]
        if self._hand_poses is not None:  # fingers: SMPL-H's 52-joint route
            poses = self.body.smplh_poses(poses, self._hand_poses[frames])
        out = self.body.forward(poses, self._betas, self._trans[frames], keypoints=False)
        verts, joints = out.vertices, out.joints
        if self._up != "z":
            from neural_render.body.axes import to_z_up

            verts, joints = to_z_up(verts).astype(np.float32), to_z_up(joints).astype(np.float32)
        kp = (self.body.keypoints(verts, joints, "body25") if "body25" in self.body.keypoint_regressors
              else None)
        wb = (self.body.keypoints(verts, joints, "wholebody") if "wholebody" in self.body.keypoint_regressors
              else None)
        res = PosedFrames(verts, joints, kp, wb)
        self._cache.clear()  # keep one chunk: frames are rendered in order
        self._cache[key] = res
        return res

    def all_joints(self, chunk: int = 256) -> np.ndarray:
        """(T, J, 3) world joints of every frame (SMPL joints, or the mesh's vertices' bounding
        box corners for a plain mesh) - what the automatic cameras frame."""
        if self._vertices is not None:
            lo, hi = self._vertices.min(1), self._vertices.max(1)
            return np.stack([lo, hi], 1)
        # Forward kinematics only (no skinning): cheap even for long clips.
        from neural_render.body import lbs
        from neural_render.motion.rotations import rodrigues

        rest = self.body.rest_joints(self._betas)  # (24, 3) model space
        out = []
        for s in range(0, self.num_frames, chunk):
            idx = np.arange(s, min(self.num_frames, s + chunk))
            rot = rodrigues(self._poses[idx].reshape(-1, 24, 3).astype(np.float64))
            _, pos = lbs.global_transforms(rot, np.broadcast_to(rest, (len(idx), 24, 3)).astype(np.float64),
                                           self.body.parents)
            out.append(pos + self._trans[idx, None, :])
        J = np.concatenate(out)
        if self._up != "z":
            from neural_render.body.axes import to_z_up

            J = to_z_up(J)
        return J


def vertex_normals(vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """(V, 3) or (N, V, 3) unit vertex normals, corner-angle weighted as Blender computes them."""
    v = np.asarray(vertices, np.float64)
    if v.ndim == 3:
        return np.stack([vertex_normals(x, faces) for x in v]).astype(np.float32)
    f = np.asarray(faces, np.int64)
    p = v[f]  # (F, 3 corners, 3)
    fn = np.cross(p[:, 1] - p[:, 0], p[:, 2] - p[:, 0])
    fn /= np.maximum(np.linalg.norm(fn, axis=-1, keepdims=True), 1e-30)
    e1 = np.roll(p, -1, axis=1) - p  # corner i -> i+1
    e2 = np.roll(p, 1, axis=1) - p   # corner i -> i-1
    cosang = np.sum(e1 * e2, -1) / np.maximum(np.linalg.norm(e1, axis=-1) * np.linalg.norm(e2, axis=-1), 1e-30)
    w = np.arccos(np.clip(cosang, -1.0, 1.0))  # (F, 3) corner angles
    idx = f.ravel()
    out = np.stack([np.bincount(idx, weights=(w * fn[:, None, c]).ravel(), minlength=len(v)) for c in range(3)], 1)
    return (out / np.maximum(np.linalg.norm(out, axis=-1, keepdims=True), 1e-30)).astype(np.float32)
