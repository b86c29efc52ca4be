"""One entry point for every motion source: `import_motion(src, options, body=...) -> (Motion, report)`.

Used by `neural-render motion import` and the Blender add-on's import operator. The Motion it
returns is Z-up (Blender's world) unless `up="y"` is asked for.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from neural_render.errors import InputError
from neural_render.motion.import_options import MotionImportOptions
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


def import_motion(src: str | Path, options: MotionImportOptions | None = None, *, body=None, keypoint_set=None,
                  **keywords) -> tuple[Motion, dict]:
    """Read any supported motion source into a Motion for `body` (a body model, a model path, or
    None / "default" for the default body).

    options: a `MotionImportOptions` (see its fields: format, frame rates, bone map, shape, up
    axis, grounding, smoothing, frames, keypoint inputs); without one, `keywords` are its fields
    (`import_motion(src, fps=30, shape="body")`). Keypoint input is fitted at its own frame rate
    (`source_fps`, else the video's / file's) and then resampled to `fps` like any other source;
    `frames` selects keypoint frames before the fit. fmt "video" (a video, a folder of frames or a
    photo) needs `keypoint_set`, the built-in detector's output (`neural_render.capture.video_motion`,
    which the CLI calls). To drive a body that has its own betas, see `retarget.motion_on_shape`.
    Returns (motion, report) where report is a JSON-able summary.
    """
    opts = _options(options, keywords)
    src = Path(src)
    if not src.exists():
        raise InputError("input not found", path=src)
    if opts.fmt not in FORMATS:
        raise InputError(f"unknown format {opts.fmt!r}", where="--format", fix=f"use one of {', '.join(FORMATS)}")
    fmt = detect_format(src) if opts.fmt == "auto" else opts.fmt
    body = _load_body(body)
    report: dict = {"source": str(src), "format": fmt}
    read = _read_source(src, fmt, body, opts, keypoint_set, report)
    motion = _conform(read, fmt, body, opts)
    if opts.ground == "on" or (opts.ground == "auto" and read.floorless):
        from neural_render.motion.normalize import ground_motion
        motion, shift = ground_motion(motion, body)
        report["ground_shift_m"] = round(float(shift), 4)
    report.update(motion.summary())
    return motion, report


def _options(options: MotionImportOptions | None, keywords: dict) -> MotionImportOptions:
    """The call's options: the object given, or one built from keywords (not both)."""
    if options is None:
        return MotionImportOptions(**keywords)
    if not isinstance(options, MotionImportOptions):
        raise TypeError(f"options must be a MotionImportOptions, not {options!r} (pass the format as fmt=...)")
    if keywords:
        raise TypeError(f"pass either options or keywords, not both (got {sorted(keywords)})")
    return options


def _load_body(body):
    """A body model from a model, a path, or None / "default" (the default body)."""
    if body is None or isinstance(body, (str, Path)):
        from neural_render.body import load_body
        return load_body(None if body in (None, "default") else body)
    return body


@dataclass
class _Read:
    """A source read at its own rate. floorless: the source has no known floor (ground "auto"
    grounds it); trimmed: `frames` were already applied (keypoint fits select before fitting)."""

    motion: Motion
    floorless: bool = False
    trimmed: bool = False


def _read_source(src: Path, fmt: str, body, opts: MotionImportOptions, keypoint_set, report: dict) -> _Read:
    """Read the source in its own format; adds what the reader found to `report`."""
    if fmt in ("bvh", "fbx"):
        return _Read(_read_skeleton_clip(src, fmt, body, opts, report))
    if fmt == "amass":
        from neural_render.motion.smpl_params import load_amass
        # AMASS trans is relative to the capture's own SMPL body (its pelvis for its betas); on
        # another body the feet would float or sink by the pelvis-height difference.
        return _Read(load_amass(src, fps=opts.source_fps), floorless=not _is_smpl_topology(body))
    if fmt == "smpl":
        from neural_render.motion import smpl_params
        if src.suffix.lower() == ".smpl":
            return _Read(smpl_params.load_smpl_file(src))  # Meshcapade's world has its floor at y = 0
        # HMR/AIST++-style dicts: no known floor
        return _Read(smpl_params.load_smpl_dict(src, fps=opts.source_fps), floorless=True)
    if fmt == "motion":
        return _Read(Motion.load(src))
    return _read_keypoints(src, fmt, body, opts, keypoint_set, report)


def _read_skeleton_clip(src: Path, fmt: str, body, opts: MotionImportOptions, report: dict) -> Motion:
    """BVH / FBX: read the source skeleton's clip, map its bones, retarget onto `body`."""
    from neural_render.motion.bone_maps import auto_finger_map, auto_map
    from neural_render.motion.retarget import retarget

    if fmt == "bvh":
        from neural_render.motion.bvh import read_bvh
        from neural_render.motion.source_skeleton import clip_from_bvh
        clip = clip_from_bvh(read_bvh(src))
    else:
        from neural_render.motion.fbx import read_fbx
        clip = read_fbx(src)
    mapping, map_name, warnings = auto_map(clip.skeleton, opts.bone_map, path=src)
    fingers = auto_finger_map(clip.skeleton, mapping, opts.bone_map)
    res = retarget(clip, body, mapping, up="y", unit=opts.unit, warnings=warnings, swing_fix=opts.swing_fix,
                   shape=opts.shape, finger_mapping=fingers)
    report["bone_map"] = map_name
    report["retarget"] = res.summary(clip.skeleton.names)
    report["source_joints"] = clip.skeleton.num_joints
    return res.motion


def _read_keypoints(src: Path, fmt: str, body, opts: MotionImportOptions, keypoint_set, report: dict) -> _Read:
    """Keypoint files (or the detector's keypoint set of a video / photo): fit the body to them."""
    try:
        from neural_render.motion.keypoint_import import import_keypoints
    except ImportError:
        raise InputError(f"keypoint import ({fmt}) is not available in this build", path=src,
                         fix="use bvh, fbx, amass or smpl input") from None
    from neural_render.motion.fit import FitOptions

    if fmt == "video":
        motion, kp_report = _fit_detected(src, body, opts, keypoint_set)
        report["fit"] = kp_report
        return _Read(motion)
    extra = {"calibration": opts.calibration} if opts.calibration else {}
    extra["options"] = FitOptions(device=opts.device)
    motion, report["fit"] = import_keypoints(src, fmt, fps=opts.source_fps, body=body, video=opts.video,
                                             frames=_frame_pair(opts.frames), image_id=opts.image_id, **extra)
    if opts.frames is not None:
        motion.metadata["video_start_frame"] = int(opts.frames[0] or 0)
    return _Read(motion, trimmed=opts.frames is not None)


def _fit_detected(src: Path, body, opts: MotionImportOptions, keypoint_set) -> tuple[Motion, dict]:
    """A video / photo's detected keypoint set -> the fitted motion (with hand poses where the
    detector found hands) and the fit's report."""
    if keypoint_set is None:
        raise InputError("a video or photo needs the built-in detector first", path=src,
                         fix="use `neural-render motion import` (it detects), or `neural-render detect` "
                             "and import its landmarks.json")
    from neural_render.motion.fit import FitOptions
    from neural_render.motion.keypoint_import import import_keypoint_set

    motion, kp_report = import_keypoint_set(keypoint_set, fps=opts.source_fps, body=body,
                                            options=FitOptions(device=opts.device), camera_name=src.stem)
    hands = getattr(keypoint_set, "hands", None)
    if hands is not None and getattr(body, "hands", None) is not None and len(hands) == motion.num_frames:
        from neural_render.motion.hand_fit import fit_hand_poses

        hand_poses, found = fit_hand_poses(hands, body, motion.betas)
        if found.any():  # else the motion keeps no hand poses (the relaxed default hands)
            motion = motion.copy(hand_poses=hand_poses)
        kp_report["hands_found"] = {"left": int(found[:, 0].sum()), "right": int(found[:, 1].sum()),
                                    "frames": int(len(found))}
    return motion, kp_report


def _conform(read: _Read, fmt: str, body, opts: MotionImportOptions) -> Motion:
    """The read motion at the asked rate, frames, smoothing and up axis, with betas that mean
    something to `body` (grounding is the caller's last step)."""
    motion = read.motion
    if opts.source_fps and abs(motion.fps - float(opts.source_fps)) > 1e-9:
        motion = motion.copy(fps=float(opts.source_fps))
    if not _is_smpl_topology(body) and fmt in ("amass", "smpl"):
        # SMPL's shape coefficients mean nothing to another body model: keep them as metadata.
        if np.any(motion.betas):
            motion.metadata["source_betas"] = motion.betas.tolist()
        motion = motion.copy(betas=np.zeros(min(10, body.num_betas), np.float32))
    if opts.frames is not None and not read.trimmed:
        motion = motion.trim(*opts.frames)
    if opts.smooth and opts.smooth > 0:
        from neural_render.motion.filters import smooth_motion
        motion = smooth_motion(motion, window_s=opts.smooth)
    if opts.fps and abs(float(opts.fps) - motion.fps) > 1e-6:
        motion = motion.resample(float(opts.fps))
    if motion.up != opts.up:
        motion = motion.with_up(opts.up, body=body)
    return motion


def _frame_pair(frames) -> tuple[int, int] | None:
    """(A, B) with B None meaning 'to the end' -> a slice pair for the keypoint fit."""
    if frames is None:
        return None
    return int(frames[0] or 0), (10 ** 9 if frames[1] is None else int(frames[1]))


def _is_smpl_topology(body) -> bool:
    return int(body.num_vertices) == 6890
