"""FBX through Blender's importer: the shared CMU dance clip, BVH vs FBX of the same walk, bad files."""

import subprocess
import sys
import textwrap

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from motion_testutil import make_body, humanoid_arrays
from neural_render.errors import InputError

bpy = pytest.importorskip("bpy")

from neural_render.motion.bone_maps import auto_map  # noqa: E402
from neural_render.motion.fbx import read_fbx  # noqa: E402
from neural_render.motion.importers import import_motion  # noqa: E402
from neural_render.motion.retarget import evaluate, retarget  # noqa: E402
from cli_run import run_cli


def test_shared_fbx_dance(shared_data):
    before = {o.name for o in bpy.data.objects}, len(bpy.data.actions)
    clip = read_fbx(shared_data / "mocap" / "cmu_55_01_dance_whirl.fbx")
    assert ({o.name for o in bpy.data.objects}, len(bpy.data.actions)) == before  # scene left as it was
    assert clip.num_frames == 1807 and clip.fps == 120.0
    mapping, name, warnings = auto_map(clip.skeleton)
    assert name == "cmu" and len(mapping) == 24
    body = make_body()
    res = retarget(clip, body, mapping)
    assert res.unit == "cmu" and res.up_axis == "+z"
    ev = evaluate(clip, res, body)
    assert ev["mpjpe_m"] <= 0.03 and ev["bone_dir_median_deg"] <= 5.0


CONVERT = textwrap.dedent("""
    import sys, bpy
    bpy.ops.wm.read_factory_settings(use_empty=True)
    bpy.ops.import_anim.bvh(filepath=sys.argv[1], update_scene_fps=True, update_scene_duration=True)
    bpy.ops.export_scene.fbx(filepath=sys.argv[2], object_types={"ARMATURE"}, bake_anim=True,
                             add_leaf_bones=False, bake_anim_use_all_actions=False,
                             bake_anim_use_nla_strips=False, bake_anim_simplify_factor=0.0)
""")


@pytest.fixture(scope="module")
def walk_fbx(shared_data, tmp_path_factory):
    """The shared walk BVH converted to FBX by Blender's own BVH importer and FBX exporter."""
    bvh = shared_data / "mocap" / "cmu_131_01_walk.bvh"
    fbx = tmp_path_factory.mktemp("fbx") / "walk.fbx"
    r = subprocess.run([sys.executable, "-c", CONVERT, str(bvh), str(fbx)], capture_output=True, text=True)
    assert r.returncode == 0 and fbx.exists(), r.stderr[-2000:]
    return bvh, fbx


@pytest.mark.parametrize("swing_fix,shape", [(False, "body"), (True, "body"), (False, "source")])
def test_bvh_and_fbx_give_the_same_motion(walk_fbx, swing_fix, shape):
    bvh, fbx = walk_fbx
    body = make_body()
    mb, rb = import_motion(bvh, body=body, swing_fix=swing_fix, shape=shape)
    mf, rf = import_motion(fbx, body=body, swing_fix=swing_fix, shape=shape)
    if shape == "source":  # both fit the same skeleton: nearly the same body (rest joints 4.8 mm apart)
        np.testing.assert_allclose(body.rest_joints(mf.betas), body.rest_joints(mb.betas), atol=0.01)
    assert rf["format"] == "fbx" and rf["retarget"]["source_up"] == "+z" and rb["retarget"]["source_up"] == "+y"
    assert rf["fps"] == rb["fps"] == 120.0
    n = mb.num_frames
    assert mf.num_frames in (n, n + 1)  # Blender's export may add the frame before the first key
    err = np.linalg.norm(mf.joints(body)[:n] - mb.joints(body), axis=-1)
    assert err.mean() <= 0.02, err.mean()


def test_bad_fbx_files(tmp_path):
    empty = tmp_path / "e.fbx"
    empty.write_bytes(b"")
    with pytest.raises(InputError, match="empty"):
        read_fbx(empty)
    garbage = tmp_path / "g.fbx"
    garbage.write_bytes(b"Kaydara FBX Binary  \x00" + bytes(range(256)) * 4)
    with pytest.raises(InputError, match="g.fbx"):
        read_fbx(garbage)


def test_cli_bad_fbx_exit_2(tmp_path):
    bad = tmp_path / "bad.fbx"
    bad.write_bytes(b"; FBX 7.4.0 project file\nnot really\n")
    body = tmp_path / "body.npz"
    np.savez(body, **humanoid_arrays())
    out = tmp_path / "m.npz"
    r = run_cli(["motion", "import", str(bad), "--out", str(out), "--body", str(body)])
    assert r.returncode == 2, r.stderr[-2000:]
    assert "bad.fbx" in r.stderr.strip().splitlines()[-1]
    assert not out.exists()


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(cut=st.floats(0.0, 0.98), flip=st.integers(0, 10**6))
def test_fuzz_truncated_or_corrupted_fbx(shared_data, tmp_path, cut, flip):
    data = bytearray((shared_data / "mocap" / "cmu_55_01_dance_whirl.fbx").read_bytes())
    data = data[: max(1, int(len(data) * cut))] if cut > 0.05 else data
    if cut <= 0.05:
        i = 27 + flip % (len(data) - 27)
        data[i:i + 64] = bytes(64)
    p = tmp_path / "f.fbx"
    p.write_bytes(bytes(data))
    try:
        clip = read_fbx(p)
    except InputError:
        return
    assert np.all(np.isfinite(clip.positions))
