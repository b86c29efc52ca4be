"""Mapping a source skeleton's joints onto SMPL's 24: data presets (smpl_assets/bone_maps/*.json)
plus a generic name-pattern fallback. See smpl_assets/bone_maps/README.md for the JSON schema.

A mapping is a dict {smpl_joint_index: source_joint_index}; joints not in it are unmapped (the
retargeter folds their motion into the mapped joints around them).
"""

from __future__ import annotations

import re
from pathlib import Path

from neural_render.body.skeletons import SMPL_JOINT_NAMES, SMPL_PARENTS, SMPLH_JOINT_NAMES
from neural_render.errors import InputError

SMPL_INDEX = {n: i for i, n in enumerate(SMPL_JOINT_NAMES)}
# SMPL-H finger joint name -> 0..29 (left hand's 15, then right's; MANO order).
FINGER_INDEX = {n: i for i, n in enumerate(SMPLH_JOINT_NAMES[22:])}
# Joints without which a body cannot be placed and oriented.
CORE_JOINTS = ("pelvis", "left_hip", "right_hip")
TORSO_UP_JOINTS = ("neck", "head", "spine3", "spine2", "left_collar", "right_collar",
                   "left_shoulder", "right_shoulder")


def presets_dir() -> Path:
    from neural_render.paths import asset

    return asset("bone_maps")


def list_presets() -> list[str]:
    return sorted(p.stem for p in presets_dir().glob("*.json"))


def load_bone_map(name_or_path: str | Path) -> dict:
    """A preset by name (e.g. "mixamo") or a JSON file path. Validates the schema."""
    p = Path(name_or_path)
    if not p.suffix == ".json" or not p.exists():
        cand = presets_dir() / f"{name_or_path}.json"
        if cand.exists():
            p = cand
        elif not p.exists():
            raise InputError(f"unknown bone map {str(name_or_path)!r}", where="--bone-map",
                             fix=f"use a preset ({', '.join(list_presets())}) or a JSON file path")
    from neural_render.fileio import read_json

    return validate_bone_map(read_json(p), p)


def validate_bone_map(data, path: str | Path = "<bone map>") -> dict:
    if not isinstance(data, dict):
        raise InputError("bone map must be a JSON object", path=path)
    data = dict(data)
    data.setdefault("name", Path(str(path)).stem)
    if "joints" not in data and "center" not in data:
        raise InputError("bone map has neither 'joints' nor 'center'/'sided' patterns", path=path,
                         fix="see smpl_assets/bone_maps/README.md")
    data["joints"] = _name_lists(data, "joints", SMPL_INDEX, "SMPL joint", path,
                                 f"SMPL joints are {', '.join(SMPL_JOINT_NAMES)}")
    data["fingers"] = _name_lists(data, "fingers", FINGER_INDEX, "SMPL-H finger joint", path,
                                  "finger joints are left_/right_ + index|middle|pinky|ring|thumb + 1..3")
    sp = data.get("strip_prefixes", [])
    if not (isinstance(sp, list) and all(isinstance(x, str) for x in sp)):
        raise InputError("'strip_prefixes' must be a list of strings", path=path)
    return data


def _name_lists(data: dict, key: str, known, what: str, path, fix: str) -> dict[str, list[str]]:
    """data[key] checked as {<what> name: source name or list of names}, with every value a list."""
    entries = data.get(key, {})
    if not isinstance(entries, dict):
        raise InputError(f"'{key}' must map {what} names to source names", path=path)
    for k, v in entries.items():
        if k not in known:
            raise InputError(f"unknown {what} {k!r}", path=path, where=key, fix=fix)
        if isinstance(v, str):
            entries[k] = [v]
        elif not (isinstance(v, list) and all(isinstance(x, str) for x in v)):
            raise InputError(f"{key}.{k} must be a name or a list of names", path=path)
    return entries


def _strip(name: str, prefixes: list[str]) -> str:
    for p in prefixes:
        if name.lower().startswith(p.lower()):
            return name[len(p):]
    return name


def _namespace_free(name: str) -> str:
    # "Armature|mixamorig:Hips" -> "Hips"
    return re.split(r"[:|]", name)[-1]


def apply_bone_map(names: list[str], bone_map: dict, usable: list[bool] | None = None,
                   key: str = "joints") -> dict[int, int]:
    """Match a preset's explicit names (case-insensitive, prefixes stripped) -> {smpl: source}
    (key "fingers": {finger joint 0..29: source})."""
    usable = usable or [True] * len(names)
    prefixes = bone_map.get("strip_prefixes", [])
    keyed: dict[str, int] = {}
    for i, n in enumerate(names):
        if not usable[i]:
            continue
        for k in {n.lower(), _strip(n, prefixes).lower(), _namespace_free(n).lower(),
                  _strip(_namespace_free(n), prefixes).lower()}:
            keyed.setdefault(k, i)
    mapping: dict[int, int] = {}
    used: set[int] = set()
    index = SMPL_INDEX if key == "joints" else FINGER_INDEX
    for smpl_name, cands in bone_map.get(key, {}).items():
        for c in cands:
            i = keyed.get(c.lower())
            if i is not None and i not in used:
                mapping[index[smpl_name]] = i
                used.add(i)
                break
    return mapping


def _norm(name: str) -> str:
    return re.sub(r"[\s._\-]", "", _namespace_free(name)).lower()


def _side_and_stem(name: str, side_patterns: dict, strip: list[str] = ()) -> tuple[str | None, str]:
    """(side or None, normalized name with the side token and `strip` regexes removed)."""
    raw = _namespace_free(name)
    side, stem = None, raw
    for sd in ("left", "right"):
        for pat in side_patterns.get(sd, []):
            flags = 0 if "(?=[A-Z" in pat else re.IGNORECASE
            m = re.search(pat, raw, flags)
            if m:
                side, stem = sd, raw[:m.start()] + " " + raw[m.end():]
                break
        if side:
            break
    stem = _norm(stem)
    for pat in strip:
        stem = re.sub(pat, "", stem)
    return side, stem


def pattern_map(skeleton, bone_map: dict) -> dict[int, int]:
    """Generic mapping by regular expressions + spine spreading (see generic.json)."""
    names = skeleton.names
    usable = [not e for e in skeleton.is_end]
    mapping: dict[int, int] = {}
    used: set[int] = set()

    def take(smpl: str, i: int) -> None:
        if SMPL_INDEX[smpl] not in mapping and i not in used:
            mapping[SMPL_INDEX[smpl]] = i
            used.add(i)

    # Centre joints: patterns in priority order, then hierarchy order (roots first).
    stems = [_side_and_stem(n, bone_map.get("side_patterns", {}), bone_map.get("strip_regex", [])) for n in names]
    for smpl, pats in bone_map.get("center", {}).items():
        hit = next((i for p in pats for i, (side, stem) in enumerate(stems)
                    if usable[i] and side is None and i not in used and re.search(p, stem)), None)
        if hit is not None:
            take(smpl, hit)
    # Sided joints: for each side, first match per part.
    for part, pats in bone_map.get("sided", {}).items():
        for side in ("left", "right"):
            for i, n in enumerate(names):
                if not usable[i] or i in used:
                    continue
                s_side, stem = _side_and_stem(n, bone_map.get("side_patterns", {}), bone_map.get("strip_regex", []))
                if s_side != side:
                    continue
                if any(re.search(p, stem) for p in pats):
                    take(f"{side}_{part}", i)
                    break
    # Spine: source joints strictly between the pelvis and the neck (or the collars' common parent).
    pel = mapping.get(SMPL_INDEX["pelvis"])
    top = mapping.get(SMPL_INDEX["neck"])
    if top is None:
        for c in ("left_collar", "left_shoulder"):
            if SMPL_INDEX[c] in mapping:
                top = int(skeleton.parents[mapping[SMPL_INDEX[c]]])
                break
    if pel is not None and top is not None and skeleton.is_ancestor(pel, top):
        chain = [j for j in reversed(skeleton.path_to_root(top)) if skeleton.is_ancestor(pel, j)]
        if top == mapping.get(SMPL_INDEX["neck"]):
            chain = chain[:-1]
        chain = [j for j in chain if j not in used]
        if chain:
            slots = ["spine1", "spine2", "spine3"]
            if len(chain) == 1:
                take("spine3", chain[0])
            elif len(chain) == 2:
                take("spine1", chain[0])
                take("spine3", chain[1])
            else:
                take("spine1", chain[0])
                take("spine2", chain[len(chain) // 2] if len(chain) > 3 else chain[1])
                take("spine3", chain[-1])
            del slots
    return mapping


def consistent(mapping: dict[int, int], skeleton) -> tuple[dict[int, int], list[str]]:
    """Drop mapped joints whose source is not below the source of their nearest mapped SMPL ancestor."""
    out: dict[int, int] = {}
    dropped = []
    for j in range(len(SMPL_JOINT_NAMES)):
        if j not in mapping:
            continue
        a = int(SMPL_PARENTS[j])
        while a >= 0 and a not in out:
            a = int(SMPL_PARENTS[a])
        if a < 0 or skeleton.is_ancestor(out[a], mapping[j]):
            out[j] = mapping[j]
        else:
            dropped.append(f"{SMPL_JOINT_NAMES[j]}<-{skeleton.names[mapping[j]]}")
    return out, dropped


def usable_mapping(mapping: dict[int, int]) -> bool:
    return all(SMPL_INDEX[c] in mapping for c in CORE_JOINTS) and \
        any(SMPL_INDEX[c] in mapping for c in TORSO_UP_JOINTS)


def auto_map(skeleton, bone_map: str | Path | dict | None = None, path: str | Path = "") -> tuple[dict[int, int], str, list[str]]:
    """Map `skeleton` onto SMPL: the given preset/file, or the best-fitting preset, or patterns.

    Returns (mapping, name of the map used, warnings). Raises InputError when no usable mapping
    (pelvis, both hips and something above the pelvis) can be found.
    """
    usable = [not e for e in skeleton.is_end]
    warnings: list[str] = []
    if bone_map is not None:
        bm = bone_map if isinstance(bone_map, dict) else load_bone_map(bone_map)
        cands = [bm]
    else:
        cands = [load_bone_map(n) for n in list_presets()]
    best, best_name, best_score = {}, "", (False, -1, 0)
    for bm in cands:
        if "joints" in bm and bm["joints"]:
            m = apply_bone_map(skeleton.names, bm, usable)
        else:
            m = pattern_map(skeleton, bm)
        m, dropped = consistent(m, skeleton)
        # Usable first, then more joints, then fewer inconsistent joints (a preset made for this rig
        # maps everything consistently); ties keep the first preset in name order.
        score = (usable_mapping(m), len(m), -len(dropped))
        if score > best_score:
            best, best_name, best_score = m, bm["name"], score
            warnings = [f"dropped inconsistent: {', '.join(dropped)}"] if dropped else []
    if not usable_mapping(best):
        have = ", ".join(f"{SMPL_JOINT_NAMES[k]}<-{skeleton.names[v]}" for k, v in sorted(best.items())) or "nothing"
        raise InputError(
            f"no usable mapping from this skeleton to SMPL (matched: {have})", path=path,
            where="skeleton",
            fix="pass --bone-map with a JSON file naming the source joints for at least pelvis, "
                "left_hip, right_hip and neck/head (schema: smpl_assets/bone_maps/README.md)")
    missing = [n for i, n in enumerate(SMPL_JOINT_NAMES) if i not in best]
    if missing:
        warnings.append(f"unmapped SMPL joints (kept at rest relative to their parent): {', '.join(missing)}")
    return best, best_name, warnings


def auto_finger_map(skeleton, body_mapping: dict[int, int], bone_map: str | Path | dict | None = None) -> dict[int, int]:
    """Map the source's finger joints onto SMPL-H's 30 (0..29: left hand's 15, right's; MANO order).

    Uses the `fingers` names of the given preset, else of the preset matching the most finger
    joints. A finger joint is kept only below its hand's mapped wrist, and each finger's joints
    must descend one from another (2- or 3-segment fingers: missing segments stay unmapped and
    follow their parent). Returns {} when the source has no fingers."""
    usable = [not e for e in skeleton.is_end]
    if bone_map is not None:
        bm = bone_map if isinstance(bone_map, dict) else load_bone_map(bone_map)
        cands = [bm]
    else:
        cands = [load_bone_map(n) for n in list_presets()]
    best: dict[int, int] = {}
    for bm in cands:
        m = apply_bone_map(skeleton.names, bm, usable, key="fingers")
        m = _consistent_fingers(m, skeleton, body_mapping)
        if len(m) > len(best):
            best = m
    return best


def _consistent_fingers(m: dict[int, int], skeleton, body_mapping: dict[int, int]) -> dict[int, int]:
    out: dict[int, int] = {}
    for k in sorted(m):
        side = k // 15
        wrist = body_mapping.get(SMPL_INDEX["left_wrist" if side == 0 else "right_wrist"])
        if wrist is None or not skeleton.is_ancestor(wrist, m[k]):
            continue
        if k % 3 and (k - 1) in out and not skeleton.is_ancestor(out[k - 1], m[k]):
            continue
        out[k] = m[k]
    return out
