"""Batch dataset configuration: the YAML schema, defaults and validation.

A config is a YAML mapping (see `example_config.yaml`, printed by `neural-render batch
--print-example`). `load_config(path)` reads and validates it; `validate(dict)` fills defaults and
returns a plain, JSON-serialisable dict (the "normalized config") that every worker receives. Every
error is an `InputError` naming the key (e.g. `camera.distance`) and the fix.

Units: metres, degrees (in the config only; converted to radians where used), seconds.

Schema (all keys optional except `samples`; defaults in DEFAULTS):
    seed: int                     master seed; sample i draws from SeedSequence([seed, i])
    samples: int >= 1             number of scenes
    frames_per_sample: int >= 1   frames rendered per scene (a sub-clip of each person's motion)
    frame_step: int >= 1          motion frames (at motions.fps) between two rendered frames
    resolution: int | [W, H]      pixels
    people: {min, max}            1..3 people per scene (uniform)
    bodies:
      models: [default | PATH]    body model per person, chosen uniformly ("default" = free body)
      betas_std: float            shape components ~ N(0, betas_std^2) ...
      num_betas: int              ... for the first num_betas components (rest 0)
      proportions_std: float      default body only: its proportion components (one per segment,
                                  1 = 5 cm) ~ N(0, proportions_std^2); 0 = off (needs num_betas <= 10)
    motions:
      sources: [PATH]             motion files or folders (.npz canonical/AMASS, .bvh, .fbx, .pkl)
      fps: float                  motions are resampled to this rate before sub-clip sampling
      random_yaw: bool            rotate each person's clip by a random heading
    camera:
      distance: [lo, hi]          metres from the look-at point (scaled up when people spread out)
      elevation_deg: [lo, hi]     camera height angle above the look-at point
      azimuth_deg: [lo, hi]       around the group, 0 = in front of the first person's start heading
      focal_mm: [lo, hi]          lens, with sensor_mm sensor width (Blender's default 36)
      sensor_mm: float
      look_at_height: [lo, hi]    metres above the ground
    lighting:
      sun_strength: [lo, hi]      Blender sun strength (W/m^2)
      sun_elevation_deg: [lo, hi]
      ambient: [lo, hi]           world (sky) light strength
    background:
      type: procedural | images
      folder: PATH                images (png/jpg) for type images; random crop per scene
    clothing:
      patterns: [solid, stripes, checker, noise]   procedural textures: painted clothing (garments
                                  off) and the prints of printed garments
    garments:                     clothing and hair with their own geometry (neural_render.body.garments)
      enabled: bool               false: bare bodies with painted-on clothing (the pre-garment look)
      dress_probability: float    chance of a dress instead of a top + bottom
      upper: {tshirt, shirt, jacket, tank: weight}     relative weights of each kind
      lower: {trousers, shorts, skirt: weight}
      shoes: {shoes, boots: weight}
      hair: {buzz, short, long, ponytail, none: weight}
      fabrics: {cotton, print, knit, denim, leather: weight}   (each garment kind allows a subset)
      looseness: [lo, hi]         metres between skin and cloth
      thickness: [lo, hi]         metres of cloth (a jacket's is 1.5x)
      cloth:                      Blender cloth simulation of loose garments (skirts, dresses, loose tops
                                  over trousers), the body as collider, pinned at waist / shoulders
        enabled: bool             false (default): garments are skinned to the body only
        lead_in_s: float          seconds simulated before a sample's first frame, in which the body
                                  moves from its rest pose (garments made around it) into that pose
    passes: [instances, mask, person_mask, segmentation, parts, normal, depth, skeleton, uv]   passes to write
    guidance:                     how parts/normal/depth/skeleton/uv are rendered (neural_render.passes)
      renderer: blender | raster  Cycles pass render (default) or the OpenGL raster renderer
      profile: default | champ | hands   the passes' profile (hands: palm/finger parts, DWPose whole-body skeleton)
    rgb:
      cycles: bool                lit, textured Cycles RGB in images/
      samples: int                Cycles samples per pixel
      denoise: bool
    generator:
      checkpoint: PATH | null     optional generator RGB (neural_render.generator) in generated/
    labels:
      occlusion_tolerance_m: float   a joint counts as visible when the first surface the camera ray
                                     meets is its own body and lies at most this far in front of it
"""

from __future__ import annotations

import copy
import hashlib
import json
from pathlib import Path

from neural_render.dataset.outfits import FABRICS, HAIR_KINDS, LOWER_KINDS, SHOE_KINDS, UPPER_KINDS
from neural_render.errors import InputError, quote

PASS_CHOICES = ("instances", "mask", "person_mask", "segmentation", "parts", "normal", "depth", "skeleton", "uv")
# Passes rendered by neural_render.passes (the guidance-pass renderer); the others come from the
# dataset's own label render.
GUIDANCE_PASSES = ("parts", "normal", "depth", "skeleton", "uv")
PATTERNS = ("solid", "stripes", "checker", "noise")
MOTION_SUFFIXES = (".npz", ".bvh", ".fbx", ".pkl", ".smpl")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
SAMPLE_MOTION = "smpl_assets/motions/cmu_131_01_walk.npz"

DEFAULTS: dict = {
    "seed": 0,
    "samples": None,
    "frames_per_sample": 1,
    "frame_step": 5,
    "resolution": 256,
    "people": {"min": 1, "max": 1},
    "bodies": {"models": ["default"], "betas_std": 1.0, "num_betas": 10, "proportions_std": 0.0},
    "motions": {"sources": [SAMPLE_MOTION], "fps": 30.0, "random_yaw": True},
    "camera": {"distance": [4.0, 6.0], "elevation_deg": [0.0, 20.0], "azimuth_deg": [-180.0, 180.0],
               "focal_mm": [35.0, 50.0], "sensor_mm": 36.0, "look_at_height": [0.8, 1.1]},
    "lighting": {"sun_strength": [2.0, 5.0], "sun_elevation_deg": [20.0, 70.0], "ambient": [0.3, 0.8]},
    "background": {"type": "procedural", "folder": None},
    "clothing": {"patterns": list(PATTERNS)},
    "garments": {"enabled": True, "dress_probability": 0.15,
                 "upper": {"tshirt": 3.0, "shirt": 2.0, "jacket": 1.0, "tank": 1.0},
                 "lower": {"trousers": 4.0, "shorts": 2.0, "skirt": 1.5},
                 "shoes": {"shoes": 3.0, "boots": 1.0},
                 "hair": {"buzz": 1.0, "short": 3.0, "long": 2.0, "ponytail": 1.0, "none": 0.3},
                 "fabrics": {"cotton": 3.0, "print": 3.0, "knit": 1.0, "denim": 2.0, "leather": 0.7},
                 "looseness": [0.004, 0.025], "thickness": [0.003, 0.007],
                 "cloth": {"enabled": False, "lead_in_s": 0.5}},
    "passes": ["instances", "mask"],
    "guidance": {"renderer": "blender", "profile": "default"},
    "rgb": {"cycles": True, "samples": 16, "denoise": False},
    "generator": {"checkpoint": None},
    "labels": {"occlusion_tolerance_m": 0.15},
}


def load_config(path: str | Path) -> dict:
    """Read, validate and normalize a YAML config file (relative paths resolve next to it)."""
    import yaml

    path = Path(path)
    if not path.is_file():
        raise InputError("config file not found", path=path, fix="pass --config CFG.yaml (see `neural-render batch --print-example`)")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark is not None else None
        raise InputError(f"not valid YAML ({getattr(e, 'problem', e)})", path=path, where=where,
                         fix="check indentation and colons") from None
    except RecursionError:
        raise InputError("YAML nested too deeply to parse", path=path, fix="a config nests a few levels") from None
    _check_expansion(raw, path)
    return validate(raw, base_dir=path.parent, source=path)


MAX_CONFIG_VALUES = 100_000  # values in a config after YAML aliases are expanded (the example has ~100)


def _check_expansion(raw, path: Path) -> None:
    """Refuse a config whose YAML aliases expand it past MAX_CONFIG_VALUES values ("billion laughs":
    1.8 kB of anchors can stand for 10^9 strings that any walk or message would expand)."""
    stack, seen = [raw], 0
    while stack:
        v = stack.pop()
        seen += 1
        if seen > MAX_CONFIG_VALUES:
            raise InputError(f"config expands to more than {MAX_CONFIG_VALUES:,} values", path=path,
                             fix="remove the YAML anchors/aliases that multiply it; a config has ~100 values")
        if isinstance(v, dict):
            stack.extend(v.keys())
            stack.extend(v.values())
        elif isinstance(v, (list, tuple)):
            stack.extend(v)


def example_config_text() -> str:
    """The example config shipped beside this module (small; runs in minutes on 2 CPU cores)."""
    return (Path(__file__).with_name("example_config.yaml")).read_text(encoding="utf-8")


def config_hash(cfg: dict) -> str:
    """Stable hash of everything that changes the output (used to refuse resuming a different run)."""
    blob = json.dumps(cfg, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


class _V:
    """Validation helpers that know where they are in the config (for the error message)."""

    def __init__(self, source):
        self.source = source

    def fail(self, key: str, msg: str, fix: str):
        raise InputError(msg, path=self.source, where=f"key '{key}'", fix=fix)

    def mapping(self, key, value):
        if not isinstance(value, dict):
            self.fail(key, f"expected a mapping, got {type(value).__name__}", f"write '{key}:' followed by indented 'name: value' lines")
        return value

    def integer(self, key, value, lo=None, hi=None):
        if isinstance(value, bool) or not isinstance(value, int):
            self.fail(key, f"expected an integer, got {quote(value)}", "use a whole number")
        if (lo is not None and value < lo) or (hi is not None and value > hi):
            rng = f"{lo}..{hi}" if hi is not None else f">= {lo}"
            self.fail(key, f"{value} is out of range", f"use a value in {rng}")
        return value

    def number(self, key, value, lo=None, hi=None):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            self.fail(key, f"expected a number, got {quote(value)}", "use a number such as 1.5")
        value = float(value)
        if value != value or (lo is not None and value < lo) or (hi is not None and value > hi):
            rng = f"{lo}..{hi}" if hi is not None else f">= {lo}"
            self.fail(key, f"{value} is out of range", f"use a value in {rng}")
        return value

    def boolean(self, key, value):
        if not isinstance(value, bool):
            self.fail(key, f"expected true or false, got {quote(value)}", "write true or false")
        return value

    def range2(self, key, value, lo=None, hi=None):
        """A [lo, hi] pair (a single number means a fixed value)."""
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            value = [value, value]
        if not isinstance(value, (list, tuple)) or len(value) != 2:
            self.fail(key, f"expected [min, max], got {quote(value)}", f"write e.g. '{key.split('.')[-1]}: [1.0, 2.0]'")
        a = self.number(f"{key}[0]", value[0], lo, hi)
        b = self.number(f"{key}[1]", value[1], lo, hi)
        if a > b:
            self.fail(key, f"min {a} is larger than max {b}", "swap the two values")
        return [a, b]

    def choice(self, key, value, choices):
        if value not in choices:
            self.fail(key, f"unknown value {quote(value)}", f"use one of {', '.join(map(str, choices))}")
        return value

    def str_list(self, key, value):
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
            self.fail(key, f"expected a non-empty list of strings, got {quote(value)}", f"write e.g. '{key.split('.')[-1]}: [a, b]'")
        return list(value)


def resolve_path(p: str, base_dir: Path | None) -> Path | None:
    """A config path: absolute, else next to the config, else the working folder, else shipped assets."""
    path = Path(p).expanduser()
    if path.is_absolute():
        return path if path.exists() else None
    candidates = []
    if base_dir is not None:
        candidates.append(Path(base_dir) / path)
    candidates.append(Path.cwd() / path)
    try:
        from neural_render.paths import assets_dir

        adir = assets_dir()
        parts = path.parts
        candidates.append(adir.joinpath(*parts[1:]) if parts and parts[0] == "smpl_assets" else adir / path)
    except FileNotFoundError:
        pass
    for c in candidates:
        if c.exists():
            return c.resolve()
    return None


_WEIGHT_MAPS = {f"garments.{k}" for k in ("upper", "lower", "shoes", "hair", "fabrics")}


def _merge(defaults: dict, raw: dict, v: _V, prefix: str = "") -> dict:
    out = copy.deepcopy(defaults)
    for k, val in raw.items():
        key = f"{prefix}{k}"
        if k not in defaults:
            close = [d for d in defaults if d.startswith(str(k)[:3])]
            hint = f"did you mean '{prefix}{close[0]}'?" if close else f"known keys: {', '.join(defaults)}"
            v.fail(key, "unknown key", hint)
        if key in _WEIGHT_MAPS:  # a distribution is replaced as a whole, not merged kind by kind
            out[k] = val
        elif isinstance(defaults[k], dict):
            out[k] = _merge(defaults[k], v.mapping(key, val) if val is not None else {}, v, key + ".")
        else:
            out[k] = val
    return out


def _weights(v: _V, key: str, value, kinds: tuple) -> dict:
    """A {kind: weight >= 0} mapping over known kinds with a positive total (a list means equal weights)."""
    if isinstance(value, list):
        value = {k: 1.0 for k in value}
    v.mapping(key, value)
    out = {}
    for k, w in value.items():
        v.choice(f"{key}.{k}", k, kinds)
        out[k] = v.number(f"{key}.{k}", w, 0.0, 1e6)
    if not out or sum(out.values()) <= 0:
        v.fail(key, "no kind has a positive weight", f"give at least one of {', '.join(kinds)} a weight > 0")
    return out


def validate(raw, base_dir: str | Path | None = None, source: str | Path = "config") -> dict:
    """Fill defaults, check every value, resolve paths; returns the normalized config dict."""
    v = _V(source)
    if raw is None:
        raw = {}
    v.mapping("(top level)", raw)
    c = _merge(DEFAULTS, raw, v)
    base_dir = Path(base_dir) if base_dir is not None else None

    _check_counts(c, v)
    _check_people_and_bodies(c, v, base_dir)
    _check_motions(c["motions"], v, base_dir)
    _check_scene(c, v, base_dir)
    _check_garments(c["garments"], v)
    _check_outputs(c, v, base_dir)
    return c


def _check_counts(c: dict, v: _V) -> None:
    """seed, samples, frames per sample, frame step, resolution."""
    c["seed"] = v.integer("seed", c["seed"], 0, 2**63 - 1)
    if c["samples"] is None:
        v.fail("samples", "missing", "set 'samples: N', the number of scenes to render")
    c["samples"] = v.integer("samples", c["samples"], 1)
    c["frames_per_sample"] = v.integer("frames_per_sample", c["frames_per_sample"], 1, 10000)
    c["frame_step"] = v.integer("frame_step", c["frame_step"], 1)
    res = c["resolution"]
    if isinstance(res, int) and not isinstance(res, bool):
        res = [res, res]
    if not isinstance(res, list) or len(res) != 2:
        v.fail("resolution", f"expected a size or [width, height], got {quote(res)}", "write e.g. 'resolution: 256'")
    c["resolution"] = [v.integer("resolution[0]", res[0], 16, 8192), v.integer("resolution[1]", res[1], 16, 8192)]


def _check_people_and_bodies(c: dict, v: _V, base_dir: Path | None) -> None:
    """People per scene and the body models (paths resolved) and their shape sampling."""
    ppl = c["people"]
    ppl["min"] = v.integer("people.min", ppl["min"], 1, 3)
    ppl["max"] = v.integer("people.max", ppl["max"], 1, 3)
    if ppl["min"] > ppl["max"]:
        v.fail("people", f"min {ppl['min']} is larger than max {ppl['max']}", "swap them")

    b = c["bodies"]
    models = v.str_list("bodies.models", b["models"])
    resolved = []
    for i, m in enumerate(models):
        if m == "default":
            resolved.append("default")
            continue
        p = resolve_path(m, base_dir)
        if p is None:
            v.fail(f"bodies.models[{i}]", f"body model '{m}' not found", "give the path of an SMPL .pkl/.npz file or 'default'")
        resolved.append(str(p))
    b["models"] = resolved
    b["betas_std"] = v.number("bodies.betas_std", b["betas_std"], 0.0, 5.0)
    b["num_betas"] = v.integer("bodies.num_betas", b["num_betas"], 0, 300)
    b["proportions_std"] = v.number("bodies.proportions_std", b["proportions_std"], 0.0, 3.0)
    if b["proportions_std"] > 0 and b["num_betas"] > 10:
        v.fail("bodies.proportions_std", "proportion components follow the first 10 shape components",
               "use bodies.num_betas <= 10 with proportions_std, or proportions_std: 0")


def _check_motions(m: dict, v: _V, base_dir: Path | None) -> None:
    """Motion sources (files, or folders expanded to their motion files), rate, random yaw."""
    files = []
    for i, s in enumerate(v.str_list("motions.sources", m["sources"])):
        p = resolve_path(s, base_dir)
        if p is None:
            fix = ("create it with `neural-render motion import SRC --out " + s + "`" if s == SAMPLE_MOTION
                   else "give an existing motion file or folder")
            v.fail(f"motions.sources[{i}]", f"'{s}' not found", fix)
        if p.is_dir():
            found = sorted(str(f.resolve()) for f in p.rglob("*") if f.suffix.lower() in MOTION_SUFFIXES)
            if not found:
                v.fail(f"motions.sources[{i}]", f"folder '{s}' holds no motion files",
                       f"put {', '.join(MOTION_SUFFIXES)} files in it")
            files += found
        else:
            if p.suffix.lower() not in MOTION_SUFFIXES:
                v.fail(f"motions.sources[{i}]", f"unsupported motion file type '{p.suffix}'", f"use {', '.join(MOTION_SUFFIXES)}")
            files.append(str(p))
    m["sources"] = files
    m["fps"] = v.number("motions.fps", m["fps"], 1.0, 1000.0)
    m["random_yaw"] = v.boolean("motions.random_yaw", m["random_yaw"])


def _check_scene(c: dict, v: _V, base_dir: Path | None) -> None:
    """Camera, lighting, background (procedural, or a folder of images) and clothing patterns."""
    cam = c["camera"]
    cam["distance"] = v.range2("camera.distance", cam["distance"], 0.5, 1000.0)
    cam["elevation_deg"] = v.range2("camera.elevation_deg", cam["elevation_deg"], -89.0, 89.0)
    cam["azimuth_deg"] = v.range2("camera.azimuth_deg", cam["azimuth_deg"], -360.0, 360.0)
    cam["focal_mm"] = v.range2("camera.focal_mm", cam["focal_mm"], 1.0, 2000.0)
    cam["sensor_mm"] = v.number("camera.sensor_mm", cam["sensor_mm"], 1.0, 200.0)
    cam["look_at_height"] = v.range2("camera.look_at_height", cam["look_at_height"], -10.0, 10.0)

    li = c["lighting"]
    li["sun_strength"] = v.range2("lighting.sun_strength", li["sun_strength"], 0.0, 1000.0)
    li["sun_elevation_deg"] = v.range2("lighting.sun_elevation_deg", li["sun_elevation_deg"], 0.0, 90.0)
    li["ambient"] = v.range2("lighting.ambient", li["ambient"], 0.0, 100.0)

    bg = c["background"]
    bg["type"] = v.choice("background.type", bg["type"], ("procedural", "images"))
    if bg["type"] == "images":
        if not bg["folder"]:
            v.fail("background.folder", "missing for type 'images'", "set 'folder: PATH' to a folder of .png/.jpg images")
        p = resolve_path(str(bg["folder"]), base_dir)
        imgs = sorted(str(f.resolve()) for f in p.rglob("*") if f.suffix.lower() in IMAGE_SUFFIXES) if p and p.is_dir() else []
        if not imgs:
            v.fail("background.folder", f"'{bg['folder']}' is not a folder holding .png/.jpg images",
                   "point it at a folder of background images, or use 'type: procedural'")
        bg["folder"] = str(p)
        bg["images"] = imgs
    else:
        bg["folder"] = None
        bg["images"] = []

    pats = v.str_list("clothing.patterns", c["clothing"]["patterns"])
    for i, pt in enumerate(pats):
        v.choice(f"clothing.patterns[{i}]", pt, PATTERNS)
    c["clothing"]["patterns"] = pats


def _check_garments(gm: dict, v: _V) -> None:
    """Garment switch, dress probability, kind weights, looseness and thickness."""
    gm["enabled"] = v.boolean("garments.enabled", gm["enabled"])
    gm["dress_probability"] = v.number("garments.dress_probability", gm["dress_probability"], 0.0, 1.0)
    for key, kinds in (("upper", UPPER_KINDS), ("lower", LOWER_KINDS), ("shoes", SHOE_KINDS), ("hair", HAIR_KINDS),
                       ("fabrics", FABRICS)):
        gm[key] = _weights(v, f"garments.{key}", gm[key], kinds)
    gm["looseness"] = v.range2("garments.looseness", gm["looseness"], 0.0, 0.1)
    gm["thickness"] = v.range2("garments.thickness", gm["thickness"], 0.001, 0.03)
    gm["cloth"]["enabled"] = v.boolean("garments.cloth.enabled", gm["cloth"]["enabled"])
    gm["cloth"]["lead_in_s"] = v.number("garments.cloth.lead_in_s", gm["cloth"]["lead_in_s"], 0.0, 10.0)


def _check_outputs(c: dict, v: _V, base_dir: Path | None) -> None:
    """Passes (canonical order), guidance renderer/profile, RGB, generator checkpoint, labels; and
    that something is written as the frame images."""
    gm = c["garments"]
    passes = v.str_list("passes", c["passes"]) if c["passes"] else []
    for i, pn in enumerate(passes):
        v.choice(f"passes[{i}]", pn, PASS_CHOICES)
    c["passes"] = [p for p in PASS_CHOICES if p in passes]  # canonical order, no duplicates
    for pn in ("person_mask", "segmentation"):
        if pn in c["passes"] and not gm["enabled"]:
            v.fail("passes", f"'{pn}' needs garments", "set 'garments: {enabled: true}' or drop it from passes")

    gd = c["guidance"]
    gd["renderer"] = v.choice("guidance.renderer", gd["renderer"], ("blender", "raster"))
    gd["profile"] = v.choice("guidance.profile", gd["profile"], ("default", "champ", "hands"))

    r = c["rgb"]
    r["cycles"] = v.boolean("rgb.cycles", r["cycles"])
    r["samples"] = v.integer("rgb.samples", r["samples"], 1, 65536)
    r["denoise"] = v.boolean("rgb.denoise", r["denoise"])

    g = c["generator"]
    if g["checkpoint"] is not None:
        p = resolve_path(str(g["checkpoint"]), base_dir)
        if p is None:
            v.fail("generator.checkpoint", f"'{g['checkpoint']}' not found", "give a checkpoint written by `neural-render train`, or null")
        g["checkpoint"] = str(p)

    if not r["cycles"] and not g["checkpoint"] and not [p for p in c["passes"] if p != "depth"]:
        v.fail("passes", "nothing to write as the frame images (no RGB, no generator, no image pass)",
               "enable rgb.cycles or list e.g. 'mask' or 'parts' in passes")
    c["labels"]["occlusion_tolerance_m"] = v.number("labels.occlusion_tolerance_m", c["labels"]["occlusion_tolerance_m"], 0.0, 2.0)
