"""Hands: the default body's SMPL-H layout (52 joints), SMPL-H / SMPL-X files, hand poses in the
canonical motion, and the DWPose-style `wholebody` skeleton pass."""

import importlib.util
import pickle
import subprocess
import sys

import numpy as np
import pytest

from neural_render.body import load_body
from neural_render.body.hand_poses import curl, finger_volume_ratio
from neural_render.body.skeletons import (MANO_FINGERS, SMPLH_JOINT_NAMES, SMPLH_PARENTS, WB_FACE, WB_LHAND,
                                          WB_RHAND)
from neural_render.errors import InputError

from conftest import ROOT, random_joint_tree
from cli_run import run_cli


@pytest.fixture(scope="module")
def body():
    return load_body()


def test_default_body_has_smplh_layout(body):
    info = body.info()
    assert info["joints"] == 52 and info["joint_names"] == list(SMPLH_JOINT_NAMES)
    assert info["keypoints"]["wholebody"] == 133
    h = body.hands
    V = body.num_vertices
    assert h.J_regressor.shape == (52, V) and h.weights.shape == (V, 52)
    assert np.all(h.J_regressor >= 0) and np.all(h.weights >= 0)
    np.testing.assert_allclose(h.J_regressor.sum(1), 1, atol=1e-5)
    np.testing.assert_allclose(h.weights.sum(1), 1, atol=1e-5)
    np.testing.assert_array_equal(h.J_regressor[:22], body.J_regressor[:22])
    # Away from the wrists nothing changes: weights of joints 0-19 are the body's own.
    np.testing.assert_allclose(h.weights[:, :20], body.weights[:, :20], atol=1e-6)
    # Finger joints sit along the fingers, left at +x, right mirrored.
    J = h.J_regressor @ h.v_template
    assert np.all(J[22:37, 0] > J[20, 0]) and np.all(J[37:, 0] < J[21, 0])
    np.testing.assert_allclose(J[22:37] * [-1, 1, 1], J[37:], atol=0.004)
    # The flat template: every finger segment lies in the palm's plane (y nearly constant).
    for s in range(2):
        for f in range(5):
            chain = J[[22 + 15 * s + 3 * f + k for k in range(3)]]
            # (the thumb's first joint sits deeper in the palm than its others)
            assert np.ptp(chain[:, 1]) < (0.01 if MANO_FINGERS[f] == "thumb" else 0.005), (s, MANO_FINGERS[f])


def test_relaxed_default_hand_matches_the_24_joint_body(body):
    """Motions without hands: the 52-joint route with the default (relaxed) hand reproduces the
    24-joint body - the same relaxed hand, not a flat paddle."""
    rng = np.random.default_rng(0)
    p = rng.normal(0, 0.25, (3, 72)).astype(np.float32)
    p[:, 66:] = 0
    a = body.forward(p)
    b = body.forward(body.smplh_poses(p))
    d = np.linalg.norm(a.vertices - b.vertices, axis=-1)
    hand = body.hands.weights[:, 22:].sum(1) > 0
    assert d[:, ~hand].max() < 1e-3
    assert d.max() < 0.008 and np.median(d[:, hand]) < 0.001
    np.testing.assert_allclose(a.joints, b.joints, atol=0.002)
    assert b.joints52.shape == (3, 52, 3)


def test_hand_pose_curls_fingers_toward_the_palm(body):
    hands = np.concatenate([curl(0), curl(90, joints=(0,)), curl(90)])
    out = body.forward(body.smplh_poses(np.zeros((3, 72)), hands))
    kp = body.keypoints(out.vertices, out.joints, "wholebody")
    for start, side in ((WB_LHAND, 1), (WB_RHAND, -1)):
        for f in range(1, 5):  # index .. little: tip = 4th point of each finger
            tip = kp[:, start + 4 + 4 * f]
            mcp = kp[:, start + 1 + 4 * f]
            # Straight: the tip is 6-10 cm beyond the knuckle along the arm.
            assert side * (tip[0, 0] - mcp[0, 0]) > 0.05
            # 90 deg at the knuckle: the finger points down, to the palm's side (-y).
            assert tip[1, 1] < mcp[1, 1] - 0.05 and abs(tip[1, 0] - mcp[1, 0]) < 0.03
            # 90 deg at all three joints: a fist, the tip back under the knuckle.
            assert np.linalg.norm(tip[2] - mcp[2]) < 0.04


def test_finger_keeps_its_volume_at_a_90_degree_curl(body):
    for finger in ("index", "middle"):
        r = finger_volume_ratio(body, 90.0, finger)
        assert 0.85 < r < 1.1, (finger, r)


def test_smplh_export_loads_in_smplx_unchanged(body, tmp_path):
    smplx = pytest.importorskip("smplx")
    import torch

    out = tmp_path / "SMPLH_NEUTRAL.pkl"
    r = run_cli(["body", "export", "--out", str(out)], cwd=ROOT)
    assert r.returncode == 0, r.stderr
    m = smplx.SMPLH(model_path=str(out), use_pca=False, flat_hand_mean=True)
    p = np.random.default_rng(3).normal(0, 0.3, (1, 156)).astype(np.float32)
    t = {k: torch.tensor(v) for k, v in dict(global_orient=p[:, :3], body_pose=p[:, 3:66],
                                             left_hand_pose=p[:, 66:111], right_hand_pose=p[:, 111:]).items()}
    res = m(**t)
    ours = body.forward(p)
    np.testing.assert_allclose(res.vertices.detach().numpy(), ours.vertices, atol=2e-5)
    np.testing.assert_allclose(res.joints.detach().numpy()[:, :52], ours.joints52, atol=2e-5)
    # smplx's default (flat_hand_mean=False) adds hands_mean: our relaxed default hand.
    rest = smplx.SMPLH(model_path=str(out), use_pca=False)().vertices.detach().numpy()
    np.testing.assert_allclose(rest, body.forward(body.smplh_poses(np.zeros((1, 72)))).vertices, atol=2e-5)
    # ... and it loads back through the restricted loader as a body with hands.
    back = load_body(out)
    assert back.info()["joints"] == 52
    np.testing.assert_allclose(back.forward(p).vertices, ours.vertices, atol=1e-5)


def _smplx_from_smplh(d: dict, jaw_eyes: bool, expression: bool) -> dict:
    """An SMPL-X-structured dict (jaw + eyes at 22-24, hands at 25-54) holding the same body."""
    import scipy.sparse as sp

    J = d["J_regressor"].toarray() if sp.issparse(d["J_regressor"]) else d["J_regressor"]
    V = J.shape[0] and d["v_template"].shape[0]
    out = dict(d)
    if jaw_eyes:
        head = J[15:16]
        out["J_regressor"] = np.concatenate([J[:22], head, head, head, J[22:]])
        out["weights"] = np.concatenate([d["weights"][:, :22], np.zeros((V, 3)), d["weights"][:, 22:]], 1)
        par = list(SMPLH_PARENTS[:22]) + [15, 15, 15] + [p + 3 if p >= 22 else p for p in SMPLH_PARENTS[22:]]
        kin = np.stack([par, np.arange(55)]).astype(np.int64)
        kin[0, 0] = 4294967295
        out["kintree_table"] = kin
        P = np.zeros((V, 3, 54 * 9))
        out["posedirs"] = P
    if expression:
        B = d["shapedirs"].shape[-1]
        out["shapedirs"] = np.concatenate([d["shapedirs"], np.zeros((V, 3, 300 - B)),
                                           np.random.default_rng(0).normal(0, 0.01, (V, 3, 100))], -1)
    return out


@pytest.mark.parametrize("jaw_eyes,expression", [(True, True), (False, False)])
def test_smplx_files_load_through_the_restricted_loader(body, tmp_path, jaw_eyes, expression):
    from neural_render.body.export import export_arrays

    d = export_arrays(body, "smplh")
    x = _smplx_from_smplh(d, jaw_eyes, expression)
    path = tmp_path / "SMPLX_NEUTRAL.pkl"
    path.write_bytes(pickle.dumps(x, protocol=4))
    b = load_body(path)
    assert b.info()["joints"] == 52
    assert b.hands.source_layout == ("smplx" if jaw_eyes else "smplh")
    p = np.random.default_rng(4).normal(0, 0.3, (2, 156)).astype(np.float32)
    np.testing.assert_allclose(b.forward(p).vertices, body.forward(p).vertices, atol=1e-5)
    # Its 24-joint route poses SMPL motions (the fingers ride on SMPL's hand joints).
    assert b.forward(p[:1, :72] * 0).vertices.shape == (1, body.num_vertices, 3)


def test_hand_file_with_a_wrong_tree_is_refused(body, tmp_path):
    from neural_render.body.export import export_arrays

    d = export_arrays(body, "smplh")
    d["kintree_table"] = d["kintree_table"].copy()
    d["kintree_table"][0, 30] = 3
    path = tmp_path / "bad.pkl"
    path.write_bytes(pickle.dumps(d, protocol=4))
    with pytest.raises(InputError, match="SMPLH joint tree"):
        load_body(path)


def test_motion_carries_hand_poses_through_files(tmp_path):
    from neural_render.motion.motion import Motion
    from neural_render.motion.smpl_params import load_smpl_file, save_smpl_file

    rng = np.random.default_rng(0)
    T = 6
    m = Motion(rng.normal(0, 0.2, (T, 72)), rng.normal(0, 1, (T, 3)), hand_poses=rng.normal(0, 0.3, (T, 90)))
    m.save(tmp_path / "m.npz")
    back = Motion.load(tmp_path / "m.npz")
    np.testing.assert_array_equal(back.hand_poses, m.hand_poses)
    assert back.smplh_poses().shape == (T, 156)
    # AMASS SMPL-H layout straight in the poses array
    np.savez(tmp_path / "amass.npz", poses=m.smplh_poses(), trans=m.trans, mocap_framerate=60.0)
    a = Motion.load(tmp_path / "amass.npz")
    np.testing.assert_allclose(a.hand_poses, m.hand_poses, atol=1e-6)
    assert m.resample(60).hand_poses.shape == (11, 90) and m.trim(1, 4).hand_poses.shape == (3, 90)
    # AMASS SMPL-X (165: body, jaw, eyes, hands) through the AMASS importer
    from neural_render.motion.smpl_params import load_amass

    x = np.concatenate([m.poses[:, :66], rng.normal(0, 0.1, (T, 9)), m.hand_poses], 1)
    np.savez(tmp_path / "smplx.npz", poses=x, trans=m.trans, mocap_framerate=30.0, gender="neutral")
    np.testing.assert_allclose(load_amass(tmp_path / "smplx.npz").hand_poses, m.hand_poses, atol=1e-6)
    if importlib.util.find_spec("smplcodec"):
        save_smpl_file(m, tmp_path / "m.smpl")
        s = load_smpl_file(tmp_path / "m.smpl")
        np.testing.assert_allclose(s.hand_poses, m.hand_poses, atol=1e-6)
        assert s.metadata["model"] == "SMPLH"
    np.savez(tmp_path / "bad.npz", poses=m.poses, trans=m.trans, hand_poses=np.zeros((T, 12)))
    with pytest.raises(InputError, match="hand_poses"):
        Motion.load(tmp_path / "bad.npz")


@pytest.fixture(scope="module")
def curled_motion(tmp_path_factory):
    from neural_render.motion.motion import Motion

    T = 3
    poses = np.zeros((T, 72), np.float32)
    poses[:, 0] = np.pi / 2  # Y-up rest turned to Z-up, facing the follow camera
    poses[:, 3 * 16 + 2] = -1.2   # arms down a little, hands in front of the body
    poses[:, 3 * 17 + 2] = 1.2
    d = tmp_path_factory.mktemp("hands")
    Motion(poses, np.zeros((T, 3)), hand_poses=curl(90, n=T)).save(d / "curled.npz")
    Motion(poses, np.zeros((T, 3))).save(d / "plain.npz")
    return d


def _passes(motion, out, *extra, size: int = 256):
    r = run_cli(["passes", "--motion", str(motion), "--out", str(out), "--size", str(size), "--renderer", "raster",
                 "--no-progress", *extra], cwd=ROOT)
    assert r.returncode == 0, r.stderr[-2000:]


def test_wholebody_pass_draws_hands_and_face(curled_motion, tmp_path):
    import json

    import cv2

    _passes(curled_motion / "curled.npz", tmp_path / "p", "--skeleton", "wholebody", "--frames", "0:1",
            "--passes", "skeleton", size=512)
    leg = json.loads((tmp_path / "p" / "legend.json").read_text())
    wb = leg["skeleton"]["wholebody"]
    assert leg["skeleton"]["style"] == "wholebody" and len(wb["keypoints"]) == 133
    assert len(wb["hand"]["edge_colors"]) == 20 and wb["face"]["point_color"] == [255, 255, 255]
    kp = np.load(tmp_path / "p" / "skeleton" / "keypoints.npz")
    uv, vis = kp["wholebody_uv"][0, 0], kp["wholebody_visibility"][0, 0]
    assert uv.shape == (133, 2) and np.all(vis[WB_FACE:WB_FACE + 68] == 2)
    img = cv2.cvtColor(cv2.imread(str(tmp_path / "p" / "skeleton" / "000001.png")), cv2.COLOR_BGR2RGB)
    white = np.all(img == 255, 2)
    for u, v in uv[WB_FACE:WB_FACE + 68].round().astype(int):
        assert white[v, u]  # every face point is a white dot
    blue = np.all(img == [0, 0, 255], 2)
    for start in (WB_LHAND, WB_RHAND):
        for u, v in uv[start:start + 21][vis[start:start + 21] == 2].round().astype(int):
            assert blue[v - 1:v + 2, u - 1:u + 2].any()  # hand points are blue dots
    # hand bones in the HSV rainbow show between the dots (whole-body framing: hands ~20 px)
    cols = {tuple(c) for c in img.reshape(-1, 3)}
    assert sum(tuple(c) in cols for c in wb["hand"]["edge_colors"]) >= 3


def test_hand_poses_change_the_passes_only_at_the_hands(curled_motion, tmp_path):
    import cv2

    for name in ("curled", "plain"):
        _passes(curled_motion / f"{name}.npz", tmp_path / name, "--frames", "0:1", "--passes", "parts,normal,skeleton")
    a = cv2.imread(str(tmp_path / "curled" / "normal" / "000001.png")).astype(int)
    b = cv2.imread(str(tmp_path / "plain" / "normal" / "000001.png")).astype(int)
    diff = np.abs(a - b).max(2) > 8
    assert diff.sum() > 30  # the fingers visibly curl
    kp = np.load(tmp_path / "plain" / "skeleton" / "keypoints.npz")["uv"][0, 0]
    wrists = kp[[4, 7]]  # BODY_25 RWrist, LWrist
    ys, xs = np.nonzero(diff)
    near = np.min(np.linalg.norm(np.stack([xs, ys], 1)[:, None] - wrists[None], axis=-1), 1)
    assert near.max() < 40  # ... and nothing else changes (256 px frame, hands ~15 px long)
    pa = cv2.imread(str(tmp_path / "curled" / "parts" / "000001.png"), cv2.IMREAD_UNCHANGED)
    pb = cv2.imread(str(tmp_path / "plain" / "parts" / "000001.png"), cv2.IMREAD_UNCHANGED)
    assert (pa != pb).sum() > 10


def test_wholebody_drawing_agrees_with_dwpose_rules(body):
    """The pass's drawing against an independent drawing by DWPose's rules (scripts/
    dwpose_reference.py) of the same keypoints, at DWPose's own 512 px."""
    sys.path.insert(0, str(ROOT / "scripts"))
    from dwpose_reference import agreement, dwpose_reference

    from neural_render.passes.wholebody import draw_wholebody

    out = body.forward(body.smplh_poses(np.zeros((1, 72)), curl(30)))
    kp = body.keypoints(out.vertices, out.joints, "wholebody")[0].astype(np.float64)
    # Y-up model space straight into a camera 2.2 m in front, looking back at the body.
    f = 1100.0
    uv = np.stack([256 + f * kp[:, 0] / (2.2 - kp[:, 2]), 300 - f * kp[:, 1] / (2.2 - kp[:, 2])], 1)
    ours = draw_wholebody(512, 512, [{"uv": uv, "z": 2.2 - kp[:, 2]}])
    ref = dwpose_reference(512, 512, [uv])
    a = agreement(ours, ref)
    assert a["iou"] > 0.8 and a["colour_agreement"] > 0.8, a


def test_hands_profile_splits_palms_and_fingers(curled_motion, tmp_path):
    import json

    import cv2

    from neural_render.passes.spec import hand_part_labels, parts_colors

    body = load_body()
    labels = hand_part_labels(body)
    counts = np.bincount(labels, minlength=35)
    assert np.all(counts[23:35] > 50)  # both palms and all ten fingers
    np.testing.assert_array_equal(labels[body.parts < 21], body.parts[body.parts < 21])  # body unchanged
    assert parts_colors("hands").shape == (35, 3)
    _passes(curled_motion / "curled.npz", tmp_path / "p", "--profile", "hands", "--frames", "0:1",
            "--passes", "parts,skeleton", size=512)
    p = cv2.imread(str(tmp_path / "p" / "parts" / "000001.png"), cv2.IMREAD_UNCHANGED)
    assert {23, 24} <= set(np.unique(p)) and len(set(np.unique(p)) & set(range(25, 35))) >= 6
    leg = json.loads((tmp_path / "p" / "legend.json").read_text())
    assert leg["skeleton"]["style"] == "wholebody" and "30..34" in leg["encodings"]["parts"]["values"]
    assert len(leg["palettes"]["parts_colors"]) == 35


def test_coco_wholebody_fields():
    from neural_render.dataset.labels import wholebody_fields

    uv = np.stack([np.arange(133, dtype=float), np.arange(133, dtype=float) * 2], 1)
    vis = np.full(133, 2)
    vis[WB_RHAND:] = 0  # right hand outside the image
    vis[WB_FACE] = 1
    f = wholebody_fields(uv, vis)
    assert len(f["face_kpts"]) == 68 * 3 and len(f["foot_kpts"]) == 18 and len(f["lefthand_kpts"]) == 63
    assert f["face_kpts"][:3] == [23.0, 46.0, 1] and f["righthand_kpts"] == [0] * 63
    assert f["lefthand_valid"] and not f["righthand_valid"] and f["righthand_box"] == [0.0, 0.0, 0.0, 0.0]
    x, y, w, h = f["lefthand_box"]
    assert x < 91 and x + w > 111 and y < 182 and y + h > 222  # around the left hand's points


def test_generator_hand_crops_centre_on_the_finger_points():
    from neural_render.generator.data import crop_boxes_from_keypoints

    kp = np.zeros((25, 2))
    kp[[0, 15, 16, 17, 18]] = [100, 40]
    kp[7], kp[6] = [150, 100], [150, 60]   # left wrist, left elbow: the fallback aims 12 px past the wrist
    kp[4], kp[3] = [50, 100], [50, 60]
    vis = np.full(25, 2)
    uv = np.full((133, 2), np.nan)
    wvis = np.zeros(133, int)
    uv[91:112] = [170, 130] + np.random.default_rng(0).normal(0, 3, (21, 2))  # the hand turned sideways
    wvis[91:112] = 2
    boxes, valid = crop_boxes_from_keypoints(kp, vis, 256, 256, 32)
    boxes_wb, valid_wb = crop_boxes_from_keypoints(kp, vis, 256, 256, 32, (uv, wvis))
    assert valid.all() and valid_wb.all()
    np.testing.assert_array_equal(boxes_wb[0], boxes[0])
    np.testing.assert_array_equal(boxes_wb[2], boxes[2])  # right hand: no finger points, the wrist rule
    centre = boxes_wb[1] + 16
    assert np.abs(centre - [170, 130]).max() <= 3 and np.abs(boxes[1] + 16 - [150, 112]).max() <= 1


def test_smplx_file_gets_body25_and_wholebody_regressors(tmp_path):
    """A file on SMPL-X's topology (10,475 vertices, 55 joints, landmark triangles): BODY_25 from
    its surface vertex ids, COCO-WholeBody hands from its finger joints and fingertips, iBUG
    17-67 from its landmark triangles, the jaw line (0-16) missing (NaN)."""
    from neural_render.body import body_from_arrays
    from neural_render.body.skeletons import TOPOLOGY_VERTEX_IDS

    rng = np.random.default_rng(0)
    V = 10475
    par = list(SMPLH_PARENTS[:22]) + [15, 15, 15] + [p + 3 if p >= 22 else p for p in SMPLH_PARENTS[22:]]
    J, owner, v, Jr = random_joint_tree(rng, par, V, 0.05, 0.01)
    W = np.eye(55)[owner]
    kin = np.stack([par, np.arange(55)]).astype(np.int64)
    kin[0, 0] = 4294967295
    f = rng.integers(0, V, (20000, 3)).astype(np.int64)
    d = {"v_template": v, "f": f, "J_regressor": Jr, "weights": W, "kintree_table": kin,
         "shapedirs": rng.normal(0, 0.001, (V, 3, 400)), "posedirs": np.zeros((V, 3, 486)),
         "lmk_faces_idx": rng.integers(0, len(f), 51), "lmk_bary_coords": np.full((51, 3), 1 / 3)}
    b = body_from_arrays(d, tmp_path / "SMPLX_NEUTRAL.npz")
    assert b.num_betas == 300 and b.info()["joints"] == 52
    p = rng.normal(0, 0.2, (1, 156)).astype(np.float32)
    out = b.forward(p)
    kp = b.keypoints(out.vertices, out.joints, "wholebody")[0]
    assert np.all(np.isnan(kp[23:40])) and np.all(np.isfinite(kp[40:91])) and np.all(np.isfinite(kp[91:]))
    np.testing.assert_allclose(kp[91 + 8], out.vertices[0, TOPOLOGY_VERTEX_IDS[V]["lindex"]], atol=1e-6)
    np.testing.assert_allclose(kp[91 + 5], b.hands.J_regressor[22] @ out.vertices[0], atol=1e-5)  # index MCP
    np.testing.assert_allclose(out.body25[0, 0], out.vertices[0, TOPOLOGY_VERTEX_IDS[V]["nose"]], atol=1e-6)


def test_dataset_guidance_with_the_hands_profile(tmp_path):
    """A one-scene batch with guidance profile 'hands': finger part labels and the whole-body
    skeleton in the guidance passes, COCO-WholeBody fields in the annotations."""
    import json

    import cv2
    import yaml

    cfg = yaml.safe_load((ROOT / "neural_render" / "dataset" / "example_config.yaml").read_text())
    cfg.update(samples=1, frames_per_sample=1, resolution=512, people={"min": 1, "max": 1})
    cfg["camera"].update(distance=[2.6, 2.6], elevation_deg=[5, 5], azimuth_deg=[0, 0])
    cfg["garments"]["enabled"] = False
    cfg["guidance"] = {**cfg.get("guidance", {}), "renderer": "raster", "profile": "hands"}
    cfg["passes"] = ["mask", "parts", "skeleton"]
    cfg["rgb"] = {**cfg.get("rgb", {}), "cycles": False}
    (tmp_path / "cfg.yaml").write_text(yaml.safe_dump(cfg))
    r = subprocess.run([sys.executable, "-m", "neural_render", "batch", "--config", str(tmp_path / "cfg.yaml"),
                        "--out", str(tmp_path / "ds"), "--workers", "1"], capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0, r.stderr[-2000:]
    parts = [cv2.imread(str(p), cv2.IMREAD_UNCHANGED) for p in sorted((tmp_path / "ds").rglob("parts/*.png"))]
    assert parts and len(set(np.unique(parts[0])) & set(range(25, 35))) >= 3
    skel = [cv2.imread(str(p)) for p in sorted((tmp_path / "ds").rglob("skeleton/*.png"))]
    assert skel and np.all(skel[0] == 255, -1).sum() > 20  # the face's white dots
    ann = json.loads((tmp_path / "ds" / "annotations" / "coco_keypoints.json").read_text())["annotations"][0]
    assert len(ann["lefthand_kpts"]) == 63 and len(ann["face_kpts"]) == 204 and len(ann["keypoints"]) == 51
