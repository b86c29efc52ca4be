"""Multi-view triangulation: confidence-weighted DLT with outlier views rejected by exhaustive consensus.

For every keypoint of every frame, each subset of >= 2 confident views is triangulated (DLT with rows
weighted by detection confidence); the subset whose point agrees (reprojection error below a
threshold) with the largest confidence mass of views wins, and the point is re-triangulated from all
views that agree with it. With few cameras (<= 6) trying every subset is cheap and deterministic; with
more, views are dropped greedily (worst first). numpy only; cameras from calibration.py.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

from neural_render.camera import Camera


@dataclass
class Triangulation:
    points: np.ndarray      # (T, K, 3) world metres, NaN where fewer than 2 views agree
    confidence: np.ndarray  # (T, K) mean confidence of the views used (0 where NaN)
    used: np.ndarray        # (C, T, K) bool: view used for the point
    error_px: np.ndarray    # (C, T, K) reprojection error of the final point in each view (NaN if unseen)


def dlt(P: np.ndarray, uv: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Weighted DLT. P (C, 3, 4), uv (..., C, 2) undistorted pixels, w (..., C) >= 0 -> (..., 3)."""
    rows_u = uv[..., 0:1] * P[:, 2] - P[:, 0]          # (..., C, 4)
    rows_v = uv[..., 1:2] * P[:, 2] - P[:, 1]
    A = np.concatenate([rows_u, rows_v], -2) * np.concatenate([w, w], -1)[..., None]
    # Row scaling: keeps the SVD well conditioned whatever the pixel scale.
    A = A / (np.linalg.norm(A, axis=-1, keepdims=True) + 1e-12) * np.concatenate([w, w], -1)[..., None]
    _, _, vt = np.linalg.svd(A)
    X = vt[..., -1, :]
    return X[..., :3] / np.where(np.abs(X[..., 3:]) > 1e-12, X[..., 3:], 1e-12)


def _reproject(P: np.ndarray, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """X (..., 3) -> pixels (..., C, 2), depth (..., C)."""
    Xh = np.concatenate([X, np.ones(X.shape[:-1] + (1,))], -1)
    x = np.einsum("cij,...j->...ci", P, Xh)
    z = x[..., 2]
    return x[..., :2] / np.where(np.abs(z) > 1e-12, z, 1e-12)[..., None], z


def triangulate(uv: np.ndarray, conf: np.ndarray, cameras: list[Camera], min_conf: float = 0.2,
                threshold_px: float | None = None, undistort: bool = True) -> Triangulation:
    """Triangulate keypoints seen by several calibrated cameras.

    Args:
        uv: (C, T, K, 2) observed pixels (with lens distortion, as detected).
        conf: (C, T, K) detection confidence, 0 = missing.
        threshold_px: inlier reprojection error; default 1.5 % of the larger image side.
    """
    C, T, K = conf.shape
    P = np.stack([c.P for c in cameras])
    und = np.stack([cameras[c].undistort_pixels(uv[c]) if undistort else uv[c] for c in range(C)])
    if threshold_px is None:
        threshold_px = 0.015 * max(max(c.width, c.height) for c in cameras)
    w = np.where(conf >= min_conf, conf, 0.0)
    # Points: move C to the last-but-one axis -> (T, K, C, ...)
    u = np.moveaxis(und, 0, 2)
    wt = np.moveaxis(w, 0, 2)
    if C <= 6:
        subsets = [s for n in range(2, C + 1) for s in itertools.combinations(range(C), n)]
    else:
        subsets = [tuple(range(C))]
    best_score = np.full((T, K), -1.0)
    best_X = np.full((T, K, 3), np.nan)
    for s in subsets:
        m = np.zeros(C)
        m[list(s)] = 1
        ws = wt * m
        ok = (ws > 0).sum(-1) >= 2
        if not ok.any():
            continue
        X = dlt(P, u, ws)
        proj, z = _reproject(P, X)
        err = np.linalg.norm(proj - u, axis=-1)
        inl = (err < threshold_px) & (wt > 0) & (z > 0)
        # The subset's own views must agree with its point, else it is no consensus.
        agree = np.all(inl | (ws == 0), -1) & ok
        score = np.where(agree, (wt * inl).sum(-1) + 1e-3 * len(s), -1.0)
        better = score > best_score
        best_score = np.where(better, score, best_score)
        best_X = np.where(better[..., None], X, best_X)
    if C > 6:
        best_X, best_score = _greedy(P, u, wt, threshold_px)
    # Final: re-triangulate from every view that agrees with the consensus point.
    proj, z = _reproject(P, best_X)
    err = np.linalg.norm(proj - u, axis=-1)
    inl = (err < threshold_px) & (wt > 0) & (z > 0) & (best_score[..., None] > 0)
    good = inl.sum(-1) >= 2
    X = dlt(P, u, wt * inl)
    X = np.where(good[..., None], X, np.nan)
    conf3 = np.where(good, (wt * inl).sum(-1) / np.maximum(inl.sum(-1), 1), 0.0)
    proj, _ = _reproject(P, np.nan_to_num(X))
    err = np.where((wt > 0) & good[..., None], np.linalg.norm(proj - u, axis=-1), np.nan)
    return Triangulation(X, conf3, np.moveaxis(inl & good[..., None], 2, 0), np.moveaxis(err, 2, 0))


def _greedy(P, u, wt, threshold_px):
    """Many cameras: drop the worst view while any used view disagrees (>= 2 views kept)."""
    w = wt.copy()
    for _ in range(wt.shape[-1] - 2):
        X = dlt(P, u, w)
        proj, z = _reproject(P, X)
        err = np.where(w > 0, np.linalg.norm(proj - u, axis=-1), -1.0)
        err = np.where(z > 0, err, np.where(w > 0, np.inf, -1.0))
        worst = err.argmax(-1)
        bad = (np.take_along_axis(err, worst[..., None], -1)[..., 0] > threshold_px) & ((w > 0).sum(-1) > 2)
        if not bad.any():
            break
        drop = np.zeros_like(w, bool)
        np.put_along_axis(drop, worst[..., None], bad[..., None], -1)
        w = np.where(drop, 0.0, w)
    X = dlt(P, u, w)
    score = np.where((w > 0).sum(-1) >= 2, w.sum(-1), -1.0)
    return X, score
