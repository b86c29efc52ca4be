"""A video, a folder of frames or a photo -> the subject's keypoints, with the built-in detector.

`detect_keypoint_set(src)` runs neural_render/capture/detect.py over the source and returns a
`KeypointSet` (MediaPipe 33 landmarks in source pixels + the world landmarks) that the keypoint fit
reads like any keypoint file (`neural_render.motion.importers.import_motion(..., fmt="video",
keypoint_set=...)`, which `neural-render motion import VIDEO|PHOTO` and `prepare` call). Lost
frames stay empty (confidence 0): the fit bridges them with its smoothness terms and flags them.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from neural_render.errors import InputError


def detect_keypoint_set(src: str | Path, frames: tuple[int, int | None] | None = None, person: str | None = None,
                        progress: bool = True, hands: bool = False):
    """KeypointSet of the subject in `src` (video, frames folder or photo); InputError when no frame
    has a person. frames (A, B): only those source frames (B None = to the end); the set's frame 0
    is source frame A (its `frame_names` hold the source indices). hands: also detect the hands;
    the set's `hands` (T, 2, 21, 3) then holds each frame's left/right hand landmarks (x px, y px,
    MediaPipe's relative depth in x's scale; NaN where not found)."""
    from neural_render.capture.detect import PoseDetector, iter_detections, parse_person
    from neural_render.capture.detect_output import source_kind
    from neural_render.video import frame_info
    from neural_render.fileio import read_image
    from neural_render.motion.keypoints import KeypointSet

    src = Path(src)
    kind = source_kind(src)
    box = parse_person(person)
    if kind == "photo":
        rgb = read_image(src)
        with PoseDetector(video=False, segmentation=False, hands=hands) as det:
            if box is None:
                found = [(0, det.subject(rgb))]
            else:
                H = rgb.shape[0]
                b = box if len(box) == 4 else np.array([box[0] - 0.3 * H, box[1] - 0.5 * H, box[0] + 0.3 * H,
                                                        box[1] + 0.5 * H])
                found = [(0, det.in_box(rgb, b))]
        size, fps = (rgb.shape[1], rgb.shape[0]), None
    else:
        info = frame_info(src)
        a, b = (frames[0] or 0, frames[1]) if frames else (0, None)
        found = list(iter_detections(src, person=box, segmentation=False, hands=hands, start=a, stop=b,
                                     progress=progress))
        size, fps = (info["width"], info["height"]), info["fps"]
    if not found:
        raise InputError("no frames in the selected range", path=src, where="--frames")
    if all(d is None for _, d in found):
        raise InputError(f"no person found in any of {len(found)} frame(s)", path=src,
                         fix="check that one whole person is visible")
    people, world = [], np.zeros((len(found), 33, 4))
    for i, (_, d) in enumerate(found):
        if d is None:
            people.append(np.zeros((0, 33, 3)))
            continue
        people.append(d.landmarks[None][..., [0, 1, 3]].clip(min=[-np.inf, -np.inf, 0], max=[np.inf, np.inf, 1]))
        world[i] = d.world
    ks = KeypointSet("mediapipe33", people, str(src), [str(t) for t, _ in found], image_size=size, fps=fps,
                     world=world, world_axes="mediapipe: x right, y down, z away from camera, origin between hips")
    if hands:
        hl = np.full((len(found), 2, 21, 3), np.nan)
        for i, (_, d) in enumerate(found):
            for s, name in enumerate(("left", "right")):
                if d is not None and name in getattr(d, "hands", {}):
                    hl[i, s] = np.asarray(d.hands[name], np.float64)[:, :3]
        ks.hands = hl
    return ks
