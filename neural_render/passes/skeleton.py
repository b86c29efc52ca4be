"""The skeleton pass: OpenPose-style drawings of the body's projected keypoints.

Keypoints are never detected in images: they come from the posed body (its BODY_25 regressor),
projected with the pass camera. Both renderers call the same `draw_skeleton` with the same
projected keypoints, so their skeleton images are identical.

Styles (palettes in smpl_assets/palettes/):
- ``body25``: OpenPose BODY_25, limbs coloured by their second keypoint, full colour.
- ``coco18``: OpenPose COCO-18 as the ControlNet openpose annotator draws it (limbs at 60 %).
- ``wholebody``: DWPose's whole-body drawing of the 133 COCO-WholeBody keypoints (body, feet,
  hands, face; `neural_render.passes.wholebody`), for DWPose-driven video models.
Limb width and joint radius scale with resolution: 4 px at 512 (ControlNet's stick width).

Occlusion-aware mode: limbs of all people are drawn far to near (so nearer limbs cover farther
ones), and keypoints hidden behind a surface (see `keypoint_visibility`) and the limbs touching
them are drawn at half brightness. Per-keypoint visibility uses the COCO flags 0 = outside the
image (or behind the camera), 1 = occluded, 2 = visible.
"""

from __future__ import annotations

import numpy as np

from neural_render.passes.spec import VIS_OCCLUDED, VIS_OUTSIDE, VIS_VISIBLE, load_palette


def style_palette(style: str) -> dict:
    """Keypoint selection (indices into BODY_25), limbs, colours for a skeleton style."""
    if style == "body25":
        pal = load_palette("openpose_body25")
        cols = np.asarray(pal["keypoint_colors"], np.float64)
        limbs = [tuple(l) for l in pal["limbs"]]
        return {"select": list(range(25)), "limbs": limbs, "kp_colors": cols,
                "limb_colors": np.stack([cols[b] for _, b in limbs]), "alpha": float(pal["limb_alpha"])}
    if style == "coco18":
        pal = load_palette("openpose_coco18")
        return {"select": list(pal["from_body25"]), "limbs": [tuple(l) for l in pal["limbs"]],
                "kp_colors": np.asarray(pal["keypoint_colors"], np.float64),
                "limb_colors": np.asarray(pal["limb_colors"], np.float64), "alpha": float(pal["limb_alpha"])}
    from neural_render.errors import InputError

    raise InputError(f"unknown skeleton style '{style}'", fix="use body25, coco18 or wholebody")


def stick_width(width: int, height: int) -> int:
    """Limb half-width / joint radius in pixels: 4 at 512 px, scaled with the shorter side."""
    return max(1, int(round(4 * min(width, height) / 512)))


def keypoint_visibility(uv: np.ndarray, z: np.ndarray, width: int, height: int,
                        depth: np.ndarray | None = None, instance: np.ndarray | None = None,
                        instance_id: int = 1, tolerance: float = 0.12) -> np.ndarray:
    """(K,) uint8 COCO visibility of projected keypoints.

    A keypoint is outside (0) if it is behind the camera or off the image. It is occluded (1) when
    the rendered surface at its pixel is nearer than the keypoint by more than `tolerance` metres
    (keypoints lie inside the body, up to about that far under the skin), or by more than 2 cm when
    that surface belongs to another person. Otherwise visible (2).
    """
    uv = np.asarray(uv, np.float64)
    z = np.asarray(z, np.float64)
    vis = np.full(len(z), VIS_VISIBLE, np.uint8)
    px = np.round(uv).astype(np.int64) if len(uv) else np.zeros((0, 2), np.int64)
    inside = (z > 0) & np.all(np.isfinite(uv), 1)
    inside &= (px[:, 0] >= 0) & (px[:, 0] < width) & (px[:, 1] >= 0) & (px[:, 1] < height)
    vis[~inside] = VIS_OUTSIDE
    if depth is None:
        return vis
    for k in np.flatnonzero(inside):
        d = float(depth[px[k, 1], px[k, 0]])
        if d <= 0:  # background: nothing covers it
            continue
        other = instance is not None and int(instance[px[k, 1], px[k, 0]]) not in (0, instance_id)
        if d < z[k] - (0.02 if other else tolerance):
            vis[k] = VIS_OCCLUDED
    return vis


def draw_skeleton(width: int, height: int, people: list[dict], style: str = "body25",
                  occlusion: bool = False) -> np.ndarray:
    """Draw people's skeletons on black; returns (H, W, 3) uint8 RGB.

    people: one dict per person with "uv" (25, 2) BODY_25 pixel positions (OpenCV, centres at
    integers), "z" (25,) depth in metres and optionally "visibility" (25,) COCO flags. The
    ``wholebody`` style draws each person's "wholebody" record instead (the same keys for the 133
    COCO-WholeBody points; see `annotate`).
    """
    import cv2

    if style == "wholebody":
        from neural_render.passes.wholebody import draw_wholebody

        return draw_wholebody(width, height, [p["wholebody"] for p in people if p.get("wholebody")], occlusion)

    pal = style_palette(style)
    sel = pal["select"]
    r = stick_width(width, height)
    canvas = np.zeros((height, width, 3), np.float64)
    # Fixed-point drawing (shift) keeps sub-pixel positions, so limbs do not snap to the grid.
    SHIFT = 4
    S = 1 << SHIFT
    items = []  # (depth, kind, person, index)
    for p_i, p in enumerate(people):
        uv = np.asarray(p["uv"], np.float64)[sel]
        z = np.asarray(p["z"], np.float64)[sel]
        ok = (z > 0) & np.all(np.isfinite(uv), 1)
        for l_i, (a, b) in enumerate(pal["limbs"]):
            if ok[a] and ok[b]:
                items.append((0.5 * (z[a] + z[b]), 0, p_i, l_i))
        for k in range(len(sel)):
            if ok[k]:
                items.append((z[k], 1, p_i, k))
    if occlusion:
        # Far to near; at equal depth limbs before joints.
        items.sort(key=lambda it: (-it[0], it[1]))
    else:
        items.sort(key=lambda it: (it[1], it[2], it[3]))  # OpenPose order: all limbs, then joints
    for _, kind, p_i, idx in items:
        p = people[p_i]
        uv = np.asarray(p["uv"], np.float64)[sel]
        vis = np.asarray(p.get("visibility", np.full(25, VIS_VISIBLE)))[sel]
        if kind == 0:
            a, b = pal["limbs"][idx]
            colour = pal["limb_colors"][idx]
            dim = occlusion and (vis[a] == VIS_OCCLUDED or vis[b] == VIS_OCCLUDED)
            _draw_limb(canvas, uv[a], uv[b], r, colour * (0.5 if dim else 1.0), pal["alpha"], S, SHIFT, cv2)
        else:
            colour = pal["kp_colors"][idx] * (0.5 if occlusion and vis[idx] == VIS_OCCLUDED else 1.0)
            c = tuple(int(round(v * S)) for v in uv[idx])
            cv2.circle(canvas, c, r * S, tuple(float(v) for v in colour), -1, cv2.LINE_8, SHIFT)
    return np.clip(np.round(canvas), 0, 255).astype(np.uint8)


def _draw_limb(canvas, pa, pb, r, colour, alpha, S, SHIFT, cv2) -> None:
    d = pb - pa
    length = float(np.hypot(*d))
    angle = float(np.degrees(np.arctan2(d[1], d[0])))
    centre = 0.5 * (pa + pb)
    # An ellipse spanning the two keypoints, `r` thick (as OpenPose/ControlNet draw limbs).
    poly = cv2.ellipse2Poly((int(round(centre[0] * S)), int(round(centre[1] * S))),
                            (int(round(length / 2 * S)), int(r * S)), int(round(angle)), 0, 360, 1)
    if alpha >= 1.0:
        cv2.fillConvexPoly(canvas, poly, tuple(float(v) for v in colour), cv2.LINE_8, SHIFT)
        return
    layer = np.zeros_like(canvas)
    cv2.fillConvexPoly(layer, poly, tuple(float(v) for v in colour), cv2.LINE_8, SHIFT)
    m = layer.any(2)
    canvas[m] = (1 - alpha) * canvas[m] + alpha * layer[m]
