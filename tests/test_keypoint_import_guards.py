"""Keypoint import that cannot be silently wrong (issue 13, item 4): each defect reported there has a
regression test here, on keypoints made from a known motion."""

import json

import numpy as np
import pytest
import torch

from neural_render.body import load_body
from neural_render.errors import InputError
from neural_render.motion.bench import synthetic_case
from neural_render.motion.fit import FitOptions
from neural_render.motion.keypoint_import import fit_keypoint_source
from neural_render.motion.keypoints import LAYOUTS, MEDIAPIPE33_NAMES, read_coco, read_keypoints

QUICK = FitOptions(iters_global=8, iters_pose=40, iters_pose_single=40, pose_inits=1, iters_pose_init=10,
                   flip_search=False)
MP_FROM_B25 = {v: k for k, v in LAYOUTS["mediapipe33"].to_body25.items()}


@pytest.fixture(scope="module")
def body():
    torch.set_num_threads(1)
    return load_body()


@pytest.fixture(scope="module")
def case(body):
    """12 frames of a known motion: (truth BodyOutput, camera, BODY_25 pixel detections)."""
    gt, out, cam, obs, uv = synthetic_case(body, frames=12, seed=3, noise_px=0.0, drop=0.0)
    return out, cam, uv


def _mediapipe_doc(out, cam, frames=None, pixels=False, world=True, size=True) -> dict:
    """MediaPipe JSON of the truth: normalized image landmarks (from `cam`) + world landmarks."""
    uv = cam.project(out.body25)[0]
    docs = []
    for t in range(len(uv)) if frames is None else frames:
        img, wl = np.zeros((33, 4)), np.zeros((33, 4))
        pel = out.body25[t, 8]
        for b, m in MP_FROM_B25.items():
            x, y = uv[t, b]
            img[m] = [x if pixels else x / cam.width, y if pixels else y / cam.height, 0, 0.95]
            X, Y, Z = out.body25[t, b] - pel
            wl[m] = [X, -Z, Y, 0.95]
        docs.append({"landmarks": img.tolist(), **({"world_landmarks": wl.tolist()} if world else {})})
    doc = {"frames": docs}
    if size:
        doc.update(image_width=cam.width, image_height=cam.height)
    return doc


def test_fps_resamples_keypoint_motion_instead_of_relabelling(body, case, tmp_path):
    from neural_render.motion.importers import import_motion

    out, cam, _ = case
    doc = _mediapipe_doc(out, cam, size=False)  # world landmarks only: a quick 3D fit
    (tmp_path / "mp.json").write_text(json.dumps(doc))
    m, rep = import_motion(tmp_path / "mp.json", fmt="mediapipe", fps=15, source_fps=30, body=body)
    # 12 frames at 30 fps span 11/30 s; at 15 fps that is frames 0..5, not the 12 frames relabelled
    assert m.fps == 15 and m.num_frames == 6
    assert abs(rep["duration_s"] - 12 / 30) < 1e-6  # duration = frames / fps, as the source's


def test_frames_select_before_the_fit(body, case, tmp_path):
    from neural_render.motion.importers import import_motion

    out, cam, _ = case
    (tmp_path / "mp.json").write_text(json.dumps(_mediapipe_doc(out, cam, size=False)))
    m, rep = import_motion(tmp_path / "mp.json", fmt="mediapipe", body=body, frames=(4, 8))
    assert m.num_frames == 4 and rep["fit"]["frames"] == 4  # the fit itself saw 4 frames


def test_mediapipe_with_video_size_gets_a_camera_and_the_3d_term(body, case, tmp_path):
    out, cam, _ = case
    (tmp_path / "mp.json").write_text(json.dumps(_mediapipe_doc(out, cam, frames=range(3), size=False)))
    import cv2

    vid = tmp_path / "clip.mp4"
    w = cv2.VideoWriter(str(vid), cv2.VideoWriter_fourcc(*"mp4v"), 25, (cam.width // 4, cam.height // 4))
    for _ in range(3):
        w.write(np.zeros((cam.height // 4, cam.width // 4, 3), np.uint8))
    w.release()
    # The video says the size (here a quarter of the true one: landmarks are normalized, so they scale).
    res = fit_keypoint_source(tmp_path / "mp.json", "mediapipe", body=body, video=vid, options=QUICK)
    c = res.cameras[0]
    assert (c.width, c.height) == (cam.width // 4, cam.height // 4) and c.name == "clip"
    assert res.stats["image_size_from"] == "video" and "world landmarks" in res.stats["fitted_to"]
    assert res.stats["rel3d_points"] > 0 and np.isfinite(res.reprojection_px).all()


def test_pixel_coordinates_in_a_mediapipe_file_are_refused(case, tmp_path):
    out, cam, _ = case
    (tmp_path / "px.json").write_text(json.dumps(_mediapipe_doc(out, cam, frames=range(2), pixels=True)))
    with pytest.raises(InputError, match="look like pixels"):
        read_keypoints(tmp_path / "px.json")
    # ... unless the file says so
    doc = _mediapipe_doc(out, cam, frames=range(2), pixels=True)
    doc["coordinates"] = "pixels"
    (tmp_path / "px2.json").write_text(json.dumps(doc))
    ks = read_keypoints(tmp_path / "px2.json")
    np.testing.assert_allclose(ks.people[1][0][11, :2], cam.project(out.body25)[0][1, 5], atol=1e-6)


def test_no_person_in_any_frame_is_an_error(tmp_path):
    (tmp_path / "empty.json").write_text(json.dumps({"frames": [{"landmarks": None}, []]}))
    with pytest.raises(InputError, match="no person in any of 2 frames"):
        read_keypoints(tmp_path / "empty.json")
    (tmp_path / "tf.json").write_text(json.dumps([[], []]))
    with pytest.raises(InputError):
        read_keypoints(tmp_path / "tf.json", "tfjs")


def _tfjs_doc(uv: np.ndarray) -> list:
    """tfjs pose-detection output per frame: a list of poses with named COCO keypoints, pixels."""
    from neural_render.body.skeletons import COCO17_FROM_BODY25
    from neural_render.motion.keypoints import TFJS_COCO_NAMES

    return [[{"score": 0.9, "keypoints": [{"x": float(uv[t, b, 0]), "y": float(uv[t, b, 1]), "score": 0.8, "name": n}
                                          for n, b in zip(TFJS_COCO_NAMES, COCO17_FROM_BODY25)]}]
            for t in range(len(uv))]


def test_tfjs_layout_is_read_and_a_wrong_format_is_refused_by_name(case, tmp_path):
    from neural_render.cli import main

    out, cam, uv = case
    (tmp_path / "tf.json").write_text(json.dumps(_tfjs_doc(uv[:4])))
    ks = read_keypoints(tmp_path / "tf.json")  # sniffed
    assert ks.layout == "coco17" and ks.num_frames == 4
    np.testing.assert_allclose(ks.people[2][0][5, :2], uv[2, 5], atol=1e-6)  # left shoulder (BODY_25 5)
    with pytest.raises(InputError, match="looks like TensorFlow.js"):
        read_keypoints(tmp_path / "tf.json", "mediapipe")
    rc = main(["motion", "import", str(tmp_path / "tf.json"), "--format", "mediapipe", "--out", str(tmp_path / "m.npz")])
    assert rc == 2 and not (tmp_path / "m.npz").exists()
    (tmp_path / "odd.json").write_text(json.dumps({"skeleton": [1, 2, 3]}))
    assert main(["motion", "import", str(tmp_path / "odd.json"), "--out", str(tmp_path / "m.npz")]) == 2


def test_coco_annotation_images_are_separate_items(body, case, tmp_path):
    from neural_render.body.skeletons import COCO17_FROM_BODY25

    out, cam, uv = case
    images = [{"id": 10 + i, "file_name": f"img{i}.jpg", "width": cam.width, "height": cam.height} for i in range(4)]
    anns = [{"id": i, "image_id": 10 + i, "category_id": 1,
             "keypoints": np.c_[uv[3 * i][list(COCO17_FROM_BODY25)], np.full(17, 2)].ravel().tolist()} for i in range(4)]
    (tmp_path / "ann.json").write_text(json.dumps({"images": images, "annotations": anns, "categories": [{"id": 1}]}))
    with pytest.raises(InputError, match="4 separate images.*--image-id"):
        fit_keypoint_source(tmp_path / "ann.json", body=body, options=QUICK)
    ks = read_coco(tmp_path / "ann.json", image_id="img2.jpg")
    assert ks.num_frames == 1 and ks.frame_names == ["12"]
    np.testing.assert_allclose(ks.people[0][0][:, :2], uv[6][list(COCO17_FROM_BODY25)])
    res = fit_keypoint_source(tmp_path / "ann.json", body=body, options=QUICK, image_id="11")
    assert res.motion.num_frames == 1
    with pytest.raises(InputError, match="no image with id"):
        read_coco(tmp_path / "ann.json", image_id="99")
    # Frames of a video (PoseTrack-style frame ids) stay one clip.
    for i, im in enumerate(images):
        im["frame_id"] = i
    (tmp_path / "clip.json").write_text(json.dumps({"images": images, "annotations": anns, "categories": [{"id": 1}]}))
    assert not read_coco(tmp_path / "clip.json").separate_images


def test_video_given_to_the_library_importer_says_to_detect(tmp_path):
    from neural_render.motion.importers import detect_format, import_motion

    (tmp_path / "clip.mp4").write_bytes(b"\0" * 16)
    assert detect_format(tmp_path / "clip.mp4") == "video"
    with pytest.raises(InputError, match="built-in detector"):
        import_motion(tmp_path / "clip.mp4")
    assert MEDIAPIPE33_NAMES[11] == "left_shoulder"


def _coco_two_images(case, tmp_path, second_visible: bool):
    from neural_render.body.skeletons import COCO17_FROM_BODY25

    out, cam, uv = case
    images = [{"id": 10 + i, "file_name": f"img{i}.jpg", "width": cam.width, "height": cam.height} for i in range(2)]
    kps = [np.c_[uv[3 * i][list(COCO17_FROM_BODY25)], np.full(17, 2)] for i in range(2)]
    if not second_visible:
        kps[1][:, 2] = 0                                      # the second image: nobody visible
    anns = [{"id": i, "image_id": 10 + i, "category_id": 1, "keypoints": k.ravel().tolist()} for i, k in enumerate(kps)]
    (tmp_path / "ann.json").write_text(json.dumps({"images": images, "annotations": anns, "categories": [{"id": 1}]}))
    return tmp_path / "ann.json"


def test_all_images_writes_nothing_when_one_image_fails(case, tmp_path):
    """`--all-images` (each image of a COCO annotation file its own one-frame motion): when one
    image cannot be fitted (here the second: none of its keypoints is visible), exit 2 and nothing
    is written, not even the motion of the image before it, nor a temporary folder."""
    from neural_render.cli import main

    ann = _coco_two_images(case, tmp_path, second_visible=False)
    dest = tmp_path / "out"
    dest.mkdir()
    assert main(["motion", "import", str(ann), "--all-images", "--out", str(dest / "m.npz")]) == 2
    assert sorted(p.name for p in dest.iterdir()) == []


@pytest.mark.slow  # ~30 s: two single-image fits at the CLI's settings
def test_all_images_writes_every_image(case, tmp_path):
    from neural_render.cli import main

    ann = _coco_two_images(case, tmp_path, second_visible=True)
    dest = tmp_path / "out"
    assert main(["motion", "import", str(ann), "--all-images", "--out", str(dest / "m.npz")]) == 0
    assert sorted(p.name for p in dest.iterdir()) == ["m_10.npz", "m_10.preview.png", "m_11.npz", "m_11.preview.png"]
    from neural_render.motion import Motion

    assert Motion.load(dest / "m_11.npz").num_frames == 1
