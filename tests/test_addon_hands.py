"""The add-on's rig with finger bones: hand poses keyframed headless curl the fingers as the
numpy SMPL-H route does, and SMPL motions deform exactly as before."""

import numpy as np
import pytest

from test_addon_rig import run_bpy

pytest.importorskip("bpy")


def test_rig_has_finger_bones_and_imports_finger_motion():
    out = run_bpy("""
import json, sys
import numpy as np
sys.path.insert(0, "tests")
import bpy
from neural_render.blender import rig
from neural_render.body import load_body
from neural_render.motion import Motion
from neural_render.body.hand_poses import curl

body = load_body()
r = rig.build_body(body, name="Body")
bones = [b.name for b in r.armature.data.bones]
rng = np.random.default_rng(5)
T = 3
poses = rng.normal(0, 0.3, (T, 72))
hands = np.concatenate([curl(0), curl(60), curl(90)]) + rng.normal(0, 0.1, (T, 90))
errs = {}
betas = rng.normal(0, 1.0, 10)  # a shape: the finger bones move with it (set_shape)
for name, hp in (("hands", hands), ("plain", None)):
    m = Motion(poses=poses, trans=rng.normal(0, 0.3, (T, 3)), betas=betas, fps=30, up="z", hand_poses=hp)
    rig.keyframe_motion(r.armature, m, frame_start=1, name=name)
    ref = body.forward(body.smplh_poses(m.poses, hp) if hp is not None else m.poses, m.betas, m.trans)
    e, eh = 0.0, []
    for i in range(T):
        bpy.context.scene.frame_set(1 + i)
        v = rig.evaluated_vertices(r.mesh)
        d = np.linalg.norm(v - ref.vertices[i], axis=1)
        e = max(e, float(d.max()))
        eh.append(float(np.median(d)))
    errs[name] = (e, max(eh))
print(json.dumps({"bones": bones, "errors": errs,
                  "parent": r.armature.data.bones["left_index1"].parent.name,
                  "groups": len(r.mesh.vertex_groups)}))
""", timeout=600)
    assert len(out["bones"]) == 54 and "right_thumb3" in out["bones"] and out["groups"] == 54
    assert out["parent"] == "left_hand"
    # SMPL motions: exactly the 24-joint body, as before the finger bones
    assert out["errors"]["plain"][0] < 1e-3
    # finger motion: the numpy SMPL-H route within ~1.5 cm at the worst vertex (the rig's rest is
    # the relaxed hand, the numpy route's the flat hand re-curled, and the rig's thumb metacarpal
    # skin stays on the wrist bone), the same everywhere else
    assert out["errors"]["hands"][0] < 0.02 and out["errors"]["hands"][1] < 1e-4, out["errors"]


def test_scene_passes_draw_the_rigs_fingers(tmp_path):
    """The add-on's pass render (render_scene_passes) with the 'hands' profile: the whole-body
    skeleton's hand points come from the rig's deformed fingers."""
    out = run_bpy(f"""
import json, sys
import numpy as np
sys.path.insert(0, "tests")
import bpy
from neural_render.blender import rig
from neural_render.blender.render import render_scene_passes
from neural_render.body import load_body
from neural_render.motion import Motion
from neural_render.body.hand_poses import curl

body = load_body()
r = rig.build_body(body, name="Body")
poses = np.zeros((1, 72)); poses[0, 0] = np.pi / 2
m = Motion(poses=poses, trans=np.zeros((1, 3)), fps=30, up="z", hand_poses=curl(80))
rig.keyframe_motion(r.armature, m, frame_start=1)
scene = bpy.context.scene
cam = bpy.data.objects.new("Cam", bpy.data.cameras.new("Cam"))
scene.collection.objects.link(cam)
cam.location = (0.0, -4.0, 1.0)
cam.rotation_euler = (np.pi / 2, 0.0, 0.0)
scene.camera = cam
scene.frame_start = scene.frame_end = 1
scene.render.resolution_x = scene.render.resolution_y = 256
leg = render_scene_passes(scene, [r.mesh], r"{tmp_path}", passes=["skeleton", "mask"], profile="hands", body=body)
kp = np.load(r"{tmp_path}/skeleton/keypoints.npz")
ref = body.forward(body.smplh_poses(m.poses, m.hand_poses), None, m.trans)
wb = body.keypoints(ref.vertices, ref.joints, "wholebody")[0]
err = float(np.abs(kp["wholebody_world"][0, 0, 91:] - wb[91:]).max())
print(json.dumps({{"style": leg["skeleton"]["style"], "err": err,
                  "vis": int((kp["wholebody_visibility"][0, 0, 91:] > 0).sum())}}))
""", timeout=600)
    assert out["style"] == "wholebody" and out["vis"] == 42
    assert out["err"] < 0.02  # the rig's deformed hand vs the numpy SMPL-H route


def test_import_operator_keys_the_fingers(tmp_path):
    """The add-on's import path (addon_api.import_motion, as the operator calls it) on a motion
    file with hand poses: the rig's fingers curl as the numpy SMPL-H route's."""
    out = run_bpy(f"""
import json, sys
import numpy as np
sys.path.insert(0, "tests")
import bpy
from neural_render.blender import addon_api, rig
from neural_render.body import load_body
from neural_render.motion import Motion
from neural_render.body.hand_poses import curl

body = load_body()
r = rig.build_body(body, name="Body")
T = 3
poses = np.zeros((T, 72)); poses[:, 0] = np.pi / 2
m = Motion(poses=poses, trans=np.zeros((T, 3)), fps=30, up="z", hand_poses=np.concatenate([curl(0), curl(45), curl(90)]))
m.save(r"{tmp_path}/hands.npz")
addon_api.import_motion(r.armature, r"{tmp_path}/hands.npz", fps=30)
ref = body.forward(body.smplh_poses(m.poses, m.hand_poses), None, m.trans)
scene = bpy.context.scene
errs, tips = [], []
for i in range(T):
    scene.frame_set(scene.frame_start + i)
    v = rig.evaluated_vertices(r.mesh)
    errs.append(float(np.linalg.norm(v - ref.vertices[i], axis=1).max()))
    tips.append(v[2319].tolist())  # the left index fingertip vertex (smplx's 'lindex')
print(json.dumps({{"errs": errs, "tips": tips}}))
""", timeout=600)
    assert max(out["errs"]) < 0.02
    tips = np.array(out["tips"])
    # 45 deg per joint: the fingertip drops toward the palm side (world z down); 90: a fist, the
    # tip back near the knuckles, well away from where the straight finger ended
    assert tips[1, 2] < tips[0, 2] - 0.03 and np.linalg.norm(tips[2] - tips[0]) > 0.06
