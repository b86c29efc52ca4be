"""The body model: SMPL's data and forward pass, for a licensed SMPL / SMPL-H / SMPL-X file or the
default body.

`load_body()` returns the free default body (smpl_assets/default_body.npz); `load_body(path)`
loads an SMPL, SMPL-H or SMPL-X `.pkl` (v1.0 chumpy or v1.1 numpy, through the restricted
unpickler) or `.npz`. All arrays are numpy, model space Y-up, metres.

Two joint layouts: every body has SMPL's 24-joint route (poses (N, 72): what existing motions,
the fitting and the Blender rig use). Bodies with hands (the default body, SMPL-H and SMPL-X
files) also carry SMPL-H's 52-joint layout (`BodyModel.hands`): poses (N, 156) = SMPL's first 22
joints then 15 finger joints per hand (AMASS SMPL-H). A 72-value pose keeps the 24-joint route
(the default body's hands are then its relaxed rest hands); 156 values pose the fingers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from neural_render.body import lbs as _lbs
from neural_render.body.hand_layout import SMPL_HAND_FROM_KNUCKLES, HandLayout
from neural_render.body.safe_pickle import safe_load_pickle
from neural_render.body.skeletons import (BODY25_FROM_SMPL_JOINT, BODY25_FROM_VERTEX_NAME, COCO17_FROM_BODY25,
                                          NUM_JOINTS, NUM_JOINTS_SMPLH, SMPL_JOINT_NAMES, SMPL_PARENTS,
                                          SMPLH_JOINT_NAMES, TOPOLOGY_VERTEX_IDS)
from neural_render.errors import InputError

REQUIRED_KEYS = ("v_template", "f", "J_regressor", "weights", "kintree_table", "shapedirs", "posedirs")

# Vertex ids of BODY_25's surface keypoints on SMPL's own 6890-vertex topology (as used by the
# SMPLify-X / smplx vertex selector): nose, eyes, ears, toes, heels.
SMPL_TOPOLOGY_KEYPOINT_VERTICES = {
    0: 332, 15: 6260, 16: 2800, 17: 4071, 18: 583,
    19: 3216, 20: 3226, 21: 3387, 22: 6617, 23: 6624, 24: 6787,
}


@dataclass
class BodyOutput:
    """Posed body, model space (Y-up), metres. N = number of poses."""

    vertices: np.ndarray  # (N, V, 3)
    joints: np.ndarray    # (N, 24, 3)
    body25: np.ndarray    # (N, 25, 3) OpenPose BODY_25 keypoints
    coco17: np.ndarray    # (N, 17, 3) COCO keypoints
    joints52: np.ndarray | None = None  # (N, 52, 3) SMPL-H joints when posed through the hand layout


@dataclass
class BodyModel:
    v_template: np.ndarray          # (V, 3)
    faces: np.ndarray               # (F, 3) int32
    shapedirs: np.ndarray           # (V, 3, B)
    posedirs: np.ndarray | None     # (V, 3, 207), None when the model has no pose correctives
    J_regressor: np.ndarray         # (24, V)
    weights: np.ndarray             # (V, 24)
    parents: np.ndarray = field(default_factory=lambda: SMPL_PARENTS.copy())
    parts: np.ndarray | None = None  # (V,) uint8 labels 1..24 (SMPL joint order)
    vt: np.ndarray | None = None     # (T, 2) UV coordinates
    ft: np.ndarray | None = None     # (F, 3) UV index per face corner
    # Keypoint regressors act on [posed vertices; posed joints] stacked: (K, V + 24).
    keypoint_regressors: dict[str, np.ndarray] = field(default_factory=dict)
    name: str = "smpl"
    gender: str = "neutral"
    source: str = ""
    licence: str = ""
    path: str = ""
    # Meaning of each shape component (file key `shape_component_names`); empty when the file has none.
    shape_names: list[str] = field(default_factory=list)
    hands: HandLayout | None = None  # SMPL-H's 52-joint layout, when the body has hands

    @property
    def num_joints(self) -> int:
        """Joints of the body's fullest layout: 52 with hands (SMPL-H), else 24 (SMPL)."""
        return NUM_JOINTS_SMPLH if self.hands is not None else NUM_JOINTS

    @property
    def num_vertices(self) -> int:
        return self.v_template.shape[0]

    @property
    def num_betas(self) -> int:
        return self.shapedirs.shape[-1]

    joint_names = SMPL_JOINT_NAMES

    def rest_joints(self, betas: np.ndarray | None = None) -> np.ndarray:
        """(24, 3) joint locations of the rest (T) pose for one shape."""
        betas = np.zeros((1, 1), np.float32) if betas is None else np.asarray(betas, np.float32).reshape(1, -1)
        return _lbs.shaped_rest(self.v_template, self.shapedirs, self.J_regressor, betas)[1][0]

    def forward(self, poses, betas=None, trans=None, keypoints: bool = True) -> BodyOutput:
        """Pose the body.

        Args:
            poses: (N, 72) or (72,) axis-angle, SMPL joint order, root first; or (N, 156) SMPL-H
                (AMASS layout: 22 body joints, then 15 finger joints per hand), which poses the
                fingers of a body with hands (a body without drops them).
            betas: (B,) shared or (N, B) per pose; fewer than num_betas is zero-padded.
            trans: (N, 3) or (3,) metres, model space.
        Returns `BodyOutput`; `joints` are SMPL's 24 in every case (SMPL's hand joint = the mean
        of the four finger knuckles on the hand layout), `joints52` the SMPL-H joints when posed
        through the hand layout.
        """
        poses = np.asarray(poses, np.float32)
        width = poses.shape[-1] if poses.ndim else 0
        if width == 156:
            poses = poses.reshape(-1, 156)
            if self.hands is not None:
                return self._forward_hands(poses, betas, trans, keypoints)
            poses = np.concatenate([poses[:, :66], np.zeros((len(poses), 6), np.float32)], 1)
        poses = poses.reshape(-1, NUM_JOINTS * 3)
        N = poses.shape[0]
        betas, trans = self._batch_shape(N, betas, trans)
        verts, joints = _lbs.lbs(poses, betas, trans, self.v_template, self.shapedirs, self.posedirs,
                                 self.J_regressor, self.weights, self.parents)
        return self._output(verts, joints, None, keypoints)

    def _batch_shape(self, N: int, betas, trans) -> tuple[np.ndarray, np.ndarray]:
        betas = np.zeros((1, self.num_betas), np.float32) if betas is None else np.asarray(betas, np.float32)
        betas = np.broadcast_to(betas.reshape(-1, betas.shape[-1]), (N, betas.shape[-1]))
        trans = np.zeros((N, 3), np.float32) if trans is None else np.broadcast_to(
            np.asarray(trans, np.float32).reshape(-1, 3), (N, 3))
        return betas, trans

    def _forward_hands(self, poses: np.ndarray, betas, trans, keypoints: bool) -> BodyOutput:
        """The 52-joint route: poses (N, 156) SMPL-H."""
        h = self.hands
        N = poses.shape[0]
        betas, trans = self._batch_shape(N, betas, trans)
        verts, j52 = _lbs.lbs(poses, betas, trans, h.v_template, self.shapedirs, h.posedirs,
                              h.J_regressor, h.weights, h.parents)
        joints = np.empty((N, NUM_JOINTS, 3), j52.dtype)
        joints[:, :22] = j52[:, :22]
        for j, knuckles in SMPL_HAND_FROM_KNUCKLES.items():
            joints[:, j] = j52[:, list(knuckles)].mean(1)
        return self._output(verts, joints, j52, keypoints)

    def _output(self, verts, joints, j52, keypoints: bool) -> BodyOutput:
        N = verts.shape[0]
        if not keypoints or "body25" not in self.keypoint_regressors:
            return BodyOutput(verts, joints, np.empty((N, 0, 3)), np.empty((N, 0, 3)), j52)
        return BodyOutput(verts, joints, self.keypoints(verts, joints, "body25"),
                          self.keypoints(verts, joints, "coco17"), j52)

    def smplh_poses(self, poses: np.ndarray, hand_poses: np.ndarray | None = None) -> np.ndarray:
        """(N, 156) SMPL-H poses from SMPL poses (N, 72) and hand poses (N, 90).

        Without hand poses the hands are this body's default (relaxed) hands, turned by SMPL's own
        hand-joint rotation (joints 22/23, which SMPL-H lacks) at the finger knuckles, as the
        24-joint route turns them. Given hand poses describe the fingers fully: SMPL's hand
        joints are then only their 24-joint summary and are ignored."""
        from neural_render.motion.rotations import matrix_to_aa, rodrigues

        poses = np.asarray(poses, np.float32).reshape(-1, 72)
        N = len(poses)
        mean = self.hands.hands_mean if self.hands is not None else np.zeros(90, np.float32)
        hands = (np.broadcast_to(mean, (N, 90)) if hand_poses is None
                 else np.asarray(hand_poses, np.float32).reshape(N, 90)).astype(np.float64).copy()
        for side, j in ((0, 22), (1, 23)):
            aa = poses[:, 3 * j:3 * j + 3].astype(np.float64)
            if hand_poses is not None or not np.any(aa):
                continue
            R = rodrigues(aa)
            # index, middle, pinky, ring at their knuckles; the thumb past its first joint (SMPL
            # bodies hang the thumb's base on the wrist).
            for k in (0, 9, 18, 27, 39):
                k += 45 * side
                hands[:, k:k + 3] = matrix_to_aa(R @ rodrigues(hands[:, k:k + 3]))
        return np.concatenate([poses[:, :66], hands.astype(np.float32)], 1)

    def keypoints(self, vertices: np.ndarray, joints: np.ndarray, kind: str) -> np.ndarray:
        """Regress keypoints (N, K, 3) from posed vertices (N, V, 3) and joints (N, 24, 3)."""
        R = self.keypoint_regressors[kind]
        V = self.num_vertices
        # Regressors are sparse: only the vertices some keypoint uses take part (matmul, not einsum).
        used = self._used_vertices(kind)
        out = np.matmul(R[:, used], vertices[:, used]) + np.matmul(R[:, V:], joints)
        missing = self.__dict__["_kp_used"][kind][2]
        if missing.any():  # points the regressor cannot place (e.g. a file without face landmarks)
            out = out.astype(np.float32, copy=True)
            out[:, missing] = np.nan
        return out

    def _used_vertices(self, kind: str) -> np.ndarray:
        """Vertex ids with a non-zero weight in regressor `kind` (cached per regressor array)."""
        R = self.keypoint_regressors[kind]
        cache = self.__dict__.setdefault("_kp_used", {})
        if kind not in cache or cache[kind][0] is not R:
            cache[kind] = (R, np.flatnonzero(np.any(R[:, :self.num_vertices] != 0, axis=0)),
                           ~np.any(R != 0, axis=1))  # all-zero rows: points it cannot place
        return cache[kind][1]

    def to_torch(self, device="cpu"):
        """A `TorchLBS` module holding this body's buffers on `device`."""
        from neural_render.body.lbs_torch import TorchLBS

        return TorchLBS(self, device=device)

    def info(self) -> dict:
        return {
            "name": self.name, "path": self.path, "gender": self.gender,
            "vertices": int(self.num_vertices), "faces": int(self.faces.shape[0]),
            "joints": int(self.num_joints),
            "joint_names": list(SMPLH_JOINT_NAMES if self.hands is not None else SMPL_JOINT_NAMES),
            "layouts": ["smpl"] + (["smplh"] if self.hands is not None else []),
            "parts": int(len(np.unique(self.parts))) if self.parts is not None else 0,
            "shape_components": int(self.num_betas),
            "shape_component_names": list(self.shape_names),
            "pose_correctives": self.posedirs is not None,
            "uv": self.vt is not None,
            "keypoints": {k: int(v.shape[0]) for k, v in self.keypoint_regressors.items()},
            "source": self.source, "licence": self.licence,
        }


def default_body_path() -> Path:
    from neural_render.paths import asset

    return asset("default_body.npz")


def load_body(path: str | Path | None = None, gender: str = "neutral") -> BodyModel:
    """Load the default body (path None) or an SMPL model file / folder of SMPL files."""
    path = default_body_path() if path is None or str(path) == "default" else Path(path)
    if path.is_dir():
        path = _find_in_folder(path, gender)
    if not path.exists():
        raise InputError("model file not found", path=path,
                         fix="pass an SMPL .pkl/.npz file, or omit it to use the default body")
    if path.suffix == ".npz":
        from neural_render.fileio import load_npz

        data = load_npz(path)
    elif path.suffix == ".pkl":
        data = safe_load_pickle(path)
        if not isinstance(data, dict):
            raise InputError("pickle does not hold a dict of arrays", path=path)
    else:
        raise InputError(f"unknown model file type '{path.suffix}'", path=path, fix="use .pkl or .npz")
    return body_from_arrays(data, path)


def _find_in_folder(folder: Path, gender: str) -> Path:
    g = {"neutral": ("NEUTRAL", "neutral"), "female": ("FEMALE", "f"), "male": ("MALE", "m")}[gender]
    for pattern in (f"SMPL_{g[0]}.npz", f"SMPL_{g[0]}.pkl", f"basicModel_{g[1]}_lbs_*.pkl",
                    f"basicmodel_{g[1]}_lbs_*.pkl", f"*{g[0]}*.pkl", f"*{g[0]}*.npz"):
        hits = sorted(folder.glob(pattern))
        if hits:
            return hits[0]
    raise InputError(f"no {gender} SMPL model file in folder", path=folder,
                     fix="expected e.g. SMPL_NEUTRAL.pkl or basicModel_f_lbs_10_207_0_v1.0.0.pkl")


def _scalar_str(data: dict, key: str, default: str = "") -> str:
    v = data.get(key)
    if v is None:
        return default
    v = np.asarray(v)
    return str(v.item() if v.ndim == 0 else v)


def _real(data: dict, key: str, path) -> np.ndarray:
    """data[key] as a finite real array, or an InputError naming the key (text, complex or
    object arrays, NaN or infinite values are refused, never cast)."""
    a = np.asarray(data[key]) if not isinstance(data[key], (str, bytes)) else np.asarray([data[key]])
    if a.dtype.kind not in "biuf":
        raise InputError(f"'{key}' is not a numeric array (dtype {a.dtype})", path=path,
                         fix="is this an SMPL model file?")
    if a.dtype.kind == "f" and not np.all(np.isfinite(a)):
        raise InputError(f"'{key}' has NaN or infinite values", path=path)
    return a


def body_from_arrays(data: dict, path: Path | str = "") -> BodyModel:
    missing = [k for k in REQUIRED_KEYS if k not in data]
    if missing:
        raise InputError(f"missing SMPL keys {missing}", path=path, fix="is this an SMPL model file?")
    data = dict(data)
    for k in (*REQUIRED_KEYS, "parts", "vt", "ft", "kp_body25", "kp_coco17"):
        if k in data:
            data[k] = _real(data, k, path)
    n_joints = np.asarray(data["J_regressor"]).shape[0] if hasattr(data["J_regressor"], "shape") else 0
    if n_joints in (52, 55):  # an SMPL-H or SMPL-X file: its 24-joint route is derived from it
        from neural_render.body.hand_files import split_hand_file

        data, hands = split_hand_file(data, path)
        body = body_from_arrays(data, path)
        body.hands = hands
        if "wholebody" not in body.keypoint_regressors and body.num_vertices in TOPOLOGY_VERTEX_IDS \
                and "body25" in body.keypoint_regressors:
            body.keypoint_regressors["wholebody"] = topology_wholebody(body, data)
        return body
    v = np.asarray(data["v_template"], np.float32)
    V = v.shape[0]
    if v.ndim != 2 or v.shape[1] != 3:
        raise InputError(f"v_template has shape {v.shape}, expected (V, 3)", path=path)
    checks = {"J_regressor": (NUM_JOINTS, V), "weights": (V, NUM_JOINTS)}
    arrays = {k: np.asarray(data[k], np.float32) for k in checks}
    for k, shape in checks.items():
        if arrays[k].shape != shape:
            raise InputError(f"{k} has shape {arrays[k].shape}, expected {shape}", path=path)
    shapedirs = np.asarray(data["shapedirs"], np.float32)
    posedirs = np.asarray(data["posedirs"], np.float32)
    if posedirs.shape == (V * 3, 207):  # flattened (e.g. a sparse matrix in the default body's pkl)
        posedirs = posedirs.reshape(V, 3, 207)
    if shapedirs.ndim != 3 or shapedirs.shape[:2] != (V, 3):
        raise InputError(f"shapedirs has shape {shapedirs.shape}, expected (V, 3, B)", path=path)
    if posedirs.shape != (V, 3, 207):
        raise InputError(f"posedirs has shape {posedirs.shape}, expected ({V}, 3, 207)", path=path)
    kintree = np.asarray(data["kintree_table"]).astype(np.int64)
    parents = kintree[0].copy()
    parents[0] = -1
    if parents.shape != (NUM_JOINTS,) or np.any(parents[1:] >= np.arange(1, NUM_JOINTS)):
        raise InputError("kintree_table is not SMPL's 24-joint tree", path=path)
    faces = np.asarray(data["f"])
    if faces.ndim != 2 or faces.shape[1] != 3 or (faces.size and (faces.min() < 0 or faces.max() >= V)):
        raise InputError(f"faces 'f' of shape {faces.shape} must index the {V} vertices", path=path,
                         fix="is this an SMPL model file?")
    faces = faces.astype(np.int32)
    weights = arrays["weights"]
    parts = np.asarray(data["parts"], np.uint8) if "parts" in data else (np.argmax(weights, 1) + 1).astype(np.uint8)
    body = BodyModel(
        v_template=v, faces=faces, shapedirs=shapedirs,
        posedirs=None if not np.any(posedirs) else posedirs,
        J_regressor=arrays["J_regressor"], weights=weights, parents=parents, parts=parts,
        vt=np.asarray(data["vt"], np.float32) if "vt" in data else None,
        ft=np.asarray(data["ft"]).astype(np.int32) if "ft" in data else None,
        name=_scalar_str(data, "name", Path(path).stem if path else "smpl"),
        gender=_scalar_str(data, "gender", "neutral"),
        source=_scalar_str(data, "source", "SMPL model file"),
        licence=_scalar_str(data, "licence", "SMPL licence (see the model's own terms)"),
        path=str(path),
    )
    if "shape_component_names" in data:
        names = [str(n) for n in np.asarray(data["shape_component_names"]).reshape(-1)]
        if len(names) == shapedirs.shape[-1]:
            body.shape_names = names
    if "smplh_J_regressor" in data:  # the default body's SMPL-H layout
        body.hands = HandLayout(
            v_template=np.asarray(data["smplh_v_template"], np.float32),
            J_regressor=np.asarray(data["smplh_J_regressor"], np.float32),
            weights=np.asarray(data["smplh_weights"], np.float32),
            hands_mean=np.asarray(data["smplh_hands_mean"], np.float32).reshape(90))
    for kind in ("body25", "coco17", "wholebody"):
        key = f"kp_{kind}"
        if key in data:
            body.keypoint_regressors[kind] = np.asarray(data[key], np.float32)
    if "body25" not in body.keypoint_regressors and V == 6890:
        body.keypoint_regressors["body25"] = smpl_topology_body25(V)
    if "body25" not in body.keypoint_regressors and V in TOPOLOGY_VERTEX_IDS:  # SMPL-X
        body.keypoint_regressors["body25"] = topology_body25(V)
    if "body25" in body.keypoint_regressors and "coco17" not in body.keypoint_regressors:
        body.keypoint_regressors["coco17"] = body.keypoint_regressors["body25"][list(COCO17_FROM_BODY25)]
    if "wholebody" not in body.keypoint_regressors and body.hands is not None and V in TOPOLOGY_VERTEX_IDS \
            and "body25" in body.keypoint_regressors:
        body.keypoint_regressors["wholebody"] = topology_wholebody(body, data)
    return body


def topology_body25(num_vertices: int) -> np.ndarray:
    """BODY_25 regressor (25, V + 24) of an SMPL-family topology (SMPL/SMPL-H 6,890, SMPL-X 10,475
    vertices): SMPL joints where OpenPose uses joints, the topology's surface vertices elsewhere."""
    R = np.zeros((25, num_vertices + NUM_JOINTS), np.float32)
    for k, j in BODY25_FROM_SMPL_JOINT.items():
        R[k, num_vertices + j] = 1.0
    for name, k in BODY25_FROM_VERTEX_NAME.items():
        R[k, TOPOLOGY_VERTEX_IDS[num_vertices][name]] = 1.0
    return R


def topology_wholebody(body: "BodyModel", data: dict) -> np.ndarray:
    """COCO-WholeBody regressor (133, V + 24) of an SMPL-H / SMPL-X file: body and feet from its
    BODY_25, hands from its finger joint rows (vertex regressors) and fingertip vertices, the face
    from SMPL-X's landmark triangles (`lmk_faces_idx`, `lmk_bary_coords`: iBUG points 17-67) when
    the file has them. Points it cannot place are all-zero rows (missing: NaN keypoints)."""
    V = body.num_vertices
    ids = TOPOLOGY_VERTEX_IDS[V]
    b25 = body.keypoint_regressors["body25"]
    R = np.zeros((133, V + NUM_JOINTS), np.float32)
    R[:17] = b25[list(COCO17_FROM_BODY25)]
    R[17:23] = b25[[19, 20, 21, 22, 23, 24]]
    order = ("thumb", "index", "middle", "ring", "pinky")
    for s, (start, wrist, pre) in enumerate(((91, 20, "l"), (112, 21, "r"))):
        R[start, V + wrist] = 1.0
        for f_i, f in enumerate(order):
            m = ("index", "middle", "pinky", "ring", "thumb").index(f)
            for k in range(3):
                R[start + 1 + 4 * f_i + k, :V] = body.hands.J_regressor[22 + 15 * s + 3 * m + k]
            R[start + 4 + 4 * f_i, ids[pre + f]] = 1.0
    if "lmk_faces_idx" in data and "lmk_bary_coords" in data:
        fi = np.asarray(data["lmk_faces_idx"]).astype(np.int64).reshape(-1)
        bc = np.asarray(data["lmk_bary_coords"], np.float32).reshape(-1, 3)
        if len(fi) == len(bc) == 51 and fi.max(initial=-1) < len(body.faces):
            for i in range(51):
                for c in range(3):
                    R[23 + 17 + i, body.faces[fi[i], c]] += bc[i, c]
    return R


def smpl_topology_body25(num_vertices: int = 6890) -> np.ndarray:
    """BODY_25 regressor (25, V + 24) for SMPL's own mesh: joints where they coincide, else vertices."""
    R = np.zeros((25, num_vertices + NUM_JOINTS), np.float32)
    for k, j in BODY25_FROM_SMPL_JOINT.items():
        R[k, num_vertices + j] = 1.0
    for k, vid in SMPL_TOPOLOGY_KEYPOINT_VERTICES.items():
        R[k, vid] = 1.0
    return R
