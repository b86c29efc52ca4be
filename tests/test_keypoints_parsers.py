"""Keypoint parsers (OpenPose, COCO, MediaPipe), subject tracking and bad-input handling."""

import json
import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from neural_render.errors import InputError
from neural_render.motion.keypoints import (LAYOUTS, MEDIAPIPE33_NAMES, read_coco, read_keypoints,
                                            read_mediapipe, read_openpose, to_body25)
from neural_render.motion.tracking import track_subject

P2S = "keypoints/pose2sim_balancing_body25b"


def _op_file(path, people):
    path.write_text(json.dumps({"version": 1.3, "people": [
        {"person_id": [-1], "pose_keypoints_2d": np.asarray(p, float).ravel().tolist()} for p in people]}))


def test_openpose_real_body25b(shared_data):
    for cam in ("cam01", "cam03"):
        ks = read_openpose(shared_data / P2S / f"{cam}_json")
        assert ks.layout == "body25b"  # detected from geometry, not told
        assert ks.num_frames == 100
        assert all(p.shape[1:] == (25, 3) for p in ks.people)
    ks = read_openpose(shared_data / P2S / "cam01_json")
    assert max(len(p) for p in ks.people) >= 2
    tr = track_subject(ks.people)
    assert not tr.missing.any()
    # The subject is the tall man on the beam: his box is at least twice as tall as anyone else's.
    h = [np.ptp(tr.keypoints[t, tr.keypoints[t, :, 2] > 0.1, 1]) for t in range(100)]
    assert np.median(h) > 600
    # ...and followed consistently: the hip centre never jumps more than 60 px between frames.
    hips = tr.keypoints[:, [11, 12], :2].mean(1)
    assert np.abs(np.diff(hips, axis=0)).max() < 60


def test_body25_layout_detected(tmp_path):
    # A BODY_25 person: Neck (1) midway between the shoulders (2, 5), MidHip (8) between hips (9, 12).
    p = np.zeros((25, 3))
    p[:, 2] = 0.9
    names = LAYOUTS["body25"].names
    y = {"Nose": 100, "Neck": 160, "RShoulder": 160, "LShoulder": 160, "RElbow": 260, "LElbow": 260,
         "RWrist": 350, "LWrist": 350, "MidHip": 400, "RHip": 400, "LHip": 400, "RKnee": 550, "LKnee": 550,
         "RAnkle": 700, "LAnkle": 700, "REye": 90, "LEye": 90, "REar": 95, "LEar": 95}
    for i, n in enumerate(names):
        side = -1 if n.startswith("R") else 1 if n.startswith("L") else 0
        p[i, 0] = 500 + side * (60 if "Shoulder" in n or "Elbow" in n or "Wrist" in n else 30 if "Hip" in n or "Knee" in n
                                 or "Ankle" in n else 10)
        p[i, 1] = y.get(n, 720)
    for t in range(3):
        _op_file(tmp_path / f"clip_{t:012d}_keypoints.json", [p])
    assert read_openpose(tmp_path).layout == "body25"
    _op_file(tmp_path / "clip_000000000009_keypoints.json", [p[:18]])
    with pytest.raises(InputError, match="18 keypoints but earlier files have 25"):
        read_openpose(tmp_path)


def test_coco18_mapping_and_missing_points(tmp_path):
    p = np.random.default_rng(0).uniform(10, 500, (18, 3))
    p[:, 2] = 0.8
    p[4] = 0  # missing right wrist
    _op_file(tmp_path / "f_0.json", [p])
    ks = read_openpose(tmp_path)
    assert ks.layout == "coco18"
    b = to_body25(ks.people[0][0], "coco18")
    assert np.allclose(b[9], p[8]) and np.allclose(b[12], p[11])  # RHip, LHip
    assert b[8, 2] == 0 and b[4, 2] == 0  # MidHip absent in COCO-18; the missing wrist stays missing


def test_coco_annotation_and_results(tmp_path):
    rng = np.random.default_rng(1)
    kps = [rng.uniform(0, 600, (17, 3)) for _ in range(3)]
    for k in kps:
        k[:, 2] = 2
    kps[1][3, 2] = 0
    ann = {"images": [{"id": 7, "file_name": "b.jpg", "width": 640, "height": 480},
                      {"id": 3, "file_name": "a.jpg", "width": 640, "height": 480}],
           "annotations": [{"id": i, "image_id": [7, 3, 3][i], "category_id": 1, "num_keypoints": 17,
                            "keypoints": k.ravel().tolist()} for i, k in enumerate(kps)],
           "categories": [{"id": 1, "name": "person"}]}
    (tmp_path / "ann.json").write_text(json.dumps(ann))
    ks = read_coco(tmp_path / "ann.json")
    assert ks.layout == "coco17" and ks.image_size == (640, 480)
    assert [len(p) for p in ks.people] == [1, 2]  # frames follow the image list order
    assert ks.people[1][0][3, 2] == 0 and ks.people[0][0][0, 2] == 1.0
    res = [{"image_id": i // 2, "category_id": 1, "score": 0.9,
            "keypoints": np.c_[k[:, :2], np.full(17, 0.7)].ravel().tolist()} for i, k in enumerate(kps)]
    (tmp_path / "res.json").write_text(json.dumps(res))
    ks = read_keypoints(tmp_path / "res.json")  # format sniffed
    assert ks.layout == "coco17" and [len(p) for p in ks.people] == [2, 1]
    assert np.allclose(ks.people[0][0][:, 2], 0.7)
    bad = dict(ann, annotations=[dict(ann["annotations"][0], keypoints=[1.0] * 50)])
    (tmp_path / "bad.json").write_text(json.dumps(bad))
    with pytest.raises(InputError, match=r"bad.json: annotations\[0\].keypoints: 50 keypoint values"):
        read_coco(tmp_path / "bad.json")


def _mp_landmarks(rng, world=False):
    lm = rng.uniform(-0.5, 0.5, (33, 4)) if world else rng.uniform(0.1, 0.9, (33, 4))
    lm[:, 3] = 0.95
    return lm


def test_mediapipe_json_and_csv(tmp_path):
    rng = np.random.default_rng(2)
    frames = [(_mp_landmarks(rng), _mp_landmarks(rng, True)) for _ in range(4)]
    doc = {"image_width": 1280, "image_height": 720, "fps": 25,
           "frames": [{"landmarks": [dict(zip("xyz", l[:3]), visibility=l[3]) for l in img],
                       "world_landmarks": [list(l) for l in w]} for img, w in frames] + [{"landmarks": []}]}
    (tmp_path / "mp.json").write_text(json.dumps(doc))
    ks = read_mediapipe(tmp_path / "mp.json")
    assert ks.num_frames == 5 and ks.fps == 25 and ks.image_size == (1280, 720)
    assert np.allclose(ks.people[0][0][:, 0], frames[0][0][:, 0] * 1280)
    assert np.allclose(ks.people[2][0][:, 1], frames[2][0][:, 1] * 720)
    assert len(ks.people[4]) == 0 and np.allclose(ks.world[1, :, :3], frames[1][1][:, :3])
    b = to_body25(ks.people[0][0], "mediapipe33")
    assert np.allclose(b[5, :2], ks.people[0][0][11, :2])  # LShoulder <- left_shoulder
    # Wide CSV, named columns, with world columns.
    cols = [f"{n}_{a}" for n in MEDIAPIPE33_NAMES for a in ("x", "y", "z", "visibility")]
    cols += [f"world_{n}_{a}" for n in MEDIAPIPE33_NAMES for a in "xyz"]
    rows = [",".join(cols)] + [",".join(f"{v:.6f}" for v in np.r_[img.ravel(), w[:, :3].ravel()]) for img, w in frames]
    (tmp_path / "wide.csv").write_text("\n".join(rows) + "\n")
    ks2 = read_keypoints(tmp_path / "wide.csv", image_size=(1280, 720))
    assert np.allclose(ks2.people[3][0][:, :2], ks.people[3][0][:, :2], atol=1e-3)
    assert np.allclose(ks2.world[:, :, :3], ks.world[:4, :, :3], atol=1e-5)
    # Long CSV.
    lines = ["frame,landmark,x,y,z,visibility"] + [f"{t},{k},{l[0]},{l[1]},{l[2]},{l[3]}"
                                                   for t, (img, _) in enumerate(frames) for k, l in enumerate(img)]
    (tmp_path / "long.csv").write_text("\n".join(lines))
    ks3 = read_mediapipe(tmp_path / "long.csv")
    assert ks3.normalized and ks3.num_frames == 4
    assert np.allclose(ks3.people[1][0][:, 0], frames[1][0][:, 0])
    (tmp_path / "nan.csv").write_text("\n".join(lines[:5] + ["1,3,nan,0.5,0,1"]))
    with pytest.raises(InputError, match="nan.csv: line 6: NaN"):
        read_mediapipe(tmp_path / "nan.csv")


@pytest.mark.parametrize("content, message", [
    ("", "empty file"),
    ("{not json", "not valid JSON"),
    ('{"people": 3}', "no 'people' list"),
    ('{"people": [{"pose_keypoints_2d": [1, 2, 3, 4]}]}', "4 values; expected 75"),
    ('{"people": [{"pose_keypoints_2d": [' + ",".join(["NaN"] * 75) + "]}]}", "NaN"),
    ('{"people": [{"pose_keypoints_2d": [' + ",".join(['"a"'] * 75) + "]}]}", "expected numbers"),
])
def test_openpose_bad_input_names_file_and_place(tmp_path, content, message):
    (tmp_path / "x_000.json").write_text(content)
    with pytest.raises(InputError, match=message) as e:
        read_openpose(tmp_path)
    assert "x_000.json" in str(e.value)


def test_missing_sources(tmp_path):
    with pytest.raises(InputError, match="no .json files"):
        read_openpose(tmp_path)
    with pytest.raises(InputError, match="not found"):
        read_keypoints(tmp_path / "nope.json")
    (tmp_path / "mp.json").write_text(json.dumps([[{"x": 0.1, "y": 0.2}] * 32]))
    with pytest.raises(InputError, match=r"frames\[0\]: expected 33 landmarks, got 32"):
        read_mediapipe(tmp_path / "mp.json")


def test_tracking_follows_subject_through_crossing_and_gap():
    rng = np.random.default_rng(3)

    def person(cx, cy, h):
        p = np.zeros((25, 3))
        p[:, 0] = cx + rng.uniform(-0.15, 0.15, 25) * h
        p[:, 1] = cy + np.linspace(-0.5, 0.5, 25) * h
        p[:, 2] = 0.8
        return p

    frames = []
    for t in range(40):
        a = person(200 + 10 * t, 500, 400)    # subject walks right
        b = person(600 - 10 * t, 520, 300)    # another walks left, crossing at t = 20
        cands = [b, a] if t % 2 else [a, b]   # detector order shuffles
        if 25 <= t < 28:
            cands = [b]                       # subject occluded for 3 frames
        frames.append(np.stack(cands))
    tr = track_subject(frames)
    xs = tr.keypoints[:, :, 0].mean(1)
    assert tr.missing.tolist() == [25 <= t < 28 for t in range(40)]
    seen = ~tr.missing
    assert np.allclose(xs[seen], (200 + 10 * np.arange(40))[seen], atol=40)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 5) | st.floats(allow_nan=True) | st.text(max_size=3),
    lambda children: st.lists(children, max_size=6) | st.dictionaries(
        st.sampled_from(["people", "pose_keypoints_2d", "annotations", "images", "keypoints", "image_id", "id",
                         "frames", "landmarks", "world_landmarks", "x", "y", "z", "visibility", "category_id"]),
        children, max_size=5),
    max_leaves=30)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(doc=json_values, kind=st.sampled_from(["openpose", "coco", "mediapipe"]))
def test_fuzz_parsers_raise_only_input_errors(tmp_path, doc, kind):
    path = tmp_path / "f.json"
    try:
        path.write_text(json.dumps(doc))
    except ValueError:
        return
    try:
        ks = read_keypoints(path if kind != "openpose" else path, kind)
    except InputError:
        return
    for p in ks.people:
        assert p.ndim == 3 and p.shape[2] == 3 and np.all(np.isfinite(p))
        assert np.all((p[..., 2] >= 0) & (p[..., 2] <= 1)) and np.all(np.abs(p[..., :2]) <= 1e6 * 1e5)


# Hostile values of the same documents (issue 17): numbers beyond float range or absurd, deep nesting.
hostile_numbers = st.sampled_from([1e9, -1e9, 1e308, 10**400, 2**63, -0.0, 1e-320, True])


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(doc=json_values, kind=st.sampled_from(["openpose", "coco", "mediapipe"]), nest=st.integers(0, 5000),
       bad=hostile_numbers, at=st.integers(0, 80))
def test_fuzz_parsers_hostile_numbers_and_nesting(tmp_path, doc, kind, nest, bad, at):
    kp = [100.0 + i for i in range(75)]
    kp[at % 75] = bad
    doc = {"people": [{"pose_keypoints_2d": kp}], "annotations": [{"image_id": 1, "keypoints": kp[:51]}],
           "frames": [[{"x": 0.5, "y": 0.5, "visibility": bad}] * 33], "extra": doc}
    path = tmp_path / "f.json"
    path.write_text("[" * nest + json.dumps(doc) + "]" * nest if nest % 2 else json.dumps(doc))
    try:
        ks = read_keypoints(path, kind)
    except InputError:
        return
    for p in ks.people:
        assert np.all(np.isfinite(p)) and np.all((p[..., 2] >= 0) & (p[..., 2] <= 1))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.text(alphabet="0123456789.,-eanx_yzframelndmrkvisbt \n", max_size=300))
def test_fuzz_mediapipe_csv(tmp_path, text):
    path = tmp_path / "f.csv"
    path.write_text(text)
    try:
        ks = read_mediapipe(path)
    except InputError:
        return
    assert all(np.all(np.isfinite(p)) for p in ks.people)
