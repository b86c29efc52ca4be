"""One photo -> a fitted body: shape, pose and the photo's camera.

`fit_photo(image, keypoints=None)` reads the photo, takes the person's 2D keypoints from a keypoint
file (anything `motion import --format openpose|coco|mediapipe` reads, one frame) or, without one,
from the built-in detector (`neural_render.capture.detect`), and fits the body to them with the
project's keypoint fit (neural_render/motion/fit.py: one frame, no temporal terms, several starting
poses, front/back hypotheses).

The world is the single-view world of `motion.keypoint_import.level_and_ground`: Z-up metres, the
camera looking along +y, pitched so the fitted torso stands vertical (at most 30 deg; `level=False`
takes the camera as level), the person's pelvis at x = y = 0 and the lowest foot keypoint on the
ground z = 0. The camera is a pinhole with a 60 deg field of view across the
photo's larger side (a phone's), so depth and body size trade off along the viewing ray: what the
photo shows is fitted, what it cannot tell (absolute scale) is the body model's default. With the
detector's person mask, the pose is then refined so the body fills that silhouette
(`refine_to_mask`, the silhouette term of capture/silhouette.py, tethered to the keypoint fit).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from neural_render.errors import InputError


@dataclass
class PhotoFit:
    """A body fitted to one photo."""

    image: np.ndarray                  # (H, W, 3) uint8 RGB, the photo as read
    path: Path
    motion: object                     # motion.Motion, 1 frame, up="z", the single-view world
    camera: object                     # motion.calibration.Camera of the photo (no distortion)
    keypoints: np.ndarray              # (25, 3) BODY_25 pixels + confidence the body was fitted to
    person_mask: np.ndarray | None     # (H, W) bool: the detector's person segmentation, if any
    reprojection_px: float             # mean keypoint reprojection error, photo pixels
    seconds: dict = field(default_factory=dict)
    keypoint_source: str = ""
    silhouette: dict | None = None     # IoU with the person mask before/after the silhouette refinement

    def report(self) -> dict:
        c = self.camera
        return {"image": str(self.path), "width": int(c.width), "height": int(c.height),
                "keypoints": self.keypoint_source, "reprojection_px": round(float(self.reprojection_px), 2),
                "silhouette": self.silhouette,
                "camera": {"K": np.round(c.K, 4).tolist(), "world_to_camera": np.round(c.world_to_camera, 6).tolist()},
                "betas": np.round(np.asarray(self.motion.betas, np.float64), 4).tolist(),
                "pose": np.round(np.asarray(self.motion.poses[0], np.float64), 4).tolist(),
                "trans": np.round(np.asarray(self.motion.trans[0], np.float64), 4).tolist(),
                "seconds": self.seconds}


def read_photo(path: str | Path) -> np.ndarray:
    """(H, W, 3) uint8 RGB; a clear error for anything that is not a readable image."""
    from neural_render.video import IMAGE_SUFFIXES
    from neural_render.fileio import read_image

    path = Path(path)
    if not path.is_file():
        raise InputError("photo not found", path=path, where="--image")
    if path.suffix.lower() not in IMAGE_SUFFIXES:
        raise InputError(f"not an image file ({path.suffix or 'no suffix'})", path=path, where="--image",
                         fix=f"use one of {', '.join(IMAGE_SUFFIXES)}")
    img = read_image(path)
    if min(img.shape[:2]) < 32:
        raise InputError(f"image is only {img.shape[1]}x{img.shape[0]} pixels", path=path, where="--image",
                         fix="use a photo of at least 32 px on each side")
    return img


def photo_keypoints(photo: Path, image: np.ndarray, keypoints: str | Path | None,
                    fmt: str = "auto") -> tuple[np.ndarray, str, np.ndarray | None, str]:
    """The subject's keypoints in the photo: ((K, 3) pixels + confidence, layout, person mask or
    None, where they came from). From `keypoints` (its first frame) or the built-in detector."""
    from neural_render.motion.keypoints import read_keypoints
    from neural_render.motion.tracking import track_subject

    H, W = image.shape[:2]
    if keypoints is None:
        return _detect(photo, image)
    ks = read_keypoints(keypoints, fmt, image_size=(W, H))
    if ks.normalized:
        raise InputError("keypoints are normalized (0..1) and carry no image size", path=keypoints,
                         fix="write pixel coordinates")
    if not ks.people or not any(p.size for p in ks.people):
        raise InputError("no person in the keypoint file", path=keypoints, where="--keypoints")
    pts = track_subject(ks.people[:1]).keypoints[0]
    if ks.image_size and tuple(ks.image_size) != (W, H):
        sx, sy = W / ks.image_size[0], H / ks.image_size[1]
        if abs(sx - sy) > 0.01 * sx:
            raise InputError(f"keypoints are for a {ks.image_size[0]}x{ks.image_size[1]} image, the photo is {W}x{H}",
                             path=keypoints, fix="use keypoints detected on this photo")
        pts = pts.copy()
        pts[:, :2] *= sx
    return pts, ks.layout, None, str(keypoints)


def _detect(photo: Path, image: np.ndarray):
    """The built-in detector (the `detect` command's MediaPipe pose + segmentation): its 33
    landmarks (x px, y px, visibility; feet included), the person mask (probability > 0.5)."""
    from neural_render.capture import detect as det

    res = det.detect_image(image, segmentation=True, hands=False)
    if res is None:
        raise InputError("no person detected in the photo", path=photo, where="--image",
                         fix="use a photo showing one person's whole body, or pass --keypoints")
    pts = np.asarray(res.landmarks, np.float64)[:, [0, 1, 3]]
    mask = None if res.mask is None else np.asarray(res.mask) > 0.5
    return pts, "mediapipe33", mask, "built-in detector (MediaPipe pose landmarks + segmentation)"


def fit_photo(path: str | Path, keypoints: str | Path | None = None, fmt: str = "auto",
              device: str = "cpu", body=None, level: bool = True, focal: float | None = None) -> PhotoFit:
    """Fit the body to one photo (see the module docstring). level: turn the world so the fitted
    torso is vertical (undoes a camera pitched up or down, up to 30 deg; for people standing more or
    less upright) instead of taking the camera as level. focal: the photo's focal length in pixels
    when known (default: a 60 deg field of view across the larger side)."""
    from neural_render.body import load_body
    from neural_render.motion.fit import FitOptions, fit_keypoints, single_view_camera
    from neural_render.motion.keypoint_import import level_and_ground
    from neural_render.motion.keypoints import to_body25

    path = Path(path)
    t0 = time.perf_counter()
    image = read_photo(path)
    H, W = image.shape[:2]
    pts, layout, mask, source = photo_keypoints(path, image, keypoints, fmt)
    t1 = time.perf_counter()
    b25 = to_body25(pts[None, None], layout)[0, 0]
    if int((b25[:, 2] >= 0.1).sum()) < 8:
        raise InputError(f"only {int((b25[:, 2] >= 0.1).sum())} body keypoints found (8 needed)",
                         path=keypoints or path, fix="use a photo showing the person's whole body")
    body = body if body is not None else load_body()
    if focal is not None and not focal > 0:
        raise InputError(f"focal length {focal} px", where="--focal", fix="give a positive focal length in pixels")
    cam = single_view_camera(W, H, focal=focal, name=path.stem)
    opts = FitOptions(device=device, temporal=False)
    res = fit_keypoints(body, obs2d=pts[None, None], cameras=[cam], layout=layout, fps=30.0, options=opts,
                        world="single view (photo)")
    res = level_and_ground(res, body, level=level)
    t2 = time.perf_counter()
    motion, silhouette = res.motion, None
    if mask is not None:
        motion, silhouette = refine_to_mask(res, body, np.asarray(mask, bool), device)
    t3 = time.perf_counter()
    rep = float(np.nan_to_num(res.reprojection_px[0, 0], nan=0.0))
    return PhotoFit(image=image, path=path, motion=motion, camera=res.cameras[0], keypoints=b25,
                    person_mask=None if mask is None else np.asarray(mask, bool), reprojection_px=rep,
                    seconds={"keypoints": round(t1 - t0, 2), "fit": round(t2 - t1, 2),
                             "silhouette_refine": round(t3 - t2, 2)},
                    keypoint_source=source, silhouette=silhouette)


def refine_to_mask(res, body, mask: np.ndarray, device: str = "cpu", work: int = 256):
    """The keypoint fit refined so the body fills the detector's person mask (capture/silhouette.py,
    one view, at `work` px on the longer side); kept only where the overlap improves.
    Returns (Motion, {"iou_before", "iou_after"})."""
    import cv2

    from neural_render.capture import silhouette as sil
    from neural_render.camera import Camera

    c = res.cameras[0]
    s = work / max(c.width, c.height)
    w, h = max(8, int(round(c.width * s))), max(8, int(round(c.height * s)))
    cam = Camera(c.K, c.world_to_camera, c.width, c.height, name="photo").scaled(w, h)
    m = cv2.resize(mask.astype(np.uint8), (w, h), interpolation=cv2.INTER_AREA) > 0
    motion, rep = sil.refine(body, res.motion, [cam], [m[None]], res.keypoints3d,
                             opts=sil.RefineOptions(device=device, fit_shape=False, iterations=60))
    v = rep["views"]["photo"]
    return motion, {"iou_before": v["silhouette_iou_before"], "iou_after": v["silhouette_iou_after"],
                    "refined": bool(rep["refined_frames"])}
