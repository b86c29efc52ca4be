"""The one camera of the package: a pinhole with optional OpenCV lens distortion, numpy only.

Convention (stated here once, used by every reader, renderer, fit and label writer):
- OpenCV axes: the camera looks down +z, x right, y down; `world_to_camera` (4, 4) maps world
  points (Blender's Z-up world, metres) into that frame.
- `K` (3, 3) in pixels, and pixel (i, j) has its centre at u = i, v = j: the image spans
  -0.5 .. W - 0.5 across and -0.5 .. H - 0.5 down, and a centred lens has its principal point at
  ((W - 1) / 2, (H - 1) / 2).
- `dist` (5,) OpenCV order k1 k2 p1 p2 k3 (zeros: an ideal pinhole).

A Blender camera looks down its local -z with +y up and puts its principal point at the continuous
image centre, so `blender_settings`/`from_blender` flip y and z and move the principal point by
half a pixel; the GL raster renderer's `gl_projection` does the same for window pixel centres.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

# OpenCV camera axes (x right, y down, z forward) <-> Blender camera axes (x right, y up, z back).
CV_TO_BLENDER_CAM = np.diag([1.0, -1.0, -1.0])


@dataclass(eq=False)
class Camera:
    """A pinhole camera, OpenCV convention (see the module docstring). Units: pixels, metres."""

    K: np.ndarray                 # (3, 3) pixels
    world_to_camera: np.ndarray   # (4, 4) metres, OpenCV axes
    width: int
    height: int
    dist: np.ndarray | None = None  # (5,) k1 k2 p1 p2 k3; None -> zeros
    name: str = ""

    def __post_init__(self):
        self.K = np.asarray(self.K, np.float64).reshape(3, 3)
        self.world_to_camera = np.asarray(self.world_to_camera, np.float64).reshape(4, 4)
        d = np.zeros(5)
        if self.dist is not None:
            src = np.asarray(self.dist, np.float64).ravel()[:5]
            d[:len(src)] = src
        self.dist = d
        self.width, self.height = int(self.width), int(self.height)
        self.name = str(self.name)

    # --- constructors ---------------------------------------------------------------------------

    @classmethod
    def look_at(cls, eye, target, width: int, height: int, K: np.ndarray | None = None,
                focal_mm: float = 50.0, up=(0.0, 0.0, 1.0), name: str = "") -> "Camera":
        """A camera at `eye` looking at `target` (world, metres) with `up` pointing up in the image.

        K defaults to `intrinsics(width, height, focal_mm)` (centred lens, 36 mm-wide sensor).
        """
        K = intrinsics(width, height, focal_mm) if K is None else K
        return cls(K, look_at_world_to_camera(eye, target, up), width, height, name=name)

    # --- geometry -------------------------------------------------------------------------------

    @property
    def R(self) -> np.ndarray:
        """(3, 3) world -> OpenCV camera rotation."""
        return self.world_to_camera[:3, :3]

    @property
    def t(self) -> np.ndarray:
        """(3,) world -> camera translation, metres."""
        return self.world_to_camera[:3, 3]

    @property
    def camera_to_world(self) -> np.ndarray:
        return np.linalg.inv(self.world_to_camera)

    @property
    def center(self) -> np.ndarray:
        """(3,) camera centre in world coordinates, metres."""
        return -self.R.T @ self.t

    @property
    def P(self) -> np.ndarray:
        """(3, 4) pinhole projection matrix K [R | t] (no distortion)."""
        return self.K @ self.world_to_camera[:3]

    def to_camera(self, points: np.ndarray) -> np.ndarray:
        """(..., 3) world points -> (..., 3) OpenCV camera coordinates (z = planar depth, metres)."""
        return np.asarray(points, np.float64) @ self.R.T + self.t

    def project(self, points: np.ndarray, distort: bool = True) -> tuple[np.ndarray, np.ndarray]:
        """(..., 3) world points -> pixels (..., 2) and planar depth (...) in metres.

        Pixels follow the module's convention (centres at integers); with `distort` the lens
        distortion is applied. Points at or behind the camera (depth <= 0) get NaN pixels.
        """
        pc = self.to_camera(points)
        z = pc[..., 2]
        front = (z > 1e-9)[..., None]
        xy = np.where(front, pc[..., :2] / np.where(front, z[..., None], 1.0), np.nan)
        if distort and np.any(self.dist):
            xy = distort_normalized(xy, self.dist)
        return xy @ self.K[:2, :2].T + self.K[:2, 2], z

    def undistort_pixels(self, uv: np.ndarray) -> np.ndarray:
        """Observed (distorted) pixels (..., 2) -> ideal pinhole pixels (..., 2)."""
        uv = np.asarray(uv, np.float64)
        if not np.any(self.dist):
            return uv.copy()
        Kinv = np.linalg.inv(self.K)
        xy = undistort_normalized(uv @ Kinv[:2, :2].T + Kinv[:2, 2], self.dist)
        return xy @ self.K[:2, :2].T + self.K[:2, 2]

    def normals_to_camera(self, normals_world: np.ndarray) -> np.ndarray:
        """(..., 3) world normals -> the passes' camera space (x right, y up, z toward the camera)."""
        return np.asarray(normals_world) @ (CV_TO_BLENDER_CAM @ self.R).T

    def scaled(self, width: int, height: int) -> "Camera":
        """The same view at another resolution (K scaled about the image's corner, -0.5 -0.5)."""
        sx, sy = width / self.width, height / self.height
        K = self.K.copy()
        K[0, 0] *= sx
        K[0, 1] *= sx
        K[1, 1] *= sy
        K[0, 2] = (K[0, 2] + 0.5) * sx - 0.5
        K[1, 2] = (K[1, 2] + 0.5) * sy - 0.5
        return Camera(K, self.world_to_camera.copy(), width, height, self.dist.copy(), self.name)

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

    # --- files ----------------------------------------------------------------------------------

    def to_dict(self) -> dict:
        d = {"K": self.K.tolist(), "world_to_camera": self.world_to_camera.tolist(),
             "width": self.width, "height": self.height}
        if self.name:
            d = {"name": self.name, **d}
        if np.any(self.dist):
            d["dist"] = self.dist.tolist()
        return d

    @classmethod
    def from_dict(cls, d: dict, path: str | Path = "", where: str = "") -> "Camera":
        """A camera from `to_dict`'s keys; a bad entry raises InputError naming `path` and `where`."""
        from neural_render.errors import InputError

        try:
            cam = cls(K=d["K"], world_to_camera=d["world_to_camera"], width=d["width"], height=d["height"],
                      dist=d.get("dist"), name=str(d.get("name", where)))
        except (KeyError, TypeError, ValueError, OverflowError) as e:
            raise InputError(f"bad camera entry ({type(e).__name__}: {e})", path=path, where=where,
                             fix="each camera needs K (3x3), world_to_camera (4x4), width, height, optional dist") from None
        return cam

    # --- Blender --------------------------------------------------------------------------------

    def blender_settings(self, sensor_width: float = 36.0) -> dict:
        """Blender camera data + object settings reproducing this camera exactly (no distortion).

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
            "matrix_world": self.camera_to_world @ _homogeneous(CV_TO_BLENDER_CAM),
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
        w2c = _homogeneous(CV_TO_BLENDER_CAM) @ np.linalg.inv(M)
        return cls(K, w2c, W, H, name=cam_obj.name)


def intrinsics(width: int, height: int, focal_mm: float = 50.0, sensor_mm: float = 36.0,
               sensor_fit: str = "HORIZONTAL") -> np.ndarray:
    """K (3, 3) of a centred lens with square pixels, principal point ((W - 1) / 2, (H - 1) / 2).

    The focal length is given as on a `sensor_mm`-wide sensor that spans the image width
    (`sensor_fit="HORIZONTAL"`) or its larger side (`"AUTO"`, as Blender's default camera).
    """
    if sensor_fit not in ("HORIZONTAL", "AUTO"):
        raise ValueError(f"sensor_fit must be HORIZONTAL or AUTO, not {sensor_fit!r}")
    span = width if sensor_fit == "HORIZONTAL" else max(width, height)
    return focal_intrinsics(width, height, focal_mm / sensor_mm * span)


def focal_intrinsics(width: int, height: int, focal_px: float) -> np.ndarray:
    """K (3, 3) for a focal length in pixels, square pixels, centred principal point."""
    return np.array([[focal_px, 0.0, (width - 1) / 2.0], [0.0, focal_px, (height - 1) / 2.0], [0.0, 0.0, 1.0]])


def fov_focal(width: int, height: int, fov_deg: float = 60.0) -> float:
    """Focal length in pixels for a field of view across the larger image side (60 deg: phone-like)."""
    return max(width, height) / (2 * math.tan(math.radians(fov_deg) / 2))


def look_at_world_to_camera(eye, target, up=(0.0, 0.0, 1.0)) -> np.ndarray:
    """(4, 4) OpenCV world_to_camera of a camera at `eye` looking at `target`, `up` up in the image."""
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
    return w2c


def distort_normalized(xy: np.ndarray, dist: np.ndarray) -> np.ndarray:
    """OpenCV radial-tangential distortion of normalized image coordinates (..., 2)."""
    k1, k2, p1, p2, k3 = dist
    x, y = xy[..., 0], xy[..., 1]
    r2 = x * x + y * y
    radial = 1 + r2 * (k1 + r2 * (k2 + r2 * k3))
    xd = x * radial + 2 * p1 * x * y + p2 * (r2 + 2 * x * x)
    yd = y * radial + p1 * (r2 + 2 * y * y) + 2 * p2 * x * y
    return np.stack([xd, yd], -1)


def undistort_normalized(xy: np.ndarray, dist: np.ndarray, iterations: int = 20) -> np.ndarray:
    """Invert `distort_normalized` by fixed-point iteration (as cv2.undistortPoints does)."""
    k1, k2, p1, p2, k3 = dist
    xd, yd = xy[..., 0], xy[..., 1]
    x, y = xd.copy(), yd.copy()
    for _ in range(iterations):
        r2 = x * x + y * y
        radial = 1 + r2 * (k1 + r2 * (k2 + r2 * k3))
        dx = 2 * p1 * x * y + p2 * (r2 + 2 * x * x)
        dy = p1 * (r2 + 2 * y * y) + 2 * p2 * x * y
        x = (xd - dx) / radial
        y = (yd - dy) / radial
    return np.stack([x, y], -1)


def _homogeneous(R: np.ndarray) -> np.ndarray:
    M = np.eye(4)
    M[:3, :3] = R
    return M
