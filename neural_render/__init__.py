"""neural_render: SMPL bodies in Blender, guidance passes, and pose-conditioned neural rendering.

Modules that Blender's own Python imports (body, motion parsing, passes spec, blender/) need only
numpy; torch, smplx and pyrender are imported lazily where they are needed.
"""

__version__ = "0.1.0"
