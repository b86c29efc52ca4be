"""The renderer-agnostic entry: scene (people + cameras) -> pass buffers -> files + legend.json.

- `iter_frame_passes(instances, cameras, size, frames, renderer)` yields, per frame, numpy
  buffers (normal, depth, uv, parts, instance, mask), the skeleton image and per-person keypoints
  (pixel position, depth, COCO visibility): the in-memory API for dataset labelling.
- `render_passes(instances, cameras, out_dir, size, frames, renderer, ...)` writes one folder per
  pass (`NNNNNN.png`, NNNNNN = motion frame index + 1, atomically), `skeleton/keypoints.npz|json`,
  `legend.json`, and optionally `contact_sheet.png`; returns the legend dict.
- `renderer` is a renderer object (`passes.raster.RasterRenderer`, `blender.render.BlenderRenderer`)
  that the caller made and closes. Choosing one by name ("raster" | "blender") happens above this
  package and blender/, in `neural_render.renderers`, whose `iter_frame_passes` / `render_passes`
  take the name; so this package never imports blender/.
- The files are written by `passes.writer.PassWriter` (shared with the add-on's
  `render_scene_passes` and the dataset's guidance passes).

`cameras` may be "follow", "fixed", one `Camera`, or a list with one Camera per motion frame.
"""

from __future__ import annotations

from typing import Iterator, Sequence

import numpy as np

from neural_render.camera import Camera
from neural_render.passes.camera import fixed_camera, follow_camera
from neural_render.passes.scene import BodyInstance
from neural_render.passes.spec import PASS_NAMES, get_profile
from neural_render.passes.writer import PassWriter, annotate


# --- scene -> frames -------------------------------------------------------------------------

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


def iter_frame_passes(instances: Sequence[BodyInstance], cameras, size, frames=None, renderer=None,
                      profile: str = "default", skeleton_style: str | None = None, occlusion: bool = False,
                      fps: float = 30.0) -> Iterator[dict]:
    """Render frames in memory. Yields per frame a dict: "frame" (motion index), "camera", the
    buffers ("normal", "depth", "uv", "parts", "instance", "mask"), "skeleton" (H, W, 3) uint8
    and "keypoints" (per person: instance_id, uv (25, 2), z (25,), visibility (25,), world (25, 3)).

    `renderer`: a renderer object of this size (see the module doc); the caller closes it."""
    _check_renderer(renderer)
    W, H = (int(size), int(size)) if np.isscalar(size) else (int(size[0]), int(size[1]))
    cams = resolve_cameras(instances, cameras, (W, H), fps)
    T = max(i.num_frames for i in instances)
    frames = list(range(T)) if frames is None else [int(f) for f in frames]
    prof = get_profile(profile)
    style = skeleton_style or prof.skeleton_style
    instances = with_profile_parts(instances, prof)
    B = max(1, getattr(renderer, "batch_size", 1))
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
            bufs = renderer.render_batch(list(instances), verts_list, [cams[f] for f in chunk])
        else:
            bufs = [renderer.render(act, vs, cams[f]) for f, act, vs in zip(chunk, active, verts_list)]
        for f, act, b, ks, wbs in zip(chunk, active, bufs, kps_list, wbs_list):
            has_kp = [k is not None for k in ks]
            kp_world = [k for k in ks if k is not None]
            wb_world = [w for k, w in zip(ks, wbs) if k is not None]
            ids = [i.instance_id for i, h in zip(act, has_kp) if h]
            skel, people = annotate(b, cams[f], kp_world, ids, style, occlusion, wb_world)
            yield {"frame": f, "camera": cams[f], **b, "skeleton": skel, "keypoints": people,
                   "_keypoints_world": kp_world, "_ids": ids}


def render_passes(instances: Sequence[BodyInstance], cameras, out_dir, size=512, frames=None,
                  renderer=None, passes=PASS_NAMES, profile: str = "default", progress: bool = True,
                  skeleton_style: str | None = None, occlusion: bool = False, normal_bits: int = 8,
                  contact_sheet: bool = False, fps: float = 30.0, write_instance: bool | None = None) -> dict:
    """Render `frames` (motion frame indices; default all) of the scene into `out_dir`.

    `renderer`: a renderer object of this size (see the module doc); the caller closes it.
    Returns the legend dict, also written to out_dir/legend.json.
    """
    _check_renderer(renderer)
    W, H = (int(size), int(size)) if np.isscalar(size) else (int(size[0]), int(size[1]))
    T = max(i.num_frames for i in instances)
    frames = list(range(T)) if frames is None else [int(f) for f in frames]
    body = next((i.body for i in instances if i.body is not None), None)
    writer = PassWriter(out_dir, (W, H), passes, profile, renderer.name, occlusion, body,
                        skeleton_style=skeleton_style, normal_bits=normal_bits, instances=list(instances),
                        write_instance=write_instance if write_instance is not None else (len(instances) > 1))
    it = iter_frame_passes(instances, cameras, (W, H), frames, renderer, profile, skeleton_style, occlusion, fps)
    if progress:
        from tqdm import tqdm

        it = tqdm(it, total=len(frames), desc=f"passes ({renderer.name})", unit="frame")
    try:
        for fr in it:
            writer.write_frame(fr["frame"], fr, fr["camera"], fr["_keypoints_world"], fr["_ids"])
    except BaseException:
        writer.close()
        raise
    return writer.finish(contact_sheet=contact_sheet)


def _check_renderer(renderer) -> None:
    """A renderer object, not a name: names are chosen in `neural_render.renderers`."""
    if isinstance(renderer, str) or not hasattr(renderer, "render_batch"):
        raise TypeError(f"renderer must be a renderer object, not {renderer!r}; pass a name to "
                        "neural_render.renderers.iter_frame_passes / render_passes instead")
