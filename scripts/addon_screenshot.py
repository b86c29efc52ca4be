"""Make docs/addon_scene.png: a headless picture of what the add-on builds (no viewport needed).

Left: an overview render (Workbench) of the scene the add-on's operators make: the rigged default
body walking (CMU 131_01, retargeted), its bones drawn as sticks, and the scene camera's frustum.
Right: the contact sheet of the guidance passes the add-on's render_passes operator wrote from that
camera for a few frames.

    .venv/bin/python scripts/addon_screenshot.py [--out docs/addon_scene.png] [--bvh FILE]

Runs the operators through the add-on registered from blender_addon/ (same code as the extension).
Takes ~1 minute on 2 CPU cores.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def register_addon():
    """Register blender_addon/ as a package (as Blender would after installing the extension)."""
    spec = importlib.util.spec_from_file_location("neural_render_addon", ROOT / "blender_addon" / "__init__.py",
                                                  submodule_search_locations=[str(ROOT / "blender_addon")])
    mod = importlib.util.module_from_spec(spec)
    sys.modules["neural_render_addon"] = mod
    spec.loader.exec_module(mod)
    mod.register()
    return mod


def stick_mesh(name: str, segments: list[tuple[np.ndarray, np.ndarray]], radius: float):
    """A mesh of thin square tubes along `segments` (for showing bones and frustum edges in a render)."""
    import bpy

    verts, faces = [], []
    for a, b in segments:
        a, b = np.asarray(a, float), np.asarray(b, float)
        d = b - a
        n = np.linalg.norm(d)
        if n < 1e-6:
            continue
        d /= n
        u = np.cross(d, [0, 0, 1.0] if abs(d[2]) < 0.9 else [1.0, 0, 0])
        u /= np.linalg.norm(u)
        w = np.cross(d, u)
        base = len(verts)
        for p in (a, b):
            for s in ((1, 1), (-1, 1), (-1, -1), (1, -1)):
                verts.append(p + radius * (s[0] * u + s[1] * w))
        for k in range(4):
            k2 = (k + 1) % 4
            faces.append((base + k, base + k2, base + 4 + k2, base + 4 + k))
    me = bpy.data.meshes.new(name)
    me.from_pydata([tuple(v) for v in verts], [], faces)
    ob = bpy.data.objects.new(name, me)
    bpy.context.scene.collection.objects.link(ob)
    return ob


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(ROOT / "docs" / "addon_scene.png"))
    ap.add_argument("--bvh", default=str(ROOT.parent / "shared" / "data" / "mocap" / "cmu_131_01_walk.bvh"))
    ap.add_argument("--frame", type=int, default=60)
    args = ap.parse_args(argv)

    import bpy
    import cv2

    from neural_render.blender import rig
    from neural_render.fileio import write_image
    from neural_render.passes.contact_sheet import contact_sheet

    register_addon()
    scene = bpy.context.scene
    for ob in list(scene.objects):
        if ob.type == "MESH":
            bpy.data.objects.remove(ob)
    bpy.ops.neural_render.add_body()
    arm = bpy.context.view_layer.objects.active
    bpy.ops.neural_render.import_motion(filepath=args.bvh, fps=30.0)
    f = args.frame
    scene.frame_set(f)

    # The scene camera: in front of the walker, framing the whole clip section we render.
    from neural_render.blender.addon_api import add_camera_for_body

    for ob in [o for o in scene.objects if o.type == "CAMERA"]:
        bpy.data.objects.remove(ob)
    cam = add_camera_for_body(scene, arm, size=256, distance=3.6)
    scene.frame_start, scene.frame_end = f, f + 30

    tmp = Path(tempfile.mkdtemp(prefix="nr_shot_"))
    passes_dir = tmp / "passes"
    bpy.ops.neural_render.render_passes(output_dir=str(passes_dir), size=256)
    import json

    legend = json.loads((passes_dir / "legend.json").read_text())
    # A sheet of 3 frames (every 15th) for the picture.
    sub = {**legend, "frames": legend["frames"][::15][:3]}
    sheet_path = contact_sheet(passes_dir, sub, max_frames=3, tile=200)

    # Overview: bones as sticks, the camera frustum, seen from a 3/4 view.
    scene.frame_set(f + 15)
    joints = rig.posed_joints(arm)
    bones = [(joints[rig.SMPL_PARENTS[j]], joints[j]) for j in range(1, 24)]
    sticks = stick_mesh("bones", bones, 0.012)
    M = np.array(cam.matrix_world)
    corners = [M[:3, :3] @ np.array(c) + M[:3, 3] for c in cam.data.view_frame(scene=scene)]
    apex = M[:3, 3]
    frustum = [(apex, c) for c in corners] + [(corners[i], corners[(i + 1) % 4]) for i in range(4)]
    fr = stick_mesh("camera_frustum", frustum, 0.01)
    mesh = rig.find_mesh(arm)
    mesh.color = (0.82, 0.80, 0.76, 1.0)
    sticks.color = (0.95, 0.45, 0.1, 1.0)
    fr.color = (0.15, 0.35, 0.8, 1.0)
    sticks.show_in_front = True
    view_data = bpy.data.cameras.new("overview")
    view = bpy.data.objects.new("overview", view_data)
    scene.collection.objects.link(view)
    target = 0.5 * (joints[0] + apex)
    target[2] = 0.9
    eye = target + np.array([4.5, -3.0, 2.2])
    d = target - eye
    d /= np.linalg.norm(d)
    from mathutils import Vector

    view.location = Vector(eye.tolist())
    view.rotation_euler = Vector(d.tolist()).to_track_quat("-Z", "Y").to_euler()
    view_data.lens = 35
    mesh_hide = mesh.hide_render
    scene.camera = view
    scene.render.engine = "BLENDER_WORKBENCH"
    scene.display.shading.light = "STUDIO"
    scene.display.shading.color_type = "OBJECT"
    scene.display.shading.show_shadows = True
    scene.display.shading.show_cavity = True
    scene.render.resolution_x, scene.render.resolution_y = 600, 600
    scene.render.film_transparent = False
    scene.render.filepath = str(tmp / "overview.png")
    # A floor so the walker stands somewhere.
    bpy.ops.mesh.primitive_plane_add(size=30, location=(float(target[0]), float(target[1]), 0.0))
    bpy.context.active_object.color = (0.55, 0.57, 0.6, 1.0)
    bpy.ops.render.render(write_still=True)
    mesh.hide_render = mesh_hide

    over = cv2.imread(str(tmp / "overview.png"))
    sheet = cv2.imread(str(sheet_path))
    H = max(over.shape[0], sheet.shape[0])
    def fit(img):
        s = H / img.shape[0]
        return cv2.resize(img, (int(round(img.shape[1] * s)), H), interpolation=cv2.INTER_AREA)
    over, sheet = fit(over), fit(sheet)
    bar = 34
    canvas = np.full((H + bar, over.shape[1] + sheet.shape[1] + 10, 3), 255, np.uint8)
    canvas[bar:, :over.shape[1]] = over
    canvas[bar:, over.shape[1] + 10:] = sheet
    cv2.putText(canvas, "scene: rigged body (bones), camera frustum", (8, 24), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (0, 0, 0), 1, cv2.LINE_AA)
    cv2.putText(canvas, "passes from the scene camera (render_passes operator)", (over.shape[1] + 18, 24),
                cv2.FONT_HERSHEY_SIMPLEX, 0.6, (0, 0, 0), 1, cv2.LINE_AA)
    write_image(args.out, canvas[..., ::-1])
    print(args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
