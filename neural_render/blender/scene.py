"""Blender-side scene set-up for the pass renderer: body mesh objects, camera, pass render settings.

Used headless (`bpy` module) and inside the add-on. Parts are exact: every body mesh carries a
face attribute ``nr_part`` (int, 1..24, from `neural_render.passes.spec.face_parts`), and a view
layer material override writes it to a shader AOV, so the user's own materials are never edited.
The instance id is the object's ``pass_index`` (Cycles' Object Index pass).

Only numpy at module top (bpy is imported inside functions).
"""

from __future__ import annotations

import contextlib

import numpy as np

PART_ATTRIBUTE = "nr_part"
PART_AOV = "nr_part"
OVERRIDE_MATERIAL = "NR_pass_override"
PASS_FLAGS = ("use_pass_z", "use_pass_normal", "use_pass_object_index", "use_pass_uv")


def reset_headless() -> None:
    """An empty factory scene (headless runs only: it discards whatever the process had loaded)."""
    import bpy

    bpy.ops.wm.read_factory_settings(use_empty=True)


def build_mesh_object(name: str, vertices: np.ndarray, faces: np.ndarray, face_parts: np.ndarray,
                      vt: np.ndarray | None = None, ft: np.ndarray | None = None, instance_id: int = 1,
                      collection=None):
    """A smooth-shaded triangle mesh object with UVs, the part attribute and its pass index."""
    import bpy

    from neural_render.blender.bpy_util import new_triangle_mesh

    me = new_triangle_mesh(name, vertices, faces, vt, ft)
    set_part_attribute(me, face_parts)
    me.shade_smooth()
    ob = bpy.data.objects.new(name, me)
    ob.pass_index = int(instance_id)
    (collection or bpy.context.scene.collection).objects.link(ob)
    return ob


def set_part_attribute(mesh, face_parts: np.ndarray) -> None:
    """Store per-face part labels (1..24) on a mesh as the int face attribute `nr_part`."""
    if PART_ATTRIBUTE in mesh.attributes:
        mesh.attributes.remove(mesh.attributes[PART_ATTRIBUTE])
    at = mesh.attributes.new(PART_ATTRIBUTE, "INT", "FACE")
    at.data.foreach_set("value", np.asarray(face_parts, np.int32))


def set_vertices(ob, vertices: np.ndarray) -> None:
    """Replace the mesh's vertex positions (object space = world for our unparented objects)."""
    me = ob.data
    me.vertices.foreach_set("co", np.asarray(vertices, np.float32).ravel())
    me.update()


def ensure_camera(scene, name: str = "NR_pass_camera"):
    import bpy

    ob = bpy.data.objects.get(name)
    if ob is None:
        ob = bpy.data.objects.new(name, bpy.data.cameras.new(name))
        scene.collection.objects.link(ob)
    return ob


def node_tree(idblock):
    """The shader node tree of a material or world, switching nodes on where Blender < 5 needs it
    (from Blender 5 on they are always on and `use_nodes` is deprecated)."""
    import bpy

    if bpy.app.version < (5, 0, 0):
        idblock.use_nodes = True
    return idblock.node_tree


def override_material():
    """The material every object renders with during a pass render: face part -> AOV."""
    import bpy

    mat = bpy.data.materials.get(OVERRIDE_MATERIAL)
    if mat is not None:
        return mat
    mat = bpy.data.materials.new(OVERRIDE_MATERIAL)
    nt = node_tree(mat)
    for n in list(nt.nodes):
        if n.bl_idname != "ShaderNodeOutputMaterial":
            nt.nodes.remove(n)
    attr = nt.nodes.new("ShaderNodeAttribute")
    attr.attribute_name = PART_ATTRIBUTE
    attr.attribute_type = "GEOMETRY"
    aov = nt.nodes.new("ShaderNodeOutputAOV")
    aov.aov_name = PART_AOV
    nt.links.new(attr.outputs["Fac"], aov.inputs["Value"])
    # An opaque surface: with nothing connected Cycles would let the ray pass through and the AOV
    # would sum the labels of every layer it crosses.
    bsdf = nt.nodes.new("ShaderNodeBsdfDiffuse")
    out = next(n for n in nt.nodes if n.bl_idname == "ShaderNodeOutputMaterial")
    nt.links.new(bsdf.outputs["BSDF"], out.inputs["Surface"])
    return mat


def _set(obj, attr: str, value, saved: list) -> None:
    saved.append((obj, attr, getattr(obj, attr)))
    setattr(obj, attr, value)


def apply_pass_settings(scene, view_layer=None, width: int | None = None, height: int | None = None,
                        hide_others: list | None = None, saved: list | None = None) -> object:
    """Configure `scene` for one-sample Cycles pass renders (see `pass_render_settings`).

    `saved` collects (object, attribute, old value) to restore; returns the AOV it added (or None).
    """
    vl = view_layer or scene.view_layers[0]
    saved = [] if saved is None else saved
    r, cy = scene.render, scene.cycles
    _set(r, "engine", "CYCLES", saved)
    for attr, val in (("device", "CPU"), ("samples", 1), ("use_adaptive_sampling", False),
                      ("use_denoising", False), ("pixel_filter_type", "BOX"), ("filter_width", 0.01),
                      ("max_bounces", 0), ("diffuse_bounces", 0), ("glossy_bounces", 0),
                      ("transparent_max_bounces", 0), ("transmission_bounces", 0),
                      ("volume_bounces", 0), ("sample_offset", 0), ("use_animated_seed", False),
                      ("seed", 0)):
        if hasattr(cy, attr):
            _set(cy, attr, val, saved)
    _set(r, "film_transparent", True, saved)
    _set(r, "use_motion_blur", False, saved)
    _set(r, "use_compositing", False, saved)
    _set(r, "use_sequencer", False, saved)
    if hasattr(r, "use_persistent_data"):
        _set(r, "use_persistent_data", True, saved)  # keeps BVH/kernels between frames
    if width is not None:
        _set(r, "resolution_x", int(width), saved)
        _set(r, "resolution_y", int(height), saved)
        _set(r, "resolution_percentage", 100, saved)
    ims = r.image_settings
    if hasattr(ims, "media_type"):  # Blender 5: the format follows the media type
        _set(ims, "media_type", "MULTI_LAYER_IMAGE", saved)
    else:  # Blender 4.x
        _set(ims, "file_format", "OPEN_EXR_MULTILAYER", saved)
    _set(ims, "color_depth", "32", saved)
    _set(ims, "exr_codec", "NONE", saved)
    for flag in PASS_FLAGS:
        _set(vl, flag, True, saved)
    added_aov = None
    if PART_AOV not in [a.name for a in vl.aovs]:
        added_aov = vl.aovs.add()
        added_aov.name = PART_AOV
        added_aov.type = "VALUE"
    _set(vl, "material_override", override_material(), saved)
    for ob in hide_others or []:
        _set(ob, "hide_render", True, saved)
    return added_aov


@contextlib.contextmanager
def pass_render_settings(scene, view_layer=None, width: int | None = None, height: int | None = None,
                         hide_others: list | None = None):
    """Temporarily configure `scene` for one-sample Cycles pass renders; everything is restored.

    Cycles, CPU, 1 sample, no denoising, box filter of minimal width (one sample at each pixel
    centre: label passes are never antialiased), no bounces, transparent film, passes Depth,
    Normal, Object Index, UV and the part AOV, multilayer float32 EXR output.
    `hide_others`: objects hidden from the render meanwhile (everything that is not a body).
    """
    vl = view_layer or scene.view_layers[0]
    saved: list = []
    added_aov = None
    try:
        added_aov = apply_pass_settings(scene, vl, width, height, hide_others, saved)
        yield scene
    finally:
        for obj, attr, val in reversed(saved):
            try:
                setattr(obj, attr, val)
            except Exception:  # noqa: BLE001 - restoring is best effort (e.g. a deleted object)
                pass
        if added_aov is not None:
            try:
                vl.aovs.remove(added_aov)
            except Exception:  # noqa: BLE001
                pass
