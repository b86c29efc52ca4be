"""`neural-render dataset check DIR`: validate a dataset written by `neural-render batch`.

Checks:
- files present: the COCO json, one label file per sample, every file a label lists (and its SHA-256),
  every image's file; no duplicated or missing image / annotation ids (ids follow from the sample
  index, so a duplicate means a broken merge);
- visible keypoints (v=2) lie inside their person's mask (the pixel holding the keypoint);
- masks: RLE size matches the image, bbox and area match the decoded mask, and the RLE equals the
  instances/ PNG for that person when the instances pass was written; the amodal mask (when
  labelled) holds the modal one and its bbox / area match it;
- clothing labels: segmentation/ values are classes 0..6 and are background exactly where
  person_mask/ (and instances/) are; person_mask/ is the union of the instances; the body mask/
  lies inside person_mask/ (up to 0.5 % of its pixels: two renderers sample the silhouette);
- geometry: the stored 3D keypoints (and, with the body model available, the keypoints of the body
  re-posed from the stored SMPL pose/shape/trans) reproject with K and world_to_camera onto the 2D
  COCO and OpenPose labels within `tolerance_px`.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np

from neural_render.camera import Camera
from neural_render.dataset import labels as L
from neural_render.errors import InputError


def check_dataset(root: str | Path, tolerance_px: float = 0.5, smpl: bool = True, hashes: bool = True) -> dict:
    root = Path(root)
    coco_path = root / "annotations" / "coco_keypoints.json"
    cfg_path = root / "dataset_config.json"
    if not cfg_path.is_file():
        raise InputError("not a dataset folder (no dataset_config.json)", path=root,
                         fix="point at a folder written by `neural-render batch`")
    errors: list[str] = []
    missing: list[str] = []
    cfg = json.loads(cfg_path.read_text())["config"]
    if not coco_path.is_file():
        return {"ok": False, "images": 0, "annotations": 0, "max_reprojection_px": float("nan"),
                "visible_outside_mask": 0, "missing_files": [str(coco_path.relative_to(root))],
                "errors": ["annotations/coco_keypoints.json missing: the batch has not finished (rerun it to resume)"]}
    coco = json.loads(coco_path.read_text())
    _check_index(root, coco, cfg["samples"] * cfg["frames_per_sample"], errors, missing)

    max_err = 0.0
    outside = 0
    bodies: dict = {}
    ann_by_id = {a["id"]: a for a in coco["annotations"]}
    for s in range(cfg["samples"]):
        lp = root / "labels" / f"sample_{s:06d}.json"
        try:
            lab = json.loads(lp.read_text())
        except (OSError, ValueError):
            missing.append(str(lp.relative_to(root)))
            continue
        for rel, sha in lab["files"].items():
            p = root / rel
            if not p.is_file():
                missing.append(rel)
            elif hashes and hashlib.sha256(p.read_bytes()).hexdigest() != sha:
                errors.append(f"{rel}: content differs from its label's SHA-256")
        for fr in lab["frames"]:
            camera = Camera(fr["camera"]["K"], fr["camera"]["world_to_camera"], fr["width"], fr["height"])
            fid = fr["image_id"]
            inst_png = root / "instances" / f"{fid:06d}.png"
            inst = _read_gray(inst_png) if inst_png.is_file() else None
            errors += _check_clothing_labels(root, fid, inst)
            op_path = root / "openpose" / f"{fid:06d}_keypoints.json"
            op = json.loads(op_path.read_text()) if op_path.is_file() else None
            if op is None:
                missing.append(str(op_path.relative_to(root)))
            for k, person in enumerate(fr["people"]):
                ann = ann_by_id.get(person["coco"]["id"])
                where = f"image {fid} person {person['instance_id']}"
                if ann is None:
                    errors.append(f"{where}: annotation missing from the COCO json")
                    continue
                if ann != person["coco"]:
                    errors.append(f"{where}: COCO json annotation differs from the sample's label file")
                kp = np.asarray(ann["keypoints"], np.float64).reshape(17, 3)
                errs, n_out = _check_person_masks(where, ann, kp, person["instance_id"], inst, fid, camera)
                errors += errs
                if n_out is None:  # a mask of the wrong size: nothing else about this person can be checked
                    continue
                outside += n_out
                opk = op["people"][k] if op is not None and k < len(op["people"]) else None
                errs, err_px = _check_person_geometry(where, kp, person, opk, camera, smpl, bodies, tolerance_px)
                errors += errs
                max_err = max(max_err, err_px)
    ok = not errors and not missing
    return {"ok": ok, "images": len(coco["images"]), "annotations": len(coco["annotations"]),
            "max_reprojection_px": max_err, "visible_outside_mask": outside,
            "missing_files": sorted(set(missing)), "errors": errors}


def _check_index(root: Path, coco: dict, n_expected: int, errors: list, missing: list) -> None:
    """Image and annotation ids unique, images numbered 1..n_expected, every image file present."""
    img_ids = [im["id"] for im in coco["images"]]
    ann_ids = [a["id"] for a in coco["annotations"]]
    if len(set(img_ids)) != len(img_ids):
        errors.append("duplicated image ids")
    if len(set(ann_ids)) != len(ann_ids):
        errors.append("duplicated annotation ids")
    if sorted(img_ids) != list(range(1, n_expected + 1)):
        errors.append(f"image ids are not 1..{n_expected} ({len(img_ids)} images)")
    for im in coco["images"]:
        if not (root / im["file_name"]).is_file():
            missing.append(im["file_name"])


def _check_person_masks(where: str, ann: dict, kp: np.ndarray, instance_id: int, inst: np.ndarray | None,
                        fid: int, camera: Camera) -> tuple[list[str], int | None]:
    """One person's mask against its area, bbox, the instance map and its amodal mask, and its
    visible keypoints (kp (17, 3)) inside it. Returns (errors, visible keypoints outside the mask);
    for a mask of the wrong size, ([that error], None): the rest cannot be checked."""
    W, H = camera.width, camera.height
    errors = []
    mask = L.decode_mask(ann["segmentation"])
    if list(mask.shape) != [H, W]:
        return [f"{where}: mask size {mask.shape} != image {H}x{W}"], None
    if float(mask.sum()) != ann["area"]:
        errors.append(f"{where}: area {ann['area']} != mask pixels {mask.sum()}")
    if mask.any() and L.bbox_of(mask) != ann["bbox"]:
        errors.append(f"{where}: bbox {ann['bbox']} != mask bbox {L.bbox_of(mask)}")
    if inst is not None and not np.array_equal(inst == instance_id, mask.astype(bool)):
        errors.append(f"{where}: RLE mask differs from instances/{fid:06d}.png")
    if "amodal_segmentation" in ann:
        am = L.decode_mask(ann["amodal_segmentation"]).astype(bool)
        if np.any(mask.astype(bool) & ~am):
            errors.append(f"{where}: visible pixels outside the amodal mask")
        if float(am.sum()) != ann["amodal_area"] or (am.any() and L.bbox_of(am) != ann["amodal_bbox"]):
            errors.append(f"{where}: amodal bbox/area do not match the amodal mask")
    outside = 0
    px = L.pixel_of(kp[:, :2])
    for j in np.flatnonzero(kp[:, 2] == L.VISIBLE):
        c, r = px[j]
        if not (0 <= c < W and 0 <= r < H and mask[r, c]):
            outside += 1
            errors.append(f"{where}: visible keypoint {j} at ({kp[j, 0]}, {kp[j, 1]}) is outside the mask")
    return errors, outside


def _check_person_geometry(where: str, kp: np.ndarray, person: dict, openpose_person: dict | None, camera: Camera,
                           smpl: bool, bodies: dict, tolerance_px: float) -> tuple[list[str], float]:
    """Stored 3D keypoints (or, with `smpl`, the body re-posed from the stored SMPL parameters)
    reprojected onto the COCO (kp (17, 3)) and OpenPose 2D labels. Returns (errors, largest error px)."""
    errors = []
    max_err = 0.0
    labelled = kp[:, 2] > 0
    pts3 = {"coco17": np.asarray(person["keypoints3d"]["coco17"]),
            "body25": np.asarray(person["keypoints3d"]["body25"])}
    if smpl:
        posed = _repose(bodies, person["smpl"])
        if posed is not None:
            for name in ("coco17", "body25"):
                d3 = float(np.abs(posed[name] - pts3[name]).max())
                if d3 > 1e-4:
                    errors.append(f"{where}: SMPL parameters re-posed give {name} {d3:.2e} m from the stored 3D keypoints")
            pts3 = posed
    uv, _ = camera.project(pts3["coco17"])
    if labelled.any():
        e = float(np.abs(uv[labelled] - kp[labelled, :2]).max())
        max_err = max(max_err, e)
        if e > tolerance_px:
            errors.append(f"{where}: COCO keypoints are {e:.3f} px from the reprojected 3D keypoints")
    if openpose_person is not None:
        o = np.asarray(openpose_person["pose_keypoints_2d"], np.float64).reshape(25, 3)
        uv25, _ = camera.project(pts3["body25"])
        lab25 = o[:, 2] > 0
        if lab25.any():
            e = float(np.abs(uv25[lab25] - o[lab25, :2]).max())
            max_err = max(max_err, e)
            if e > tolerance_px:
                errors.append(f"{where}: OpenPose keypoints are {e:.3f} px from the reprojected 3D keypoints")
    return errors, max_err


def _check_clothing_labels(root: Path, fid: int, inst: np.ndarray | None) -> list[str]:
    """Errors in the frame's segmentation / person_mask / mask PNGs (those that exist)."""
    from neural_render.body.garments import SEGMENTATION_CLASSES

    errs = []
    name = f"{fid:06d}.png"
    seg = _read_gray(root / "segmentation" / name) if (root / "segmentation" / name).is_file() else None
    person = _read_gray(root / "person_mask" / name) if (root / "person_mask" / name).is_file() else None
    body = _read_gray(root / "mask" / name) if (root / "mask" / name).is_file() else None
    if seg is not None and seg.max() >= len(SEGMENTATION_CLASSES):
        errs.append(f"segmentation/{name}: class {int(seg.max())} unknown (0..{len(SEGMENTATION_CLASSES) - 1})")
    if person is not None:
        if not set(np.unique(person).tolist()) <= {0, 255}:
            errs.append(f"person_mask/{name}: values other than 0 and 255")
        if inst is not None and not np.array_equal(person > 0, inst > 0):
            errs.append(f"person_mask/{name}: differs from the union of instances/{name}")
        if seg is not None and not np.array_equal(person > 0, seg > 0):
            errs.append(f"segmentation/{name}: background differs from person_mask/{name}")
        if body is not None:
            stray = int(np.sum((body > 0) & (person == 0)))
            if stray > 0.005 * max(int(np.sum(body > 0)), 1) + 2:
                errs.append(f"mask/{name}: {stray} body pixels outside person_mask/{name}")
    return errs


def _read_gray(path: Path) -> np.ndarray | None:
    from neural_render.fileio import read_image

    return read_image(path, "unchanged", missing_ok=True)


def _repose(cache: dict, smpl: dict) -> dict | None:
    """Keypoints of the body posed from stored SMPL parameters, or None if the model is unavailable."""
    from neural_render.dataset.sampling import get_body

    model = smpl["model"]
    try:
        body = get_body(model)
    except (InputError, FileNotFoundError):
        return None
    out = body.forward(np.asarray(smpl["poses"])[None], np.asarray(smpl["betas"]), np.asarray(smpl["trans"])[None])
    return {"coco17": out.coco17[0].astype(np.float64), "body25": out.body25[0].astype(np.float64)}
