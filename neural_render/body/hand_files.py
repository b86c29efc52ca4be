"""SMPL-H and SMPL-X model files: their hand layout and the SMPL (24-joint) route derived from them.

An SMPL-H file has 52 joints (SMPL's first 22, then 15 finger joints per hand, MANO order), an
SMPL-X file 55 (the same with jaw, left eye and right eye at 22-24 before the hands). Both load
as a `BodyModel` whose `hands` is SMPL-H's 52-joint layout; SMPL-X's jaw and eyes are folded into
the head (their weights move to the head joint, their pose correctives are dropped: they are
zero at a neutral jaw and eyes), and its expression components are not used. Body and hands are
required; jaw, eyes, expression and the hand means are optional.

The 24-joint route (for SMPL poses, fitting and the Blender rig): joints 0-21 as in the file,
SMPL's hand joints at the mean of the four finger knuckles (index, middle, little, ring), each
hand's finger weights summed into its hand joint, the body's pose correctives kept.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from neural_render.body.skeletons import SMPL_PARENTS, SMPLH_PARENTS
from neural_render.errors import InputError

SMPLX_JAW_EYES = (22, 23, 24)
SMPLX_HAND_JOINTS = tuple(range(25, 55))


def _dense(a) -> np.ndarray:
    return np.asarray(a.toarray() if hasattr(a, "toarray") else a, np.float64)


def split_hand_file(data: dict, path: Path | str = "") -> tuple[dict, "object"]:
    """(SMPL-format arrays for the 24-joint route, HandLayout) from an SMPL-H or SMPL-X file's arrays."""
    from neural_render.body.hand_layout import SMPL_HAND_FROM_KNUCKLES, HandLayout

    J = _dense(data["J_regressor"])
    n, V = J.shape
    v = np.asarray(data["v_template"], np.float64)
    if v.shape != (V, 3):
        raise InputError(f"v_template has shape {v.shape}, expected ({V}, 3)", path=path)
    W = _dense(data["weights"])
    if W.shape != (V, n):
        raise InputError(f"weights has shape {W.shape}, expected ({V}, {n})", path=path,
                         fix="is this a complete SMPL-H / SMPL-X file?")
    kin = np.asarray(data["kintree_table"]).astype(np.int64)
    if kin.shape != (2, n):
        raise InputError(f"kintree_table has shape {kin.shape}, expected (2, {n})", path=path)
    parents = kin[0].copy()
    parents[0] = -1
    layout = "smplx" if n == 55 else "smplh"
    keep = list(range(22)) + (list(SMPLX_HAND_JOINTS) if n == 55 else list(range(22, 52)))
    # The file's tree, renumbered to the 52 kept joints, must be SMPL-H's.
    renum = {old: new for new, old in enumerate(keep)}
    got = [-1] + [renum.get(int(parents[j]), 15 if int(parents[j]) in SMPLX_JAW_EYES else -2) for j in keep[1:]]
    if got != list(SMPLH_PARENTS):
        raise InputError(f"kintree_table is not the {layout.upper()} joint tree", path=path,
                         fix="pass an SMPL, SMPL-H or SMPL-X model file")
    W52 = W[:, keep].copy()
    if n == 55:
        W52[:, 15] += W[:, list(SMPLX_JAW_EYES)].sum(1)
    J52 = J[keep]
    posedirs = data.get("posedirs")
    P52 = None
    if posedirs is not None:
        P = _dense(posedirs)
        P = P.reshape(V, 3, -1) if P.ndim == 2 else P
        if P.shape != (V, 3, 9 * (n - 1)):
            raise InputError(f"posedirs has shape {P.shape}, expected ({V}, 3, {9 * (n - 1)})", path=path)
        rows = np.concatenate([np.arange(9 * (j - 1), 9 * j) for j in keep[1:]])
        P52 = P[..., rows]
    shapedirs = np.asarray(_dense(data["shapedirs"]) if hasattr(data["shapedirs"], "toarray") else data["shapedirs"],
                           np.float64)
    if shapedirs.ndim != 3 or shapedirs.shape[:2] != (V, 3):
        raise InputError(f"shapedirs has shape {shapedirs.shape}, expected ({V}, 3, B)", path=path)
    if n == 55 and shapedirs.shape[-1] > 300:  # SMPL-X: 300 shape then expression components
        shapedirs = shapedirs[..., :300]
    hands_mean = np.zeros(90)
    for s, key in enumerate(("hands_meanl", "hands_meanr")):
        if key in data:
            m = np.asarray(data[key], np.float64).reshape(-1)
            if m.shape != (45,):
                raise InputError(f"{key} has {m.size} values, expected 45", path=path)
            hands_mean[45 * s:45 * s + 45] = m
    # The 24-joint route.
    J24 = np.zeros((24, V))
    J24[:22] = J52[:22]
    W24 = np.zeros((V, 24))
    W24[:, :22] = W52[:, :22]
    for side, (j, knuckles) in enumerate(SMPL_HAND_FROM_KNUCKLES.items()):
        J24[j] = J52[list(knuckles)].mean(0)
        W24[:, j] = W52[:, 22 + 15 * side:37 + 15 * side].sum(1)
    kin24 = np.stack([SMPL_PARENTS, np.arange(24)]).astype(np.int64)
    out = dict(data)
    out.update({"J_regressor": J24, "weights": W24, "kintree_table": kin24, "shapedirs": shapedirs,
                "posedirs": (np.zeros((V, 3, 207)) if P52 is None else
                             np.concatenate([P52[..., :189], np.zeros((V, 3, 18))], -1))})
    hands = HandLayout(v_template=v.astype(np.float32), J_regressor=J52.astype(np.float32),
                       weights=W52.astype(np.float32), hands_mean=hands_mean.astype(np.float32),
                       posedirs=None if P52 is None or not np.any(P52) else P52.astype(np.float32),
                       source_layout=layout)
    return out, hands
