"""Pass files: the encodings (parts, normal, mask, uv, depth PNG + metric EXR) and `PassWriter`.

A leaf of the passes package (it imports no renderer), shared by `passes.render.render_passes`,
the add-on's `blender.render.render_scene_passes` and the dataset's guidance passes, so every
pass file in the project is encoded by the same lines. The encodings are DESIGN.md's.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from neural_render.camera import Camera
from neural_render.fileio import write_image, write_json, write_npz
from neural_render.passes.skeleton import draw_skeleton, keypoint_visibility
from neural_render.passes.spec import (PASS_NAMES, VIS_OUTSIDE, frame_filename, get_profile, load_palette,
                                      parts_colors)
from neural_render.passes.wholebody import wholebody_from_body25


# --- encodings -------------------------------------------------------------------------------

def encode_parts(parts: np.ndarray, profile="default") -> np.ndarray:
    prof = get_profile(profile) if isinstance(profile, str) else profile
    if prof.parts_encoding == "label":
        return parts.astype(np.uint8)
    return parts_colors(prof)[parts]


def encode_normal(normal: np.ndarray, mask: np.ndarray, bits: int = 8) -> np.ndarray:
    top = 255 if bits == 8 else 65535
    img = np.rint((np.clip(normal, -1, 1) + 1) * 0.5 * top)
    img[~mask] = 0
    return img.astype(np.uint8 if bits == 8 else np.uint16)


def encode_mask(mask: np.ndarray) -> np.ndarray:
    return np.where(mask, 255, 0).astype(np.uint8)


def encode_uv(uv: np.ndarray, parts: np.ndarray, mask: np.ndarray) -> np.ndarray:
    img = np.zeros(parts.shape + (3,), np.uint8)
    img[..., 0] = parts
    img[..., 1:] = np.rint(np.clip(uv, 0, 1) * 255).astype(np.uint8)
    img[~mask] = 0
    return img


def encode_depth_png(depth: np.ndarray, near: float, far: float) -> np.ndarray:
    """uint16: 0 background, 65535 at `near`, 1 at `far`, linear in metres."""
    fg = depth > 0
    span = max(far - near, 1e-9)
    v = 1 + np.rint((far - np.clip(depth, near, far)) / span * 65534)
    return np.where(fg, v, 0).astype(np.uint16)


def write_exr_depth(path: Path, depth: np.ndarray) -> None:
    """Depth EXR (channel Z, metres, 0 = background); see `neural_render.passes.exr`."""
    from neural_render.passes.exr import write_depth_exr

    write_depth_exr(path, depth)


def read_exr_depth(path: Path) -> np.ndarray:
    from neural_render.passes.exr import read_depth_exr

    return read_depth_exr(path)


def write_frame_files(out_dir: Path, stem: str, frame: dict, passes: Sequence[str], profile="default",
                      normal_bits: int = 8) -> list[Path]:
    """Write one frame's pass files `out_dir/<pass>/<stem>.png` (depth: `<stem>.exr`, metres).

    `frame` holds the buffers (mask, parts, normal, uv, depth, instance) and the "skeleton" image.
    The depth PNG is not written here: it is normalised once per sequence (`encode_depth_png`).
    Returns the written paths, in the order skeleton, parts, normal, uv, depth, mask, instance.
    """
    out_dir = Path(out_dir)
    mask = frame["mask"]
    encoders = {
        "skeleton": lambda: frame["skeleton"],
        "parts": lambda: encode_parts(frame["parts"], profile),
        "normal": lambda: encode_normal(frame["normal"], mask, normal_bits),
        "uv": lambda: encode_uv(frame["uv"], frame["parts"], mask),
        "mask": lambda: encode_mask(mask),
        "instance": lambda: frame["instance"],
    }
    written = []
    for name in ("skeleton", "parts", "normal", "uv", "depth", "mask", "instance"):
        if name not in passes:
            continue
        if name == "depth":
            written.append(out_dir / "depth" / f"{stem}.exr")
            write_exr_depth(written[-1], frame["depth"])
        else:
            written.append(out_dir / name / f"{stem}.png")
            write_image(written[-1], encoders[name]())
    return written


# --- per-frame annotation (shared by every path) ---------------------------------------------

def annotate(buffers: dict, camera: Camera, keypoints_world: Sequence[np.ndarray] | None,
             instance_ids: Sequence[int], style: str = "body25", occlusion: bool = False,
             wholebody_world: Sequence[np.ndarray | None] | None = None) -> tuple[np.ndarray, list]:
    """Skeleton image and per-person keypoint records for one frame.

    keypoints_world: per person (25, 3) BODY_25 world positions (or None: blank skeleton).
    wholebody_world: per person (133, 3) COCO-WholeBody world positions or None (then body and
    feet come from BODY_25, hands and face are missing); the ``wholebody`` style draws them, and
    the records carry them whenever given (keypoints.npz: generator hand crops, labels).
    Returns (image (H, W, 3) uint8, [{"instance_id", "uv" (25,2), "z" (25,), "visibility" (25,),
    "world", and "wholebody": the same keys for the 133 points (wholebody style, or given)}]).
    """
    W, H = camera.width, camera.height
    people = []
    wb_list = list(wholebody_world) if wholebody_world is not None else []
    for n, (kp, iid) in enumerate(zip(keypoints_world or [], instance_ids)):
        uv, z = camera.project(kp)
        vis = keypoint_visibility(uv, z, W, H, buffers.get("depth"), buffers.get("instance"), iid)
        rec = {"instance_id": int(iid), "uv": uv.astype(np.float32), "z": z.astype(np.float32),
               "visibility": vis, "world": np.asarray(kp, np.float32)}
        have_wb = n < len(wb_list) and wb_list[n] is not None
        if style == "wholebody" or have_wb:  # bodies with hands always label their 133 points
            wb = wb_list[n] if have_wb else wholebody_from_body25(kp)
            rec["wholebody"] = _project_record(wb, camera, buffers, iid)
        people.append(rec)
    img = draw_skeleton(W, H, people, style, occlusion)
    return img, people


def _project_record(world: np.ndarray, camera: Camera, buffers: dict, iid: int) -> dict:
    """uv / z / visibility / world of keypoints (K, 3) that may hold NaN (missing: visibility 0)."""
    world = np.asarray(world, np.float64)
    ok = np.all(np.isfinite(world), 1)
    uv = np.full((len(world), 2), np.nan)
    z = np.zeros(len(world))
    if ok.any():
        uv[ok], z[ok] = camera.project(world[ok])
    vis = keypoint_visibility(np.nan_to_num(uv, nan=-1e6), z, camera.width, camera.height,
                              buffers.get("depth"), buffers.get("instance"), iid)
    vis[~ok] = VIS_OUTSIDE
    return {"uv": uv.astype(np.float32), "z": z.astype(np.float32), "visibility": vis,
            "world": world.astype(np.float32)}


# --- the writer ------------------------------------------------------------------------------

class PassWriter:
    """Writes pass files frame by frame; `finish()` adds depth PNGs, keypoints and legend.json."""

    def __init__(self, out_dir, size, passes=PASS_NAMES, profile: str = "default", renderer: str = "raster",
                 occlusion: bool = False, body=None, numbering: str = "motion_index",
                 skeleton_style: str | None = None, normal_bits: int = 8, instances=None,
                 write_instance: bool | None = None):
        self.out = Path(out_dir)
        self.size = (int(size[0]), int(size[1]))
        self.passes = tuple(passes)
        self.profile = get_profile(profile)
        self.style = skeleton_style or self.profile.skeleton_style
        self.renderer, self.occlusion, self.body = renderer, occlusion, body
        self.numbering, self.normal_bits, self.instances = numbering, normal_bits, instances
        self.write_instance = write_instance
        # Encoding and writing files runs beside the next frame's render (cv2/zlib/OpenEXR release the GIL).
        from concurrent.futures import ThreadPoolExecutor

        self._pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="nr-passes-write")
        self._pending: list = []
        self.frames: list[int] = []
        self.cameras: list[Camera] = []
        self.people: list[list[dict]] = []
        self.depth_lo, self.depth_hi = np.inf, -np.inf

    def write_frame(self, frame_index: int, buffers: dict, camera: Camera,
                    keypoints_world=None, instance_ids=(1,), wholebody_world=None) -> dict:
        name = frame_filename(frame_index)
        if self.write_instance is None:
            self.write_instance = len(instance_ids) > 1
        if "skeleton" in buffers and "keypoints" in buffers:  # already annotated (iter_frame_passes)
            skel, people = buffers["skeleton"], buffers["keypoints"]
        else:
            skel, people = annotate(buffers, camera, keypoints_world, instance_ids, self.style, self.occlusion,
                                    wholebody_world)
        mask = buffers["mask"]
        out = self.out
        if "depth" in self.passes and mask.any():
            d = buffers["depth"]
            self.depth_lo = min(self.depth_lo, float(d[mask].min()))
            self.depth_hi = max(self.depth_hi, float(d[mask].max()))
        self._drain(limit=8)
        self._pending.append(self._pool.submit(self._write_files, out, frame_index, name, skel, buffers))
        self.frames.append(int(frame_index))
        self.cameras.append(camera)
        self.people.append(people)
        return {"skeleton": skel, "keypoints": people}

    def _write_files(self, out: Path, frame_index: int, name: str, skel: np.ndarray, buffers: dict) -> None:
        passes = list(self.passes) + (["instance"] if self.write_instance else [])
        write_frame_files(out, Path(name).stem, {**buffers, "skeleton": skel}, passes, self.profile,
                          self.normal_bits)

    def _drain(self, limit: int = 0) -> None:
        """Wait until at most `limit` frames are still being written; re-raise a writer's error."""
        while len(self._pending) > limit:
            self._pending.pop(0).result()

    def close(self) -> None:
        try:
            self._drain(0)
        finally:
            self._pool.shutdown(wait=True)

    def finish(self, contact_sheet: bool = False) -> dict:
        self.close()
        near, far = (self.depth_lo, self.depth_hi) if np.isfinite(self.depth_lo) else (0.0, 1.0)
        if "depth" in self.passes:
            # Normalised once for the whole sequence: the same depth is the same grey in every frame.
            for f in self.frames:
                d = read_exr_depth(self.out / "depth" / frame_filename(f, ".exr"))
                write_image(self.out / "depth" / frame_filename(f), encode_depth_png(d, near, far))
        passes = list(self.passes) + (["instance"] if self.write_instance and "instance" not in self.passes else [])
        leg = _legend(self, passes, (near, far) if "depth" in self.passes else None)
        if "skeleton" in self.passes:
            self._write_keypoints()
        write_json(self.out / "legend.json", leg)
        if contact_sheet:
            from neural_render.passes.contact_sheet import contact_sheet as make_sheet

            make_sheet(self.out, leg)
        return leg

    def _write_keypoints(self) -> None:
        P = max((len(p) for p in self.people), default=0)
        n = len(self.frames)
        uv = np.full((n, P, 25, 2), np.nan, np.float32)
        z = np.zeros((n, P, 25), np.float32)
        vis = np.zeros((n, P, 25), np.uint8)
        world = np.full((n, P, 25, 3), np.nan, np.float32)
        ids = np.zeros((P,), np.int32)
        for t, people in enumerate(self.people):
            for p, rec in enumerate(people):
                uv[t, p], z[t, p], vis[t, p], world[t, p] = rec["uv"], rec["z"], rec["visibility"], rec["world"]
                ids[p] = rec["instance_id"]
        names = load_palette("openpose_body25")["keypoints"]
        extra = {}
        if any("wholebody" in rec for people in self.people for rec in people):
            K = 133
            wuv = np.full((n, P, K, 2), np.nan, np.float32)
            wz = np.zeros((n, P, K), np.float32)
            wvis = np.zeros((n, P, K), np.uint8)
            wworld = np.full((n, P, K, 3), np.nan, np.float32)
            for t, people in enumerate(self.people):
                for p, rec in enumerate(people):
                    if "wholebody" in rec:
                        w = rec["wholebody"]
                        wuv[t, p], wz[t, p], wvis[t, p], wworld[t, p] = w["uv"], w["z"], w["visibility"], w["world"]
            from neural_render.body.skeletons import WHOLEBODY_NAMES

            extra = {"wholebody_uv": wuv, "wholebody_depth": wz, "wholebody_visibility": wvis,
                     "wholebody_world": wworld, "wholebody_names": np.asarray(WHOLEBODY_NAMES)}
        write_npz(self.out / "skeleton" / "keypoints.npz", frames=np.asarray(self.frames, np.int64), uv=uv,
                  depth=z, visibility=vis, world=world, instance_ids=ids, names=np.asarray(names), **extra)
        js = {"format": "BODY_25", "names": names,
              "visibility": {"0": "outside the image", "1": "occluded", "2": "visible"},
              "frames": [{"index": f, "file": frame_filename(f), "people": [
                  {"instance_id": int(r["instance_id"]),
                   "keypoints": [[round(float(a), 3), round(float(b), 3), int(v)]
                                 for (a, b), v in zip(np.nan_to_num(r["uv"]), r["visibility"])]}
                  for r in people]} for f, people in zip(self.frames, self.people)]}
        write_json(self.out / "skeleton" / "keypoints.json", js, indent=None)


def _legend(w: PassWriter, passes, depth_range) -> dict:
    from neural_render.passes.legend import legend

    return legend(w.size, passes, w.profile.name, w.renderer, w.frames, w.cameras, depth_range, w.style,
                  w.normal_bits, w.body, w.instances, w.numbering, w.occlusion)
