"""A photo's appearance lifted onto the body's UV atlas, with per-texel confidence, and looked up again.

`lift(image, camera, vertices, body, ...)` -> `UVTexture`: every texel of the atlas
(uv_atlas.py) is placed on the posed body fitted to the photo, projected into the photo and kept
where the body is visible there (a depth test against the body rendered at the photo's camera, a
few pixels inside the body's and the person's silhouette). Its colour is the photo's (bilinear, at
up to `work` px across the person), its confidence the cosine between the surface normal and the
viewing ray (1 facing the camera, 0 grazing), faded to 0 over the last pixels before the silhouette
edge, where a slightly misfitted body would pick up background.

`fuse([...])` merges several lifted photos texel by texel, weighted by confidence^2.
`fill(tex, atlas)` completes what no photo saw: first the mirrored texel (left <-> right; the
confidence halved), then the nearest seen texel of the same body part in the rest pose (confidence
0). `lookup(tex, uv, mask)` samples it at a rendered UV pass.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from neural_render.generator.uv_atlas import UVAtlas, atlas as get_atlas

EDGE_FADE_PX = 4.0     # confidence ramps from 0 to 1 over this many work pixels inside the silhouette
DEPTH_TOL_M = 0.03     # a texel is visible when within 3 cm of the rendered depth


@dataclass
class UVTexture:
    rgb: np.ndarray          # (S, S, 3) float32 0..255
    conf: np.ndarray         # (S, S) float32 0..1 (0: not seen)
    seen: np.ndarray | None = None   # (S, S) bool: seen directly in a photo (before `fill`)

    @property
    def size(self) -> int:
        return self.rgb.shape[0]

    def image(self) -> np.ndarray:
        return np.clip(np.rint(self.rgb), 0, 255).astype(np.uint8)


def crop_camera(camera, points_uv: np.ndarray, work: int, margin: float = 0.08):
    """(SquareCrop, passes Camera) of a `work`-px square around projected points (N, 2)."""
    from neural_render.capture.video import square_crop_around
    from neural_render.camera import Camera

    crop = square_crop_around(points_uv, camera.width, camera.height, work, margin=margin)
    # A person larger than the frame's short side: allow a square bigger than the image.
    lo, hi = np.nanmin(points_uv, 0), np.nanmax(points_uv, 0)
    need = float((hi - lo).max() * (1 + 2 * margin))
    if need > crop.side:
        from neural_render.capture.video import SquareCrop

        c = (lo + hi) / 2
        crop = SquareCrop(float(c[0] - need / 2), float(c[1] - need / 2), need, work)
    return crop, Camera(crop.apply_to_K(camera.K), camera.world_to_camera, work, work)


def render_buffers(vertices: np.ndarray, body, camera, renderer=None) -> dict:
    """The raster renderer's buffers (normal, depth, uv, parts, mask) of one posed body."""
    from neural_render.passes.raster import RasterRenderer
    from neural_render.passes.scene import BodyInstance

    inst = BodyInstance.from_vertices(np.asarray(vertices, np.float32)[None], body.faces, body.parts,
                                      vt=body.vt, ft=body.ft)
    if renderer is None:
        # One renderer per size for the process: making an offscreen GL context costs ~0.1 s.
        key = (camera.width, camera.height)
        renderer = _RENDERERS.get(key)
        if renderer is None:
            renderer = _RENDERERS[key] = RasterRenderer(*key)
    return renderer.render([inst], [vertices], camera)


_RENDERERS: dict = {}


def lift(image: np.ndarray, camera, vertices: np.ndarray, body, size: int = 256, work: int = 768,
         person_mask: np.ndarray | None = None) -> UVTexture:
    """Lift `image` (H, W, 3 uint8, seen by `camera`, a neural_render.camera.Camera of the image's size)
    onto the atlas of the body posed as `vertices` (V, 3 world). See the module docstring."""
    import cv2

    A = get_atlas(body, size)
    verts = np.asarray(vertices, np.float64)
    uv_all, _ = camera.project(verts)
    crop, wcam = crop_camera(camera, uv_all, work)
    img = crop.apply_to_image(image)
    buf = render_buffers(verts, body, wcam)
    body_mask = buf["mask"]
    region = body_mask.copy()
    if person_mask is not None:
        region &= crop.apply_to_image(person_mask.astype(np.uint8) * 255) > 127
    # Distance (work px) to the nearest pixel outside the region: confidence fades near the edge.
    dist = cv2.distanceTransform(region.astype(np.uint8), cv2.DIST_L2, 3)
    edge = np.clip((dist - 1.0) / EDGE_FADE_PX, 0, 1)

    P = A.points(verts)                                              # (N, 3) world
    cam_pts = wcam.to_camera(P)
    z = cam_pts[:, 2]
    pix, _ = wcam.project(P)
    x, y = pix[:, 0], pix[:, 1]
    inside = (z > 1e-3) & (x >= 0) & (y >= 0) & (x <= work - 1) & (y <= work - 1)
    xi = np.clip(np.rint(x), 0, work - 1).astype(int)
    yi = np.clip(np.rint(y), 0, work - 1).astype(int)
    dz = np.abs(buf["depth"][yi, xi] - z)
    visible = inside & body_mask[yi, xi] & (dz < DEPTH_TOL_M)
    # Facing term from the posed face normal (world) and the ray to the texel.
    fn = _face_normals(verts, body.faces)[A.face[A.valid]]
    ray = P - wcam.center[None]
    ray /= np.maximum(np.linalg.norm(ray, axis=1, keepdims=True), 1e-9)
    facing = np.clip(-(fn * ray).sum(1), 0, 1)
    conf = np.where(visible, facing * edge[yi, xi], 0.0).astype(np.float32)
    colours = sample_bilinear(img, x, y)
    rgb = np.zeros((size, size, 3), np.float32)
    c = np.zeros((size, size), np.float32)
    rgb[A.valid] = colours
    c[A.valid] = conf
    return UVTexture(rgb, c, c > 0)


def sample_bilinear(img: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """(N, C) float32 bilinear samples of img (H, W, C) at pixel positions x, y (N,)."""
    import cv2

    n = len(x)
    cols = 1024
    rows = -(-n // cols)
    mx = np.zeros(rows * cols, np.float32)
    my = np.zeros(rows * cols, np.float32)
    mx[:n], my[:n] = x, y
    out = cv2.remap(img.astype(np.float32), mx.reshape(rows, cols), my.reshape(rows, cols), cv2.INTER_LINEAR,
                    borderMode=cv2.BORDER_REPLICATE)
    return out.reshape(rows * cols, -1)[:n]


def _face_normals(verts: np.ndarray, faces: np.ndarray) -> np.ndarray:
    v = verts[faces]
    n = np.cross(v[:, 1] - v[:, 0], v[:, 2] - v[:, 0])
    return n / np.maximum(np.linalg.norm(n, axis=1, keepdims=True), 1e-12)


def fuse(textures: list[UVTexture]) -> UVTexture:
    """Texel-wise blend of several lifted photos, weights conf^2; confidence = the largest."""
    w = np.stack([t.conf ** 2 for t in textures])
    rgb = (np.stack([t.rgb for t in textures]) * w[..., None]).sum(0) / np.maximum(w.sum(0), 1e-9)[..., None]
    conf = np.stack([t.conf for t in textures]).max(0)
    return UVTexture(rgb.astype(np.float32), conf, conf > 0)


def fill(tex: UVTexture, A: UVAtlas, min_conf: float = 0.05) -> UVTexture:
    """Complete unseen texels: mirror first, then the nearest seen texel of the same part (rest
    pose), then anything still empty (texels outside every chart) from UV neighbours."""
    from scipy.spatial import cKDTree

    rgb, conf = tex.rgb.copy(), tex.conf.copy()
    seen = (conf >= min_conf) & A.valid
    # 1. symmetry
    mr, mc = A.mirror[..., 0], A.mirror[..., 1]
    ok = A.valid & (mr >= 0)
    mconf = np.zeros_like(conf)
    mconf[ok] = conf[mr[ok], mc[ok]]
    take = A.valid & ~seen & (mconf >= min_conf) & (0.5 * mconf > conf)
    rgb[take] = rgb[mr[take], mc[take]]
    conf[take] = 0.5 * mconf[take]
    known = A.valid & (seen | take)
    # 2. nearest known texel of the same part in the rest pose
    todo = A.valid & ~known
    for p in np.unique(A.part[todo]):
        src = known & (A.part == p)
        if not src.any():
            src = known
        if not src.any():
            break
        dst = todo & (A.part == p)
        _, nn = cKDTree(A.rest[src]).query(A.rest[dst])
        rgb[dst] = rgb[src][nn]
        conf[dst] = 0.0
    # 3. outside the charts: grow colours outward so bilinear lookups at chart edges stay clean
    rgb = grow_texels(rgb, A.valid)
    return UVTexture(rgb, conf, seen)


def grow_texels(rgb: np.ndarray, known: np.ndarray, iterations: int = 8, border: str = "replicate") -> np.ndarray:
    """Grow a texture's known texels outward, one ring per iteration: each unknown texel next to
    known ones takes their mean (3x3). So bilinear lookups at UV chart edges (and mipmaps) do not
    bleed in the unknown colour. rgb (S, S, C) float, known (S, S) bool; border: how the image edge
    counts, "replicate" (the edge texel repeats) or "constant" (nothing known beyond it).
    Returns a new array; rgb and known are not changed."""
    import cv2

    border_type = {"replicate": cv2.BORDER_REPLICATE, "constant": cv2.BORDER_CONSTANT}[border]
    img, k = rgb.copy(), known.copy()
    ker = np.ones((3, 3), np.float32)
    for _ in range(iterations):
        s = cv2.filter2D(img * k[..., None], -1, ker, borderType=border_type)
        n = cv2.filter2D(k.astype(np.float32), -1, ker, borderType=border_type)
        g = (n > 0) & ~k
        img[g] = s[g] / n[g, None]
        k |= g
    return img


def lookup(tex: UVTexture, uv: np.ndarray, mask: np.ndarray, channels: str = "rgb") -> np.ndarray:
    """Sample the texture at a UV pass: uv (H, W, 2) float 0..1, mask (H, W) bool ->
    (H, W, 3) float32 colours (0 outside the mask), or (H, W) confidence with channels="conf"."""
    import cv2

    S = tex.size
    mx = (uv[..., 0] * S - 0.5).astype(np.float32)
    my = ((1 - uv[..., 1]) * S - 0.5).astype(np.float32)
    src = tex.rgb if channels == "rgb" else tex.conf
    out = cv2.remap(src.astype(np.float32), mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    out[~mask] = 0
    return out
