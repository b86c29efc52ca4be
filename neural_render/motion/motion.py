"""The canonical Motion: SMPL pose parameters over time, saved as an AMASS-compatible `.npz`.

Keys on disk: `poses` (T, 72) axis-angle radians, SMPL joint order, root first; `trans` (T, 3)
metres; `betas` (B,); `mocap_framerate` (frames per second); `gender`; `up` ("z" or "y"); plus an
optional JSON `metadata` string; `hand_poses` (T, 90) when the motion has fingers: 15 finger joints
per hand (left, then right, MANO order), so `concat(poses[:, :66], hand_poses)` is AMASS's SMPL-H
layout (156 values per frame; `Motion.smplh_poses`). Its SMPL hand joints (22, 23) then summarise
the hands for 24-joint consumers (the middle finger's base). Motions without hand poses take the
body's relaxed default hands. With up="z" (the default) the root orientation already contains
the Y-up -> Z-up turn (as AMASS), so `body.forward(poses, betas, trans)` gives Z-up world
coordinates that Blender uses directly. With up="y" it gives SMPL's own Y-up model space.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Iterator

import numpy as np

from neural_render.body.axes import Y_UP_TO_Z_UP
from neural_render.errors import InputError, quote
from neural_render.motion import rotations as rot

NUM_POSE = 72
NUM_HAND_POSE = 90  # 2 hands x 15 finger joints x 3

# Plausibility limits: a motion outside them is refused as input and never written (SECURITY.md).
MIN_FPS, MAX_FPS = 0.01, 10_000.0   # frames per second
MAX_FRAMES = 2_000_000              # 18.5 h at 30 fps
MAX_ABS_POSE = 1_000.0              # radians per axis-angle component
MAX_ABS_TRANS = 100_000.0           # metres
MAX_ABS_BETA = 1_000.0
MAX_BETAS = 400                     # SMPL-X: 300 shape + 100 expression coefficients


def check_motion_values(poses, trans, betas, fps, path="", action: str = "") -> None:
    """Refuse non-real, non-finite or absurd motion values with one InputError naming the array,
    the frame and the limit. `action` prefixes the message (e.g. "refusing to write")."""
    head = f"{action}: " if action else ""
    for name, a, limit in (("poses", poses, MAX_ABS_POSE), ("trans", trans, MAX_ABS_TRANS),
                           ("betas", betas, MAX_ABS_BETA)):
        a = np.asarray(a)
        if a.dtype.kind not in "biuf":
            raise InputError(f"{head}{name} is not real numbers (dtype {a.dtype})", path=path,
                             fix="poses, trans and betas are real float arrays")
        if a.size == 0:
            continue
        bad = np.argwhere(~np.isfinite(a))
        if len(bad):
            raise InputError(f"{head}{name} has non-finite values (first at index {tuple(int(i) for i in bad[0])})",
                             path=path)
        big = np.argwhere(np.abs(a) > limit)
        if len(big):
            i = tuple(int(k) for k in big[0])
            raise InputError(f"{head}{name}{list(i)} = {float(a[i]):g} is outside +-{limit:g}", path=path,
                             fix="the source's values or units are wrong")
    if np.asarray(betas).size > MAX_BETAS:
        raise InputError(f"{head}{np.asarray(betas).size:,} shape coefficients (SMPL-family models have at most "
                         f"{MAX_BETAS})", path=path)
    if len(np.asarray(poses)) > MAX_FRAMES:
        raise InputError(f"{head}{len(poses):,} frames (limit {MAX_FRAMES:,})", path=path)
    try:
        fps = float(fps)
    except (TypeError, ValueError):
        raise InputError(f"{head}frame rate {quote(fps)} is not a number", path=path) from None
    if not (MIN_FPS <= fps <= MAX_FPS):
        raise InputError(f"{head}frame rate {fps:g} fps is outside [{MIN_FPS:g}, {MAX_FPS:g}]", path=path,
                         fix="pass --fps, or fix mocap_framerate")


@dataclass
class Motion:
    """SMPL motion. poses (T, 72) float32 axis-angle; trans (T, 3) float32 metres; betas (B,)."""

    poses: np.ndarray
    trans: np.ndarray
    betas: np.ndarray = field(default_factory=lambda: np.zeros(10, np.float32))
    fps: float = 30.0
    gender: str = "neutral"
    up: str = "z"
    metadata: dict = field(default_factory=dict)
    hand_poses: np.ndarray | None = None  # (T, 90) finger joints, left then right, MANO order

    def __post_init__(self):
        self.poses = np.asarray(self.poses, np.float32).reshape(-1, NUM_POSE)
        self.trans = np.asarray(self.trans, np.float32).reshape(-1, 3)
        self.betas = np.asarray(self.betas, np.float32).reshape(-1)
        if self.poses.shape[0] != self.trans.shape[0]:
            raise ValueError(f"poses has {self.poses.shape[0]} frames but trans has {self.trans.shape[0]}")
        if self.up not in ("y", "z"):
            raise ValueError(f"up must be 'y' or 'z', not {self.up!r}")
        if not (np.isfinite(self.fps) and self.fps > 0):
            raise ValueError(f"fps must be positive, not {self.fps}")
        self.fps = float(self.fps)
        if self.hand_poses is not None:
            self.hand_poses = np.asarray(self.hand_poses, np.float32).reshape(-1, NUM_HAND_POSE)
            if self.hand_poses.shape[0] != self.poses.shape[0]:
                raise ValueError(f"hand_poses has {self.hand_poses.shape[0]} frames but poses has "
                                 f"{self.poses.shape[0]}")

    @property
    def has_hands(self) -> bool:
        return self.hand_poses is not None

    def smplh_poses(self) -> np.ndarray | None:
        """(T, 156) AMASS SMPL-H poses (22 body joints, then the hands), None without hand poses."""
        if self.hand_poses is None:
            return None
        return np.concatenate([self.poses[:, :66], self.hand_poses], 1)

    # ------------------------------------------------------------------ basic facts
    @property
    def num_frames(self) -> int:
        return int(self.poses.shape[0])

    def __len__(self) -> int:
        return self.num_frames

    @property
    def duration(self) -> float:
        """Seconds from the first to one frame past the last frame (T / fps)."""
        return self.num_frames / self.fps

    def frames(self) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Yield (pose (72,), trans (3,)) per frame."""
        for t in range(self.num_frames):
            yield self.poses[t], self.trans[t]

    def copy(self, **changes) -> "Motion":
        out = replace(self, poses=self.poses.copy(), trans=self.trans.copy(), betas=self.betas.copy(),
                      metadata=dict(self.metadata),
                      hand_poses=None if self.hand_poses is None else self.hand_poses.copy())
        return replace(out, **changes) if changes else out

    def summary(self) -> dict:
        return {"frames": self.num_frames, "fps": self.fps, "duration_s": round(self.duration, 3),
                "up": self.up, "gender": self.gender, "betas": int(self.betas.size), "hands": self.has_hands}

    # ------------------------------------------------------------------ files
    def save(self, path: str | Path) -> Path:
        """Write the AMASS-compatible .npz atomically (no partial file on failure)."""
        from neural_render.fileio import write_npz

        path = Path(path)
        check_motion_values(self.poses, self.trans, self.betas, self.fps, path, "refusing to write")
        write_npz(path, poses=self.poses.astype(np.float32), trans=self.trans.astype(np.float32),
                  betas=self.betas.astype(np.float32), mocap_framerate=np.float64(self.fps),
                  gender=np.array(self.gender), up=np.array(self.up),
                  metadata=np.array(json.dumps(self.metadata, default=_json_default)),
                  **({} if self.hand_poses is None else {"hand_poses": self.hand_poses.astype(np.float32)}))
        return path

    @classmethod
    def load(cls, path: str | Path) -> "Motion":
        """Read a Motion .npz (or any AMASS-style npz with poses/trans/mocap_framerate)."""
        path = Path(path)
        if not path.exists():
            raise InputError("motion file not found", path=path, fix="check the path")
        from neural_render.fileio import load_npz

        data = load_npz(path)
        return cls.from_dict(data, path)

    @classmethod
    def from_dict(cls, data: dict, path: str | Path = "") -> "Motion":
        """Build from AMASS-style arrays; validates shapes and values."""
        if "poses" not in data:
            raise InputError(f"no 'poses' array (keys: {sorted(data)})", path=path,
                             fix="a motion .npz needs poses (T,72) and trans (T,3)")
        poses = np.asarray(data["poses"])
        if poses.ndim != 2 or poses.shape[1] < NUM_POSE or poses.shape[0] == 0:
            raise InputError(f"poses has shape {poses.shape}, expected (T, 72) with T >= 1", path=path)
        hand_poses = None
        if poses.shape[1] in (156, 165, 162) and np.issubdtype(poses.dtype, np.number):
            # AMASS SMPL-H / SMPL-X layout: the body's 22 joints, (jaw, eyes,) then the hands.
            from neural_render.motion.pose_layout import body_poses_from_full, hand_poses_from_full

            poses, hand_poses = body_poses_from_full(poses, path), hand_poses_from_full(poses)
        if poses.shape[1] != NUM_POSE:
            raise InputError(f"poses has {poses.shape[1]} values per frame, expected 72 (SMPL) or 156 (SMPL-H)",
                             path=path, fix="for other AMASS files use `neural-render motion import --format amass`")
        T = poses.shape[0]
        if hand_poses is not None and not np.all(np.isfinite(hand_poses)):
            raise InputError("poses has non-finite hand values", path=path)
        if "hand_poses" in data:
            hand_poses = np.asarray(data["hand_poses"])
            if hand_poses.shape != (T, NUM_HAND_POSE) or not np.issubdtype(hand_poses.dtype, np.number):
                raise InputError(f"hand_poses has shape {hand_poses.shape}, expected ({T}, 90)", path=path)
            if not np.all(np.isfinite(hand_poses)):
                raise InputError("hand_poses has non-finite values", path=path)
        trans = np.asarray(data.get("trans", np.zeros((T, 3))))
        if trans.shape != (T, 3):
            raise InputError(f"trans has shape {trans.shape}, expected ({T}, 3)", path=path)
        for name, a in (("poses", poses), ("trans", trans)):
            if not np.issubdtype(a.dtype, np.number):
                raise InputError(f"{name} is not numeric ({a.dtype})", path=path)
            bad = np.argwhere(~np.isfinite(a))
            if len(bad):
                raise InputError(f"{name} has non-finite values (first at frame {bad[0][0]})", path=path)
        betas = np.asarray(data.get("betas", np.zeros(10)), np.float32).reshape(-1)
        if not np.all(np.isfinite(betas)):
            raise InputError("betas has non-finite values", path=path)
        try:
            fps = float(np.asarray(data.get("mocap_framerate", data.get("fps", 30.0))).reshape(-1)[0])
        except (TypeError, ValueError, IndexError):
            raise InputError("mocap_framerate is not a number", path=path) from None
        check_motion_values(poses, trans, betas, fps, path)
        up = str(np.asarray(data.get("up", "z")).reshape(-1)[0]) if "up" in data else "z"
        if up not in ("y", "z"):
            raise InputError(f"up is {up!r}, expected 'y' or 'z'", path=path)
        gender = str(np.asarray(data.get("gender", "neutral")).reshape(-1)[0]) if "gender" in data else "neutral"
        meta = {}
        if "metadata" in data:
            try:
                meta = json.loads(str(np.asarray(data["metadata"]).reshape(-1)[0]))
            except (ValueError, IndexError):
                meta = {}
        return cls(poses, trans, betas, fps, gender, up, meta if isinstance(meta, dict) else {}, hand_poses)

    # ------------------------------------------------------------------ time
    def trim(self, start: int, stop: int | None = None) -> "Motion":
        """Frames [start, stop) (Python slice semantics; negative indices allowed)."""
        idx = np.arange(self.num_frames)[slice(start, stop)]
        if len(idx) == 0:
            raise InputError(f"frame range {start}:{stop} is empty for a motion of {self.num_frames} frames",
                             where="trim", fix="pick a range inside the clip")
        return self.copy(poses=self.poses[idx], trans=self.trans[idx],
                         hand_poses=None if self.hand_poses is None else self.hand_poses[idx])

    def resample(self, fps: float) -> "Motion":
        """Resample to `fps`: slerp on every joint rotation, linear on translation.

        Keeps the clip's time span: frame k of the result is at time k / fps, for all k with
        k / fps <= (T - 1) / self.fps.
        """
        fps = float(fps)
        if not (MIN_FPS <= fps <= MAX_FPS):
            raise InputError(f"fps {fps:g} is outside [{MIN_FPS:g}, {MAX_FPS:g}]", where="--fps")
        if abs(fps - self.fps) < 1e-9:
            return self.copy()
        T = self.num_frames
        span = (T - 1) / self.fps
        n = int(np.floor(span * fps + 1e-6)) + 1 if np.isfinite(span * fps) else MAX_FRAMES + 1
        if n > MAX_FRAMES:
            raise InputError(f"resampling {T} frames from {self.fps:g} to {fps:g} fps gives more than "
                             f"{MAX_FRAMES:,} frames", where="--fps")
        src_t = np.arange(n) / fps * self.fps  # fractional source frame index
        i0 = np.clip(np.floor(src_t).astype(int), 0, T - 1)
        i1 = np.clip(i0 + 1, 0, T - 1)
        w = src_t - i0
        q = rot.aa_to_quat(self.poses.reshape(T, 24, 3))
        q_new = rot.slerp(q[i0], q[i1], np.broadcast_to(w[:, None], (n, 24)))
        poses = rot.quat_to_aa(q_new).reshape(n, NUM_POSE)
        trans = self.trans[i0] * (1 - w[:, None]) + self.trans[i1] * w[:, None]
        hands = None
        if self.hand_poses is not None:
            qh = rot.aa_to_quat(self.hand_poses.reshape(T, 30, 3))
            hands = rot.quat_to_aa(rot.slerp(qh[i0], qh[i1], np.broadcast_to(w[:, None], (n, 30)))).reshape(n, 90)
        return self.copy(poses=poses, trans=trans, fps=fps, hand_poses=hands)

    # ------------------------------------------------------------------ axes
    def with_up(self, up: str, body=None, pelvis: np.ndarray | None = None) -> "Motion":
        """The same world motion expressed for another up axis ("y" or "z").

        Rotating the whole posed body by R about the origin: root_new = R @ root and
        trans_new = R @ (J0 + trans) - J0, where J0 is the rest pelvis position for these betas
        (LBS rotates the root about J0). Pass `body` (a BodyModel) or `pelvis` (J0, (3,) metres).
        """
        if up not in ("y", "z"):
            raise ValueError(f"up must be 'y' or 'z', not {up!r}")
        if up == self.up:
            return self.copy()
        if pelvis is None:
            if body is None:
                raise ValueError("with_up needs the body (or its rest pelvis position) to move trans")
            pelvis = body.rest_joints(self.betas)[0]
        R = Y_UP_TO_Z_UP if up == "z" else Y_UP_TO_Z_UP.T
        return self.copy(**_rotate_world(self.poses, self.trans, R, np.asarray(pelvis, np.float64)), up=up)

    def rotate_world(self, R: np.ndarray, body=None, pelvis: np.ndarray | None = None) -> "Motion":
        """Rotate the whole motion by R (3, 3) about the world origin (see `with_up`)."""
        if pelvis is None:
            pelvis = body.rest_joints(self.betas)[0]
        return self.copy(**_rotate_world(self.poses, self.trans, np.asarray(R, np.float64),
                                         np.asarray(pelvis, np.float64)))

    def joints(self, body) -> np.ndarray:
        """(T, 24, 3) world joint positions (metres, this motion's up axis) by forward kinematics
        only (no skinning: fast for long clips)."""
        from neural_render.body.lbs import global_transforms

        rest = body.rest_joints(self.betas).astype(np.float64)
        R = rot.aa_to_matrix(self.poses.reshape(-1, 24, 3).astype(np.float64))
        _, pos = global_transforms(R, np.broadcast_to(rest, (self.num_frames, 24, 3)).copy(), body.parents)
        return pos + self.trans[:, None].astype(np.float64)

    def root_positions(self, pelvis: np.ndarray) -> np.ndarray:
        """(T, 3) world pelvis positions: J0 + trans."""
        return self.trans + np.asarray(pelvis, np.float32)[None]


def _rotate_world(poses: np.ndarray, trans: np.ndarray, R: np.ndarray, J0: np.ndarray) -> dict:
    poses = poses.astype(np.float64).copy()
    root = rot.aa_to_matrix(poses[:, :3])
    poses[:, :3] = rot.matrix_to_aa(R[None] @ root)
    trans_new = (J0[None] + trans.astype(np.float64)) @ R.T - J0[None]
    return {"poses": poses.astype(np.float32), "trans": trans_new.astype(np.float32)}


def _json_default(o):
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, (np.floating, np.integer, np.bool_)):
        return o.item()
    return str(o)
