"""The dataset's Blender scene: lit, textured bodies rendered with Cycles (RGB) and exact instance ids.

One `DatasetScene` lives per worker process (the bpy module is one Blender per process). For each
sample `build(posed)` empties the scene and rebuilds it from the sample's description only (so a
sample renders the same whatever was rendered before in that process); `render_frame(f)` sets the
frame's vertices (numpy LBS, exact), renders

- Cycles RGB with a transparent film (RGBA, composited over the background in numpy by the caller),
- Workbench flat object colours, antialiasing off: exact per-pixel instance ids (0 = background,
  person p -> p + 1), pixel centres sampled (as the label projection convention),

and `RayCaster` answers the visibility test's ray queries with Blender's BVH on the same vertices.

Bodies: one mesh per person in world coordinates (Z-up, metres); clothing is procedural (solid,
stripes, checker, noise) on the shirt / trouser parts, textured in the body's rest-pose coordinates
(a "rest" point attribute) so patterns stick to the body when it moves.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

import numpy as np

from neural_render.blender.bpy_util import quiet_stdout, scratch_dir
from neural_render.blender.scene import node_tree

# SMPL parts (1-based = joint index + 1) per garment.
_TORSO = {3, 6, 9, 13, 14}           # spine1..3, collars
_UPPER_ARM = {16, 17}
_FOREARM = {18, 19}
_HIPS = {0, 1, 2}
_SHIN = {4, 5}
_FEET = {7, 8, 10, 11}
MATERIALS = ("skin", "shirt", "trousers", "shoes")
# Person p's instance colour in the Workbench render: exact 0/1 channels survive any view transform.
INSTANCE_COLOURS = ((1, 0, 0), (0, 1, 0), (0, 0, 1), (1, 1, 0), (1, 0, 1), (0, 1, 1), (1, 1, 1))


def garment_of_parts(parts: np.ndarray, clothing: dict) -> np.ndarray:
    """Material index (0 skin, 1 shirt, 2 trousers, 3 shoes) per vertex from SMPL part labels 1..24."""
    j = np.asarray(parts, np.int64) - 1
    shirt = _TORSO | _UPPER_ARM | (_FOREARM if clothing.get("sleeves") else set())
    trousers = _HIPS | (set() if clothing.get("shorts") else _SHIN)
    out = np.zeros(j.shape, np.int64)
    out[np.isin(j, list(shirt))] = 1
    out[np.isin(j, list(trousers))] = 2
    out[np.isin(j, list(_FEET))] = 3
    return out


class DatasetScene:
    """A reusable headless Blender scene for dataset samples (one per process)."""

    def __init__(self, threads: int = 0, workdir: str | None = None, reset: bool = True):
        """`reset`: start from an empty factory session (False when another renderer, e.g. the
        passes' BlenderRenderer, already owns this process's Blender: this scene is then its own
        bpy Scene beside it and touches only the datablocks it created)."""
        import bpy

        self.bpy = bpy
        self.threads = int(threads)
        if workdir is None:
            workdir = scratch_dir("nr_dataset_")
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        if reset:
            bpy.ops.wm.read_factory_settings(use_empty=True)
        self.scene = bpy.data.scenes.new("nr_dataset")
        self.people_objs: list = []
        self.garment_objs: list = []  # per person: [(object, segmentation label)]
        self.posed = None
        self._owned: list = []  # (collection, datablock) created for the current sample

    def close(self) -> None:
        import shutil

        shutil.rmtree(self.workdir, ignore_errors=True)

    # ------------------------------------------------------------------------------------ building
    def _own(self, coll, item):
        self._owned.append((coll, item))
        return item

    def _clear(self):
        """Remove every datablock the previous sample created (objects first, then their data)."""
        order = {"objects": 0}
        for coll, item in sorted(self._owned, key=lambda ci: order.get(ci[0], 1)):
            getattr(self.bpy.data, coll).remove(item)
        self._owned = []
        self.people_objs = []
        self.garment_objs = []

    def build(self, posed, cfg: dict) -> None:
        """Rebuild the scene for one sample (`sampling.PosedScene`)."""
        bpy = self.bpy
        self._clear()
        self.posed = posed
        self.cfg = cfg
        scene = self.scene
        scene.render.resolution_x, scene.render.resolution_y = posed.width, posed.height
        scene.render.resolution_percentage = 100
        scene.render.film_transparent = True
        scene.render.threads_mode = "FIXED" if self.threads > 0 else "AUTO"
        if self.threads > 0:
            scene.render.threads = self.threads
        scene.render.image_settings.file_format = "PNG"
        scene.render.image_settings.color_mode = "RGBA"
        scene.render.image_settings.color_depth = "8"

        spec = posed.spec
        for p, (person, ps) in enumerate(zip(posed.people, spec.people)):
            self.people_objs.append(self._body_object(p, person, ps.clothing))
            self.garment_objs.append(self._garment_objects(p, person, ps.clothing))

        cam_data = self._own("cameras", bpy.data.cameras.new("camera"))
        cam_data.lens = spec.camera["focal_mm"]
        cam_data.sensor_width = spec.camera["sensor_mm"]
        cam_data.sensor_fit = "AUTO"
        cam_data.clip_start, cam_data.clip_end = 0.05, 1000.0
        cam = self._own("objects", bpy.data.objects.new("camera", cam_data))
        scene.collection.objects.link(cam)
        from mathutils import Matrix

        from neural_render.camera import Camera

        settings = Camera(posed.K, posed.world_to_camera, posed.width, posed.height).blender_settings()
        cam.matrix_world = Matrix(settings["matrix_world"].tolist())
        scene.camera = cam

        li = spec.light
        sun_data = self._own("lights", bpy.data.lights.new("sun", "SUN"))
        sun_data.energy = li["sun_strength"]
        sun_data.color = li["sun_colour"]
        sun_data.angle = np.deg2rad(3.0)
        sun = self._own("objects", bpy.data.objects.new("sun", sun_data))
        # Sun direction: from elevation/azimuth; a sun points down its local -z.
        el, az = li["sun_elevation"], li["sun_azimuth"]
        sun.rotation_euler = (np.pi / 2 - el, 0.0, az + np.pi / 2)
        scene.collection.objects.link(sun)

        world = self._own("worlds", bpy.data.worlds.new("world"))
        node_tree(world)
        bg = world.node_tree.nodes.get("Background") or world.node_tree.nodes.new("ShaderNodeBackground")
        bg.inputs["Color"].default_value = (*li["sky_colour"], 1.0)
        bg.inputs["Strength"].default_value = li["ambient"]
        scene.world = world

    def _body_object(self, p: int, person, clothing: dict):
        bpy = self.bpy
        from neural_render.dataset.sampling import get_body

        body = get_body(person.model)
        faces = np.asarray(person.faces, np.int64)
        from neural_render.blender.bpy_util import new_triangle_mesh

        mesh = self._own("meshes", new_triangle_mesh(f"person{p}", person.vertices[0], faces))
        rest = body.v_template + np.einsum("vcb,b->vc", body.shapedirs[..., :len(person.betas)], person.betas)
        attr = mesh.attributes.new("rest", "FLOAT_VECTOR", "POINT")
        attr.data.foreach_set("vector", rest.astype(np.float32).ravel())
        if clothing.get("outfit"):  # real garments are their own objects: the body is skin
            from neural_render.blender.garments import skin_material

            mesh.materials.append(self._own("materials", skin_material(f"p{p}_skin", clothing["outfit"]["skin"])))
        else:
            garments = garment_of_parts(person.parts if person.parts is not None else np.ones(len(rest)), clothing)
            face_mat = garments[faces].max(axis=1)  # a face touching shoes/trousers/shirt takes the garment
            for name in MATERIALS:
                mesh.materials.append(self._material(f"p{p}_{name}", name, clothing))
            mesh.polygons.foreach_set("material_index", face_mat.astype(np.int32))
        mesh.shade_smooth()
        mesh.update()
        obj = self._own("objects", bpy.data.objects.new(f"person{p}", mesh))
        obj.pass_index = p + 1
        obj.color = (*INSTANCE_COLOURS[p % len(INSTANCE_COLOURS)], 1.0)
        self.scene.collection.objects.link(obj)
        return obj

    def _garment_objects(self, p: int, person, clothing: dict) -> list:
        """One object per garment / hair mesh of person p, in the person's instance colour."""
        from neural_render.blender import garments as BG

        outfit = clothing.get("outfit") or {}
        out = []
        for k, g in enumerate(person.garments):
            mesh_name = f"person{p}_{g.name}_{k}"
            ob = BG.mesh_object(mesh_name, g.vertices[0], g.faces, g.rest, self.scene.collection)
            self._own("objects", ob)
            self._own("meshes", ob.data)
            if g.label == "hair":
                mat = BG.hair_material(f"p{p}_{g.name}", outfit["hair_colour"])
            else:
                section = "dress" if g.label == "dress" else g.label
                mat = BG.fabric_material(f"p{p}_{g.name}", outfit[section]["fabric"])
            ob.data.materials.append(self._own("materials", mat))
            ob.pass_index = p + 1
            ob.color = (*INSTANCE_COLOURS[p % len(INSTANCE_COLOURS)], 1.0)
            out.append((ob, g.label))
        return out

    def _material(self, name: str, garment: str, clothing: dict):
        bpy = self.bpy
        mat = self._own("materials", bpy.data.materials.new(name))
        nt = node_tree(mat)
        bsdf = nt.nodes.get("Principled BSDF")
        bsdf.inputs["Roughness"].default_value = {"skin": 0.45, "shirt": 0.8, "trousers": 0.7, "shoes": 0.35}[garment]
        if garment == "skin":
            bsdf.inputs["Base Color"].default_value = (*clothing["skin"], 1.0)
            return mat
        c1 = clothing[garment] if garment != "shoes" else clothing["shoes"]
        c2 = clothing.get(f"{garment}2", c1)
        pattern = clothing["pattern"] if garment in ("shirt", "trousers") else "solid"
        if pattern == "solid":
            bsdf.inputs["Base Color"].default_value = (*c1, 1.0)
            return mat
        attr = nt.nodes.new("ShaderNodeAttribute")
        attr.attribute_name = "rest"
        scale = clothing["scale"]
        if pattern == "checker":
            tex = nt.nodes.new("ShaderNodeTexChecker")
            tex.inputs["Color1"].default_value = (*c1, 1.0)
            tex.inputs["Color2"].default_value = (*c2, 1.0)
            tex.inputs["Scale"].default_value = scale
            nt.links.new(attr.outputs["Vector"], tex.inputs["Vector"])
            nt.links.new(tex.outputs["Color"], bsdf.inputs["Base Color"])
            return mat
        if pattern == "stripes":
            tex = nt.nodes.new("ShaderNodeTexWave")
            tex.wave_type = "BANDS"
            tex.bands_direction = "Y"  # rest pose is Y-up: horizontal stripes
            tex.inputs["Scale"].default_value = scale / 4
        else:
            tex = nt.nodes.new("ShaderNodeTexNoise")
            tex.inputs["Scale"].default_value = scale
        nt.links.new(attr.outputs["Vector"], tex.inputs["Vector"])
        ramp = nt.nodes.new("ShaderNodeValToRGB")
        ramp.color_ramp.interpolation = "CONSTANT" if pattern == "stripes" else "LINEAR"
        ramp.color_ramp.elements[0].position = 0.5 if pattern == "stripes" else 0.35
        ramp.color_ramp.elements[0].color = (*c1, 1.0)
        ramp.color_ramp.elements[1].position = 0.65
        ramp.color_ramp.elements[1].color = (*c2, 1.0)
        nt.links.new(tex.outputs["Fac"], ramp.inputs["Fac"])
        nt.links.new(ramp.outputs["Color"], bsdf.inputs["Base Color"])
        return mat

    # ----------------------------------------------------------------------------------- rendering
    def set_frame(self, f: int) -> None:
        for p, (obj, person) in enumerate(zip(self.people_objs, self.posed.people)):
            obj.data.vertices.foreach_set("co", person.vertices[f].astype(np.float32).ravel())
            obj.data.update()
            for (gob, _label), g in zip(self.garment_objs[p] if p < len(self.garment_objs) else [], person.garments):
                gob.data.vertices.foreach_set("co", g.vertices[f].astype(np.float32).ravel())
                gob.data.update()

    def _render_to(self, path: Path) -> np.ndarray:
        from neural_render.fileio import read_image

        self.scene.render.filepath = str(path)
        with quiet_stdout():  # Blender prints a "Saved: ..." line per render on the C stdout
            self.bpy.ops.render.render(write_still=True, scene=self.scene.name)
        img = read_image(path, "unchanged", missing_ok=True)
        if img is None:
            raise RuntimeError(f"Blender wrote no image at {path}")
        path.unlink(missing_ok=True)
        return img

    def render_rgb(self, samples: int, seed: int, denoise: bool) -> np.ndarray:
        """Cycles RGBA (H, W, 4) uint8 with transparent background."""
        scene = self.scene
        scene.render.engine = "CYCLES"
        from neural_render.blender import cycles_device

        cycles_device.apply(scene)  # CPU unless $NEURAL_RENDER_CYCLES_DEVICE / --cycles-device says otherwise
        scene.cycles.samples = samples
        scene.cycles.use_adaptive_sampling = False
        scene.cycles.seed = seed % (2**31)
        scene.cycles.use_animated_seed = False
        scene.cycles.use_denoising = denoise
        scene.cycles.max_bounces = 4
        scene.view_settings.view_transform = "AgX"
        scene.render.dither_intensity = 0.0  # dithering noise would differ per run otherwise? keep exact
        return self._render_to(self.workdir / f"rgb_{os.getpid()}.png")

    def _workbench_flat(self) -> None:
        scene = self.scene
        scene.render.engine = "BLENDER_WORKBENCH"
        shading = scene.display.shading
        shading.light = "FLAT"
        shading.color_type = "OBJECT"
        shading.show_object_outline = False
        shading.show_cavity = False
        shading.show_shadows = False
        shading.show_specular_highlight = False
        scene.display.render_aa = "OFF"
        scene.view_settings.view_transform = "Standard"
        scene.view_settings.look = "None"
        scene.view_settings.exposure = 0.0
        scene.view_settings.gamma = 1.0
        scene.render.dither_intensity = 0.0

    def _flat_codes(self, name: str) -> np.ndarray:
        """Render flat object colours; (H, W) int64 3-bit colour codes, -1 where nothing was hit."""
        self._workbench_flat()
        img = self._render_to(self.workdir / f"{name}_{os.getpid()}.png")
        bits = (img[..., :3] > 127).astype(np.int64)
        code = bits[..., 0] * 4 + bits[..., 1] * 2 + bits[..., 2]
        code[img[..., 3] < 128] = -1
        return code

    def _all_objects(self) -> list:
        objs = []
        for p, body in enumerate(self.people_objs):
            objs.append((p, body, "skin"))
            objs += [(p, ob, label) for ob, label in (self.garment_objs[p] if p < len(self.garment_objs) else [])]
        return objs

    @contextlib.contextmanager
    def _showing(self, keep):
        """Hide from the render every object for which keep(person, object, label) is false."""
        saved = [(ob, ob.hide_render) for _p, ob, _l in self._all_objects()]
        try:
            for p, ob, label in self._all_objects():
                ob.hide_render = not keep(p, ob, label)
            yield
        finally:
            for ob, h in saved:
                ob.hide_render = h

    def render_instances(self, body_only: bool = False, person: int | None = None) -> np.ndarray:
        """Exact instance ids (H, W) int64: 0 background, person p -> p + 1.

        Garments and hair count as their person's (a COCO person); `body_only`: bodies alone (the
        body `mask`); `person`: that person alone (its amodal mask: nothing in front of it)."""
        lut = np.zeros(8, np.int64)
        for p, c in enumerate(INSTANCE_COLOURS):
            lut[c[0] * 4 + c[1] * 2 + c[2]] = p + 1
        with self._showing(lambda p, ob, label: (not body_only or label == "skin") and (person is None or p == person)):
            code = self._flat_codes("ids")
        ids = lut[np.maximum(code, 0)]
        ids[code < 0] = 0
        return ids

    def render_segmentation(self) -> np.ndarray:
        """Clothing classes (H, W) int64 (SEGMENTATION_CLASSES: 0 background, 1 skin, 2 hair, 3 upper,
        4 lower, 5 dress, 6 shoes): each object drawn in its class's 3-bit colour."""
        from neural_render.body.garments import SEG_ID

        objs = self._all_objects()
        saved = [(ob, tuple(ob.color)) for _p, ob, _l in objs]
        try:
            for _p, ob, label in objs:
                k = SEG_ID[label]
                ob.color = (float(k >> 2 & 1), float(k >> 1 & 1), float(k & 1), 1.0)
            code = self._flat_codes("seg")
        finally:
            for ob, c in saved:
                ob.color = c
        return np.maximum(code, 0)

    def use_frame(self, f: int) -> None:
        self._frame_index = f
        self.set_frame(f)


_FACE_LISTS: dict = {}


def _face_list(faces: np.ndarray) -> list:
    """faces as nested Python lists (what BVHTree wants), cached per face array (one per body model)."""
    key = (id(faces), faces.shape)
    if key not in _FACE_LISTS:
        if len(_FACE_LISTS) > 16:
            _FACE_LISTS.clear()
        _FACE_LISTS[key] = (faces, np.asarray(faces).tolist())  # keep `faces` alive so id() stays unique
    return _FACE_LISTS[key][1]


class RayCaster:
    """First-hit ray queries against the people of one frame (Blender's BVH over the same vertices
    that are rendered): the geometric half of the keypoint visibility test."""

    def __init__(self, vertices_per_person: list[np.ndarray], faces_per_person: list[np.ndarray]):
        from mathutils.bvhtree import BVHTree

        self.trees = [BVHTree.FromPolygons(np.asarray(v, np.float64).tolist(), _face_list(f))
                      for v, f in zip(vertices_per_person, faces_per_person)]

    def __call__(self, origin, direction, max_dist):
        """(distance, instance id) of the first body surface along a ray, (inf, 0) if none."""
        best = (float("inf"), 0)
        o, d = tuple(map(float, origin)), tuple(map(float, direction))
        for p, tree in enumerate(self.trees):
            loc, _n, _i, dist = tree.ray_cast(o, d, float(max_dist))
            if loc is not None and dist < best[0]:
                best = (float(dist), p + 1)
        return best
