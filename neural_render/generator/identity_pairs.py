"""Training pairs for the multi-identity generator: one body-painted identity seen twice.

`random_identity(rng, atlas)` paints a person in UV space: a skin tone (light to dark), hair on the
head's back and top, a shirt (short or long sleeves) and trousers (or shorts) each solid, striped,
checked or mottled, shoes; colours in sRGB 0..255, patterns tied to the rest-pose surface so they
follow the body.

`make_pair(rng, body, atlas, ...)` renders that identity (random shape, lit by a random directional
light, Lambert + ambient) in a source pose and a target pose or view over a random background, and
returns what the network sees at inference: the source photo lifted to UV through a *perturbed*
body (a fit is never exact) and looked up at the target's perturbed body, the target passes, the
background with the source person inpainted away, and the true target frame. All uint8 / float16
arrays at `size` x `size`, (H, W, C).

Poses come from the pose prior's Gaussian mixture (smpl_assets/pose_prior.npz, clipped to the joint
limits) and the shipped walk; nothing is downloaded.
"""

from __future__ import annotations

import numpy as np

from neural_render.generator import uv_lift
from neural_render.generator.uv_atlas import UVAtlas

UPPER = (4, 7, 10, 14, 15, 17, 18)          # spine1-3, collars, upper arms (SMPL part = joint + 1)
FOREARMS = (19, 20)
LOWER = (1, 2, 3)                            # pelvis, thighs
SHINS = (5, 6)
FEET = (8, 9, 11, 12)
HEAD = (16,)


def _colour(rng, sat=(0.1, 0.9), val=(0.15, 0.95)) -> np.ndarray:
    import colorsys

    h, s, v = rng.random(), rng.uniform(*sat), rng.uniform(*val)
    return np.array(colorsys.hsv_to_rgb(h, s, v)) * 255


def _pattern(rng, rest: np.ndarray, base: np.ndarray) -> np.ndarray:
    """(N, 3) colours of a garment over rest points (N, 3)."""
    kind = rng.choice(["solid", "stripes", "checker", "mottled"], p=[0.4, 0.25, 0.15, 0.2])
    out = np.broadcast_to(base, (len(rest), 3)).astype(np.float64).copy()
    if kind == "solid":
        return out
    second = _colour(rng)
    f = rng.uniform(15, 50)
    if kind == "stripes":
        axis = rng.integers(0, 3)
        t = (np.sin(rest[:, axis] * f) > 0)[:, None]
    elif kind == "checker":
        t = ((np.floor(rest[:, 0] * f / 3) + np.floor(rest[:, 1] * f / 3) + np.floor(rest[:, 2] * f / 3)) % 2 == 0)[:, None]
    else:
        ph = rng.uniform(0, 6.3, 3)
        n = np.sin(rest[:, 0] * f + ph[0]) * np.sin(rest[:, 1] * f * 0.7 + ph[1]) * np.sin(rest[:, 2] * f + ph[2])
        return out * (1 + 0.25 * n[:, None])
    return np.where(t, out, second)


def random_identity(rng: np.random.Generator, A: UVAtlas) -> np.ndarray:
    """(S, S, 3) float32 sRGB texture of a new person (see the module docstring)."""
    tone = rng.random()
    skin = np.array([235 - 150 * tone, 195 - 125 * tone, 170 - 110 * tone]) * rng.uniform(0.9, 1.05)
    tex = np.zeros((A.size, A.size, 3), np.float64)
    v = A.valid
    rest = A.rest
    tex[v] = skin
    long_sleeves, shorts = rng.random() < 0.5, rng.random() < 0.35
    shirt_parts = UPPER + (FOREARMS if long_sleeves else ())
    trouser_parts = LOWER + (() if shorts else SHINS)
    bare_torso = rng.random() < 0.1
    for parts, sat in ((shirt_parts, (0.0, 0.9)), (trouser_parts, (0.0, 0.6))):
        if parts is shirt_parts and bare_torso:
            continue
        sel = v & np.isin(A.part, parts)
        tex[sel] = _pattern(rng, rest[sel], _colour(rng, sat=sat))
    sel = v & np.isin(A.part, FEET)
    tex[sel] = _colour(rng, sat=(0, 0.4), val=(0.05, 0.5))
    # Hair: the head's top and back (rest pose: y up, z forward), sometimes none.
    if rng.random() < 0.85:
        head = v & np.isin(A.part, HEAD)
        if head.any():
            hy, hz = rest[..., 1], rest[..., 2]
            top = hy[head].min() + (0.55 + 0.2 * rng.random()) * (hy[head].max() - hy[head].min())
            back = hz[head].min() + 0.45 * (hz[head].max() - hz[head].min())
            hair = head & ((hy > top) | ((hz < back) & (hy > hy[head].min() + 0.35 * (hy[head].max() - hy[head].min()))))
            tex[hair] = _colour(rng, sat=(0.1, 0.7), val=(0.03, 0.6))
    # Low-frequency shading variation, so nothing is perfectly flat.
    ph = rng.uniform(0, 6.3, 3)
    n = np.sin(rest[..., 0] * 9 + ph[0]) * np.sin(rest[..., 1] * 7 + ph[1]) * np.sin(rest[..., 2] * 11 + ph[2])
    tex *= (1 + 0.06 * n)[..., None]
    tex[~v] = 0
    return np.clip(uv_lift.grow_texels(tex.astype(np.float32), v), 0, 255).astype(np.float32)


def random_background(rng: np.random.Generator, size: int) -> np.ndarray:
    """(size, size, 3) float32: a floor/wall split, a gradient and a few soft blobs."""
    import cv2

    c1, c2 = _colour(rng, sat=(0, 0.5)), _colour(rng, sat=(0, 0.5))
    y = np.linspace(0, 1, size)[:, None, None]
    horizon = rng.uniform(0.4, 0.8)
    img = np.where(y < horizon, c1 * (0.8 + 0.3 * y), c2 * (1.1 - 0.3 * y)) * np.ones((1, size, 1))
    for _ in range(rng.integers(2, 7)):
        c = tuple(int(x) for x in rng.integers(0, size, 2))
        cv2.circle(img, c, int(rng.integers(size // 20, size // 4)), _colour(rng).tolist(), -1)
    img = cv2.GaussianBlur(img.astype(np.float32), (0, 0), rng.uniform(0.5, 4))
    img += rng.normal(0, 3, img.shape)
    return np.clip(img, 0, 255).astype(np.float32)


class PoseSource:
    """Random body poses (69 values, joints 1..23): mixture samples or frames of the shipped walk."""

    def __init__(self):
        from neural_render.motion import Motion
        from neural_render.paths import asset

        d = np.load(asset("pose_prior.npz"))
        self.means, self.w = d["means"], d["weights"] / d["weights"].sum()
        prec = d["precision_chol"]
        self.chol_cov = [np.linalg.inv(L).T for L in prec]   # precision = L L^T -> cov = L^-T L^-1
        self.lo, self.hi = d["limit_lo"], d["limit_hi"]
        walk = Motion.load(asset("motions", "cmu_131_01_walk.npz"))
        self.walk = walk.poses[:, 3:]

    def sample(self, rng: np.random.Generator) -> np.ndarray:
        if rng.random() < 0.3:
            return self.walk[rng.integers(len(self.walk))].astype(np.float64).copy()
        k = rng.choice(len(self.w), p=self.w)
        z = rng.normal(0, 0.8, len(self.means[k]))
        p = np.zeros(69)
        p[:len(z)] = self.means[k] + self.chol_cov[k] @ z
        return np.clip(p, self.lo, self.hi)


def _shade(rgb: np.ndarray, normal: np.ndarray, mask: np.ndarray, light: np.ndarray, ambient: float) -> np.ndarray:
    lam = np.clip((normal * light).sum(-1), 0, 1)
    s = ambient + (1 - ambient) * lam
    out = rgb * s[..., None]
    out[~mask] = 0
    return out


def make_pair(rng: np.random.Generator, body, A: UVAtlas, poses: PoseSource, size: int = 128,
              renderer=None, texture: np.ndarray | None = None) -> dict:
    """One training example (see the module docstring). `renderer`: a RasterRenderer(size, size)."""
    import cv2

    from neural_render.body.axes import Y_UP_TO_Z_UP
    from neural_render.camera import Camera
    from neural_render.motion.rotations import axis_rotation, matrix_to_aa

    tex = uv_lift.UVTexture(texture if texture is not None else random_identity(rng, A), A.valid.astype(np.float32))
    betas = np.zeros(body.num_betas)
    betas[:10] = rng.normal(0, 0.8, 10)

    def posed(body_pose, yaw, jitter=0.0, beta_jitter=0.0):
        p = np.zeros(72)
        R = Y_UP_TO_Z_UP @ axis_rotation("Y", yaw)
        p[:3] = matrix_to_aa(R)
        p[3:] = body_pose + (rng.normal(0, jitter, 69) if jitter else 0)
        b = betas + (rng.normal(0, beta_jitter, len(betas)) if beta_jitter else 0)
        v = body.forward(p, b, None, keypoints=False).vertices[0]
        return v

    yaw_s = rng.uniform(-np.pi, np.pi) if rng.random() < 0.3 else rng.normal(0, 0.6)
    pose_s = poses.sample(rng)
    new_view = rng.random() < 0.3
    pose_t = pose_s if new_view else poses.sample(rng)
    yaw_t = yaw_s + (rng.uniform(-np.pi, np.pi) if new_view else rng.normal(0, 0.5))
    vs = posed(pose_s, yaw_s)
    vt = posed(pose_t, yaw_t)
    # The camera frames both bodies (same camera: new poses; new views turn the body instead).
    allv = np.concatenate([vs, vt])
    c = (allv.min(0) + allv.max(0)) / 2
    height = float(allv[:, 2].max() - allv[:, 2].min())
    elev = rng.uniform(-0.2, 0.4)
    focal_mm = rng.uniform(35, 60)
    fill = rng.uniform(0.55, 0.9)            # fraction of the frame height the person covers
    dist = max(height, 0.8) / (fill * 2 * 18.0 / focal_mm)
    cam = Camera.look_at(c + np.array([0.0, -dist, elev * dist * 0.5]), c, size, size, focal_mm=focal_mm)
    # Widen the view until both bodies fit (bodies spread sideways by a turn or a stance).
    for _ in range(6):
        uv, _ = cam.project(allv)
        if uv.min() > 2 and uv.max() < size - 3:
            break
        cam.K[:2, :2] *= 0.85
    light = rng.normal(0, 1, 3)
    light[2] = abs(light[2]) + 0.5       # from the camera's side
    light /= np.linalg.norm(light)
    ambient = rng.uniform(0.35, 0.7)
    bg = random_background(rng, size)

    def render(v, shade=True):
        buf = uv_lift.render_buffers(v, body, cam, renderer)
        rgb = uv_lift.lookup(tex, buf["uv"], buf["mask"])
        if shade:
            rgb = _shade(rgb, buf["normal"], buf["mask"], light, ambient)
        return buf, rgb

    buf_s, rgb_s = render(vs)
    src_photo = np.where(buf_s["mask"][..., None], rgb_s, bg)
    buf_t, rgb_t = render(vt)
    # The fits: the bodies the network will be given are a little off (pose and shape noise).
    fit_s = posed(pose_s, yaw_s + rng.normal(0, 0.05), jitter=0.04, beta_jitter=0.3)
    fit_t = posed(pose_t, yaw_t + rng.normal(0, 0.05), jitter=0.04, beta_jitter=0.3)
    src_u8 = np.clip(np.rint(src_photo), 0, 255).astype(np.uint8)
    lifted = uv_lift.fill(uv_lift.lift(src_u8, cam, fit_s, body, size=A.size, work=2 * size), A)
    bt = uv_lift.render_buffers(fit_t, body, cam, renderer)
    warped = uv_lift.lookup(lifted, bt["uv"], bt["mask"])
    conf = uv_lift.lookup(lifted, bt["uv"], bt["mask"], "conf")
    # Background as animate makes it: the source photo with its (fitted) person inpainted away.
    bs = uv_lift.render_buffers(fit_s, body, cam, renderer)["mask"]
    hole = cv2.dilate(bs.astype(np.uint8), np.ones((7, 7), np.uint8)) | buf_s["mask"].astype(np.uint8)
    bg_in = cv2.inpaint(src_u8[..., ::-1].copy(), hole * 255, 3, cv2.INPAINT_TELEA)[..., ::-1]
    target = np.where(buf_t["mask"][..., None], rgb_t, bg_in.astype(np.float32))
    target = _antialias(target, buf_t["mask"], bg_in)
    return {
        "warped": np.clip(np.rint(warped), 0, 255).astype(np.uint8),
        "conf": np.rint(conf * 255).astype(np.uint8),
        "normal": np.rint((np.clip(bt["normal"], -1, 1) + 1) * 127.5 * bt["mask"][..., None]).astype(np.uint8),
        "mask": (bt["mask"] * 255).astype(np.uint8),
        "background": bg_in.astype(np.uint8),
        "target": np.clip(np.rint(target), 0, 255).astype(np.uint8),
        "target_mask": (buf_t["mask"] * 255).astype(np.uint8),
        "source": src_u8,
    }


def _antialias(img: np.ndarray, mask: np.ndarray, bg: np.ndarray) -> np.ndarray:
    import cv2

    a = cv2.GaussianBlur(mask.astype(np.float32), (3, 3), 0.6)[..., None]
    return a * img + (1 - a) * bg.astype(np.float32)

