"""Animate-a-photo benchmark on a multi-view `prepare` output (the shared Pose2Sim clip).

    D=../shared/data/keypoints/pose2sim_balancing_body25b
    neural-render prepare --video $D --keypoints $D --out p2s --size 256 --renderer raster
    .venv/bin/python scripts/animate_bench.py --data p2s --keypoints $D --out bench_animate [--checkpoint CKPT]

Source = cam_01 frame 0 (the prepared, undistorted 256 px crop). Targets = cam_01 frames 1-99 (new
poses) and cam_02..04 frame 0 (new views); ground truth = the real frames. Scores: SSIM / PSNR on
the person (the prepared mask pass: the silhouette-refined fitted body, dilated 3 px, as `eval`)
and on the full frame (generator/metrics.py). Methods, all in one run:

  source repeated   the source photo itself, for every target
  texture           the photo lifted to UV (uv_lift) through the prepared fit's body at frame 0 and
                    looked up at the target's body: appearance transfer with known geometry
  generator         the multi-identity generator (--checkpoint) on the same inputs
  animate (e2e)     the `animate` pipeline proper on cam_01: the body fitted to the photo alone
                    (single view, the photo's OpenPose keypoints; the focal length guessed, or the
                    crop's true one with --known-focal), the motion placed on it (`--anchor auto`:
                    rigid here, since the motion's first frame is the photo's moment); new poses only
  animate upright   the same with `--anchor upright` (turned by the facing direction, on the floor)
  animate detector  `animate`'s default: no keypoint file, the built-in detector's landmarks and
                    person mask (the fit refined to that silhouette), `--anchor auto`

Background: cam_01 targets get the source photo with the person inpainted away (what `animate`
does); other cameras get that camera's own plate (background.png of the prepared view), since a
photo says nothing about another camera's background: their full-frame figures are for reference.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np


def _read(p: Path) -> np.ndarray:
    from neural_render.fileio import read_image

    return read_image(p)


def _mask(p: Path) -> np.ndarray:
    import cv2

    return cv2.imread(str(p), cv2.IMREAD_GRAYSCALE) > 127


def _camera(view: Path, t: int):
    from neural_render.camera import Camera

    leg = json.loads((view / "legend.json").read_text())
    fr = next(f for f in leg["frames"] if f["index"] == t)
    r = leg["resolution"]
    return Camera(fr["K"], fr["world_to_camera"], r["width"], r["height"])


def _score(img, gt, mask) -> dict:
    from neural_render.generator.metrics import fg_region, masked_stats, psnr, ssim

    s = masked_stats(img, gt, fg_region(mask))
    return {"fg_ssim": s["fg_ssim"], "fg_psnr": s["fg_psnr"], "ssim": ssim(img, gt), "psnr": psnr(img, gt)}


def _crop_keypoints(data: Path, kp_root: Path, view: Path) -> Path:
    """cam01 frame 0 OpenPose keypoints moved into the prepared crop (undistorted, cropped, resized)."""
    from neural_render.motion.calibration import load_calibration
    from neural_render.motion.keypoint_import import find_calibration

    cams = load_calibration(find_calibration(kp_root))
    cam = next(c for c in cams if c.name.replace("_", "").endswith("01"))
    d = json.loads(next((kp_root / "cam01_json").glob("*0000*.json")).read_text())
    crop_K = _camera(view, 0).K
    A = crop_K @ np.linalg.inv(cam.K)
    out = {"version": 1.3, "people": []}
    for p in d["people"]:
        k = np.asarray(p["pose_keypoints_2d"], np.float64).reshape(-1, 3)
        ok = k[:, 2] > 0
        uv = k[:, :2].copy()
        uv[ok] = cam.undistort_pixels(uv[ok])
        uvh = np.concatenate([uv, np.ones((len(uv), 1))], 1) @ A.T
        k[:, :2] = np.where(ok[:, None], uvh[:, :2], 0)
        out["people"].append({"pose_keypoints_2d": k.ravel().tolist()})
    path = data.parent / (data.name + "_cam01_f0_keypoints.json")
    path.write_text(json.dumps(out))
    return path


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", required=True, help="multi-view prepare output (views/cam_01 ...)")
    ap.add_argument("--keypoints", required=True, help="the clip's keypoint folder (cam01_json + calibration)")
    ap.add_argument("--out", required=True)
    ap.add_argument("--checkpoint", default=None)
    ap.add_argument("--frames", type=int, default=100)
    ap.add_argument("--known-focal", action="store_true", help="animate (e2e): give the fit the crop's true focal length")
    args = ap.parse_args()

    import cv2

    from neural_render.body import load_body
    from neural_render.capture.photo import fit_photo
    from neural_render.generator import uv_lift
    from neural_render.generator.animate import _place, composite, remove_person
    from neural_render.generator.uv_atlas import atlas
    from neural_render.motion import Motion
    from neural_render.passes.raster import RasterRenderer
    from neural_render.passes.spec import frame_filename

    data, out = Path(args.data), Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    views = sorted((data / "views").iterdir())
    v1 = views[0]
    body = load_body()
    motion = Motion.load(data / "motion.npz")
    T = min(args.frames, motion.num_frames)
    verts = lambda t: body.forward(motion.poses[t], motion.betas, motion.trans[t], keypoints=False).vertices[0]  # noqa: E731
    src = _read(v1 / "frames" / frame_filename(0))
    src_cam = _camera(v1, 0)
    size = src.shape[0]
    A = atlas(body, 256)
    t0 = time.perf_counter()
    tex = uv_lift.fill(uv_lift.lift(src, src_cam, verts(0), body, size=256, work=768), A)
    lift_s = time.perf_counter() - t0
    gen = None
    if args.checkpoint:
        from neural_render.generator.multi_identity import load_animator

        gen = load_animator(args.checkpoint)

    # The animate pipeline proper: fit the photo alone, place the motion on that body.
    kp = _crop_keypoints(data, Path(args.keypoints), v1)
    photo_path = out / "source_cam01_f0.png"
    cv2.imwrite(str(photo_path), src[..., ::-1])
    fit = fit_photo(photo_path, keypoints=kp, body=body, focal=float(src_cam.K[0, 0]) if args.known_focal else None)
    from neural_render.camera import Camera as PC

    placed, placement = _place(motion.trim(0, T), fit, body, "auto")
    upright, placement_up = _place(motion.trim(0, T), fit, body, "upright")
    dfit = fit_photo(photo_path, keypoints=None, body=body,
                     focal=float(src_cam.K[0, 0]) if args.known_focal else None)
    dplaced, placement_det = _place(motion.trim(0, T), dfit, body, "auto")
    d_cam = PC(dfit.camera.K, dfit.camera.world_to_camera, size, size)
    d_bg = remove_person(dfit, body, d_cam)
    d_tex = uv_lift.fill(uv_lift.lift(src, d_cam, body.forward(dfit.motion.poses, dfit.motion.betas, dfit.motion.trans,
                                                               keypoints=False).vertices[0], body, size=256, work=768,
                                      person_mask=dfit.person_mask), A)
    e2e_cam = PC(fit.camera.K, fit.camera.world_to_camera, size, size)
    e2e_bg = remove_person(fit, body, e2e_cam)
    e2e_tex = uv_lift.fill(uv_lift.lift(src, e2e_cam, body.forward(fit.motion.poses, fit.motion.betas, fit.motion.trans,
                                                                   keypoints=False).vertices[0], body, size=256, work=768), A)

    # The background for known-geometry cam_01 targets: the same inpainting as animate, around the prepared fit.
    from types import SimpleNamespace

    bg1 = remove_person(SimpleNamespace(image=src, person_mask=None, motion=motion.trim(0, 1)), body, src_cam)
    rows = {m: {"new_poses": [], "new_views": []} for m in ("source", "texture", "generator", "animate_e2e",
                                                           "animate_upright", "animate_detector")}
    sheet = []
    with RasterRenderer(size, size) as r:
        targets = [(v1, t, "new_poses") for t in range(1, T)] + [(v, 0, "new_views") for v in views[1:]]
        for view, t, kind in targets:
            gt = _read(view / "frames" / frame_filename(t))
            gmask = _mask(view / "mask" / frame_filename(t))
            cam = _camera(view, t)
            bg = bg1 if view == v1 else _read(view / "background.png")
            buf = uv_lift.render_buffers(verts(t), body, cam, r)
            warped = uv_lift.lookup(tex, buf["uv"], buf["mask"])
            tex_img = composite(warped, buf["mask"], bg)
            rows["source"][kind].append(_score(src, gt, gmask))
            rows["texture"][kind].append(_score(tex_img, gt, gmask))
            cells = [gt, tex_img]
            if gen is not None:
                g = gen.frame(warped, uv_lift.lookup(tex, buf["uv"], buf["mask"], "conf"), buf, bg)
                rows["generator"][kind].append(_score(g, gt, gmask))
                cells.append(g)
            if kind == "new_poses":
                vb = body.forward(placed.poses[t], placed.betas, placed.trans[t], keypoints=False).vertices[0]
                eb = uv_lift.render_buffers(vb, body, e2e_cam, r)
                ew = uv_lift.lookup(e2e_tex, eb["uv"], eb["mask"])
                e2e = (gen.frame(ew, uv_lift.lookup(e2e_tex, eb["uv"], eb["mask"], "conf"), eb, e2e_bg)
                       if gen is not None else composite(ew, eb["mask"], e2e_bg))
                rows["animate_e2e"][kind].append(_score(e2e, gt, gmask))
                cells.append(e2e)
                vu = body.forward(upright.poses[t], upright.betas, upright.trans[t], keypoints=False).vertices[0]
                ub = uv_lift.render_buffers(vu, body, e2e_cam, r)
                uw = uv_lift.lookup(e2e_tex, ub["uv"], ub["mask"])
                up = (gen.frame(uw, uv_lift.lookup(e2e_tex, ub["uv"], ub["mask"], "conf"), ub, e2e_bg)
                      if gen is not None else composite(uw, ub["mask"], e2e_bg))
                rows["animate_upright"][kind].append(_score(up, gt, gmask))
                vd = body.forward(dplaced.poses[t], dplaced.betas, dplaced.trans[t], keypoints=False).vertices[0]
                db = uv_lift.render_buffers(vd, body, d_cam, r)
                dw = uv_lift.lookup(d_tex, db["uv"], db["mask"])
                de = (gen.frame(dw, uv_lift.lookup(d_tex, db["uv"], db["mask"], "conf"), db, d_bg)
                      if gen is not None else composite(dw, db["mask"], d_bg))
                rows["animate_detector"][kind].append(_score(de, gt, gmask))
            if (kind == "new_views") or t in (20, 50, 90):
                sheet.append(np.concatenate([c if c.shape == gt.shape else cv2.resize(c, gt.shape[1::-1]) for c in cells]
                                            + [np.zeros_like(gt)] * (4 - len(cells)), 1))
    summary = {}
    for m, kinds in rows.items():
        for kind, lst in kinds.items():
            if lst:
                summary[f"{m}/{kind}"] = {k: round(float(np.nanmean([x[k] for x in lst])), 4) for k in lst[0]} | {"n": len(lst)}
    summary["_lift_s"] = round(lift_s, 2)
    summary["_e2e_fit"] = {"reprojection_px": fit.reprojection_px, "placement": placement,
                          "placement_upright": placement_up, "detector_fit": dfit.report(),
                          "placement_detector": placement_det}
    (out / "summary.json").write_text(json.dumps(summary, indent=1))
    cv2.imwrite(str(out / "sheet.png"), np.concatenate(sheet, 0)[..., ::-1])
    print(json.dumps(summary, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
