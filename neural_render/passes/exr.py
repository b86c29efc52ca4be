"""EXR input/output with the OpenEXR package (OpenCV cannot read Blender's multi-part EXR).

- `write_depth_exr(path, depth)`: one float32 channel "Z" (metres, 0 = background), ZIP, atomic.
- `read_depth_exr(path)` -> (H, W) float32.
- `read_exr_channels(path)`: every channel of every part of a (multilayer) EXR, name -> array,
  row 0 at the top (how Blender's render results are read back).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from neural_render.fileio import atomic_path


def write_depth_exr(path: str | Path, depth: np.ndarray) -> None:
    import OpenEXR

    with atomic_path(path) as tmp:
        header = {"compression": OpenEXR.ZIP_COMPRESSION, "type": OpenEXR.scanlineimage}
        with OpenEXR.File(header, {"Z": np.ascontiguousarray(depth, np.float32)}) as f:
            f.write(str(tmp))


def read_depth_exr(path: str | Path) -> np.ndarray:
    import OpenEXR

    with OpenEXR.File(str(path)) as f:
        return np.asarray(f.channels()["Z"].pixels, np.float32)


def read_exr_channels(path: str | Path) -> dict[str, np.ndarray]:
    import OpenEXR

    out = {}
    with OpenEXR.File(str(path)) as f:
        for part in f.parts:
            for name, ch in part.channels.items():
                out[name] = np.asarray(ch.pixels)
    return out
