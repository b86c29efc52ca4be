"""Cameras in OpenCV convention, automatic framing, and conversion to/from Blender cameras.

`Camera` holds K (3x3) and world_to_camera (4x4) in the OpenCV convention: the camera looks down
+z, x right, y down; pixel (i, j) has its centre at u = i, v = j (the image's top-left corner is at
(-0.5, -0.5)). World is Blender's Z-up world, metres.

A Blender camera looks down its local -z with +y up, and its raster has pixel centres at +0.5, so
`to_blender`/`from_blender` flip y and z and shift the principal point by half a pixel.

`follow_camera` frames a moving body and follows it smoothly: orientation and distance are fixed
for the whole sequence, and only the position moves along a zero-phase Gaussian low-pass of the
body's centre, so there is no per-frame jitter. `fixed_camera` is the same with the centre held
still (everything stays in view for the whole sequence).

Only numpy at import time.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# OpenCV camera axes (x right, y down, z forward) <-> Blender camera axes (x right, y up, z back).
CV_TO_BLENDER_CAM = np.diag([1.0, -1.0, -1.0])


@dataclass(eq=False)
class Camera:
    """A pinhole camera, OpenCV convention. K (3,3) pixels; world_to_camera (4,4) metres."""

    K: np.ndarray
    world_to_camera: np.ndarray
    width: int
    height: int

    def __post_init__(self):
        self.K = np.asarray(self.K, np.float64).reshape(3, 3)
        self.world_to_camera = np.asarray(self.world_to_camera, np.float64).reshape(4, 4)
        self.width, self.height = int(self.width), int(self.height)

    @property
    def R(self) -> np.ndarray:
        """(3,3) world -> OpenCV camera rotation."""
        return self.world_to_camera[:3, :3]

    @property
    def t(self) -> np.ndarray:
        return self.world_to_camera[:3, 3]

    @property
    def camera_to_world(self) -> np.ndarray:
        return np.linalg.inv(self.world_to_camera)

    @property
    def position(self) -> np.ndarray:
        """(3,) camera centre in world coordinates."""
        return -self.R.T @ self.t

    def to_camera(self, points: np.ndarray) -> np.ndarray:
        """(..., 3) world points -> (..., 3) OpenCV camera coordinates (z = planar depth, metres)."""
        return np.asarray(points, np.float64) @ self.R.T + self.t

    def project(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(..., 3) world points -> pixel coordinates (..., 2) (OpenCV, centres at integers) and depth (...)."""
        pc = self.to_camera(points)
        z = pc[..., 2]
        with np.errstate(divide="ignore", invalid="ignore"):
            uvw = pc @ self.K.T
            uv = uvw[..., :2] / uvw[..., 2:3]
        return uv, z

    def normals_to_camera(self, normals_world: np.ndarray) -> np.ndarray:
        """(..., 3) world normals -> the passes' camera space (x right, y up, z toward the camera)."""
        return np.asarray(normals_world) @ (CV_TO_BLENDER_CAM @ self.R).T

    def gl_projection(self, near: float, far: float) -> np.ndarray:
        """(4,4) matrix taking OpenCV camera coordinates to GL clip space such that window pixel
        centres (i + 0.5) sample OpenCV pixel i, with image row 0 at the *bottom* of the GL window
        flipped: read the framebuffer back and flip rows to get the OpenCV image."""
        W, H = self.width, self.height
        fx, s, cx = self.K[0]
        fy, cy = self.K[1, 1], self.K[1, 2]
        P = np.zeros((4, 4))
        P[0] = [2 * fx / W, 2 * s / W, 2 * (cx + 0.5) / W - 1, 0]
        P[1] = [0, -2 * fy / H, -(2 * (cy + 0.5) / H - 1), 0]
        P[2] = [0, 0, (far + near) / (far - near), -2 * far * near / (far - near)]
        P[3] = [0, 0, 1, 0]
        return P

    def scaled(self, width: int, height: int) -> "Camera":
        """The same view at another resolution (K scaled about the image's corner)."""
        sx, sy = width / self.width, height / self.height
        K = self.K.copy()
        K[0, 0] *= sx
        K[0, 1] *= sx
        K[1, 1] *= sy
        K[0, 2] = (K[0, 2] + 0.5) * sx - 0.5
        K[1, 2] = (K[1, 2] + 0.5) * sy - 0.5
        return Camera(K, self.world_to_camera.copy(), width, height)

    def to_dict(self) -> dict:
        return {"K": self.K.tolist(), "world_to_camera": self.world_to_camera.tolist(),
                "width": self.width, "height": self.height}

    @classmethod
    def from_dict(cls, d: dict) -> "Camera":
        return cls(np.asarray(d["K"]), np.asarray(d["world_to_camera"]), d["width"], d["height"])

    # --- Blender -------------------------------------------------------------------------------

    def blender_settings(self, sensor_width: float = 36.0) -> dict:
        """Blender camera data + object settings reproducing this camera exactly.

        Keys: lens, sensor_width, sensor_fit ('HORIZONTAL'), shift_x, shift_y (units of the image
        width), matrix_world (4x4, camera object -> world), resolution (W, H), pixel_aspect (x, y).
        Blender has no skew; a non-zero K[0,1] is dropped.
        """
        W, H = self.width, self.height
        fx, fy, cx, cy = self.K[0, 0], self.K[1, 1], self.K[0, 2], self.K[1, 2]
        # Non-square pixels: Blender stretches pixels vertically by pixel_aspect_y / pixel_aspect_x.
        aspect = (1.0, fx / fy) if fy < fx else (fy / fx, 1.0)
        return {
            "lens": fx * sensor_width / W,
            "sensor_width": sensor_width,
            "sensor_fit": "HORIZONTAL",
            # Blender's principal point sits at the continuous image centre W/2 - shift_x W (x from
            # the left edge) and H/2 + shift_y W (y from the top); OpenCV's cx is half a pixel less.
            "shift_x": (W / 2.0 - 0.5 - cx) / W,
            "shift_y": (cy + 0.5 - H / 2.0) * (fx / fy) / W,
            "matrix_world": self.camera_to_world @ _h(CV_TO_BLENDER_CAM),
            "resolution": (W, H),
            "pixel_aspect": aspect,
        }

    def to_blender(self, cam_obj, scene=None) -> None:
        """Set a Blender camera object (and the scene's resolution) to this camera."""
        s = self.blender_settings()
        if abs(s["pixel_aspect"][0] - s["pixel_aspect"][1]) > 1e-9:
            # Blender 5 cannot write its multilayer EXR with non-square pixels.
            from neural_render.errors import InputError

            raise InputError(f"non-square pixels (fx={self.K[0, 0]:.3f}, fy={self.K[1, 1]:.3f}) are not supported "
                             "by the Blender renderer", fix="use a camera with fx == fy or --renderer raster")
        cam = cam_obj.data
        cam.type = "PERSP"
        cam.sensor_fit = s["sensor_fit"]
        cam.sensor_width = s["sensor_width"]
        cam.lens = s["lens"]
        cam.shift_x = s["shift_x"]
        cam.shift_y = s["shift_y"]
        from mathutils import Matrix  # Blender's; a plain nested list would be read column-major

        cam_obj.matrix_world = Matrix([list(map(float, r)) for r in s["matrix_world"]])
        if scene is not None:
            r = scene.render
            r.resolution_x, r.resolution_y = s["resolution"]
            r.resolution_percentage = 100
            r.pixel_aspect_x, r.pixel_aspect_y = s["pixel_aspect"]

    @classmethod
    def from_blender(cls, cam_obj, scene, depsgraph=None) -> "Camera":
        """The OpenCV camera of a Blender camera object as `scene` renders it (current frame)."""
        r = scene.render
        W = int(round(r.resolution_x * r.resolution_percentage / 100))
        H = int(round(r.resolution_y * r.resolution_percentage / 100))
        cam = cam_obj.data
        if cam.type != "PERSP":
            from neural_render.errors import InputError

            raise InputError(f"camera type {cam.type} is not supported", where=cam_obj.name,
                             fix="use a perspective camera")
        ax, ay = float(r.pixel_aspect_x), float(r.pixel_aspect_y)
        fit = cam.sensor_fit
        if fit == "AUTO":
            fit = "HORIZONTAL" if W * ax >= H * ay else "VERTICAL"
            sensor = cam.sensor_width
        else:
            sensor = cam.sensor_width if fit == "HORIZONTAL" else cam.sensor_height
        if fit == "HORIZONTAL":
            fx = cam.lens / sensor * W
            fy = fx * ax / ay
            shift_unit = W
        else:
            fy = cam.lens / sensor * H
            fx = fy * ay / ax
            shift_unit = H * ay / ax
        cx = W / 2.0 - 0.5 - cam.shift_x * shift_unit
        cy = H / 2.0 - 0.5 + cam.shift_y * shift_unit * fy / fx
        K = np.array([[fx, 0, cx], [0, fy, cy], [0, 0, 1.0]])
        obj = cam_obj.evaluated_get(depsgraph) if depsgraph is not None else cam_obj
        M = np.array(obj.matrix_world, np.float64)
        # Remove scale from the object matrix: only the rotation and position define the view.
        M[:3, :3] /= np.linalg.norm(M[:3, :3], axis=0, keepdims=True)
        w2c = _h(CV_TO_BLENDER_CAM) @ np.linalg.inv(M)
        return cls(K, w2c, W, H)


def _h(R: np.ndarray) -> np.ndarray:
    M = np.eye(4)
    M[:3, :3] = R
    return M


def intrinsics(width: int, height: int, focal_mm: float = 50.0, sensor_mm: float = 36.0) -> np.ndarray:
    """K for a centred principal point and square pixels; focal length as on a 36 mm-wide sensor."""
    f = focal_mm / sensor_mm * width
    return np.array([[f, 0, (width - 1) / 2.0], [0, f, (height - 1) / 2.0], [0, 0, 1.0]])


def look_at(eye, target, size, up=(0.0, 0.0, 1.0), focal_mm: float = 50.0) -> Camera:
    """A camera at `eye` looking at `target` (world, Z-up), `size` = int or (W, H)."""
    W, H = _size(size)
    eye, target, up = (np.asarray(a, np.float64) for a in (eye, target, up))
    z = target - eye
    z /= np.linalg.norm(z)
    x = np.cross(z, up)
    if np.linalg.norm(x) < 1e-9:  # looking straight along `up`
        x = np.cross(z, [0.0, 1.0, 0.0])
    x /= np.linalg.norm(x)
    y = np.cross(z, x)  # OpenCV: y down
    R = np.stack([x, y, z])
    w2c = np.eye(4)
    w2c[:3, :3] = R
    w2c[:3, 3] = -R @ eye
    return Camera(intrinsics(W, H, focal_mm), w2c, W, H)


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
