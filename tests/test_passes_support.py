"""Shared helpers for the passes tests (no tests here): analytic meshes, ray casting, real clips."""

from __future__ import annotations

import functools

import numpy as np
import pytest


def uv_sphere(radius: float = 0.5, n_lat: int = 48, n_lon: int = 96):
    """A closed UV-sphere (vertices (V,3), faces (F,3) outward-facing, vertex parts by longitude)."""
    lat = np.linspace(0, np.pi, n_lat + 1)[1:-1]
    lon = np.linspace(0, 2 * np.pi, n_lon, endpoint=False)
    la, lo = np.meshgrid(lat, lon, indexing="ij")
    ring = np.stack([np.sin(la) * np.cos(lo), np.sin(la) * np.sin(lo), np.cos(la)], -1).reshape(-1, 3)
    V = np.concatenate([[[0, 0, 1.0]], ring, [[0, 0, -1.0]]]) * radius
    faces = []
    idx = lambda i, j: 1 + i * n_lon + (j % n_lon)  # noqa: E731
    for j in range(n_lon):
        faces.append([0, idx(0, j), idx(0, j + 1)])
        faces.append([len(V) - 1, idx(n_lat - 2, j + 1), idx(n_lat - 2, j)])
    for i in range(n_lat - 2):
        for j in range(n_lon):
            a, b, c, d = idx(i, j), idx(i, j + 1), idx(i + 1, j), idx(i + 1, j + 1)
            faces += [[a, c, b], [b, c, d]]
    F = np.array(faces, np.int32)
    # make every face wind outward (normal . centroid > 0)
    p = V[F]
    n = np.cross(p[:, 1] - p[:, 0], p[:, 2] - p[:, 0])
    flip = np.sum(n * p.mean(1), 1) < 0
    F[flip] = F[flip][:, ::-1]
    parts = (np.floor((np.arctan2(V[:, 1], V[:, 0]) + np.pi) / (2 * np.pi) * 24).clip(0, 23) + 1).astype(np.uint8)
    return V, F, parts


def raycast(camera, vertices: np.ndarray, faces: np.ndarray, pixels: np.ndarray):
    """Nearest hit (planar depth, face index) of rays through pixel centres (N,2) (x, y); -1 = miss.

    Moller-Trumbore in numpy: an independent reference for the renderers.
    """
    Kinv = np.linalg.inv(camera.K)
    d_cam = np.concatenate([pixels.astype(np.float64), np.ones((len(pixels), 1))], 1) @ Kinv.T
    R, C = camera.R, camera.center
    d_world = d_cam @ R  # R^T d
    tri = vertices[faces].astype(np.float64)
    e1, e2 = tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0]
    depth = np.zeros(len(pixels))
    hit = np.full(len(pixels), -1)
    for s in range(0, len(pixels), 64):
        d = d_world[s:s + 64][:, None]  # (n,1,3)
        p = np.cross(d, e2[None])
        det = np.sum(e1[None] * p, -1)
        ok = np.abs(det) > 1e-12
        inv = np.where(ok, 1.0 / np.where(ok, det, 1), 0)
        tv = C - tri[None, :, 0]
        u = np.sum(tv * p, -1) * inv
        q = np.cross(tv, e1[None])
        v = np.sum(d * q, -1) * inv
        t = np.sum(e2[None] * q, -1) * inv
        valid = ok & (u >= 0) & (v >= 0) & (u + v <= 1) & (t > 1e-6)
        t = np.where(valid, t, np.inf)
        f = np.argmin(t, 1)
        tt = t[np.arange(len(f)), f]
        m = np.isfinite(tt)
        hit[s:s + 64] = np.where(m, f, -1)
        depth[s:s + 64] = np.where(m, tt, 0)  # d_cam has z = 1, so t is the planar depth
    return depth, hit


def need_raster():
    from neural_render.passes.raster import available

    ok, why = available()
    if not ok:
        pytest.skip(f"raster renderer unavailable here: {why}")


@functools.lru_cache(maxsize=None)
def real_clip(shared_data_dir: str, fps: float = 30.0):
    """The shared CMU walk as a Motion (through the BVH importer), else the shared SMPL pkl sequence."""
    from pathlib import Path

    from neural_render.motion.importers import import_motion

    d = Path(shared_data_dir)
    for src in (d / "mocap" / "cmu_131_01_walk.bvh", d / "smpl" / "smpl_to_fbx_sample.pkl"):
        if src.exists():
            try:
                return import_motion(src, fps=fps)[0], src.name
            except Exception:  # noqa: BLE001 - importer not landed / failed: try the next source
                continue
    pytest.skip("no real clip could be imported")
