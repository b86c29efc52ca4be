"""The add-on path: render the current Blender scene's frame range with its camera and an
armature-deformed body object (the depsgraph's evaluated mesh is what gets rendered)."""

import json

import cv2
import numpy as np
import pytest

pytest.importorskip("bpy")


def _scene_with_deformed_body(body):
    import bpy

    from neural_render.blender import scene as bscene
    from neural_render.body.axes import to_z_up
    from neural_render.camera import Camera

    bscene.reset_headless()
    scene = bpy.context.scene
    scene.render.engine = "BLENDER_EEVEE"
    verts = to_z_up(body.v_template) + [0, 0, 1.0]
    # a plain mesh (as the rig builder makes one) without our part attribute: it must be added
    me = bpy.data.meshes.new("body")
    me.from_pydata(verts.tolist(), [], body.faces.tolist())
    ob = bpy.data.objects.new("body", me)
    scene.collection.objects.link(ob)
    arm = bpy.data.armatures.new("rig")
    arm_ob = bpy.data.objects.new("rig", arm)
    scene.collection.objects.link(arm_ob)
    bpy.context.view_layer.objects.active = arm_ob
    bpy.ops.object.mode_set(mode="EDIT")
    eb = arm.edit_bones.new("root")
    eb.head, eb.tail = (0, 0, 0), (0, 0, 1)
    bpy.ops.object.mode_set(mode="OBJECT")
    vg = ob.vertex_groups.new(name="root")
    vg.add(list(range(len(verts))), 1.0, "REPLACE")
    mod = ob.modifiers.new("arm", "ARMATURE")
    mod.object = arm_ob
    pb = arm_ob.pose.bones["root"]
    pb.location = (0, 0, 0)
    pb.keyframe_insert("location", frame=1)
    pb.location = (0.3, 0, 0)  # bone x = world x for a bone pointing up +z
    pb.keyframe_insert("location", frame=2)
    floor = bpy.data.objects.new("floor", bpy.data.meshes.new("floor"))
    floor.data.from_pydata([[-3, -3, 0], [3, -3, 0], [3, 3, 0], [-3, 3, 0]], [], [[0, 1, 2, 3]])
    scene.collection.objects.link(floor)
    cam_ob = bpy.data.objects.new("cam", bpy.data.cameras.new("cam"))
    scene.collection.objects.link(cam_ob)
    scene.camera = cam_ob
    Camera.look_at([0.15, -4.5, 1.0], [0.15, 0, 1.0], 240, 320).to_blender(cam_ob, scene)
    scene.render.engine = "BLENDER_EEVEE"
    scene.render.resolution_percentage = 50  # the user's preview setting: the camera's own size is twice this
    scene.frame_start, scene.frame_end = 1, 2
    return scene, ob, floor


def test_render_scene_passes_uses_deformed_mesh(tmp_path):
    from neural_render.blender.render import render_scene_passes
    from neural_render.body import load_body
    from neural_render.camera import Camera

    body = load_body()
    scene, ob, floor = _scene_with_deformed_body(body)
    leg = render_scene_passes(scene, [ob], tmp_path, body=body)
    assert leg["resolution"] == {"width": 120, "height": 160}
    assert [f["file"] for f in leg["frames"]] == ["000001", "000002"]  # Blender frame numbers
    assert "Blender frame number" in leg["frame_numbering"]
    cam = Camera.from_dict({**leg["frames"][0], "width": 120, "height": 160})
    m1 = cv2.imread(str(tmp_path / "mask" / "000001.png"), -1) > 0
    m2 = cv2.imread(str(tmp_path / "mask" / "000002.png"), -1) > 0
    assert m1.sum() > 500 and m2.sum() > 500
    # the armature moved the body 0.3 m along world x: the silhouette moves by the projected shift
    depth = cv2.imread(str(tmp_path / "depth" / "000001.png"), -1)
    z = float(np.median(np.asarray([cam.to_camera(np.array([0.0, 0, 1.0]))[2]])))
    expected_px = cam.K[0, 0] * 0.3 / z
    shift = np.nonzero(m2)[1].mean() - np.nonzero(m1)[1].mean()
    assert abs(shift - expected_px) < 0.06 * expected_px
    kp = np.load(tmp_path / "skeleton" / "keypoints.npz")
    d = kp["world"][1, 0] - kp["world"][0, 0]
    np.testing.assert_allclose(d[:, 0], 0.3, atol=1e-3)
    np.testing.assert_allclose(d[:, 1:], 0.0, atol=1e-3)
    parts = cv2.imread(str(tmp_path / "parts" / "000001.png"), -1)
    assert set(np.unique(parts[m1])) <= set(range(1, 25)) and len(np.unique(parts[m1])) >= 15
    assert depth[~m1].max() == 0  # the floor was hidden: background stays empty
    # the user's scene is left as it was
    assert scene.render.engine == "BLENDER_EEVEE"
    assert (scene.render.resolution_x, scene.render.resolution_y, scene.render.resolution_percentage) == (240, 320, 50)
    assert not floor.hide_render and ob.pass_index == 0 and scene.frame_current == 1
    assert json.loads((tmp_path / "legend.json").read_text())["renderer"] == "blender-scene"
