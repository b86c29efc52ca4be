"""Keypoint input through the add-on's import operator, with torch work in another interpreter.

Slow (the SMPL fit of 100 frames takes minutes on 2 CPU cores): run with `-m slow`.
NEURAL_RENDER_NO_INPROCESS_TORCH makes the operator take the path Blender's own Python takes when
it has no torch: `neural-render motion import` in the configured interpreter, progress streamed.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
pytest.importorskip("bpy")

SCRIPT = r"""
import json, os, sys
sys.path.insert(0, "scripts")
from addon_screenshot import register_addon
import bpy
register_addon()
from neural_render.blender import addon_api, rig
arm = addon_api.add_body().armature
seen = []
action = addon_api.import_motion(arm, sys.argv[1], fmt="openpose", fps=30.0, python=sys.executable,
                                 progress=lambda f, m: seen.append(f))
s = bpy.context.scene
res = {"action": action.name, "frames": action["nr_frames"], "range": [s.frame_start, s.frame_end],
       "progress_calls": len(seen), "last_progress": seen[-1] if seen else None}
import numpy as np
pz, hz = [], []
for f in range(1, 101, 3):
    s.frame_set(f)
    j = rig.posed_joints(arm)
    pz.append(j[0, 2]); hz.append(j[15, 2] - j[0, 2])
res["pelvis_z"] = float(np.median(pz)); res["head_above_pelvis"] = float(np.median(hz))
print(json.dumps(res), flush=True)
if bpy.app.version < (5, 0):  # bpy 4.x modules can die at teardown (see test_addon_smpl.py)
    os._exit(0)
"""


@pytest.mark.slow
def test_openpose_folder_through_the_operator_in_a_torch_subprocess(shared_data):
    src = shared_data / "keypoints" / "pose2sim_balancing_body25b" / "cam01_json"
    env = {**os.environ, "NEURAL_RENDER_NO_INPROCESS_TORCH": "1"}
    r = subprocess.run([sys.executable, "-c", SCRIPT, str(src)], capture_output=True, text=True, cwd=ROOT,
                       env=env, timeout=1800)
    assert r.returncode == 0, r.stderr[-4000:]
    res = json.loads([l for l in r.stdout.splitlines() if l.startswith("{")][-1])
    assert res["action"] == "cam01_json" and res["frames"] == 100 and res["range"] == [1, 100]
    assert res["last_progress"] == 1.0
    # A person upright most of the time (balancing on a beam: some frames lean), Z-up world.
    assert 0.6 < res["pelvis_z"] < 1.6 and res["head_above_pelvis"] > 0.3, res


VIDEO_SCRIPT = r"""
import json, os, sys
sys.path.insert(0, "scripts")
from addon_screenshot import register_addon
import bpy
register_addon()
from neural_render.blender import rig
bpy.ops.neural_render.add_body()
r = bpy.ops.neural_render.motion_from_video(filepath=sys.argv[1], fps=24.0)
arm = next(o for o in bpy.context.scene.objects if o.type == "ARMATURE")
act = arm.animation_data.action
j = rig.posed_joints(arm)
print(json.dumps({"result": sorted(r), "action": act.name, "frames": act["nr_frames"],
                  "head_above_pelvis": float(j[15, 2] - j[0, 2])}), flush=True)
if bpy.app.version < (5, 0):
    os._exit(0)
"""


@pytest.mark.slow
def test_motion_from_video_operator_detects_in_the_job_runner(shared_data, tmp_path):
    """"Motion from Video...": Blender's Python has no mediapipe; the job runner's interpreter detects and fits."""
    import cv2

    img = cv2.imread(str(shared_data / "images" / "pexels-anete-lusina-4793258.jpg"))
    cv2.imwrite(str(tmp_path / "lunge.jpg"), cv2.resize(img, (400, 600), interpolation=cv2.INTER_AREA))
    # NEURAL_RENDER_PYTHON stands in for the add-on preference 'Python with torch'
    env = {**os.environ, "NEURAL_RENDER_NO_INPROCESS_TORCH": "1", "NEURAL_RENDER_PYTHON": sys.executable}
    r = subprocess.run([sys.executable, "-c", VIDEO_SCRIPT, str(tmp_path / "lunge.jpg")], capture_output=True,
                       text=True, cwd=ROOT, env=env, timeout=1800)
    assert r.returncode == 0, r.stderr[-4000:]
    res = json.loads([l for l in r.stdout.splitlines() if l.startswith("{")][-1])
    assert res["result"] == ["FINISHED"] and res["action"] == "lunge" and res["frames"] == 1
    assert res["head_above_pelvis"] > 0.3, res  # upright lunge, Z-up
