"""Write a body as a model file other tools read: `neural-render body export`.

- ``smplh``: an SMPL-H `.pkl` that `smplx.SMPLH(model_path=..., use_pca=False)` loads unchanged (52
  joints; the flat-hand template; `hands_mean*` = the body's default relaxed hands, which smplx adds
  to the hand pose unless `flat_hand_mean=True`; identity hand PCA components). Not shipped:
  ~6 MB each, written on demand.
- ``smpl``: an SMPL `.pkl` (24 joints) that `smplx.SMPL` loads (the shipped default_body.pkl is one).

Only plain numpy arrays, strings and scipy sparse matrices go in (protocol 4), so the restricted
loader (`neural_render.body.safe_pickle`) reads the files back.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np

from neural_render.body.skeletons import SMPL_PARENTS, SMPLH_PARENTS
from neural_render.errors import InputError

LAYOUTS = ("smplh", "smpl")


def _kintree(parents: np.ndarray) -> np.ndarray:
    k = np.stack([parents, np.arange(len(parents))]).astype(np.int64)
    k[0, 0] = 4294967295  # as in the official files
    return k


def export_arrays(body, layout: str = "smplh") -> dict:
    """The model file's dict for `layout` ("smplh" or "smpl")."""
    import scipy.sparse as sp

    V = body.num_vertices
    common = {"f": np.asarray(body.faces).astype(np.uint32), "shapedirs": np.asarray(body.shapedirs, np.float64),
              "name": str(body.name), "gender": str(body.gender), "source": str(body.source),
              "licence": str(body.licence), "bs_type": "lrotmin", "bs_style": "lbs"}
    if body.vt is not None:
        common.update(vt=np.asarray(body.vt), ft=np.asarray(body.ft))
    for kind, R in body.keypoint_regressors.items():  # mostly zeros; smplx ignores them, we read them back
        common[f"kp_{kind}"] = sp.csr_matrix(np.asarray(R, np.float64))
    if body.parts is not None:
        common["parts"] = np.asarray(body.parts, np.uint8)
    if layout == "smpl":
        P = np.zeros((V, 3, 207)) if body.posedirs is None else np.asarray(body.posedirs, np.float64)
        return {**common, "v_template": np.asarray(body.v_template, np.float64),
                "J_regressor": sp.csc_matrix(np.asarray(body.J_regressor, np.float64)),
                "weights": np.asarray(body.weights, np.float64), "kintree_table": _kintree(SMPL_PARENTS),
                "posedirs": sp.csc_matrix(P.reshape(V * 3, 207)), "J": body.rest_joints().astype(np.float64)}
    if layout != "smplh":
        raise InputError(f"unknown layout '{layout}'", where="--layout", fix=f"use one of {list(LAYOUTS)}")
    h = body.hands
    if h is None:
        raise InputError("this body has no hands (an SMPL file)", where="--layout smplh",
                         fix="export the default body or an SMPL-H / SMPL-X file, or use --layout smpl")
    P = np.zeros((V, 3, 459)) if h.posedirs is None else np.asarray(h.posedirs, np.float64)
    mean = np.asarray(h.hands_mean, np.float64)
    return {**common, "v_template": np.asarray(h.v_template, np.float64),
            "J_regressor": sp.csc_matrix(np.asarray(h.J_regressor, np.float64)),
            "weights": np.asarray(h.weights, np.float64), "kintree_table": _kintree(SMPLH_PARENTS),
            "posedirs": sp.csc_matrix(P.reshape(V * 3, 459)),
            "J": (np.asarray(h.J_regressor, np.float64) @ h.v_template).astype(np.float64),
            "hands_meanl": mean[:45].copy(), "hands_meanr": mean[45:].copy(),
            "hands_componentsl": np.eye(45), "hands_componentsr": np.eye(45),
            "hands_coeffsl": np.zeros((1, 45)), "hands_coeffsr": np.zeros((1, 45))}


def export_body(body, out: str | Path, layout: str = "smplh") -> Path:
    """Write `body` as a `layout` model .pkl at `out` (atomically); returns the path."""
    from neural_render.fileio import write_bytes

    out = Path(out)
    if out.suffix != ".pkl":
        raise InputError(f"output must be a .pkl file, got '{out.name}'", where="--out",
                         fix="e.g. --out SMPLH_NEUTRAL.pkl")
    data = export_arrays(body, layout)
    write_bytes(out, pickle.dumps(data, protocol=4))
    return out
