"""Camera calibration files, projection/undistortion, and multi-view triangulation."""

import json

import numpy as np
import pytest

from neural_render.errors import InputError
from neural_render.camera import Camera, focal_intrinsics
from neural_render.motion.calibration import load_calibration, save_calibration


def look_at_camera(name, eye, target, up, f, width, height):
    return Camera.look_at(eye, target, width, height, K=focal_intrinsics(width, height, f), up=up, name=name)
from neural_render.motion.triangulate import triangulate

P2S = "keypoints/pose2sim_balancing_body25b"


def test_qualisys_calibration_real(shared_data):
    cams = load_calibration(shared_data / P2S / "Calib.qca.txt")
    assert [c.name for c in cams] == ["cam_01", "cam_02", "cam_03", "cam_04"]
    for c in cams:
        assert (c.width, c.height) == (1088, 1920)
        assert 1600 < c.K[0, 0] < 1750 and abs(c.K[0, 2] - 544) < 40 and abs(c.K[1, 2] - 960) < 40
        R = c.R
        assert np.allclose(R @ R.T, np.eye(3), atol=1e-6) and np.linalg.det(R) > 0
        # Cameras stand around the lab 1.7-2.1 m high (lab frame Z-up, metres) ...
        assert 1.5 < c.center[2] < 2.3 and 2.0 < np.linalg.norm(c.center[:2]) < 4.5
        # ... and look toward the capture area (in front of the camera: positive depth).
        assert c.to_camera(np.array([-1.3, 0.0, 1.0]))[2] > 1.0
        # Images are upright: world up points up in the image (negative OpenCV y).
        assert (c.R @ np.array([0, 0, 1.0]))[1] < -0.5


def test_triangulated_real_person_is_upright(shared_data):
    from neural_render.motion.keypoints import read_keypoints
    from neural_render.motion.tracking import track_subject

    cams = load_calibration(shared_data / P2S / "Calib.qca.txt")
    kp = np.stack([track_subject(read_keypoints(shared_data / P2S / f"cam0{i}_json").people).keypoints[:10]
                   for i in range(1, 5)])
    tri = triangulate(kp[..., :2], kp[..., 2], cams)
    head_top, ankles = tri.points[:, 18, 2], tri.points[:, [15, 16], 2]
    assert np.all((head_top > 1.5) & (head_top < 2.1))      # a man ~1.75 m tall on a low beam
    assert np.all((ankles > 0.0) & (ankles < 0.4))
    used = tri.used.sum(0)
    assert np.nanmedian(tri.error_px[tri.used]) < 25 and np.all(used[np.isfinite(tri.points[..., 0])] >= 2)


def test_projection_distortion_round_trip():
    cam = Camera([[1500, 0, 960], [0, 1490, 540], [0, 0, 1]], np.eye(4), 1920, 1080, name="c",
                 dist=[-0.05, 0.14, 0.0006, 0.0007, 0.0])
    rng = np.random.default_rng(0)
    X = np.c_[rng.uniform(-1, 1, (200, 2)), rng.uniform(2, 5, 200)]
    uv = cam.project(X)[0]
    ideal = cam.project(X, distort=False)[0]
    assert np.abs(uv - ideal).max() > 0.5  # the distortion does something
    assert np.allclose(cam.undistort_pixels(uv), ideal, atol=1e-3)
    assert np.isnan(cam.project(np.array([[0, 0, -1.0]]))[0]).all()  # behind the camera


def test_json_npz_round_trip_and_bad_files(tmp_path):
    cams = [look_at_camera(f"v{i}", eye=[3 * np.cos(a), 3 * np.sin(a), 1.5], target=[0, 0, 1], up=[0, 0, 1],
                           f=1000, width=1280, height=720) for i, a in enumerate(np.linspace(0, 4, 3))]
    save_calibration(tmp_path / "cams.json", cams)
    back = load_calibration(tmp_path / "cams.json")
    for a, b in zip(cams, back):
        assert a.name == b.name and np.allclose(a.K, b.K) and np.allclose(a.world_to_camera, b.world_to_camera)
    np.savez(tmp_path / "cams.npz", K=np.stack([c.K for c in cams]),
             world_to_camera=np.stack([c.world_to_camera for c in cams]), width=1280, height=720)
    assert np.allclose(load_calibration(tmp_path / "cams.npz")[2].world_to_camera, cams[2].world_to_camera)
    (tmp_path / "garbled.qca.txt").write_text("<calibration><cameras><camera serial='x'>")
    with pytest.raises(InputError, match="garbled.qca.txt: not valid XML"):
        load_calibration(tmp_path / "garbled.qca.txt")
    d = json.loads((tmp_path / "cams.json").read_text())
    d["cameras"][1]["world_to_camera"][0][0] = 5.0
    (tmp_path / "bad.json").write_text(json.dumps(d))
    with pytest.raises(InputError, match=r"bad.json: cameras\[1\]: world_to_camera rotation is not a rotation"):
        load_calibration(tmp_path / "bad.json")
    with pytest.raises(InputError, match="not found"):
        load_calibration(tmp_path / "none.toml")


def test_triangulation_exact_and_outlier_view():
    rng = np.random.default_rng(1)
    cams = [look_at_camera(f"c{i}", eye=[4 * np.cos(a), 4 * np.sin(a), 1.8], target=[0, 0, 1], up=[0, 0, 1],
                           f=1400, width=1920, height=1080) for i, a in enumerate(np.linspace(0, 2 * np.pi, 5)[:4])]
    X = np.c_[rng.uniform(-0.5, 0.5, (6, 25, 2)), rng.uniform(0, 1.8, (6, 25, 1))]
    uv = np.stack([c.project(X)[0] for c in cams])
    conf = rng.uniform(0.5, 1, uv.shape[:3])
    tri = triangulate(uv + rng.normal(0, 0.5, uv.shape), conf, cams)
    assert np.abs(tri.points - X).max() < 0.01
    # One camera wildly wrong on some points (a left/right swap, a second person): rejected.
    bad = uv.copy()
    bad[2, :, :10] += 150
    tri = triangulate(bad, conf, cams)
    assert np.abs(tri.points - X).max() < 0.01
    assert not tri.used[2, :, :10].any() and tri.used[2, :, 10:].all()
    # Seen by one view only: no point.
    conf2 = conf.copy()
    conf2[1:, 0, 0] = 0
    tri = triangulate(uv, conf2, cams)
    assert np.isnan(tri.points[0, 0]).all() and tri.confidence[0, 0] == 0


from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

_ATTR = st.one_of(st.floats(allow_nan=True, allow_infinity=True, width=32).map(str), st.text(max_size=4))


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(values=st.lists(_ATTR, min_size=30, max_size=30), drop=st.integers(0, 40))
def test_fuzz_qualisys_raises_only_input_errors(tmp_path, values, drop):
    from xml.sax.saxutils import quoteattr

    names = ["left", "top", "right", "bottom", "r11", "r12", "r13", "r21", "r22", "r23", "r31", "r32", "r33",
             "x", "y", "z", "focalLengthU", "focalLengthV", "centerPointU", "centerPointV",
             "radialDistortion1", "radialDistortion2", "radialDistortion3", "tangentalDistortion1",
             "tangentalDistortion2", "skew", "a", "b", "c", "d"]
    attrs = {n: quoteattr(v) for i, (n, v) in enumerate(zip(names, values)) if i != drop}
    fov = " ".join(f"{k}={attrs[k]}" for k in names[:4] if k in attrs)
    tr = " ".join(f"{k}={attrs[k]}" for k in names[4:16] if k in attrs)
    it = " ".join(f"{k}={attrs[k]}" for k in names[16:26] if k in attrs)
    xml = (f"<calibration><cameras><camera serial='c1'><fov_video {fov}/><transform {tr}/>"
           f"<intrinsic {it}/></camera></cameras></calibration>")
    path = tmp_path / "f.qca.txt"
    path.write_text(xml)
    try:
        cams = load_calibration(path)
    except InputError:
        return
    assert all(np.all(np.isfinite(c.K)) and c.width > 0 for c in cams)
