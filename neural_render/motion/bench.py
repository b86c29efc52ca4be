"""`neural-render bench fit --json`: keypoint-fitting accuracy and speed.

Synthetic ground truth: a mocap pose sequence (the shared SMPL sample, which the pose prior does not
use) posed on the body, projected by a 1920x1080 camera, with 3 px noise, 20 % of keypoints dropped
and random low confidences; the fit must reproject within 4 px and reach PA-MPJPE <= 50 mm. Real
clip: the shared Pose2Sim capture, single-view vs multi-view median reprojection per camera.
Speed: frames per second of the whole fit (both stages) on CPU and, when present, CUDA.
"""

from __future__ import annotations

import math
import time
from pathlib import Path

import numpy as np

from neural_render.body.axes import Y_UP_TO_Z_UP
from neural_render.camera import Camera, focal_intrinsics


def shared_data_dir() -> Path:
    import os

    from neural_render.paths import PACKAGE_DIR

    return Path(os.environ.get("NEURAL_RENDER_SHARED_DATA", PACKAGE_DIR.parent.parent / "shared" / "data"))


def mocap_sequence(frames: int | None = None, data: Path | None = None) -> np.ndarray:
    """(T, 72) poses of the shared SMPL sample (Y-up root) or, without the shared data, a seeded walk-like loop."""
    path = (data or shared_data_dir()) / "smpl" / "smpl_to_fbx_sample.pkl"
    if path.is_file():
        from neural_render.body.safe_pickle import safe_load_pickle

        poses = np.asarray(safe_load_pickle(path)["smpl_poses"], np.float64)
    else:
        t = np.linspace(0, 4 * math.pi, 128)
        poses = np.zeros((128, 72))
        poses[:, 3 * 1] = -0.5 * np.sin(t)
        poses[:, 3 * 2] = 0.5 * np.sin(t)
        poses[:, 3 * 4] = 0.6 * np.clip(np.sin(t), 0, None)
        poses[:, 3 * 5] = 0.6 * np.clip(-np.sin(t), 0, None)
        poses[:, 3 * 16 + 2] = -1.2
        poses[:, 3 * 17 + 2] = 1.2
    if frames is not None:
        reps = int(math.ceil(frames / len(poses)))
        poses = np.concatenate([poses, poses[::-1]] * reps)[:frames]
    return poses


def synthetic_case(body, frames: int = 60, seed: int = 0, noise_px: float = 3.0, drop: float = 0.2,
                   size=(1920, 1080), distance: float = 4.5, yaw_deg: float = 20.0, views: int = 1):
    """Ground truth motion (Z-up world), camera(s) and noisy BODY_25 detections (C, T, 25, 3).

    Returns (gt Motion, gt BodyOutput, camera or list of cameras when views > 1, obs, clean pixels).
    """
    from neural_render.motion.rotations import aa_to_matrix, matrix_to_aa

    rng = np.random.default_rng(seed)
    poses = mocap_sequence(frames).copy()
    T = len(poses)
    # Root: the clip's own orientation, turned Z-up and yawed so the camera sees it from an angle.
    yaw = math.radians(yaw_deg)
    Rz = np.array([[math.cos(yaw), -math.sin(yaw), 0], [math.sin(yaw), math.cos(yaw), 0], [0, 0, 1]])
    R0 = aa_to_matrix(poses[:, :3])
    poses[:, :3] = matrix_to_aa(Rz @ Y_UP_TO_Z_UP @ R0)
    poses[:, 66:] = 0
    betas = np.zeros(body.num_betas)
    betas[:min(10, body.num_betas)] = rng.normal(0, 0.8, min(10, body.num_betas))
    J0 = body.rest_joints(betas)[0]
    drift = np.stack([np.linspace(-0.4, 0.4, T), 0.3 * np.sin(np.linspace(0, 3, T)), np.zeros(T)], 1)
    out0 = body.forward(poses, betas, np.zeros((T, 3)), keypoints=False)
    lowest = out0.vertices[..., 2].min(1, keepdims=True)
    trans = drift - J0 * 0 + np.concatenate([np.zeros((T, 2)), -lowest], 1) - np.array([0, 0, 0.0])
    out = body.forward(poses, betas, trans)
    W, H = size
    f = 0.5 * W / math.tan(math.radians(55) / 2)  # 55 deg horizontal field of view
    cams = []
    for v in range(views):
        a = -math.pi / 2 + 2 * math.pi * v / max(views, 1) + 0.07
        cams.append(Camera.look_at([distance * math.cos(a), distance * math.sin(a), 1.2], [0, 0, 0.9], W, H,
                                   K=focal_intrinsics(W, H, f), name=f"synthetic{v}"))
    uv = np.stack([c.project(out.body25)[0] for c in cams])
    obs = np.concatenate([uv + rng.normal(0, noise_px, uv.shape), np.ones(uv.shape[:-1] + (1,))], -1)
    # Random low confidences on a third of the points; 20 % dropped (confidence 0, as OpenPose writes).
    low = rng.random(obs.shape[:3]) < 0.33
    obs[..., 2] = np.where(low, rng.uniform(0.15, 0.5, obs.shape[:3]), rng.uniform(0.6, 1.0, obs.shape[:3]))
    dropped = rng.random(obs.shape[:3]) < drop
    obs[dropped] = 0
    from neural_render.motion import Motion

    gt = Motion(poses.astype(np.float32), trans.astype(np.float32), betas.astype(np.float32), fps=60.0, up="z")
    if views == 1:
        return gt, out, cams[0], obs, uv[0]
    return gt, out, cams, obs, uv


def pa_mpjpe(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """Per-frame mean joint error after a similarity (Procrustes) alignment; (T, J, 3) -> (T,) metres."""
    errs = []
    for p, g in zip(pred, gt):
        mp, mg = p.mean(0), g.mean(0)
        P, G = p - mp, g - mg
        U, S, Vt = np.linalg.svd(P.T @ G)
        d = np.sign(np.linalg.det(Vt.T @ U.T))
        D = np.diag([1, 1, d])
        R = Vt.T @ D @ U.T
        s = (S * np.diag(D)).sum() / max((P ** 2).sum(), 1e-12)
        errs.append(np.linalg.norm(s * P @ R.T - G, axis=1).mean())
    return np.array(errs)


def evaluate_synthetic(body, frames: int = 60, device: str = "cpu", options=None, seed: int = 0) -> dict:
    from neural_render.motion.fit import FitOptions, fit_keypoints

    gt, out, cam, obs, clean_uv = synthetic_case(body, frames, seed)
    opts = options or FitOptions()
    opts.device = device
    cam_fit = Camera(cam.K.copy(), cam.world_to_camera.copy(), cam.width, cam.height, name=cam.name)
    t = time.perf_counter()
    res = fit_keypoints(body, obs2d=obs, cameras=[cam_fit], layout="body25", fps=60.0, options=opts)
    secs = time.perf_counter() - t
    seen = obs[0, ..., 2] > 0
    err_obs = np.linalg.norm(cam.project(res.keypoints3d)[0] - obs[0, ..., :2], axis=-1)[seen]
    err_clean = np.linalg.norm(cam.project(res.keypoints3d)[0] - clean_uv, axis=-1)
    pa = pa_mpjpe(res.joints[:, :22], out.joints[:, :22])
    mpjpe = np.linalg.norm(res.joints - out.joints, axis=-1).mean(-1)
    return {"frames": int(frames), "device": device, "seconds": round(secs, 3), "frames_per_s": round(frames / secs, 1),
            "reprojection_px_vs_detections_median": round(float(np.median(err_obs)), 2),
            "reprojection_px_vs_detections_mean": round(float(np.mean(err_obs)), 2),
            "reprojection_px_vs_truth_mean": round(float(err_clean.mean()), 2),
            "pa_mpjpe_mm": round(float(pa.mean() * 1000), 1),
            "mpjpe_mm": round(float(mpjpe.mean() * 1000), 1),
            "options": {"iters_global": opts.iters_global, "iters_pose_single": opts.single_view_iters(),
                        "pose_inits": opts.pose_inits, "iters_pose_init": opts.iters_pose_init}}


def evaluate_multiview(body, frames: int = 60, views: int = 2, device: str = "cpu", options=None, seed: int = 0) -> dict:
    """Synthetic truth seen by `views` cameras around the subject: triangulate, fit to all views."""
    from neural_render.motion.fit import FitOptions, fit_keypoints
    from neural_render.motion.triangulate import triangulate

    gt, out, cams, obs, uv = synthetic_case(body, frames, seed, views=views)
    opts = options or FitOptions()
    opts.device = device
    t = time.perf_counter()
    tri = triangulate(obs[..., :2], obs[..., 2], cams)
    init = np.concatenate([np.nan_to_num(tri.points), tri.confidence[..., None]], -1)
    res = fit_keypoints(body, obs2d=obs, cameras=cams, fps=60.0, options=opts, init3d=init)
    secs = time.perf_counter() - t
    err = np.stack([np.linalg.norm(c.project(res.keypoints3d)[0] - u, axis=-1) for c, u in zip(cams, uv)])
    return {"frames": int(frames), "views": views, "device": device, "seconds": round(secs, 3),
            "frames_per_s": round(frames / secs, 1),
            "reprojection_px_vs_detections_median": round(float(np.nanmedian(res.reprojection_px)), 2),
            "reprojection_px_vs_truth_mean": round(float(err.mean()), 2),
            "pa_mpjpe_mm": round(float(pa_mpjpe(res.joints[:, :22], out.joints[:, :22]).mean() * 1000), 1),
            "mpjpe_mm": round(float(np.linalg.norm(res.joints - out.joints, axis=-1).mean() * 1000), 1)}


def run(device: str = "auto", quick: bool = False, accuracy: bool = True, frames: list[int] | None = None) -> dict:
    """Accuracy (CPU; `accuracy=False` skips it) and frames/s of the fit on each device.

    `frames`: the clip lengths timed (default 64 and 512 on CPU, 512 and 4096 on CUDA; 64 quick)."""
    import torch

    from neural_render.body import load_body
    from neural_render.motion.fit import FitOptions

    body = load_body()
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else []) if device == "auto" else [device]
    n = 30 if quick else 120
    out: dict = {}
    if accuracy:
        out["accuracy_single_view"] = evaluate_synthetic(body, n, "cpu")
        if not quick:
            out["accuracy_single_view_fast"] = evaluate_synthetic(body, n, "cpu", FitOptions.fast())
        for views in ((2,) if quick else (2, 4)):
            out[f"accuracy_{views}_views"] = evaluate_multiview(body, n, views, "cpu")
    speed = []
    for dev in devices:
        for n in (frames or ([64] if quick else [64, 512] if dev == "cpu" else [512, 4096])):
            opts = FitOptions(device=dev)
            r = evaluate_synthetic(body, n, dev, opts)
            speed.append({k: r[k] for k in ("device", "frames", "seconds", "frames_per_s", "pa_mpjpe_mm")})
    out["speed"] = speed
    if not quick and accuracy:
        from neural_render.motion.keypoint_import import pose2sim_report

        data = shared_data_dir() / "keypoints" / "pose2sim_balancing_body25b"
        if data.is_dir():
            out["pose2sim"] = pose2sim_report(data, device=devices[-1])
    return out
