"""Labels: COCO keypoints with visibility, masks as COCO RLE, OpenPose BODY_25 JSON, SMPL parameters.

COCO conventions used (https://cocodataset.org/#format-data):
- keypoints: 17 x [x, y, v] in pixels, pixel centres at integer coordinates; v=2 visible, v=1 in the
  image but occluded, v=0 outside the image (then x = y = 0). `num_keypoints` counts v > 0.
- segmentation: compressed RLE {"size": [H, W], "counts": str} of the person's own mask (column-major
  runs starting with background, as pycocotools' `mask.encode`); bbox [x, y, w, h] of that mask;
  area = its pixel count.
Visibility test (`keypoint_visibility`): a keypoint is visible (v=2) when it projects inside the image,
the first surface the camera ray towards it meets belongs to its own body and lies at most
`tolerance` metres in front of it (joints sit inside the body), and the rendered instance mask at
its pixel is that person. So every visible keypoint lies inside its person's mask.
OpenPose JSON: `pose_keypoints_2d` = 25 x [x, y, c] with c = 1 visible, 0.5 occluded, 0 outside.
"""

from __future__ import annotations

import numpy as np

from neural_render.body.skeletons import COCO17_LIMBS, COCO17_NAMES

VISIBLE, OCCLUDED, OUTSIDE = 2, 1, 0


# ---------------------------------------------------------------------------------------------- RLE

def rle_counts(mask: np.ndarray) -> list[int]:
    """Uncompressed COCO RLE counts of a binary (H, W) mask: column-major runs, first run = zeros."""
    flat = np.asarray(mask, bool).ravel(order="F")
    if flat.size == 0:
        return [0]
    change = np.flatnonzero(flat[1:] != flat[:-1]) + 1
    bounds = np.concatenate([[0], change, [flat.size]])
    runs = np.diff(bounds).tolist()
    if flat[0]:
        runs = [0] + runs
    return [int(r) for r in runs]


def rle_to_string(counts: list[int]) -> str:
    """COCO's compressed counts string (pycocotools `rleToString`): delta-coded LEB128-like, 5 bits/char."""
    out = []
    for i, c in enumerate(counts):
        x = int(c)
        if i > 2:
            x -= int(counts[i - 2])
        more = True
        while more:
            ch = x & 0x1F
            x >>= 5  # arithmetic shift, as the C code's `long`
            more = (x != -1) if (ch & 0x10) else (x != 0)
            if more:
                ch |= 0x20
            out.append(chr(ch + 48))
    return "".join(out)


def rle_from_string(s: str) -> list[int]:
    """Inverse of `rle_to_string` (pycocotools `rleFrString`)."""
    counts: list[int] = []
    p = 0
    while p < len(s):
        x, k, more = 0, 0, True
        while more:
            ch = ord(s[p]) - 48
            x |= (ch & 0x1F) << (5 * k)
            more = bool(ch & 0x20)
            p += 1
            k += 1
            if not more and (ch & 0x10):
                x |= -1 << (5 * k)
        if len(counts) > 2:
            x += counts[-2]
        counts.append(x)
    return counts


def encode_mask(mask: np.ndarray) -> dict:
    """COCO compressed RLE {"size": [H, W], "counts": str} of a binary mask."""
    H, W = mask.shape
    return {"size": [int(H), int(W)], "counts": rle_to_string(rle_counts(mask))}


def decode_mask(rle: dict) -> np.ndarray:
    """Binary (H, W) uint8 mask from a COCO RLE (compressed string or list counts)."""
    H, W = rle["size"]
    counts = rle["counts"]
    if isinstance(counts, (str, bytes)):
        counts = rle_from_string(counts.decode() if isinstance(counts, bytes) else counts)
    flat = np.zeros(H * W, np.uint8)
    pos, val = 0, 0
    for c in counts:
        flat[pos:pos + c] = val
        pos += c
        val ^= 1
    if pos != H * W:
        raise ValueError(f"RLE covers {pos} pixels, image has {H * W}")
    return flat.reshape((W, H)).T


def bbox_of(mask: np.ndarray) -> list[float]:
    """COCO bbox [x, y, w, h] (pixel edges) of a binary mask; zeros when empty."""
    ys, xs = np.nonzero(mask)
    if xs.size == 0:
        return [0.0, 0.0, 0.0, 0.0]
    return [float(xs.min()), float(ys.min()), float(xs.max() - xs.min() + 1), float(ys.max() - ys.min() + 1)]


# ---------------------------------------------------------------------------------------- visibility

def pixel_of(uv: np.ndarray) -> np.ndarray:
    """Pixel (col, row) holding each point (pixel centres at integer coordinates)."""
    return np.floor(np.asarray(uv) + 0.5).astype(np.int64)


def keypoint_visibility(points: np.ndarray, person: int, uv: np.ndarray, eye: np.ndarray,
                        ray_hit, instance_ids: np.ndarray, tolerance: float) -> np.ndarray:
    """COCO visibility (K,) in {0, 1, 2} of one person's keypoints.

    Args:
        points: (K, 3) world keypoints of `person`.
        person: instance id of the person (1-based, as in `instance_ids`).
        uv: (K, 2) their projections.
        eye: (3,) camera centre, world.
        ray_hit: callable(origin (3,), direction (3,) unit, max_dist) -> (distance, instance id) of the
            first surface hit along the ray, or (inf, 0) when nothing is hit (the renderer's geometry).
        instance_ids: (H, W) rendered instance ids (0 = background).
        tolerance: metres a joint may lie behind its own body's first surface and still count visible.
    """
    H, W = instance_ids.shape
    px = pixel_of(uv)
    vis = np.zeros(len(points), np.int64)
    for k, X in enumerate(points):
        c, r = px[k]
        if not (0 <= c < W and 0 <= r < H):
            continue
        vis[k] = OCCLUDED
        d = X - eye
        dist = float(np.linalg.norm(d))
        hit_dist, hit_id = ray_hit(eye, d / dist, dist + 1.0)
        geometric = (hit_dist > dist) or (hit_id == person and dist - hit_dist <= tolerance)
        if geometric and instance_ids[r, c] == person:
            vis[k] = VISIBLE
    return vis


# -------------------------------------------------------------------------------------------- COCO

def coco_categories() -> list[dict]:
    return [{"id": 1, "name": "person", "supercategory": "person", "keypoints": list(COCO17_NAMES),
             "skeleton": [[a + 1, b + 1] for a, b in COCO17_LIMBS]}]


def coco_keypoints(uv: np.ndarray, vis: np.ndarray) -> list[float]:
    """Flat [x1, y1, v1, ...] with x = y = 0 where v = 0; coordinates rounded to 1/1000 px."""
    out = []
    for (x, y), v in zip(np.asarray(uv, np.float64), vis):
        if v == OUTSIDE:
            out += [0, 0, 0]
        else:
            out += [round(float(x), 3), round(float(y), 3), int(v)]
    return out


def openpose_people(people_uv: list[np.ndarray], people_vis: list[np.ndarray]) -> dict:
    """OpenPose-style JSON for one frame (version 1.3 layout, BODY_25)."""
    conf = {VISIBLE: 1.0, OCCLUDED: 0.5, OUTSIDE: 0.0}
    people = []
    for uv, vis in zip(people_uv, people_vis):
        flat = []
        for (x, y), v in zip(np.asarray(uv, np.float64), vis):
            flat += [0.0, 0.0, 0.0] if v == OUTSIDE else [round(float(x), 3), round(float(y), 3), conf[int(v)]]
        people.append({"person_id": [-1], "pose_keypoints_2d": flat, "face_keypoints_2d": [],
                       "hand_left_keypoints_2d": [], "hand_right_keypoints_2d": [],
                       "pose_keypoints_3d": [], "face_keypoints_3d": [], "hand_left_keypoints_3d": [],
                       "hand_right_keypoints_3d": []})
    return {"version": 1.3, "people": people}


def assemble_coco(sample_labels: list[dict], info: dict) -> dict:
    """The dataset's COCO keypoints json from per-sample label dicts (in sample order)."""
    images, annotations = [], []
    for lab in sample_labels:
        for fr in lab["frames"]:
            images.append({"id": fr["image_id"], "file_name": fr["file_name"], "width": fr["width"],
                           "height": fr["height"], "sample": lab["sample"], "frame_in_sample": fr["frame_in_sample"],
                           "camera": fr["camera"]})
            for p in fr["people"]:
                annotations.append(p["coco"])
    return {"info": info, "licenses": [], "images": images, "annotations": annotations,
            "categories": coco_categories()}


# ------------------------------------------------------------------------------ COCO-WholeBody

# COCO-WholeBody's annotation fields beside COCO's 17 body "keypoints" (133 points in all:
# body 0-16, feet 17-22, face 23-90, left hand 91-111, right hand 112-132).
WHOLEBODY_PARTS = (("foot", 17, 23), ("face", 23, 91), ("lefthand", 91, 112), ("righthand", 112, 133))


def wholebody_fields(uv: np.ndarray, vis: np.ndarray, margin: float = 0.1) -> dict:
    """COCO-WholeBody fields of one person from its 133 projected points (uv (133, 2), vis (133,)):
    `foot_kpts`, `face_kpts`, `lefthand_kpts`, `righthand_kpts` ([x, y, v] flat), `*_valid` (any
    point in the image) and `face_box` / `lefthand_box` / `righthand_box` ([x, y, w, h] around the
    points in the image, `margin` of their size added each side; zeros when none)."""
    out: dict = {}
    for name, a, b in WHOLEBODY_PARTS:
        out[f"{name}_kpts"] = coco_keypoints(uv[a:b], vis[a:b])
        ok = np.asarray(vis[a:b]) > OUTSIDE
        out[f"{name}_valid"] = bool(ok.any())
        if name != "foot":
            box = [0.0, 0.0, 0.0, 0.0]
            if ok.any():
                p = np.asarray(uv[a:b], np.float64)[ok]
                lo, hi = p.min(0), p.max(0)
                pad = margin * (hi - lo) + 1.0
                lo, hi = lo - pad, hi + pad
                box = [round(float(lo[0]), 2), round(float(lo[1]), 2), round(float(hi[0] - lo[0]), 2),
                       round(float(hi[1] - lo[1]), 2)]
            out[f"{name}_box"] = box
    return out
