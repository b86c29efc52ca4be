"""`neural-render detect` output: run the detector over a video / frames / photo and write DIR.

DIR/keypoints_coco.json  COCO keypoint *results* format: a list with one entry per frame where the
                         subject was found: {"image_id": frame index from 0, "category_id": 1,
                         "keypoints": 17 x [x, y, score] in COCO order, source-frame pixels,
                         "score": mean keypoint visibility, "bbox": [x, y, w, h]}.
DIR/landmarks.json       every landmark (schema below); `motion import` reads it (MediaPipe format).
DIR/masks/000001.png     the subject's mask per frame (uint8 0/255, source size); 000001 = frame 0.

landmarks.json (`"format": "neural-render-landmarks/1"`):
    {"format", "source", "detector", "image_width", "image_height", "fps" (absent for frames/photo),
     "num_frames", "lost_frames": [frame indices where the subject was not found],
     "frames": [ per frame, in order:
        {"frame": t, "landmarks": 33 x [x, y, z, visibility], normalized (x / width, y / height,
         z / width; MediaPipe Pose order), "world_landmarks": 33 x [x, y, z, visibility] metres
         (x right, y down, z away from the camera, origin between the hips),
         "hands": {"left"|"right": 21 x [x, y, z] normalized as above} (only hands found),
         "bbox": [x0, y0, x1, y1] px, "score": 0..1, "mask": "masks/000001.png"}
        or {"frame": t, "landmarks": null, "lost": true} ]}
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from neural_render.errors import InputError
from neural_render.fileio import atomic_dir, write_image, write_json

LANDMARKS_FORMAT = "neural-render-landmarks/1"


def source_kind(src: str | Path) -> str:
    """"video", "frames" (a folder of images) or "photo" (one image file); InputError otherwise."""
    from neural_render.video import IMAGE_SUFFIXES, VIDEO_SUFFIXES, image_sequence

    p = Path(src)
    if p.is_dir():
        if image_sequence(p):
            return "frames"
        raise InputError("folder has no images", path=p, fix="pass a video, a folder of png/jpg frames or a photo")
    if not p.is_file():
        raise InputError("not found", path=p)
    if p.suffix.lower() in IMAGE_SUFFIXES:
        return "photo"
    if p.suffix.lower() in VIDEO_SUFFIXES:
        return "video"
    raise InputError(f"'{p.suffix}' is neither a video nor an image", path=p,
                     fix=f"use a video ({', '.join(VIDEO_SUFFIXES)}), an image or a folder of images")


def frame_entry(t: int, det, mask_name: str | None) -> dict:
    """The landmarks.json entry of frame t (det: Detection | None)."""
    if det is None:
        return {"frame": t, "landmarks": None, "lost": True}
    W, H = det.image_size
    norm = np.array([W, H, W, 1.0])
    e = {"frame": t, "landmarks": np.round(det.landmarks / norm, 6).tolist(),
         "world_landmarks": np.round(det.world, 5).tolist(),
         "hands": {k: np.round(v / norm[:3], 6).tolist() for k, v in det.hands.items()},
         "bbox": np.round(det.bbox(), 2).tolist(), "score": round(det.score, 4)}
    if mask_name:
        e["mask"] = mask_name
    return e


def coco_entry(t: int, det) -> dict:
    """The keypoints_coco.json (COCO results) entry of frame t."""
    kp = det.coco17
    kp[:, 2] = np.clip(kp[:, 2], 0, 1)
    x0, y0, x1, y1 = det.bbox()
    return {"image_id": int(t), "category_id": 1, "keypoints": np.round(kp, 3).reshape(-1).tolist(),
            "score": round(det.score, 4), "bbox": [round(float(x0), 2), round(float(y0), 2),
                                                    round(float(x1 - x0), 2), round(float(y1 - y0), 2)]}


def run_detect(src: str | Path, out: str | Path, person: str | None = None, hands: bool = True,
               masks: bool = True, frames: tuple[int, int] | None = None, progress: bool = True) -> dict:
    """Detect the subject in every frame of `src` and write DIR (see the module doc) atomically.

    Returns a summary: frames, detected, lost_frames, ms_per_frame, out. Raises InputError when no
    frame has a person (nothing is written then).
    """
    from neural_render.capture.detect import MEDIAPIPE_VERSION, PoseDetector, iter_detections, parse_person
    from neural_render.video import frame_info
    from neural_render.fileio import read_image

    src = Path(src)
    kind = source_kind(src)
    box = parse_person(person)
    if kind == "photo":
        info = {"fps": None}
        rgb = read_image(src)
        if box is not None:
            with PoseDetector(video=False, hands=hands) as d:
                det = d.in_box(rgb, box if len(box) == 4 else
                               np.array([box[0] - 0.3 * rgb.shape[0], box[1] - 0.5 * rgb.shape[0],
                                         box[0] + 0.3 * rgb.shape[0], box[1] + 0.5 * rgb.shape[0]]))
        else:
            with PoseDetector(video=False, hands=hands) as d:
                det = d.subject(rgb)
        stream = iter([(0, det)])
        size = (rgb.shape[1], rgb.shape[0])
    else:
        info = frame_info(src)
        a, b = frames if frames else (0, None)
        stream = iter_detections(src, person=box, hands=hands, segmentation=masks, start=a, stop=b,
                                 progress=progress)
        size = (info["width"], info["height"])
    out = Path(out)
    t0 = time.perf_counter()
    entries, coco, lost = [], [], []
    with atomic_dir(out) as tmp:
        for t, det in stream:
            mask_name = None
            if det is not None and masks and det.mask is not None:
                mask_name = f"masks/{t + 1:06d}.png"
                write_image(tmp / mask_name, np.where(det.mask >= 0.5, 255, 0).astype(np.uint8))
            entries.append(frame_entry(t, det, mask_name))
            if det is None:
                lost.append(t)
            else:
                coco.append(coco_entry(t, det))
        if not coco:
            raise InputError(f"no person found in any of {len(entries)} frame(s)", path=src,
                             fix="check that one whole person is visible")
        elapsed = time.perf_counter() - t0
        doc = {"format": LANDMARKS_FORMAT, "source": str(src), "kind": kind,
               "detector": f"mediapipe {MEDIAPIPE_VERSION}: pose_landmark_full + pose segmentation"
                           + (" + hand_landmark_full" if hands else ""),
               "image_width": size[0], "image_height": size[1], "num_frames": len(entries),
               "lost_frames": lost, "frames": entries}
        if info.get("fps"):
            doc["fps"] = info["fps"]
        write_json(tmp / "landmarks.json", doc, indent=None)
        write_json(tmp / "keypoints_coco.json", coco, indent=None)
    return {"out": str(out), "frames": len(entries), "detected": len(coco), "lost_frames": lost,
            "ms_per_frame": round(1000 * elapsed / max(1, len(entries)), 1)}
