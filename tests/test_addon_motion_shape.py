"""The add-on's motion import and the body's shape, headless through the registered add-on.

- "Match source proportions" off (the default): a CMU BVH leaves the body's shape as built (betas,
  shape keys, bone heads); on: the body takes the source skeleton's bone lengths, measured here
  against the BVH's own rest offsets (ratios to leg length, so no unit is involved).
- A body that keeps its own shape (a height other than the motion's shape) walks on the floor:
  the motion's root path is rescaled by leg length before keyframing.

Each test runs its bpy work in a fresh subprocess; the script prints one JSON line.
"""

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
pytest.importorskip("bpy")

HEAD = r"""
import json, os, sys
import numpy as np
sys.path.insert(0, "scripts")
from addon_screenshot import register_addon
import bpy
register_addon()
from neural_render.blender import rig, addon_api
bvh = sys.argv[1]
scene = bpy.context.scene
bpy.ops.neural_render.add_body()
arm = bpy.context.view_layer.objects.active
mesh = rig.find_mesh(arm)
res = {}

def exit_cleanly():
    # bpy 4.x modules can die at interpreter teardown (see test_addon_smpl.py); results are printed.
    if bpy.app.version < (5, 0):
        os._exit(0)

def heads():
    return {n: np.array(arm.data.bones[n].head_local, float) for n in rig.SMPL_JOINT_NAMES}

def shape_keys():
    return [k.value for k in mesh.data.shape_keys.key_blocks if k.name.startswith("shape_")]
"""


def run_bpy(body: str, *args) -> dict:
    r = subprocess.run([sys.executable, "-c", HEAD + textwrap.dedent(body), *map(str, args)],
                       capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert r.returncode == 0, f"{r.stdout[-3000:]}\n{r.stderr[-5000:]}"
    lines = [line for line in r.stdout.splitlines() if line.startswith("{")]
    assert lines, r.stdout[-2000:]
    return json.loads(lines[-1])


@pytest.fixture
def walk(shared_data):
    if not (ROOT / "smpl_assets" / "default_body.npz").exists():
        pytest.skip("default body not built yet")
    return shared_data / "mocap" / "cmu_131_01_walk.bvh"


# SMPL joint pairs and the CMU BVH joints at the same places (both ends mapped, one segment apart,
# so their distance does not depend on either rest pose).
SEGMENTS = {("left_hip", "left_knee"): ("LeftHip", "LeftKnee"),
            ("left_knee", "left_ankle"): ("LeftKnee", "LeftAnkle"),
            ("left_hip", "right_hip"): ("LeftHip", "RightHip"),
            ("left_shoulder", "left_elbow"): ("LeftShoulder", "LeftElbow"),
            ("left_elbow", "left_wrist"): ("LeftElbow", "LeftWrist"),
            ("pelvis", "head"): ("Hips", "Head")}


def _ratios(pos: dict, names: dict) -> dict:
    """Segment lengths / left leg length (hip -> knee -> ankle)."""
    p = {k: np.asarray(v, float) for k, v in pos.items()}
    hip, knee, ankle = names["hip"], names["knee"], names["ankle"]
    leg = np.linalg.norm(p[hip] - p[knee]) + np.linalg.norm(p[knee] - p[ankle])
    return {pair: float(np.linalg.norm(p[pair[0]] - p[pair[1]]) / leg) for pair in names["pairs"]}


def test_default_import_keeps_the_body_and_match_follows_the_source(walk):
    res = run_bpy("""
        rest0 = heads()
        res["default"] = list(bpy.ops.neural_render.import_motion(filepath=bvh, fps=30.0))
        res["betas_default"] = rig.get_betas(arm).tolist()
        res["keys_default"] = shape_keys()
        res["heads_moved_default"] = max(float(np.abs(heads()[n] - rest0[n]).max()) for n in rest0)
        scene.neural_render.match_proportions = True   # the panel's scene setting
        res["match"] = list(bpy.ops.neural_render.import_motion(filepath=bvh, fps=30.0))
        res["betas_match"] = rig.get_betas(arm).tolist()
        res["keys_match"] = shape_keys()
        res["heads_match"] = {n: v.tolist() for n, v in heads().items()}
        from neural_render.motion.importers import import_motion
        res["betas_importer"] = import_motion(bvh, fps=30.0, shape="source")[0].betas.tolist()
        from neural_render.motion.bvh import read_bvh
        from neural_render.motion.source_skeleton import clip_from_bvh
        sk = clip_from_bvh(read_bvh(bvh)).skeleton
        res["source_rest"] = {n: sk.rest_positions[i].tolist() for i, n in enumerate(sk.names)}
        print(json.dumps(res), flush=True)
        exit_cleanly()
        """, walk)
    assert res["default"] == ["FINISHED"] and res["match"] == ["FINISHED"]
    # Off: the body as built (every shape and proportion component 0, joints where they were).
    assert np.all(np.asarray(res["betas_default"]) == 0)
    assert np.all(np.asarray(res["keys_default"]) == 0)
    assert res["heads_moved_default"] < 1e-6
    # On: the body's shape is the source-fitted one, and its rest skeleton has the BVH's proportions.
    b = np.asarray(res["betas_match"])
    fitted = np.asarray(res["betas_importer"])
    np.testing.assert_allclose(b[:fitted.size], fitted, atol=1e-5)
    assert np.abs(fitted).max() > 0.5                       # a real reshape, not a no-op
    np.testing.assert_allclose(res["keys_match"][:fitted.size], fitted, atol=1e-5)
    body = _ratios(res["heads_match"], {"hip": "left_hip", "knee": "left_knee", "ankle": "left_ankle",
                                        "pairs": list(SEGMENTS)})
    src = _ratios(res["source_rest"], {"hip": "LeftHip", "knee": "LeftKnee", "ankle": "LeftAnkle",
                                       "pairs": list(SEGMENTS.values())})
    for smpl_pair, src_pair in SEGMENTS.items():
        # 4%: CMU's left and right arms differ by up to 1.4 cm and the components are symmetric.
        assert body[smpl_pair] == pytest.approx(src[src_pair], rel=0.04), (smpl_pair, body[smpl_pair], src[src_pair])


def test_body_with_its_own_height_keeps_the_floor(walk):
    """With "Use motion's shape" off the body keeps its betas; the clip's lowest mesh point stays on
    the floor (z = 0) for bodies shorter and taller than the motion's shape (without the root-path
    rescale they float ~6 cm / sink ~10 cm)."""
    res = run_bpy("""
        def lowest(step=2):
            z = []
            for f in range(scene.frame_start, scene.frame_end + 1, step):
                scene.frame_set(f)
                z.append(float(rig.evaluated_vertices(mesh)[:, 2].min()))
            return min(z)

        # Reference: the body with the motion's own (source-fitted) shape.
        bpy.ops.neural_render.import_motion(filepath=bvh, fps=30.0, match_proportions=True)
        res["own_shape"] = lowest()
        rig.set_shape(arm, np.zeros(len(rig.get_betas(arm))))
        for h in (1.50, 1.95):
            betas = addon_api.set_height_weight(arm, height=h)
            for match in (True, False):
                st = bpy.ops.neural_render.import_motion(filepath=bvh, fps=30.0, apply_shape=False,
                                                         match_proportions=match)
                assert st == {"FINISHED"}
                res[f"{h}_{match}"] = lowest()
                res[f"{h}_{match}_kept"] = bool(np.allclose(rig.get_betas(arm), betas))
        print(json.dumps(res), flush=True)
        exit_cleanly()
        """, walk)
    assert abs(res["own_shape"]) < 0.03, res
    for h in (1.50, 1.95):
        for match in (True, False):
            assert res[f"{h}_{match}_kept"], (h, match)
            assert abs(res[f"{h}_{match}"]) < 0.03, (h, match, res)
