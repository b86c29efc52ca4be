"""Camera calibration readers: Qualisys XML, Pose2Sim TOML, or our JSON/npz -> `neural_render.camera.Camera`
(OpenCV convention, with lens distortion). Plain numpy (no OpenCV): it runs inside Blender's Python too.

Qualisys (.qca.txt/.xml, as in Pose2Sim's demo data): `transform` holds the camera centre (x y z, mm)
and a rotation r11..r33 whose rows map lab axes to Qualisys camera axes (x right, y up, z backward),
so world_to_camera = diag(1,-1,-1) @ [R | -R c] in OpenCV's convention; `intrinsic` focal lengths and
principal point are in 1/64 sub-pixels of the sensor; the image is `fov_video` (inclusive bounds).
The lab frame is Z-up, metres after conversion.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from neural_render.camera import Camera
from neural_render.errors import InputError

# Qualisys camera axes (x right, y up, z toward the viewer) -> OpenCV camera axes (y down, z forward).
_QUALISYS_TO_OPENCV = np.diag([1.0, -1.0, -1.0])


def load_calibration(path: str | Path) -> list[Camera]:
    """Read cameras from a Qualisys XML (.qca.txt/.xml), Pose2Sim .toml, or our .json/.npz file."""
    path = Path(path)
    if not path.is_file():
        raise InputError("calibration file not found", path=path,
                         fix="pass a Qualisys .qca.txt/.xml, Pose2Sim .toml, or a cameras .json/.npz")
    name = path.name.lower()
    try:
        head = path.read_bytes()[:4096].lstrip()
    except OSError as e:
        raise InputError(f"cannot read calibration ({e})", path=path) from None
    if name.endswith(".npz"):
        cams = _read_npz(path)
    elif head.startswith(b"<") or name.endswith((".xml", ".qca.txt", ".qca")):
        cams = _read_qualisys(path)
    elif name.endswith(".toml"):
        cams = _read_toml(path)
    elif name.endswith(".json") or head.startswith((b"{", b"[")):
        cams = _read_json(path)
    else:
        raise InputError("unknown calibration format", path=path,
                         fix="use a Qualisys .qca.txt/.xml, Pose2Sim .toml, or a cameras .json/.npz")
    if not cams:
        raise InputError("calibration holds no cameras", path=path)
    return cams


def save_calibration(path: str | Path, cameras: list[Camera]) -> None:
    """Write our JSON camera format (atomic): {"cameras": [{name, K, dist, world_to_camera, width, height}]}."""
    from neural_render.fileio import write_json

    write_json(path, {"convention": "opencv", "units": "metres, pixels",
                      "cameras": [c.to_dict() for c in cameras]})


def _check_camera(cam: Camera, path, where) -> None:
    arrays = {"K": cam.K, "world_to_camera": cam.world_to_camera, "dist": cam.dist}
    for k, a in arrays.items():
        if not np.all(np.isfinite(a)):
            raise InputError(f"{k} has non-finite values", path=path, where=where)
    if cam.K[0, 0] <= 0 or cam.K[1, 1] <= 0:
        raise InputError("focal length must be positive", path=path, where=where)
    R = cam.R
    if np.abs(R @ R.T - np.eye(3)).max() > 1e-3 or np.linalg.det(R) < 0:
        raise InputError("world_to_camera rotation is not a rotation matrix", path=path, where=where)
    if cam.width <= 0 or cam.height <= 0:
        raise InputError("image width/height must be positive", path=path, where=where)
    if cam.width > 100_000 or cam.height > 100_000:
        raise InputError(f"image size {cam.width}x{cam.height} is absurd (limit 100,000 px)", path=path, where=where)
    if np.abs(cam.K).max() > 1e7 or np.abs(cam.world_to_camera).max() > 1e6 or np.abs(cam.dist).max() > 1e3:
        raise InputError("intrinsics, extrinsics or distortion have absurd magnitudes (focal > 1e7 px, "
                         "translation > 1,000 km or distortion > 1e3)", path=path, where=where)


def _read_qualisys(path: Path) -> list[Camera]:
    import xml.etree.ElementTree as ET

    try:
        root = ET.parse(path).getroot()
    except ET.ParseError as e:
        raise InputError(f"not valid XML ({e})", path=path) from None
    cams = []
    for i, tag in enumerate(root.findall("cameras/camera")):
        where = f"camera {i + 1} ({tag.get('serial', '?')})"
        try:
            if tag.get("active", "1") == "0":
                continue
            fov = tag.find("fov_video")
            tr = tag.find("transform")
            it = tag.find("intrinsic")
            if fov is None or tr is None or it is None:
                raise InputError("missing fov_video, transform or intrinsic element", path=path, where=where)
            left, top = float(fov.get("left")), float(fov.get("top"))
            width = int(round(float(fov.get("right")) - left + 1))
            height = int(round(float(fov.get("bottom")) - top + 1))
            # Intrinsics are in sub-pixel units of the full sensor (64 per pixel), offset by the
            # video window's corner.
            fu, fv = float(it.get("focalLengthU")) / 64, float(it.get("focalLengthV")) / 64
            cu = float(it.get("centerPointU")) / 64 - left
            cv = float(it.get("centerPointV")) / 64 - top
            K = np.array([[fu, float(it.get("skew", 0.0)), cu], [0, fv, cv], [0, 0, 1]])
            dist = [float(it.get(k, 0.0)) for k in ("radialDistortion1", "radialDistortion2",
                                                    "tangentalDistortion1", "tangentalDistortion2",
                                                    "radialDistortion3")]
            R = np.array([[float(tr.get(f"r{a}{b}")) for b in "123"] for a in "123"])
            c = np.array([float(tr.get(k)) for k in "xyz"]) / 1000.0  # mm -> m
        except (TypeError, ValueError, OverflowError) as e:  # OverflowError: an infinite window size
            raise InputError(f"bad or missing attribute ({type(e).__name__}: {e})", path=path, where=where) from None
        w2c = np.eye(4)
        w2c[:3, :3] = _QUALISYS_TO_OPENCV @ R
        w2c[:3, 3] = -w2c[:3, :3] @ c
        cam = Camera(K, w2c, width, height, dist, tag.get("serial", f"cam{i + 1}"))
        _check_camera(cam, path, where)
        cams.append(cam)
    if not cams:
        raise InputError("no <cameras><camera> elements", path=path, fix="is this a Qualisys calibration?")
    return cams


def _read_toml(path: Path) -> list[Camera]:
    """Pose2Sim's TOML: [cam] name, size [w, h], matrix, distortions [k1 k2 p1 p2], rotation (Rodrigues), translation."""
    import tomllib

    try:
        data = tomllib.loads(path.read_text())
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise InputError(f"not valid TOML ({str(e)[:200]})", path=path) from None
    except RecursionError:
        raise InputError("TOML nested too deeply to parse", path=path) from None
    cams = []
    for key, d in data.items():
        if not isinstance(d, dict) or "matrix" not in d:
            continue
        try:
            from neural_render.motion.rotations import aa_to_matrix

            R = aa_to_matrix(np.asarray(d["rotation"], np.float64).reshape(3))
            w2c = np.eye(4)
            w2c[:3, :3] = R
            w2c[:3, 3] = np.asarray(d["translation"], np.float64).reshape(3)
            w, h = d["size"]
            cam = Camera(d["matrix"], w2c, int(w), int(h), d.get("distortions", [0, 0, 0, 0]), str(d.get("name", key)))
        except (KeyError, TypeError, ValueError, OverflowError) as e:
            raise InputError(f"bad camera ({type(e).__name__}: {e})", path=path, where=f"[{key}]") from None
        _check_camera(cam, path, f"[{key}]")
        cams.append(cam)
    return cams


def _read_json(path: Path) -> list[Camera]:
    from neural_render.fileio import read_json

    data = read_json(path)
    entries = data.get("cameras") if isinstance(data, dict) else data
    if isinstance(entries, dict):
        entries = [dict(v, name=v.get("name", k)) if isinstance(v, dict) else v for k, v in entries.items()]
    if not isinstance(entries, list):
        raise InputError("expected {\"cameras\": [...]}", path=path)
    cams = []
    for i, e in enumerate(entries):
        if not isinstance(e, dict):
            raise InputError("camera entry is not an object", path=path, where=f"cameras[{i}]")
        cam = Camera.from_dict(e, path, f"cameras[{i}]")
        _check_camera(cam, path, f"cameras[{i}]")
        cams.append(cam)
    return cams


def _read_npz(path: Path) -> list[Camera]:
    """npz with stacked arrays K (C,3,3), world_to_camera (C,4,4), width (C,), height (C,), optional dist, names."""
    from neural_render.fileio import load_npz

    d = load_npz(path)
    for k in ("K", "world_to_camera", "width", "height"):
        if k not in d:
            raise InputError(f"missing array '{k}'", path=path)
    K = np.asarray(d["K"]).reshape(-1, 3, 3)
    C = K.shape[0]
    names = [str(n) for n in d.get("names", [f"cam{i + 1}" for i in range(C)])]
    dist = np.asarray(d.get("dist", np.zeros((C, 5)))).reshape(C, -1)
    w2c = np.asarray(d["world_to_camera"]).reshape(C, 4, 4)
    wh = np.broadcast_to(d["width"], (C,)), np.broadcast_to(d["height"], (C,))
    cams = []
    for i in range(C):
        try:
            cam = Camera(K[i], w2c[i], int(wh[0][i]), int(wh[1][i]), dist[i], names[i])
        except (TypeError, ValueError, OverflowError) as e:
            raise InputError(f"bad camera ({type(e).__name__}: {e})", path=path, where=f"camera {i}") from None
        _check_camera(cam, path, f"camera {i}")
        cams.append(cam)
    return cams
