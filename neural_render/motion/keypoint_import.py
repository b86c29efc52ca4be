"""Keypoints -> Motion: read detections, follow the subject, (triangulate,) fit SMPL, report.

`import_keypoints(src, fmt, fps=None, body=None, video=None, calibration=None)` -> (Motion, report)
is what `neural-render motion import --format openpose|coco|mediapipe` calls; `fit_keypoint_source`
returns the full `FitResult` (motion, cameras, per-frame per-camera reprojection error, flags) for
`prepare`. Sources:
- one view: an OpenPose JSON folder, a COCO keypoint JSON, a MediaPipe JSON/CSV. The image size
  comes from `video`, the file, or `calibration`; the camera is the calibration's, else a pinhole
  with a 60 deg field of view across the larger side (refined when `refine_focal`). World (one view,
  no calibration): Z-up, metres; the camera looks along +y and is taken as level, the ground
  (lowest feet) is at z = 0 and the subject's first pelvis position at x = y = 0; the camera pose is
  in the report and in the Motion's metadata.
- several views: a folder of per-camera OpenPose folders (e.g. cam01_json/ ...) plus a calibration
  (`calibration=`, or a Calib*.qca.txt / *.toml / cameras.json inside the folder): triangulate,
  fit once to all views; the world is the calibration's (Qualisys: lab frame, Z-up).
- MediaPipe world landmarks (metres, hip-centred): fitted in 3D, converted to Z-up.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import numpy as np

from neural_render.camera import Camera
from neural_render.errors import InputError
from neural_render.motion.calibration import load_calibration
from neural_render.motion.fit import FitOptions, FitResult, fit_keypoints, single_view_camera
from neural_render.motion.keypoints import KeypointSet, read_keypoints, to_body25
from neural_render.motion.tracking import track_subject
from neural_render.video import natural_key

COMMON_SIZES = ((640, 480), (480, 640), (1280, 720), (720, 1280), (1920, 1080), (1080, 1920),
                (2560, 1440), (1440, 2560), (3840, 2160), (2160, 3840))
CALIBRATION_PATTERNS = ("*.qca.txt", "*calib*.toml", "*Calib*.toml", "calibration*.json", "cameras.json",
                        "cameras.npz", "*.qca")


def video_info(path: str | Path) -> dict:
    """width, height, fps, frames of a video file or a folder of frames (OpenCV)."""
    from neural_render.video import frame_info

    return frame_info(path)


def read_video_frame(path: str | Path, index: int) -> np.ndarray:
    """One frame (H, W, 3) RGB uint8 of a video file or a folder of frames."""
    from neural_render.video import read_frames

    got = read_frames(path, [index])
    if index not in got:
        raise InputError(f"cannot read frame {index}", path=path)
    return got[index]


def guess_image_size(points: np.ndarray) -> tuple[int, int]:
    """Smallest common video size holding every detected point (when nothing tells the size)."""
    ok = points[..., 2] > 0
    if not ok.any():
        return 1920, 1080
    mx = points[..., 0][ok].max(), points[..., 1][ok].max()
    for w, h in COMMON_SIZES:
        if mx[0] <= w and mx[1] <= h:
            return w, h
    return int(np.ceil(mx[0])), int(np.ceil(mx[1]))


def find_calibration(folder: Path) -> Path | None:
    for pat in CALIBRATION_PATTERNS:
        hits = sorted(folder.glob(pat))
        if hits:
            return hits[0]
    return None


def view_folders(folder: Path) -> list[Path]:
    """Sub-folders holding per-frame JSON (one per camera), natural order."""
    if not folder.is_dir():
        return []
    subs = [p for p in folder.iterdir() if p.is_dir() and any(q.suffix.lower() == ".json" for q in p.iterdir())]
    return sorted(subs, key=lambda p: natural_key(p.name))


def _digits(name: str) -> int | None:
    m = re.findall(r"\d+", name)
    return int(m[-1]) if m else None


def match_views(folders: list[Path], cameras: list[Camera], path) -> list[tuple[Path, Camera]]:
    """Pair view folders with calibration cameras by the number in their names, else by order."""
    by_num = {_digits(c.name): c for c in cameras}
    pairs = []
    if all(_digits(f.name) in by_num for f in folders) and len(by_num) == len(cameras):
        pairs = [(f, by_num[_digits(f.name)]) for f in folders]
    elif len(folders) == len(cameras):
        pairs = list(zip(folders, cameras))
    else:
        raise InputError(f"{len(folders)} view folders but {len(cameras)} calibrated cameras, and their names "
                         "do not pair up", path=path, fix="name folders like the cameras (cam01_json <-> cam_01)")
    return pairs


def fit_keypoint_source(src: str | Path, fmt: str = "auto", fps: float | None = None, body=None,
                        video: str | Path | list | None = None, calibration: str | Path | None = None,
                        layout: str = "auto", options: FitOptions | None = None,
                        views: list[str] | None = None, frames: tuple[int, int] | None = None,
                        level: bool = False, image_id: str | None = None) -> FitResult:
    """Read, track, (triangulate,) fit. See the module docstring.

    level: one uncalibrated view only: turn the world so the fitted torso's mean direction is
    vertical (undoes a pitched camera for people standing upright) instead of taking the camera as level.
    """
    from neural_render.body import load_body

    src = Path(src)
    if not src.exists():
        raise InputError("keypoint source not found", path=src)
    body = body if body is not None else load_body()
    opts = options or FitOptions()
    calib_path = Path(calibration) if calibration else None
    folders = view_folders(src) if src.is_dir() and fmt in ("auto", "openpose") else []
    if folders and not any(p.suffix.lower() == ".json" for p in src.iterdir() if p.is_file()):
        calib_path = calib_path or find_calibration(src)
        if calib_path is None:
            raise InputError(f"{len(folders)} camera folders but no calibration", path=src,
                             fix="pass --calibration (Qualisys .qca.txt/.xml, Pose2Sim .toml or cameras .json)")
        return fit_multiview(folders, load_calibration(calib_path), body, fps=fps, video=video, layout=layout,
                             options=opts, views=views, frames=frames, source=src)
    videos = _video_list(video)
    vinfo = video_info(videos[0]) if videos else None
    image_size = (vinfo["width"], vinfo["height"]) if vinfo else None
    cams = load_calibration(calib_path) if calib_path else None
    if image_size is None and cams:
        image_size = (cams[0].width, cams[0].height)
    ks = read_keypoints(src, fmt, layout=layout, image_size=image_size, image_id=image_id)
    if ks.separate_images and ks.num_frames > 1:
        ids = ", ".join(ks.frame_names[:8]) + (" ..." if ks.num_frames > 8 else "")
        raise InputError(f"{ks.num_frames} separate images (a COCO annotation file), not frames of one clip", path=src,
                         fix=f"fit one with --image-id ID or file name (ids: {ids}), or all with --all-images "
                             "(one motion per image)")
    fps = float(fps or (vinfo or {}).get("fps") or ks.fps or 30.0)
    if ks.world is not None and ks.normalized:
        # Normalized image landmarks without an image size: only the metric 3D can be fitted.
        return fit_world_landmarks(ks, body, fps, opts, frames)
    if ks.normalized:
        raise InputError("MediaPipe image landmarks are normalized (0..1) and the image size is unknown",
                         path=src, fix="pass --video, or put image_width/image_height in the JSON")
    return fit_keypoint_set(ks, body, fps, opts, frames=frames, cams=cams, calib_path=calib_path,
                            camera_name=Path(videos[0]).stem if videos else "camera",
                            size_from="video" if vinfo else None, level=level)


def fit_keypoint_set(ks: KeypointSet, body, fps: float, opts: FitOptions, frames: tuple[int, int] | None = None,
                     cams: list[Camera] | None = None, calib_path: Path | None = None, camera_name: str = "camera",
                     size_from: str | None = None, level: bool = False, floor: bool = True) -> FitResult:
    """One view's keypoints (pixels) -> fit: follow the subject, take `frames` (before the fit), fit
    with the view's camera (calibrated, or a default pinhole at the image size) and, when the set
    carries metric world landmarks (MediaPipe), their root-relative 3D as a second data term.
    Uncalibrated clips of 10+ frames are then refitted with the floor and foot contacts
    (motion/floor.py; `floor=False` skips it)."""
    src = Path(ks.source) if ks.source else Path(camera_name)
    track = track_subject(ks.people)
    pts = track.keypoints
    rel = None
    if ks.world is not None:
        # World landmarks belong to each frame's first person; use them where that one is the subject.
        rel = np.where((track.index == 0)[:, None, None], ks.world[:len(pts)], 0.0)
    if frames is not None:
        pts = pts[frames[0]:frames[1]]
        rel = None if rel is None else rel[frames[0]:frames[1]]
        if len(pts) == 0:
            raise InputError(f"frame range {frames[0]}:{frames[1]} is empty for {len(track.keypoints)} frames",
                             where="--frames", fix="pick a range inside the clip")
    if not (pts[..., 2] > 0).any():
        raise InputError("no person in any frame" + (f" of {frames[0]}:{frames[1]}" if frames else ""),
                         path=src, fix="check the keypoint file (or --frames)")
    size = ks.image_size or guess_image_size(pts)
    if cams:
        # A calibration of several cameras: the one whose number matches the source's name.
        num = _digits(src.stem if src.is_file() else src.name)
        hits = [c for c in cams if _digits(c.name) == num]
        if len(cams) > 1 and len(hits) != 1:
            raise InputError(f"the calibration has {len(cams)} cameras; cannot tell which one filmed this view",
                             path=src, fix="name the keypoint folder like the camera (cam02_json <-> cam_02)")
        cam = hits[0] if len(cams) > 1 else cams[0]
        world = f"calibration {calib_path.name}: camera {cam.name}"
    else:
        cam = single_view_camera(*size, name=camera_name)
        world = "single view"
    if len(pts) == 1:
        opts = dataclasses.replace(opts, temporal=False)  # a photo: no neighbours to be smooth with
    res = fit_keypoints(body, obs2d=pts[None], cameras=[cam], layout=ks.layout, fps=fps, options=opts, world=world,
                        rel3d=None if rel is None else rel[None])
    if not cams:
        res = level_and_ground(res, body, level=level)
        if floor and len(pts) >= 10 and opts.temporal:
            from neural_render.motion.floor import fit_with_floor

            res = fit_with_floor(res, body, pts[None], ks.layout, fps, opts, rel3d=None if rel is None else rel[None])
    res.stats.update({"source": str(src), "layout": ks.layout, "image_size": list(size),
                      "image_size_from": size_from or ("file" if ks.image_size else "guessed from keypoints"),
                      "tracking": {"missing_frames": int(track.missing.sum()), "reacquired_at": track.reacquired}})
    if rel is not None:
        res.stats["fitted_to"] = "2D landmarks + root-relative world landmarks (3D)"
    return res


def _video_list(video) -> list[Path]:
    if video is None:
        return []
    if isinstance(video, (list, tuple)):
        return [Path(v) for v in video]
    return [Path(video)]


def fit_world_landmarks(ks: KeypointSet, body, fps: float, opts: FitOptions, frames=None) -> FitResult:
    """Fit to MediaPipe world landmarks (x right, y down, z away from the camera) in a Z-up world."""
    W = ks.world.copy()
    if frames is not None:
        W = W[frames[0]:frames[1]]
    # MediaPipe camera-aligned axes -> our single-view world: x right, y forward (away), z up.
    pts = np.stack([W[..., 0], W[..., 2], -W[..., 1], W[..., 3]], -1)
    pts[W[..., 3] <= 0] = 0
    res = fit_keypoints(body, obs3d=pts, layout=ks.layout, fps=fps, options=opts,
                        world="MediaPipe world landmarks: x right, y away from the camera, z up; origin between the hips")
    res.stats.update({"source": ks.source, "layout": ks.layout, "fitted_to": "world landmarks (3D)"})
    return res


def fit_multiview(folders: list[Path], cameras: list[Camera], body, fps=None, video=None, layout="auto",
                  options: FitOptions | None = None, views: list[str] | None = None, frames=None,
                  source: Path | str = "") -> FitResult:
    """Several calibrated views: track the subject per view, triangulate, fit to all views' 2D."""
    from neural_render.motion.triangulate import triangulate

    opts = options or FitOptions()
    pairs = match_views(folders, cameras, source)
    if views:
        pairs = [(f, c) for f, c in pairs if f.name in views or c.name in views]
        if not pairs:
            raise InputError(f"none of the views {views} found", path=source)
    sets, tracks = [], []
    lay = layout
    for f, _ in pairs:
        ks = read_keypoints(f, "openpose", layout=lay)
        lay = ks.layout  # every view must share the first view's layout
        sets.append(ks)
        tracks.append(track_subject(ks.people))
    T = min(len(t.keypoints) for t in tracks)
    obs = np.stack([t.keypoints[:T] for t in tracks])  # (C, T, K, 3)
    if frames is not None:
        obs = obs[:, frames[0]:frames[1]]
    cams = [c for _, c in pairs]
    videos = _video_list(video)
    vfps = None
    if videos:
        vfps = video_info(videos[0]).get("fps")
    fps = float(fps or vfps or 30.0)
    stats = {"views": [f.name for f, _ in pairs], "layout": lay}
    if len(cams) >= 2:
        tri = triangulate(obs[..., :2], obs[..., 2], cams)
        b25 = to_body25(np.concatenate([np.nan_to_num(tri.points), tri.confidence[..., None]], -1), lay)
        stats["triangulated_points"] = float(np.isfinite(tri.points[..., 0]).mean())
        stats["triangulation_median_error_px"] = {c.name: round(float(np.nanmedian(np.where(tri.used[i], tri.error_px[i], np.nan))), 2)
                                                  for i, c in enumerate(cams)}
        res = fit_keypoints(body, obs2d=obs, cameras=cams, layout=lay, fps=fps, options=opts,
                            world="calibration world (Z-up, metres)", init3d=b25)
    else:
        res = fit_keypoints(body, obs2d=obs, cameras=cams, layout=lay, fps=fps, options=opts,
                            world="calibration world (Z-up, metres), single view")
    res.stats.update(stats)
    res.stats["source"] = str(source)
    res.stats["tracking"] = {f.name: {"missing_frames": int(t.missing.sum()), "reacquired_at": t.reacquired}
                             for (f, _), t in zip(pairs, tracks)}
    return res


def level_and_ground(res: FitResult, body, level: bool = False, max_tilt_deg: float = 30.0) -> FitResult:
    """Single-view world: ground (lowest feet) at z = 0, subject's first pelvis at x = y = 0.

    The camera is taken as level (no pitch or roll). With `level`, the world is instead turned so
    the fitted torso's mean direction is vertical (for clips of people standing upright; a dancer
    leaning for the whole clip would tilt the world). Moves motion, keypoints and camera together."""
    J = res.joints
    up = (J[:, 12] - J[:, 0]).mean(0)
    up /= max(np.linalg.norm(up), 1e-9)
    z = np.array([0, 0, 1.0])
    axis = np.cross(up, z)
    s = np.linalg.norm(axis) if level else 0.0
    ang = min(np.arctan2(s, up @ z), np.radians(max_tilt_deg)) if level else 0.0
    from neural_render.motion.rotations import aa_to_matrix

    R = aa_to_matrix(axis / max(s, 1e-9) * ang) if s > 1e-9 else np.eye(3)
    motion = res.motion.rotate_world(R, body=body)
    kp = res.keypoints3d @ R.T
    J = J @ R.T
    feet = kp[:, [11, 14, 19, 20, 21, 22, 23, 24]]
    ground = float(np.percentile(np.nanmin(feet[..., 2], 1), 5))
    shift = np.array([J[0, 0, 0], J[0, 0, 1], ground])
    motion = motion.copy(trans=motion.trans - shift.astype(np.float32))
    cams = []
    for c in res.cameras:
        w2c = c.world_to_camera.copy()
        w2c[:3, :3] = c.R @ R.T
        w2c[:3, 3] = c.t + w2c[:3, :3] @ shift
        cams.append(Camera(c.K, w2c, c.width, c.height, c.dist, c.name))
    res.motion, res.cameras = motion, cams
    res.keypoints3d, res.joints = kp - shift, J - shift
    res.world = ("single view: Z-up metres; ground (lowest feet) at z=0, subject's first pelvis at x=y=0; "
                 f"camera at {np.round(cams[0].center, 3).tolist()} looking along +y, "
                 + (f"levelled by {np.degrees(ang):.1f} deg from the fitted torso direction" if level
                    else "assumed level (no pitch or roll)"))
    res.motion.metadata["world"] = res.world
    return res


def import_keypoints(src, fmt: str = "auto", fps: float | None = None, body=None, video=None,
                     calibration=None, **kwargs):
    """(Motion, report dict) for `neural-render motion import --format openpose|coco|mediapipe`.

    fps: the keypoints' own frame rate (default: the video's, the file's, else 30); resampling to
    another rate is the caller's (import_motion's --fps). The Motion's metadata holds the cameras
    (OpenCV K, world_to_camera, size) so passes can be rendered at each video camera.
    """
    res = fit_keypoint_source(src, fmt, fps=fps, body=body, video=video, calibration=calibration, **kwargs)
    return motion_and_report(res)


def import_keypoint_set(ks: KeypointSet, fps: float | None = None, body=None, frames=None,
                        options: FitOptions | None = None, camera_name: str = "camera"):
    """(Motion, report dict) for keypoints already in memory, e.g. the built-in detector's on a video
    or a photo (neural_render/capture/video_motion.py). Pixels, so the camera is the image's."""
    from neural_render.body import load_body

    body = body if body is not None else load_body()
    res = fit_keypoint_set(ks, body, float(fps or ks.fps or 30.0), options or FitOptions(), frames=frames,
                           camera_name=camera_name, size_from="video")
    return motion_and_report(res)


def motion_and_report(res: FitResult):
    """The fit's Motion (cameras and fit summary in its metadata) and its JSON-ready report."""
    rep = res.report()
    res.motion.metadata["cameras"] = [c.to_dict() for c in res.cameras]
    res.motion.metadata["fit"] = {k: rep[k] for k in ("median_reprojection_px", "flagged_frames", "world",
                                                      "implausible_frames") if k in rep}
    finite = res.reprojection_px[np.isfinite(res.reprojection_px)]
    rep["reprojection_error_px_median"] = round(float(np.median(finite)), 2) if finite.size else None
    rep.pop("per_frame_reprojection_px", None) if len(res.reprojection_px) > 2000 else None
    return res.motion, rep


def pose2sim_report(folder: str | Path, device: str = "cpu", options: FitOptions | None = None) -> dict:
    """Median reprojection error per camera on the shared Pose2Sim clip: multi-view vs each single view."""
    from neural_render.body import load_body

    folder = Path(folder)
    body = load_body()
    cams = load_calibration(find_calibration(folder))
    folders = view_folders(folder)
    opts = options or FitOptions(device=device)
    out = {}
    multi = fit_multiview(folders, cams, body, fps=60.0, options=opts, source=folder)
    out["multi_view"] = {"median_reprojection_px": multi.report()["median_reprojection_px"],
                         "seconds": multi.stats["total_s"], "flagged_frames": int(multi.flagged.sum())}
    single = {}
    for f, c in match_views(folders, cams, folder):
        r = fit_multiview([f], [c], body, fps=60.0, options=FitOptions(device=device), source=folder)
        # The single-view fit seen from the other (unused) cameras shows its depth error.
        others = {}
        for c2 in cams:
            if c2.name != c.name:
                others[c2.name] = round(float(np.median(np.linalg.norm(c2.project(r.keypoints3d)[0] - c2.project(multi.keypoints3d)[0], axis=-1))), 1)
        single[c.name] = {"median_reprojection_px": r.report()["median_reprojection_px"][c.name],
                          "pelvis_offset_from_multiview_m": round(float(np.median(np.linalg.norm(r.joints[:, 0] - multi.joints[:, 0], axis=-1))), 3),
                          "median_px_vs_multiview_fit_in_other_cameras": others}
    out["single_view"] = single
    return out
