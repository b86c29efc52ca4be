"""Procedural garments and hair with their own geometry, made from the body's surface (numpy only).

A person's *outfit* is a small JSON-able dict (drawn per identity by `neural_render.dataset`):

    {"upper": {"kind": "tshirt"|"shirt"|"jacket"|"tank", "sleeve": 0..1, "hem": s, "looseness": m, "thickness": m} | None,
     "lower": {"kind": "trousers"|"shorts"|"skirt", "length": s, "looseness": m, "thickness": m, "flare": m} | None,
     "dress": {"sleeve": 0..1, "length": s, "looseness": m, "thickness": m, "flare": m} | None,
     "shoes": {"kind": "shoes"|"boots", "thickness": m} | None,
     "hair":  {"kind": "buzz"|"short"|"long"|"ponytail", "length": m, "volume": m} | None}

`sleeve` is the fraction of the arm from shoulder (0) to wrist (1) a sleeve covers; `length` / `hem`
are leg fractions s from hip (0) to ankle (1); distances in metres.

`build_outfit(body, betas, outfit)` turns it into `Garment` meshes in the body's model space (Y-up,
rest pose of that shape):

- offset layers (tops, trousers, shorts, shoes, short hair): the body faces of a region, pushed out
  along the shaped body's vertex normals by looseness + thickness, solidified into a closed-rim shell
  of the given thickness (the inner wall shows at hems and cuffs);
- tubes (skirts, the skirt of a dress, long hair, ponytails): rings around a vertical axis whose radius
  follows the body's envelope plus clearance, so a skirt hangs *between* the legs instead of splitting
  around them.

Every garment vertex carries its own skinning weights (24 SMPL joints): offset layers copy the body
vertex's weights (and pose correctives), tubes blend smoothly from the pelvis / head to a mix of both
hips / the neck and upper spine. `pose_garments` poses them with the body's own linear blend skinning,
so a garment follows any pose exactly as the skin under it does; `push_out` then moves the few
vertices that skinning folds under the skin (armpits, a raised knee under a skirt) back outside
(< 0.2 % of garment vertices remain inside on the shared CMU clips: BENCHMARKS.md).

Segmentation classes (`SEGMENTATION_CLASSES`) are the dataset's clothing labels.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from neural_render.body import lbs as _lbs

SEGMENTATION_CLASSES = ("background", "skin", "hair", "upper", "lower", "dress", "shoes")
SEG_ID = {n: i for i, n in enumerate(SEGMENTATION_CLASSES)}

# SMPL joint indices used below.
PELVIS, L_HIP, R_HIP, SPINE1, L_KNEE, R_KNEE, SPINE2, L_ANKLE, R_ANKLE, SPINE3 = range(10)
L_FOOT, R_FOOT, NECK, L_COLLAR, R_COLLAR, HEAD, L_SHOULDER, R_SHOULDER = range(10, 18)
L_ELBOW, R_ELBOW, L_WRIST, R_WRIST, L_HAND, R_HAND = range(18, 24)
_ARMS = {L_SHOULDER, R_SHOULDER, L_ELBOW, R_ELBOW, L_WRIST, R_WRIST, L_HAND, R_HAND}
_FEET = {L_ANKLE, R_ANKLE, L_FOOT, R_FOOT}


@dataclass
class Garment:
    """One garment (or hair) mesh of one person, model space, rest pose of the person's shape."""

    name: str                # "tshirt", "skirt", "hair_long", ...
    label: str               # segmentation class: "upper" | "lower" | "dress" | "shoes" | "hair"
    rest: np.ndarray         # (G, 3) float64 metres, model space (Y-up)
    faces: np.ndarray        # (F, 3) int32, outward-facing
    weights: np.ndarray      # (G, 24) float32, rows sum to 1
    source: np.ndarray       # (G,) int64: body vertex whose pose correctives apply, -1 for none
    # (G,) 0..1 pin weights for the optional cloth simulation (`neural_render.blender.cloth`): 1 follows
    # the skinning exactly (waistband, shoulders, sleeves), 0 hangs free; None = never simulated.
    pin: np.ndarray | None = None

    @property
    def num_vertices(self) -> int:
        return int(self.rest.shape[0])


# ---------------------------------------------------------------------------------------------- geometry helpers

def vertex_normals(vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """(V, 3) unit area-weighted vertex normals of a triangle mesh."""
    v = np.asarray(vertices, np.float64)
    f = np.asarray(faces, np.int64)
    fn = np.cross(v[f[:, 1]] - v[f[:, 0]], v[f[:, 2]] - v[f[:, 0]])
    n = np.zeros_like(v)
    for k in range(3):
        np.add.at(n, f[:, k], fn)
    return n / np.maximum(np.linalg.norm(n, axis=1, keepdims=True), 1e-12)


def _smooth_per_vertex(values: np.ndarray, faces: np.ndarray, iterations: int) -> np.ndarray:
    """Average each vertex's value with its face neighbours' `iterations` times (umbrella smoothing)."""
    vals = np.asarray(values, np.float64).copy()
    f = np.asarray(faces, np.int64)
    edges = np.concatenate([f[:, [0, 1]], f[:, [1, 2]], f[:, [2, 0]]])
    deg = np.bincount(edges[:, 0], minlength=len(vals)) + np.bincount(edges[:, 1], minlength=len(vals))
    for _ in range(iterations):
        acc = vals.copy()
        np.add.at(acc, edges[:, 0], vals[edges[:, 1]])
        np.add.at(acc, edges[:, 1], vals[edges[:, 0]])
        vals = acc / (1 + deg.reshape((-1,) + (1,) * (vals.ndim - 1)))
    return vals


def submesh(faces: np.ndarray, keep_vertex: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Faces whose three vertices are kept: (source vertex ids (G,), re-indexed faces (F', 3))."""
    f = np.asarray(faces, np.int64)
    fk = f[np.all(keep_vertex[f], axis=1)]
    used = np.unique(fk)
    remap = -np.ones(len(keep_vertex), np.int64)
    remap[used] = np.arange(len(used))
    return used, remap[fk].astype(np.int32)


def _largest_component(faces: np.ndarray, n: int) -> np.ndarray:
    """Face mask of the connected components (by shared vertices) that are at least 5 % of the faces
    (drops stray islands a region test leaves behind)."""
    parent = np.arange(n)

    def find(a):
        while parent[a] != a:
            parent[a] = parent[parent[a]]
            a = parent[a]
        return a

    for a, b, c in faces:
        ra, rb, rc = find(a), find(b), find(c)
        parent[rb] = ra
        parent[find(rc)] = ra
    roots = np.array([find(i) for i in range(n)])
    froot = roots[faces[:, 0]]
    counts = np.bincount(froot, minlength=n)
    return counts[froot] >= max(1, int(0.05 * len(faces)))


def solidify(outer: np.ndarray, normals: np.ndarray, faces: np.ndarray, thickness: np.ndarray | float):
    """Give an open surface a visible `thickness` (metres) at its openings.

    Returns (vertices, faces): the outer surface, plus for every open boundary (hem, cuff, neckline)
    an inner copy of the boundary vertices moved in along `normals` and a rim of quads joining them,
    so hems read as cloth of that thickness. (No full inner wall: it would sit closest to the skin
    and is never seen through the rim.) Vertex G + k is the inner copy of boundary vertex
    `boundary_vertices(faces)[k]`.
    """
    G = len(outer)
    f = np.asarray(faces, np.int64)
    e = np.concatenate([f[:, [0, 1]], f[:, [1, 2]], f[:, [2, 0]]])
    key = np.minimum(e[:, 0], e[:, 1]) * G + np.maximum(e[:, 0], e[:, 1])
    uniq, counts = np.unique(key, return_counts=True)
    boundary = e[np.isin(key, uniq[counts == 1])]
    bverts = np.unique(boundary)
    inner_id = -np.ones(G, np.int64)
    inner_id[bverts] = G + np.arange(len(bverts))
    th = np.broadcast_to(np.asarray(thickness, np.float64).reshape(-1), (G,)) if np.ndim(thickness) else np.full(G, float(thickness))
    inner = outer[bverts] - normals[bverts] * th[bverts, None]
    a, b = boundary[:, 0], boundary[:, 1]
    ia, ib = inner_id[a], inner_id[b]
    rim = np.concatenate([np.stack([b, a, ia], 1), np.stack([b, ia, ib], 1)])
    return np.concatenate([outer, inner]), np.concatenate([f, rim]).astype(np.int32), bverts


def _tube_faces(rows: int, cols: int, closed: bool) -> np.ndarray:
    """Quads (as triangles) of a rows x cols grid of vertices (row-major); `closed` wraps columns."""
    out = []
    cmax = cols if closed else cols - 1
    for r in range(rows - 1):
        for c in range(cmax):
            c2 = (c + 1) % cols
            a, b, d, e = r * cols + c, r * cols + c2, (r + 1) * cols + c, (r + 1) * cols + c2
            out.append((a, d, b))
            out.append((b, d, e))
    return np.asarray(out, np.int64)


def _envelope(points: np.ndarray, centre_xz: np.ndarray, heights: np.ndarray, angles: np.ndarray,
              band: float, floor: float) -> np.ndarray:
    """Radial extent (rows, cols) of `points` around a vertical axis through `centre_xz`.

    For each height (within +-band) and angle (the angular bin of the column, plus its neighbours),
    the largest distance of a point from the axis; `floor` where no point falls in a cell.
    Angle 0 = +z (front), increasing towards +x (the body's left).
    """
    d = points[:, [0, 2]] - centre_xz
    r = np.linalg.norm(d, axis=1)
    a = np.arctan2(d[:, 0], d[:, 1])
    cols = len(angles)
    step = 2 * np.pi / cols if cols > 1 else 2 * np.pi
    out = np.full((len(heights), cols), floor)
    for i, y in enumerate(heights):
        m = np.abs(points[:, 1] - y) < band
        if not m.any():
            continue
        ai, ri = a[m], r[m]
        for c, ang in enumerate(angles):
            diff = np.abs((ai - ang + np.pi) % (2 * np.pi) - np.pi)
            sel = diff < 1.5 * step
            if sel.any():
                out[i, c] = max(floor, float(ri[sel].max()))
    return out


# ---------------------------------------------------------------------------------------------- body frame

@dataclass
class _Frame:
    """Shape-independent landmarks of a body in its rest pose (model space, metres)."""

    v_template: np.ndarray   # (V, 3) template (selection is made on it, so it does not depend on shape)
    joint: np.ndarray        # (V,) int: SMPL joint (part - 1) of each vertex
    J: np.ndarray            # (24, 3) template rest joints
    waist_y: float
    neck_y: float

    def leg_s(self) -> np.ndarray:
        """(V,) fraction along the leg: 0 at the hip joints' height, 1 at the ankles'."""
        hip, ank = self.J[L_HIP, 1], self.J[L_ANKLE, 1]
        return (hip - self.v_template[:, 1]) / (hip - ank)

    def leg_y(self, s: float) -> float:
        hip, ank = self.J[L_HIP, 1], self.J[L_ANKLE, 1]
        return float(hip - s * (hip - ank))

    def arm_t(self) -> np.ndarray:
        """(V,) fraction along the arm (T-pose, arms along x): 0 at the shoulder joint, 1 at the wrist."""
        sx = abs(self.J[L_SHOULDER, 0])
        wx = abs(self.J[L_WRIST, 0])
        return (np.abs(self.v_template[:, 0]) - sx) / (wx - sx)


def _body_frame(body) -> _Frame:
    vt = np.asarray(body.v_template, np.float64)
    parts = body.parts if body.parts is not None else (np.argmax(body.weights, 1) + 1)
    J = np.asarray(body.J_regressor, np.float64) @ vt
    waist = J[PELVIS, 1] + 0.6 * (J[SPINE1, 1] - J[PELVIS, 1])
    neck = J[SPINE3, 1] + 0.75 * (J[NECK, 1] - J[SPINE3, 1])
    return _Frame(vt, np.asarray(parts, np.int64) - 1, J, float(waist), float(neck))


def shaped_rest(body, betas) -> tuple[np.ndarray, np.ndarray]:
    """Rest vertices (V, 3) and joints (24, 3) of the body for `betas` (model space, float64)."""
    b = np.zeros((1, body.num_betas), np.float32)
    if betas is not None:
        src = np.asarray(betas, np.float32).ravel()[:body.num_betas]
        b[0, :src.size] = src
    v, j = _lbs.shaped_rest(body.v_template, body.shapedirs, body.J_regressor, b)
    return np.asarray(v[0], np.float64), np.asarray(j[0], np.float64)


# ---------------------------------------------------------------------------------------------- garments

def _layer(name: str, label: str, keep: np.ndarray, rest: np.ndarray, normals: np.ndarray, faces: np.ndarray,
           weights: np.ndarray, offset: np.ndarray | float, thickness: float, smooth: int = 0) -> Garment:
    """An offset-layer garment over the kept body vertices (solidified)."""
    src, f = submesh(faces, keep)
    if len(f) == 0:
        return None
    ok = _largest_component(f, len(src))
    src2, f = submesh(f[ok], np.ones(len(src), bool))
    src = src[src2]
    off = np.broadcast_to(np.asarray(offset, np.float64), (len(keep),))[src]
    n = normals[src]
    outer = rest[src] + n * off[:, None]
    if smooth:  # e.g. shoes: one rounded surface over the toes, not a copy of each toe
        outer = _smooth_per_vertex(outer, f, smooth)
        n = _smooth_per_vertex(n, f, smooth)
        n /= np.maximum(np.linalg.norm(n, axis=1, keepdims=True), 1e-12)
        # Smoothing shrinks convex parts: keep the shell at least `thickness` off the skin.
        outer = push_out(rest[None], faces, [outer[None]], margin=float(thickness), iterations=6)[0][0].astype(np.float64)
    verts, faces2, bverts = solidify(outer, n, f, np.minimum(thickness, 0.6 * off))
    w = np.asarray(weights, np.float32)[src]
    return Garment(name, label, verts, faces2, np.concatenate([w, w[bverts]]), np.concatenate([src, src[bverts]]))


def _upper_keep(fr: _Frame, sleeve: float, hem_s: float) -> np.ndarray:
    t = fr.arm_t()
    arm_ok = t <= (sleeve if sleeve > 0 else 0.05)
    hands = np.isin(fr.joint, [L_HAND, R_HAND])
    return ((fr.leg_s() <= hem_s) & (fr.v_template[:, 1] < fr.neck_y) & arm_ok & ~hands
            & ~np.isin(fr.joint, [NECK, HEAD]))


def _lower_keep(fr: _Frame, length_s: float) -> np.ndarray:
    y = fr.v_template[:, 1]
    return (y <= fr.waist_y) & (fr.leg_s() <= length_s) & ~np.isin(fr.joint, list(_ARMS | _FEET - {L_ANKLE, R_ANKLE}))


def _skirt(name: str, label: str, fr: _Frame, rest: np.ndarray, top_y: float, length_s: float,
           looseness: float, thickness: float, flare: float, rows: int = 14, cols: int = 48) -> Garment:
    """A tube from `top_y` down to leg fraction `length_s`, hanging over both legs."""
    hem_y = fr.leg_y(length_s)
    pel = fr.J[PELVIS]
    centre = np.array([pel[0], pel[2]])
    heights = np.linspace(top_y, hem_y, rows)
    angles = np.linspace(-np.pi, np.pi, cols, endpoint=False)
    body_pts = rest[~np.isin(fr.joint, list(_ARMS))]
    env = _envelope(body_pts, centre, heights, angles, band=0.03, floor=0.05)
    # Hang straight down from the widest point above (cloth does not tuck in under the hips), and
    # smooth around the ring so the hem is a soft curve.
    env = np.maximum.accumulate(env, axis=0)
    for _ in range(3):
        env = (np.roll(env, 1, 1) + 2 * env + np.roll(env, -1, 1)) / 4
    t = np.linspace(0.0, 1.0, rows)[:, None]
    radius = env + looseness + flare * t ** 1.5 + thickness
    x = centre[0] + radius * np.sin(angles)[None]
    z = centre[1] + radius * np.cos(angles)[None]
    y = np.broadcast_to(heights[:, None], radius.shape)
    outer = np.stack([x, y, z], -1).reshape(-1, 3)
    normals = np.stack([np.sin(angles)[None].repeat(rows, 0), np.zeros(radius.shape), np.cos(angles)[None].repeat(rows, 0)],
                       -1).reshape(-1, 3)
    faces = _tube_faces(rows, cols, closed=True)
    verts, faces2, bverts = solidify(outer, normals, faces, thickness)
    # Weights: pelvis at the waist, blending towards both hips (each side leaning to its own leg but
    # never only one: the cloth between the legs follows their average).
    s = (3 * t ** 2 - 2 * t ** 3)  # smoothstep down the skirt
    side = 0.5 + 0.3 * np.sin(angles)[None]  # +x = left
    w = np.zeros((rows, cols, 24), np.float32)
    w[..., PELVIS] = 1 - 0.85 * s
    w[..., L_HIP] = 0.85 * s * side
    w[..., R_HIP] = 0.85 * s * (1 - side)
    w = w.reshape(-1, 24)
    # Cloth: the waistband (the top rows) is pinned, fading to free cloth a third of the way down.
    pin = np.broadcast_to(_fade(t, 0.3, 0.08), (rows, cols)).reshape(-1)
    return Garment(name, label, verts, faces2, np.concatenate([w, w[bverts]]), -np.ones(len(verts), np.int64),
                   pin=np.concatenate([pin, pin[bverts]]))


def _fade(x: np.ndarray, zero_at: float, one_at: float) -> np.ndarray:
    """Smoothstep from 0 (x at `zero_at`) to 1 (x at `one_at`), clamped; works either direction."""
    u = np.clip((np.asarray(x, np.float64) - zero_at) / (one_at - zero_at), 0.0, 1.0)
    return u * u * (3 - 2 * u)


def _top_pins(g: Garment, J: np.ndarray) -> np.ndarray:
    """Cloth pins of a loose top (shaped rest joints J (24, 3)): shoulders, chest and sleeves (the rest
    pose is a T-pose: the arms are at shoulder height) follow the skinning; below the chest the shirt
    fades to free cloth by the navel's height."""
    return _fade(g.rest[:, 1], J[SPINE1, 1], J[SPINE2, 1])


# Tops at least this loose (metres between skin and cloth) are simulated when cloth is on; tighter
# ones would only rub against the body.
LOOSE_TOP = 0.012


def _hair(kind: str, fr: _Frame, rest: np.ndarray, normals: np.ndarray, faces: np.ndarray, weights: np.ndarray,
          length: float, volume: float) -> list[Garment]:
    """Hair: a scalp cap (offset layer) and, for long hair / ponytail, a hanging part."""
    head = fr.J[HEAD]
    top = fr.v_template[fr.joint == HEAD, 1].max()
    centre = np.array([head[0], head[1] + 0.25 * (top - head[1]), head[2]])
    d = fr.v_template - centre
    d /= np.maximum(np.linalg.norm(d, axis=1, keepdims=True), 1e-9)
    on_head = fr.joint == HEAD
    # Scalp: the top, the back and the sides behind the ears; the face and ears stay bare.
    scalp = on_head & ((d[:, 1] > 0.45) | ((d[:, 2] < -0.15) & (d[:, 1] > -0.55)) | ((d[:, 2] < 0.2) & (d[:, 1] > 0.15)))
    if kind == "buzz":
        off = np.full(len(scalp), 0.004)
        thick = 0.003
    else:
        # Fuller on top, thinner towards the hairline.
        off = 0.006 + volume * np.clip((d[:, 1] + 0.2) / 0.9, 0.25, 1.0)
        thick = 0.005
    out = [_layer(f"hair_{kind}", "hair", scalp, rest, normals, faces, weights, off, thick)]
    if kind == "long":
        out.append(_hair_curtain(fr, rest, centre, length, volume))
    elif kind == "ponytail":
        out.append(_ponytail(fr, rest, centre, length))
    return out


def _hair_curtain(fr: _Frame, rest: np.ndarray, centre: np.ndarray, length: float, volume: float,
                  rows: int = 12, cols: int = 24) -> Garment:
    """Long hair falling behind the head over the back and the shoulders' tops."""
    shoulder_top = float(rest[np.isin(fr.joint, [L_COLLAR, R_COLLAR, SPINE3]), 1].max())
    y0 = centre[1] + 0.02
    angles = np.linspace(-0.62 * np.pi, 0.62 * np.pi, cols) + np.pi  # around the back (angle pi = -z)
    side = np.abs(((angles - np.pi) / (0.62 * np.pi)))  # 0 at the middle of the back, 1 at the sides
    bottom = y0 - length * (1 - 0.55 * side ** 2)  # shorter towards the sides
    bottom = np.maximum(bottom, np.where(side > 0.8, shoulder_top + 0.01, -np.inf))
    u = np.linspace(0, 1, rows)[:, None]
    heights = y0 + (bottom[None] - y0) * u  # (rows, cols)
    body_pts = rest[~np.isin(fr.joint, list(_ARMS))]
    env = np.empty((rows, cols))
    centre_xz = np.array([centre[0], centre[2]])
    for c in range(cols):
        env[:, c] = _envelope(body_pts, centre_xz, heights[:, c], angles[c:c + 1], band=0.025, floor=0.06)[:, 0]
    env = np.maximum.accumulate(env, axis=0)  # falls straight down from the widest point above
    radius = env + 0.012 + volume
    x = centre_xz[0] + radius * np.sin(angles)[None]
    z = centre_xz[1] + radius * np.cos(angles)[None]
    outer = np.stack([x, heights, z], -1).reshape(-1, 3)
    normals = np.stack([np.sin(angles)[None].repeat(rows, 0), np.zeros((rows, cols)), np.cos(angles)[None].repeat(rows, 0)],
                       -1).reshape(-1, 3)
    verts, faces, bverts = solidify(outer, normals, _tube_faces(rows, cols, closed=False), 0.008)
    s = np.broadcast_to(3 * u ** 2 - 2 * u ** 3, (rows, cols))
    # Head at the crown; below the skull it hangs from the neck and upper back.
    below = np.clip((centre[1] - heights) / 0.12, 0, 1) * s
    w = np.zeros((rows, cols, 24), np.float32)
    w[..., HEAD] = 1 - below
    w[..., NECK] = 0.5 * below
    w[..., SPINE3] = 0.5 * below
    w = w.reshape(-1, 24)
    return Garment("hair_long_back", "hair", verts, faces, np.concatenate([w, w[bverts]]), -np.ones(len(verts), np.int64))


def _ponytail(fr: _Frame, rest: np.ndarray, centre: np.ndarray, length: float, rows: int = 10, cols: int = 10) -> Garment:
    """A tapered tube from the back of the head, hanging down behind the neck."""
    head_pts = rest[fr.joint == HEAD]
    back_z = float(head_pts[:, 2].min())
    root = np.array([centre[0], centre[1] + 0.01, back_z - 0.02])
    u = np.linspace(0, 1, rows)
    path = np.stack([np.full(rows, root[0]), root[1] - length * u, root[2] - 0.05 * np.sin(np.pi * u * 0.8)], 1)
    radius = 0.03 * (1 - 0.6 * u) + 0.008
    ang = np.linspace(0, 2 * np.pi, cols, endpoint=False)
    ring = np.stack([np.cos(ang), np.zeros(cols), np.sin(ang)], 1)  # horizontal rings
    outer = (path[:, None] + radius[:, None, None] * ring[None]).reshape(-1, 3)
    faces = _tube_faces(rows, cols, closed=True)
    # Close the end with a fan around the last ring's centre.
    tip = len(outer)
    outer = np.concatenate([outer, path[-1:] - np.array([[0.0, 0.01, 0.0]])])
    last = (rows - 1) * cols
    fan = np.array([(last + c, tip, last + (c + 1) % cols) for c in range(cols)])
    faces = np.concatenate([faces, fan]).astype(np.int32)
    # Outward normals of the rings face away from the path: orient faces consistently with them.
    s = (3 * u ** 2 - 2 * u ** 3)
    w = np.zeros((rows, cols, 24), np.float32)
    w[..., HEAD] = (1 - 0.7 * s)[:, None]
    w[..., NECK] = (0.7 * s)[:, None]
    w = np.concatenate([w.reshape(-1, 24), np.eye(24, dtype=np.float32)[[HEAD]] * 0.3 + np.eye(24, dtype=np.float32)[[NECK]] * 0.7])
    return Garment("hair_ponytail", "hair", outer, faces, w, -np.ones(len(outer), np.int64))


def build_outfit(body, betas, outfit: dict) -> list[Garment]:
    """Garment meshes (model space, rest pose of shape `betas`) for an outfit dict (module doc)."""
    fr = _body_frame(body)
    rest, shaped_J = shaped_rest(body, betas)
    faces = np.asarray(body.faces, np.int64)
    normals = vertex_normals(rest, faces)
    W = np.asarray(body.weights, np.float32)
    out: list[Garment] = []
    lower = outfit.get("lower")
    lower_off = 0.0
    if lower:
        lo_loose, lo_thick = float(lower["looseness"]), float(lower["thickness"])
        lower_off = lo_loose + lo_thick
        if lower["kind"] == "skirt":
            out.append(_skirt("skirt", "lower", fr, rest, fr.waist_y + 0.02, float(lower["length"]), lo_loose,
                              lo_thick, float(lower.get("flare", 0.06))))
        else:
            keep = _lower_keep(fr, float(lower["length"]))
            out.append(_layer(lower["kind"], "lower", keep, rest, normals, faces, W, lower_off, lo_thick))
    upper = outfit.get("upper")
    if upper:
        loose, thick = float(upper["looseness"]), float(upper["thickness"])
        keep = _upper_keep(fr, float(upper["sleeve"]), float(upper["hem"]))
        # Worn over the trousers: where both overlap, the top lies further out (+ 5 mm).
        off = np.full(len(keep), loose + thick)
        if lower and lower["kind"] != "skirt":
            over = rest[:, 1] <= fr.waist_y + 0.03
            off[over] = np.maximum(off[over], lower_off + 0.005 + thick)
        elif lower:
            off[rest[:, 1] <= fr.waist_y + 0.04] = 0.0  # tucked into the skirt: stop above its waistband
            keep = keep & (rest[:, 1] > fr.waist_y + 0.01)
        top = _layer(upper["kind"], "upper", keep, rest, normals, faces, W, np.maximum(off, 0.004), thick)
        if top is not None and loose >= LOOSE_TOP and not (lower and lower["kind"] == "skirt"):
            top.pin = _top_pins(top, shaped_J)  # hangs over the trousers (tucked into a skirt: not)
        out.append(top)
    dress = outfit.get("dress")
    if dress:
        loose, thick = float(dress["looseness"]), float(dress["thickness"])
        keep = _upper_keep(fr, float(dress["sleeve"]), 0.0) & (fr.v_template[:, 1] > fr.waist_y - 0.02)
        out.append(_layer("dress_top", "dress", keep, rest, normals, faces, W, loose + thick, thick))
        out.append(_skirt("dress_skirt", "dress", fr, rest, fr.waist_y + 0.01, float(dress["length"]), loose + thick,
                          thick, float(dress.get("flare", 0.08))))
    shoes = outfit.get("shoes")
    if shoes:
        thick = float(shoes["thickness"])
        top = fr.J[L_ANKLE, 1] + (0.12 if shoes["kind"] == "boots" else 0.025)
        keep = np.isin(fr.joint, list(_FEET)) & (fr.v_template[:, 1] <= top)
        if shoes["kind"] == "boots":
            keep |= (fr.v_template[:, 1] <= top) & ~np.isin(fr.joint, list(_ARMS))
        out.append(_layer(shoes["kind"], "shoes", keep, rest, normals, faces, W, thick + 0.006, thick, smooth=6))
    hair = outfit.get("hair")
    if hair:
        out += _hair(hair["kind"], fr, rest, normals, faces, W, float(hair.get("length", 0.25)),
                     float(hair.get("volume", 0.015)))
    out = [g for g in out if g is not None and len(g.faces)]
    # The rest shapes come from envelopes and offsets; nothing may start under the skin.
    if out:
        fixed = push_out(rest[None], faces, [g.rest[None] for g in out], margin=0.002, iterations=4)
        for g, r in zip(out, fixed):
            g.rest = r[0].astype(np.float64)
    return out


# ---------------------------------------------------------------------------------------------- posing

def lead_in_poses(pose: np.ndarray, n: int) -> np.ndarray:
    """(n, P) poses moving from the rest pose to `pose` (P,) axis-angle: the root rotation is
    `pose`'s throughout, every other joint turns from identity to its rotation along the geodesic
    (axis-angle scaled by a smoothstep from 0 to 1, exclusive of 1: the clip's own first frame follows).

    A cloth simulation starts here: garments are made around the rest pose, so they begin without the
    legs or arms passing through them (a skinned skirt on a striding pose has legs poking out of it)."""
    pose = np.asarray(pose, np.float64).ravel()
    t = np.arange(n, dtype=np.float64) / max(n, 1)
    s = t * t * (3 - 2 * t)
    out = pose[None] * s[:, None]
    out[:, :3] = pose[:3]
    return out


def pose_garments(body, garments: list[Garment], poses, betas, trans) -> list[np.ndarray]:
    """Pose garments like the body: (N, G, 3) per garment for poses (N, 72) (or SMPL-H's (N, 156):
    its finger joints are ignored), betas (B,), trans (N, 3).

    The same linear blend skinning as `BodyModel.forward` (joints from the shaped body, the body's
    pose correctives on layer vertices), so `pose_garments` of a layer at offset 0 reproduces the
    body's own vertices.
    """
    poses = np.asarray(poses, np.float64)
    if poses.shape[-1] == 156:  # SMPL-H layout (fingers): garments ride on the 22 body joints
        poses = np.concatenate([poses[..., :66], np.zeros(poses.shape[:-1] + (6,))], -1)
    poses = poses.reshape(-1, 72)
    N = len(poses)
    trans = np.broadcast_to(np.asarray(trans, np.float64).reshape(-1, 3), (N, 3))
    if not garments:
        return []
    _, J = shaped_rest(body, betas)
    rot = _lbs.rodrigues(poses.reshape(N, 24, 3))
    G_rot, G_pos = _lbs.global_transforms(rot, np.broadcast_to(J, (N, 24, 3)).copy(), body.parents)
    offset = G_pos - np.einsum("njab,jb->nja", G_rot, J)  # x -> G_rot (x - J) + G_pos
    A = np.concatenate([G_rot.reshape(N, 24, 9), offset], -1)  # (N, 24, 12)
    pose_feature = (rot[:, 1:] - np.eye(3)).reshape(N, -1)
    rest_all = np.concatenate([g.rest for g in garments])
    src_all = np.concatenate([g.source for g in garments])
    w_all = np.concatenate([g.weights for g in garments]).astype(np.float64)
    pts = np.broadcast_to(rest_all, (N,) + rest_all.shape).copy()
    if body.posedirs is not None and np.any(src_all >= 0):
        has = src_all >= 0
        pd = np.asarray(body.posedirs, np.float64)[src_all[has]]  # (G', 3, 207)
        pts[:, has] += np.einsum("gcp,np->ngc", pd, pose_feature)
    T = np.einsum("gj,njk->ngk", w_all, A)  # (N, G, 12)
    R = T[..., :9].reshape(N, -1, 3, 3)
    out = np.einsum("ngab,ngb->nga", R, pts) + T[..., 9:] + trans[:, None]
    res, k = [], 0
    for g in garments:
        res.append(out[:, k:k + g.num_vertices].astype(np.float32))
        k += g.num_vertices
    return res


def push_out(body_vertices: np.ndarray, body_faces: np.ndarray, garment_vertices: list[np.ndarray],
             margin: float = 0.002, iterations: int = 3) -> list[np.ndarray]:
    """Move posed garment vertices that fell inside the body back out (a cheap collision response).

    Skinning alone lets cloth sink where the skin folds (armpits, a raised knee under a skirt, the
    neck under long hair). For each garment vertex the nearest posed body vertex (k-d tree) and its
    normal give a signed distance; vertices closer than `margin` metres (or behind the skin) move
    out along that normal to `margin`. body_vertices (N, V, 3); garment_vertices: (N, G, 3) each.
    Needs scipy; without it the garments are returned unchanged.
    """
    try:
        from scipy.spatial import cKDTree
    except ImportError:  # pragma: no cover - scipy ships with the dataset extra
        return garment_vertices
    if not garment_vertices:
        return garment_vertices
    out = [np.array(g, np.float64) for g in garment_vertices]
    for n in range(len(body_vertices)):
        bv = np.asarray(body_vertices[n], np.float64)
        normals = vertex_normals(bv, body_faces)
        tree = cKDTree(bv)
        for g in out:
            p = g[n]
            for _ in range(iterations):
                _d, idx = tree.query(p, k=1)
                d = np.einsum("gc,gc->g", p - bv[idx], normals[idx])
                bad = d < margin
                if not bad.any():
                    break
                p[bad] += normals[idx[bad]] * (margin - d[bad])[:, None]
    return [g.astype(np.float32) for g in out]
