"""The renderer-agnostic entry: scene (people + cameras) -> pass buffers -> files + legend.json.

- `iter_frame_passes(instances, cameras, size, frames, renderer=...)` yields, per frame, numpy
  buffers (normal, depth, uv, parts, instance, mask), the skeleton image and per-person keypoints
  (pixel position, depth, COCO visibility): the in-memory API for dataset labelling.
- `render_passes(instances, cameras, out_dir, size, frames, renderer="blender"|"raster", ...)`
  writes one folder per pass (`NNNNNN.png`, NNNNNN = motion frame index + 1, atomically),
  `skeleton/keypoints.npz|json`, `legend.json`, and optionally `contact_sheet.png`; returns the
  legend dict.
- `PassWriter`: the file writer both paths (and the add-on's `render_scene_passes`) share.

`cameras` may be "follow", "fixed", one `Camera`, or a list with one Camera per motion frame.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np

from neural_render.fileio import write_image, write_json, write_npz
from neural_render.camera import Camera
from neural_render.passes.camera import fixed_camera, follow_camera
from neural_render.passes.scene import BodyInstance
from neural_render.passes.skeleton import draw_skeleton, keypoint_visibility
from neural_render.passes.spec import (PASS_NAMES, VIS_OUTSIDE, frame_filename, get_profile, load_palette,
                                      parts_colors)
from neural_render.passes.wholebody import wholebody_from_body25

RENDERERS = ("raster", "blender")


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
        mask = buffers["mask"]
        if "skeleton" in self.passes:
            write_image(out / "skeleton" / name, skel)
        if "parts" in self.passes:
            write_image(out / "parts" / name, encode_parts(buffers["parts"], self.profile))
        if "normal" in self.passes:
            write_image(out / "normal" / name, encode_normal(buffers["normal"], mask, self.normal_bits))
        if "depth" in self.passes:
            write_exr_depth(out / "depth" / frame_filename(frame_index, ".exr"), buffers["depth"])
        if "mask" in self.passes:
            write_image(out / "mask" / name, encode_mask(mask))
        if "uv" in self.passes:
            write_image(out / "uv" / name, encode_uv(buffers["uv"], buffers["parts"], mask))
        if self.write_instance or "instance" in self.passes:
            write_image(out / "instance" / name, buffers["instance"])

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


# --- scene -> frames -------------------------------------------------------------------------

def make_renderer(renderer: str, width: int, height: int):
    if renderer == "raster":
        from neural_render.passes.raster import RasterRenderer

        return RasterRenderer(width, height)
    if renderer == "blender":
        from neural_render.blender.render import BlenderRenderer

        return BlenderRenderer(width, height)
    from neural_render.errors import InputError

    raise InputError(f"unknown renderer '{renderer}'", where="--renderer", fix=f"use one of {RENDERERS}")


def resolve_cameras(instances: Sequence[BodyInstance], cameras, size, fps: float = 30.0, **kw) -> list[Camera]:
    """One Camera per motion frame from "follow" / "fixed" / a Camera / a list of Cameras."""
    T = max(i.num_frames for i in instances)
    W, H = (size, size) if np.isscalar(size) else size
    if isinstance(cameras, str):
        J = np.concatenate([_pad_frames(i.all_joints(), T) for i in instances], 1)
        if cameras == "follow":
            return follow_camera(J, (W, H), fps=fps, **kw)
        if cameras == "fixed":
            return fixed_camera(J, (W, H), fps=fps, **kw)
        from neural_render.errors import InputError

        raise InputError(f"unknown camera mode '{cameras}'", where="--camera", fix="use follow or fixed")
    if isinstance(cameras, Camera):
        cams = [cameras] * T
    else:
        cams = list(cameras)
    out = []
    for c in cams:
        out.append(c if (c.width, c.height) == (W, H) else c.scaled(W, H))
    return out


def _pad_frames(x: np.ndarray, T: int) -> np.ndarray:
    return x if len(x) >= T else np.concatenate([x, np.repeat(x[-1:], T - len(x), 0)])


def with_profile_parts(instances: Sequence[BodyInstance], prof) -> list[BodyInstance]:
    """The instances with the profile's part labels (profile "hands": fingers split off)."""
    if not prof.hand_parts:
        return list(instances)
    from dataclasses import replace

    from neural_render.passes.spec import face_parts, hand_part_labels

    out = []
    for inst in instances:
        if inst.body is not None and getattr(inst.body, "hands", None) is not None:
            vp = hand_part_labels(inst.body)
            inst = replace(inst, vertex_parts=vp, face_parts=face_parts(inst.faces, vp))
        out.append(inst)
    return out


def iter_frame_passes(instances: Sequence[BodyInstance], cameras, size, frames=None, renderer="raster",
                      profile: str = "default", skeleton_style: str | None = None, occlusion: bool = False,
                      fps: float = 30.0, renderer_obj=None) -> Iterator[dict]:
    """Render frames in memory. Yields per frame a dict: "frame" (motion index), "camera", the
    buffers ("normal", "depth", "uv", "parts", "instance", "mask"), "skeleton" (H, W, 3) uint8
    and "keypoints" (per person: instance_id, uv (25, 2), z (25,), visibility (25,), world (25, 3)).

    `renderer_obj`: an already created renderer to reuse (its size must match)."""
    W, H = (int(size), int(size)) if np.isscalar(size) else (int(size[0]), int(size[1]))
    cams = resolve_cameras(instances, cameras, (W, H), fps)
    T = max(i.num_frames for i in instances)
    frames = list(range(T)) if frames is None else [int(f) for f in frames]
    prof = get_profile(profile)
    style = skeleton_style or prof.skeleton_style
    instances = with_profile_parts(instances, prof)
    rend = renderer_obj or make_renderer(renderer, W, H)
    try:
        B = max(1, getattr(rend, "batch_size", 1))
        for s in range(0, len(frames), B):
            chunk = frames[s:s + B]
            active = [[i for i in instances if f < i.num_frames] for f in chunk]
            posed = {id(i): i.posed([f for f in chunk if f < i.num_frames]) for i in instances}
            pos = {id(i): 0 for i in instances}
            verts_list, kps_list, wbs_list = [], [], []
            for f, act in zip(chunk, active):
                vs, ks, wbs = [], [], []
                for i in act:
                    p = posed[id(i)]
                    vs.append(p.vertices[pos[id(i)]])
                    ks.append(None if p.keypoints is None else p.keypoints[pos[id(i)]])
                    wbs.append(None if p.wholebody is None else p.wholebody[pos[id(i)]])
                    pos[id(i)] += 1
                verts_list.append(vs)
                kps_list.append(ks)
                wbs_list.append(wbs)
            same = all(len(a) == len(instances) for a in active)
            if same:
                bufs = rend.render_batch(list(instances), verts_list, [cams[f] for f in chunk])
            else:
                bufs = [rend.render(act, vs, cams[f]) for f, act, vs in zip(chunk, active, verts_list)]
            for f, act, b, ks, wbs in zip(chunk, active, bufs, kps_list, wbs_list):
                has_kp = [k is not None for k in ks]
                kp_world = [k for k in ks if k is not None]
                wb_world = [w for k, w in zip(ks, wbs) if k is not None]
                ids = [i.instance_id for i, h in zip(act, has_kp) if h]
                skel, people = annotate(b, cams[f], kp_world, ids, style, occlusion, wb_world)
                yield {"frame": f, "camera": cams[f], **b, "skeleton": skel, "keypoints": people,
                       "_keypoints_world": kp_world, "_ids": ids}
    finally:
        if renderer_obj is None:
            rend.close()


def render_passes(instances: Sequence[BodyInstance], cameras, out_dir, size=512, frames=None,
                  renderer: str = "raster", passes=PASS_NAMES, profile: str = "default", progress: bool = True,
                  skeleton_style: str | None = None, occlusion: bool = False, normal_bits: int = 8,
                  contact_sheet: bool = False, fps: float = 30.0, write_instance: bool | None = None) -> dict:
    """Render `frames` (motion frame indices; default all) of the scene into `out_dir`.

    Returns the legend dict, also written to out_dir/legend.json.
    """
    W, H = (int(size), int(size)) if np.isscalar(size) else (int(size[0]), int(size[1]))
    T = max(i.num_frames for i in instances)
    frames = list(range(T)) if frames is None else [int(f) for f in frames]
    body = next((i.body for i in instances if i.body is not None), None)
    writer = PassWriter(out_dir, (W, H), passes, profile, renderer, occlusion, body,
                        skeleton_style=skeleton_style, normal_bits=normal_bits, instances=list(instances),
                        write_instance=write_instance if write_instance is not None else (len(instances) > 1))
    it = iter_frame_passes(instances, cameras, (W, H), frames, renderer, profile, skeleton_style, occlusion, fps)
    if progress:
        from tqdm import tqdm

        it = tqdm(it, total=len(frames), desc=f"passes ({renderer})", unit="frame")
    try:
        for fr in it:
            writer.write_frame(fr["frame"], fr, fr["camera"], fr["_keypoints_world"], fr["_ids"])
    except BaseException:
        writer.close()
        raise
    return writer.finish(contact_sheet=contact_sheet)


def load_legend(out_dir) -> dict:
    return json.loads((Path(out_dir) / "legend.json").read_text())
