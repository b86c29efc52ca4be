"""`prepare`: crop/camera maths, background estimation, and a short real-clip run end to end."""

import json

import numpy as np
import pytest

from neural_render.errors import InputError

from neural_render.capture.prepare import PrepareOptions, estimate_background, prepare
from neural_render.capture.video import square_crop_around
from cli_run import run_cli


def test_crop_intrinsics_match_cropped_pixels():
    rng = np.random.default_rng(0)
    K = np.array([[1000.0, 0, 540], [0, 1000, 960], [0, 0, 1]])
    X = rng.uniform([-0.5, -1, 3], [0.5, 1, 5], (50, 3))  # camera-space points
    uv = (X / X[:, 2:]) @ K.T
    crop = square_crop_around(uv[:, :2], 1080, 1920, 256)
    uv2 = (X / X[:, 2:]) @ crop.apply_to_K(K).T
    # The same point in the resized crop: OpenCV pixel centres at integers.
    s = crop.scale
    expect = (uv[:, :2] + 0.5 - [crop.x0, crop.y0]) * s - 0.5
    np.testing.assert_allclose(uv2[:, :2], expect, atol=1e-9)
    assert (uv2[:, :2] >= -0.5).all() and (uv2[:, :2] <= 255.5).all()
    # warpAffine of an image with one bright pixel lands where K' says
    img = np.zeros((1920, 1080), np.uint8)
    u, v = 600, 1000
    img[v - 20:v + 21, u - 20:u + 21] = 255
    out = crop.apply_to_image(img).astype(float)
    ys, xs = np.nonzero(out > 0)
    cy, cx = np.average(ys, weights=out[ys, xs]), np.average(xs, weights=out[ys, xs])
    assert abs(cx - ((u + 0.5 - crop.x0) * s - 0.5)) < 0.3 and abs(cy - ((v + 0.5 - crop.y0) * s - 0.5)) < 0.3


def test_background_median_recovers_plate():
    rng = np.random.default_rng(1)
    plate = rng.integers(0, 255, (64, 64, 3), dtype=np.uint8)
    frames, masks = [], []
    for t in range(20):
        f = plate.copy()
        m = np.zeros((64, 64), bool)
        m[10:40, 2 + 3 * t:12 + 3 * t] = True  # a moving person
        f[m] = 0
        frames.append(f)
        masks.append(m)
    bg = estimate_background(np.stack(frames), np.stack(masks), dilate_px=1)
    np.testing.assert_array_equal(bg, plate)


def test_prepare_real_clip_short(shared_data, tmp_path):
    d = shared_data / "keypoints" / "pose2sim_balancing_body25b"
    out = tmp_path / "prep"
    rep = prepare([d / "cam01.mp4"], d / "cam01_json", out,
                  PrepareOptions(size=128, frames=(0, 10), test_tail=0.3, progress=False,
                                 fit_options={"iters_global": 15, "iters_pose": 40, "yaw_inits": 2}))
    assert rep["frames"] == 10
    for sub in ("frames", "parts", "normal", "mask", "skeleton", "uv"):
        assert len(list((out / sub).glob("*.png"))) == 10, sub
    split = json.loads((out / "split.json").read_text())
    assert split["test"] and min(split["test"]) > max(split["train"])  # a contiguous tail
    assert (out / "background.png").is_file() and (out / "overlay.mp4").stat().st_size > 0
    assert (out / "fit_overlay.png").is_file()
    saved = json.loads((out / "fit_report.json").read_text())
    assert len(saved["per_frame_reprojection_px"]) == 10
    from neural_render.motion import Motion

    assert Motion.load(out / "motion.npz").num_frames == 10
    ref = saved["silhouette_refinement"]["views"]["cam01"]
    assert ref["frames_used"] > 0 and ref["silhouette_iou_after"] >= ref["silhouette_iou_before"] - 0.01, ref
    # The fitted body lies on the person: the detector's confident keypoints, mapped through the
    # same crop, fall inside the (slightly dilated) rendered body mask.
    import cv2

    from neural_render.motion.keypoints import read_openpose
    from neural_render.motion.tracking import track_subject

    kp = track_subject(read_openpose(d / "cam01_json").people).keypoints[:10]
    c = rep["views"]["cam01"]["crop"]
    s = c["size"] / c["side"]
    inside = []
    for t in range(10):
        mask = cv2.dilate(cv2.imread(str(out / "mask" / f"{t + 1:06d}.png"), 0), np.ones((7, 7), np.uint8)) > 0
        for x, y, conf in kp[t]:
            if conf > 0.5:
                u, v = int(round((x + 0.5 - c["x0"]) * s - 0.5)), int(round((y + 0.5 - c["y0"]) * s - 0.5))
                if 0 <= u < 128 and 0 <= v < 128:
                    inside.append(mask[v, u])
    assert np.mean(inside) > 0.85, np.mean(inside)


def test_prepare_bad_input_exit_2(tmp_path):

    r = run_cli(["prepare", "--video", str(tmp_path / "nope.mp4"), "--keypoints", str(tmp_path), "--out",
                 str(tmp_path / "o")])
    assert r.returncode == 2 and "video not found" in r.stderr
    assert not (tmp_path / "o").exists()


def _tiny_view(root, colour, n=3, split=None):
    import cv2

    for t in range(1, n + 1):
        for sub, img in (("frames", np.full((16, 16, 3), colour, np.uint8)), ("skeleton", np.zeros((16, 16, 3), np.uint8)),
                         ("normal", np.full((16, 16, 3), 128, np.uint8)), ("uv", np.zeros((16, 16, 3), np.uint8)),
                         ("parts", np.full((16, 16), 3, np.uint8)), ("mask", np.full((16, 16), 255, np.uint8))):
            (root / sub).mkdir(parents=True, exist_ok=True)
            cv2.imwrite(str(root / sub / f"{t:06d}.png"), img)
    cv2.imwrite(str(root / "background.png"), np.full((16, 16, 3), colour, np.uint8))
    if split is not None:
        (root / "split.json").write_text(json.dumps(split))


def test_multiview_sets_merge_and_skip_held_out_views(tmp_path):
    from neural_render.generator.data import open_paired

    _tiny_view(tmp_path / "views" / "cam_01", 10, split={"train": [1, 2, 3], "test": []})
    _tiny_view(tmp_path / "views" / "cam_02", 200, split={"train": [2, 3], "test": []})
    _tiny_view(tmp_path / "views" / "cam_03", 90, split={"train": [], "test": [1, 2, 3]})
    ds = open_paired(tmp_path, size=16, split="train")
    assert len(ds) == 5
    assert [ds.prev_index(i) for i in range(5)] == [None, 0, 1, None, 3]  # never across views
    assert ds.item(0)["background"].mean() < ds.item(4)["background"].mean()  # each view its own plate
    assert float(ds.item(4)["target"].mean()) == pytest.approx(200 / 127.5 - 1, abs=1e-6)
    test = open_paired(tmp_path, size=16, split="test")
    assert len(test) == 3


def test_prepare_never_leaves_a_half_written_folder(tmp_path):
    from neural_render.capture.prepare import staged_folder
    from neural_render.errors import InputError

    out = tmp_path / "p"
    with pytest.raises(RuntimeError):
        with staged_folder(out) as work:
            (work / "frames").mkdir()
            raise RuntimeError("killed half-way")
    assert list(tmp_path.iterdir()) == []                     # neither DIR nor its staging folder
    with staged_folder(out) as work:
        (work / "fit_report.json").write_text("{}")
    assert (out / "fit_report.json").is_file()
    with staged_folder(out) as work:                         # a previous output is replaced whole
        (work / "fit_report.json").write_text("{}")
        (work / "motion.npz").write_bytes(b"")
    assert sorted(p.name for p in out.iterdir()) == ["fit_report.json", "motion.npz"]
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "keep.txt").write_text("x")
    with pytest.raises(InputError):
        with staged_folder(foreign):
            pass
    assert (foreign / "keep.txt").read_text() == "x"


def test_a_folder_of_frames_is_a_video(tmp_path):
    import cv2

    from neural_render.video import frame_info, iter_frames, list_videos, read_frames

    folder = tmp_path / "frames"
    folder.mkdir()
    for i in range(12):  # natural order: frame_2 before frame_10
        img = np.zeros((24, 32, 3), np.uint8)
        img[..., 2] = i * 10  # BGR on disk: red channel = index
        cv2.imwrite(str(folder / f"frame_{i}.png"), img)
    assert list_videos([folder]) == [folder]
    assert frame_info(folder) == {"width": 32, "height": 24, "fps": None, "frames": 12}
    reds = [int(f[0, 0, 0]) for f in iter_frames(folder, 2, 11)]
    assert reds == [i * 10 for i in range(2, 11)]
    got = read_frames(folder, [10, 3, 99])
    assert sorted(got) == [3, 10] and got[10][0, 0, 0] == 100
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(InputError):
        frame_info(empty)


def test_person_masks_of_a_video_narrower_than_its_calibration_are_kept(tmp_path):
    """Regression (issue 13): the shared Pose2Sim clip's cam01/cam02 videos are 1080 px wide but the
    calibration says 1088. The detector's masks (video size) were dropped as 'wrong size', the
    refinement got empty silhouettes and crashed. The masks must be used like the frames are."""
    import cv2

    from neural_render.camera import Camera
    from neural_render.capture.prepare import _View, _write_person_masks
    from neural_render.fileio import read_image, write_image
    from neural_render.passes.spec import frame_filename

    W, H, CAL_W = 40, 64, 48                       # video 40 wide, calibration 48 wide
    frames, masks = tmp_path / "frames", tmp_path / "masks"
    src = np.zeros((H, W), np.uint8)
    src[20:50, 10:30] = 255                          # the person
    for t in range(2):
        write_image(frames / f"{t:06d}.png", np.full((H, W, 3), 90, np.uint8))
        write_image(masks / f"{t + 1:06d}.png", src)
    K = np.array([[60.0, 0, CAL_W / 2], [0, 60, H / 2], [0, 0, 1]])
    cam = Camera(K, np.eye(4), CAL_W, H, name="cam")
    crop = square_crop_around(np.array([[0.0, 0], [CAL_W - 1, H - 1]]), CAL_W, H, 32, margin=0.0)
    view = _View(tmp_path / "out", cam, frames, crop, Camera(crop.apply_to_K(K), np.eye(4), 32, 32), 2)
    _write_person_masks(view, masks, 0)
    got = read_image(view.folder / "person_mask" / frame_filename(1), "gray") > 127
    want = crop.apply_to_image(src) > 127
    assert want.sum() > 50
    assert got.sum() > 0.9 * want.sum() and (got & want).sum() > 0.9 * want.sum()
