"""legend.json: everything a reader needs to interpret a folder of passes.

Written beside every render by `neural_render.passes.writer.PassWriter.finish`. Keys: spec
version, software version, renderer, profile, pass list and encodings (from
`neural_render.passes.spec.encodings`), coordinate frames, resolution, frame numbering, the frames
written with their per-frame camera (OpenCV K and world_to_camera), depth normalisation range,
skeleton style, palettes and the body model.
"""

from __future__ import annotations

import neural_render
from neural_render.passes.spec import SPEC_VERSION, encodings, get_profile, load_palette, parts_colors

NUMBERING = {
    "motion_index": "file NNNNNN.png holds motion frame index NNNNNN - 1 (0-based index + 1)",
    "blender_frame": "file NNNNNN.png holds Blender frame number NNNNNN",
}


def _wholebody_rules(width: int, height: int) -> dict:
    """Every point and colour of the DWPose whole-body drawing, and the sizes used at this resolution."""
    from neural_render.passes.wholebody import wholebody_sizes

    pal = load_palette("dwpose_wholebody")
    return {"description": pal["description"], "keypoints": pal["keypoints"], "body18": pal["body18"],
            "feet": pal["feet"], "limb_scale_after_body": pal["limb_scale_after_body"], "hand": pal["hand"],
            "face": pal["face"], "sizes_px": wholebody_sizes(width, height),
            "keypoints_file": "skeleton/keypoints.npz: wholebody_uv / wholebody_depth / wholebody_visibility / "
                              "wholebody_world (frames, people, 133, ...)"}


def legend(size, passes, profile: str = "default", renderer: str = "raster", frames=None, cameras=None,
           depth_range=None, skeleton_style: str | None = None, normal_bits: int = 8, body=None,
           instances=None, numbering: str = "motion_index", occlusion: bool = False, extra: dict | None = None) -> dict:
    """The legend dict (JSON-ready). `frames`: frame indices written; `cameras`: one Camera per frame."""
    prof = get_profile(profile)
    W, H = size
    style = skeleton_style or prof.skeleton_style
    pal_name = {"body25": "openpose_body25", "coco18": "openpose_coco18"}.get(style, "dwpose_wholebody")
    d = {
        "spec_version": SPEC_VERSION,
        "software": {"name": "neural-render", "version": neural_render.__version__},
        "renderer": renderer,
        "profile": prof.name,
        "profile_description": prof.description,
        "passes": list(passes),
        "encodings": {k: v for k, v in encodings(prof, normal_bits, style).items() if k in passes},
        "resolution": {"width": int(W), "height": int(H)},
        "frame_numbering": NUMBERING[numbering],
        "coordinate_frames": {
            "world": "Blender world: Z up, metres (a motion with up='z' poses straight into it)",
            "camera": "OpenCV: x right, y down, z forward; pixel centres at integer coordinates",
            "normals": "camera space: x right, y up, z toward the camera",
        },
        "skeleton": {"style": style, "keypoints": load_palette(pal_name)["keypoints"],
                     "occlusion_aware": bool(occlusion),
                     "visibility": {"0": "outside the image", "1": "occluded", "2": "visible"}},
        "palettes": {"parts": prof.parts_palette, "parts_colors": parts_colors(prof).tolist(), "skeleton": pal_name},
        "frames": [],
    }
    if style == "wholebody":
        d["skeleton"]["wholebody"] = _wholebody_rules(W, H)
    if depth_range is not None:
        d["depth_png_range"] = {"near": float(depth_range[0]), "far": float(depth_range[1])}
    if body is not None:
        d["body_model"] = {"name": getattr(body, "name", ""), "path": getattr(body, "path", ""),
                           "vertices": int(body.num_vertices), "faces": int(len(body.faces)),
                           "source": getattr(body, "source", ""), "licence": getattr(body, "licence", "")}
    if instances is not None:
        d["instances"] = [{"instance_id": int(i.instance_id), "name": i.name} for i in instances]
    for f, cam in zip(frames or [], cameras or []):
        d["frames"].append({"index": int(f), "file": f"{int(f) + 1:06d}", "K": cam.K.tolist(),
                            "world_to_camera": cam.world_to_camera.tolist()})
    if extra:
        d.update(extra)
    return d
