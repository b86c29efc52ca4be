"""Single-view 3D against the 4-camera fit on the shared Pose2Sim clip (issue 13, item 3).

For each camera alone, the body is fitted to that camera's OpenPose BODY_25B keypoints in its
calibrated camera (so all fits share the lab's Z-up world), without and with the built-in
detector's world landmarks of that camera's video as the root-relative 3D term; the reference is
the fit to all four cameras. Per camera and setting:
  mpjpe_mm      root-relative MPJPE (SMPL joints 0-21 minus the pelvis, lab axes: a wrong global
                tilt or turn counts), mean over frames
  pa_mpjpe_mm   after a per-frame similarity alignment (pose only)
  foot_contact_mm  |height of the lower ankle above the reference's, in frames where the
                reference foot is in contact (its ankle within 3 cm of its lowest and moving
                < 0.2 m/s)|, median
Run: `python -m neural_render.capture.monocular_bench [--frames N] [--out report.json]`.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np


def _world_landmarks(video: Path, frames: int | None, cache: Path) -> np.ndarray:
    """(T, 33, 4) MediaPipe world landmarks of the tracked subject (zeros where lost)."""
    from neural_render.capture.detect_output import run_detect

    if not (cache / "landmarks.json").is_file():
        run_detect(video, cache, hands=False, masks=True, frames=(0, frames) if frames else None, progress=False)
    doc = json.loads((cache / "landmarks.json").read_text())
    W = np.zeros((len(doc["frames"]), 33, 4))
    for i, f in enumerate(doc["frames"]):
        if f.get("world_landmarks"):
            W[i] = f["world_landmarks"]
    return W


def _contact_frames(J: np.ndarray, fps: float) -> np.ndarray:
    """(T, 2) bool: ankle (SMPL 7, 8) within 3 cm of its lowest and slower than 0.2 m/s."""
    ank = J[:, [7, 8]]
    h = ank[..., 2] - ank[..., 2].min(0, keepdims=True)
    v = np.zeros(h.shape)
    v[1:] = np.linalg.norm(np.diff(ank, axis=0), axis=-1) * fps
    return (h < 0.03) & (v < 0.2)


def evaluate(frames: int | None = None, cache: Path | None = None, options=None, settings=("2d", "2d+world"),
             cameras: tuple[str, ...] | None = None) -> dict:
    import torch

    from neural_render.body import load_body
    from neural_render.capture.detect_bench import shared_data
    from neural_render.motion.bench import pa_mpjpe
    from neural_render.motion.calibration import load_calibration
    from neural_render.motion.fit import FitOptions, fit_keypoints
    from neural_render.motion.keypoint_import import find_calibration, fit_multiview, match_views, view_folders
    from neural_render.motion.keypoints import read_openpose
    from neural_render.motion.tracking import track_subject

    torch.set_num_threads(1)
    folder = shared_data() / "keypoints" / "pose2sim_balancing_body25b"
    cache = cache or Path("/tmp/nr_monocular_bench")
    body = load_body()
    cams = load_calibration(find_calibration(folder))
    pairs = match_views(view_folders(folder), cams, folder)
    fps = 60.0
    t0 = time.perf_counter()
    multi = fit_multiview([f for f, _ in pairs], [c for _, c in pairs], body, fps=fps, options=FitOptions(),
                          frames=(0, frames) if frames else None, source=folder)
    ref = multi.joints[:, :22]
    T = len(ref)
    contact = _contact_frames(ref, fps)
    out = {"frames": T, "reference": "4-camera fit", "multi_view_s": round(time.perf_counter() - t0, 1),
           "contact_foot_frames": int(contact.sum()), "cameras": {}}
    for f, cam in pairs:
        if cameras and cam.name not in cameras:
            continue
        obs = track_subject(read_openpose(f, "body25b").people).keypoints[:T]
        row = {}
        for setting in settings:
            rel = None
            if "world" in setting:
                W = _world_landmarks(folder / f"{f.name.replace('_json', '')}.mp4", frames, cache / f.name)[:T]
                rel = W[None]
            t1 = time.perf_counter()
            opts = options or FitOptions()
            res = fit_keypoints(body, obs2d=obs[None], cameras=[cam], layout="body25b", fps=fps,
                                options=opts, world="calibration world, single view",
                                **({"rel3d": rel, "rel3d_layout": "mediapipe33"} if rel is not None else {}))
            if "floor" in setting:
                from neural_render.motion.floor import fit_with_floor

                res = fit_with_floor(res, body, obs[None], "body25b", fps, opts, rel3d=rel, reframe=False,
                                     rel3d_layout="mediapipe33")
            J = res.joints[:, :22]
            rr = np.linalg.norm((J - J[:, :1]) - (ref - ref[:, :1]), axis=-1).mean(1)
            ank = J[:, [7, 8], 2] - ref[:, [7, 8], 2]
            row[setting] = {
                "mpjpe_mm": round(float(rr.mean() * 1000), 1),
                "pa_mpjpe_mm": round(float(pa_mpjpe(J, ref).mean() * 1000), 1),
                "foot_contact_mm": round(float(np.median(np.abs(ank[contact])) * 1000), 1) if contact.any() else None,
                "reprojection_px": round(float(np.nanmedian(res.reprojection_px)), 1),
                "seconds": round(time.perf_counter() - t1, 1)}
        out["cameras"][cam.name] = row
        print(json.dumps({cam.name: row}), flush=True)
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--frames", type=int, default=None, help="first N frames only (default: all 100)")
    p.add_argument("--out", default=None, help="write the report JSON here")
    p.add_argument("--cache", default="/tmp/nr_monocular_bench", help="detections are cached here")
    p.add_argument("--settings", default="2d,2d+world,2d+world+floor",
                   help="comma-separated: 2d (keypoints only), 2d+world (+ detector world landmarks), +floor")
    p.add_argument("--w-rel3d", type=float, default=None, help="weight of the world-landmark term (FitOptions.w_rel3d)")
    p.add_argument("--multiview-detected", action="store_true",
                   help="instead: the 4-camera fit from the detector's keypoints vs from the supplied OpenPose")
    a = p.parse_args(argv)
    from neural_render.motion.fit import FitOptions

    if a.multiview_detected:
        print(json.dumps(multiview_from_detections(Path(a.cache)), indent=2))
        return 0
    opts = FitOptions() if a.w_rel3d is None else FitOptions(w_rel3d=a.w_rel3d)
    rep = evaluate(a.frames, Path(a.cache), options=opts, settings=tuple(a.settings.split(",")))
    text = json.dumps(rep, indent=2)
    if a.out:
        Path(a.out).write_text(text + "\n")
    print(text)
    return 0



def multiview_from_detections(cache: Path | None = None) -> dict:
    """The 4-camera fit from the built-in detector's landmarks vs from the supplied OpenPose keypoints:
    per-camera median reprojection of each fit (to its own keypoints) and the 3D difference."""
    import torch

    from neural_render.body import load_body
    from neural_render.capture.detect_bench import shared_data
    from neural_render.motion.bench import pa_mpjpe
    from neural_render.motion.calibration import load_calibration
    from neural_render.motion.fit import FitOptions, fit_keypoints
    from neural_render.motion.keypoint_import import find_calibration, fit_multiview, match_views, view_folders
    from neural_render.motion.keypoints import read_keypoints, to_body25
    from neural_render.motion.triangulate import triangulate

    torch.set_num_threads(1)
    folder = shared_data() / "keypoints" / "pose2sim_balancing_body25b"
    cache = cache or Path("/tmp/nr_monocular_bench")
    body = load_body()
    pairs = match_views(view_folders(folder), load_calibration(find_calibration(folder)), folder)
    cams = [c for _, c in pairs]
    t0 = time.perf_counter()
    ref = fit_multiview([f for f, _ in pairs], cams, body, fps=60.0, options=FitOptions(), source=folder)
    ref_s = time.perf_counter() - t0
    obs = []
    for f, _ in pairs:
        _world_landmarks(folder / f"{f.name.replace('_json', '')}.mp4", None, cache / f.name)
        ks = read_keypoints(cache / f.name / "landmarks.json")
        obs.append(np.stack([p[0] if len(p) else np.zeros((33, 3)) for p in ks.people]))
    T = min(len(o) for o in obs + [ref.joints])
    obs = np.stack([o[:T] for o in obs])
    tri = triangulate(obs[..., :2], obs[..., 2], cams)
    init = to_body25(np.concatenate([np.nan_to_num(tri.points), tri.confidence[..., None]], -1), "mediapipe33")
    t0 = time.perf_counter()
    det = fit_keypoints(body, obs2d=obs, cameras=cams, layout="mediapipe33", fps=60.0, options=FitOptions(),
                        world="calibration world", init3d=init)
    det_s = time.perf_counter() - t0
    a, b = det.joints[:T, :22], ref.joints[:T, :22]
    return {"frames": T, "openpose_fit_s": round(ref_s, 1), "detected_fit_s": round(det_s, 1),
            "median_reprojection_px": {"openpose_fit": ref.report()["median_reprojection_px"],
                                       "detected_fit": det.report()["median_reprojection_px"]},
            "detected_vs_openpose_fit": {"mpjpe_mm": round(float(np.linalg.norm(a - b, axis=-1).mean() * 1000), 1),
                                         "pa_mpjpe_mm": round(float(pa_mpjpe(a, b).mean() * 1000), 1)}}


if __name__ == "__main__":
    raise SystemExit(main())
