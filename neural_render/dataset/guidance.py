"""Guidance passes (skeleton, parts, normal, depth, uv) for dataset frames, through neural_render.passes.

The dataset does not render these itself: it hands the sample's people (per-frame world vertices,
BODY_25 keypoints, instance id p + 1) and its camera to the passes renderer's in-memory API
(`neural_render.passes.render.iter_frame_passes`, renderer "blender" (Cycles, default) or "raster"
(OpenGL)), and writes the buffers with the passes' own encoders into the dataset's folders:

    skeleton/NNNNNN.png   parts/NNNNNN.png   normal/NNNNNN.png   uv/NNNNNN.png
    depth/NNNNNN.exr (metric, planar)  depth/NNNNNN.png (uint16, normalized once per SAMPLE: the
    sample's near/far are in its label file)

The same render's instance buffer (pixel-centre samples, exact) is returned for the labels, so
masks, parts and keypoint visibility come from one render.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from neural_render.fileio import write_image


class Guidance:
    """A passes renderer kept for the life of the worker process (it owns a Blender scene or GL context)."""

    def __init__(self, renderer: str, width: int, height: int):
        from neural_render.renderers import make_renderer

        self.renderer_name = renderer
        self.size = (int(width), int(height))
        self.renderer = make_renderer(renderer, width, height)

    def close(self) -> None:
        self.renderer.close()

    def frames(self, cfg: dict, posed):
        """Yield per frame the passes' dict (buffers, "skeleton", "keypoints", ...)."""
        from neural_render.camera import Camera
        from neural_render.passes.render import iter_frame_passes
        from neural_render.passes.scene import BodyInstance

        from neural_render.dataset.sampling import get_body

        from neural_render.passes.spec import get_profile, hand_part_labels

        hand_parts = get_profile(cfg["guidance"]["profile"]).hand_parts
        instances = []
        for p, person in enumerate(posed.people):
            body = get_body(person.model)
            parts = hand_part_labels(body) if hand_parts and person.parts is not None else person.parts
            instances.append(BodyInstance.from_vertices(
                person.vertices, person.faces, parts, vt=body.vt, ft=body.ft,
                keypoints=person.body25, instance_id=p + 1, name=f"person{p}", wholebody=person.wholebody))
        cam = Camera(posed.K, posed.world_to_camera, posed.width, posed.height)
        F = cfg["frames_per_sample"]
        yield from iter_frame_passes(instances, [cam] * F, self.size, frames=list(range(F)),
                                     renderer=self.renderer, profile=cfg["guidance"]["profile"])


def write_frame(out_dir: Path, name: str, fr: dict, passes: list[str], profile: str) -> list[Path]:
    """Write one frame's guidance passes; returns the written paths (depth PNG comes later)."""
    from neural_render.passes.writer import write_frame_files

    return write_frame_files(out_dir, name, fr, [p for p in passes if p not in ("mask", "instance")], profile)


def write_depth_pngs(out_dir: Path, names: list[str], depths: list[np.ndarray], masks: list[np.ndarray]):
    """Depth PNGs normalized once over the sample's frames; returns (paths, [near, far])."""
    from neural_render.passes.writer import encode_depth_png

    vals = [d[m] for d, m in zip(depths, masks) if m.any()]
    near, far = (float(min(v.min() for v in vals)), float(max(v.max() for v in vals))) if vals else (0.0, 1.0)
    paths = []
    for name, d in zip(names, depths):
        p = Path(out_dir) / "depth" / f"{name}.png"
        write_image(p, encode_depth_png(d, near, far))
        paths.append(p)
    return paths, [near, far]
