"""The reference actor (v2): the default body wearing a procedural texture and garments with their own
geometry (a loose shirt, a flared skirt, shoes, long hair), rendered by Cycles.

`render_actor(motion, out_dir, size, frames)` writes a reproducible paired dataset:

    OUT/frames/NNNNNN.png    ground truth: Cycles, textured body (smpl_assets/actor/actor_texture.png)
                             dressed in the outfit of actor.json (neural_render.body.garments, skinned
                             to the body), a sun with soft shadows, a sky-coloured world fill, a plain floor
    OUT/person_mask/NNNNNN.png  uint8 0/255: the actor with garments and hair (the body passes' `mask`
                             covers the body alone, so the two differ wherever cloth or hair hangs free)
    OUT/<pass>/NNNNNN.png    every guidance pass, rendered by `neural_render.passes.render.render_passes`
                             for the SAME frames and cameras (follow camera), + legend.json,
                             skeleton/keypoints.npz|json
    OUT/actor.json           what was rendered (motion, frames, samples, scene parameters)
    OUT/split.json           optional time-contiguous train/test split

NNNNNN = motion frame index + 1, as every pass. Scene parameters (colours, light, samples) are data
in smpl_assets/actor/actor.json. Cycles uses a fixed seed and a static noise pattern, so a re-render
is identical on the same machine.

Only numpy at module top (bpy is imported inside functions).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
from pathlib import Path

import numpy as np

from neural_render.errors import InputError


def actor_params() -> dict:
    from neural_render.paths import asset

    return json.loads(Path(asset("actor", "actor.json")).read_text())


def _texture_path() -> Path:
    from neural_render.paths import asset

    return Path(asset("actor", actor_params()["texture"]["file"]))


class ActorGarments:
    """The actor's outfit (actor.json "outfit"), posed with the body instance frame by frame."""

    def __init__(self, inst, outfit: dict | None):
        from neural_render.body import garments as G

        self.inst = inst
        self.outfit = outfit or {}
        betas = inst._betas if inst._betas is not None else np.zeros(inst.body.num_betas)
        self.betas = betas
        self.garments = G.build_outfit(inst.body, betas, self.outfit) if self.outfit else []
        self._sim: list[np.ndarray] | None = None  # cloth-simulated frames (see `simulate`)
        self._sim_first = 0                         # motion frame index of self._sim[g][0]

    def _skinned(self, poses: np.ndarray, trans: np.ndarray) -> list[np.ndarray]:
        """(n, G, 3) world vertices per garment, skinned to the body, for poses (n, P) and trans (n, 3)."""
        from neural_render.body import garments as G

        out = G.pose_garments(self.inst.body, self.garments, poses, self.betas, trans)
        if self.inst._up != "z":
            from neural_render.body.axes import to_z_up

            out = [to_z_up(v).astype(np.float32) for v in out]
        return out

    def simulate(self, frames, fps: float, lead_in_s: float = 0.5) -> None:
        """Simulate the loose garments (`Garment.pin`: the skirt) as cloth over motion frames min..max of
        `frames`, after a `lead_in_s` lead-in from the rest pose (`neural_render.blender.cloth`);
        `posed` then returns the simulated frames. Holds (T, G, 3) per garment for the whole range."""
        from neural_render.blender.cloth import simulate_garments
        from neural_render.body import garments as G

        if not any(g.pin is not None for g in self.garments):
            return
        inst = self.inst
        lo, hi = int(np.min(frames)), int(np.max(frames))
        poses, trans = inst._poses[lo:hi + 1], inst._trans[lo:hi + 1]
        n_lead = int(round(lead_in_s * fps))
        poses = np.concatenate([G.lead_in_poses(poses[0], n_lead), poses])
        trans = np.concatenate([np.repeat(trans[:1], n_lead, 0), trans])
        verts = inst.body.forward(poses, inst._betas, trans, keypoints=False).vertices
        if inst._up != "z":
            from neural_render.body.axes import to_z_up

            verts = to_z_up(verts).astype(np.float32)
        sims = simulate_garments(inst.body.faces, self.garments, verts, self._skinned(poses, trans), fps,
                                 floor_from=n_lead)
        self._sim = [v[n_lead:] for v in sims]
        self._sim_first = lo

    def posed(self, frames, body_vertices: np.ndarray) -> list[np.ndarray]:
        """(n, G, 3) world vertices per garment for frame indices `frames` (body_vertices (n, V, 3) world)."""
        from neural_render.body import garments as G

        if not self.garments:
            return []
        inst = self.inst
        frames = np.atleast_1d(np.asarray(frames, np.int64))
        if self._sim is not None:
            out = [v[frames - self._sim_first] for v in self._sim]
        else:
            out = self._skinned(inst._poses[frames], inst._trans[frames])
        return G.push_out(body_vertices, inst.body.faces, out)


def build_actor_scene(inst, first_vertices: np.ndarray, floor_z: float, size: int, samples: int,
                      params: dict | None = None, garments: "ActorGarments | None" = None,
                      first_garments: list | None = None):
    """Reset bpy and build the actor scene: textured body, garments, floor, sun, world, camera, render settings.

    Returns (scene, body object, camera object, garment objects)."""
    import bpy

    from neural_render.blender import scene as bscene

    p = params or actor_params()
    sc = p["scene"]
    bscene.reset_headless()
    scene = bpy.context.scene
    ob = bscene.build_mesh_object("actor", first_vertices, inst.faces, inst.face_parts, inst.vt, inst.ft, 1,
                                  scene.collection)
    ob.data.materials.append(_skin_material(p["material"]))
    garment_objs = _garment_objects(scene, garments, first_garments)
    _add_floor(scene, floor_z, sc)
    _add_world_and_sun(scene, sc)
    cam_obj = bscene.ensure_camera(scene, "actor_camera")
    scene.camera = cam_obj
    _set_render_settings(scene, size, samples, sc)
    return scene, ob, cam_obj, garment_objs


def _skin_material(material: dict):
    """The body's material: the actor's image texture through the UV map -> Principled BSDF
    (roughness and specular from actor.json's "material")."""
    import bpy

    from neural_render.blender import scene as bscene

    mat = bpy.data.materials.new("actor_skin_and_clothes")
    nt = bscene.node_tree(mat)
    bsdf = next((n for n in nt.nodes if n.bl_idname == "ShaderNodeBsdfPrincipled"), None) \
        or nt.nodes.new("ShaderNodeBsdfPrincipled")
    out = next(n for n in nt.nodes if n.bl_idname == "ShaderNodeOutputMaterial")
    tex = nt.nodes.new("ShaderNodeTexImage")
    tex.image = bpy.data.images.load(str(_texture_path()), check_existing=True)
    tex.interpolation = "Linear"
    nt.links.new(tex.outputs["Color"], bsdf.inputs["Base Color"])
    bsdf.inputs["Roughness"].default_value = material["roughness"]
    if "Specular IOR Level" in bsdf.inputs:
        bsdf.inputs["Specular IOR Level"].default_value = material["specular_ior_level"]
    nt.links.new(bsdf.outputs["BSDF"], out.inputs["Surface"])
    return mat


def _garment_objects(scene, garments: "ActorGarments | None", first_garments: list | None) -> list:
    """One mesh object per garment at its first-frame vertices, with its fabric or hair material."""
    if garments is None or not garments.garments:
        return []
    from neural_render.blender import garments as BG

    outfit = garments.outfit
    objs = []
    for k, (g, v) in enumerate(zip(garments.garments, first_garments)):
        gob = BG.mesh_object(f"actor_{g.name}_{k}", v, g.faces, g.rest, scene.collection)
        gob.pass_index = 1
        gob.data.materials.append(BG.hair_material(f"actor_{g.name}", outfit["hair_colour"]) if g.label == "hair"
                                  else BG.fabric_material(f"actor_{g.name}", outfit[g.label]["fabric"]))
        objs.append(gob)
    return objs


def _add_floor(scene, floor_z: float, sc: dict) -> None:
    """A large plain plane at height floor_z (the lowest foot position of the clip)."""
    import bpy

    from neural_render.blender import scene as bscene

    half = sc["floor_size_m"] / 2
    fme = bpy.data.meshes.new("floor")
    fme.from_pydata([(-half, -half, floor_z), (half, -half, floor_z), (half, half, floor_z), (-half, half, floor_z)],
                    [], [(0, 1, 2, 3)])
    fob = bpy.data.objects.new("floor", fme)
    scene.collection.objects.link(fob)
    fmat = bpy.data.materials.new("floor")
    bscene.node_tree(fmat)
    fb = next((n for n in fmat.node_tree.nodes if n.bl_idname == "ShaderNodeBsdfPrincipled"), None)
    if fb is None:
        fb = fmat.node_tree.nodes.new("ShaderNodeBsdfPrincipled")
        fo = next(n for n in fmat.node_tree.nodes if n.bl_idname == "ShaderNodeOutputMaterial")
        fmat.node_tree.links.new(fb.outputs["BSDF"], fo.inputs["Surface"])
    fb.inputs["Base Color"].default_value = (*sc["floor_color"], 1.0)
    fb.inputs["Roughness"].default_value = 0.9
    fme.materials.append(fmat)


def _add_world_and_sun(scene, sc: dict) -> None:
    """World fill light plus a sun with soft shadows."""
    import bpy

    from neural_render.blender import scene as bscene

    world = bpy.data.worlds.new("actor_world")
    bscene.node_tree(world)
    bg = next((n for n in world.node_tree.nodes if n.bl_idname == "ShaderNodeBackground"), None)
    if bg is None:
        bg = world.node_tree.nodes.new("ShaderNodeBackground")
        wo = next((n for n in world.node_tree.nodes if n.bl_idname == "ShaderNodeOutputWorld"), None) \
            or world.node_tree.nodes.new("ShaderNodeOutputWorld")
        world.node_tree.links.new(bg.outputs["Background"], wo.inputs["Surface"])
    bg.inputs["Color"].default_value = (*sc["world_color"], 1.0)
    bg.inputs["Strength"].default_value = sc["world_strength"]
    scene.world = world
    sun = bpy.data.lights.new("sun", "SUN")
    sun.energy = sc["sun_strength"]
    sun.angle = math.radians(sc["sun_angle_deg"])
    sob = bpy.data.objects.new("sun", sun)
    sob.rotation_euler = tuple(math.radians(a) for a in sc["sun_rotation_deg"])
    scene.collection.objects.link(sob)


def _set_render_settings(scene, size: int, samples: int, sc: dict) -> None:
    """Cycles (CPU unless $NEURAL_RENDER_CYCLES_DEVICE / --cycles-device says otherwise), fixed
    seed, denoised, Standard view transform, 8-bit RGB PNG of size x size pixels."""
    from neural_render.blender import cycles_device

    r, cy = scene.render, scene.cycles
    r.engine = "CYCLES"
    cycles_device.apply(scene)
    cy.samples = int(samples)
    cy.use_adaptive_sampling = False
    cy.seed = 0
    cy.use_animated_seed = False
    cy.use_denoising = bool(sc["denoise"])
    if hasattr(cy, "denoising_quality"):  # FAST: ~2x quicker, ~43 dB vs a 64-sample render here
        cy.denoising_quality = sc.get("denoising_quality", "HIGH")
    cy.denoising_prefilter = sc.get("denoising_prefilter", "ACCURATE")
    cy.max_bounces = int(sc.get("max_bounces", 4))
    r.film_transparent = False
    r.resolution_x = r.resolution_y = int(size)
    r.resolution_percentage = 100
    if hasattr(r, "use_persistent_data"):
        r.use_persistent_data = True
    scene.view_settings.view_transform = sc["view_transform"]
    scene.view_settings.look = "None"
    scene.view_settings.exposure = 0.0
    scene.view_settings.gamma = 1.0
    ims = r.image_settings
    if hasattr(ims, "media_type"):
        ims.media_type = "IMAGE"
    ims.file_format = "PNG"
    ims.color_mode = "RGB"
    ims.color_depth = "8"
    ims.compression = 15


def render_frames(inst, cameras, frames, out_dir: Path, size: int, samples: int, floor_z: float,
                  progress: bool = True, garments: "ActorGarments | None" = None) -> None:
    """Cycles-render `frames` of the instance with `cameras` into out_dir/frames/NNNNNN.png, then the
    person masks (body + garments + hair, Workbench flat, one sample per pixel centre) into
    out_dir/person_mask/NNNNNN.png."""
    import bpy

    from neural_render.blender import scene as bscene
    from neural_render.passes.spec import frame_filename

    first = inst.posed([frames[0]]).vertices
    first_g = [v[0] for v in garments.posed([frames[0]], first)] if garments is not None else []
    scene, ob, cam_obj, gobs = build_actor_scene(inst, first[0], floor_z, size, samples, garments=garments,
                                                 first_garments=first_g)
    from neural_render.blender.bpy_util import scratch_dir
    from neural_render.fileio import atomic_path

    tmpdir = scratch_dir("nr_actor_", in_ram=False)  # frames can be large: on disk
    dest = out_dir / "frames"
    dest.mkdir(parents=True, exist_ok=True)
    it = frames
    if progress:
        from tqdm import tqdm

        it = tqdm(frames, desc="actor (cycles)", unit="frame")

    def pose_chunks():
        for s in range(0, len(frames), 64):
            chunk = frames[s:s + 64]
            posed = inst.posed(chunk)
            gv = garments.posed(chunk, posed.vertices) if garments is not None else []
            for k, f in enumerate(chunk):
                bscene.set_vertices(ob, posed.vertices[k])
                for gob, v in zip(gobs, gv):
                    bscene.set_vertices(gob, v[k])
                cameras[f].to_blender(cam_obj, scene)
                yield f

    try:
        for f in pose_chunks():
            tmp = os.path.join(tmpdir, "frame.png")
            scene.render.filepath = tmp
            bpy.ops.render.render(write_still=True, scene=scene.name)
            with atomic_path(dest / frame_filename(f)) as final_tmp:  # readers see whole files only
                shutil.move(tmp, final_tmp)
            if progress:
                it.update(1) if hasattr(it, "update") else None
        _person_mask_settings(scene, [ob] + gobs)
        mdest = out_dir / "person_mask"
        mdest.mkdir(parents=True, exist_ok=True)
        for f in pose_chunks():
            tmp = os.path.join(tmpdir, "mask.png")
            scene.render.filepath = tmp
            bpy.ops.render.render(write_still=True, scene=scene.name)
            _alpha_to_mask(tmp, mdest / frame_filename(f))
    finally:
        if progress and hasattr(it, "close"):
            it.close()
        shutil.rmtree(tmpdir, ignore_errors=True)


def _person_mask_settings(scene, person_objs) -> None:
    """Switch the actor scene to exact flat silhouettes: Workbench, no AA, transparent film, floor hidden."""
    for o in scene.objects:
        if o.type == "MESH" and o not in person_objs:
            o.hide_render = True
    r = scene.render
    r.engine = "BLENDER_WORKBENCH"
    r.film_transparent = True
    sh = scene.display.shading
    sh.light = "FLAT"
    sh.color_type = "SINGLE"
    sh.single_color = (1.0, 1.0, 1.0)
    sh.show_object_outline = False
    sh.show_cavity = False
    sh.show_shadows = False
    scene.display.render_aa = "OFF"
    r.image_settings.color_mode = "RGBA"


def _alpha_to_mask(src: str, dest: Path) -> None:
    from neural_render.fileio import read_image, write_image

    img = read_image(src, "unchanged", missing_ok=True)
    if img is None or img.ndim != 3 or img.shape[2] != 4:
        raise RuntimeError(f"Blender wrote no RGBA mask at {src}")
    write_image(dest, ((img[..., 3] > 127) * 255).astype(np.uint8))


def floor_height(inst, frames, chunk: int = 128, garments: "ActorGarments | None" = None) -> float:
    """World z of the floor: the lowest vertex (body or shoe) of the clip (the feet touch it at least once)."""
    lo = np.inf
    for s in range(0, len(frames), chunk):
        verts = inst.posed(frames[s:s + chunk]).vertices
        lo = min(lo, float(verts[..., 2].min()))
        if garments is not None:
            for v in garments.posed(frames[s:s + chunk], verts):
                lo = min(lo, float(v[..., 2].min()))
    return lo


def _add_person_mask_to_legend(path: Path) -> None:
    """State the person_mask folder in the passes' legend.json (written by render_passes)."""
    from neural_render.fileio import write_json

    leg = json.loads(path.read_text())
    leg.setdefault("extra_folders", {})["person_mask"] = (
        "PNG uint8 0/255: the actor including garments and hair (Workbench flat, one sample at each pixel "
        "centre); the `mask` pass is the body alone")
    write_json(path, leg)


def render_actor(motion_path: str, out_dir: str, size: int = 256, frames: str | None = None, samples: int | None = None,
                 test_fraction: float = 0.0, renderer: str = "blender", progress: bool = True,
                 actor_version: int = 2, cloth: bool = False) -> dict:
    """Render the reference actor for a motion: ground-truth frames + all passes (see module doc).

    actor_version 2 wears actor.json's outfit; 1 is the textured body alone (the actor before garments).
    cloth: simulate the skirt with Blender's cloth (`ActorGarments.simulate`) instead of skinning it."""
    from neural_render.body import load_body
    from neural_render.fileio import write_json
    from neural_render.motion.motion import Motion
    from neural_render.passes.cli import parse_frames
    from neural_render.passes.render import resolve_cameras
    from neural_render.renderers import render_passes
    from neural_render.passes.scene import BodyInstance

    if size < 16 or size > 4096:
        raise InputError(f"--size {size} out of range", where="--size", fix="use e.g. 256 or 512")
    if not 0 <= test_fraction < 1:
        raise InputError(f"--split {test_fraction} must be in [0, 1)", where="--split", fix="e.g. --split 0.2")
    if not Path(motion_path).is_file():
        raise InputError("motion file not found", path=str(motion_path),
                         fix="make one with `neural-render motion import SRC --out motion.npz`")
    motion = Motion.load(motion_path)
    samples = int(samples or actor_params()["scene"]["samples"])
    body = load_body()
    # The reference actor is a fixed person (the default body, its own betas), whatever body the
    # motion was made for (e.g. a mocap skeleton's proportions): the motion is put on the actor's
    # shape, root path scaled by leg length.
    from neural_render.motion.retarget import motion_on_shape
    motion = motion_on_shape(motion, body, actor_params().get("betas"))
    inst = BodyInstance.from_motion(body, motion.poses, motion.trans,
                                    motion.betas if motion.betas.size else None, up=motion.up)
    idx = parse_frames(frames, motion.num_frames)
    out = Path(out_dir)
    existed = out.exists()
    try:
        cams = resolve_cameras([inst], "follow", (size, size), fps=motion.fps)
        legend = render_passes([inst], cams, out, (size, size), idx, renderer=renderer, progress=progress,
                               fps=motion.fps)
        params = actor_params()
        garments = ActorGarments(inst, params.get("outfit") if actor_version >= 2 else None)
        if cloth:
            garments.simulate(idx, motion.fps)
        floor_z = floor_height(inst, idx, garments=garments)
        render_frames(inst, cams, idx, out, size, samples, floor_z, progress, garments)
        _add_person_mask_to_legend(out / "legend.json")
        tex_hash = hashlib.sha256(_texture_path().read_bytes()).hexdigest()[:16]
        info = {"motion": str(motion_path), "fps": motion.fps, "frames": [int(i) for i in idx], "size": size,
                "samples": samples, "floor_z": floor_z, "texture_sha256_16": tex_hash, "params": params,
                "passes_renderer": renderer, "numbering": "motion frame index + 1",
                "actor_version": int(actor_version), "cloth": bool(cloth and actor_version >= 2)}
        write_json(out / "actor.json", info)
        if test_fraction > 0:
            nums = [i + 1 for i in idx]
            cut = max(1, int(round(len(nums) * (1 - test_fraction))))
            write_json(out / "split.json", {"train": nums[:cut], "test": nums[cut:]})
    except BaseException:
        if not existed:
            shutil.rmtree(out, ignore_errors=True)
        raise
    return {"frames": len(idx), "out": str(out), "size": size, "passes": legend.get("passes"),
            "floor_z": floor_z}
