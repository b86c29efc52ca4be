"""The output folder's bookkeeping: config pinning, a lock, the manifest, resume and final assembly.

A dataset folder holds
    dataset_config.json     the normalized config (+ its hash) the folder was started with
    manifest.json           {config_hash, samples, frames_per_sample, done: {index: label sha256}, complete}
    labels/sample_*.json    per-sample labels, each written last and atomically (the truth)
    annotations/coco_keypoints.json   assembled from the label files once every sample is done
    .lock                   held (flock) by the running batch; released by the OS if it is killed

Resume rule: a sample is done iff its label file parses and every file it lists exists. Files are
only ever written through temporary files renamed into place, so a killed run leaves complete
files or stray temporaries (`fileio.TEMPORARY_PATTERNS`, removed here), never a truncated file. A sample killed
half-way has no label file and is rendered again (overwriting its earlier frames atomically).
The manifest is rewritten atomically as samples finish; it is an index, the label files decide.
"""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path

from neural_render import __version__
from neural_render.dataset import labels as L
from neural_render.dataset.config import config_hash
from neural_render.dataset.task import label_path, read_label, verify_sample
from neural_render.errors import InputError
from neural_render.body.garments import SEGMENTATION_CLASSES
from neural_render.fileio import OutputLock, clean_temporaries, lock_output, write_json

OUTPUT_DIRS = ("images", "instances", "mask", "person_mask", "segmentation", "parts", "normal", "depth", "skeleton", "uv", "openpose",
               "labels", "annotations", "generated")


def dataset_legend(cfg: dict) -> dict:  # noqa: C901 - one literal
    """What every file of a dataset folder holds (written as DIR/legend.json)."""
    from neural_render.passes.spec import encodings

    enc = encodings(cfg["guidance"]["profile"])
    enc["depth"]["png"] = enc["depth"]["png"].replace("once per sequence", "once per sample (labels: depth_png_range_m)")
    enc["skeleton"].pop("keypoints_file", None)
    return {
        "format": "neural-render synthetic dataset", "software": f"neural-render {__version__}",
        "frame_files": "NNNNNN = sample * frames_per_sample + frame_in_sample + 1 (= COCO image id)",
        "coordinates": {"world": "Blender world, Z-up, metres", "camera": "OpenCV: K (3x3), world_to_camera (4x4); "
                        "pixel centres at integer (u, v); the point (u, v) lies in pixel (round(v), round(u))"},
        "folders": {
            "images": "Cycles RGB PNG (people composited over the background)" if cfg["rgb"]["cycles"] else None,
            "instances": "PNG uint8: 0 background, person k (1-based, = labels' instance_id); a person's pixels "
                         "include their garments and hair",
            "mask": "PNG uint8: 0 background, 255 any person's body (skin surface, garments and hair not drawn: "
                    "the pixels the body passes describe)",
            "person_mask": "PNG uint8: 0 background, 255 any person including garments and hair (what is seen)",
            "segmentation": "PNG uint8 clothing classes: " + ", ".join(f"{i} {n}" for i, n in enumerate(SEGMENTATION_CLASSES))
                            + " (from garment geometry; body pixels not covered by a garment or hair are skin)",
            "openpose": "NNNNNN_keypoints.json: OpenPose BODY_25, c = 1 visible, 0.5 occluded, 0 outside",
            "labels": "sample_SSSSSS.json: cameras, per person COCO annotation, BODY_25 (uv, visibility), 3D "
                      "keypoints and SMPL joints (world), SMPL poses/betas/trans (up z), scene parameters, "
                      "SHA-256 of every file of the sample",
            "annotations": "coco_keypoints.json: COCO keypoints (v 2 visible, 1 occluded, 0 outside), bbox, area, "
                           "segmentation as compressed RLE of the person's own visible pixels (garments and hair "
                           "included); amodal_segmentation / amodal_bbox / amodal_area: the whole person as if "
                           "nothing were in front of it (present when the dataset's Blender scene renders); for bodies "
                           "with hands also COCO-WholeBody's fields (133 points: foot_kpts, face_kpts, lefthand_kpts, "
                           "righthand_kpts, *_valid, face_box, lefthand_box, righthand_box)",
        },
        "passes": {k: v for k, v in enc.items() if k in cfg["passes"] or (k == "instance" and "instances" in cfg["passes"])},
        "garments": "labels' scene.people[].clothing.outfit: the garments, hair, fabrics and skin of each person "
                    "(neural_render.body.garments, neural_render.dataset.outfits)" if cfg.get("garments", {}).get("enabled") else None,
        "visibility": f"visible = inside the image, the first surface on the camera ray is the person's own body "
                      f"or garments / hair "
                      f"at most {cfg['labels']['occlusion_tolerance_m']} m in front of the keypoint, and the "
                      f"keypoint's pixel belongs to the person's mask",
    }


class DatasetFolder:
    def __init__(self, out_dir: str | Path, cfg: dict):
        self.root = Path(out_dir)
        self.cfg = cfg
        self.hash = config_hash(cfg)
        self._lock: OutputLock | None = None
        self.done: dict[int, str] = {}
        self._last_write = 0.0
        self.completion_times: list[float] = []  # perf_counter() of each sample finished in this run

    # ---------------------------------------------------------------------------------- lifecycle
    def open(self, verify_hashes: bool = False) -> list[int]:
        """Lock the folder, pin or check the config, clean temporaries; returns sample indices to do."""
        if self.root.exists() and not self.root.is_dir():
            raise InputError("output path exists and is not a folder", path=self.root, fix="choose another --out")
        self.root.mkdir(parents=True, exist_ok=True)
        self._lock = lock_output(self.root, "batch run").acquire()
        pinned = self.root / "dataset_config.json"
        if pinned.exists():
            try:
                old = json.loads(pinned.read_text())
            except ValueError:
                old = None  # written atomically, so unreadable means tampered: re-pin below
            if old is not None and old.get("config_hash") != self.hash:
                raise InputError("folder holds a dataset made with a different config", path=self.root,
                                 fix="rerun with the same config to resume, or choose a new --out")
        elif any(not p.name.startswith(".") for p in self.root.iterdir()):  # (.lock / temporaries of a killed start are fine)
            raise InputError("output folder is not empty and holds no dataset", path=self.root,
                             fix="choose a new or empty --out folder")
        write_json(pinned, {"config_hash": self.hash, "software": f"neural-render {__version__}", "config": self.cfg})
        write_json(self.root / "legend.json", dataset_legend(self.cfg))
        self.clean_temporaries()
        todo = []
        for i in range(self.cfg["samples"]):
            lab = verify_sample(self.root, i, hashes=verify_hashes)
            if lab is None:
                todo.append(i)
            else:
                self.done[i] = hashlib.sha256(label_path(self.root, i).read_bytes()).hexdigest()
        self.write_manifest(force=True)
        return todo

    def close(self) -> None:
        if self._lock is not None:
            self._lock.release()
            self._lock = None

    def clean_temporaries(self) -> int:
        return clean_temporaries([self.root] + [self.root / s for s in OUTPUT_DIRS])

    # ----------------------------------------------------------------------------------- progress
    def mark_done(self, record: dict) -> None:
        self.done[int(record["sample"])] = record.get("sha256", "")
        self.completion_times.append(time.perf_counter())
        self.write_manifest()

    def write_manifest(self, force: bool = False, complete: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._last_write < 2.0:
            return
        self._last_write = now
        write_json(self.root / "manifest.json", {
            "config_hash": self.hash, "samples": self.cfg["samples"],
            "frames_per_sample": self.cfg["frames_per_sample"],
            "done": {str(k): v for k, v in sorted(self.done.items())},
            "complete": complete,
        })

    def finish(self) -> dict:
        """Check every sample, assemble the COCO json, mark the manifest complete. Returns the COCO dict."""
        missing = [i for i in range(self.cfg["samples"]) if verify_sample(self.root, i) is None]
        if missing:
            raise RuntimeError(f"samples {missing[:10]} are not complete")
        labels = [read_label(self.root, i) for i in range(self.cfg["samples"])]
        info = {"description": "neural-render synthetic dataset", "version": __version__,
                "config_hash": self.hash, "seed": self.cfg["seed"], "samples": self.cfg["samples"],
                "frames_per_sample": self.cfg["frames_per_sample"]}
        coco = L.assemble_coco(labels, info)
        write_json(self.root / "annotations" / "coco_keypoints.json", coco, indent=None)
        self.clean_temporaries()
        self.write_manifest(force=True, complete=True)
        return coco
