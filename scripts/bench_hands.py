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


def volume(body) -> dict:
    sys.path.insert(0, str(ROOT / "tests"))
    from test_hands import finger_volume_ratio

    return {f"{f}_{a}deg": round(finger_volume_ratio(body, a, f), 4) for f in ("index", "middle", "ring", "pinky")
            for a in (90, 120)}


def main(argv=None) -> int:
    sys.path.insert(0, str(ROOT))
    from neural_render.body import load_body

    ap = argparse.ArgumentParser(description="hands benchmarks")
    ap.add_argument("--clip", action="append", default=[], help="BVH/FBX clip with finger motion")
    ap.add_argument("--motion", default=None, help="motion for the DWPose agreement (scripts/dwpose_reference.py)")
    args = ap.parse_args(argv)
    body = load_body()
    out = {"finger_volume_ratio": volume(body), "retarget": [retarget_error(c, body) for c in args.clip]}
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
