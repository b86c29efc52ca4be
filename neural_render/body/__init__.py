"""Body models: SMPL files and the free default body, LBS in numpy and torch, keypoints, parts, UVs."""

from neural_render.body.model import BodyModel, BodyOutput, body_from_arrays, load_body
from neural_render.body.skeletons import (BODY25_NAMES, COCO17_NAMES, NUM_JOINTS, SMPL_JOINT_NAMES,
                                          SMPL_PARENTS)

__all__ = ["BodyModel", "BodyOutput", "load_body", "body_from_arrays", "SMPL_JOINT_NAMES",
           "SMPL_PARENTS", "NUM_JOINTS", "BODY25_NAMES", "COCO17_NAMES"]
