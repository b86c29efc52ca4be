"""The built-in detector (MediaPipe 0.10.14) on frames this project renders itself: the reference
actor, whose true keypoints and mask come with the render."""

import json
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
SIZE = 224


@pytest.fixture(scope="module")
def actor(tmp_path_factory):
    """3 Cycles frames of the textured actor (arms and legs moving) + its BODY_25 keypoints and masks."""
    if not (ROOT / "smpl_assets" / "default_body.npz").is_file():
        pytest.skip("default body not built yet")
    pytest.importorskip("bpy")
    from neural_render.body import load_body
    from neural_render.cli import main
    from neural_render.motion.motion import Motion

    body = load_body()
    T = 3
    poses = np.zeros((T, 72), np.float32)
    poses[:, 0] = np.pi / 2                       # Y-up model -> Z-up world
    poses[:, 16 * 3 + 2], poses[:, 17 * 3 + 2] = -1.1, 1.1
    poses[:, 1 * 3 + 0] = [-0.4, -0.1, 0.2]       # hips swing, a knee bends, an elbow bends
    poses[:, 2 * 3 + 0] = [0.3, 0.0, -0.3]
    poses[:, 4 * 3 + 0] = [0.3, 0.5, 0.1]
    poses[:, 18 * 3 + 1] = [-0.5, -0.9, -1.3]
    trans = np.zeros((T, 3), np.float32)
    trans[:, 2] = -body.rest_joints()[:, 1].min() + 0.05
    d = tmp_path_factory.mktemp("detect_actor")
    Motion(poses, trans, np.zeros(10, np.float32), 30.0, "neutral", "z").save(d / "m.npz")
    assert main(["actor", "render", "--motion", str(d / "m.npz"), "--out", str(d / "actor"), "--size", str(SIZE),
                 "--samples", "4"]) == 0
    from neural_render.body.skeletons import COCO17_FROM_BODY25

    kp = np.load(d / "actor" / "skeleton" / "keypoints.npz")
    return {"dir": d / "actor", "coco": kp["uv"][:, 0][:, list(COCO17_FROM_BODY25)], "tmp": d,
            "motion": d / "m.npz"}


def _frames(actor) -> list[np.ndarray]:
    from neural_render.video import image_sequence
    from neural_render.fileio import read_image

    return [read_image(p) for p in image_sequence(actor["dir"] / "frames")]


def _person_mask_ok(detected: np.ndarray, body: np.ndarray) -> bool:
    """The detector's person mask covers the rendered body and reaches at most 15 px (at 224 px)
    beyond it: the actor wears hair and a skirt that the `mask` pass (the body alone) leaves out."""
    import cv2

    near = cv2.dilate(body.astype(np.uint8), cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (31, 31))) > 0
    return (detected & body).sum() / body.sum() > 0.95 and (detected & ~near).sum() / detected.sum() < 0.03


def _mask(actor, t: int) -> np.ndarray:
    import cv2

    return cv2.imread(str(actor["dir"] / "mask" / f"{t + 1:06d}.png"), cv2.IMREAD_GRAYSCALE) > 127


def test_detect_image_finds_the_rendered_keypoints_and_mask(actor):
    from neural_render.capture.detect import detect_image

    det = detect_image(_frames(actor)[1])
    assert det is not None and det.image_size == (SIZE, SIZE)
    err = np.linalg.norm(det.coco17[:, :2] - actor["coco"][1], axis=1)
    # left/right swapped or a wrong COCO mapping would put several points 20+ px off
    assert np.median(err) < 4 and err.max() < 12, np.round(err, 1)
    m = det.mask >= 0.5
    assert _person_mask_ok(m, _mask(actor, 1))
    # world landmarks: metres, origin between the hips, y down (the head is above, so negative y)
    hips = det.world[[23, 24], :3].mean(0)
    assert np.linalg.norm(hips) < 0.05
    assert det.world[0, 1] < -0.4 and det.world[27, 1] > 0.5


def test_detect_cli_writes_coco_landmarks_masks(actor, tmp_path):
    from neural_render.cli import main
    from neural_render.motion.keypoints import read_keypoints

    out = tmp_path / "det"
    assert main(["detect", str(actor["dir"] / "frames"), "--out", str(out)]) == 0
    coco = json.loads((out / "keypoints_coco.json").read_text())
    assert [e["image_id"] for e in coco] == [0, 1, 2]
    for e in coco:
        assert e["category_id"] == 1 and len(e["keypoints"]) == 51 and 0 < e["score"] <= 1
        k = np.array(e["keypoints"]).reshape(17, 3)
        assert np.median(np.linalg.norm(k[:, :2] - actor["coco"][e["image_id"]], axis=1)) < 4
    doc = json.loads((out / "landmarks.json").read_text())
    assert doc["format"] == "neural-render-landmarks/1" and doc["lost_frames"] == []
    assert [f["frame"] for f in doc["frames"]] == [0, 1, 2]
    assert all(len(f["landmarks"]) == 33 and len(f["world_landmarks"]) == 33 for f in doc["frames"])
    for t in range(3):
        import cv2

        m = cv2.imread(str(out / doc["frames"][t]["mask"]), cv2.IMREAD_GRAYSCALE) > 127
        assert _person_mask_ok(m, _mask(actor, t))
    # the MediaPipe reader of `motion import` reads it back to the same pixels
    ks = read_keypoints(out / "landmarks.json")
    assert ks.layout == "mediapipe33" and ks.image_size == (SIZE, SIZE) and ks.world is not None
    from neural_render.capture.detect import COCO17_FROM_MP33

    back = ks.people[2][0][list(COCO17_FROM_MP33), :2]
    np.testing.assert_allclose(back, np.array(coco[2]["keypoints"]).reshape(17, 3)[:, :2], atol=0.01)


def test_lost_frames_are_flagged_not_invented(actor, tmp_path):
    from neural_render.capture.detect_output import run_detect
    from neural_render.fileio import write_image

    frames = _frames(actor)
    src = tmp_path / "frames"
    for t, img in enumerate([frames[0], np.full_like(frames[0], 128), frames[2]]):
        write_image(src / f"{t:04d}.png", img)
    out = tmp_path / "det"
    summary = run_detect(src, out, progress=False)
    assert summary["lost_frames"] == [1] and summary["detected"] == 2
    coco = json.loads((out / "keypoints_coco.json").read_text())
    assert [e["image_id"] for e in coco] == [0, 2]
    doc = json.loads((out / "landmarks.json").read_text())
    assert doc["frames"][1] == {"frame": 1, "landmarks": None, "lost": True}
    assert sorted(p.name for p in (out / "masks").iterdir()) == ["000001.png", "000003.png"]


def test_person_option_picks_the_subject(actor, tmp_path):
    """Two people side by side: --person with a box around the right one follows that one."""
    from neural_render.capture.detect_output import run_detect
    from neural_render.fileio import write_image

    frames = _frames(actor)
    src = tmp_path / "pair"
    for t in range(3):  # left: frame 0 mirrored (another pose), right: frame t
        write_image(src / f"{t:04d}.png", np.concatenate([frames[0][:, ::-1], frames[t]], axis=1))
    out = tmp_path / "det"
    run_detect(src, out, person=f"{SIZE},0,{2 * SIZE - 1},{SIZE - 1}", hands=False, progress=False)
    coco = json.loads((out / "keypoints_coco.json").read_text())
    assert [e["image_id"] for e in coco] == [0, 1, 2]
    for e in coco:
        k = np.array(e["keypoints"]).reshape(17, 3)[:, :2] - [SIZE, 0]
        assert np.median(np.linalg.norm(k - actor["coco"][e["image_id"]], axis=1)) < 5


def _big_and_small(actor) -> list[np.ndarray]:
    """640x400 frames: the actor large on the left (frame t, mirrored), and again smaller and a
    little nearer the centre on the right (frame 0). MediaPipe's own pick here is the small one."""
    import cv2

    frames = _frames(actor)
    out = []
    for t in range(3):
        c = np.empty((400, 640, 3), np.uint8)
        c[:] = frames[0][0, 0]
        c[:381, :380] = cv2.resize(np.ascontiguousarray(frames[t][:, ::-1]), (380, 381), interpolation=cv2.INTER_AREA)
        c[132:400, 297:565] = cv2.resize(frames[0], (268, 268), interpolation=cv2.INTER_AREA)
        out.append(c)
    return out


def test_default_subject_is_the_largest_most_central_person(actor, tmp_path):
    """Regression (issue 13): with two people, the tracked subject is the larger, not the one the
    detector is surest of; in a video (followed through every frame) and in a photo."""
    from neural_render.capture.detect import detect_image
    from neural_render.capture.detect_output import run_detect
    from neural_render.fileio import write_image

    frames = _big_and_small(actor)
    src = tmp_path / "pair"
    for t, img in enumerate(frames):
        write_image(src / f"{t:04d}.png", img)
    out = tmp_path / "det"
    run_detect(src, out, hands=False, masks=False, progress=False)
    coco = json.loads((out / "keypoints_coco.json").read_text())
    assert [e["image_id"] for e in coco] == [0, 1, 2]
    for e in coco:  # the big actor (the small one lies right of x = 297 and is under 170 px tall)
        k = np.array(e["keypoints"]).reshape(17, 3)[:, :2]
        assert np.median(k[:, 0]) < 300, k            # the big one is left of x=300, the small right
        assert np.ptp(k[:, 1]) > 200, k                # and tall (the small one is < 170 px)
    det = detect_image(frames[0], hands=False)
    assert det is not None and det.bbox()[2] < 300 and det.bbox()[3] - det.bbox()[1] > 200


def test_prominence_prefers_large_then_central():
    from neural_render.capture.detect import prominence

    W, H = 1000, 800
    centre_small = np.array([450, 300, 550, 500])
    edge_big = np.array([0, 200, 300, 800])
    assert prominence(edge_big, W, H) > prominence(centre_small, W, H)
    same = np.array([0, 0, 100, 200]), np.array([450, 300, 550, 500])
    assert prominence(same[1], W, H) > prominence(same[0], W, H)   # equal size: the central one
    assert prominence(np.array([0, 0, 0, 0]), W, H) == 0.0


def test_no_person_exit_2_nothing_written(tmp_path):
    from neural_render.cli import main
    from neural_render.fileio import write_image

    grey = tmp_path / "grey.png"
    write_image(grey, np.full((256, 256, 3), 128, np.uint8))
    out = tmp_path / "det"
    assert main(["detect", str(grey), "--out", str(out)]) == 2
    # nothing half-written (a `.det.lock` beside it is fileio's output lock, released on exit)
    assert not out.exists() and not [p for p in tmp_path.iterdir() if p.name.startswith(".det") and p.suffix != ".lock"]
    assert main(["detect", str(tmp_path / "missing.mp4"), "--out", str(out)]) == 2
    assert main(["detect", str(grey), "--out", str(out), "--person", "1,2,3"]) == 2


def _pa_mpjpe_mm(fit_path, truth_path, truth_frames=slice(None)) -> np.ndarray:
    from neural_render.body import load_body
    from neural_render.motion.bench import pa_mpjpe
    from neural_render.motion.motion import Motion

    body = load_body()
    truth = Motion.load(truth_path).joints(body)[truth_frames, :22]
    return 1000 * pa_mpjpe(Motion.load(fit_path).joints(body)[:, :22], truth)


@pytest.mark.slow  # ~90 s on the loaded 2-core machine (a full single-view fit)
def test_motion_import_of_frames_detects_then_fits_the_true_pose(actor, tmp_path):
    """`motion import FRAMES/` with no keypoint file: detector + fit, 3D close to the rendered motion."""
    from neural_render.cli import main
    from neural_render.motion.motion import Motion

    out = tmp_path / "m.npz"
    assert main(["motion", "import", str(actor["dir"] / "frames"), "--out", str(out)]) == 0
    m = Motion.load(out)
    assert m.num_frames == 3
    cam = m.metadata["cameras"][0]
    assert (cam["width"], cam["height"]) == (SIZE, SIZE)
    assert max(m.metadata["fit"]["median_reprojection_px"].values()) < 4
    assert _pa_mpjpe_mm(out, actor["motion"]).mean() < 80
    assert (tmp_path / "m.preview.png").is_file()


@pytest.mark.slow  # ~45 s (13 starting poses for one frame)
def test_motion_import_of_a_photo_fits_one_frame(actor, tmp_path):
    from neural_render.cli import main
    from neural_render.motion.motion import Motion

    photo = actor["dir"] / "frames" / "000002.png"
    out = tmp_path / "photo.npz"
    assert main(["motion", "import", str(photo), "--out", str(out)]) == 0
    m = Motion.load(out)
    assert m.num_frames == 1 and m.metadata["cameras"][0]["width"] == SIZE
    assert _pa_mpjpe_mm(out, actor["motion"], slice(1, 2))[0] < 100  # the photo is frame 1


def test_motion_import_without_a_person_exit_2(tmp_path):
    from neural_render.cli import main
    from neural_render.fileio import write_image

    grey = tmp_path / "empty.png"
    write_image(grey, np.full((256, 256, 3), 128, np.uint8))
    assert main(["motion", "import", str(grey), "--out", str(tmp_path / "e.npz")]) == 2
    assert not (tmp_path / "e.npz").exists()


@pytest.mark.slow  # ~1 min: detection, fit, refinement and raster passes of 3 frames
def test_prepare_without_keypoints_uses_the_detector_masks(actor, tmp_path):
    from neural_render.cli import main

    out = tmp_path / "prep"
    assert main(["prepare", "--video", str(actor["dir"] / "frames"), "--out", str(out), "--size", "64",
                 "--renderer", "raster", "--refine-iterations", "5", "--test-tail", "0.34"]) == 0
    rep = json.loads((out / "fit_report.json").read_text())
    assert rep["silhouette_refinement"]["silhouettes"] == "detector"
    iou = rep["silhouette_refinement"]["views"]["frames"]
    assert iou["silhouette_iou_before"] > 0.5 and iou["silhouette_iou_after"] >= iou["silhouette_iou_before"] - 0.02
    assert sorted(p.name for p in (out / "person_mask").iterdir()) == ["000001.png", "000002.png", "000003.png"]
    assert (out / "detection" / "keypoints_coco.json").is_file()
