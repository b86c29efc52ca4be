"""The two renderers agree on the same frames of a real clip (the shared CMU walk)."""

import json

import cv2
import numpy as np
import pytest

from neural_render.passes.render import resolve_cameras
from neural_render.renderers import render_passes
from neural_render.passes.writer import read_exr_depth
from neural_render.passes.scene import BodyInstance
from test_passes_support import need_raster, real_clip


def compare(dir_a, dir_b, names):
    """Per-frame agreement figures between two pass folders."""
    out = []
    for n in names:
        pa = cv2.imread(str(dir_a / "parts" / n), -1)
        pb = cv2.imread(str(dir_b / "parts" / n), -1)
        ious = []
        for k in range(1, 25):
            u = ((pa == k) | (pb == k)).sum()
            if u:
                ious.append(((pa == k) & (pb == k)).sum() / u)
        ma = cv2.imread(str(dir_a / "mask" / n), -1) > 0
        mb = cv2.imread(str(dir_b / "mask" / n), -1) > 0
        both = ma & mb
        na = cv2.imread(str(dir_a / "normal" / n), -1)[..., ::-1] / 127.5 - 1
        nb = cv2.imread(str(dir_b / "normal" / n), -1)[..., ::-1] / 127.5 - 1
        na /= np.linalg.norm(na, axis=-1, keepdims=True) + 1e-12
        nb /= np.linalg.norm(nb, axis=-1, keepdims=True) + 1e-12
        ang = np.degrees(np.arccos(np.clip((na * nb).sum(-1), -1, 1)))[both]
        da = read_exr_depth(dir_a / "depth" / n.replace(".png", ".exr"))
        db = read_exr_depth(dir_b / "depth" / n.replace(".png", ".exr"))
        dd = np.abs(da - db)[both]
        sa = cv2.imread(str(dir_a / "skeleton" / n), -1)
        sb = cv2.imread(str(dir_b / "skeleton" / n), -1)
        out.append({"miou": float(np.mean(ious)), "normal_deg": float(ang.mean()),
                    "depth_p99": float(np.percentile(dd, 99)), "depth_median": float(np.median(dd)),
                    "mask_iou": float(both.sum() / (ma | mb).sum()), "skeleton_identical": bool(np.array_equal(sa, sb))})
    return out


@pytest.fixture(scope="module")
def walk(shared_data):
    from neural_render.body import load_body

    motion, name = real_clip(str(shared_data))
    body = load_body()
    return body, motion, name


def test_renderers_agree_on_real_clip(walk, tmp_path):
    need_raster()
    pytest.importorskip("bpy")
    body, motion, name = walk
    inst = BodyInstance.from_motion(body, motion.poses, motion.trans, motion.betas, up=motion.up)
    frames = np.linspace(0, motion.num_frames - 1, 5).round().astype(int).tolist()
    cams = resolve_cameras([inst], "follow", (192, 256), fps=motion.fps)
    legends = {}
    for r in ("raster", "blender"):
        legends[r] = render_passes([inst], cams, tmp_path / r, (192, 256), frames, renderer=r, progress=False)
    names = [f"{f + 1:06d}.png" for f in frames]
    res = compare(tmp_path / "raster", tmp_path / "blender", names)
    print(json.dumps({"clip": name, "frames": frames, "per_frame": res}, indent=1))
    assert np.mean([r["miou"] for r in res]) >= 0.98
    assert all(r["miou"] >= 0.98 for r in res)
    assert all(r["normal_deg"] <= 3.0 for r in res)
    assert all(r["depth_p99"] <= 0.01 and r["depth_median"] <= 0.001 for r in res)
    assert all(r["mask_iou"] >= 0.99 for r in res)
    assert all(r["skeleton_identical"] for r in res)
    # same cameras and the same keypoints in both legends / keypoint files
    for fa, fb in zip(legends["raster"]["frames"], legends["blender"]["frames"]):
        assert fa["K"] == fb["K"] and fa["world_to_camera"] == fb["world_to_camera"]
    ka = np.load(tmp_path / "raster" / "skeleton" / "keypoints.npz")
    kb = np.load(tmp_path / "blender" / "skeleton" / "keypoints.npz")
    np.testing.assert_array_equal(ka["uv"], kb["uv"])
    assert (ka["visibility"] == kb["visibility"]).mean() >= 0.98
    # the body is in view and the keypoints project inside the image
    assert (ka["visibility"] > 0).all()
    # the skeleton is drawn at the projected keypoints: every keypoint's pixel is painted
    for t, f in enumerate(frames):
        sk = cv2.imread(str(tmp_path / "raster" / "skeleton" / f"{f + 1:06d}.png"))
        px = np.rint(ka["uv"][t, 0]).astype(int)
        assert all(sk[y, x].any() for x, y in px)


def test_two_people_instances_agree(walk, tmp_path):
    need_raster()
    pytest.importorskip("bpy")
    body, motion, _ = walk
    f0 = motion.num_frames // 2
    sl = slice(f0, f0 + 2)
    a = BodyInstance.from_motion(body, motion.poses[sl], motion.trans[sl], motion.betas, up=motion.up, instance_id=1)
    tr = motion.trans[sl].copy()
    tr[:, 0] += 0.6
    tr[:, 1] += 0.8
    b = BodyInstance.from_motion(body, motion.poses[sl], tr, motion.betas, up=motion.up, instance_id=2, name="b")
    cams = resolve_cameras([a, b], "fixed", 160)
    out = {}
    for r in ("raster", "blender"):
        out[r] = render_passes([a, b], cams, tmp_path / r, 160, renderer=r, progress=False)
        assert "instance" in out[r]["passes"]
    for n in ("000001.png", "000002.png"):
        ia = cv2.imread(str(tmp_path / "raster" / "instance" / n), -1)
        ib = cv2.imread(str(tmp_path / "blender" / "instance" / n), -1)
        assert set(np.unique(ia)) == {0, 1, 2}
        for k in (1, 2):
            iou = ((ia == k) & (ib == k)).sum() / ((ia == k) | (ib == k)).sum()
            assert iou >= 0.98
        mask = cv2.imread(str(tmp_path / "raster" / "mask" / n), -1)
        assert np.array_equal(mask > 0, ia > 0)  # mask is the union of the people
    kp = np.load(tmp_path / "raster" / "skeleton" / "keypoints.npz")
    assert kp["uv"].shape == (2, 2, 25, 2) and kp["instance_ids"].tolist() == [1, 2]
