"""Motion: the canonical Motion, importers (BVH, FBX, AMASS/SMPL, .smpl, keypoints), retargeting,
normalization and filters. Only numpy at import time (Blender's Python imports this).

    from neural_render.motion import Motion, import_motion
    motion, report = import_motion("clip.bvh", fps=30)     # Z-up, on the default body
    motion.save("motion.npz")
"""

from neural_render.motion.importers import import_motion
from neural_render.motion.motion import Motion

__all__ = ["Motion", "import_motion"]
