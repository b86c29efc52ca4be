"""Motion: the canonical Motion, importers (BVH, FBX, AMASS/SMPL, .smpl, keypoints), retargeting,
normalization and filters. Only numpy at import time (Blender's Python imports this).

    from neural_render.motion import Motion, import_motion
    motion, report = import_motion("clip.bvh", fps=30)     # Z-up, on the default body
    motion.save("motion.npz")

The two names are resolved on first use (PEP 562), so importing a leaf such as
`neural_render.motion.rotations` (which `body/` does) runs no other module of the package.
"""

from __future__ import annotations

__all__ = ["Motion", "import_motion"]


def __getattr__(name: str):
    if name == "Motion":
        from neural_render.motion.motion import Motion

        return Motion
    if name == "import_motion":
        from neural_render.motion.importers import import_motion

        return import_motion
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
