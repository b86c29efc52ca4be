"""Hands benchmarks (BENCHMARKS.md): finger retargeting error, finger volume at a 90-degree curl,
and the wholebody skeleton against DWPose's drawing rules.

    .venv/bin/python scripts/make_finger_clip.py --out /tmp/fingers
    .venv/bin/python scripts/bench_hands.py --clip /tmp/fingers/fingers.bvh --clip /tmp/fingers/fingers.fbx \
        --motion motion.npz

Finger retargeting error: the clip is imported (`motion import`'s path: bone map, retarget with
fingers, source proportions) and posed on the default body through SMPL-H's 52 joints; per frame
and finger bone (knuckle -> next joint, last joint -> fingertip), the bone's direction in its
hand's frame (wrist -> middle knuckle, index -> little knuckle) is compared with the source's
(its joints and end sites by forward kinematics), and each finger joint's flexion (the unsigned
angle between a bone and its parent bone; the first bone's parent is wrist -> knuckle) likewise.
Baseline: the same clip imported without fingers (the body's relaxed default hand).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
MANO = ("index", "middle", "pinky", "ring", "thumb")


def _hand_frame(wrist, middle, index, pinky) -> np.ndarray:
    """(T, 3, 3) rows = hand axes (along, across, normal) from joint positions (T, 3)."""
    a = middle - wrist
    a /= np.linalg.norm(a, axis=-1, keepdims=True)
    c = index - pinky
    c -= np.sum(c * a, -1, keepdims=True) * a
    c /= np.linalg.norm(c, axis=-1, keepdims=True)
    return np.stack([a, c, np.cross(a, c)], 1)


def _angle(u, v) -> np.ndarray:
    u = u / np.linalg.norm(u, axis=-1, keepdims=True)
    v = v / np.linalg.norm(v, axis=-1, keepdims=True)
    return np.degrees(np.arccos(np.clip(np.sum(u * v, -1), -1, 1)))


def finger_points_source(clip, finger_map: dict, wrists: dict) -> dict:
    """Per hand: wrist (T, 3) and per finger 4 points (T, 4, 3): 3 joints + the tip (end site)."""
    P = clip.positions
    skel = clip.skeleton
    out = {}
    for side in (0, 1):
        fingers = {}
        for m, f in enumerate(MANO):
            js = [finger_map.get(15 * side + 3 * m + k) for k in range(3)]
            if any(j is None for j in js):
                continue
            kids = skel.children(js[2])
            if not kids:
                continue
            fingers[f] = np.stack([P[:, j] for j in js + [kids[0]]], 1)
        out[side] = {"wrist": P[:, wrists[side]], "fingers": fingers}
    return out


def finger_points_body(body, motion) -> dict:
    out = body.forward(body.smplh_poses(motion.poses, motion.hand_poses), motion.betas, motion.trans)
    J = out.joints52
    kp = body.keypoints(out.vertices, out.joints, "wholebody")
    order = ("thumb", "index", "middle", "ring", "pinky")
    res = {}
    for side, start in ((0, 91), (1, 112)):
        fingers = {}
        for m, f in enumerate(MANO):
            pts = [J[:, 22 + 15 * side + 3 * m + k] for k in range(3)] + [kp[:, start + 4 + 4 * order.index(f)]]
            fingers[f] = np.stack(pts, 1)
        res[side] = {"wrist": J[:, 20 + side], "fingers": fingers}
    return res


def _flexion(pts: dict, f: str, k: int) -> np.ndarray:
    ps = pts["fingers"][f]
    prev = ps[:, k] - (pts["wrist"] if k == 0 else ps[:, k - 1])
    return _angle(prev, ps[:, k + 1] - ps[:, k])


def compare(src: dict, ours: dict) -> dict:
    """Direction errors (hand frame) and flexion errors (unsigned joint angles)."""
    dir_err, flex_err = [], []
    for side in (0, 1):
        s, o = src[side], ours[side]
        if not all(f in s["fingers"] for f in ("index", "middle", "pinky")):
            continue
        Fs = _hand_frame(s["wrist"], s["fingers"]["middle"][:, 0], s["fingers"]["index"][:, 0], s["fingers"]["pinky"][:, 0])
        Fo = _hand_frame(o["wrist"], o["fingers"]["middle"][:, 0], o["fingers"]["index"][:, 0], o["fingers"]["pinky"][:, 0])
        for f, ps in s["fingers"].items():
            po = o["fingers"][f]
            for k in range(3):
                ds = np.einsum("tab,tb->ta", Fs, ps[:, k + 1] - ps[:, k])
                do = np.einsum("tab,tb->ta", Fo, po[:, k + 1] - po[:, k])
                dir_err.append(_angle(ds, do))
                flex_err.append(np.abs(_flexion(s, f, k) - _flexion(o, f, k)))
    d, fl = np.concatenate(dir_err), np.concatenate(flex_err)
    return {"bone_direction_in_hand_deg": {"mean": round(float(d.mean()), 2), "median": round(float(np.median(d)), 2),
                                            "p95": round(float(np.percentile(d, 95)), 2)},
            "joint_flexion_deg": {"mean": round(float(fl.mean()), 2), "median": round(float(np.median(fl)), 2),
                                  "p95": round(float(np.percentile(fl, 95)), 2)}}


def retarget_error(path: str, body) -> dict:
    from neural_render.motion.bone_maps import auto_finger_map, auto_map
    from neural_render.motion.retarget import retarget

    if path.endswith(".bvh"):
        from neural_render.motion.bvh import read_bvh
        from neural_render.motion.source_skeleton import clip_from_bvh
        clip = clip_from_bvh(read_bvh(path))
    else:
        from neural_render.motion.fbx import read_fbx
        clip = read_fbx(path)
    mapping, name, _ = auto_map(clip.skeleton)
    fmap = auto_finger_map(clip.skeleton, mapping)
    res = retarget(clip, body, mapping, up="y", shape="source", finger_mapping=fmap)
    wr = {0: mapping[20], 1: mapping[21]}
    src = finger_points_source(clip, fmap, wr)
    m = res.motion
    with_f = compare(src, finger_points_body(body, m))
    # baseline: the body's relaxed default hand (what a hand-less import gives)
    base = compare(src, finger_points_body(body, m.copy(hand_poses=np.broadcast_to(
        body.hands.hands_mean, (m.num_frames, 90)).copy())))
    return {"clip": path, "frames": clip.num_frames, "finger_joints_mapped": len(fmap),
            "fingers": with_f, "baseline_relaxed_hand": base}


def _flexions(kp: np.ndarray) -> np.ndarray:
    """(N, 2, 15) unsigned flexion angles (deg) of each finger joint from COCO-WholeBody hand
    points (N, 133, 3): the angle between a bone and its parent bone (wrist -> knuckle first)."""
    out = np.zeros((len(kp), 2, 15))
    for s, start in enumerate((91, 112)):
        h = kp[:, start:start + 21]
        for f in range(5):
            pts = [h[:, 0]] + [h[:, 1 + 4 * f + k] for k in range(4)]
            for k in range(3):
                out[:, s, 3 * f + k] = _angle(pts[k + 1] - pts[k], pts[k + 2] - pts[k + 1])
    return out


def landmark_fit(body, n: int = 12, seed: int = 0, size: int = 512) -> dict:
    """MediaPipe Hands on rendered hands of known pose -> `hand_fit.fit_hand_poses` -> errors.

    Each sample: a T-posed body with random finger curls (0-70 deg per joint, +-8 deg noise, both
    hands alike), the left hand rendered (raster, normals shaded as skin) from above its back,
    MediaPipe's 21 landmarks (image px + relative depth), the joint-limited fit, then: reprojection
    error (px, the fitted hand's 21 points through the same camera vs the rendered truth's), and
    the finger-joint flexion error (deg) against the truth; baseline = the relaxed default hand."""
    from neural_render.body.hand_poses import curl
    from neural_render.capture.detect import _import_mediapipe
    from neural_render.motion.hand_fit import fit_hand_poses
    from neural_render.camera import Camera
    from neural_render.passes.raster import RasterRenderer
    from neural_render.passes.scene import BodyInstance

    mp = _import_mediapipe()
    rng = np.random.default_rng(seed)
    poses = np.zeros((n, 72), np.float32)
    poses[:, 0] = np.pi / 2
    gt = np.concatenate([curl(float(a)) for a in rng.uniform(0, 70, n)]) + rng.normal(0, 0.14, (n, 90)).astype(np.float32)
    inst = BodyInstance.from_motion(body, poses, np.zeros((n, 3)), hand_poses=gt)
    pf = inst.posed(list(range(n)))
    r = RasterRenderer(size, size)
    lms = np.full((n, 2, 21, 3), np.nan)
    cams = []
    try:
        with mp.solutions.hands.Hands(static_image_mode=True, max_num_hands=1, model_complexity=1,
                                      min_detection_confidence=0.3) as det:
            for t in range(n):
                c = pf.wholebody[t, 91:112].mean(0)
                cam = Camera.look_at(c + np.array([0.0, -0.15, 0.40]), c, size, size, up=(1.0, 0.0, 0.0))
                cams.append(cam)
                buf = r.render([inst], [pf.vertices[t]], cam)
                shade = np.clip(buf["normal"][..., 2], 0, 1)[..., None] * 0.8 + 0.2
                m = buf["mask"][..., None]
                img = (np.array([224, 172, 150]) * shade * m + (1 - m) * 60).astype(np.uint8)
                res = det.process(img)
                if res.multi_hand_landmarks:
                    lms[t, 0] = [[p.x * size, p.y * size, p.z * size] for p in res.multi_hand_landmarks[0].landmark]
    finally:
        r.close()
    fit, found = fit_hand_poses(lms, body)
    ok = found[:, 0]
    mean = np.broadcast_to(body.hands.hands_mean, (n, 90)).copy()

    def keypoints(h):
        o = body.forward(body.smplh_poses(poses, h))
        return body.keypoints(o.vertices, o.joints, "wholebody")

    K_gt, K_fit, K_base = keypoints(gt), keypoints(fit), keypoints(mean)
    F_gt, F_fit, F_base = _flexions(K_gt)[:, 0], _flexions(K_fit)[:, 0], _flexions(K_base)[:, 0]

    def reproj(K):
        e = [np.linalg.norm(cams[t].project(K[t, 91:112])[0] - cams[t].project(K_gt[t, 91:112])[0], axis=1).mean()
             for t in np.flatnonzero(ok)]
        return round(float(np.mean(e)), 2)

    # The fit alone: the truth's own 21 points (camera coordinates) as landmarks.
    true_lm = np.full((n, 2, 21, 3), np.nan)
    for t in range(n):
        true_lm[t, 0] = cams[t].to_camera(K_gt[t, 91:112])
    fit_true, _ = fit_hand_poses(true_lm, body)
    K_true = keypoints(fit_true)
    F_true = _flexions(K_true)[:, 0]
    mp_err = [np.linalg.norm(lms[t, 0, :, :2] - cams[t].project(K_gt[t, 91:112])[0], axis=1).mean() for t in np.flatnonzero(ok)]
    return {"samples": n, "hands_found": int(ok.sum()), "image_px": size,
            "mediapipe_landmarks_vs_truth_px": round(float(np.mean(mp_err)), 2),
            "fit": {"reprojection_px": reproj(K_fit),
                    "flexion_error_deg": round(float(np.abs(F_fit - F_gt)[ok].mean()), 2)},
            "fit_on_true_landmarks": {"reprojection_px": reproj(K_true),
                                      "flexion_error_deg": round(float(np.abs(F_true - F_gt)[ok].mean()), 2)},
            "baseline_relaxed_hand": {"reprojection_px": reproj(K_base),
                                      "flexion_error_deg": round(float(np.abs(F_base - F_gt)[ok].mean()), 2)}}


def volume(body) -> dict:
    from neural_render.body.hand_poses import finger_volume_ratio

    return {f"{f}_{a}deg": round(finger_volume_ratio(body, a, f), 4) for f in ("index", "middle", "ring", "pinky")
            for a in (90, 120)}


def main(argv=None) -> int:
    sys.path.insert(0, str(ROOT))
    from neural_render.body import load_body

    ap = argparse.ArgumentParser(description="hands benchmarks")
    ap.add_argument("--clip", action="append", default=[], help="BVH/FBX clip with finger motion")
    ap.add_argument("--motion", default=None, help="motion for the DWPose agreement (scripts/dwpose_reference.py)")
    ap.add_argument("--landmark-fit", type=int, default=0, help="rendered samples for the MediaPipe hand fit (0: skip)")
    args = ap.parse_args(argv)
    body = load_body()
    out = {"finger_volume_ratio": volume(body), "retarget": [retarget_error(c, body) for c in args.clip]}
    if args.landmark_fit:
        out["hand_landmark_fit"] = landmark_fit(body, args.landmark_fit)
    if args.motion:
        import io
        from contextlib import redirect_stdout

        sys.path.insert(0, str(ROOT / "scripts"))
        import dwpose_reference

        buf = io.StringIO()
        with redirect_stdout(buf):
            dwpose_reference.main(["--motion", args.motion, "--frames", "0:30"])
        out["wholebody_vs_dwpose_rules"] = json.loads(buf.getvalue().strip().splitlines()[-1])
    print(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
