"""Headless (and in-add-on) Blender rendering of the guidance passes.

One Cycles render per frame (1 sample at each pixel centre, no bounces, no denoising) produces
every buffer at once: Depth (planar camera z), Normal (world space, turned into the passes'
camera space here), Object Index (instance ids), UV, and the part labels through an AOV fed by
the meshes' ``nr_part`` face attribute. They come out as one multilayer float32 EXR read with
OpenEXR. Label buffers are exact: one sample, no pixel filter, no antialiasing.

- `BlenderRenderer`: the headless renderer behind `neural_render.renderers.render_passes(...,
  renderer="blender")`; same interface as `neural_render.passes.raster.RasterRenderer`
  (`render_batch(instances, vertices_per_frame, cameras) -> list[dict]`). It builds one mesh object
  per person and sets the per-frame vertices (numpy LBS) on it, which is exact.
- `render_scene_passes(scene, body_objects, out_dir, ...)`: what the add-on calls; renders the
  scene's frame range with its camera and the existing (armature-deformed) body objects,
  evaluating the depsgraph so the deformation is what gets rendered.

Only numpy at module top.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from neural_render.blender import scene as bscene
from neural_render.blender.bpy_util import quiet_stdout, scratch_dir
from neural_render.camera import CV_TO_BLENDER_CAM, Camera

BACKGROUND_DEPTH = 1e9  # Cycles writes 1e10 where no surface is hit


def read_exr_channels(path: str | Path) -> dict[str, np.ndarray]:
    """All channels of a (multi-part, multilayer) EXR: name -> array, row 0 at the top."""
    from neural_render.passes.exr import read_exr_channels as _read

    return _read(path)


def _find(ch: dict, *suffixes: str) -> np.ndarray | None:
    """The first channel whose name ends with one of `suffixes` (tried in order)."""
    for suffix in suffixes:
        for k, v in ch.items():
            if k.endswith(suffix):
                return v
    return None


def buffers_from_channels(ch: dict, camera: Camera) -> dict:
    """Blender EXR channels -> the pass buffers both renderers return (see RasterRenderer.render_batch)."""
    depth = _find(ch, ".Depth.Z")
    obj = _find(ch, "Object Index.X", ".IndexOB.X")  # Blender 5 name, Blender 4.x name
    part = _find(ch, f"{bscene.PART_AOV}.X")
    nrm = np.stack([_find(ch, f".Normal.{c}") for c in "XYZ"], -1)
    uv = np.stack([_find(ch, ".UV.U"), _find(ch, ".UV.V")], -1)
    inst = np.rint(obj).astype(np.uint8)
    mask = inst > 0
    depth = np.where(mask & (depth < BACKGROUND_DEPTH), depth, 0).astype(np.float32)
    n_cam = nrm @ (CV_TO_BLENDER_CAM @ camera.R).T.astype(np.float32)
    n_cam /= np.maximum(np.linalg.norm(n_cam, axis=-1, keepdims=True), 1e-12)
    return {
        "normal": np.where(mask[..., None], n_cam, 0).astype(np.float32),
        "depth": depth,
        "uv": np.where(mask[..., None], uv, 0).astype(np.float32),
        "parts": np.where(mask, np.rint(part), 0).astype(np.uint8),
        "instance": inst,
        "mask": mask,
    }


def render_exr(scene, path: str | Path) -> dict:
    """Render the scene's current frame into a multilayer EXR at `path` and read its channels."""
    import bpy

    scene.render.filepath = str(path)
    os.makedirs(os.path.dirname(str(path)) or ".", exist_ok=True)  # a cleaner may have removed it
    with quiet_stdout():  # Blender logs every saved frame on stdout: keep the CLI's output clean
        bpy.ops.render.render(write_still=True, scene=scene.name)
    return read_exr_channels(path)


_SESSION = [0]  # bumped by every BlenderRenderer that resets the bpy session


class BlenderRenderer:
    """Headless Cycles pass renderer. It owns the process's bpy session: creating one resets bpy
    to an empty scene (an older renderer notices and rebuilds its scene on its next frame)."""

    name = "blender"  # as legend.json states it
    batch_size = 8  # frames posed together by iter_frame_passes (rendered one by one)

    def __init__(self, width: int, height: int):
        import shutil
        import weakref

        self.width, self.height = int(width), int(height)
        self._tmp = scratch_dir("nr_passes_")
        # Removed at close(), at garbage collection, or at interpreter exit, whichever comes first.
        self._cleanup = weakref.finalize(self, shutil.rmtree, self._tmp, True)
        self._setup()

    def _setup(self) -> None:
        import bpy

        bscene.reset_headless()
        _SESSION[0] += 1
        self._session = _SESSION[0]
        self.scene = bpy.context.scene
        self.cam_obj = bscene.ensure_camera(self.scene)
        self.scene.camera = self.cam_obj
        self._objects: dict[int, object] = {}
        self._key = None
        bscene.apply_pass_settings(self.scene, width=self.width, height=self.height)

    def _alive(self) -> bool:
        try:
            self.scene.name, self.cam_obj.name
            for ob in self._objects.values():
                ob.name
            return True
        except ReferenceError:  # freed by a factory reset elsewhere in this process
            return False

    def _ensure_objects(self, instances, vertices) -> None:
        # Hold the instances themselves (not ids, which Python recycles) to know when to rebuild.
        if self._key is not None and len(self._key) == len(instances) and all(
                a is b for a, b in zip(self._key, instances)):
            return
        import bpy

        for ob in self._objects.values():
            bpy.data.objects.remove(ob, do_unlink=True)
        self._objects = {}
        for inst, v in zip(instances, vertices):
            self._objects[id(inst)] = bscene.build_mesh_object(
                f"NR_{inst.name}_{inst.instance_id}", v, inst.faces, inst.face_parts, inst.vt, inst.ft,
                inst.instance_id, self.scene.collection)
        self._key = list(instances)

    def render(self, instances, vertices, camera: Camera) -> dict:
        return self.render_batch(instances, [vertices], [camera])[0]

    def render_batch(self, instances, vertices_per_frame, cameras) -> list[dict]:
        if self._session != _SESSION[0] or not self._alive():  # bpy was reset since: our objects are gone
            self._setup()
        else:
            # Cheap, and keeps the passes exact even if other code changed our scene's settings.
            bscene.apply_pass_settings(self.scene, width=self.width, height=self.height)
        out = []
        path = os.path.join(self._tmp, "frame.exr")
        for verts, cam in zip(vertices_per_frame, cameras):
            if (cam.width, cam.height) != (self.width, self.height):
                raise ValueError(f"camera is {cam.width}x{cam.height}, renderer {self.width}x{self.height}")
            self._ensure_objects(instances, verts)
            for inst, v in zip(instances, verts):
                bscene.set_vertices(self._objects[id(inst)], v)
            cam.to_blender(self.cam_obj, self.scene)
            out.append(buffers_from_channels(render_exr(self.scene, path), cam))
        return out

    def close(self) -> None:
        self._cleanup()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def evaluated_world_vertices(ob, depsgraph) -> np.ndarray:
    """(V, 3) world vertex positions of an object after modifiers (armature) at the current frame."""
    ev = ob.evaluated_get(depsgraph)
    me = ev.to_mesh()
    try:
        co = np.empty(len(me.vertices) * 3, np.float32)
        me.vertices.foreach_get("co", co)
    finally:
        ev.to_mesh_clear()
    M = np.array(ev.matrix_world, np.float64)
    return (co.reshape(-1, 3) @ M[:3, :3].T + M[:3, 3]).astype(np.float32)


def render_scene_passes(scene, body_objects, out_dir, passes=None, size=None, profile: str = "default",
                        body=None, frames=None, progress: bool = False, occlusion: bool = False,
                        contact_sheet: bool = False) -> dict:
    """Render the passes of the current Blender scene (the add-on's entry point).

    Args:
        scene: a bpy Scene; its camera (`scene.camera`) and frame range (frame_start..frame_end,
            or `frames` = iterable of Blender frame numbers) are used.
        body_objects: mesh objects of the bodies (armature-deformed is fine); object i gets
            instance id i + 1. Each needs the `nr_part` face attribute, or a `body` whose vertex
            count matches so it can be added (labels from body.parts).
        out_dir: output folder (one sub-folder per pass, legend.json).
        size: None = the scene's resolution, int or (W, H) to override it.
        body: the BodyModel the objects were built from (keypoints for the skeleton pass); None =
            the default body when the vertex count matches, else the skeleton pass is skipped.
    Files are numbered by Blender frame number (frame 1 -> 000001.png).
    Returns the legend dict (also written to out_dir/legend.json).
    """
    from neural_render.passes.writer import PassWriter
    from neural_render.passes.scene import BodyInstance, face_parts
    from neural_render.passes.spec import PASS_NAMES

    passes = tuple(passes or PASS_NAMES)
    if scene.camera is None:
        from neural_render.errors import InputError

        raise InputError("the scene has no camera", where=scene.name, fix="add a camera and make it active")
    if body is None:
        try:
            from neural_render.body import load_body

            body = load_body()
        except Exception:  # noqa: BLE001 - no default body: skeleton needs a body given explicitly
            body = None
    r = scene.render
    if size is not None:
        W, H = (int(size), int(size)) if np.isscalar(size) else (int(size[0]), int(size[1]))
    else:
        W = int(round(r.resolution_x * r.resolution_percentage / 100))
        H = int(round(r.resolution_y * r.resolution_percentage / 100))
    frames = list(frames) if frames is not None else list(range(scene.frame_start, scene.frame_end + 1))
    # Topology stand-ins for the writer (face parts for the legend / labels).
    instances = []
    saved_index = []
    for i, ob in enumerate(body_objects):
        me = ob.data
        n_v = len(me.vertices)
        if bscene.PART_ATTRIBUTE not in me.attributes:
            if body is None or body.num_vertices != n_v:
                from neural_render.errors import InputError

                raise InputError("body object has no part labels", where=ob.name,
                                 fix="build it with neural_render (or pass the BodyModel it was made from)")
            tri = np.array([p.vertices[:] for p in me.polygons if len(p.vertices) == 3], np.int32)
            if len(tri) != len(me.polygons):
                from neural_render.errors import InputError

                raise InputError("body mesh is not all triangles", where=ob.name, fix="triangulate it")
            bscene.set_part_attribute(me, face_parts(tri, body.parts))
        saved_index.append((ob, ob.pass_index))
        ob.pass_index = i + 1
        inst = BodyInstance.from_vertices(np.zeros((1, n_v, 3), np.float32), np.zeros((0, 3), np.int32),
                                          instance_id=i + 1, name=ob.name)
        instances.append(inst)
    others = [o for o in scene.objects if o not in list(body_objects) and o.type not in ("CAMERA", "LIGHT")
              and not o.hide_render]
    tmp = scratch_dir("nr_passes_")
    path = os.path.join(tmp, "frame.exr")
    frame_now = scene.frame_current
    try:
        with bscene.pass_render_settings(scene, width=W, height=H, hide_others=others):
            writer = PassWriter(out_dir, (W, H), passes=passes, profile=profile, renderer="blender-scene",
                                occlusion=occlusion, body=body, numbering="blender_frame")
            it = frames
            if progress:
                from tqdm import tqdm

                it = tqdm(frames, desc="passes", unit="frame")
            try:
                for f in it:
                    _render_scene_frame(scene, f, body_objects, body, passes, path, writer, instances)
            except BaseException:
                writer.close()
                raise
            return writer.finish(contact_sheet=contact_sheet)
    finally:
        for ob, idx in saved_index:
            ob.pass_index = idx
        scene.frame_set(frame_now)
        import shutil

        shutil.rmtree(tmp, ignore_errors=True)


def _render_scene_frame(scene, f: int, body_objects, body, passes, path: str, writer, instances) -> None:
    scene.frame_set(f)
    dg = bpy_depsgraph(scene)
    cam = Camera.from_blender(scene.camera, scene, dg)
    keypoints, wholebody = [], []
    if "skeleton" in passes and body is not None and "body25" in body.keypoint_regressors:
        for ob in body_objects:
            v = evaluated_world_vertices(ob, dg)
            if len(v) != body.num_vertices:
                keypoints, wholebody = [], []
                break
            j = (body.J_regressor @ v)[None]  # joints of the deformed surface
            keypoints.append(body.keypoints(v[None], j, "body25")[0])
            # COCO-WholeBody (hands, face) from the deformed surface too: the finger bones' pose
            wholebody.append(body.keypoints(v[None], j, "wholebody")[0]
                             if "wholebody" in body.keypoint_regressors else None)
    buf = buffers_from_channels(render_exr(scene, path), cam)
    # Blender frame f is written as file number f (frame index f - 1).
    writer.write_frame(f - 1, buf, cam, keypoints if keypoints else None, [i.instance_id for i in instances],
                       wholebody if wholebody else None)


def bpy_depsgraph(scene):
    """The evaluated dependency graph of `scene` (the context's, or its first view layer's)."""
    import bpy

    if bpy.context.scene == scene:
        return bpy.context.evaluated_depsgraph_get()
    return scene.view_layers[0].depsgraph
