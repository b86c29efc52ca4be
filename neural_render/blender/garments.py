"""Garment, hair and skin materials and mesh objects in Blender (Cycles), from `neural_render.body.garments`.

Meshes carry a point attribute ``rest`` (rest-pose model-space position, metres) so procedural
patterns are fixed to the cloth and move with it. Materials are procedural node trees drawn from a
small JSON-able *fabric* dict (seeded per identity by the dataset sampler):

    {"kind": "cotton"|"print"|"knit"|"denim"|"leather", "colour": [r, g, b], "colour2": [r, g, b],
     "pattern": "solid"|"stripes"|"checker"|"dots", "scale": float}

colours are linear RGB 0..1. Skin: {"colour": [r, g, b], "roughness": float}; subsurface is on
(Cycles' random walk, radius scaled to skin) when `subsurface` is true. Hair: {"colour": [r, g, b]}.

Only numpy at module top (bpy inside functions).
"""

from __future__ import annotations

import numpy as np

FABRIC_KINDS = ("cotton", "print", "knit", "denim", "leather")
PRINT_PATTERNS = ("solid", "stripes", "checker", "dots")


def mesh_object(name: str, vertices: np.ndarray, faces: np.ndarray, rest: np.ndarray | None, collection,
                smooth: bool = True):
    """A triangle mesh object (world coordinates) with the optional ``rest`` point attribute."""
    import bpy

    from neural_render.blender.bpy_util import new_triangle_mesh

    me = new_triangle_mesh(name, vertices, faces)
    if rest is not None:
        at = me.attributes.new("rest", "FLOAT_VECTOR", "POINT")
        at.data.foreach_set("vector", np.asarray(rest, np.float32).ravel())
    if smooth:
        me.shade_smooth()
    ob = bpy.data.objects.new(name, me)
    collection.objects.link(ob)
    return ob


def _bsdf(mat):
    from neural_render.blender.scene import node_tree

    nt = node_tree(mat)
    bsdf = nt.nodes.get("Principled BSDF")
    if bsdf is None:
        bsdf = nt.nodes.new("ShaderNodeBsdfPrincipled")
        out = next(n for n in nt.nodes if n.bl_idname == "ShaderNodeOutputMaterial")
        nt.links.new(bsdf.outputs["BSDF"], out.inputs["Surface"])
    return nt, bsdf


def _rest_coords(nt):
    attr = nt.nodes.new("ShaderNodeAttribute")
    attr.attribute_name = "rest"
    return attr.outputs["Vector"]


def _bump(nt, bsdf, height_socket, strength: float, distance: float = 0.002) -> None:
    bump = nt.nodes.new("ShaderNodeBump")
    bump.inputs["Strength"].default_value = strength
    bump.inputs["Distance"].default_value = distance
    nt.links.new(height_socket, bump.inputs["Height"])
    nt.links.new(bump.outputs["Normal"], bsdf.inputs["Normal"])


def _mix(nt, fac_socket, c1, c2):
    """Colour = mix(c1, c2, fac) through a two-stop ramp."""
    ramp = nt.nodes.new("ShaderNodeValToRGB")
    ramp.color_ramp.elements[0].color = (*c1, 1.0)
    ramp.color_ramp.elements[1].color = (*c2, 1.0)
    nt.links.new(fac_socket, ramp.inputs["Fac"])
    return ramp


def fabric_material(name: str, fabric: dict):
    """A Cycles material for a garment (see module doc for `fabric`)."""
    import bpy

    mat = bpy.data.materials.new(name)
    nt, bsdf = _bsdf(mat)
    kind = fabric["kind"]
    c1, c2 = tuple(fabric["colour"]), tuple(fabric.get("colour2", fabric["colour"]))
    scale = float(fabric.get("scale", 10.0))
    co = _rest_coords(nt)
    bsdf.inputs["Roughness"].default_value = {"cotton": 0.85, "print": 0.8, "knit": 0.95, "denim": 0.8,
                                              "leather": 0.35}[kind]
    if "Sheen Weight" in bsdf.inputs and kind in ("cotton", "knit", "print"):
        bsdf.inputs["Sheen Weight"].default_value = 0.3  # soft fabric rim
    if kind == "leather":
        bsdf.inputs["Base Color"].default_value = (*c1, 1.0)
        vor = nt.nodes.new("ShaderNodeTexVoronoi")
        vor.inputs["Scale"].default_value = 180.0
        nt.links.new(co, vor.inputs["Vector"])
        _bump(nt, bsdf, vor.outputs["Distance"], 0.15)
        return mat
    if kind == "denim":
        # Twill: fine diagonal waves, mottled by noise between the two blues.
        wave = nt.nodes.new("ShaderNodeTexWave")
        wave.wave_type = "BANDS"
        wave.bands_direction = "DIAGONAL"
        wave.inputs["Scale"].default_value = 150.0
        nt.links.new(co, wave.inputs["Vector"])
        noise = nt.nodes.new("ShaderNodeTexNoise")
        noise.inputs["Scale"].default_value = 12.0
        nt.links.new(co, noise.inputs["Vector"])
        ramp = _mix(nt, noise.outputs["Fac"], c1, c2)
        nt.links.new(ramp.outputs["Color"], bsdf.inputs["Base Color"])
        _bump(nt, bsdf, wave.outputs["Fac"], 0.2)
        return mat
    if kind == "knit":
        wave = nt.nodes.new("ShaderNodeTexWave")
        wave.wave_type = "BANDS"
        wave.bands_direction = "X"  # vertical ribs (rest pose is Y-up)
        wave.inputs["Scale"].default_value = 60.0
        nt.links.new(co, wave.inputs["Vector"])
        _bump(nt, bsdf, wave.outputs["Fac"], 0.35)
        bsdf.inputs["Base Color"].default_value = (*c1, 1.0)
        return mat
    pattern = fabric.get("pattern", "solid") if kind == "print" else "solid"
    if pattern == "solid":
        bsdf.inputs["Base Color"].default_value = (*c1, 1.0)
    elif pattern == "checker":
        tex = nt.nodes.new("ShaderNodeTexChecker")
        tex.inputs["Color1"].default_value = (*c1, 1.0)
        tex.inputs["Color2"].default_value = (*c2, 1.0)
        tex.inputs["Scale"].default_value = scale
        nt.links.new(co, tex.inputs["Vector"])
        nt.links.new(tex.outputs["Color"], bsdf.inputs["Base Color"])
    elif pattern == "stripes":
        tex = nt.nodes.new("ShaderNodeTexWave")
        tex.wave_type = "BANDS"
        tex.bands_direction = "Y"  # horizontal stripes
        tex.inputs["Scale"].default_value = scale / 4
        nt.links.new(co, tex.inputs["Vector"])
        ramp = _mix(nt, tex.outputs["Fac"], c1, c2)
        ramp.color_ramp.interpolation = "CONSTANT"
        ramp.color_ramp.elements[1].position = 0.5
        nt.links.new(ramp.outputs["Color"], bsdf.inputs["Base Color"])
    else:  # dots: the cells of a Voronoi pattern, thresholded
        tex = nt.nodes.new("ShaderNodeTexVoronoi")
        tex.inputs["Scale"].default_value = scale * 1.5
        nt.links.new(co, tex.inputs["Vector"])
        ramp = _mix(nt, tex.outputs["Distance"], c2, c1)
        ramp.color_ramp.interpolation = "CONSTANT"
        ramp.color_ramp.elements[1].position = 0.3
        nt.links.new(ramp.outputs["Color"], bsdf.inputs["Base Color"])
    # Fine weave for every cotton / print.
    noise = nt.nodes.new("ShaderNodeTexNoise")
    noise.inputs["Scale"].default_value = 250.0
    nt.links.new(co, noise.inputs["Vector"])
    _bump(nt, bsdf, noise.outputs["Fac"], 0.1)
    return mat


def skin_material(name: str, skin: dict, subsurface: bool = True):
    """Skin: albedo from the identity's tone, a little subsurface scattering, mild roughness."""
    import bpy

    mat = bpy.data.materials.new(name)
    nt, bsdf = _bsdf(mat)
    bsdf.inputs["Base Color"].default_value = (*skin["colour"], 1.0)
    bsdf.inputs["Roughness"].default_value = float(skin.get("roughness", 0.5))
    if subsurface and "Subsurface Weight" in bsdf.inputs:
        bsdf.inputs["Subsurface Weight"].default_value = 0.15
        bsdf.inputs["Subsurface Radius"].default_value = (1.0, 0.35, 0.2)
        bsdf.inputs["Subsurface Scale"].default_value = 0.01  # metres: skin scatters over mm
    return mat


def hair_material(name: str, hair: dict):
    """Hair: colour, fairly glossy, a fine streak bump along the fall of the hair."""
    import bpy

    mat = bpy.data.materials.new(name)
    nt, bsdf = _bsdf(mat)
    bsdf.inputs["Base Color"].default_value = (*hair["colour"], 1.0)
    bsdf.inputs["Roughness"].default_value = 0.45
    co = _rest_coords(nt)
    wave = nt.nodes.new("ShaderNodeTexWave")
    wave.wave_type = "BANDS"
    wave.bands_direction = "X"
    wave.inputs["Scale"].default_value = 90.0
    wave.inputs["Distortion"].default_value = 4.0
    nt.links.new(co, wave.inputs["Vector"])
    _bump(nt, bsdf, wave.outputs["Fac"], 0.3)
    return mat
