"""A quick look at a Motion: the body's skeleton (SMPL joints) drawn for a few frames, side by side.

Front view (the camera looks along the world's horizontal axis the body starts facing), orthographic,
one panel per sampled frame, a shared scale so sizes and heights compare across panels.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from neural_render.body.skeletons import SMPL_PARENTS

# Colours (RGB) by side: left limbs warm, right limbs cool, centre white-ish.
_LEFT = {1, 4, 7, 10, 13, 16, 18, 20, 22}
_RIGHT = {2, 5, 8, 11, 14, 17, 19, 21, 23}


def _colour(j: int) -> tuple[int, int, int]:
    if j in _LEFT:
        return (255, 140, 40)
    if j in _RIGHT:
        return (40, 160, 255)
    return (230, 230, 230)


def render_preview(joints: np.ndarray, up: str = "z", panels: int = 6, size: int = 256,
                   title: str | None = None) -> np.ndarray:
    """RGB uint8 image (size, size * panels, 3) of the skeleton at `panels` evenly spaced frames.

    joints: (T, 24, 3) world positions in metres with `up` the vertical axis.
    """
    import cv2

    joints = np.asarray(joints, np.float64)
    T = joints.shape[0]
    idx = np.unique(np.linspace(0, T - 1, min(panels, T)).round().astype(int))
    if up == "z":
        vert = joints[..., 2]
        horiz_axes = joints[..., :2]
    else:
        vert = joints[..., 1]
        horiz_axes = joints[..., [0, 2]]
    # View direction: the horizontal facing of the first frame's hips (left hip - right hip).
    lr = horiz_axes[0, 1] - horiz_axes[0, 2]
    lr = lr / max(np.linalg.norm(lr), 1e-9)
    # Image x runs from the body's left to right as seen from the front: the viewer's right = body's left.
    hx = horiz_axes @ lr
    hx_rel = hx - hx[:, :1]  # each panel centred on its own pelvis
    lo = float(np.nanmin(vert))
    hi = float(np.nanmax(vert))
    span = max(hi - lo, float(np.nanmax(np.abs(hx_rel))) * 2, 0.5) * 1.15
    scale = size / span
    img = np.full((size, size * len(idx), 3), 24, np.uint8)
    for k, t in enumerate(idx):
        ox = k * size + size / 2
        pts = np.stack([ox + hx_rel[t] * scale, size - ((vert[t] - lo) * scale + size * 0.06)], -1)
        cv2.line(img, (k * size, size - int(size * 0.06)), ((k + 1) * size - 1, size - int(size * 0.06)),
                 (70, 70, 70), 1)
        for j in range(1, 24):
            p = SMPL_PARENTS[j]
            a, b = pts[p], pts[j]
            if np.all(np.isfinite([a, b])):
                cv2.line(img, tuple(int(v) for v in a.round()), tuple(int(v) for v in b.round()),
                         _colour(j), 2, cv2.LINE_AA)
        for j in range(24):
            if np.all(np.isfinite(pts[j])):
                cv2.circle(img, tuple(int(v) for v in pts[j].round()), 3, _colour(j), -1, cv2.LINE_AA)
        cv2.putText(img, f"frame {t}", (k * size + 6, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.45,
                    (200, 200, 200), 1, cv2.LINE_AA)
    if title:
        cv2.putText(img, title[:80], (6, size - 6), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (160, 160, 160), 1,
                    cv2.LINE_AA)
    return img


def preview_path(out: str | Path) -> Path:
    """motion.npz -> motion.preview.png beside it."""
    out = Path(out)
    return out.with_name(out.stem + ".preview.png")


def write_preview(motion, body, out: str | Path, panels: int = 6, size: int = 256) -> Path:
    """Write the skeleton preview of `motion` on `body` to `out` (PNG, atomically)."""
    from neural_render.fileio import write_image

    img = render_preview(motion.joints(body), motion.up, panels, size,
                         title=f"{motion.num_frames} frames @ {motion.fps:g} fps")
    write_image(out, img)
    return Path(out)


def _project(points: np.ndarray, cam: dict) -> np.ndarray:
    """World points (..., 3) -> pixels (..., 2) with an OpenCV camera dict (K, world_to_camera,
    optional dist); NaN behind the camera."""
    from neural_render.camera import Camera

    # Lens distortion applied exactly as the fit saw it; the image size plays no part here.
    camera = Camera(cam["K"], cam["world_to_camera"], cam.get("width", 0), cam.get("height", 0), cam.get("dist"))
    return camera.project(points)[0]


def read_video_frames(video: str | Path, indices: list[int]) -> dict[int, np.ndarray]:
    """RGB frames at the given indices of a video or a folder of frames (missing ones left out)."""
    from neural_render.video import read_frames

    return read_frames(video, indices)


def render_video_preview(joints: np.ndarray, fps: float, camera: dict, video: str | Path, panels: int = 4,
                         height: int = 320, start_frame: int = 0) -> np.ndarray | None:
    """The fitted body's skeleton drawn over real video frames, side by side (RGB uint8).

    joints: (T, 24, 3) world joints (the fit's world, metres); motion frame t is at t / fps
    seconds after video frame `start_frame`, the video's frame at that time is used. None when
    the video cannot be read.
    """
    import cv2

    cap = cv2.VideoCapture(str(video))
    vfps = cap.get(cv2.CAP_PROP_FPS) or fps
    n_video = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
    cap.release()
    T = joints.shape[0]
    ts = np.unique(np.linspace(0, T - 1, min(panels, T)).round().astype(int))
    vidx = [int(start_frame) + int(round(t / fps * vfps)) for t in ts]
    if n_video:
        vidx = [min(i, n_video - 1) for i in vidx]
    frames = read_video_frames(video, vidx)
    if not frames:
        return None
    uv = _project(joints[ts], camera)
    tiles = []
    for k, (t, vi) in enumerate(zip(ts, vidx)):
        img = frames.get(vi)
        if img is None:
            continue
        s = height / img.shape[0]
        tile = cv2.resize(img, (max(1, int(img.shape[1] * s)), height), interpolation=cv2.INTER_AREA)
        tile = np.ascontiguousarray(tile)
        pts = uv[k] * s
        for j in range(1, 24):
            a, b = pts[SMPL_PARENTS[j]], pts[j]
            if np.all(np.isfinite([a, b])):
                cv2.line(tile, tuple(int(v) for v in a.round()), tuple(int(v) for v in b.round()), _colour(j), 2,
                         cv2.LINE_AA)
        for j in range(24):
            if np.all(np.isfinite(pts[j])):
                cv2.circle(tile, tuple(int(v) for v in pts[j].round()), 3, _colour(j), -1, cv2.LINE_AA)
        cv2.putText(tile, f"frame {t}", (6, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (255, 255, 255), 1, cv2.LINE_AA)
        tiles.append(tile)
    return np.concatenate(tiles, axis=1) if tiles else None
