"""An independent drawing of COCO-WholeBody keypoints by DWPose's published rules, to measure the
``wholebody`` skeleton pass against (BENCHMARKS.md; tests/test_hands.py).

Written from the rules as DWPose describes its pose maps, not from its code: integer pixel
positions (truncated), OpenPose's body limbs as filled ellipses of half-width 4 whose angle is
truncated to whole degrees, the canvas scaled by 0.6 (truncated to uint8) after the limbs, body
points radius 4, hand bones 2 px lines in the HSV rainbow (hue = bone / 20), hand points blue
radius 4, face points white radius 3. Fixed sizes (DWPose draws at 512 px). Feet are drawn like
body limbs (DWPose itself leaves them out).

    .venv/bin/python scripts/dwpose_reference.py --motion motion.npz --frames 0:30   # agreement figures
"""

from __future__ import annotations

import argparse
import colorsys
import json
import math
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
BODY_COLOURS = [(255, 0, 0), (255, 85, 0), (255, 170, 0), (255, 255, 0), (170, 255, 0), (85, 255, 0), (0, 255, 0),
                (0, 255, 85), (0, 255, 170), (0, 255, 255), (0, 170, 255), (0, 85, 255), (0, 0, 255), (85, 0, 255),
                (170, 0, 255), (255, 0, 255), (255, 0, 170), (255, 0, 85)]
# OpenPose COCO-18 limbs (18-point indices) and the 18 points from COCO-WholeBody (-1 = neck).
LIMBS18 = [(1, 2), (1, 5), (2, 3), (3, 4), (5, 6), (6, 7), (1, 8), (8, 9), (9, 10), (1, 11), (11, 12), (12, 13),
           (1, 0), (0, 14), (14, 16), (0, 15), (15, 17)]
FROM_WB = [0, -1, 6, 8, 10, 5, 7, 9, 12, 14, 16, 11, 13, 15, 2, 1, 4, 3]
FEET = [(15, 17), (17, 18), (15, 19), (16, 20), (20, 21), (16, 22)]
FOOT_COLOURS = [(0, 0, 255), (0, 0, 255), (0, 0, 255), (0, 255, 255), (0, 255, 255), (0, 255, 255)]
HAND_BONES = [(0, 1), (1, 2), (2, 3), (3, 4), (0, 5), (5, 6), (6, 7), (7, 8), (0, 9), (9, 10), (10, 11), (11, 12),
              (0, 13), (13, 14), (14, 15), (15, 16), (0, 17), (17, 18), (18, 19), (19, 20)]


def dwpose_reference(width: int, height: int, people: list[np.ndarray]) -> np.ndarray:
    """(H, W, 3) uint8 RGB: people = per person (133, 2) pixel positions, NaN = missing."""
    import cv2

    canvas = np.zeros((height, width, 3), np.uint8)

    def ok(p):
        return bool(np.all(np.isfinite(p)))

    def ellipse(a, b, colour):
        mx, my = (a[0] + b[0]) / 2, (a[1] + b[1]) / 2
        length = math.hypot(a[0] - b[0], a[1] - b[1])
        angle = math.degrees(math.atan2(a[1] - b[1], a[0] - b[0]))
        poly = cv2.ellipse2Poly((int(mx), int(my)), (int(length / 2), 4), int(angle), 0, 360, 1)
        cv2.fillConvexPoly(canvas, poly, colour)

    pts18 = []
    for uv in people:
        p = np.array([0.5 * (uv[5] + uv[6]) if i < 0 else uv[i] for i in FROM_WB])
        pts18.append(p)
        for i, (a, b) in enumerate(LIMBS18):
            if ok(p[a]) and ok(p[b]):
                ellipse(p[a], p[b], BODY_COLOURS[i])
        for i, (a, b) in enumerate(FEET):
            if ok(uv[a]) and ok(uv[b]):
                ellipse(uv[a], uv[b], FOOT_COLOURS[i])
    canvas = (canvas * 0.6).astype(np.uint8)
    for uv, p in zip(people, pts18):
        for i in range(18):
            if ok(p[i]):
                cv2.circle(canvas, (int(p[i][0]), int(p[i][1])), 4, BODY_COLOURS[i], -1)
        for i, (_, b) in enumerate(FEET):
            if ok(uv[b]):
                cv2.circle(canvas, (int(uv[b][0]), int(uv[b][1])), 4, FOOT_COLOURS[i], -1)
    for start in (91, 112):
        for uv in people:
            h = uv[start:start + 21]
            for i, (a, b) in enumerate(HAND_BONES):
                if ok(h[a]) and ok(h[b]):
                    colour = [255 * c for c in colorsys.hsv_to_rgb(i / len(HAND_BONES), 1.0, 1.0)]
                    cv2.line(canvas, (int(h[a][0]), int(h[a][1])), (int(h[b][0]), int(h[b][1])), colour, 2)
            for q in h:
                if ok(q):
                    cv2.circle(canvas, (int(q[0]), int(q[1])), 4, (0, 0, 255), -1)
    for uv in people:
        for q in uv[23:91]:
            if ok(q):
                cv2.circle(canvas, (int(q[0]), int(q[1])), 3, (255, 255, 255), -1)
    return canvas


def agreement(a: np.ndarray, b: np.ndarray, tol: int = 8) -> dict:
    """Pixel agreement of two drawings: IoU of their drawn (non-black) pixels and the share of
    the union whose colours match within `tol` per channel."""
    da, db = a.any(2), b.any(2)
    union = da | db
    same = np.all(np.abs(a.astype(np.int16) - b.astype(np.int16)) <= tol, 2)
    n = max(int(union.sum()), 1)
    return {"iou": float((da & db).sum() / n), "colour_agreement": float((same & union).sum() / n),
            "drawn_pixels": int(union.sum())}


def main(argv=None) -> int:
    sys.path.insert(0, str(ROOT))
    from neural_render.body import load_body
    from neural_render.motion.motion import Motion
    from neural_render.renderers import iter_frame_passes
    from neural_render.passes.scene import BodyInstance

    ap = argparse.ArgumentParser(description="wholebody skeleton pass vs DWPose's rules, pixel agreement")
    ap.add_argument("--motion", required=True)
    ap.add_argument("--frames", default="0:30")
    ap.add_argument("--size", type=int, default=512)
    args = ap.parse_args(argv)
    m = Motion.load(args.motion)
    a, b = (int(x) for x in args.frames.split(":"))
    inst = BodyInstance.from_motion(load_body(), m.poses, m.trans, m.betas if m.betas.size else None, up=m.up,
                                    hand_poses=m.hand_poses)
    rows = []
    for fr in iter_frame_passes([inst], "follow", args.size, frames=list(range(a, min(b, m.num_frames))),
                                renderer="raster", skeleton_style="wholebody"):
        people = []
        for rec in fr["keypoints"]:
            w = rec["wholebody"]
            uv = np.where(w["visibility"][:, None] > 0, w["uv"], np.nan)
            people.append(uv)
        ref = dwpose_reference(args.size, args.size, people)
        # the same rules with the points moved half a pixel, so DWPose's truncation rounds like ours
        ref_r = dwpose_reference(args.size, args.size, [p + 0.5 for p in people])
        a, b = agreement(fr["skeleton"], ref), agreement(fr["skeleton"], ref_r)
        rows.append({**a, "iou_rounded": b["iou"], "colour_agreement_rounded": b["colour_agreement"]})
    out = {k: round(float(np.mean([r[k] for r in rows])), 4)
           for k in ("iou", "colour_agreement", "iou_rounded", "colour_agreement_rounded")}
    out.update(frames=len(rows), size=args.size)
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
