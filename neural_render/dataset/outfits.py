"""Seeded outfits (garments, hair, fabrics, skin) per identity, from the config's `garments` distributions.

`sample_outfit(rng, gcfg)` returns the outfit dict of `neural_render.body.garments` (geometry) with a
`fabric` dict per garment (`neural_render.blender.garments` materials), plus "skin" and "hair_colour".
Pure function of the generator state: the dataset draws it from its own stream
(SeedSequence([seed, index, 2, person])), so enabling garments changes nothing else in a scene.
"""

from __future__ import annotations

import colorsys

import numpy as np

UPPER_KINDS = ("tshirt", "shirt", "jacket", "tank")
LOWER_KINDS = ("trousers", "shorts", "skirt")
SHOE_KINDS = ("shoes", "boots")
HAIR_KINDS = ("buzz", "short", "long", "ponytail", "none")
FABRICS = ("cotton", "print", "knit", "denim", "leather")

# Skin albedo (linear RGB) along a tone axis from very light (0) to very dark (1): anchors spanning
# the Fitzpatrick I..VI range of measured diffuse albedos, interpolated piecewise linearly.
SKIN_ANCHORS = np.array([
    [0.72, 0.52, 0.42],
    [0.60, 0.41, 0.31],
    [0.47, 0.30, 0.21],
    [0.32, 0.19, 0.12],
    [0.18, 0.10, 0.06],
    [0.08, 0.045, 0.03],
])
HAIR_COLOURS = {  # linear RGB
    "black": [0.015, 0.012, 0.01], "dark_brown": [0.05, 0.03, 0.018], "brown": [0.12, 0.07, 0.035],
    "blonde": [0.45, 0.32, 0.16], "red": [0.28, 0.08, 0.03], "grey": [0.35, 0.34, 0.33],
}


def skin_albedo(tone: float) -> list:
    """Linear-RGB skin albedo for a tone in [0, 1] (0 lightest, 1 darkest)."""
    x = float(np.clip(tone, 0, 1)) * (len(SKIN_ANCHORS) - 1)
    i = min(int(x), len(SKIN_ANCHORS) - 2)
    c = SKIN_ANCHORS[i] * (1 - (x - i)) + SKIN_ANCHORS[i + 1] * (x - i)
    return [round(float(v), 5) for v in c]


def _pick(rng, weights: dict) -> str:
    names = list(weights)
    w = np.asarray([float(weights[n]) for n in names])
    return names[int(rng.choice(len(names), p=w / w.sum()))]


def _colour(rng, sat=(0.15, 0.85), val=(0.05, 0.75)) -> list:
    h = rng.uniform(0, 1)
    return [round(float(c), 5) for c in colorsys.hsv_to_rgb(h, rng.uniform(*sat), rng.uniform(*val))]


def _fabric(rng, gcfg: dict, allowed: tuple, patterns: list) -> dict:
    weights = {k: v for k, v in gcfg["fabrics"].items() if k in allowed and v > 0} or {allowed[0]: 1.0}
    kind = _pick(rng, weights)
    if kind == "denim":
        base = [0.03 + 0.04 * rng.uniform(), 0.06 + 0.06 * rng.uniform(), 0.16 + 0.2 * rng.uniform()]
        c1, c2 = [round(float(v), 5) for v in base], [round(float(v) * 1.6, 5) for v in base]
    elif kind == "leather":
        c1 = _colour(rng, sat=(0.2, 0.7), val=(0.02, 0.25))
        c2 = c1
    else:
        c1, c2 = _colour(rng), _colour(rng)
    return {"kind": kind, "colour": c1, "colour2": c2,
            "pattern": patterns[int(rng.integers(len(patterns)))] if kind == "print" else "solid",
            "scale": round(float(rng.uniform(5.0, 20.0)), 4)}


def sample_outfit(rng: np.random.Generator, gcfg: dict, patterns: list | None = None) -> dict:
    """One person's outfit dict (see module doc) from the normalized `garments` config section."""
    patterns = patterns or ["stripes", "checker", "dots"]
    loose = gcfg["looseness"]
    thick = gcfg["thickness"]

    def lt(scale=1.0):
        return {"looseness": round(float(rng.uniform(*loose)) * scale, 5),
                "thickness": round(float(rng.uniform(*thick)), 5)}

    out: dict = {"upper": None, "lower": None, "dress": None, "shoes": None, "hair": None}
    if rng.uniform() < gcfg["dress_probability"]:
        out["dress"] = {"sleeve": round(float(rng.choice([0.0, 0.25, 0.5])), 3),
                        "length": round(float(rng.uniform(0.3, 0.75)), 4),
                        "flare": round(float(rng.uniform(0.04, 0.14)), 4), **lt(),
                        "fabric": _fabric(rng, gcfg, ("cotton", "print", "knit"), patterns)}
    else:
        kind = _pick(rng, gcfg["upper"])
        sleeve = {"tshirt": rng.uniform(0.2, 0.45), "shirt": rng.uniform(0.6, 0.97), "jacket": rng.uniform(0.85, 0.98),
                  "tank": 0.0}[kind]
        extra = 1.6 if kind == "jacket" else 1.0
        up = {"kind": kind, "sleeve": round(float(sleeve), 4), "hem": round(float(rng.uniform(-0.05, 0.15)), 4), **lt(extra)}
        if kind == "jacket":
            up["thickness"] = round(up["thickness"] * 1.5, 5)
        up["fabric"] = _fabric(rng, gcfg, ("cotton", "print", "knit", "denim", "leather") if kind == "jacket"
                               else ("cotton", "print", "knit"), patterns)
        out["upper"] = up
        lk = _pick(rng, gcfg["lower"])
        length = {"trousers": rng.uniform(0.9, 0.97), "shorts": rng.uniform(0.2, 0.5),
                  "skirt": rng.uniform(0.3, 0.8)}[lk]
        lo = {"kind": lk, "length": round(float(length), 4), **lt()}
        if lk == "skirt":
            lo["flare"] = round(float(rng.uniform(0.04, 0.12)), 4)
        lo["fabric"] = _fabric(rng, gcfg, ("cotton", "print", "denim", "leather") if lk != "skirt"
                               else ("cotton", "print", "knit", "denim", "leather"), patterns)
        out["lower"] = lo
    sk = _pick(rng, gcfg["shoes"])
    out["shoes"] = {"kind": sk, "thickness": round(float(rng.uniform(0.006, 0.012)), 5),
                    "fabric": _fabric(rng, gcfg, ("leather", "cotton"), patterns)}
    hk = _pick(rng, gcfg["hair"])
    out["hair"] = None if hk == "none" else {
        "kind": hk, "length": round(float(rng.uniform(0.18, 0.4)), 4),
        "volume": round(float(rng.uniform(0.005, 0.025)), 5)}
    tone = float(rng.uniform(0, 1))
    out["skin"] = {"tone": round(tone, 5), "colour": skin_albedo(tone),
                   "roughness": round(float(rng.uniform(0.4, 0.6)), 4)}
    names = list(HAIR_COLOURS)
    hc = names[int(rng.integers(len(names)))]
    out["hair_colour"] = {"name": hc, "colour": HAIR_COLOURS[hc]}
    return out
