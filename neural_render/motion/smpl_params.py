"""SMPL parameter files -> Motion, and Motion -> .smpl.

- AMASS `.npz`: `poses` (T, 72 | 156 SMPL-H | 165 SMPL-X), `trans` (T, 3) metres, Z-up (the root
  orientation contains the Y-up -> Z-up turn), `betas`, `mocap_framerate` (or `mocap_frame_rate`).
  SMPL's 24 joints = root + 21 body joints + SMPL's two hand joints, which SMPL-H/X do not have:
  they take the rotation of each hand's middle-finger base (the joint SMPL's hand joint stands for),
  or zero when the file has no hands.
- SMPL parameter dicts (`.pkl` through the restricted unpickler, or `.npz`): `smpl_poses`/`poses`/
  `pose`/`thetas` (T, 72) or `global_orient` + `body_pose`; `smpl_trans`/`trans`/`transl`;
  optional `smpl_scaling` (AIST++: trans / scaling); `betas`. These are SMPL model space: Y-up.
  Units of the translation are detected by plausibility (a person moves within metres).
- Meshcapade `.smpl` (the `smplcodec` package): body_pose (T, 22|24, 3), body_translation, Y-up.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from neural_render.errors import InputError
from neural_render.motion.motion import Motion
from neural_render.motion.pose_layout import HAND_MIDDLE1, body_poses_from_full, hand_poses_from_full


def _finite(name: str, a: np.ndarray, path) -> np.ndarray:
    if a.dtype.kind not in "biuf":  # (complex, text, object... are refused, not cast)
        raise InputError(f"{name} is not real numbers (dtype {a.dtype})", path=path)
    bad = np.argwhere(~np.isfinite(a))
    if len(bad):
        raise InputError(f"{name} has non-finite values (first at index {tuple(bad[0])})", path=path)
    return a.astype(np.float64)


def detect_up(poses: np.ndarray, default: str) -> tuple[str, float]:
    """Which world axis the body's own up (model +y) points along, from the root orientations.

    Returns ("y"|"z", strength in [0, 1]): the median of the root-rotated +y's component along
    that axis. Only a clear answer (> 0.7, the person mostly upright) overrides `default`.
    """
    from neural_render.motion.rotations import aa_to_matrix

    up = aa_to_matrix(np.asarray(poses)[:, :3])[:, :, 1]  # (T, 3) model +y in world
    med = np.median(up, axis=0)
    if med[2] > 0.7:
        return "z", float(med[2])
    if med[1] > 0.7:
        return "y", float(med[1])
    return default, float(max(med[1], med[2]))


def _text(v, default: str) -> str:
    a = np.asarray(v).reshape(-1)
    if a.size == 0:
        return default
    x = a[0]
    return x.decode("utf-8", "replace") if isinstance(x, bytes) else str(x)


def _npz_dict(path: Path) -> dict:
    from neural_render.fileio import load_npz

    return load_npz(path)


def _fps(data: dict, default: float | None = None, path="") -> float | None:
    from neural_render.motion.motion import MAX_FPS, MIN_FPS

    for k in ("mocap_framerate", "mocap_frame_rate", "frame_rate", "fps", "framerate"):
        if k in data:
            v = float(np.asarray(data[k]).reshape(-1)[0])
            if not (MIN_FPS <= v <= MAX_FPS):
                raise InputError(f"{k} is {v:g}, outside [{MIN_FPS:g}, {MAX_FPS:g}] frames per second", path=path,
                                 fix="pass --fps, or fix the file's frame rate")
            return v
    return default


def load_amass(path: str | Path, fps: float | None = None) -> Motion:
    """An AMASS .npz (SMPL, SMPL-H or SMPL-X poses) as a Z-up Motion."""
    path = Path(path)
    data = _npz_dict(path)
    if "poses" not in data:
        if "root_orient" in data and "pose_body" in data:
            data["poses"] = np.concatenate([data["root_orient"], data["pose_body"],
                                            data.get("pose_hand", np.zeros((len(data["root_orient"]), 90)))], 1)
        else:
            raise InputError(f"no 'poses' in AMASS file (keys: {sorted(data)})", path=path)
    poses = np.asarray(data["poses"])
    if poses.ndim != 2 or poses.shape[0] == 0:
        raise InputError(f"poses has shape {poses.shape}, expected (T, D)", path=path)
    poses = _finite("poses", poses, path)
    T = poses.shape[0]
    trans = _finite("trans", np.asarray(data.get("trans", np.zeros((T, 3)))), path)
    if trans.shape != (T, 3):
        raise InputError(f"trans has shape {trans.shape}, expected ({T}, 3)", path=path)
    betas = _finite("betas", np.asarray(data.get("betas", np.zeros(10))).reshape(-1), path)
    try:
        rate = _fps(data, fps, path)
    except (TypeError, ValueError, IndexError):
        raise InputError("the frame rate entry is not a number", path=path) from None
    if rate is None:
        raise InputError("no frame rate in the file (mocap_framerate)", path=path, fix="pass --fps")
    meta = {"source": str(path), "format": "amass"}
    from neural_render.motion.motion import check_motion_values

    check_motion_values(poses, trans, betas, rate, path)
    if "up" in data:
        up = _text(data["up"], "z")
    else:  # AMASS is Z-up; files converted to Y-up without saying so are caught here
        up, strength = detect_up(poses, "z")
        meta["up_detected"] = {"up": up, "strength": round(strength, 3)}
    gender = _text(data["gender"], "neutral") if "gender" in data else "neutral"
    meta["model"] = {72: "smpl", 66: "smpl-body", 156: "smpl-h", 165: "smpl-x", 162: "smpl-x"}.get(poses.shape[1], "?")
    return Motion(body_poses_from_full(poses, path), trans, betas, rate, gender if gender in
                  ("male", "female", "neutral") else "neutral", up if up in ("y", "z") else "z", metadata=meta,
                  hand_poses=hand_poses_from_full(poses))


_POSE_KEYS = ("smpl_poses", "poses", "pose", "thetas", "smpl_pose", "body_pose_full")
_TRANS_KEYS = ("smpl_trans", "trans", "transl", "translation", "global_trans")


def load_smpl_dict(path: str | Path, fps: float | None = None) -> Motion:
    """An SMPL parameter dict (.pkl via the restricted unpickler, or .npz) as a Y-up Motion."""
    path = Path(path)
    if path.suffix == ".pkl":
        from neural_render.body.safe_pickle import safe_load_pickle

        data = safe_load_pickle(path)
        if not isinstance(data, dict):
            raise InputError(f"pickle holds a {type(data).__name__}, expected a dict of SMPL parameters",
                             path=path)
    else:
        data = _npz_dict(path)
    return motion_from_smpl_dict(data, path, fps)


def _array(name: str, v, path) -> np.ndarray:
    """A finite float array from any value, or an InputError naming the key."""
    try:
        a = np.asarray(v)
        if a.dtype.kind not in "biuf":  # strings ("1.5") and complex values are refused, not cast
            raise TypeError
        a = a.astype(np.float64)
    except (TypeError, ValueError):
        raise InputError(f"{name} is not a numeric array", path=path) from None
    return _finite(name, a, path)


def motion_from_smpl_dict(data: dict, path: str | Path = "", fps: float | None = None) -> Motion:
    """A Y-up Motion from an SMPL parameter dict (see the module docstring for the keys)."""
    data = {str(k): v for k, v in data.items()}
    poses = None
    for k in _POSE_KEYS:
        if k in data:
            poses = _array(k, data[k], path)
            break
    if poses is None and "global_orient" in data and "body_pose" in data:
        go = _array("global_orient", data["global_orient"], path)
        bp = _array("body_pose", data["body_pose"], path)
        if go.ndim == 0 or go.size % 3 or bp.ndim == 0 or go.size == 0:
            raise InputError(f"global_orient {go.shape} / body_pose {bp.shape} are not per-frame axis-angle",
                             path=path)
        go = go.reshape(-1, 3)
        if bp.size != go.shape[0] * 69 and bp.size != go.shape[0] * 63:
            raise InputError(f"body_pose has shape {bp.shape}, expected ({go.shape[0]}, 69)", path=path)
        poses = np.concatenate([go, bp.reshape(go.shape[0], -1)], 1)
    if poses is None:
        raise InputError(f"no SMPL pose array (looked for {', '.join(_POSE_KEYS)} or global_orient + body_pose; "
                         f"keys: {sorted(data)[:12]})", path=path)
    if poses.ndim == 3 and poses.shape[-2:] in ((24, 3), (22, 3)):
        poses = poses.reshape(poses.shape[0], -1)
    if poses.ndim == 1 and poses.size in (72, 66):
        poses = poses[None]
    if poses.ndim != 2 or poses.shape[0] == 0 or poses.shape[1] not in (72, 66, 156, 165, 162):
        raise InputError(f"pose array has shape {poses.shape}, expected (T, 72)", path=path,
                         fix="SMPL poses are 24 joints x 3 axis-angle values per frame")
    T = poses.shape[0]
    trans = np.zeros((T, 3))
    for k in _TRANS_KEYS:
        if k in data:
            trans = _array(k, data[k], path)
            if trans.size != T * 3:
                raise InputError(f"{k} has shape {trans.shape}, expected ({T}, 3)", path=path)
            trans = trans.reshape(T, 3)
            break
    if "smpl_scaling" in data:
        sc = _array("smpl_scaling", data["smpl_scaling"], path).reshape(-1)
        if sc.size < 1 or not sc[0] > 0:
            raise InputError(f"smpl_scaling is {sc[:1]}, expected a positive number", path=path)
        trans = trans / sc[0]
        unit = f"1/{sc[0]:g}"
    else:
        trans, unit = _metres_by_plausibility(trans)
    betas = np.zeros(10)
    for k in ("betas", "smpl_betas", "shape"):
        if k in data:
            b = _array(k, data[k], path)
            betas = b.reshape(-1) if b.ndim <= 1 else b.reshape(b.shape[0], -1)[0]
            break
    try:
        rate = _fps(data, fps if fps else 30.0, path)
    except (TypeError, ValueError, IndexError):
        raise InputError("the frame rate entry is not a number", path=path) from None
    from neural_render.motion.motion import check_motion_values

    check_motion_values(poses, trans, betas, rate, path)
    gender = _text(data["gender"], "neutral") if "gender" in data else "neutral"
    # SMPL parameter dicts are in SMPL's Y-up model space unless the root orientations clearly say Z-up.
    up, strength = detect_up(poses, "y")
    return Motion(body_poses_from_full(poses, path), trans, betas, rate,
                  gender if gender in ("male", "female", "neutral") else "neutral", up=up,
                  hand_poses=hand_poses_from_full(np.asarray(poses)),
                  metadata={"source": str(path), "format": "smpl-dict", "trans_unit": unit,
                            "up_detected": {"up": up, "strength": round(strength, 3)}})


def _metres_by_plausibility(trans: np.ndarray) -> tuple[np.ndarray, str]:
    """A person's root moves within a few metres of the origin: larger numbers are cm or mm."""
    mag = float(np.percentile(np.abs(trans), 95)) if trans.size else 0.0
    if mag > 2000:
        return trans / 1000.0, "mm"
    if mag > 20:
        return trans / 100.0, "cm"
    return trans, "m"


def load_smpl_file(path: str | Path) -> Motion:
    """A Meshcapade .smpl file (smplcodec) as a Y-up Motion."""
    path = Path(path)
    try:
        from smplcodec import SMPLCodec
    except ImportError:
        raise InputError("reading .smpl files needs the smplcodec package", path=path,
                         fix="pip install smplcodec (in the io extra)") from None
    try:
        codec = SMPLCodec.from_file(str(path))
    except Exception as e:
        raise InputError(f"not a readable .smpl file ({type(e).__name__}: {str(e)[:120]})", path=path) from None
    if codec.body_pose is None:
        raise InputError("the .smpl file has no body_pose (a shape-only file?)", path=path)
    bp = np.asarray(codec.body_pose, np.float64)
    T = bp.shape[0]
    bp = _finite("body_pose", bp.reshape(T, -1), path)
    full = bp
    hands = None
    if codec.left_hand_pose is not None or codec.right_hand_pose is not None:
        hands = np.zeros((T, 90), np.float32)
        for side, hand in ((0, codec.left_hand_pose), (1, codec.right_hand_pose)):
            if hand is not None:
                hands[:, 45 * side:45 * side + 45] = _finite("hand_pose", np.asarray(hand, np.float64).reshape(T, 45), path)
    if bp.shape[1] == 66:
        full = np.zeros((T, 72))
        full[:, :66] = bp
        for side, hand in ((0, codec.left_hand_pose), (1, codec.right_hand_pose)):
            if hand is not None:
                full[:, 66 + 3 * side: 69 + 3 * side] = np.asarray(hand).reshape(T, 15, 3)[:, HAND_MIDDLE1]
    elif bp.shape[1] != 72:
        raise InputError(f"body_pose has {bp.shape[1] // 3} joints, expected 22 or 24", path=path)
    trans = np.zeros((T, 3)) if codec.body_translation is None else _finite(
        "body_translation", np.asarray(codec.body_translation), path)
    betas = np.zeros(10) if codec.shape_parameters is None else np.asarray(codec.shape_parameters, np.float64)
    gender = {0: "neutral", 1: "male", 2: "female"}.get(int(codec.gender), "neutral")
    return Motion(full, trans, betas, float(codec.frame_rate or 30.0), gender, up="y",
                  metadata={"source": str(path), "format": "smpl", "model": codec.smpl_version.name},
                  hand_poses=hands)


def save_smpl_file(motion: Motion, path: str | Path, body=None) -> Path:
    """Write `motion` as a Meshcapade .smpl file (SMPL, Y-up), atomically.

    A Z-up motion is turned back to Y-up first, which moves trans about the rest pelvis: pass the
    `body` it was made for (the default body when None).
    """
    from smplcodec import SMPLCodec, SMPLGender, SMPLVersion

    from neural_render.fileio import atomic_path

    if motion.up != "y":
        if body is None:
            from neural_render.body import load_body
            body = load_body()
        motion = motion.with_up("y", body=body)
    T = motion.num_frames
    if motion.hand_poses is not None:  # SMPL-H: 22 body joints and 15 finger joints per hand
        codec = SMPLCodec(smpl_version=SMPLVersion.SMPLH,
                          gender=SMPLGender.from_string(motion.gender if motion.gender in ("male", "female") else "neutral"),
                          shape_parameters=motion.betas.astype(np.float32), frame_count=int(T),
                          frame_rate=float(motion.fps), body_translation=motion.trans.astype(np.float32),
                          body_pose=motion.poses.reshape(T, 24, 3)[:, :22].astype(np.float32),
                          left_hand_pose=motion.hand_poses[:, :45].reshape(T, 15, 3).astype(np.float32),
                          right_hand_pose=motion.hand_poses[:, 45:].reshape(T, 15, 3).astype(np.float32))
        with atomic_path(path) as tmp:
            codec.write(str(tmp))
        return Path(path)
    codec = SMPLCodec(smpl_version=SMPLVersion.SMPL,
                      gender=SMPLGender.from_string(motion.gender if motion.gender in ("male", "female") else "neutral"),
                      shape_parameters=motion.betas.astype(np.float32), frame_count=int(T),
                      frame_rate=float(motion.fps), body_translation=motion.trans.astype(np.float32),
                      body_pose=motion.poses.reshape(T, 24, 3).astype(np.float32))
    with atomic_path(path) as tmp:
        codec.write(str(tmp))
    return Path(path)
