"""The rigged body in Blender (neural_render.blender.rig): armature deformation == numpy SMPL LBS.

Each test runs its bpy work in a fresh subprocess (clean bpy state); the script prints one JSON
line with what it measured, and the assertions are made here.
"""

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
pytest.importorskip("bpy")


def run_bpy(script: str, *args, env=None, timeout=300) -> dict:
    """Run `script` in a fresh Python with bpy; returns the JSON object it prints last."""
    full_env = {**os.environ, **(env or {})}
    r = subprocess.run([sys.executable, "-c", textwrap.dedent(script), *map(str, args)], capture_output=True,
                       text=True, cwd=ROOT, env=full_env, timeout=timeout)
    assert r.returncode == 0, f"bpy script failed:\n{r.stdout[-3000:]}\n{r.stderr[-5000:]}"
    lines = [l for l in r.stdout.splitlines() if l.startswith("{")]
    assert lines, r.stdout[-2000:]
    return json.loads(lines[-1])


SYNTHETIC = """
import json, sys
import numpy as np
sys.path.insert(0, "tests")
from conftest import synthetic_smpl_arrays
from neural_render.body import body_from_arrays

def synthetic_body(seed=1, V=1500):
    d = synthetic_smpl_arrays(seed, V)
    f = d["f"].astype(np.int64)
    d["f"] = f[(f[:, 0] != f[:, 1]) & (f[:, 1] != f[:, 2]) & (f[:, 0] != f[:, 2])]
    return body_from_arrays(d, "synthetic.npz")
"""


def test_armature_matches_numpy_lbs_with_shape_and_correctives():
    out = run_bpy(SYNTHETIC + """
import bpy
from neural_render.blender import rig
from neural_render.body.axes import Y_UP_TO_Z_UP as C
from neural_render.motion import Motion

body = synthetic_body()
r = rig.build_body(body, name="Body")
rng = np.random.default_rng(3)
res = {"bones": [b.name for b in r.armature.data.bones],
       "parents": [b.parent.name if b.parent else None for b in r.armature.data.bones],
       "groups": [g.name for g in r.mesh.vertex_groups],
       "keys": [k.name for k in r.mesh.data.shape_keys.key_blocks]}
errs = {}
for up in ("z", "y"):
    T = 6
    m = Motion(poses=rng.normal(0, 0.5, (T, 72)), trans=rng.normal(0, 0.5, (T, 3)),
               betas=rng.normal(0, 1.0, 10), fps=30, up=up)
    act = rig.keyframe_motion(r.armature, m, frame_start=10, name=f"clip_{up}")
    ref = body.forward(m.poses, m.betas, m.trans, keypoints=False)
    e_v, e_j = 0.0, 0.0
    for i in range(T):
        bpy.context.scene.frame_set(10 + i)
        v = rig.evaluated_vertices(r.mesh)
        rv, rj = ref.vertices[i].astype(np.float64), ref.joints[i].astype(np.float64)
        if up == "y":
            rv, rj = rv @ C.T, rj @ C.T
        e_v = max(e_v, float(np.abs(v - rv).max()))
        e_j = max(e_j, float(np.abs(rig.posed_joints(r.armature) - rj).max()))
    errs[up] = (e_v, e_j)
res["errors"] = errs
res["actions"] = sorted(a.name for a in bpy.data.actions)
res["active_action"] = r.armature.animation_data.action.name
res["frame_range"] = [bpy.context.scene.frame_start, bpy.context.scene.frame_end]
# Shape change regenerates joints: rest heads == body.rest_joints(betas) in Blender's frame.
b = rng.normal(0, 1.5, 10)
rig.set_shape(r.armature, b)
heads = np.array([np.array(r.armature.data.bones[n].head_local) for n in rig.SMPL_JOINT_NAMES])
res["rest_joint_err"] = float(np.abs(heads - body.rest_joints(b) @ C.T).max())
res["shape_values"] = [r.mesh.data.shape_keys.key_blocks[f"shape_{k:03d}"].value for k in range(10)]
res["betas"] = list(b)
print(json.dumps(res))
""")
    from neural_render.body.skeletons import SMPL_JOINT_NAMES, SMPL_PARENTS

    parents = dict(zip(out["bones"], out["parents"]))
    assert sorted(parents) == sorted(SMPL_JOINT_NAMES)
    assert parents == {n: (SMPL_JOINT_NAMES[p] if p >= 0 else None) for n, p in zip(SMPL_JOINT_NAMES, SMPL_PARENTS)}
    assert out["groups"] == list(SMPL_JOINT_NAMES)
    assert out["keys"][:11] == ["Basis"] + [f"shape_{k:03d}" for k in range(10)]
    assert len([k for k in out["keys"] if k.startswith("pose_")]) == 207  # the model has correctives
    for up, (ev, ej) in out["errors"].items():
        assert ev < 1e-4, (up, ev)   # well under the 1 mm requirement (float32 in Blender)
        assert ej < 1e-4, (up, ej)
    assert "clip_z" in out["actions"] and "clip_y" in out["actions"]  # one action per import
    assert out["active_action"] == "clip_y"
    assert out["frame_range"] == [10, 15]
    assert out["rest_joint_err"] < 1e-5
    np.testing.assert_allclose(out["shape_values"], out["betas"], atol=1e-6)


def test_shape_change_after_import_keeps_rotations_valid():
    """Bone rest orientations don't change with shape, so the keyed pose still matches LBS."""
    out = run_bpy(SYNTHETIC + """
import bpy
from neural_render.blender import rig
from neural_render.motion import Motion
body = synthetic_body(seed=4)
body.posedirs = None  # no correctives: the reference LBS must not use them either
r = rig.build_body(body, name="Body")
rng = np.random.default_rng(5)
m = Motion(poses=rng.normal(0, 0.4, (3, 72)), trans=np.zeros((3, 3)), betas=np.zeros(10), fps=30)
rot0 = rig.rest_rotations(r.armature)
rig.keyframe_motion(r.armature, m, frame_start=1)
b = rng.normal(0, 1.0, 10)
rig.set_shape(r.armature, b)
rot1 = rig.rest_rotations(r.armature)
bpy.context.scene.frame_set(2)
v = rig.evaluated_vertices(r.mesh)
ref = body.forward(m.poses[1:2], b, m.trans[1:2], keypoints=False).vertices[0]
# Only the root translation is relative to the old rest pelvis: compare with the root offset removed.
off = (v - ref).mean(0)
print(json.dumps({"rot_change": float(np.abs(rot1 - rot0).max()), "err": float(np.abs(v - ref - off).max()),
                  "offset": float(np.linalg.norm(off))}))
""")
    assert out["rot_change"] < 1e-4  # float32 head/tail/roll round trip
    assert out["err"] < 1e-4
    assert out["offset"] < 0.2


def test_numpy_channel_math_without_blender():
    """motion_to_bone_channels with identity bone frames gives the SMPL locals in the Z-up frame."""
    from neural_render.blender import rig
    from neural_render.motion.rotations import rodrigues

    rng = np.random.default_rng(0)
    poses = rng.normal(0, 0.7, (4, 72))
    q, loc = rig.motion_to_bone_channels(poses, np.zeros((4, 3)), "y", np.tile(np.eye(3), (24, 1, 1)), np.zeros(3))
    w, x, y, z = np.moveaxis(q, -1, 0)
    R = np.stack([1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w),
                  2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w),
                  2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)], -1).reshape(4, 24, 3, 3)
    C = rig.C
    np.testing.assert_allclose(R, C @ rodrigues(poses.reshape(4, 24, 3)) @ C.T, atol=1e-9)
    assert np.all(np.sum(q[1:] * q[:-1], -1) >= 0)  # continuous signs
    np.testing.assert_allclose(loc, 0, atol=1e-12)
