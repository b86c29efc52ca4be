"""The guidance-pass specification: names, profiles, encodings, palettes, file naming.

Both renderers (Blender in `neural_render.blender.render`, the off-Blender one in
`neural_render.passes.raster`) produce exactly these passes, with these conventions, and
`neural_render.passes.legend.legend` writes them into `legend.json` beside every render.

Passes (one folder each, files `NNNNNN.png` with NNNNNN = motion frame index + 1):

- ``skeleton`` RGB8 PNG: OpenPose-style drawing of the body's *projected* keypoints (never
  re-detected), style ``body25`` (OpenPose BODY_25 palette) or ``coco18`` (ControlNet/OpenPose
  COCO-18 look). Per-keypoint pixel position, depth and visibility go to
  ``skeleton/keypoints.npz`` (and ``keypoints.json``) for the whole sequence.
- ``parts`` uint8 PNG: 0 = background, 1..24 = SMPL part in SMPL joint order (SURREAL convention).
  Profile ``champ`` writes an RGB PNG in 24 viridis colours instead (background black).
- ``normal`` PNG, 8 bit (16 bit optional): camera-space unit normals, x right, y up, z toward the
  camera; RGB = 0.5 (n + 1); background 0.
- ``depth`` float32 EXR (channel ``Z``) of metric planar depth = OpenCV camera z in metres,
  0 = background; plus a uint16 PNG normalised once per sequence: 0 background, 65535 at the
  sequence's nearest depth, 1 at its farthest, linear in metres in between.
- ``mask`` uint8 PNG 0/255, the union of all people.
- ``uv`` uint8 RGB PNG, IUV-like: R = part label 0..24, G = round(255 u), B = round(255 v)
  (u, v = the body's texture coordinates, v up as in OBJ/Blender); background 0.
- ``instance`` (extra, written when a scene holds more than one person or on request) uint8 PNG:
  0 = background, k = the person with instance_id k.

Only numpy at import time: Blender's Python imports this module.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np

PASS_NAMES: tuple[str, ...] = ("skeleton", "parts", "normal", "depth", "mask", "uv")
EXTRA_PASS_NAMES: tuple[str, ...] = ("instance",)
ALL_PASS_NAMES: tuple[str, ...] = PASS_NAMES + EXTRA_PASS_NAMES
SKELETON_STYLES: tuple[str, ...] = ("body25", "coco18", "wholebody")
SPEC_VERSION = 1

# COCO visibility flags used in keypoints.npz/json (the COCO keypoint annotation convention).
VIS_OUTSIDE, VIS_OCCLUDED, VIS_VISIBLE = 0, 1, 2


@dataclass(frozen=True)
class Profile:
    """A named set of encodings. `default` is the reference; others change colours only."""

    name: str
    parts_encoding: str          # "label" (uint8 0..24) or "rgb" (palette colours)
    parts_palette: str           # palette file used for parts colours (previews, or the PNG itself)
    skeleton_style: str          # "body25" or "coco18"
    normal_bits: int = 8
    description: str = ""
    extra: dict = field(default_factory=dict)
    hand_parts: bool = False     # fingers get their own labels 25..34 (bodies with hands)


PROFILES: dict[str, Profile] = {
    "default": Profile(
        name="default", parts_encoding="label", parts_palette="parts_default", skeleton_style="body25",
        description="parts as uint8 labels 0..24 in SMPL joint order (SURREAL), OpenPose BODY_25 skeleton, "
                    "camera-space normals"),
    "champ": Profile(
        name="champ", parts_encoding="rgb", parts_palette="parts_champ_viridis", skeleton_style="body25",
        description="Champ-style guidance: parts as 24 viridis colours (RGB PNG), view-space (= camera-space) "
                    "normals, OpenPose BODY_25 skeleton"),
    "hands": Profile(
        name="hands", parts_encoding="label", parts_palette="parts_hands", skeleton_style="wholebody",
        hand_parts=True,
        description="parts as uint8 labels 0..34: SMPL's 1..24 (23/24 = the palms, the fingers split off), "
                    "25..29 left thumb/index/middle/ring/little finger, 30..34 the right hand's; DWPose whole-body "
                    "skeleton; camera-space normals"),
}


def get_profile(name: str) -> Profile:
    if name not in PROFILES:
        from neural_render.errors import InputError

        raise InputError(f"unknown profile '{name}'", where="--profile", fix=f"use one of {sorted(PROFILES)}")
    return PROFILES[name]


@lru_cache(maxsize=None)
def load_palette(name: str) -> dict:
    """A palette from smpl_assets/palettes/<name>.json (colours are RGB 0..255 lists)."""
    from neural_render.paths import asset

    with open(asset("palettes", f"{name}.json"), encoding="utf-8") as f:
        return json.load(f)


def parts_colors(profile: str | Profile = "default") -> np.ndarray:
    """(25, 3) uint8 colour table indexed by part label (row 0 = background); (35, 3) for a
    profile with hand parts."""
    prof = get_profile(profile) if isinstance(profile, str) else profile
    pal = load_palette(prof.parts_palette)
    return np.asarray([pal["background"]] + pal["colors"], np.uint8)


def frame_filename(frame_index: int, ext: str = ".png") -> str:
    """File name of a motion frame: index 0 -> '000001.png' (frame index + 1, zero-padded to 6)."""
    return f"{int(frame_index) + 1:06d}{ext}"


def hand_part_labels(body) -> np.ndarray:
    """(V,) uint8 part labels with the hands split into palm and fingers (profile "hands"): the
    body's SMPL labels; 23/24 (SMPL's left/right hand) = the palm: wrist-skinned skin past 15 % of
    the way from the wrist to the middle knuckle; 25 + 5 side + finger (thumb, index, middle, ring,
    little) where the vertex's strongest SMPL-H weight is a finger joint. The body's own labels
    when it has no hands."""
    from neural_render.body.skeletons import MANO_FINGERS

    parts = np.asarray(body.parts, np.uint8).copy()
    if getattr(body, "hands", None) is None:
        return parts
    owner = np.argmax(body.hands.weights, 1)
    # Palms: wrist-skinned skin past the wrist joint toward the knuckles (23 left, 24 right).
    v = np.asarray(body.hands.v_template, np.float64)
    J = np.asarray(body.hands.J_regressor, np.float64) @ v
    for side, (wrist, middle1, label) in enumerate(((20, 25, 23), (21, 40, 24))):
        d = J[middle1] - J[wrist]
        t = (v - J[wrist]) @ d / (d @ d)
        parts[(owner == wrist) & (t > 0.15)] = label
    coco = ("thumb", "index", "middle", "ring", "pinky")
    for j in range(22, 52):
        side, m = (j - 22) // 15, ((j - 22) % 15) // 3
        parts[owner == j] = 25 + 5 * side + coco.index(MANO_FINGERS[m])
    return parts


def face_parts(faces: np.ndarray, vertex_parts: np.ndarray) -> np.ndarray:
    """(F,) uint8 part label per face from (V,) vertex labels: the majority of its three corners,
    the first corner's label when all three differ. Both renderers label faces with this."""
    lab = np.asarray(vertex_parts)[np.asarray(faces)]
    a, b, c = lab[:, 0], lab[:, 1], lab[:, 2]
    return np.where((b == c) & (a != b), b, a).astype(np.uint8)


def encodings(profile: str | Profile = "default", normal_bits: int | None = None,
              skeleton_style: str | None = None) -> dict:
    """A JSON-ready description of every pass's file encoding (the heart of legend.json)."""
    prof = get_profile(profile) if isinstance(profile, str) else profile
    style = skeleton_style or prof.skeleton_style
    nb = normal_bits or prof.normal_bits
    parts = ({"file": "PNG uint8, single channel", "values": "0 = background, 1..24 = SMPL part (SMPL joint order)"
              + ("; 23/24 = left/right palm, 25..29 = left thumb, index, middle, ring, little finger, 30..34 = right"
                 if prof.hand_parts else "")}
             if prof.parts_encoding == "label" else
             {"file": "PNG RGB8", "values": f"palette '{prof.parts_palette}' colour of the part, background black"})
    return {
        "skeleton": {"file": "PNG RGB8", "style": style,
                     "keypoints_file": "skeleton/keypoints.npz (+ keypoints.json): BODY_25 whatever the style; "
                                       "uv pixels (OpenCV), depth metres, visibility, world metres",
                     "values": "OpenPose-style limbs and joints drawn from the body's projected keypoints",
                     "visibility": {"0": "outside the image", "1": "occluded", "2": "visible"}},
        "parts": parts,
        "normal": {"file": f"PNG RGB{nb}", "space": "camera: x right, y up, z toward the camera",
                   "values": f"RGB = 0.5 (n + 1) scaled to 0..{2 ** nb - 1}; background 0"},
        "depth": {"file": "EXR float32 channel Z (+ PNG uint16)",
                  "values": "planar depth = OpenCV camera z in metres, 0 = background",
                  "png": "uint16: 0 background, 65535 at 'near', 1 at 'far' (linear in metres), "
                         "near/far fixed once per sequence"},
        "mask": {"file": "PNG uint8", "values": "0 background, 255 any person"},
        "uv": {"file": "PNG RGB8", "values": "R = part 0..24, G = round(255 u), B = round(255 v), background 0",
               "uv_origin": "u right, v up (bottom-left origin, as OBJ/Blender)"},
        "instance": {"file": "PNG uint8", "values": "0 background, k = person with instance_id k"},
    }
