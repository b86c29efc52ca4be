"""Motion: the canonical Motion, importers (BVH, FBX, AMASS/SMPL, .smpl, keypoints), retargeting,
normalization and filters. Only numpy at import time (Blender's Python imports this)."""

from neural_render.motion.motion import Motion

__all__ = ["Motion"]
