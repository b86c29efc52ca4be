"""Keypoint file parsers: OpenPose JSON folders, COCO keypoint JSON, MediaPipe 33-landmark JSON/CSV,
TensorFlow.js pose-detection JSON (lists of poses with named keypoints, in pixels).

Every parser returns a `KeypointSet`: per frame, the candidate people as (P, K, 3) arrays of
x, y (pixels) and confidence (0 = missing), in the file's own layout (see LAYOUTS), plus optional
world landmarks (MediaPipe, metres). `tracking.track_subject` then reduces several people per frame
to one subject. `LAYOUTS[name].to_body25` maps a layout's keypoints onto OpenPose BODY_25 indices,
which the fitting uses (the body's BODY_25 regressor). numpy only (runs inside Blender's Python).
"""

from __future__ import annotations

import csv
import math
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from neural_render.body.skeletons import BODY25_NAMES, COCO17_FROM_BODY25, COCO17_NAMES
from neural_render.errors import InputError, quote
from neural_render.motion.motion import MAX_FPS, MIN_FPS
from neural_render.video import natural_key


@dataclass(frozen=True)
class Layout:
    name: str
    names: tuple[str, ...]
    to_body25: dict[int, int]  # layout index -> BODY_25 index (only keypoints with a counterpart)


COCO18_NAMES = ("Nose", "Neck", "RShoulder", "RElbow", "RWrist", "LShoulder", "LElbow", "LWrist", "RHip",
                "RKnee", "RAnkle", "LHip", "LKnee", "LAnkle", "REye", "LEye", "REar", "LEar")
# OpenPose's experimental BODY_25B: COCO-17 order first, then these. Its "Neck" is the upper neck
# and HeadTop has no BODY_25 counterpart, so neither is fitted.
BODY25B_NAMES = tuple(COCO17_NAMES) + ("Neck", "HeadTop", "LBigToe", "LSmallToe", "LHeel", "RBigToe",
                                        "RSmallToe", "RHeel")
MEDIAPIPE33_NAMES = (
    "nose", "left_eye_inner", "left_eye", "left_eye_outer", "right_eye_inner", "right_eye",
    "right_eye_outer", "left_ear", "right_ear", "mouth_left", "mouth_right", "left_shoulder",
    "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_pinky",
    "right_pinky", "left_index", "right_index", "left_thumb", "right_thumb", "left_hip", "right_hip",
    "left_knee", "right_knee", "left_ankle", "right_ankle", "left_heel", "right_heel",
    "left_foot_index", "right_foot_index",
)
_COCO_TO_B25 = {i: b for i, b in enumerate(COCO17_FROM_BODY25)}

LAYOUTS: dict[str, Layout] = {
    "body25": Layout("body25", tuple(BODY25_NAMES), {i: i for i in range(25)}),
    "body25b": Layout("body25b", BODY25B_NAMES, {**_COCO_TO_B25, 19: 19, 20: 20, 21: 21, 22: 22, 23: 23, 24: 24}),
    "coco18": Layout("coco18", COCO18_NAMES, {0: 0, 1: 1, 2: 2, 3: 3, 4: 4, 5: 5, 6: 6, 7: 7, 8: 9, 9: 10, 10: 11,
                                              11: 12, 12: 13, 13: 14, 14: 15, 15: 16, 16: 17, 17: 18}),
    "coco17": Layout("coco17", tuple(COCO17_NAMES), dict(_COCO_TO_B25)),
    "mediapipe33": Layout("mediapipe33", MEDIAPIPE33_NAMES, {
        0: 0, 2: 16, 5: 15, 7: 18, 8: 17, 11: 5, 12: 2, 13: 6, 14: 3, 15: 7, 16: 4, 23: 12, 24: 9,
        25: 13, 26: 10, 27: 14, 28: 11, 29: 21, 30: 24, 31: 19, 32: 22}),
}


@dataclass
class KeypointSet:
    """Detections of one view over a clip, before choosing the subject."""

    layout: str
    people: list[np.ndarray]                 # per frame (P, K, 3): x px, y px, confidence
    source: str = ""
    frame_names: list[str] = field(default_factory=list)
    image_size: tuple[int, int] | None = None  # (width, height) px
    fps: float | None = None
    world: np.ndarray | None = None          # (T, K, 4) metres (x, y, z, visibility), camera-aligned
    world_axes: str = ""                     # how `world` axes are oriented
    normalized: bool = False                 # x, y still in 0..1 (image size unknown)
    hands: np.ndarray | None = None          # (T, 2, 21, 3) left/right hand landmarks, NaN = not found
    separate_images: bool = False            # frames are unrelated photos (COCO annotations), not a clip

    @property
    def num_frames(self) -> int:
        return len(self.people)

    @property
    def num_keypoints(self) -> int:
        return len(LAYOUTS[self.layout].names)


def to_body25(points: np.ndarray, layout: str) -> np.ndarray:
    """(..., K, C) in `layout` -> (..., 25, C) BODY_25 order; unmapped entries are zero (conf 0)."""
    points = np.asarray(points)
    out = np.zeros(points.shape[:-2] + (25, points.shape[-1]), points.dtype)
    for s, d in LAYOUTS[layout].to_body25.items():
        out[..., d, :] = points[..., s, :]
    return out


def _finite_array(values, path, where, shape_hint: str) -> np.ndarray:
    try:
        a = np.asarray(values, np.float64)
    except (TypeError, ValueError, OverflowError):  # (OverflowError: an integer beyond float range)
        raise InputError(f"expected numbers ({shape_hint})", path=path, where=where) from None
    if not np.all(np.isfinite(a)):
        raise InputError("NaN or infinite value", path=path, where=where, fix="remove or zero missing keypoints")
    return a


MAX_IMAGE_SIDE = 100_000     # pixels
MAX_CONFIDENCE = 1.5         # detectors' scores lie in [0, 1] (OpenPose's peaks slightly above)
MAX_ABS_PIXEL = 1e6          # a keypoint further than this from the image is an error, not a detection


def _bounded(value, lo, hi, path, where, kind=float):
    """`value` as `kind` within [lo, hi], or an InputError naming the key."""
    try:
        v = kind(value)
    except (TypeError, ValueError, OverflowError):
        raise InputError(f"expected a number, got {quote(value)}", path=path, where=where) from None
    if not (lo <= v <= hi):
        raise InputError(f"{quote(v, 40)} is outside [{lo}, {hi}]", path=path, where=where)
    return v


def _check_id(v, path, where) -> None:
    """COCO ids are numbers or strings (used as dict keys and sorted)."""
    if isinstance(v, bool) or not isinstance(v, (int, float, str)):
        raise InputError(f"id {quote(v)} is not a number or string", path=path, where=where)


def _check_points(a: np.ndarray, path, where) -> None:
    """(..., 3) x, y, confidence: refuse absurd confidences and coordinates instead of clipping them."""
    c = a[..., 2]
    if c.size and (c.max() > MAX_CONFIDENCE or c.min() < -MAX_CONFIDENCE):
        raise InputError(f"confidence {float(c.max() if c.max() > MAX_CONFIDENCE else c.min()):g} outside "
                         f"[0, 1]", path=path, where=where, fix="keypoint confidences are scores in [0, 1]")
    if a.size and np.abs(a[..., :2]).max() > MAX_ABS_PIXEL:
        raise InputError(f"coordinate {float(np.abs(a[..., :2]).max()):g} px is absurd", path=path, where=where)


def _load_json(path: Path):
    from neural_render.fileio import read_json

    return read_json(path)


# -------------------------------------------------------------------------------------- OpenPose

OPENPOSE_COUNTS = {25: "body25", 18: "coco18"}


def read_openpose(folder: str | Path, layout: str = "auto") -> KeypointSet:
    """A folder of OpenPose per-frame JSON files (`*_keypoints.json`, `name.0001.json`, ...).

    layout: auto | body25 | body25b | coco18. With 25 points, auto tells BODY_25 from BODY_25B by
    geometry (BODY_25's Neck lies between the shoulders, BODY_25B's point 1 is an eye).
    """
    folder = Path(folder)
    if folder.is_file():
        files = [folder]
    elif folder.is_dir():
        files = sorted((p for p in folder.iterdir() if p.suffix.lower() == ".json"), key=lambda p: natural_key(p.name))
    else:
        raise InputError("keypoint folder not found", path=folder)
    if not files:
        raise InputError("no .json files", path=folder, fix="pass OpenPose's --write_json output folder")
    people, count = [], None
    for f in files:
        data = _load_json(f)
        if not isinstance(data, dict) or not isinstance(data.get("people"), list):
            raise InputError("not an OpenPose file: no 'people' list", path=f)
        frame = []
        for i, person in enumerate(data["people"]):
            if not isinstance(person, dict):
                raise InputError("person entry is not an object", path=f, where=f"people[{i}]")
            kp = person.get("pose_keypoints_2d")
            if kp is None or (isinstance(kp, list) and len(kp) == 0):
                continue
            where = f"people[{i}].pose_keypoints_2d"
            a = _finite_array(kp, f, where, "x, y, confidence triplets")
            if a.ndim != 1 or a.size % 3 or a.size // 3 not in OPENPOSE_COUNTS:
                raise InputError(f"{a.size} values; expected 75 (BODY_25/BODY_25B) or 54 (COCO-18)",
                                 path=f, where=where)
            a = a.reshape(-1, 3)
            _check_points(a, f, where)
            if count is not None and a.shape[0] != count:
                raise InputError(f"{a.shape[0]} keypoints but earlier files have {count}", path=f, where=where)
            count = a.shape[0]
            a[:, 2] = np.clip(a[:, 2], 0, 1)
            a[a[:, 2] <= 0] = 0  # OpenPose writes (0, 0, 0) for missing points
            frame.append(a)
        people.append(np.stack(frame) if frame else np.zeros((0, count or 25, 3)))
    if count is None:
        raise InputError("no person detected in any frame", path=folder)
    if layout == "auto":
        layout = OPENPOSE_COUNTS[count] if count != 25 else detect_25_layout(people)
    if layout not in ("body25", "body25b", "coco18") or len(LAYOUTS[layout].names) != count:
        raise InputError(f"layout '{layout}' does not fit {count} keypoints", path=folder,
                         fix="use --layout body25, body25b or coco18")
    people = [p if p.shape[1] == count else np.zeros((0, count, 3)) for p in people]
    return KeypointSet(layout, people, str(folder), [f.name for f in files])


def detect_25_layout(people: list[np.ndarray]) -> str:
    """Tell BODY_25 from BODY_25B by geometry.

    BODY_25B's points 1 and 2 are the eyes, a few centimetres from the nose (point 0); BODY_25's are
    the neck and right shoulder, a sizeable share of the body's size away from it.
    """
    votes = []  # +1 for BODY_25, -1 for BODY_25B
    for frame in people:
        for p in frame:
            ok = p[:, 2] > 0.1
            if ok.sum() < 8:
                continue
            xy = p[ok, :2]
            size = np.linalg.norm(xy.max(0) - xy.min(0)) + 1e-6
            if ok[0] and (ok[1] or ok[2]):
                d = min(np.linalg.norm(p[i, :2] - p[0, :2]) for i in (1, 2) if ok[i]) / size
                votes.append(1 if d > 0.06 else -1)
            # BODY_25's MidHip (8) is the hips' (9, 12) midpoint.
            if ok[8] and ok[9] and ok[12]:
                d = np.linalg.norm(p[8, :2] - (p[9, :2] + p[12, :2]) / 2) / size
                votes.append(1 if d < 0.1 else -1)
    return "body25" if sum(votes) >= 0 else "body25b"


# ------------------------------------------------------------------------------------------ COCO

def read_coco(path: str | Path, image_id: str | int | None = None) -> KeypointSet:
    """COCO keypoint JSON: annotation format (images + annotations) or results format (a list).

    Frames are the images in list order (annotations) or the sorted distinct image_ids (results).
    Annotation visibility v: 0 -> missing, 1 (occluded, labelled) -> 0.5, 2 -> 1. Results: score.
    Several images of an annotation file are unrelated photos (`separate_images`) unless they carry
    video frame numbers (PoseTrack-style `frame_id` / `vid_id`); `image_id` keeps one image, named
    by its id or its file name.
    """
    path = Path(path)
    data = _load_json(path)
    sizes: dict = {}
    if isinstance(data, dict) and "annotations" in data:
        anns = data["annotations"]
        images = data.get("images") or []
        if not isinstance(anns, list) or not isinstance(images, list):
            raise InputError("'annotations' and 'images' must be lists", path=path)
        order, clip = [], bool(images)
        for i, im in enumerate(images):
            if not isinstance(im, dict) or "id" not in im:
                raise InputError("image entry without 'id'", path=path, where=f"images[{i}]")
            _check_id(im["id"], path, f"images[{i}].id")
            order.append(im["id"])
            if "width" in im and "height" in im:
                sizes[im["id"]] = (_bounded(im["width"], 1, MAX_IMAGE_SIDE, path, f"images[{i}].width", int),
                                   _bounded(im["height"], 1, MAX_IMAGE_SIDE, path, f"images[{i}].height", int))
            clip &= any(k in im for k in ("frame_id", "frame_index", "vid_id", "video_id"))
        if image_id is not None:
            hit = [im["id"] for im in images if str(im["id"]) == str(image_id)
                   or Path(str(im.get("file_name", ""))).name == Path(str(image_id)).name]
            if not hit:
                some = ", ".join(str(k) for k in order[:8]) + (" ..." if len(order) > 8 else "")
                raise InputError(f"no image with id or file name '{image_id}'", path=path, where="--image-id",
                                 fix=f"use one of the image ids: {some}")
            order = hit[:1]
        results = False
    elif isinstance(data, list):
        anns, order, results = data, None, True
    else:
        raise InputError("not a COCO keypoint file (expected {'annotations': [...]} or a results list)", path=path)
    by_image: dict = {}
    for i, a in enumerate(anns):
        where = f"{'' if results else 'annotations'}[{i}]"
        if not isinstance(a, dict) or "keypoints" not in a or "image_id" not in a:
            raise InputError("entry needs 'image_id' and 'keypoints'", path=path, where=where)
        _check_id(a["image_id"], path, where + ".image_id")
        if a.get("category_id", 1) != 1:
            continue
        kp = _finite_array(a["keypoints"], path, where + ".keypoints", "51 numbers")
        if kp.shape != (51,):
            raise InputError(f"{kp.size} keypoint values; expected 51 (17 x, y, v)", path=path, where=where + ".keypoints")
        kp = kp.reshape(17, 3).copy()
        if results:
            _check_points(kp, path, where + ".keypoints")
        else:
            _check_points(kp * [1, 1, 0], path, where + ".keypoints")
            if kp[:, 2].min() < 0 or kp[:, 2].max() > 2:
                raise InputError("visibility outside 0, 1, 2", path=path, where=where + ".keypoints")
        if results:
            kp[:, 2] = np.clip(kp[:, 2], 0, 1)
        else:
            kp[:, 2] = np.select([kp[:, 2] >= 2, kp[:, 2] >= 1], [1.0, 0.5], 0.0)
        kp[kp[:, 2] <= 0] = 0
        by_image.setdefault(a["image_id"], []).append(kp)
    if order is None:
        try:
            order = sorted(by_image, key=lambda k: natural_key(str(k)))
        except TypeError:
            order = list(by_image)
    if not order:
        raise InputError("no images / keypoint entries", path=path)
    people = [np.stack(by_image[k]) if k in by_image else np.zeros((0, 17, 3)) for k in order]
    if not any(len(p) for p in people):
        raise InputError("no person keypoints (category 1) in any image", path=path)
    size = sizes.get(order[0])
    return KeypointSet("coco17", people, str(path), [str(k) for k in order], image_size=size,
                       separate_images=not results and len(order) > 1 and not clip)


# ------------------------------------------------------------------------------------- MediaPipe

def read_mediapipe(path: str | Path, image_size: tuple[int, int] | None = None) -> KeypointSet:
    """MediaPipe Pose 33 landmarks from JSON or CSV.

    JSON: a list of frames, or {"frames": [...], "image_width", "image_height", "fps"}; a frame is a
    list of 33 landmarks, or {"landmarks"|"pose_landmarks": [...], "world_landmarks"|
    "pose_world_landmarks": [...]}; a landmark is {x, y, z, visibility} or [x, y, z, visibility].
    Several people per frame: a list of such landmark lists. Empty frame: [] or null.
    CSV: long (columns frame, landmark, x, y, z, visibility [, world_x, world_y, world_z]) or wide
    (one row per frame; columns `<name>_x` / `x<index>` / `<index>_x`, and `world_<...>`).
    Image landmarks are normalized (0..1) and need the image size (from the file, `image_size`, or
    the video) to become pixels; world landmarks are metres, hip-centred, x right, y down, z away
    from the camera.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError("MediaPipe file not found", path=path)
    if path.suffix.lower() == ".csv":
        frames, worlds, meta = _mediapipe_csv(path)
    else:
        frames, worlds, meta = _mediapipe_json(path)
    size = image_size or meta.get("size")
    if not frames:
        raise InputError("no frames", path=path)
    if not any(frames) and not any(w is not None for w in worlds):
        raise InputError(f"no person in any of {len(frames)} frames", path=path)
    _check_normalized(frames, path, meta.get("pixels", False))
    people = []
    for t, cands in enumerate(frames):
        out = []
        for c in cands:
            c = c.copy()
            if size is not None and not meta.get("pixels"):
                c[:, 0] *= size[0]
                c[:, 1] *= size[1]
            pts = np.concatenate([c[:, :2], c[:, 3:4]], 1)
            _check_points(pts, path, f"frame {t}")
            out.append(np.concatenate([pts[:, :2], np.clip(pts[:, 2:3], 0, 1)], 1))
        people.append(np.stack(out) if out else np.zeros((0, 33, 3)))
    world = None
    if any(w is not None for w in worlds):
        world = np.zeros((len(frames), 33, 4))
        for t, w in enumerate(worlds):
            if w is not None:
                if np.abs(np.asarray(w)[:, :3]).max() > 1e3:
                    raise InputError("world landmark further than 1 km from the hips", path=path,
                                     where=f"frame {t}", fix="world landmarks are metres")
                _check_points(np.asarray(w)[:, [0, 1, 3]], path, f"frame {t} world landmarks")
                world[t] = w
                world[t, :, 3] = np.clip(world[t, :, 3], 0, 1)
    ks = KeypointSet("mediapipe33", people, str(path), [str(i) for i in range(len(frames))],
                     image_size=tuple(size) if size else None, fps=meta.get("fps"), world=world,
                     world_axes="mediapipe: x right, y down, z away from camera, origin between hips",
                     normalized=size is None and not meta.get("pixels"))
    return ks


def _check_normalized(frames: list, path: Path, pixels: bool) -> None:
    """MediaPipe image landmarks are 0..1 of the image (a little outside for points out of frame).
    Larger values are pixels: scaling them by the image size again would put the body kilometres away."""
    if pixels:
        return
    xy = [np.abs(c[:, :2]).max() for cands in frames for c in cands]
    if xy and max(xy) > 3.0:
        raise InputError(f"image landmarks reach {max(xy):.0f}, but MediaPipe's are normalized to 0..1 of the image "
                         "(these look like pixels)", path=path,
                         fix='divide x by the image width and y by its height, or add "coordinates": "pixels" '
                             'and image_width / image_height to the JSON')


def _landmarks(obj, path, where) -> np.ndarray:
    if not isinstance(obj, list) or len(obj) != 33:
        n = len(obj) if isinstance(obj, list) else type(obj).__name__
        raise InputError(f"expected 33 landmarks, got {n}", path=path, where=where)
    rows = []
    for i, lm in enumerate(obj):
        if isinstance(lm, dict):
            try:
                rows.append([lm["x"], lm["y"], lm.get("z", 0.0), lm.get("visibility", lm.get("presence", 1.0))])
            except KeyError as e:
                raise InputError(f"landmark without {e}", path=path, where=f"{where}[{i}]") from None
        elif isinstance(lm, (list, tuple)) and len(lm) in (3, 4):
            rows.append(list(lm) + ([1.0] if len(lm) == 3 else []))
        else:
            raise InputError("landmark must be {x, y, z, visibility} or [x, y, z(, visibility)]", path=path, where=f"{where}[{i}]")
    return _finite_array(rows, path, where, "landmark coordinates")


def _person_lists(obj, path, where) -> list:
    """A frame's landmark entry: one person (list of 33) or several (list of lists of 33)."""
    if obj is None or obj == []:
        return []
    if isinstance(obj, list) and obj and isinstance(obj[0], list) and len(obj[0]) == 33:
        return [_landmarks(p, path, f"{where}[{i}]") for i, p in enumerate(obj)]
    return [_landmarks(obj, path, where)]


def _mediapipe_json(path: Path):
    data = _load_json(path)
    meta: dict = {}
    if isinstance(data, dict):
        if "image_width" in data and "image_height" in data:
            meta["size"] = (_bounded(data["image_width"], 1, MAX_IMAGE_SIDE, path, "image_width", int),
                            _bounded(data["image_height"], 1, MAX_IMAGE_SIDE, path, "image_height", int))
        if data.get("fps") is not None:
            meta["fps"] = _bounded(data["fps"], MIN_FPS, MAX_FPS, path, "fps", float)
        meta["pixels"] = data.get("coordinates") == "pixels"
        if meta["pixels"] and "size" not in meta:
            raise InputError('"coordinates": "pixels" needs image_width and image_height', path=path)
        data = data.get("frames")
    if not isinstance(data, list):
        raise InputError("expected a list of frames (or {'frames': [...]})", path=path)
    frames, worlds = [], []
    for t, fr in enumerate(data):
        where = f"frames[{t}]"
        if isinstance(fr, dict):
            img = fr.get("landmarks", fr.get("pose_landmarks"))
            wld = fr.get("world_landmarks", fr.get("pose_world_landmarks"))
        else:
            img, wld = fr, None
        frames.append(_person_lists(img, path, where))
        w = _person_lists(wld, path, where + ".world_landmarks")
        worlds.append(w[0] if w else None)
    return frames, worlds, meta


def _mediapipe_csv(path: Path):
    try:
        with open(path, newline="") as f:
            rows = list(csv.reader(f))
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        raise InputError(f"cannot read CSV ({type(e).__name__}: {e})", path=path) from None
    rows = [r for r in rows if any(c.strip() for c in r)]
    if len(rows) < 2:
        raise InputError("CSV needs a header row and at least one data row", path=path)
    header = [h.strip().lower() for h in rows[0]]

    def num(r, i, line):
        try:
            v = float(r[i])
        except (ValueError, IndexError):
            raise InputError(f"bad number in column '{header[i] if i < len(header) else i}'", path=path,
                             where=f"line {line}") from None
        if not math.isfinite(v):
            raise InputError("NaN or infinite value", path=path, where=f"line {line}")
        return v

    name_idx = {n: i for i, n in enumerate(MEDIAPIPE33_NAMES)}
    if "landmark" in header or "landmark_id" in header or "id" in header:
        col = {h: i for i, h in enumerate(header)}
        lid = col.get("landmark", col.get("landmark_id", col.get("id")))
        fcol = col.get("frame")
        if fcol is None or any(k not in col for k in "xy"):
            raise InputError("long CSV needs columns frame, landmark, x, y (z, visibility optional)", path=path)
        data: dict = {}
        for line, r in enumerate(rows[1:], start=2):
            fr = int(num(r, fcol, line))
            key = r[lid].strip().lower() if lid < len(r) else ""
            k = name_idx.get(key)
            if k is None:
                try:
                    k = int(float(key))
                except ValueError:
                    k = -1
            if not 0 <= k < 33:
                raise InputError(f"unknown landmark '{key}'", path=path, where=f"line {line}")
            img = [num(r, col["x"], line), num(r, col["y"], line),
                   num(r, col["z"], line) if "z" in col else 0.0,
                   num(r, col["visibility"], line) if "visibility" in col else 1.0]
            wld = None
            if "world_x" in col:
                wld = [num(r, col[f"world_{a}"], line) for a in "xyz"] + [img[3]]
            d = data.setdefault(fr, {})
            d[k] = (img, wld)
        frames, worlds = [], []
        for fr in sorted(data):
            if len(data[fr]) != 33:
                raise InputError(f"frame {fr} has {len(data[fr])} landmarks, expected 33", path=path)
            frames.append([np.array([data[fr][k][0] for k in range(33)])])
            w = [data[fr][k][1] for k in range(33)]
            worlds.append(np.array(w) if all(x is not None for x in w) else None)
        return frames, worlds, {}
    # wide: one row per frame
    pat = re.compile(r"^(world_)?(?:([a-z_]+?|\d+)_(x|y|z|visibility|presence)|(x|y|z|visibility|presence)_?(\d+))$")
    cols: dict = {}
    for i, h in enumerate(header):
        m = pat.match(h)
        if not m:
            continue
        world = bool(m.group(1))
        name, axis = (m.group(2), m.group(3)) if m.group(2) else (m.group(5), m.group(4))
        k = int(name) if name.isdigit() else name_idx.get(name)
        if k is None or not 0 <= k < 33:
            continue
        cols[(world, k, "visibility" if axis == "presence" else axis)] = i
    if not all((False, k, a) in cols for k in range(33) for a in "xy"):
        raise InputError("CSV header lacks x/y columns for all 33 landmarks", path=path,
                         fix="columns like nose_x, nose_y, ... or x0, y0, ...; or long format frame,landmark,x,y")
    has_world = all((True, k, a) in cols for k in range(33) for a in "xyz")
    frames, worlds = [], []
    for line, r in enumerate(rows[1:], start=2):
        vis = [num(r, cols[(False, k, "visibility")], line) if (False, k, "visibility") in cols else 1.0 for k in range(33)]
        img = np.array([[num(r, cols[(False, k, "x")], line), num(r, cols[(False, k, "y")], line),
                         num(r, cols[(False, k, "z")], line) if (False, k, "z") in cols else 0.0, vis[k]]
                        for k in range(33)])
        frames.append([img])
        worlds.append(np.array([[num(r, cols[(True, k, a)], line) for a in "xyz"] + [vis[k]] for k in range(33)])
                      if has_world else None)
    return frames, worlds, {}


# ----------------------------------------------------------------------------------- dispatching

# ------------------------------------------------------------------------------- TensorFlow.js

TFJS_COCO_NAMES = tuple(n.lower() for n in (
    "nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder", "right_shoulder", "left_elbow",
    "right_elbow", "left_wrist", "right_wrist", "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle",
    "right_ankle"))
_CAMEL = re.compile(r"(?<!^)(?=[A-Z])")


def _tfjs_name(name: str) -> str:
    """'leftShoulder' (PoseNet 2.x) / 'left_shoulder' (pose-detection) -> 'left_shoulder'."""
    return _CAMEL.sub("_", str(name)).lower()


def _is_tfjs_pose(obj) -> bool:
    return (isinstance(obj, dict) and isinstance(obj.get("keypoints"), list) and bool(obj["keypoints"])
            and isinstance(obj["keypoints"][0], dict) and ("x" in obj["keypoints"][0] or "position" in obj["keypoints"][0]))


def read_tfjs(path: str | Path) -> KeypointSet:
    """TensorFlow.js pose-detection / PoseNet output, in pixels.

    A frame is a list of poses, a pose {"keypoints": [{"x", "y", "score", "name"} | {"position":
    {x, y}, "score", "part"}, ...], "score"}. The file: one frame (a list of poses), a list of
    frames, or {"frames": [...], "fps", "image_width", "image_height"}. Keypoint names choose the
    layout: COCO-17 (MoveNet, PoseNet) or MediaPipe's 33 (BlazePose); unnamed keypoints go by count.
    """
    path = Path(path)
    data = _load_json(path)
    meta = data if isinstance(data, dict) else {}
    frames = data.get("frames") if isinstance(data, dict) else data
    if not isinstance(frames, list) or not frames:
        raise InputError("expected a list of poses, or of frames of poses", path=path)
    if _is_tfjs_pose(frames[0]) or frames[0] == []:
        frames = [frames] if all(_is_tfjs_pose(f) for f in frames) else frames
    names_all = None
    people = []
    for t, fr in enumerate(frames):
        if fr is None:
            fr = []
        if not isinstance(fr, list):
            raise InputError("frame is not a list of poses", path=path, where=f"frames[{t}]")
        cands = []
        for i, pose in enumerate(fr):
            where = f"frames[{t}][{i}]"
            if not _is_tfjs_pose(pose):
                raise InputError("pose needs a 'keypoints' list of {x, y, score, name}", path=path, where=where)
            rows, names = [], []
            for j, k in enumerate(pose["keypoints"]):
                pos = k.get("position", k)
                try:
                    rows.append([float(pos["x"]), float(pos["y"]), float(k.get("score", 1.0))])
                except (KeyError, TypeError, ValueError):
                    raise InputError("keypoint needs numeric x and y", path=path, where=f"{where}.keypoints[{j}]") from None
                names.append(_tfjs_name(k.get("name", k.get("part", j))))
            a = _finite_array(rows, path, where, "x, y, score")
            if names_all is None:
                names_all = names
            elif names != names_all:
                raise InputError("keypoint names differ from the first pose's", path=path, where=where)
            cands.append(a)
        people.append(cands)
    if names_all is None:
        raise InputError(f"no person in any of {len(frames)} frames", path=path)
    if set(names_all) >= set(TFJS_COCO_NAMES):
        layout, order = "coco17", [names_all.index(n) for n in TFJS_COCO_NAMES]
    elif set(names_all) >= set(MEDIAPIPE33_NAMES):
        layout, order = "mediapipe33", [names_all.index(n) for n in MEDIAPIPE33_NAMES]
    elif len(names_all) in (17, 33):
        layout, order = ("coco17" if len(names_all) == 17 else "mediapipe33"), list(range(len(names_all)))
    else:
        raise InputError(f"{len(names_all)} keypoints named {names_all[:4]}...: neither COCO-17 (MoveNet/PoseNet) "
                         "nor BlazePose's 33", path=path)
    K = len(order)
    out = []
    for cands in people:
        arr = np.stack([c[order] for c in cands]) if cands else np.zeros((0, K, 3))
        arr[..., 2] = np.clip(arr[..., 2], 0, 1)
        out.append(arr)
    size = (int(meta["image_width"]), int(meta["image_height"])) if "image_width" in meta and "image_height" in meta else None
    return KeypointSet(layout, out, str(path), [str(i) for i in range(len(out))], image_size=size,
                       fps=float(meta["fps"]) if meta.get("fps") else None)


# ----------------------------------------------------------------------------------- dispatching

FORMAT_NAMES = {"openpose": "OpenPose JSON (a 'people' list per file)",
                "coco": "COCO keypoints (annotations with images, or a results list with image_id)",
                "mediapipe": "MediaPipe landmarks (frames of 33 landmarks)",
                "tfjs": "TensorFlow.js pose-detection output (lists of poses with named keypoints)"}


def read_keypoints(src: str | Path, fmt: str = "auto", layout: str = "auto",
                   image_size: tuple[int, int] | None = None, image_id: str | int | None = None) -> KeypointSet:
    """Read one view's keypoints. fmt: auto | openpose | coco | mediapipe | tfjs.

    A file whose structure does not fit the chosen format is refused, naming the format it looks like.
    """
    src = Path(src)
    if not src.exists():
        raise InputError("keypoint source not found", path=src)
    sniffed = sniff_format(src)
    if fmt == "auto":
        fmt = sniffed
    elif fmt != sniffed and sniffed != "unknown" and not (fmt == "openpose" and src.is_dir()):
        raise InputError(f"--format {fmt}, but the file looks like {FORMAT_NAMES[sniffed]}", path=src,
                         fix=f"use --format {sniffed} (or auto)")
    if fmt == "unknown":
        raise InputError("not a keypoint layout this tool reads", path=src,
                         fix="expected " + "; ".join(FORMAT_NAMES.values()))
    if image_id is not None and fmt != "coco":
        raise InputError("--image-id applies to COCO annotation files only", path=src, where="--image-id")
    if fmt == "openpose":
        ks = read_openpose(src, layout)
    elif fmt == "coco":
        ks = read_coco(src, image_id)
    elif fmt == "mediapipe":
        ks = read_mediapipe(src, image_size)
    elif fmt == "tfjs":
        ks = read_tfjs(src)
    else:
        raise InputError(f"unknown keypoint format '{fmt}'", path=src, fix="use openpose, coco, mediapipe or tfjs")
    if image_size is not None and ks.image_size is None:
        ks.image_size = tuple(image_size)
    return ks


def sniff_format(src: Path) -> str:
    """openpose | coco | mediapipe | tfjs | unknown, from the structure of the file."""
    if src.is_dir():
        return "openpose"
    if src.suffix.lower() == ".csv":
        return "mediapipe"
    return structure_format(_load_json(src))


def structure_format(data) -> str:
    """What a parsed JSON document looks like (see sniff_format)."""
    if isinstance(data, dict):
        if "people" in data:
            return "openpose"
        if "annotations" in data or ("images" in data and "categories" in data):
            return "coco"
        if isinstance(data.get("frames"), list):
            return structure_format(data["frames"])
        if _is_tfjs_pose(data):
            return "tfjs"
        if any(k in data for k in ("landmarks", "pose_landmarks", "world_landmarks")):
            return "mediapipe"
        return "unknown"
    if not isinstance(data, list):
        return "unknown"
    first = next((d for d in data if d not in (None, [])), None)
    if first is None:
        return "mediapipe" if data else "unknown"
    if isinstance(first, dict):
        if "image_id" in first and "keypoints" in first:
            return "coco"
        if _is_tfjs_pose(first):
            return "tfjs"
        if any(k in first for k in ("landmarks", "pose_landmarks", "world_landmarks")):
            return "mediapipe"
        if {"x", "y"} <= set(first):
            return "mediapipe"   # one frame of landmark dicts
        return "unknown"
    if isinstance(first, list):
        inner = next((d for d in first if d not in (None, [])), None)
        if isinstance(inner, dict) and _is_tfjs_pose(inner):
            return "tfjs"
        if isinstance(inner, (dict, list)) or isinstance(inner, (int, float)):
            return "mediapipe"
    return "unknown"
