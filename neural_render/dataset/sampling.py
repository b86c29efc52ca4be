"""Seeded scene randomization: one scene = a pure function of (config, sample index).

`sample_scene(cfg, index)` draws everything random about scene `index` from
`numpy.random.default_rng(SeedSequence([seed, index]))`, so a scene never depends on which worker
renders it or on what was rendered before. `pose_scene(spec, cfg)` then poses the bodies (numpy
LBS), places people on the ground, and aims the camera; it draws nothing random.

World frame: Blender's, Z-up, metres (motions with up="z" pose straight into it). Cameras: OpenCV
convention, K (3x3) and world_to_camera (4x4); pixel (row i, column j) has its centre at
(u, v) = (j, i), so a projected point falls in pixel (round(v), round(u)) and the principal point of
a centred lens is ((W - 1) / 2, (H - 1) / 2) (as OpenCV and the COCO keypoint annotations).
"""

from __future__ import annotations

import colorsys
import functools
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from neural_render.camera import intrinsics, look_at_world_to_camera
from neural_render.errors import InputError
from neural_render.motion import rotations


@dataclass
class PersonSpec:
    model: str                 # "default" or an SMPL file path
    betas: list                # shape components (config's num_betas; padded to the model's)
    motion: str                # motion file path
    start_time: float          # seconds into the motion where the sub-clip starts
    yaw: float                 # radians about world +z applied to the whole clip
    offset: list               # [x, y] metres on the ground plane
    clothing: dict             # colours (linear RGB 0..1), pattern, scale, skin tone


@dataclass
class SceneSpec:
    index: int
    people: list[PersonSpec]
    camera: dict               # azimuth/elevation (rad), distance (m), focal_mm, sensor_mm, look_at_height
    light: dict                # sun_strength, sun_elevation/azimuth (rad), ambient, colour
    background: dict           # {"type": "procedural", "seed": int, ...} or {"type": "images", "path", crop}
    render_seed: int           # Cycles seed


@dataclass
class PosedPerson:
    poses: np.ndarray          # (F, 72) axis-angle, up="z" convention (root includes Y-up -> Z-up)
    betas: np.ndarray          # (B,) the model's full shape vector
    trans: np.ndarray          # (F, 3) metres, such that body.forward(poses, betas, trans) is world
    vertices: np.ndarray       # (F, V, 3) world, metres
    joints: np.ndarray         # (F, 24, 3)
    body25: np.ndarray         # (F, 25, 3)
    coco17: np.ndarray         # (F, 17, 3)
    model: str
    faces: np.ndarray          # (Fc, 3)
    parts: np.ndarray | None   # (V,) 1..24
    wholebody: np.ndarray | None = None  # (F, 133, 3) COCO-WholeBody, when the body has that regressor
    garments: list = field(default_factory=list)  # PosedGarment per garment / hair mesh


@dataclass
class PosedGarment:
    name: str                  # "tshirt", "skirt", "hair_long", ...
    label: str                 # segmentation class (neural_render.body.garments.SEGMENTATION_CLASSES)
    faces: np.ndarray          # (Fg, 3)
    rest: np.ndarray           # (G, 3) rest-pose model-space positions (texture coordinates)
    vertices: np.ndarray       # (F, G, 3) world, metres


@dataclass
class PosedScene:
    spec: SceneSpec
    people: list[PosedPerson]
    K: np.ndarray              # (3, 3)
    world_to_camera: np.ndarray  # (4, 4) OpenCV
    width: int
    height: int
    frame_times: list = field(default_factory=list)  # seconds into each person's clip


def scene_rng(cfg: dict, index: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([int(cfg["seed"]), int(index)]))


def _u(rng, lo_hi):
    lo, hi = lo_hi
    return float(lo if lo == hi else rng.uniform(lo, hi))


def _colour(rng, sat=(0.2, 0.9), val=(0.15, 0.9)) -> list:
    h = rng.uniform(0, 1)
    return list(colorsys.hsv_to_rgb(h, rng.uniform(*sat), rng.uniform(*val)))


def sample_scene(cfg: dict, index: int) -> SceneSpec:
    """Draw scene `index` (people, shapes, sub-clips, clothing, camera, light, background)."""
    rng = scene_rng(cfg, index)
    n = int(rng.integers(cfg["people"]["min"], cfg["people"]["max"] + 1))
    clip_len = (cfg["frames_per_sample"] - 1) * cfg["frame_step"] / cfg["motions"]["fps"]
    people = []
    # People stand on a ring around the group centre so they rarely intersect; the first at the origin.
    ring_angle = rng.uniform(0, 2 * np.pi)
    # Proportions (bodies.proportions_std) come from their own stream: turning them on changes
    # nothing else in the scene.
    prop_std = float(cfg["bodies"].get("proportions_std", 0.0))
    prop_rng = np.random.default_rng(np.random.SeedSequence([int(cfg["seed"]), int(index), 1]))
    for p in range(n):
        model = cfg["bodies"]["models"][int(rng.integers(len(cfg["bodies"]["models"])))]
        betas = (rng.normal(0, 1, cfg["bodies"]["num_betas"]) * cfg["bodies"]["betas_std"]).tolist()
        if prop_std > 0:  # after the 10 phenotype components, as in the default body's shape space
            from neural_render.body.proportions import PROPORTION_NAMES
            betas = (betas + [0.0] * 10)[:10] + (prop_rng.normal(0, 1, len(PROPORTION_NAMES)) * prop_std).tolist()
        motion = cfg["motions"]["sources"][int(rng.integers(len(cfg["motions"]["sources"])))]
        duration = motion_duration(motion, cfg["motions"]["fps"])
        start = float(rng.uniform(0, max(duration - clip_len, 0.0)))
        yaw = float(rng.uniform(-np.pi, np.pi)) if cfg["motions"]["random_yaw"] else 0.0
        if p == 0:
            offset = [0.0, 0.0]
        else:
            a = ring_angle + 2 * np.pi * p / n + rng.uniform(-0.4, 0.4)
            r = rng.uniform(1.0, 1.8)
            offset = [float(r * np.cos(a)), float(r * np.sin(a))]
        pattern = cfg["clothing"]["patterns"][int(rng.integers(len(cfg["clothing"]["patterns"])))]
        tone = rng.uniform(0, 1)
        skin = [0.9 - 0.65 * tone, 0.62 - 0.47 * tone, 0.48 - 0.38 * tone]  # light .. dark, linear RGB
        clothing = {"pattern": pattern, "shirt": _colour(rng), "shirt2": _colour(rng),
                    "trousers": _colour(rng, val=(0.05, 0.6)), "trousers2": _colour(rng, val=(0.05, 0.6)),
                    "shoes": _colour(rng, sat=(0.0, 0.4), val=(0.02, 0.3)), "skin": skin,
                    "scale": float(rng.uniform(4.0, 20.0)), "sleeves": bool(rng.uniform() < 0.5),
                    "shorts": bool(rng.uniform() < 0.3)}
        if cfg.get("garments", {}).get("enabled"):
            # Own stream per person: garments on/off or their distributions change nothing else.
            from neural_render.dataset.outfits import sample_outfit

            orng = np.random.default_rng(np.random.SeedSequence([int(cfg["seed"]), int(index), 2, p]))
            clothing["outfit"] = sample_outfit(orng, cfg["garments"], [pt for pt in cfg["clothing"]["patterns"]
                                                                        if pt != "solid"] or None)
        people.append(PersonSpec(model, betas, motion, start, yaw, offset, clothing))
    cc = cfg["camera"]
    camera = {"azimuth": float(np.deg2rad(_u(rng, cc["azimuth_deg"]))),
              "elevation": float(np.deg2rad(_u(rng, cc["elevation_deg"]))),
              "distance": _u(rng, cc["distance"]), "focal_mm": _u(rng, cc["focal_mm"]),
              "sensor_mm": float(cc["sensor_mm"]), "look_at_height": _u(rng, cc["look_at_height"])}
    lc = cfg["lighting"]
    light = {"sun_strength": _u(rng, lc["sun_strength"]),
             "sun_elevation": float(np.deg2rad(_u(rng, lc["sun_elevation_deg"]))),
             "sun_azimuth": float(rng.uniform(-np.pi, np.pi)), "ambient": _u(rng, lc["ambient"]),
             "sun_colour": [1.0, float(rng.uniform(0.85, 1.0)), float(rng.uniform(0.7, 1.0))],
             "sky_colour": _colour(rng, sat=(0.0, 0.4), val=(0.6, 1.0))}
    bc = cfg["background"]
    if bc["type"] == "images":
        bg = {"type": "images", "path": bc["images"][int(rng.integers(len(bc["images"])))],
              "zoom": float(rng.uniform(1.0, 1.6)), "cx": float(rng.uniform(0, 1)), "cy": float(rng.uniform(0, 1)),
              "flip": bool(rng.uniform() < 0.5)}
    else:
        bg = {"type": "procedural", "seed": int(rng.integers(2**31 - 1)),
              "top": _colour(rng, sat=(0.0, 0.6), val=(0.3, 1.0)), "bottom": _colour(rng, sat=(0.0, 0.6), val=(0.1, 0.7)),
              "horizon": float(rng.uniform(0.35, 0.75)), "blobs": int(rng.integers(0, 12))}
    return SceneSpec(index=int(index), people=people, camera=camera, light=light, background=bg,
                     render_seed=int(rng.integers(2**31 - 1)))


# ----------------------------------------------------------------------------------------------
# Cached per-process resources (bodies, motions). Loading is deterministic, so caching per worker
# cannot change results.

@functools.lru_cache(maxsize=8)
def get_body(model: str):
    from neural_render.body import load_body

    return load_body(None if model == "default" else model)


@functools.lru_cache(maxsize=64)
def get_motion(path: str, fps: float) -> dict:
    """Motion as {"poses": (T,72) up="z", "trans": (T,3), "fps": float} (Z-up world)."""
    return _load_motion(Path(path), fps)


def motion_duration(path: str, fps: float) -> float:
    m = get_motion(path, fps)
    return (m["poses"].shape[0] - 1) / m["fps"]


def _load_motion(path: Path, fps: float) -> dict:
    """Canonical .npz directly; any other source (BVH, FBX, AMASS, SMPL pkl, .smpl) through
    `neural_render.motion.importers.import_motion`, retargeted to the default body once and cached
    as a canonical .npz keyed by the file's content (see `converted_motion_path`)."""
    from neural_render.motion import Motion

    suffix = path.suffix.lower()
    m = None
    if suffix == ".npz":
        try:
            m = Motion.load(path)
        except InputError:
            m = None  # maybe an AMASS file: try the importers below
    if m is None:
        cached = converted_motion_path(path)
        if not cached.is_file():
            convert_motion(path, cached)
        m = Motion.load(cached)
    if m.up != "z":
        m = m.with_up("z", get_body("default"))
    if m.num_frames < 1 or not np.all(np.isfinite(m.poses)) or not np.all(np.isfinite(m.trans)):
        raise InputError("motion has no frames or non-finite values", path=path, fix="re-export the motion")
    return {"poses": np.asarray(m.poses, np.float64), "trans": np.asarray(m.trans, np.float64), "fps": float(m.fps)}


def converted_motion_path(path: Path) -> Path:
    """Where the canonical conversion of a non-canonical motion source is cached."""
    import hashlib
    import os

    from neural_render.motion.retarget import RETARGET_VERSION

    digest = hashlib.sha256(Path(path).read_bytes()).hexdigest()[:20]
    base = Path(os.environ.get("NEURAL_RENDER_CACHE", Path.home() / ".cache" / "neural_render"))
    # The retargeter's version is part of the key: a changed retargeting must not reuse old files.
    return base / "motions" / f"{Path(path).stem}.{digest}.r{RETARGET_VERSION}.npz"


def convert_motion(path: Path, cached: Path) -> None:
    """Import a motion source (retargeted to the default body, its own proportions) and save it
    as canonical .npz.

    FBX import runs Blender's importer in this process, so the batch driver converts every source
    before any worker builds a scene (`prepare_motions`)."""
    from neural_render.motion.importers import import_motion

    # shape="body": the motion is made for the default body's proportions; every person of a
    # scene then takes its own sampled shape (source-matched proportions would distort the mesh).
    motion, _report = import_motion(path, body=get_body("default"), shape="body")
    motion.save(cached)


def prepare_motions(cfg: dict) -> None:
    """Convert (once, cached) every non-canonical motion source of the config; call before rendering."""
    from neural_render.motion import Motion

    for src in cfg["motions"]["sources"]:
        p = Path(src)
        if p.suffix.lower() == ".npz":
            try:
                Motion.load(p)
                continue
            except InputError:
                pass
        cached = converted_motion_path(p)
        if not cached.is_file():
            convert_motion(p, cached)


# ----------------------------------------------------------------------------------------------

def frame_times(cfg: dict) -> np.ndarray:
    """Seconds from the sub-clip start of each rendered frame."""
    return np.arange(cfg["frames_per_sample"]) * cfg["frame_step"] / cfg["motions"]["fps"]


def pose_scene(spec: SceneSpec, cfg: dict) -> PosedScene:
    """Pose every person of `spec` for the scene's frames, ground them, aim the camera."""
    times = frame_times(cfg)
    people = []
    for ps in spec.people:
        body = get_body(ps.model)
        m = get_motion(ps.motion, cfg["motions"]["fps"])
        T = m["poses"].shape[0]
        # Nearest source frame at each time (no interpolation: labels stay exact mocap frames).
        idx = np.clip(np.rint((ps.start_time + times) * m["fps"]).astype(int), 0, T - 1)
        betas = np.zeros(body.num_betas)
        nb = min(len(ps.betas), body.num_betas)
        if cfg["bodies"].get("proportions_std", 0.0) > 0 and nb > 10 and \
                not any(n.startswith("proportion_") for n in body.shape_names[10:]):
            nb = 10  # proportion draws mean nothing to a body without them (an SMPL file)
        betas[:nb] = ps.betas[:nb]
        J0 = body.rest_joints(betas)[0].astype(np.float64)

        def placed(src_idx, ps=ps, m=m, J0=J0, start=int(idx[0])):
            """Poses and trans of source frames `src_idx`, re-placed: the clip starts over the origin,
            turned by yaw about +z, shifted by offset. Turning the posed body by R about the origin:
            root' = R root, trans' = R (J0 + trans) - J0."""
            poses = m["poses"][src_idx].copy()
            trans = m["trans"][src_idx].copy()
            trans[:, :2] -= m["trans"][start, :2]
            R = rotations.axis_rotation("Z", ps.yaw)
            poses[:, :3] = rotations.matrix_to_aa(R[None] @ rotations.aa_to_matrix(poses[:, :3]))
            trans = (J0 + trans) @ R.T - J0
            trans[:, 0] += ps.offset[0]
            trans[:, 1] += ps.offset[1]
            return poses, trans

        poses, trans = placed(idx)
        out = body.forward(poses, betas, trans)
        outfit = ps.clothing.get("outfit")
        cloth = cfg.get("garments", {}).get("cloth", {})
        if outfit and cloth.get("enabled"):
            garments = _simulated_garments(body, outfit, betas, placed, idx, m["fps"], float(cloth["lead_in_s"]),
                                           out.vertices)
        else:
            garments = _posed_garments(body, outfit, poses, betas, trans, out.vertices)
        # Stand on the ground: lowest vertex (body or shoe) of the sub-clip at z = 0.
        dz = -min([float(out.vertices[..., 2].min())] + [float(g.vertices[..., 2].min()) for g in garments])
        for g in garments:
            g.vertices = g.vertices + np.array([0.0, 0.0, dz], np.float32)
        trans[:, 2] += dz
        shift = np.array([0.0, 0.0, dz], np.float32)
        people.append(PosedPerson(
            poses=poses.astype(np.float32), betas=betas.astype(np.float32), trans=trans.astype(np.float32),
            vertices=out.vertices + shift, joints=out.joints + shift, body25=out.body25 + shift,
            coco17=out.coco17 + shift, model=ps.model, faces=body.faces, parts=body.parts,
            wholebody=(body.keypoints(out.vertices, out.joints, "wholebody") + shift
                       if "wholebody" in body.keypoint_regressors else None),
            garments=garments))
    W, H = cfg["resolution"]
    K, w2c = aim_camera(spec.camera, people, W, H)
    return PosedScene(spec, people, K, w2c, W, H, times.tolist())


def _posed_garments(body, outfit: dict | None, poses, betas, trans, body_vertices) -> list[PosedGarment]:
    """The outfit's garment meshes posed with the body (skinned, then pushed out of the skin)."""
    if not outfit:
        return []
    from neural_render.body import garments as G

    gs = G.build_outfit(body, betas, outfit)
    posed = G.push_out(body_vertices, body.faces, G.pose_garments(body, gs, poses, betas, trans))
    return [PosedGarment(g.name, g.label, g.faces, g.rest.astype(np.float32), v) for g, v in zip(gs, posed)]


def _simulated_garments(body, outfit: dict, betas, placed, idx: np.ndarray, fps: float, lead_in_s: float,
                        body_vertices) -> list[PosedGarment]:
    """The outfit posed with its loose garments simulated as cloth (`neural_render.blender.cloth`).

    The simulation runs at the motion's own frame rate: `lead_in_s` seconds in which the body moves from
    its rest pose (where the garments were made, free of the legs) into the first rendered pose, then
    every source frame up to the last rendered one; the rendered frames `idx` are picked from it and
    pushed out of the skin like skinned garments."""
    from neural_render.blender.cloth import simulate_garments
    from neural_render.body import garments as G

    gs = G.build_outfit(body, betas, outfit)
    poses, trans = placed(np.arange(int(idx[0]), int(idx[-1]) + 1))
    n_lead = int(round(lead_in_s * fps))
    poses = np.concatenate([G.lead_in_poses(poses[0], n_lead), poses])
    trans = np.concatenate([np.repeat(trans[:1], n_lead, 0), trans])
    verts = body.forward(poses, betas, trans, keypoints=False).vertices
    skinned = G.pose_garments(body, gs, poses, betas, trans)
    if any(g.pin is not None for g in gs):
        skinned = simulate_garments(body.faces, gs, verts, skinned, fps, floor_from=n_lead)
    rows = np.asarray(idx, np.int64) - int(idx[0]) + n_lead
    posed = G.push_out(body_vertices, body.faces, [v[rows] for v in skinned])
    return [PosedGarment(g.name, g.label, g.faces, g.rest.astype(np.float32), v) for g, v in zip(gs, posed)]


def aim_camera(cam: dict, people: list[PosedPerson], W: int, H: int):
    """Place the camera around the group so every joint of every frame is in view."""
    # The sensor spans the larger image side, as the RGB renderer's Blender camera (sensor_fit AUTO).
    K = intrinsics(W, H, cam["focal_mm"], cam["sensor_mm"], sensor_fit="AUTO")
    pts = np.concatenate([p.vertices[:, ::7].reshape(-1, 3) for p in people])
    centre = np.array([*(0.5 * (pts[:, :2].min(0) + pts[:, :2].max(0))), cam["look_at_height"]])
    # Heading 0 = in front of the first person (its body faces the pelvis -> root rotation's +z axis).
    root = rotations.aa_to_matrix(people[0].poses[0, :3])
    facing = root @ np.array([0.0, 0.0, 1.0])
    base = np.arctan2(facing[1], facing[0])
    az, el = base + cam["azimuth"], cam["elevation"]
    direction = np.array([np.cos(el) * np.cos(az), np.cos(el) * np.sin(az), np.sin(el)])
    # Smallest distance >= the sampled one at which all points fit with a 5% margin.
    half_fov = np.arctan(0.5 * min(W, H) / K[0, 0]) * 0.95
    d = cam["distance"]
    for _ in range(40):
        eye = centre + d * direction
        w2c = look_at_world_to_camera(eye, centre)
        pc = pts @ w2c[:3, :3].T + w2c[:3, 3]
        if np.all(pc[:, 2] > 0.1):
            ang = np.max(np.abs(np.arctan2(pc[:, :2], pc[:, 2:3])))
            if ang <= half_fov:
                break
        d *= 1.1
    return K, w2c


