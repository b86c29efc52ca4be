"""A headless picture of a body: part-coloured, flat-shaded, painter's-algorithm rasterizer.

Numpy + OpenCV only (no OpenGL, no Blender), so it runs anywhere the tests run. Used by
`neural-render body preview` and for eyeballing the default body while building it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

# 24 distinct colours (RGB), one per SMPL part, indexed by part label - 1.
PART_COLOURS = np.array([
    [230, 25, 75], [60, 180, 75], [255, 225, 25], [0, 130, 200], [245, 130, 48], [145, 30, 180],
    [70, 240, 240], [240, 50, 230], [210, 245, 60], [250, 190, 212], [0, 128, 128], [220, 190, 255],
    [170, 110, 40], [255, 250, 200], [128, 0, 0], [170, 255, 195], [128, 128, 0], [255, 215, 180],
    [0, 0, 128], [128, 128, 128], [255, 99, 71], [64, 224, 208], [154, 205, 50], [199, 21, 133],
], dtype=np.float32)


def render_mesh(vertices: np.ndarray, faces: np.ndarray, face_colours: np.ndarray, size: int = 512,
                view: str = "front", margin: float = 0.06, bounds: tuple | None = None,
                points: np.ndarray | None = None, point_colour=(0, 0, 0)) -> np.ndarray:
    """Orthographic render (H, W, 3) uint8 RGB of a Y-up mesh.

    Args:
        vertices: (V, 3) metres, model space (Y-up, body facing +z).
        faces: (F, 3) vertex indices.
        face_colours: (F, 3) RGB 0..255.
        view: "front" (camera on +z), "side" (camera on +x, the body's left) or "back".
        bounds: (xmin, xmax, ymin, ymax) of the projected view; default fits the mesh.
        points: optional (K, 3) points drawn as dots on top (e.g. joints).
    """
    import cv2

    if view == "front":
        P = np.array([[1, 0, 0], [0, 1, 0], [0, 0, 1]], np.float64)
    elif view == "side":  # looking at the body's left side: screen-right is the body's front (+z)
        P = np.array([[0, 0, 1], [0, 1, 0], [1, 0, 0]], np.float64)
    elif view == "back":
        P = np.array([[-1, 0, 0], [0, 1, 0], [0, 0, -1]], np.float64)
    else:
        raise ValueError(f"unknown view {view!r}")
    p = np.asarray(vertices, np.float64) @ P.T  # x right, y up, z toward the camera
    if bounds is None:
        lo, hi = p[:, :2].min(0), p[:, :2].max(0)
    else:
        lo, hi = np.array(bounds[0::2], float), np.array(bounds[1::2], float)
    scale = (1 - 2 * margin) * size / max(hi - lo)
    centre = (lo + hi) / 2
    px = np.empty((len(p), 2))
    px[:, 0] = size / 2 + (p[:, 0] - centre[0]) * scale
    px[:, 1] = size / 2 - (p[:, 1] - centre[1]) * scale
    tri = p[faces]
    n = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    n /= np.maximum(np.linalg.norm(n, axis=1, keepdims=True), 1e-12)
    light = np.array([0.3, 0.4, 1.0])
    light /= np.linalg.norm(light)
    shade = 0.35 + 0.65 * np.abs(n @ light)  # two-sided: inner surfaces are lit too
    cols = np.clip(face_colours * shade[:, None], 0, 255)
    order = np.argsort(tri[:, :, 2].mean(1))  # far to near
    img = np.full((size, size, 3), 255, np.uint8)
    pts = np.round(px[faces] * 4).astype(np.int32)  # 2 bits of sub-pixel precision
    for f in order:
        c = cols[f]
        cv2.fillConvexPoly(img, pts[f], (int(c[0]), int(c[1]), int(c[2])), lineType=cv2.LINE_AA, shift=2)
    if points is not None:
        q = np.asarray(points, np.float64) @ P.T
        for x, y in zip(size / 2 + (q[:, 0] - centre[0]) * scale, size / 2 - (q[:, 1] - centre[1]) * scale):
            cv2.circle(img, (int(round(x)), int(round(y))), max(2, size // 150), point_colour, -1, cv2.LINE_AA)
    return img


def part_face_colours(body, faces: np.ndarray | None = None) -> np.ndarray:
    """(F, 3) colours of the faces by the part of their first vertex."""
    faces = body.faces if faces is None else faces
    parts = body.parts if body.parts is not None else np.argmax(body.weights, 1) + 1
    return PART_COLOURS[parts[faces[:, 0]].astype(int) - 1]


def preview_sheet(body, poses: np.ndarray, size: int = 384, views=("front", "side"),
                  show_joints: bool = True, betas: np.ndarray | None = None) -> np.ndarray:
    """One image: a row per view, a column per pose ((N, 72) axis-angle); black dots = joints.

    All tiles share one scale (the largest extent over poses and views), each centred on its body.
    """
    out = body.forward(np.asarray(poses, np.float32), betas)
    colours = part_face_colours(body)
    span = 0.0
    for v in out.vertices:
        span = max(span, float(np.ptp(v, axis=0).max()))
    rows = []
    for view in views:
        tiles = []
        for i in range(len(poses)):
            v = out.vertices[i]
            mid = (v.min(0) + v.max(0)) / 2
            cx = {"front": mid[0], "back": -mid[0], "side": mid[2]}[view]
            bounds = (cx - span / 2, cx + span / 2, mid[1] - span / 2, mid[1] + span / 2)
            tiles.append(render_mesh(v, body.faces, colours, size, view, bounds=bounds,
                                     points=out.joints[i] if show_joints else None))
        rows.append(np.concatenate(tiles, 1))
    return np.concatenate(rows, 0)


def default_pose_file() -> Path | None:
    """The shared sample SMPL sequence (../shared/data/smpl/smpl_to_fbx_sample.pkl), if present."""
    import os

    from neural_render.paths import PACKAGE_DIR

    env = os.environ.get("NEURAL_RENDER_SHARED_DATA")
    base = Path(env) if env else PACKAGE_DIR.parent.parent / "shared" / "data"
    p = base / "smpl" / "smpl_to_fbx_sample.pkl"
    return p if p.is_file() else None


def builtin_poses() -> np.ndarray:
    """A few hand-made SMPL poses (N, 72) that exercise shoulders, elbows, hips, knees and spine."""
    poses = np.zeros((3, 72), np.float32)
    # arms down, left elbow bent forward, left hip flexed, left knee bent back
    poses[0, 16 * 3 + 2], poses[0, 17 * 3 + 2] = -1.2, 1.2
    poses[0, 18 * 3 + 1] = -1.4
    poses[0, 1 * 3], poses[0, 4 * 3] = -0.8, 1.2
    # arms raised, spine bent forward, right knee bent
    poses[1, 16 * 3 + 2], poses[1, 17 * 3 + 2] = 1.0, -1.0
    poses[1, 3 * 3], poses[1, 6 * 3] = 0.3, 0.3
    poses[1, 5 * 3] = 1.5
    # sitting-like: both hips flexed 90 deg, knees bent 90 deg, elbows bent
    poses[2, 1 * 3], poses[2, 2 * 3] = -1.57, -1.57
    poses[2, 4 * 3], poses[2, 5 * 3] = 1.57, 1.57
    poses[2, 18 * 3 + 1], poses[2, 19 * 3 + 1] = -1.57, 1.57
    return poses


def sample_poses(path: str | Path | None = None, count: int = 5) -> np.ndarray:
    """(count, 72): the rest pose, then `count - 1` evenly spaced frames of an SMPL pose pickle
    (keys smpl_poses or poses; root orientation zeroed so every tile faces the camera); without a
    file, the built-in poses."""
    poses = [np.zeros(72, np.float32)]
    if count > 1:
        if path is not None:
            from neural_render.body.safe_pickle import safe_load_pickle
            from neural_render.errors import InputError

            data = safe_load_pickle(path)
            key = next((k for k in ("smpl_poses", "poses") if isinstance(data, dict) and k in data), None)
            if key is None:
                raise InputError("no 'smpl_poses' or 'poses' array in pose file", path=path)
            seq = np.asarray(data[key], np.float32).reshape(len(data[key]), -1)
            if seq.shape[1] < 72:
                raise InputError(f"'{key}' has {seq.shape[1]} values per frame, expected >= 72", path=path)
            seq = seq[:, :72]
        else:
            seq = builtin_poses()
        for i in np.linspace(0, len(seq) - 1, count - 1).round().astype(int):
            p = seq[i].copy()
            p[:3] = 0
            poses.append(p)
    return np.stack(poses)


def write_preview(body, out: str | Path, poses: np.ndarray, size: int = 384,
                  betas: np.ndarray | None = None) -> Path:
    """Render the sheet and write it atomically as PNG."""
    from neural_render.fileio import write_image

    img = preview_sheet(body, poses, size, betas=betas)
    write_image(out, img)
    return Path(out)
