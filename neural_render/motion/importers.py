"""One entry point for every motion source: `import_motion(src, fmt="auto", ...) -> (Motion, report)`.

Used by `neural-render motion import` and the Blender add-on's import operator. The Motion it
returns is Z-up (Blender's world) unless `up="y"` is asked for.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from neural_render.errors import InputError
from neural_render.motion.motion import Motion
from neural_render.video import IMAGE_SUFFIXES, VIDEO_SUFFIXES

FORMATS = ("auto", "bvh", "fbx", "amass", "smpl", "motion", "openpose", "coco", "mediapipe", "tfjs", "video")
KEYPOINT_FORMATS = ("openpose", "coco", "mediapipe", "tfjs")


def detect_format(src: str | Path) -> str:
    """Guess the format from the suffix and, for .npz/.json, the content."""
    p = Path(src)
    if p.is_dir():
        if not any(q.suffix.lower() == ".json" for q in p.iterdir()) and \
                any(q.suffix.lower() in IMAGE_SUFFIXES for q in p.iterdir()):
            return "video"  # a folder of frames
        return "openpose"
    suf = p.suffix.lower()
    if suf in VIDEO_SUFFIXES or suf in IMAGE_SUFFIXES:
        return "video"
    if suf == ".bvh":
        return "bvh"
    if suf == ".fbx":
        return "fbx"
    if suf == ".smpl":
        return "smpl"
    if suf == ".pkl":
        return "smpl"
    if suf == ".npz":
        from neural_render.fileio import check_npz

        check_npz(p)
        try:
            with np.load(p, allow_pickle=False) as z:
                keys = set(z.files)
        except Exception:
            raise InputError("not a readable .npz", path=p) from None
        if "poses" in keys and "up" in keys and "mocap_framerate" in keys:
            return "motion"
        if "poses" in keys or "root_orient" in keys:
            return "amass"
        return "smpl"
    if suf == ".csv":
        return "mediapipe"
    if suf == ".json":
        from neural_render.fileio import read_json
        from neural_render.motion.keypoints import FORMAT_NAMES, structure_format

        fmt = structure_format(read_json(p))
        if fmt == "unknown":
            raise InputError("JSON of no keypoint layout this tool reads", path=p,
                             fix="expected " + "; ".join(FORMAT_NAMES.values()))
        return fmt
    raise InputError(f"cannot tell the format of '{p.name}'", path=p,
                     fix=f"pass --format ({', '.join(FORMATS[1:])})")


def import_motion(src: str | Path, fmt: str = "auto", fps: float | None = None, body=None,
                  bone_map: str | Path | None = None, up: str = "z", ground: str = "auto",
                  unit: str | None = None, smooth: float = 0.0, video: str | Path | None = None,
                  frames: tuple[int, int | None] | None = None, swing_fix: bool = False,
                  source_fps: float | None = None, calibration: str | Path | None = None,
                  device: str = "cpu", shape: str = "source", keypoint_set=None,
                  image_id: str | None = None) -> tuple[Motion, dict]:
    """Read any supported motion source into a Motion for `body` (the default body when None).

    fps: resample to this rate (None keeps the source rate). ground: "on" shifts the clip so its
    lowest joint over the clip touches the floor, "auto" does so only for sources without a known
    floor (SMPL parameter dicts; AMASS retargeted onto a non-SMPL body). source_fps: the source's frame rate where the file has none
    (SMPL dicts; default 30) or to override a wrong one. video / calibration: for keypoint
    input (the fitted body's preview; multi-view camera calibration). swing_fix: see `retarget.retarget`. smooth: Savitzky-Golay window in seconds (0 = off).
    shape (BVH/FBX only): "source" (default, as `neural-render motion import`) fits the body's betas
    to the source skeleton's proportions (see `retarget.retarget`); "body" keeps the body's own
    shape (betas 0). To drive a body that has its own betas with either, see
    `retarget.motion_on_shape`. Keypoint input is fitted at its own frame rate (`source_fps`, else
    the video's / file's) and then resampled to `fps` like any other source; `frames` selects
    keypoint frames before the fit. fmt "video" (a video, a folder of frames or a photo) needs
    `keypoint_set`, the built-in detector's output (`neural_render.capture.video_motion`, which the
    CLI calls).
    Returns (motion, report) where report is a JSON-able summary.
    """
    src = Path(src)
    if not src.exists():
        raise InputError("input not found", path=src)
    if fmt not in FORMATS:
        raise InputError(f"unknown format {fmt!r}", where="--format", fix=f"use one of {', '.join(FORMATS)}")
    if fmt == "auto":
        fmt = detect_format(src)
    if body is None or isinstance(body, (str, Path)):
        from neural_render.body import load_body
        body = load_body(None if body in (None, "default") else body)
    report: dict = {"source": str(src), "format": fmt}
    floorless = False
    trimmed = False
    if fmt in ("bvh", "fbx"):
        from neural_render.motion.bone_maps import auto_finger_map, auto_map
        from neural_render.motion.retarget import retarget

        if fmt == "bvh":
            from neural_render.motion.bvh import read_bvh
            from neural_render.motion.source_skeleton import clip_from_bvh
            clip = clip_from_bvh(read_bvh(src))
        else:
            from neural_render.motion.fbx import read_fbx
            clip = read_fbx(src)
        mapping, map_name, warnings = auto_map(clip.skeleton, bone_map, path=src)
        fingers = auto_finger_map(clip.skeleton, mapping, bone_map)
        res = retarget(clip, body, mapping, up="y", unit=unit, warnings=warnings, swing_fix=swing_fix,
                       shape=shape, finger_mapping=fingers)
        motion = res.motion
        report["bone_map"] = map_name
        report["retarget"] = res.summary(clip.skeleton.names)
        report["source_joints"] = clip.skeleton.num_joints
    elif fmt == "amass":
        from neural_render.motion.smpl_params import load_amass
        motion = load_amass(src, fps=source_fps)
        # AMASS trans is relative to the capture's own SMPL body (its pelvis for its betas); on
        # another body the feet would float or sink by the pelvis-height difference.
        floorless = not _is_smpl_topology(body)
    elif fmt == "smpl":
        from neural_render.motion import smpl_params
        if src.suffix.lower() == ".smpl":
            motion = smpl_params.load_smpl_file(src)   # Meshcapade's world has its floor at y = 0
        else:
            motion = smpl_params.load_smpl_dict(src, fps=source_fps)
            floorless = True                           # HMR/AIST++-style dicts: no known floor
    elif fmt == "motion":
        motion = Motion.load(src)
    else:
        try:
            from neural_render.motion.keypoint_import import import_keypoints
        except ImportError:
            raise InputError(f"keypoint import ({fmt}) is not available in this build", path=src,
                             fix="use bvh, fbx, amass or smpl input") from None
        from neural_render.motion.fit import FitOptions

        if fmt == "video":
            if keypoint_set is None:
                raise InputError("a video or photo needs the built-in detector first", path=src,
                                 fix="use `neural-render motion import` (it detects), or `neural-render detect` "
                                     "and import its landmarks.json")
            from neural_render.motion.keypoint_import import import_keypoint_set

            motion, kp_report = import_keypoint_set(keypoint_set, fps=source_fps, body=body,
                                                    options=FitOptions(device=device), camera_name=src.stem)
            hands = getattr(keypoint_set, "hands", None)
            if hands is not None and getattr(body, "hands", None) is not None \
                    and len(hands) == motion.num_frames:
                from neural_render.motion.hand_fit import fit_hand_poses

                hand_poses, found = fit_hand_poses(hands, body, motion.betas)
                if found.any():  # else the motion keeps no hand poses (the relaxed default hands)
                    motion = motion.copy(hand_poses=hand_poses)
                kp_report["hands_found"] = {"left": int(found[:, 0].sum()), "right": int(found[:, 1].sum()),
                                            "frames": int(len(found))}
        else:
            extra = {"calibration": calibration} if calibration else {}
            extra["options"] = FitOptions(device=device)
            motion, kp_report = import_keypoints(src, fmt, fps=source_fps, body=body, video=video,
                                                 frames=_frame_pair(frames), image_id=image_id, **extra)
            trimmed = frames is not None
            if frames is not None:
                motion.metadata["video_start_frame"] = int(frames[0] or 0)
        report["fit"] = kp_report
    if source_fps and abs(motion.fps - float(source_fps)) > 1e-9:
        motion = motion.copy(fps=float(source_fps))
    if not _is_smpl_topology(body) and fmt in ("amass", "smpl"):
        # SMPL's shape coefficients mean nothing to another body model: keep them as metadata.
        if np.any(motion.betas):
            motion.metadata["source_betas"] = motion.betas.tolist()
        motion = motion.copy(betas=np.zeros(min(10, body.num_betas), np.float32))
    if frames is not None and not trimmed:
        motion = motion.trim(*frames)
    if smooth and smooth > 0:
        from neural_render.motion.filters import smooth_motion
        motion = smooth_motion(motion, window_s=smooth)
    if fps and abs(float(fps) - motion.fps) > 1e-6:
        motion = motion.resample(float(fps))
    if motion.up != up:
        motion = motion.with_up(up, body=body)
    if ground == "on" or (ground == "auto" and floorless):
        from neural_render.motion.normalize import ground_motion
        motion, shift = ground_motion(motion, body)
        report["ground_shift_m"] = round(float(shift), 4)
    report.update(motion.summary())
    return motion, report


def _frame_pair(frames) -> tuple[int, int] | None:
    """(A, B) with B None meaning 'to the end' -> a slice pair for the keypoint fit."""
    if frames is None:
        return None
    return int(frames[0] or 0), (10 ** 9 if frames[1] is None else int(frames[1]))


def _is_smpl_topology(body) -> bool:
    return int(body.num_vertices) == 6890
