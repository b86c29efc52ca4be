"""Build the reference actor's texture (smpl_assets/actor/actor_texture.png) in the default body's UV space.

    .venv/bin/python smpl_assets/actor/make_actor_texture.py [--size 512] [--seed 6]

Procedural and deterministic (fixed seed): every texel is mapped back to its point on the default
body's rest (T-pose) surface by rasterizing the UV triangles, and its colour is a function of that
3D point and its SMPL part: skin, hair, a striped short-sleeved shirt, trousers, shoes, eyes and a
mouth. UV islands are dilated by a few texels so bilinear lookups at seams never see the empty
background. The result is CC0 (generated here).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))

# SMPL part labels (joint index + 1)
TORSO = {4, 7, 10, 14, 15, 13}
UPPER_ARM = {17, 18}
FOREARM_HAND = {19, 20, 21, 22, 23, 24}
LEGS = {1, 2, 3, 5, 6}
FEET = {8, 9, 11, 12}
HEAD = 16


def rasterize_uv(vt, ft, faces, verts, face_part, size):
    """(size, size, 3) rest position and (size, size) part label per texel (0 = empty); row 0 = v 1."""
    pos = np.zeros((size, size, 3), np.float64)
    part = np.zeros((size, size), np.uint8)
    uv = np.stack([vt[:, 0] * size - 0.5, (1 - vt[:, 1]) * size - 0.5], 1)  # texel-centre coordinates
    for f in range(len(ft)):
        p = uv[ft[f]]
        x0, y0 = np.floor(p.min(0)).astype(int)
        x1, y1 = np.ceil(p.max(0)).astype(int)
        x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, size - 1), min(y1, size - 1)
        if x1 < x0 or y1 < y0:
            continue
        xs, ys = np.meshgrid(np.arange(x0, x1 + 1), np.arange(y0, y1 + 1))
        d = (p[1, 1] - p[2, 1]) * (p[0, 0] - p[2, 0]) + (p[2, 0] - p[1, 0]) * (p[0, 1] - p[2, 1])
        if abs(d) < 1e-12:
            continue
        l0 = ((p[1, 1] - p[2, 1]) * (xs - p[2, 0]) + (p[2, 0] - p[1, 0]) * (ys - p[2, 1])) / d
        l1 = ((p[2, 1] - p[0, 1]) * (xs - p[2, 0]) + (p[0, 0] - p[2, 0]) * (ys - p[2, 1])) / d
        l2 = 1 - l0 - l1
        inside = (l0 >= -1e-3) & (l1 >= -1e-3) & (l2 >= -1e-3)
        if not inside.any():
            continue
        w = np.stack([l0, l1, l2], -1)[inside]
        pos[ys[inside], xs[inside]] = w @ verts[faces[f]]
        part[ys[inside], xs[inside]] = face_part[f]
    return pos, part


def smooth_noise(rng, size, sigma):
    import cv2

    n = cv2.GaussianBlur(rng.normal(0, 1, (size, size)), (0, 0), sigma)
    return n / (n.std() + 1e-9)


def colorize(pos, part, rest_joints, params, rng):
    """RGB in [0, 1] per texel from rest position (Y-up, metres) and part label."""
    size = part.shape[0]
    x, y, z = pos[..., 0], pos[..., 1], pos[..., 2]
    col = np.zeros((size, size, 3))
    c = {k: np.asarray(v, np.float64) for k, v in params["colors"].items()}
    waist = params["waist_y"]
    shoulder_x = abs(rest_joints[16, 0])
    ankle_y = max(rest_joints[7, 1], rest_joints[8, 1])
    fabric = smooth_noise(rng, size, 1.2)
    blotch = smooth_noise(rng, size, 6.0)
    skin = c["skin"] * (1 + 0.04 * blotch[..., None])
    # shirt: horizontal stripes in body height (follow the body in every pose)
    stripe = (np.sin(2 * np.pi * y / params["stripe_period"]) > params["stripe_threshold"])[..., None]
    shirt = np.where(stripe, c["shirt_stripe"], c["shirt"]) * (1 + 0.05 * fabric[..., None])
    trousers = c["trousers"] * (1 + 0.08 * fabric[..., None] + 0.04 * blotch[..., None])
    shoes = np.where((y < rest_joints[10, 1] - 0.03)[..., None] | (y < 0.0)[..., None] & False, c["sole"], c["shoes"])
    labels = part
    is_torso = np.isin(labels, list(TORSO)) & (labels != 13)
    is_arm = np.isin(labels, list(UPPER_ARM))
    sleeve = is_arm & (np.abs(x) < shoulder_x + params["sleeve_length"])
    shirt_m = (is_torso | sleeve) & (y > waist)
    trousers_m = (np.isin(labels, list(LEGS)) | (is_torso & (y <= waist))) | \
                 (np.isin(labels, list(FEET)) & (y > ankle_y + params["trouser_hem_above_ankle"]))
    shoes_m = np.isin(labels, list(FEET)) & ~trousers_m
    col[:] = skin
    col = np.where(shirt_m[..., None], shirt, col)
    col = np.where(trousers_m[..., None], trousers, col)
    col = np.where(shoes_m[..., None], shoes, col)
    # belt
    belt = (np.abs(y - waist) < params["belt_half_width"]) & (is_torso | np.isin(labels, list(LEGS)))
    col = np.where(belt[..., None], c["belt"], col)
    # head: hair on the top and the back, eyes, brows and mouth on the front
    head = labels == HEAD
    hc = rest_joints[15]
    top = pos[head, 1].max() if head.any() else hc[1]
    hair = head & ((y > top - params["hair_depth_top"]) | ((z < hc[2] - 0.02) & (y > hc[1] - 0.04)))
    col = np.where(hair[..., None], c["hair"] * (1 + 0.1 * fabric[..., None]), col)
    front = head & (z > hc[2] + 0.04)
    eye_y = top - params["eye_below_top"]
    for sx in (-1, 1):
        eye = front & ((x - sx * params["eye_dx"]) ** 2 + ((y - eye_y) * 1.6) ** 2 < params["eye_r"] ** 2)
        col = np.where(eye[..., None], c["eye"], col)
        brow = front & (np.abs(x - sx * params["eye_dx"]) < 0.018) & (np.abs(y - eye_y - 0.022) < 0.004)
        col = np.where(brow[..., None], c["hair"], col)
    mouth = front & (np.abs(x) < 0.02) & (np.abs(y - (top - params["mouth_below_top"])) < 0.005)
    col = np.where(mouth[..., None], c["mouth"], col)
    col[part == 0] = 0
    return np.clip(col, 0, 1)


def main(argv=None) -> int:
    import cv2

    from neural_render.body import load_body
    from neural_render.generator.uv_lift import grow_texels
    from neural_render.passes.spec import face_parts

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--seed", type=int, default=6)
    ap.add_argument("--out", default=str(HERE / "actor_texture.png"))
    ap.add_argument("--body", default=None, help="body model file (default: smpl_assets/default_body.npz)")
    args = ap.parse_args(argv)
    params = json.loads((HERE / "actor.json").read_text())["texture"]
    body = load_body(args.body)
    rng = np.random.default_rng(args.seed)
    fp = face_parts(body.faces, body.parts)
    pos, part = rasterize_uv(body.vt, body.ft, body.faces, body.v_template.astype(np.float64), fp, args.size)
    # Anchor the rest geometry to the mesh itself (lowest point and backmost point), expressed in the
    # frame the shipped texture was designed in, so a re-centred body file gives the same texture.
    shift = np.array([0.0, params["anchor_min_y"] - body.v_template[:, 1].min(),
                      params["anchor_min_z"] - body.v_template[:, 2].min()])
    pos = np.where(part[..., None] > 0, pos + shift, 0)
    rgb = colorize(pos, part, body.rest_joints() + shift, params, rng)
    rgb = grow_texels(rgb, part > 0, 8, border="constant")  # dilate the UV islands
    out = np.round(rgb * 255).astype(np.uint8)
    ok, buf = cv2.imencode(".png", out[..., ::-1])
    Path(args.out).write_bytes(buf.tobytes())
    print(f"wrote {args.out} ({args.size}x{args.size}, seed {args.seed})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
