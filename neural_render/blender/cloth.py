"""Blender cloth simulation of loose garments over one clip (headless, in a scratch scene).

Skinning (`neural_render.body.garments.pose_garments`) makes a skirt swing rigidly with the hips. With
the cloth switch on, the garments that carry pin weights (`Garment.pin`: skirts, the skirt of a dress,
loose tops) are simulated instead: Blender's cloth modifier on the garment mesh, the posed body as a
collision object, and the skinned garment as the goal the pinned part (waistband, shoulders, sleeves)
follows. Pin weight 1 = exactly the skinned position, 0 = free cloth, between = a goal spring.

    simulate_cloth(body_faces, body_frames, garments, fps) -> list of (T, G, 3)

The body and the skinned garments drive the scene frame by frame through Mesh Cache modifiers reading
PC2 files (no keyframes, nothing edited between frames, so the cloth's point cache is never reset);
the cloth is stepped frame by frame from frame 1 (the skinned shape at rest) and read back. All in a
scene of its own that is removed afterwards: the caller's scenes and datablocks are left untouched.

World frame: Blender's, Z-up, metres; gravity -9.81 m/s^2 along z. Only numpy at module top.
"""

from __future__ import annotations

import os
import shutil
import struct
import tempfile
from dataclasses import dataclass

import numpy as np

# Cloth parameters (SI units, Blender's cloth model): a medium-weight woven fabric.
CLOTH = {"mass": 0.3,                 # kg per vertex (Blender's "vertex mass")
         "tension": 15.0, "compression": 15.0, "shear": 5.0, "bending": 0.5,
         "air_damping": 1.0,
         "pin_stiffness": 1.0,
         "distance_min": 0.004,       # m kept between cloth and the body
         "collision_quality": 2,
         "steps_per_second": 150,     # solver substeps per second of motion (5 per frame at 30 fps)
         "body_thickness": 0.003,     # m: the body collider's outer shell
         "body_friction": 5.0,
         "min_pin": 0.0}              # floor of every pin weight (> 0: a weak goal spring everywhere)


@dataclass
class ClothInput:
    """One garment to simulate over the clip."""

    name: str
    faces: np.ndarray      # (F, 3) int
    skinned: np.ndarray    # (T, G, 3) world metres: the skinned garment (the pinned part's goal)
    pin: np.ndarray        # (G,) 0..1 pin weight (1 = follows the skinned garment exactly)


def write_pc2(path: str, frames: np.ndarray) -> None:
    """Write vertex positions (T, V, 3) as a PC2 point cache (start frame 0, one sample per frame)."""
    frames = np.asarray(frames, "<f4")
    T, V, _ = frames.shape
    with open(path, "wb") as f:
        f.write(b"POINTCACHE2\0" + struct.pack("<iiffi", 1, V, 0.0, 1.0, T))
        f.write(np.ascontiguousarray(frames).tobytes())


def _driven_object(name: str, frames: np.ndarray, faces: np.ndarray, scene, cache_dir: str):
    """A mesh object at frames[0] whose vertices follow `frames` (scene frame k + 1 = frames[k])."""
    import bpy

    from neural_render.blender.bpy_util import new_triangle_mesh

    me = new_triangle_mesh(name, frames[0], faces, calc_edges=True)
    ob = bpy.data.objects.new(name, me)
    scene.collection.objects.link(ob)
    path = os.path.join(cache_dir, f"{name}.pc2")
    write_pc2(path, frames)
    mod = ob.modifiers.new("nr_motion", "MESH_CACHE")
    mod.cache_format = "PC2"
    mod.filepath = path
    mod.frame_start = 1.0  # scene frame 1 plays the cache's frame 0
    mod.forward_axis, mod.up_axis = "POS_Y", "POS_Z"  # the file is already in Blender's world axes
    return ob


def simulate_cloth(body_faces: np.ndarray, body_frames: np.ndarray, garments: list[ClothInput],
                   fps: float, params: dict | None = None, floor_z: float | None = None) -> list[np.ndarray]:
    """Simulate `garments` over the clip; returns (T, G, 3) float32 world vertices per garment.

    body_frames (T, V, 3): the posed body per frame (world, metres), also the collision object;
    fps: frames per second of the clip (sets the solver's time step); floor_z: world height of a
    floor the cloth collides with too (None: no floor). Frame 0 of the result is the skinned garment
    (the cloth starts there at rest): start from a pose the garments fit without intersections (see
    `neural_render.body.garments.lead_in_poses`).
    """
    import bpy

    p = {**CLOTH, **(params or {})}
    T = int(body_frames.shape[0])
    if not garments:
        return []
    for g in garments:
        if g.skinned.shape[0] != T:
            raise ValueError(f"garment {g.name}: {g.skinned.shape[0]} frames, body {T}")
    cache_dir = tempfile.mkdtemp(prefix="nr_cloth_")
    scene = bpy.data.scenes.new("nr_cloth_sim")
    made_objects, made_meshes = [], []
    try:
        fps_int = max(1, int(round(fps)))
        scene.render.fps, scene.render.fps_base = fps_int, fps_int / float(fps)
        scene.frame_start, scene.frame_end = 1, T
        scene.gravity = (0.0, 0.0, -9.81)
        scene.use_gravity = True
        body = _driven_object("nr_cloth_body", body_frames, body_faces, scene, cache_dir)
        made_objects.append(body)
        col = body.modifiers.new("nr_collision", "COLLISION")
        del col
        body.collision.thickness_outer = p["body_thickness"]
        body.collision.cloth_friction = p["body_friction"]
        if floor_z is not None:  # a 100 m square under the clip
            from neural_render.blender.bpy_util import new_triangle_mesh

            q = np.array([[-50, -50, 0], [50, -50, 0], [50, 50, 0], [-50, 50, 0]], np.float32) + [0, 0, floor_z]
            floor = bpy.data.objects.new("nr_cloth_floor", new_triangle_mesh("nr_cloth_floor", q, np.array([[0, 1, 2], [0, 2, 3]]),
                                                                              calc_edges=True))
            scene.collection.objects.link(floor)
            made_objects.append(floor)
            floor.modifiers.new("nr_collision", "COLLISION")
            floor.collision.thickness_outer = 0.001
            floor.collision.cloth_friction = p["body_friction"]
        quality = max(1, int(np.ceil(p["steps_per_second"] / float(fps))))
        cloth_objs = []
        for i, g in enumerate(garments):
            ob = _driven_object(f"nr_cloth_{i}_{g.name}", g.skinned, g.faces, scene, cache_dir)
            made_objects.append(ob)
            vg = ob.vertex_groups.new(name="pin")
            pin = np.clip(np.maximum(np.asarray(g.pin, np.float64), p["min_pin"]), 0.0, 1.0)
            for w in np.unique(pin[pin > 0]):
                vg.add(np.nonzero(pin == w)[0].tolist(), float(w), "REPLACE")
            cm = ob.modifiers.new("nr_cloth", "CLOTH")
            s = cm.settings
            s.quality = quality
            s.mass = p["mass"]
            s.tension_stiffness, s.compression_stiffness = p["tension"], p["compression"]
            s.shear_stiffness, s.bending_stiffness = p["shear"], p["bending"]
            s.air_damping = p["air_damping"]
            s.vertex_group_mass = "pin"
            s.pin_stiffness = p["pin_stiffness"]
            cs = cm.collision_settings
            cs.use_collision = True
            cs.distance_min = p["distance_min"]
            cs.collision_quality = p["collision_quality"]
            cs.use_self_collision = False
            cm.point_cache.frame_start, cm.point_cache.frame_end = 1, T
            cloth_objs.append(ob)
        out = [np.empty((T,) + g.skinned.shape[1:], np.float32) for g in garments]
        view_layer = scene.view_layers[0]
        with bpy.context.temp_override(scene=scene, view_layer=view_layer):
            for f in range(1, T + 1):  # in order: the cloth integrates from the previous frame
                scene.frame_set(f)
                dg = bpy.context.evaluated_depsgraph_get()
                for ob, arr in zip(cloth_objs, out):
                    ev = ob.evaluated_get(dg)
                    buf = np.empty(len(ev.data.vertices) * 3, np.float32)
                    ev.data.vertices.foreach_get("co", buf)
                    arr[f - 1] = buf.reshape(-1, 3)
        return out
    finally:
        for ob in made_objects:
            made_meshes.append(ob.data)
            bpy.data.objects.remove(ob, do_unlink=True)
        for me in made_meshes:
            if me.users == 0:
                bpy.data.meshes.remove(me)
        bpy.data.scenes.remove(scene)
        shutil.rmtree(cache_dir, ignore_errors=True)


def simulate_garments(body_faces: np.ndarray, garments: list, body_frames: np.ndarray, skinned: list[np.ndarray],
                      fps: float, params: dict | None = None, floor_from: int = 0) -> list[np.ndarray]:
    """Replace the skinned frames of every garment with pin weights (`Garment.pin`) by its cloth
    simulation; the others (shoes, tight tops, hair) keep their skinned frames.

    garments: `neural_render.body.garments.Garment` list; skinned: (T, G, 3) world per garment (the
    output of `pose_garments`, before any push-out); body_frames (T, V, 3) world. The cloth also
    collides with a floor at the lowest point of the body and of the garments that are not simulated
    (shoes) from frame `floor_from` on (a lead-in before it may reach lower)."""
    sel = [i for i, g in enumerate(garments) if g.pin is not None]
    floor_z = min([float(body_frames[floor_from:, :, 2].min())]
                  + [float(v[floor_from:, :, 2].min()) for i, v in enumerate(skinned) if i not in sel])
    sims = simulate_cloth(body_faces, body_frames,
                          [ClothInput(garments[i].name, garments[i].faces, skinned[i], garments[i].pin) for i in sel],
                          fps, params, floor_z=floor_z)
    out = list(skinned)
    for i, s in zip(sel, sims):
        out[i] = s
    return out
