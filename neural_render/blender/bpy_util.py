"""Small bpy helpers every Blender-side module shares: silencing Blender's C-level stdout and
building a triangle mesh from numpy arrays. bpy is imported inside the functions."""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
from typing import Callable, Iterator

import numpy as np


@contextlib.contextmanager
def quiet_stdout() -> Iterator[Callable[[], str]]:
    """Send what is written to file descriptor 1 meanwhile (Blender's C code: render logs, the FBX
    importer's "FBX version: 7400") to a temporary file, so the CLI's stdout (`--json`) stays clean.

    Yields a function returning the captured text. NEURAL_RENDER_BLENDER_LOG=1 keeps the output
    on stdout; without a file descriptor 1 (embedded Python) nothing is redirected.
    """
    if os.environ.get("NEURAL_RENDER_BLENDER_LOG") == "1":
        yield lambda: ""
        return
    sys.stdout.flush()
    try:
        saved = os.dup(1)
    except OSError:
        yield lambda: ""
        return
    with tempfile.TemporaryFile(mode="w+b") as tmp:
        os.dup2(tmp.fileno(), 1)
        try:
            yield lambda: (tmp.seek(0), tmp.read().decode("utf-8", "replace"))[1]
        finally:
            sys.stdout.flush()
            os.dup2(saved, 1)
            os.close(saved)


def new_triangle_mesh(name: str, vertices: np.ndarray, faces: np.ndarray, vt: np.ndarray | None = None,
                      ft: np.ndarray | None = None, calc_edges: bool = False):
    """A bpy mesh datablock from vertices (V, 3) and triangles (F, 3), with the UV layer "UVMap"
    when vt (T, 2) and ft (F, 3) are given (flat shading; callers set smoothing and attributes)."""
    import bpy

    V, F = len(vertices), len(faces)
    me = bpy.data.meshes.new(name)
    me.vertices.add(V)
    me.vertices.foreach_set("co", np.asarray(vertices, np.float32).ravel())
    me.loops.add(3 * F)
    me.loops.foreach_set("vertex_index", np.asarray(faces, np.int32).ravel())
    me.polygons.add(F)
    me.polygons.foreach_set("loop_start", np.arange(0, 3 * F, 3, dtype=np.int32))
    me.update(calc_edges=calc_edges)
    if vt is not None and ft is not None:
        uvl = me.uv_layers.new(name="UVMap")
        uvl.data.foreach_set("uv", np.asarray(vt, np.float32)[np.asarray(ft).ravel()].ravel())
    return me


def scratch_dir(prefix: str, in_ram: bool = True) -> str:
    """A new scratch folder `<prefix><pid>_*` for Blender's per-frame files, in RAM (/dev/shm) when
    `in_ram` and the machine has it, else in the temporary folder; folders with the same prefix
    left by processes that died are swept first."""
    from neural_render.fileio import sweep_dead_pid_dirs

    base = "/dev/shm" if in_ram and os.path.isdir("/dev/shm") else tempfile.gettempdir()
    sweep_dead_pid_dirs(base, prefix)
    return tempfile.mkdtemp(prefix=f"{prefix}{os.getpid()}_", dir=base)
