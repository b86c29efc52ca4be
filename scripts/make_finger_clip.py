"""Make a clip with finger motion in Blender (bpy, headless) and export it as BVH and FBX.

A Mixamo-named armature (Hips, Spine..., LeftHandIndex1..3, LeftHandThumb1..3, ...) in an A-pose
(arms 45 deg down) with spread, straight fingers is keyed for `--frames` frames: every finger
joint flexes toward the palm (0 to 80 deg, each finger with its own phase), the thumb curls, the
index and little fingers spread and the wrists bend. Nothing here comes from neural_render: the
clip is an independent source for measuring finger retargeting (scripts/bench_hands.py).

    .venv/bin/python scripts/make_finger_clip.py --out /tmp/fingers   # -> fingers.bvh, fingers.fbx
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import numpy as np

FINGERS = {  # segment lengths (m), spread (deg, about the back-of-hand normal), knuckle offsets (along, forward)
    "Thumb": ((0.040, 0.032, 0.028), 0.0, (0.025, 0.022)),
    "Index": ((0.045, 0.026, 0.020), 8.0, (0.090, 0.026)),
    "Middle": ((0.050, 0.030, 0.022), 0.0, (0.095, 0.008)),
    "Ring": ((0.046, 0.028, 0.020), -6.0, (0.090, -0.010)),
    "Pinky": ((0.036, 0.021, 0.018), -12.0, (0.080, -0.028)),
}
PHASE = {"Thumb": 0.0, "Index": 0.6, "Middle": 1.2, "Ring": 1.8, "Pinky": 2.4}


def _rot(axis, angle):
    axis = np.asarray(axis, float) / np.linalg.norm(axis)
    K = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
    return np.eye(3) + math.sin(angle) * K + (1 - math.cos(angle)) * K @ K


def skeleton() -> dict[str, tuple[str | None, np.ndarray, np.ndarray]]:
    """name -> (parent, head, tail), Blender armature space (Z up, facing -Y, metres)."""
    b: dict[str, tuple[str | None, np.ndarray, np.ndarray]] = {}

    def add(name, parent, head, tail):
        b[name] = (parent, np.asarray(head, float), np.asarray(tail, float))

    add("Hips", None, (0, 0, 1.0), (0, 0, 1.1))
    add("Spine", "Hips", (0, 0, 1.1), (0, 0, 1.22))
    add("Spine1", "Spine", (0, 0, 1.22), (0, 0, 1.34))
    add("Spine2", "Spine1", (0, 0, 1.34), (0, 0, 1.45))
    add("Neck", "Spine2", (0, 0, 1.45), (0, 0, 1.55))
    add("Head", "Neck", (0, 0, 1.55), (0, 0, 1.72))
    fwd = np.array([0.0, -1.0, 0.0])
    for side, s in (("Left", 1.0), ("Right", -1.0)):
        add(f"{side}UpLeg", "Hips", (s * 0.09, 0, 0.95), (s * 0.09, 0, 0.52))
        add(f"{side}Leg", f"{side}UpLeg", (s * 0.09, 0, 0.52), (s * 0.09, 0, 0.08))
        add(f"{side}Foot", f"{side}Leg", (s * 0.09, 0, 0.08), (s * 0.09, -0.12, 0.02))
        add(f"{side}ToeBase", f"{side}Foot", (s * 0.09, -0.12, 0.02), (s * 0.09, -0.18, 0.02))
        add(f"{side}Shoulder", "Spine2", (s * 0.03, 0, 1.45), (s * 0.17, 0, 1.45))
        a = np.array([s * math.cos(math.radians(45)), 0.0, -math.sin(math.radians(45))])  # arm direction
        nb = np.array([s * math.sin(math.radians(45)), 0.0, math.cos(math.radians(45))])  # back of the hand
        sh = np.array([s * 0.17, 0, 1.45])
        el = sh + 0.28 * a
        wr = el + 0.25 * a
        add(f"{side}Arm", f"{side}Shoulder", sh, el)
        add(f"{side}ForeArm", f"{side}Arm", el, wr)
        add(f"{side}Hand", f"{side}ForeArm", wr, wr + 0.09 * a)
        for f, (lengths, spread, (along, ahead)) in FINGERS.items():
            if f == "Thumb":
                d = 0.6 * a + 0.7 * fwd - 0.3 * nb
                start = wr + along * a + ahead * fwd - 0.015 * nb
            else:
                d = _rot(nb, math.radians(s * spread)) @ a
                start = wr + along * a + ahead * fwd
            d /= np.linalg.norm(d)
            p = start
            parent = f"{side}Hand"
            for k, L in enumerate(lengths, start=1):
                add(f"{side}Hand{f}{k}", parent, p, p + L * d)
                parent = f"{side}Hand{f}{k}"
                p = p + L * d
    return b


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True, help="output folder")
    ap.add_argument("--frames", type=int, default=48)
    args = ap.parse_args(argv)
    import bpy
    from mathutils import Matrix, Vector

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    bpy.ops.wm.read_factory_settings(use_empty=True)
    scene = bpy.context.scene
    arm = bpy.data.armatures.new("Armature")
    obj = bpy.data.objects.new("Armature", arm)
    scene.collection.objects.link(obj)
    bpy.context.view_layer.objects.active = obj
    obj.select_set(True)
    bones = skeleton()
    bpy.ops.object.mode_set(mode="EDIT")
    for name, (parent, head, tail) in bones.items():
        eb = arm.edit_bones.new(name)
        eb.head, eb.tail = Vector(head), Vector(tail)
        if parent:
            eb.parent = arm.edit_bones[parent]
            eb.use_connect = False
    bpy.ops.object.mode_set(mode="OBJECT")
    T = args.frames
    scene.frame_start, scene.frame_end = 1, T
    scene.render.fps = 30
    for pb in obj.pose.bones:
        pb.rotation_mode = "QUATERNION"
    for t in range(T):
        u = t / max(T - 1, 1)
        for side, s in (("Left", 1.0), ("Right", -1.0)):
            nb = np.array([s * math.sin(math.radians(45)), 0.0, math.cos(math.radians(45))])
            for name, (parent, head, tail) in bones.items():
                if not name.startswith(f"{side}Hand"):
                    continue
                pb = obj.pose.bones[name]
                d = (tail - head) / np.linalg.norm(tail - head)
                flex_axis = np.cross(nb, d)  # rotating d about it turns it toward the palm
                rest = np.array(arm.bones[name].matrix_local.to_3x3())
                if name == f"{side}Hand":  # the wrist bends a little
                    R = _rot(flex_axis, math.radians(25) * math.sin(2 * math.pi * u))
                else:
                    f = next(k for k in FINGERS if k in name)
                    k = int(name[-1])
                    amp = math.radians(80 if f != "Thumb" else 45)
                    ang = amp * (0.5 - 0.5 * math.cos(2 * math.pi * u * 1.5 + PHASE[f]))
                    R = _rot(flex_axis, ang)
                    if k == 1 and f in ("Index", "Pinky"):  # spread
                        R = _rot(nb, math.radians(s * (10 if f == "Index" else -12)) * math.sin(2 * math.pi * u)) @ R
                local = rest.T @ R @ rest  # world-space rotation about the joint, in the bone's rest frame
                pb.rotation_quaternion = Matrix(local.tolist()).to_quaternion()
                pb.keyframe_insert("rotation_quaternion", frame=t + 1)
        for name in ("Hips",):
            obj.pose.bones[name].location = (0.0, 0.0, 0.02 * math.sin(2 * math.pi * u))
            obj.pose.bones[name].keyframe_insert("location", frame=t + 1)
    bpy.ops.object.mode_set(mode="OBJECT")
    bpy.ops.export_anim.bvh(filepath=str(out / "fingers.bvh"), frame_start=1, frame_end=T, global_scale=1.0)
    bpy.ops.export_scene.fbx(filepath=str(out / "fingers.fbx"), use_selection=True, object_types={"ARMATURE"},
                             add_leaf_bones=True, bake_anim=True, bake_anim_use_all_actions=False,
                             bake_anim_use_nla_strips=False)
    print(f"wrote {out / 'fingers.bvh'} and {out / 'fingers.fbx'} ({T} frames)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
