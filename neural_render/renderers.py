"""The pass renderer chosen by name, above both renderers' packages.

`passes.render` renders with a renderer object and never imports blender/; this module is the one
place that maps a name to a renderer:
  "raster"  -> `passes.raster.RasterRenderer` (OpenGL offscreen, EGL/OSMesa)
  "blender" -> `blender.render.BlenderRenderer` (Cycles through the bpy module)
Its `iter_frame_passes` / `render_passes` take the name (as the CLI's `--renderer`), make the
renderer, call `passes.render`'s function of the same name with it and close it afterwards.
Both renderers are imported lazily: importing this module needs neither OpenGL nor bpy.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

import numpy as np

from neural_render.errors import InputError

RENDERERS = ("raster", "blender")


def make_renderer(name: str, width: int, height: int, egl_device: int | str | None = None):
    """A new renderer of `width` x `height` pixels; the caller closes it. egl_device: raster only
    (see `passes.raster.resolve_egl_device`; None = $NEURAL_RENDER_EGL_DEVICE or the first)."""
    if name == "raster":
        from neural_render.passes.raster import RasterRenderer

        return RasterRenderer(width, height, egl_device=egl_device)
    if name == "blender":
        from neural_render.blender.render import BlenderRenderer

        return BlenderRenderer(width, height)
    raise InputError(f"unknown renderer '{name}'", where="--renderer", fix=f"use one of {RENDERERS}")


@contextmanager
def open_renderer(name: str, width: int, height: int):
    """`make_renderer` as a context manager that closes the renderer on leaving."""
    renderer = make_renderer(name, width, height)
    try:
        yield renderer
    finally:
        renderer.close()


def iter_frame_passes(instances, cameras, size, frames=None, renderer: str = "raster", *args, **kwargs) -> Iterator[dict]:
    """`passes.render.iter_frame_passes` with the renderer named (a renderer object passes through)."""
    from neural_render.passes import render

    if not isinstance(renderer, str):
        yield from render.iter_frame_passes(instances, cameras, size, frames, renderer, *args, **kwargs)
        return
    with open_renderer(renderer, *_size(size)) as r:
        yield from render.iter_frame_passes(instances, cameras, size, frames, r, *args, **kwargs)


def render_passes(instances, cameras, out_dir, size=512, frames=None, renderer: str = "raster", **kwargs) -> dict:
    """`passes.render.render_passes` with the renderer named (a renderer object passes through)."""
    from neural_render.passes import render

    if not isinstance(renderer, str):
        return render.render_passes(instances, cameras, out_dir, size, frames, renderer, **kwargs)
    with open_renderer(renderer, *_size(size)) as r:
        return render.render_passes(instances, cameras, out_dir, size, frames, r, **kwargs)


def _size(size) -> tuple[int, int]:
    """(W, H) from N or (W, H)."""
    return (int(size), int(size)) if np.isscalar(size) else (int(size[0]), int(size[1]))
