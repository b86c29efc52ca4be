"""Guidance passes (parts, normal, depth, skeleton, uv) for dataset frames, through neural_render.passes.

The dataset does not render these itself: it hands the sample's people (per-frame world vertices)
and camera to the passes renderer's in-memory per-frame API and writes what comes back into the
dataset's pass folders (same encodings and legend as `neural-render passes`).
"""

from __future__ import annotations

from neural_render.errors import InputError


def make_guidance(cfg: dict, posed):
    """A callable (frame, frame_id) -> list of written paths."""
    raise InputError("guidance passes need the neural_render.passes renderer, which is not available",
                     where="key 'passes'", fix="list only 'instances' and 'mask' in passes")
