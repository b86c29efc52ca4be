"""Animate a photo: UV atlas, lifting a photo to UV and back, placing a motion, the command."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from neural_render.passes import raster
from cli_run import run_cli

needs_raster = pytest.mark.skipif(not raster.available()[0], reason=f"raster renderer: {raster.available()[1]}")


@pytest.fixture(scope="module")
def body():
    from neural_render.body import load_body

    return load_body()


def _checker(A) -> np.ndarray:
    """A texture whose colour is a smooth function of the rest-pose surface point (test pattern)."""
    r = A.rest
    rgb = np.stack([128 + 100 * np.sin(6 * r[..., 0]), 128 + 100 * np.sin(5 * r[..., 1]),
                    128 + 100 * np.cos(7 * r[..., 2])], -1).astype(np.float32)
    rgb[~A.valid] = 0
    return rgb


def test_atlas_texels_lie_on_the_body_and_mirror_is_an_involution(body):
    from neural_render.generator.uv_atlas import atlas

    A = atlas(body, 128)
    assert 0.4 < A.valid.mean() < 0.95
    b = A.bary[A.valid]
    assert np.allclose(b.sum(1), 1, atol=1e-5) and (b >= 0).all()
    # Texel rest points = barycentric blends of the rest vertices (an independent recomputation).
    assert np.allclose(A.points(body.v_template), A.rest[A.valid], atol=1e-5)
    # Every texel lies inside the bounding box of the body.
    lo, hi = body.v_template.min(0), body.v_template.max(0)
    assert ((A.rest[A.valid] >= lo - 1e-4) & (A.rest[A.valid] <= hi + 1e-4)).all()
    # Mirroring twice lands within ~1.5 texel spacings (3D) of the start for most texels.
    m = A.mirror[A.valid]
    mm = A.mirror[m[:, 0], m[:, 1]]
    back = A.rest[mm[:, 0], mm[:, 1]]
    assert np.median(np.linalg.norm(back - A.rest[A.valid], axis=1)) < 0.01
    # A left-arm texel mirrors to the right arm (SMPL parts 17 = left shoulder, 18 = right).
    left = (A.part == 17) & A.valid
    mr = A.mirror[left]
    assert np.mean(A.part[mr[:, 0], mr[:, 1]] == 18) > 0.8


@needs_raster
def test_lifting_a_rendered_texture_recovers_it(body):
    """Render a body wearing a known texture, lift the render back: seen texels match."""
    from neural_render.generator import uv_lift
    from neural_render.generator.uv_atlas import atlas
    from neural_render.camera import Camera

    A = atlas(body, 128)
    truth = uv_lift.UVTexture(_checker(A), A.valid.astype(np.float32))
    truth = uv_lift.UVTexture(uv_lift.grow_texels(truth.rgb, A.valid), truth.conf)
    v = body.forward(np.zeros(72), None, None, keypoints=False).vertices[0]
    from neural_render.body.axes import to_z_up

    v = to_z_up(v)
    cam = Camera.look_at((0.3, -3.0, 1.0), (0, 0, 0.0), 384, 512)
    buf = uv_lift.render_buffers(v, body, cam)
    photo = np.full((512, 384, 3), 90, np.float32)
    photo[buf["mask"]] = uv_lift.lookup(truth, buf["uv"], buf["mask"])[buf["mask"]]
    photo = np.clip(np.rint(photo), 0, 255).astype(np.uint8)
    got = uv_lift.lift(photo, cam, v, body, size=128, work=512)
    seen = got.conf > 0.3
    assert seen.sum() > 0.2 * A.valid.sum()
    err = np.abs(got.rgb[seen] - truth.rgb[seen]).mean()
    assert err < 12.0, err
    # The back of the body (facing away from the camera) is not seen.
    torso = A.valid & np.isin(A.part, (4, 7, 10)) & (np.abs(A.rest[..., 0]) < 0.08)
    z = A.rest[..., 2][torso]
    back_facing = torso & (A.rest[..., 2] < z.min() + 0.2 * (z.max() - z.min()))
    assert back_facing.any() and got.conf[back_facing].max() == 0
    filled = uv_lift.fill(got, A)
    assert np.isfinite(filled.rgb).all() and (filled.rgb[A.valid].std(0) > 5).all()


def test_place_motion_starts_at_the_spot_facing_the_heading_on_the_floor(body):
    from neural_render.motion import Motion
    from neural_render.motion.placement import place_motion
    from neural_render.passes.camera import facing_direction

    T = 10
    poses = np.zeros((T, 72), np.float32)
    poses[:, :3] = [np.pi / 2, 0, 0]        # Y-up body standing in a Z-up world
    trans = np.zeros((T, 3), np.float32)
    trans[:, 0] = np.linspace(0, 1, T)       # walks along +x
    trans[:, 2] = 5.0                        # floating
    m = Motion(poses, trans, np.zeros(10, np.float32), fps=30, up="z")
    heading = np.array([0.0, -1.0, 0.0])
    placed, info = place_motion(m, body, np.zeros(10), np.array([2.0, 3.0]), heading, ground_z=0.25)
    J = placed.joints(body)
    assert np.allclose(J[0, 0, :2], [2.0, 3.0], atol=1e-4)
    assert np.allclose(facing_direction(J[:1]), heading, atol=1e-4)
    v = body.forward(placed.poses, placed.betas, placed.trans, keypoints=False).vertices
    assert abs(v[..., 2].min() - 0.25) < 1e-4
    # The root path keeps its length and turns with the body.
    step = J[-1, 0] - J[0, 0]
    assert abs(np.linalg.norm(step) - 1.0) < 1e-4 and abs(step[2]) < 1e-5


def test_rigid_anchor_puts_the_first_frame_on_the_photo_body_and_auto_chooses_by_pose(body):
    """A motion whose first frame is the photo's moment (here: the same pose, seen in a world turned
    by 25 deg about a tilted axis and moved) lands on the photo's joints, tilt included, and its
    root path turns with it; `auto` picks rigid for it and upright for a different first pose."""
    from types import SimpleNamespace

    from neural_render.generator.animate import _place
    from neural_render.motion import Motion
    from neural_render.motion.placement import SAME_POSE_M
    from neural_render.motion.rotations import aa_to_matrix

    T = 6
    poses = np.zeros((T, 72), np.float32)
    poses[:, :3] = [np.pi / 2, 0, 0]
    poses[:, 16 * 3 + 2] = -0.8            # left shoulder down: a recognisable pose
    trans = np.zeros((T, 3), np.float32)
    trans[:, 0] = np.linspace(0, 0.5, T)
    m = Motion(poses, trans, np.zeros(10, np.float32), fps=30, up="z")
    axis = np.array([0.3, 0.2, 1.0])
    R = aa_to_matrix(axis / np.linalg.norm(axis) * np.radians(25))
    photo = m.rotate_world(R, body=body).trim(0, 1)
    photo = photo.copy(trans=photo.trans + np.array([1.0, -2.0, 0.3], np.float32))
    fit = SimpleNamespace(motion=photo)
    placed, info = _place(m, fit, body, "auto")
    assert info["anchor"] == "rigid" and info["pose_distance_m"] < 1e-3
    assert abs(info["rotated_deg"] - 25) < 0.1
    J, Jp = placed.joints(body), photo.joints(body)
    assert np.allclose(J[0], Jp[0], atol=1e-3)
    assert np.allclose(J[-1, 0] - J[0, 0], R @ np.array([0.5, 0, 0]), atol=1e-3)
    sitting = m.poses.copy()
    sitting[:, [1 * 3, 2 * 3]] = -1.5     # hips flexed
    sitting[:, [4 * 3, 5 * 3]] = 1.5      # knees bent
    _, info = _place(m.copy(poses=sitting), fit, body, "auto")
    assert info["anchor"] == "upright" and info["pose_distance_m"] > SAME_POSE_M
    placed, info = _place(m.copy(poses=sitting), fit, body, "rigid")
    assert info["anchor"] == "rigid"

def test_output_size_keeps_aspect_and_even_sides():
    from neural_render.generator.animate import output_size

    assert output_size(4016, 6016, 256) == (170, 256)
    assert output_size(1080, 1920, None) == (576, 1024)
    assert output_size(640, 480, None) == (640, 480)


def _cli(*args, cwd=None):
    return run_cli([*args], cwd=cwd)


def test_animate_bad_input_exits_2_and_writes_nothing(tmp_path):
    (tmp_path / "m.npz").write_bytes(b"not a motion")
    photo = tmp_path / "p.png"
    import cv2

    cv2.imwrite(str(photo), np.full((64, 64, 3), 128, np.uint8))
    for args in (["--image", str(tmp_path / "missing.jpg"), "--motion", str(tmp_path / "m.npz")],
                 ["--image", str(photo), "--motion", str(tmp_path / "nothing.npz")],
                 ["--image", str(photo), "--motion", str(tmp_path / "m.npz")],
                 ["--image", str(photo), "--motion", str(tmp_path / "m.npz"), "--part", "hat=x.jpg"]):
        r = _cli("animate", *args, "--out", str(tmp_path / "out"))
        assert r.returncode == 2, r.stderr
        assert len(r.stderr.strip().splitlines()) == 1, r.stderr
        assert not (tmp_path / "out").exists()
        assert not [p for p in tmp_path.iterdir() if p.name.startswith(".out")]


def _synthetic_photo(body, tmp_path):
    """A rendered person (known texture) + its OpenPose BODY_25 keypoints: a photo with ground truth."""
    from neural_render.body.axes import to_z_up
    from neural_render.generator import uv_lift
    from neural_render.generator.uv_atlas import atlas
    from neural_render.camera import Camera

    A = atlas(body, 128)
    tex = uv_lift.UVTexture(uv_lift.grow_texels(_checker(A), A.valid), A.valid.astype(np.float32))
    pose = np.zeros(72)
    pose[[50, 53]] = [-1.1, 1.1]          # arms down a bit
    out = body.forward(pose, None, None)
    v, kp = to_z_up(out.vertices[0]), to_z_up(out.body25[0])
    cam = Camera.look_at((0.0, -3.2, 0.2), (0, 0, -0.1), 300, 400)
    buf = uv_lift.render_buffers(v, body, cam)
    photo = np.zeros((400, 300, 3), np.float32)
    photo[:] = np.linspace(60, 200, 300)[None, :, None]
    photo[buf["mask"]] = uv_lift.lookup(tex, buf["uv"], buf["mask"])[buf["mask"]]
    import cv2

    cv2.imwrite(str(tmp_path / "photo.png"), np.clip(photo, 0, 255).astype(np.uint8)[..., ::-1])
    uv, _ = cam.project(kp)
    flat = np.concatenate([uv, np.full((25, 1), 0.9)], 1)
    flat[[15, 16, 17, 18], 2] = np.where(np.arange(4) < 2, 0.9, 0.5)
    (tmp_path / "photo_keypoints.json").write_text(json.dumps({"version": 1.3, "people": [{"pose_keypoints_2d": flat.ravel().tolist()}]}))
    return tmp_path / "photo.png", tmp_path / "photo_keypoints.json", buf["mask"]


@needs_raster
@pytest.mark.slow
def test_animate_end_to_end_with_a_keypoint_file(body, tmp_path):
    from neural_render.motion import Motion

    photo, kp, mask = _synthetic_photo(body, tmp_path)
    T = 5
    poses = np.zeros((T, 72), np.float32)
    poses[:, :3] = [np.pi / 2, 0, 0]
    poses[:, 50] = np.linspace(0, -1.2, T)       # one arm comes down
    m = Motion(poses, np.zeros((T, 3), np.float32), np.zeros(10, np.float32), fps=30, up="z")
    m.save(tmp_path / "m.npz")
    r = _cli("animate", "--image", str(photo), "--keypoints", str(kp), "--motion", str(tmp_path / "m.npz"),
             "--out", str(tmp_path / "anim"), "--size", "200")
    assert r.returncode == 0, r.stderr
    out = tmp_path / "anim"
    frames = sorted((out / "frames").glob("*.png"))
    assert [f.name for f in frames] == [f"{i:06d}.png" for i in range(1, T + 1)]
    import cv2

    f0 = cv2.imread(str(frames[0]))
    assert f0.shape == (200, 150, 3)
    for p in ("skeleton", "parts", "normal", "mask", "uv"):
        assert len(list((out / "passes" / p).glob("*.png"))) == T
    rep = json.loads((out / "animate.json").read_text())
    assert rep["frames"] == T and rep["fit"][0]["reprojection_px"] < 5
    assert (out / "animate.mp4").stat().st_size > 0 and (out / "contact_sheet.png").is_file()
    # The first frame's person stands where the photo's person stood: masks overlap well.
    m0 = cv2.imread(str(out / "passes" / "mask" / "000001.png"), 0) > 0
    truth = cv2.resize(mask.astype(np.uint8), (150, 200), interpolation=cv2.INTER_NEAREST) > 0
    assert (m0 & truth).sum() / (m0 | truth).sum() > 0.6


ADDON_SCRIPT = r"""
import json, os, sys
sys.path.insert(0, "scripts")
from addon_screenshot import register_addon
import bpy
register_addon()
image, motion, kp, out = sys.argv[1:5]
res = {"op": list(bpy.ops.neural_render.animate_photo(image=image, motion=motion, keypoints=kp, output_dir=out,
                                                       size=96, device="cpu"))}
img = bpy.data.images.get("neural_render_animated")
res["preview"] = [img.source, img.get("nr_frames")] if img else None
try:
    bpy.ops.neural_render.animate_photo(image=os.path.join(out, "missing.jpg"), motion=motion, output_dir=out + "_bad")
    res["bad"] = None
except RuntimeError as e:
    res["bad"] = str(e)
print(json.dumps(res), flush=True)
if bpy.app.version < (5, 0):
    os._exit(0)
"""


@needs_raster
@pytest.mark.slow
def test_addon_animate_photo_operator_headless(body, tmp_path):
    """The Generate panel's "From a photo": the operator runs `animate` through the job runner in
    another interpreter (as Blender's own Python without torch does) and previews the frames."""
    import os

    pytest.importorskip("bpy")
    from neural_render.motion import Motion

    photo, kp, _ = _synthetic_photo(body, tmp_path)
    poses = np.zeros((3, 72), np.float32)
    poses[:, :3] = [np.pi / 2, 0, 0]
    Motion(poses, np.zeros((3, 3), np.float32), np.zeros(10, np.float32), fps=30, up="z").save(tmp_path / "m.npz")

    root = Path(__file__).resolve().parents[1]
    env = {**os.environ, "NEURAL_RENDER_NO_INPROCESS_TORCH": "1", "NEURAL_RENDER_PYTHON": sys.executable}
    r = subprocess.run([sys.executable, "-c", ADDON_SCRIPT, str(photo), str(tmp_path / "m.npz"), str(kp),
                        str(tmp_path / "anim")], capture_output=True, text=True, cwd=root, env=env, timeout=600)
    assert r.returncode == 0, r.stderr[-4000:]
    res = json.loads([line for line in r.stdout.splitlines() if line.startswith("{")][-1])
    assert res["op"] == ["FINISHED"]
    assert sorted(p.name for p in (tmp_path / "anim" / "frames").glob("*.png")) == ["000001.png", "000002.png", "000003.png"]
    assert res["preview"] == ["SEQUENCE", 3]
    assert "photo not found" in res["bad"] and not (tmp_path / "anim_bad").exists()


@needs_raster
@pytest.mark.slow
def test_animate_a_real_photo_with_the_built_in_detector(shared_data, tmp_path):
    """No keypoint file: the built-in detector finds the person (the shared Pexels photo)."""
    from neural_render.motion import Motion

    photo = shared_data / "images" / "pexels-anete-lusina-4793258.jpg"
    walk = Motion.load(Path(__file__).resolve().parents[1] / "smpl_assets" / "motions" / "cmu_131_01_walk.npz")
    walk.trim(0, 3).save(tmp_path / "walk3.npz")
    r = _cli("animate", "--image", str(photo), "--motion", str(tmp_path / "walk3.npz"), "--out", str(tmp_path / "a"),
             "--size", "128")
    assert r.returncode == 0, r.stderr[-3000:]
    rep = json.loads((tmp_path / "a" / "animate.json").read_text())
    assert rep["fit"][0]["keypoints"].startswith("built-in detector")
    assert rep["fit"][0]["reprojection_px"] < 0.01 * 6016       # within 1 % of the photo's height
    assert len(list((tmp_path / "a" / "frames").glob("*.png"))) == 3


def test_fuse_weights_by_confidence_and_part_regions_cover_the_body():
    from neural_render.generator.animate import PARTS
    from neural_render.generator.uv_lift import UVTexture, fuse

    a = UVTexture(np.full((4, 4, 3), 100, np.float32), np.full((4, 4), 0.9, np.float32))
    b = UVTexture(np.full((4, 4, 3), 200, np.float32), np.full((4, 4), 0.3, np.float32))
    b.conf[0, 0], a.conf[0, 0] = 1.0, 0.0            # only b saw this texel
    f = fuse([a, b])
    assert f.rgb[0, 0, 0] == pytest.approx(200) and f.conf[0, 0] == pytest.approx(1.0)
    w = 0.81 / (0.81 + 0.09)
    assert f.rgb[1, 1, 0] == pytest.approx(w * 100 + (1 - w) * 200) and f.conf[1, 1] == pytest.approx(0.9)
    labels = sorted(p for ps in PARTS.values() for p in ps)
    assert labels == list(range(1, 25))              # every SMPL part in exactly one --part region
