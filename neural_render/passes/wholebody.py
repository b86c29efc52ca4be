"""The ``wholebody`` skeleton style: DWPose's whole-body drawing of COCO-WholeBody keypoints.

The pose maps that Animate Anyone, MimicMotion, UniAnimate and MusePose take are DWPose drawings:
OpenPose's 18 body points and limbs, both hands (21 points each, rainbow bones) and the 68 face
points. The rules, written from DWPose's published description (palette
smpl_assets/palettes/dwpose_wholebody.json states them all):

1. Body: the 18 OpenPose COCO-18 points (neck = midway between the shoulders) and 17 limbs, each
   limb a filled ellipse between its two points, limb i in colour i. Feet (COCO-WholeBody 17-22:
   ankle to big toe, big to small toe, ankle to heel) are drawn the same way in OpenPose BODY_25's
   foot colours (DWPose leaves feet out; the issue asks for them). Then the whole canvas is
   scaled by 0.6, and body and foot points are drawn as filled discs in full colour.
2. Hands: per hand, the 20 bones as lines, bone i in the HSV colour (hue i/20, s = v = 1), then
   the 21 points as blue discs.
3. Face: the 68 points as white discs.
Sizes at 512 px, scaled with the shorter image side: limb half-width 4, body point radius 4, hand
line width 2, hand point radius 4, face point radius 3.

Occlusion-aware mode keeps that layer order and, inside each layer, draws far to near and dims
items whose keypoint is hidden behind a surface (COCO visibility 1) to half brightness.
Points with visibility 0 (outside the image or behind the camera) or NaN are not drawn, nor
limbs touching them.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from neural_render.passes.spec import VIS_OCCLUDED, VIS_OUTSIDE, VIS_VISIBLE, load_palette

SHIFT = 4  # fixed-point bits: sub-pixel positions, so lines do not snap to the pixel grid
S = 1 << SHIFT


@lru_cache(maxsize=1)
def wholebody_palette() -> dict:
    """The DWPose palette with numpy colour arrays (cached)."""
    pal = load_palette("dwpose_wholebody")
    return {**pal, "_body_kp": np.asarray(pal["body18"]["keypoint_colors"], np.float64),
            "_body_limb": np.asarray(pal["body18"]["limb_colors"], np.float64),
            "_feet": np.asarray(pal["feet"]["colors"], np.float64),
            "_hand_edge": np.asarray(pal["hand"]["edge_colors"], np.float64)}


def wholebody_sizes(width: int, height: int) -> dict[str, int]:
    """Drawing sizes in pixels (DWPose's at 512 px, scaled with the shorter side, at least 1)."""
    s = min(width, height) / 512
    return {k: max(1, int(round(v * s))) for k, v in load_palette("dwpose_wholebody")["sizes_at_512"].items()}


def body18(uv: np.ndarray, z: np.ndarray, vis: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """OpenPose COCO-18 points (uv (18, 2), z (18,), vis (18,)) from COCO-WholeBody ones; the neck is
    the shoulders' midpoint, visible only when both shoulders are, occluded when either is."""
    idx = np.asarray(load_palette("dwpose_wholebody")["body18"]["from_wholebody"])
    src = np.where(idx < 0, 0, idx)
    u, d, v = uv[src].copy(), z[src].copy(), vis[src].copy()
    neck = idx < 0
    u[neck] = 0.5 * (uv[5] + uv[6])
    d[neck] = 0.5 * (z[5] + z[6])
    v[neck] = VIS_OUTSIDE if min(vis[5], vis[6]) == VIS_OUTSIDE else min(vis[5], vis[6])
    return u, d, v


def draw_wholebody(width: int, height: int, people: list[dict], occlusion: bool = False) -> np.ndarray:
    """Draw people in DWPose's whole-body style on black; returns (H, W, 3) uint8 RGB.

    people: per person "uv" (133, 2) COCO-WholeBody pixels (OpenCV, centres at integers), "z"
    (133,) depth in metres, "visibility" (133,) COCO flags (optional: all visible).
    """
    import cv2

    pal = wholebody_palette()
    size = wholebody_sizes(width, height)
    canvas = np.zeros((height, width, 3), np.float64)
    recs = []
    for p in people:
        uv = np.asarray(p["uv"], np.float64)
        z = np.asarray(p["z"], np.float64)
        vis = np.asarray(p.get("visibility", np.full(len(z), VIS_VISIBLE)), np.uint8).copy()
        vis[~(np.all(np.isfinite(uv), 1) & np.isfinite(z) & (z > 0))] = VIS_OUTSIDE
        recs.append((uv, z, vis))

    def order(items):  # items: (depth, payload); far to near when occlusion-aware
        return [it[1] for it in sorted(items, key=lambda it: -it[0])] if occlusion else [it[1] for it in items]

    def tone(colour, *flags):
        return colour * (0.5 if occlusion and any(f == VIS_OCCLUDED for f in flags) else 1.0)

    # 1. body + feet limbs, canvas x 0.6, body + foot points
    limbs, points = [], []
    for uv, z, vis in recs:
        u18, z18, v18 = body18(uv, z, vis)
        for i, (a, b) in enumerate(pal["body18"]["limbs"]):
            if v18[a] and v18[b]:
                limbs.append((0.5 * (z18[a] + z18[b]), (u18[a], u18[b], tone(pal["_body_limb"][i], v18[a], v18[b]))))
        for i, (a, b) in enumerate(pal["feet"]["limbs_wholebody"]):
            if vis[a] and vis[b]:
                limbs.append((0.5 * (z[a] + z[b]), (uv[a], uv[b], tone(pal["_feet"][i], vis[a], vis[b]))))
        for k in range(18):
            if v18[k]:
                points.append((z18[k], (u18[k], tone(pal["_body_kp"][k], v18[k]))))
        for i, (_, b) in enumerate(pal["feet"]["limbs_wholebody"]):
            if vis[b]:
                points.append((z[b], (uv[b], tone(pal["_feet"][i], vis[b]))))
    for pa, pb, colour in order(limbs):
        _ellipse_limb(canvas, pa, pb, size["limb_half_width"], colour, cv2)
    canvas = np.floor(canvas * pal["limb_scale_after_body"])
    for c, colour in order(points):
        _disc(canvas, c, size["body_point_radius"], colour, cv2)
    # 2. hands: bones, then points
    hand_point = np.asarray(pal["hand"]["point_color"], np.float64)
    for start in (91, 112):
        bones, dots = [], []
        for uv, z, vis in recs:
            h = slice(start, start + 21)
            hu, hz, hv = uv[h], z[h], vis[h]
            for i, (a, b) in enumerate(pal["hand"]["edges"]):
                if hv[a] and hv[b]:
                    bones.append((0.5 * (hz[a] + hz[b]), (hu[a], hu[b], tone(pal["_hand_edge"][i], hv[a], hv[b]))))
            for k in range(21):
                if hv[k]:
                    dots.append((hz[k], (hu[k], tone(hand_point, hv[k]))))
        for pa, pb, colour in order(bones):
            cv2.line(canvas, _fixed(pa), _fixed(pb), tuple(float(c) for c in colour), size["hand_line_width"],
                     cv2.LINE_8, SHIFT)
        for c, colour in order(dots):
            _disc(canvas, c, size["hand_point_radius"], colour, cv2)
    # 3. face points
    white = np.asarray(pal["face"]["point_color"], np.float64)
    dots = []
    for uv, z, vis in recs:
        for k in range(23, 91):
            if vis[k]:
                dots.append((z[k], (uv[k], tone(white, vis[k]))))
    for c, colour in order(dots):
        _disc(canvas, c, size["face_point_radius"], colour, cv2)
    return np.clip(np.round(canvas), 0, 255).astype(np.uint8)


def _fixed(p) -> tuple[int, int]:
    return int(round(float(p[0]) * S)), int(round(float(p[1]) * S))


def _disc(canvas, c, r: int, colour, cv2) -> None:
    cv2.circle(canvas, _fixed(c), r * S, tuple(float(v) for v in colour), -1, cv2.LINE_8, SHIFT)


def _ellipse_limb(canvas, pa, pb, r: int, colour, cv2) -> None:
    """A filled ellipse spanning the two points, `r` pixels half-width (OpenPose's limb)."""
    pa, pb = np.asarray(pa, np.float64), np.asarray(pb, np.float64)
    d = pb - pa
    length = float(np.hypot(*d))
    angle = float(np.degrees(np.arctan2(d[1], d[0])))
    centre = 0.5 * (pa + pb)
    poly = cv2.ellipse2Poly(_fixed(centre), (int(round(length / 2 * S)), int(r * S)), int(round(angle)), 0, 360, 1)
    cv2.fillConvexPoly(canvas, poly, tuple(float(v) for v in colour), cv2.LINE_8, SHIFT)


def wholebody_from_body25(kp25: np.ndarray) -> np.ndarray:
    """(..., 133, 3) COCO-WholeBody points from BODY_25 ones (..., 25, 3): body and feet; face and
    hands NaN (not drawn) - for meshes or bodies without a whole-body regressor."""
    from neural_render.body.skeletons import COCO17_FROM_BODY25, WHOLEBODY_FEET_FROM_BODY25

    kp25 = np.asarray(kp25, np.float64)
    out = np.full(kp25.shape[:-2] + (133, kp25.shape[-1]), np.nan)
    out[..., :17, :] = kp25[..., list(COCO17_FROM_BODY25), :]
    out[..., 17:23, :] = kp25[..., list(WHOLEBODY_FEET_FROM_BODY25), :]
    return out
