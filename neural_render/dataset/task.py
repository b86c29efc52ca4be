"""One dataset sample = one pure function of (normalized config, sample index).

`run_sample(cfg, index, out_dir)` draws scene `index` (`sampling.sample_scene`), poses it, renders
its frames in this process's Blender (`rgb.DatasetScene`, created once per process) and writes:

    images/NNNNNN.png           Cycles RGB over the background          (rgb.cycles)
    instances/NNNNNN.png        uint8 instance ids, 0 = background, person p -> p + 1   ("instances")
    mask/NNNNNN.png             uint8 0/255 union of people                             ("mask")
    parts|normal|depth|skeleton|uv/...   guidance passes from neural_render.passes      (if listed)
    openpose/NNNNNN_keypoints.json       BODY_25 per person
    labels/sample_SSSSSS.json   everything about the sample, written LAST (the completion marker)

NNNNNN = global frame id = index * frames_per_sample + frame + 1. Every file is written atomically
(temporary file + rename), and a sample's label file names every file of the sample with its
SHA-256, so a resumed run can tell a finished sample from one that was killed half-way.
Nothing here depends on the worker, the process or what was rendered before: labels are identical
whatever the number of workers.
"""

from __future__ import annotations

import atexit
import hashlib
import json
import os
from pathlib import Path

import numpy as np

from neural_render import __version__
from neural_render.dataset import labels as L
from neural_render.camera import Camera
from neural_render.dataset.sampling import PosedScene, pose_scene, sample_scene

# This process's renderers (one Blender per process): the dataset scene and, when guidance passes
# are wanted, the passes renderer; rebuilt only when the renderer kind or the image size changes.
_STATE: dict = {"key": None, "scene": None, "guidance": None}


def frame_id(cfg: dict, index: int, f: int) -> int:
    return index * cfg["frames_per_sample"] + f + 1


def label_path(out_dir: Path, index: int) -> Path:
    return Path(out_dir) / "labels" / f"sample_{index:06d}.json"


def _close_state() -> None:
    """Close this process's renderers (their scratch folders go with them)."""
    for k in ("guidance", "scene"):
        obj = _STATE.get(k)
        _STATE[k] = None
        if obj is not None:
            try:
                obj.close()
            except Exception:  # noqa: BLE001 - best effort at shutdown
                pass
    _STATE["key"] = None


atexit.register(_close_state)


def get_scene(threads: int = 0, guidance: str | None = None, size: tuple[int, int] | None = None):
    """(DatasetScene, Guidance | None) for this process, created on first use."""
    key = (guidance, tuple(size) if guidance else None)
    if _STATE["scene"] is None or key != _STATE["key"]:
        from neural_render.dataset.rgb import DatasetScene

        _close_state()
        g = None
        if guidance is not None:
            from neural_render.dataset.guidance import Guidance

            g = Guidance(guidance, *size)  # first: the Blender pass renderer resets the session
        _STATE.update(key=key, guidance=g, scene=DatasetScene(threads=threads, reset=g is None or guidance != "blender"))
    if threads and _STATE["scene"].threads != threads:
        _STATE["scene"].threads = threads
    return _STATE["scene"], _STATE["guidance"]


def _sha(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _write_png(path: Path, img: np.ndarray) -> None:
    from neural_render.fileio import write_image

    write_image(path, img)


def run_sample(cfg: dict, index: int, out_dir: str | Path, threads: int = 0) -> dict:
    """Render and label sample `index`; returns {"sample", "frames", "label_file", "sha256"}."""
    from neural_render.dataset.backgrounds import background
    from neural_render.fileio import write_json

    from neural_render.dataset import guidance as G
    from neural_render.dataset.rgb import RayCaster
    from neural_render.dataset.config import GUIDANCE_PASSES

    out_dir = Path(out_dir)
    spec = sample_scene(cfg, index)
    posed = pose_scene(spec, cfg)
    W, H = posed.width, posed.height
    want = set(cfg["passes"])
    guide_passes = [p for p in cfg["passes"] if p in GUIDANCE_PASSES]
    scene, guide = get_scene(threads, cfg["guidance"]["renderer"] if guide_passes else None, (W, H))
    # The dataset's own Blender scene renders RGB, and instance ids when no pass render provides them
    # or when people wear garments (the pass render draws bodies only).
    clothed = any(person.garments for person in posed.people)
    need_scene = cfg["rgb"]["cycles"] or guide is None or clothed
    if need_scene:
        scene.build(posed, cfg)
    bg = background(spec.background, W, H) if cfg["rgb"]["cycles"] else None
    camera = Camera(posed.K, posed.world_to_camera, W, H)
    tol = cfg["labels"]["occlusion_tolerance_m"]
    files: dict[str, str] = {}
    frames = []
    guide_frames = guide.frames(cfg, posed) if guide is not None else None
    depth_names, depths, depth_masks = [], [], []

    for f in range(cfg["frames_per_sample"]):
        fid = frame_id(cfg, index, f)
        name = f"{fid:06d}"
        if need_scene:
            scene.use_frame(f)
        ray_hit = RayCaster(*_person_meshes(posed, f))
        written = []
        if guide_frames is not None:
            from neural_render.blender.bpy_util import quiet_stdout

            with quiet_stdout():  # Blender's "Saved: ..." lines
                fr = next(guide_frames)
            # The pass render's instance buffer (one sample at each pixel centre) labels the people,
            # so masks, parts and visibility agree pixel for pixel.
            body_ids = fr["instance"].astype(np.int64)
            written += G.write_frame(out_dir, name, fr, guide_passes, cfg["guidance"]["profile"])
            if "depth" in want:
                depth_names.append(name)
                depths.append(fr["depth"])
                depth_masks.append(fr["mask"])
        else:
            body_ids = scene.render_instances(body_only=True)
        # Person instances (garments and hair included: what a COCO person is) and the body alone.
        ids = scene.render_instances() if clothed else body_ids
        amodal = [scene.render_instances(person=k) == k + 1 for k in range(len(posed.people))] if need_scene else None
        written += _write_images(out_dir, name, cfg, want, scene, ids, body_ids, bg, spec.render_seed + f)
        people = []
        body25_uv, body25_vis = [], []
        for p_i, person in enumerate(posed.people):
            rec, uv25, v25 = _person_labels(person, p_i + 1, f, fid, camera, ray_hit, ids, tol,
                                            amodal[p_i] if amodal is not None else None)
            people.append(rec)
            body25_uv.append(uv25)
            body25_vis.append(v25)
        p = out_dir / "openpose" / f"{name}_keypoints.json"
        write_json(p, L.openpose_people(body25_uv, body25_vis), indent=None)
        written.append(p)
        for w in written:
            files[str(Path(w).relative_to(out_dir))] = _sha(w)
        frames.append({
            "image_id": fid, "frame_in_sample": f,
            "file_name": _main_image(cfg, name, written, out_dir),
            "width": W, "height": H, "time_s": posed.frame_times[f],
            "camera": {"K": posed.K.tolist(), "world_to_camera": posed.world_to_camera.tolist(),
                       "convention": "opencv"},
            "people": people,
        })

    extra = {}
    if depth_names:
        paths, depth_range = G.write_depth_pngs(out_dir, depth_names, depths, depth_masks)
        for w in paths:
            files[str(Path(w).relative_to(out_dir))] = _sha(w)
        extra["depth_png_range_m"] = depth_range
    if guide_frames is not None:
        guide_frames.close()
    if cfg["generator"]["checkpoint"]:
        from neural_render.dataset.generated import generate_sample

        for w in generate_sample(cfg, out_dir, [fr["image_id"] for fr in frames]):
            files[str(Path(w).relative_to(out_dir))] = _sha(w)
    label = {
        "sample": index, "software": f"neural-render {__version__}",
        "scene": _scene_summary(posed), "frames": frames, "files": dict(sorted(files.items())),
        "file_bytes": {rel: (out_dir / rel).stat().st_size for rel in sorted(files)}, **extra,
    }
    lp = label_path(out_dir, index)
    write_json(lp, label, indent=None)
    return {"sample": index, "frames": len(frames), "label_file": str(lp.relative_to(out_dir)), "sha256": _sha(lp)}


def _write_images(out_dir: Path, name: str, cfg: dict, want: set, scene, ids: np.ndarray, body_ids: np.ndarray, bg,
                  seed: int) -> list[Path]:
    """The frame's RGB (Cycles, composited on the background) and id images: instances, body mask,
    person mask, clothing segmentation, as the config asks. Returns the written paths."""
    from neural_render.dataset.backgrounds import composite

    written = []
    if cfg["rgb"]["cycles"]:
        rgba = scene.render_rgb(cfg["rgb"]["samples"], seed, cfg["rgb"]["denoise"])
        p = out_dir / "images" / f"{name}.png"
        _write_png(p, composite(rgba, bg))
        written.append(p)
    if "instances" in want:
        p = out_dir / "instances" / f"{name}.png"
        _write_png(p, ids.astype(np.uint8))
        written.append(p)
    if "mask" in want:
        p = out_dir / "mask" / f"{name}.png"
        _write_png(p, ((body_ids > 0) * 255).astype(np.uint8))
        written.append(p)
    if "person_mask" in want:
        p = out_dir / "person_mask" / f"{name}.png"
        _write_png(p, ((ids > 0) * 255).astype(np.uint8))
        written.append(p)
    if "segmentation" in want:
        p = out_dir / "segmentation" / f"{name}.png"
        _write_png(p, scene.render_segmentation().astype(np.uint8))
        written.append(p)
    return written


def _person_labels(person, pid: int, f: int, fid: int, camera: Camera, ray_hit, ids: np.ndarray, tol: float,
                   amodal: np.ndarray | None) -> tuple[dict, np.ndarray, np.ndarray]:
    """Frame f's labels of one person (instance id pid): COCO (and COCO-WholeBody, amodal) fields,
    BODY_25 pixels and visibility, 3D keypoints and joints, SMPL parameters.
    Returns (record, BODY_25 pixels (25, 2), BODY_25 visibility (25,))."""
    eye = camera.center
    uv17, z17 = camera.project(person.coco17[f].astype(np.float64))
    uv25, z25 = camera.project(person.body25[f].astype(np.float64))
    v17 = L.keypoint_visibility(person.coco17[f].astype(np.float64), pid, uv17, eye, ray_hit, ids, tol)
    v17[z17 <= 0] = L.OUTSIDE
    v25 = L.keypoint_visibility(person.body25[f].astype(np.float64), pid, uv25, eye, ray_hit, ids, tol)
    v25[z25 <= 0] = L.OUTSIDE
    mask = ids == pid
    ann_id = fid * 10 + pid
    coco = {"id": ann_id, "image_id": fid, "category_id": 1, "iscrowd": 0,
            "keypoints": L.coco_keypoints(uv17, v17), "num_keypoints": int((v17 > 0).sum()),
            "bbox": L.bbox_of(mask), "area": float(mask.sum()),
            "segmentation": L.encode_mask(mask), "instance_id": pid}
    if person.wholebody is not None:  # COCO-WholeBody fields beside COCO-17's keypoints
        wb = person.wholebody[f].astype(np.float64)
        placed = np.all(np.isfinite(wb), 1)  # a model without face landmarks leaves NaN
        wb = np.where(placed[:, None], wb, 0.0)
        uvw, zw = camera.project(wb)
        vw = L.keypoint_visibility(wb, pid, uvw, eye, ray_hit, ids, tol)
        vw[(zw <= 0) | ~placed] = L.OUTSIDE
        vw[:17] = v17  # the body points are COCO-17's own
        coco.update(L.wholebody_fields(uvw, vw))
    if amodal is not None:  # the whole person, as if nothing were in front of it
        coco.update(amodal_segmentation=L.encode_mask(amodal), amodal_bbox=L.bbox_of(amodal),
                    amodal_area=float(amodal.sum()))
    rec = {
        "instance_id": pid, "coco": coco,
        "body25": {"uv": np.round(uv25, 3).tolist(), "visibility": v25.tolist()},
        "keypoints3d": {"coco17": person.coco17[f].tolist(), "body25": person.body25[f].tolist()},
        "joints3d": person.joints[f].tolist(),
        "smpl": {"model": person.model, "poses": person.poses[f].tolist(), "betas": person.betas.tolist(),
                 "trans": person.trans[f].tolist(), "up": "z"},
    }
    return rec, uv25, v25


def _person_meshes(posed: PosedScene, f: int) -> tuple[list, list]:
    """Per person one mesh of frame f: the body and its garments / hair (vertices, faces) for ray casts."""
    verts, faces = [], []
    for p in posed.people:
        vs, fs, n = [p.vertices[f]], [np.asarray(p.faces, np.int64)], len(p.vertices[f])
        for g in p.garments:
            vs.append(g.vertices[f])
            fs.append(np.asarray(g.faces, np.int64) + n)
            n += len(g.vertices[f])
        verts.append(np.concatenate(vs) if len(vs) > 1 else vs[0])
        faces.append(np.concatenate(fs) if len(fs) > 1 else p.faces)
    return verts, faces


def _main_image(cfg: dict, name: str, written: list, out_dir: Path) -> str:
    """The COCO image of a frame: the RGB render, else the generator's frame, else the first pass PNG."""
    if cfg["rgb"]["cycles"]:
        return f"images/{name}.png"
    if cfg["generator"]["checkpoint"]:
        return f"generated/{name}.png"
    pngs = [str(Path(w).relative_to(out_dir)) for w in written if str(w).endswith(".png")]
    return pngs[0]


def _scene_summary(posed: PosedScene) -> dict:
    s = posed.spec
    return {"people": [{"model": p.model, "motion": os.path.basename(p.motion), "start_time_s": round(p.start_time, 6),
                        "yaw": p.yaw, "offset": p.offset, "clothing": p.clothing} for p in s.people],
            "camera": s.camera, "light": s.light, "background": {k: v for k, v in s.background.items()},
            "render_seed": s.render_seed}


def read_label(out_dir: Path, index: int) -> dict | None:
    """The sample's label dict if the sample is complete and intact, else None."""
    lp = label_path(out_dir, index)
    try:
        lab = json.loads(lp.read_text())
    except (OSError, ValueError):
        return None
    if lab.get("sample") != index:
        return None
    return lab


def verify_sample(out_dir: Path, index: int, hashes: bool = False) -> dict | None:
    """The label dict when the sample's label file and every file it lists exist and are whole:
    each has the size the label recorded (labels without sizes: PNGs end with their IEND chunk,
    JSON parses); with `hashes`, also its SHA-256."""
    out_dir = Path(out_dir)
    lab = read_label(out_dir, index)
    if lab is None:
        return None
    files, sizes = lab.get("files", {}), lab.get("file_bytes", {})
    if not isinstance(files, dict) or not isinstance(sizes, dict):
        return None
    for rel, sha in files.items():
        p = out_dir / rel
        if not p.is_file():
            return None
        if rel in sizes:
            if p.stat().st_size != sizes[rel]:
                return None
        elif not _looks_whole(p):
            return None
        if hashes and _sha(p) != sha:
            return None
    return lab


_PNG_END = b"\x00\x00\x00\x00IEND\xaeB`\x82"


def _looks_whole(p: Path) -> bool:
    """A cheap integrity check of a file whose size was not recorded (labels of older versions)."""
    try:
        if p.suffix == ".png":
            with open(p, "rb") as f:
                if f.read(8) != b"\x89PNG\r\n\x1a\n":
                    return False
                f.seek(-12, os.SEEK_END)
                return f.read(12) == _PNG_END
        if p.suffix == ".json":
            json.loads(p.read_text())
        return True
    except (OSError, ValueError):
        return False
