"""Automatic framing of the passes' cameras (`neural_render.camera.Camera`, OpenCV convention).

`follow_camera` frames a moving body and follows it smoothly: orientation and distance are fixed
for the whole sequence, and only the position moves along a zero-phase Gaussian low-pass of the
body's centre, so there is no per-frame jitter. `fixed_camera` is the same with the centre held
still (everything stays in view for the whole sequence).

Only numpy at import time.
"""

from __future__ import annotations

import numpy as np

from neural_render.camera import Camera, intrinsics


def _size(size) -> tuple[int, int]:
    if np.isscalar(size):
        return int(size), int(size)
    return int(size[0]), int(size[1])


def facing_direction(joints: np.ndarray, up=(0.0, 0.0, 1.0)) -> np.ndarray:
    """(3,) the body's mean horizontal facing direction from (T, 24, 3) SMPL joints (world).

    SMPL: +x is the body's left, so forward = (left_hip - right_hip) x up.
    """
    up = np.asarray(up, np.float64)
    left = joints[:, 1] - joints[:, 2]
    left = left + (joints[:, 16] - joints[:, 17])  # shoulders too: robust when hips are crossed
    fwd = np.cross(left, up)
    fwd -= np.outer(fwd @ up, up)
    n = np.linalg.norm(fwd, axis=1, keepdims=True)
    fwd = (fwd / np.maximum(n, 1e-9)).mean(0)
    if np.linalg.norm(fwd) < 1e-6:
        fwd = np.array([0.0, -1.0, 0.0])
    return fwd / np.linalg.norm(fwd)


def gaussian_smooth(x: np.ndarray, sigma: float) -> np.ndarray:
    """Zero-phase Gaussian low-pass along axis 0 (edges padded with the end values)."""
    x = np.asarray(x, np.float64)
    if sigma <= 0 or len(x) < 2:
        return x.copy()
    r = int(np.ceil(3 * sigma))
    k = np.exp(-0.5 * (np.arange(-r, r + 1) / sigma) ** 2)
    k /= k.sum()
    pad = np.concatenate([np.repeat(x[:1], r, 0), x, np.repeat(x[-1:], r, 0)])
    out = np.empty_like(x)
    flat = pad.reshape(len(pad), -1)
    res = np.stack([np.convolve(flat[:, i], k, mode="valid") for i in range(flat.shape[1])], 1)
    out[:] = res.reshape(x.shape)
    return out


def follow_camera(joints_world: np.ndarray, size, fps: float = 30.0, smoothing_s: float = 0.5,
                  focal_mm: float = 50.0, margin: float = 0.2, fill: float = 0.9,
                  elevation_deg: float = 5.0, azimuth_deg: float = 0.0, direction=None,
                  up=(0.0, 0.0, 1.0), fixed: bool = False) -> list[Camera]:
    """Per-frame cameras that frame the body and follow it smoothly.

    Args:
        joints_world: (T, 24, 3) SMPL joints in world coordinates (Z-up), metres; for several
            people concatenate them along the joint axis (T, 24 k, 3).
        size: int or (W, H) pixels.
        fps, smoothing_s: the centre track is low-passed with a Gaussian of sigma smoothing_s * fps
            frames (zero phase, so the camera does not lag).
        margin: metres added around the joints (flesh, hair, feet) when fitting the frame.
        fill: the body fills at most this fraction of the image's half-width/half-height.
        elevation_deg: camera above the centre, looking down by this angle.
        azimuth_deg: rotation of the view about `up` from the body's mean facing direction.
        direction: (3,) horizontal direction from the body toward the camera (overrides facing).
        fixed: hold the centre still (the mean) -> a fixed camera that keeps the whole clip in view.
    Returns: T cameras with one K, one orientation and one distance; positions follow the body.
    """
    W, H = _size(size)
    J = np.asarray(joints_world, np.float64)
    T = J.shape[0]
    up = np.asarray(up, np.float64)
    lo, hi = J.min(1), J.max(1)
    centre = 0.5 * (lo + hi)
    if J.shape[1] % 24 == 0:
        # Follow the pelvises, not the joints' bounding box: a swinging arm moves the box's centre
        # but should not move the camera. Vertically keep the box centre's mean height above them.
        pelvis = J[:, ::24].mean(1)
        centre = pelvis + ((centre - pelvis) @ up).mean() * up
    if fixed:
        centre = np.repeat(0.5 * (lo.min(0) + hi.max(0))[None], T, 0)
    else:
        centre = gaussian_smooth(centre, smoothing_s * fps)
    fwd = np.asarray(direction, np.float64) if direction is not None else facing_direction(J[:, :24], up)
    fwd = fwd - (fwd @ up) * up
    fwd /= np.linalg.norm(fwd)
    a = np.deg2rad(azimuth_deg)
    side = np.cross(up, fwd)
    to_cam = np.cos(a) * fwd + np.sin(a) * side
    e = np.deg2rad(elevation_deg)
    to_cam = np.cos(e) * to_cam + np.sin(e) * up
    # Camera basis (OpenCV): z looks toward the body, x right, y down.
    z = -to_cam
    x = np.cross(z, up)
    x /= np.linalg.norm(x)
    y = np.cross(z, x)
    R = np.stack([x, y, z])
    K = intrinsics(W, H, focal_mm)
    fx, fy = K[0, 0], K[1, 1]
    # Smallest distance D such that every joint (+ margin) projects inside `fill` of the image in
    # every frame: for offsets (a, b, c) in the camera basis, fx (|a| + m) / (D + c - m) <= fill W/2.
    rel = np.einsum("ij,tkj->tki", R, J - centre[:, None])
    ax, by, cz = np.abs(rel[..., 0]) + margin, np.abs(rel[..., 1]) + margin, rel[..., 2] - margin
    D = max(float(np.max(fx * ax / (fill * W / 2) - cz)), float(np.max(fy * by / (fill * H / 2) - cz)), 0.5)
    cams = []
    for t in range(T):
        eye = centre[t] - z * D
        w2c = np.eye(4)
        w2c[:3, :3] = R
        w2c[:3, 3] = -R @ eye
        cams.append(Camera(K.copy(), w2c, W, H))
    return cams


def fixed_camera(joints_world: np.ndarray, size, **kwargs) -> list[Camera]:
    """One still camera (repeated per frame) that keeps the whole clip in view; see follow_camera."""
    kwargs["fixed"] = True
    return follow_camera(joints_world, size, **kwargs)
