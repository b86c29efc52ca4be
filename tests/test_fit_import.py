"""End-to-end keypoint import: files -> tracked subject -> (triangulation ->) fit -> Motion + report."""

import json

import numpy as np
import pytest
import torch

from neural_render.body import load_body
from neural_render.errors import InputError
from neural_render.motion.bench import pa_mpjpe, synthetic_case
from neural_render.motion.fit import FitOptions
from neural_render.motion.keypoint_import import fit_keypoint_source, import_keypoints
from neural_render.motion.keypoints import LAYOUTS

P2S = "keypoints/pose2sim_balancing_body25b"
FAST = FitOptions(iters_global=15, iters_pose=150, iters_pose_single=150, pose_inits=3, iters_pose_init=40)


@pytest.fixture(scope="module")
def body():
    torch.set_num_threads(1)
    return load_body()


def test_pose2sim_multiview_fit_lies_on_the_person(shared_data, body, tmp_path):
    res = fit_keypoint_source(shared_data / P2S, body=body, frames=(0, 4), options=FAST)
    assert [c.name for c in res.cameras] == ["cam_01", "cam_02", "cam_03", "cam_04"]
    assert res.stats["layout"] == "body25b" and res.motion.num_frames == 4
    # Median reprojection per camera close to the detections' own triangulation consistency (~8-18 px).
    med = res.report()["median_reprojection_px"]
    assert all(v < 30 for v in med.values()), med
    # Z-up lab frame: a standing man, head ~1.6-1.9 m above the feet.
    head, feet = res.keypoints3d[:, 0, 2], res.keypoints3d[:, [11, 14], 2].min(1)
    assert np.all((head - feet > 1.3) & (head - feet < 2.0))
    # The overlay image for checking by eye.
    from neural_render.motion.overlay import write_overlay

    vids = [shared_data / P2S / f"cam0{i}.mp4" for i in range(1, 5)]
    p = write_overlay(tmp_path / "overlay.png", res, body, vids, frame=2, height=320)
    import cv2

    img = cv2.imread(str(p))
    assert img.shape[0] == 320 and img.shape[1] > 4 * 150


def _write_openpose(folder, obs):
    folder.mkdir()
    for t, frame in enumerate(obs):
        people = [{"pose_keypoints_2d": frame.ravel().tolist()}]
        (folder / f"clip_{t:012d}_keypoints.json").write_text(json.dumps({"version": 1.3, "people": people}))


def test_single_view_openpose_world_is_grounded(body, tmp_path):
    gt, out, cam, obs, uv = synthetic_case(body, frames=6, seed=5)
    _write_openpose(tmp_path / "op", obs[0])
    motion, rep = import_keypoints(tmp_path / "op", "openpose", fps=25, body=body, options=FAST)
    assert motion.num_frames == 6 and motion.fps == 25 and motion.up == "z"
    assert rep["stats"]["image_size"] == [1920, 1080] and "guessed" in rep["stats"]["image_size_from"]
    assert rep["reprojection_error_px_median"] < 8
    cam_fit = motion.metadata["cameras"][0]
    assert np.allclose(cam_fit["K"][0][2], (1920 - 1) / 2) and cam_fit["width"] == 1920  # centred lens, OpenCV pixel centres
    # World: feet on z = 0, body upright, camera a few metres away at a plausible height.
    o = body.forward(motion.poses, motion.betas, motion.trans)
    lowest = o.vertices[..., 2].min(1)
    assert np.all(np.abs(lowest) < 0.12)
    assert np.all(o.joints[:, 15, 2] > o.joints[:, 0, 2] + 0.3)
    w2c = np.array(cam_fit["world_to_camera"])
    centre = -w2c[:3, :3].T @ w2c[:3, 3]
    assert 2.5 < np.linalg.norm(centre[:2] - o.joints[0, 0, :2]) < 7 and 0.2 < centre[2] < 2.5, (centre, rep["world"])
    assert pa_mpjpe(o.joints[:, :22], out.joints[:, :22]).mean() < 0.13


def test_mediapipe_world_landmarks_fit(body, tmp_path):
    gt, out, cam, obs, uv = synthetic_case(body, frames=5, seed=6)
    mp_from_b25 = {v: k for k, v in LAYOUTS["mediapipe33"].to_body25.items()}
    frames = []
    for t in range(5):
        pel = out.body25[t, 8]
        lm = np.zeros((33, 4))
        for b, m in mp_from_b25.items():
            x, y, z = out.body25[t, b] - pel
            lm[m] = [x, -z, y, 0.9]  # Z-up world -> MediaPipe (x right, y down, z away)
        frames.append({"world_landmarks": lm.tolist(), "landmarks": [[0.5, 0.5, 0, 0.9]] * 33})
    (tmp_path / "mp.json").write_text(json.dumps({"frames": frames}))
    motion, rep = import_keypoints(tmp_path / "mp.json", "mediapipe", body=body, options=FAST)
    o = body.forward(motion.poses, motion.betas, motion.trans)
    assert pa_mpjpe(o.joints[:, :22], out.joints[:, :22]).mean() < 0.05
    assert np.all(o.joints[:, 15, 2] > o.joints[:, 0, 2] + 0.3)  # upright in the Z-up world
    assert rep["median_error3d_m"] < 0.05


def test_import_bad_inputs(tmp_path, body):
    (tmp_path / "views" / "cam1_json").mkdir(parents=True)
    (tmp_path / "views" / "cam2_json").mkdir()
    for c in ("cam1_json", "cam2_json"):
        (tmp_path / "views" / c / "f_0.json").write_text('{"people": []}')
    with pytest.raises(InputError, match="2 camera folders but no calibration"):
        import_keypoints(tmp_path / "views", "openpose", body=body)
    (tmp_path / "mp.json").write_text(json.dumps([[{"x": 0.5, "y": 0.5, "z": 0, "visibility": 1}] * 33]))
    with pytest.raises(InputError, match="normalized"):
        import_keypoints(tmp_path / "mp.json", "mediapipe", body=body)
    with pytest.raises(InputError, match="video not found"):
        import_keypoints(tmp_path / "mp.json", "mediapipe", body=body, video=tmp_path / "none.mp4")


def test_single_view_with_multi_camera_calibration_picks_its_camera(shared_data, body):
    res = fit_keypoint_source(shared_data / P2S / "cam02_json", body=body, frames=(0, 3), options=FAST,
                              calibration=shared_data / P2S / "Calib.qca.txt")
    assert [c.name for c in res.cameras] == ["cam_02"] and "cam_02" in res.world
    assert np.nanmedian(res.reprojection_px) < 20
