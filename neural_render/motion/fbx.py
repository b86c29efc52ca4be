"""FBX import through Blender's own importer (the `bpy` module, headless or inside Blender).

The armature's rest pose (bone heads and rest orientations in world space) and its pose per frame
(pose-bone matrices, world space) become a `SourceClip`, so FBX goes through exactly the same
retargeting as BVH. Everything the import created is removed again afterwards, so calling this
inside a user's Blender session leaves their scene as it was (the current frame is restored).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from neural_render.errors import InputError
from neural_render.motion.source_skeleton import SourceClip, SourceSkeleton

_DATA_KINDS = ("objects", "armatures", "actions", "meshes", "materials", "images", "collections", "cameras",
               "lights")


def _rot_only(M: np.ndarray) -> np.ndarray:
    """The rotation part of 4x4 matrices (..., 4, 4) with any (positive) scale divided out."""
    R = M[..., :3, :3]
    return R / np.linalg.norm(R, axis=-2, keepdims=True)


def read_fbx(path: str | Path, armature: str | None = None, frames: tuple[int, int] | None = None) -> SourceClip:
    """Read the (largest, or named) armature's animation from an FBX file into a SourceClip.

    Positions are Blender world units after the importer's unit conversion; rotations are the bones'
    world orientations. Raises InputError for unreadable files or files without an animated armature.
    """
    path = Path(path)
    if not path.exists():
        raise InputError("FBX file not found", path=path)
    if path.stat().st_size == 0:
        raise InputError("file is empty", path=path)
    try:
        import bpy

        from neural_render.blender.bpy_util import quiet_stdout
    except ImportError:
        raise InputError("FBX import needs Blender's bpy module", path=path,
                         fix="pip install bpy (the 'blender' extra), or convert the clip to BVH") from None
    before = {k: set(getattr(bpy.data, k)) for k in _DATA_KINDS}
    scene = bpy.context.scene
    frame0 = scene.frame_current
    fps0 = (scene.render.fps, scene.render.fps_base)
    try:
        try:
            with quiet_stdout():  # the importer prints "FBX version: 7400" and warnings
                res = bpy.ops.import_scene.fbx(filepath=str(path), use_anim=True,
                                               automatic_bone_orientation=False, ignore_leaf_bones=False)
        except Exception as e:  # the importer raises RuntimeError with its own message on bad files
            msg = str(e).strip().splitlines()[-1] if str(e).strip() else type(e).__name__
            raise InputError(f"Blender's FBX importer failed: {msg[:200]}", path=path,
                             fix="is this a binary FBX 7.x file?") from None
        if "FINISHED" not in res:
            raise InputError("Blender's FBX importer did not finish", path=path)
        new_objs = [o for o in bpy.data.objects if o not in before["objects"]]
        arms = [o for o in new_objs if o.type == "ARMATURE"]
        if armature:
            arms = [o for o in arms if o.name == armature or o.data.name == armature]
        if not arms:
            raise InputError("no armature in the FBX file" + (f" named {armature!r}" if armature else ""),
                             path=path, fix="the file must contain a skeleton with animation")
        arm = max(arms, key=lambda o: len(o.data.bones))
        act = arm.animation_data.action if arm.animation_data else None
        if act is None:
            raise InputError(f"armature {arm.name!r} has no animation", path=path)
        f0, f1 = (int(round(v)) for v in act.frame_range)
        if frames:
            f0, f1 = max(f0, frames[0]), min(f1, frames[1])
        fps = scene.render.fps / scene.render.fps_base
        clip = _sample(arm, scene, f0, f1, fps, str(path))
        clip.info.update({"format": "fbx", "armature": arm.name, "action": act.name, "frame_range": [f0, f1]})
        return clip
    finally:
        scene.render.fps, scene.render.fps_base = fps0
        scene.frame_set(frame0)
        for kind in _DATA_KINDS:
            coll = getattr(bpy.data, kind)
            for block in [b for b in coll if b not in before[kind]]:
                try:
                    coll.remove(block)
                except Exception:  # already removed with its owner
                    pass


def _sample(arm, scene, f0: int, f1: int, fps: float, source: str) -> SourceClip:
    bones = list(arm.data.bones)
    names = [b.name for b in bones]
    index = {n: i for i, n in enumerate(names)}
    parents = np.array([index[b.parent.name] if b.parent else -1 for b in bones], np.int64)
    W = np.array(arm.matrix_world, np.float64)
    rest = np.stack([W @ np.array(b.matrix_local, np.float64) for b in bones])
    # Leaf bones the exporters add to mark bone tips ("_end", "_End", "Nub") carry no motion.
    is_end = np.array([n.lower().endswith(("_end", "end", "nub")) and not b.children
                       for n, b in zip(names, bones)])
    T = f1 - f0 + 1
    M = np.empty((T, len(bones), 4, 4))
    buf = np.empty(16 * len(bones), np.float32)
    order = [arm.pose.bones.find(n) for n in names]
    for k, f in enumerate(range(f0, f1 + 1)):
        scene.frame_set(f)
        arm.pose.bones.foreach_get("matrix", buf)
        # foreach_get gives column-major 4x4 blocks in pose.bones order.
        Mk = buf.reshape(-1, 4, 4).transpose(0, 2, 1).astype(np.float64)
        M[k] = Mk[order]
    M = W[None, None] @ M
    skel = SourceSkeleton(names, parents, rest[:, :3, 3], _rot_only(rest), is_end)
    if abs(fps - round(fps)) < 1e-3 * fps:
        fps = float(round(fps))
    return SourceClip(skel, _rot_only(M), M[..., :3, 3], fps, source=source, info={})
