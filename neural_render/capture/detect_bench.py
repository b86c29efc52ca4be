"""`neural-render bench detect`: the built-in detector's speed and its agreement with OpenPose.

speed      ms per frame of pose + segmentation (video mode, the subject tracked), and of the hands
           on top, on frames of the shared tai-chi clip cropped square and resized to 256, 576 and
           1080 px; wall time on this process (the machine may be shared).
agreement  the shared Pose2Sim clip (4 cameras, 100 frames): the detector's COCO-17 keypoints vs
           the supplied OpenPose BODY_25B (whose first 17 points are COCO-17) of the same subject,
           per camera: median distance in px over keypoints both see (confidence >= 0.3), and PCK
           (share within 5 % of the OpenPose box diagonal).
Shared data: `NEURAL_RENDER_SHARED_DATA`, else ../shared/data beside the repository.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np


def shared_data() -> Path:
    return Path(os.environ.get("NEURAL_RENDER_SHARED_DATA")
                or Path(__file__).resolve().parents[2] / ".." / "shared" / "data").resolve()


def speed(sizes=(256, 576, 1080), frames: int = 60, hands: bool = True) -> dict:
    """ms/frame at each square size: pose + segmentation, and + hands."""
    import cv2

    from neural_render.capture.detect import PoseDetector
    from neural_render.video import iter_frames

    src = shared_data() / "video" / "hybrik_taiji.mp4"
    raw = []
    for img in iter_frames(src, 100, 100 + frames):
        h, w = img.shape[:2]
        x0 = (w - h) // 2
        raw.append(np.ascontiguousarray(img[:, x0:x0 + h]))
    out = {"source": f"{src.name} frames 100..{100 + len(raw) - 1}, centre square crop"}
    for s in sizes:
        imgs = [cv2.resize(f, (s, s), interpolation=cv2.INTER_AREA if s < f.shape[0] else cv2.INTER_LINEAR) for f in raw]
        row = {}
        for name, use_hands in (("pose_segmentation", False), ("pose_segmentation_hands", True)):
            if use_hands and not hands:
                continue
            with PoseDetector(video=True, segmentation=True, hands=use_hands) as det:
                det(imgs[0])  # warm-up: graph start
                t0 = time.perf_counter()
                found = sum(det(im) is not None for im in imgs[1:])
                dt = time.perf_counter() - t0
            row[name] = {"ms_per_frame": round(1000 * dt / (len(imgs) - 1), 1),
                         "frames_per_s": round((len(imgs) - 1) / dt, 1), "found": f"{found}/{len(imgs) - 1}"}
        out[f"{s}px"] = row
    return out


def openpose_agreement(cameras=("cam01", "cam02", "cam03", "cam04"), frames: int | None = None,
                       cache: Path | None = None) -> dict:
    """Per camera: median px and PCK@5 % box diagonal, detector COCO-17 vs supplied OpenPose BODY_25B."""
    import json

    from neural_render.capture.detect_output import run_detect
    from neural_render.motion.keypoints import read_openpose
    from neural_render.motion.tracking import track_subject

    folder = shared_data() / "keypoints" / "pose2sim_balancing_body25b"
    out = {}
    for cam in cameras:
        det_dir = (cache or Path(os.environ.get("TMPDIR", "/tmp"))) / f"nr_detect_{cam}"
        if not (det_dir / "keypoints_coco.json").is_file():
            run_detect(folder / f"{cam}.mp4", det_dir, hands=False, masks=True,
                       frames=(0, frames) if frames else None, progress=False)
        coco = {e["image_id"]: np.array(e["keypoints"]).reshape(17, 3)
                for e in json.loads((det_dir / "keypoints_coco.json").read_text())}
        op = track_subject(read_openpose(folder / f"{cam}_json", "body25b").people).keypoints[:, :17]
        d, pck, n_frames = [], [], 0
        for t, k in coco.items():
            if t >= len(op):
                continue
            ref = op[t]
            both = (ref[:, 2] >= 0.3) & (k[:, 2] >= 0.3)
            if both.sum() < 5:
                continue
            vis = ref[ref[:, 2] >= 0.3, :2]
            diag = np.linalg.norm(vis.max(0) - vis.min(0))
            e = np.linalg.norm(k[both, :2] - ref[both, :2], axis=1)
            d += e.tolist()
            pck += (e <= 0.05 * diag).tolist()
            n_frames += 1
        out[cam] = {"frames_compared": n_frames, "detected_frames": len(coco),
                    "median_px": round(float(np.median(d)), 1) if d else None,
                    "pck_5pct_bbox_diag": round(float(np.mean(pck)), 3) if pck else None}
    return out


def run(device: str = "auto", quick: bool = False) -> dict:
    return {"speed": speed(frames=20 if quick else 60),
            "openpose_agreement": openpose_agreement(frames=20 if quick else None)}
