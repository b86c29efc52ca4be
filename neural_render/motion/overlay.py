"""Overlay of a fit on a real frame: the fitted body's mesh (translucent), its BODY_25 skeleton
(green) and the detections (red), for checking by eye that the body lies on the person."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from neural_render.body.skeletons import BODY25_LIMBS
from neural_render.camera import Camera


def draw_fit(image: np.ndarray, camera: Camera, vertices: np.ndarray, faces: np.ndarray,
             keypoints3d: np.ndarray | None = None, detections: np.ndarray | None = None,
             alpha: float = 0.45) -> np.ndarray:
    """RGB uint8 image (H, W, 3) with the posed mesh (V, 3 world) projected through `camera` blended on."""
    import cv2

    img = image.copy()
    uv, depth = camera.project(vertices)
    tri = faces[np.all(depth[faces] > 0.05, 1)]
    # Back-to-front so nearer faces paint last; shade by facing ratio for some 3D cue.
    order = np.argsort(-depth[tri].mean(1))
    tri = tri[order]
    pc = camera.to_camera(vertices)
    n = np.cross(pc[tri[:, 1]] - pc[tri[:, 0]], pc[tri[:, 2]] - pc[tri[:, 0]])
    n /= np.maximum(np.linalg.norm(n, axis=1, keepdims=True), 1e-12)
    view = -pc[tri].mean(1)
    view /= np.maximum(np.linalg.norm(view, axis=1, keepdims=True), 1e-12)
    shade = np.abs((n * view).sum(1))
    layer = img.copy()
    pts = np.round(uv[tri] * 16).astype(np.int32)
    finite = np.all(np.isfinite(uv[tri]), (1, 2))
    for p, s in zip(pts[finite], shade[finite]):
        c = int(60 + 180 * s)
        cv2.fillConvexPoly(layer, p, (c // 2, c // 2, c), lineType=cv2.LINE_AA, shift=4)
    mask = np.any(layer != img, -1)
    img[mask] = (alpha * layer[mask] + (1 - alpha) * img[mask]).astype(np.uint8)
    if detections is not None:
        _skeleton(img, detections[:, :2], detections[:, 2] > 0.1, (255, 40, 40))
    if keypoints3d is not None:
        kp = camera.project(keypoints3d)[0]
        _skeleton(img, kp, np.all(np.isfinite(kp), 1), (40, 255, 40))
    return img


def _skeleton(img, uv, ok, color):
    import cv2

    r = max(2, img.shape[0] // 300)
    for a, b in BODY25_LIMBS:
        if ok[a] and ok[b]:
            cv2.line(img, tuple(int(v) for v in uv[a]), tuple(int(v) for v in uv[b]), color, r, cv2.LINE_AA)
    for i in np.flatnonzero(ok):
        cv2.circle(img, tuple(int(v) for v in uv[i]), r + 1, color, -1, cv2.LINE_AA)


def overlay_frames(result, body, videos: list[str | Path], frame: int, detections: np.ndarray | None = None,
                   height: int = 720) -> np.ndarray:
    """One frame of every camera side by side (RGB), each with the fit drawn on, scaled to `height`."""
    import cv2

    from neural_render.motion.keypoint_import import read_video_frame
    from neural_render.motion.keypoints import to_body25

    m = result.motion
    verts = body.forward(m.poses[frame:frame + 1], m.betas, m.trans[frame:frame + 1], keypoints=False).vertices[0]
    tiles = []
    for c, (cam, video) in enumerate(zip(result.cameras, videos)):
        img = read_video_frame(video, frame)
        if img.shape[1] != cam.width or img.shape[0] != cam.height:
            img = cv2.resize(img, (cam.width, cam.height))
        det = None
        if detections is not None:
            det = detections[c, frame]
            if det.shape[0] != 25:
                det = None
        tile = draw_fit(img, cam, verts, body.faces, result.keypoints3d[frame], det)
        s = height / tile.shape[0]
        tiles.append(cv2.resize(tile, (int(tile.shape[1] * s), height), interpolation=cv2.INTER_AREA))
    return np.concatenate(tiles, 1)


def write_overlay(path: str | Path, result, body, videos, frame: int, detections=None, height: int = 720) -> Path:
    from neural_render.fileio import write_image

    write_image(path, overlay_frames(result, body, list(videos), frame, detections, height))
    return Path(path)
