"""Floor and foot contacts for a single-view fit: the feet stand on the ground instead of floating.

A monocular fit can lift both feet and keep the pelvis still where the person squats: the image is
explained either way. The floor settles it:

1. `estimate_contacts`: per frame and foot, the foot's lowest point (big toe, small toe or heel;
   BODY_25 19-24) is in contact when it is near the clip's lowest foot level and nearly still.
   Detector jitter (a centimetre or two per frame is 0.3-0.6 m/s of apparent speed at 30 fps)
   would break a planted foot into flickering bits, so the track is first filtered (a ~0.1 s
   median, then a ~0.1 s mean), a contact starts under the height / speed limits and lasts until
   it exceeds looser ones (hysteresis), and runs or gaps shorter than ~0.1 s are dropped / filled;
2. `estimate_floor`: the plane through the contact points (least squares; its tilt limited to
   MAX_TILT_DEG, as a camera pitch would tilt it; horizontal with too few points);
3. `fit_with_floor`: the fit again from the first one (`init_motion`), with the floor terms of
   `motion.fit` (contacting feet on the plane and not sliding, no keypoint below it), then the
   world turned and shifted so the plane is z = 0.
Units: metres, seconds; world Z-up.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from neural_render.motion.fit import FOOT_POINTS

CONTACT_SPEED = 0.25     # m/s: a foot slower than this (filtered track) may be standing
CONTACT_HEIGHT = 0.06    # m above the clip's low foot level (its 10th percentile)
RELEASE_FACTOR = 1.6     # hysteresis: a contact ends above this times the speed / height limits
FILTER_S = 0.1           # s: the median / mean filters' span, and the shortest contact run or gap
MAX_TILT_DEG = 20.0
MIN_CONTACT_POINTS = 8


def lowest_foot_points(kp: np.ndarray, up: np.ndarray) -> np.ndarray:
    """(T, 2, 3): per frame the lowest of each foot's three points along `up`. kp: (T, 25, 3)."""
    out = np.zeros((len(kp), 2, 3))
    for s, idx in enumerate(FOOT_POINTS):
        P = kp[:, list(idx)]
        out[:, s] = P[np.arange(len(kp)), np.argmin(P @ up, axis=1)]
    return out


def estimate_contacts(kp: np.ndarray, fps: float, up=(0.0, 0.0, 1.0)) -> np.ndarray:
    """(T, 2) bool: left/right foot in contact: on the filtered track of its lowest point, near
    the clip's low foot level (CONTACT_HEIGHT) and slower than CONTACT_SPEED, with hysteresis
    (RELEASE_FACTOR) and no run or gap shorter than FILTER_S. kp: (T, 25, 3) metres; fps: frames/s."""
    up = np.asarray(up, np.float64)
    win = max(1, int(round(FILTER_S * fps)) | 1)  # odd, in frames
    smooth = lambda x: _running(np.mean, _running(np.median, x, win), win)  # noqa: E731
    # Height: of the lowest point. Speed: of the foot's centre (the mean of its three points):
    # which point is lowest flips between heel and toes under jitter on a flat foot, and the
    # lowest point's track then jumps by the foot's length.
    h = smooth(lowest_foot_points(kp, up) @ up)
    centre = smooth(np.stack([kp[:, list(idx)].mean(1) for idx in FOOT_POINTS], 1))
    level = np.percentile(h, 10)
    v = np.zeros(h.shape)
    if len(kp) > 1:
        v = np.linalg.norm(np.gradient(centre, axis=0), axis=-1) * fps  # central differences
    enter = (h < level + CONTACT_HEIGHT) & (v < CONTACT_SPEED)
    stay = (h < level + RELEASE_FACTOR * CONTACT_HEIGHT) & (v < RELEASE_FACTOR * CONTACT_SPEED)
    min_run = max(1, int(round(FILTER_S * fps)))
    out = np.zeros(h.shape, bool)
    for s in range(h.shape[1]):
        c = _hysteresis(enter[:, s], stay[:, s])
        c = ~_drop_short_runs(~c, min_run, keep_ends=True)  # fill short gaps inside a contact
        out[:, s] = _drop_short_runs(c, min_run)
    return out


def _running(stat, x: np.ndarray, win: int) -> np.ndarray:
    """Centred running `stat` (np.median, np.mean) along axis 0 over `win` frames (edges repeat
    the end values); x (T, ...)."""
    if win <= 1 or len(x) < 3:
        return x
    r = win // 2
    pad = np.concatenate([np.repeat(x[:1], r, 0), x, np.repeat(x[-1:], r, 0)])
    return stat(np.stack([pad[i:i + len(x)] for i in range(win)]), axis=0)


def _hysteresis(enter: np.ndarray, stay: np.ndarray) -> np.ndarray:
    """(T,) bool: on from a frame where `enter` holds, through the frames where `stay` holds
    (both directions in time: a contact seen late still covers its start)."""
    on = enter.copy()
    for order in (range(1, len(on)), range(len(on) - 2, -1, -1)):
        for t in order:
            prev = t - 1 if order.step == 1 else t + 1
            on[t] = on[t] or (on[prev] and stay[t])
    return on


def _drop_short_runs(c: np.ndarray, min_len: int, keep_ends: bool = False) -> np.ndarray:
    """(T,) bool with the True runs shorter than `min_len` frames set False (with keep_ends, runs
    touching the clip's first or last frame are kept: they may continue outside it)."""
    out = c.copy()
    t, T = 0, len(c)
    while t < T:
        if not c[t]:
            t += 1
            continue
        e = t
        while e < T and c[e]:
            e += 1
        if e - t < min_len and not (keep_ends and (t == 0 or e == T)):
            out[t:e] = False
        t = e
    return out


def estimate_floor(points: np.ndarray, up=(0.0, 0.0, 1.0)) -> tuple[np.ndarray, float, str]:
    """(unit normal, offset d, how) of the plane n . x + d = 0 through contact points (N, 3)."""
    up = np.asarray(up, np.float64)
    if len(points) >= MIN_CONTACT_POINTS:
        c = points.mean(0)
        _, sv, vt = np.linalg.svd(points - c)
        n = vt[2] * np.sign(vt[2] @ up or 1.0)
        spread = sv[1] / np.sqrt(len(points))  # the points must span an area, not a line
        if spread > 0.05 and np.degrees(np.arccos(np.clip(n @ up, -1, 1))) <= MAX_TILT_DEG:
            return n, float(-n @ c), f"plane through {len(points)} contact points"
    n = up / np.linalg.norm(up)
    h = points @ n if len(points) else np.zeros(1)
    return n, float(-np.median(h)), f"horizontal, at the median of {len(points)} contact points"


def fit_with_floor(res, body, obs2d: np.ndarray, layout: str, fps: float, opts, rel3d: np.ndarray | None = None,
                   reframe: bool = True, rel3d_layout: str | None = None):
    """Refit `res` (a single-view FitResult in a Z-up world) with the floor and foot contacts; with
    `reframe` the returned fit's world has the floor at z = 0. Stats: floor, contact frames, foot
    slide and lowest point before/after (mm)."""
    from neural_render.motion.fit import fit_keypoints

    kp = res.keypoints3d
    contact = estimate_contacts(kp, fps)
    low = lowest_foot_points(kp, np.array([0, 0, 1.0]))
    n, d, how = estimate_floor(low[contact])
    before = floor_stats(kp, contact, n, d, fps)
    refit = fit_keypoints(body, obs2d=obs2d, cameras=res.cameras, layout=layout, fps=fps,
                          options=dataclasses.replace(opts, iters_pose=max(60, opts.iters_pose // 2)),
                          world=res.world, init_motion=res.motion, rel3d=rel3d, rel3d_layout=rel3d_layout,
                          floor=(n, d), contacts=contact)
    tilt = float(np.degrees(np.arccos(np.clip(n[2], -1, 1))))  # the estimated plane's, before reframing
    if reframe:
        refit = _to_floor_frame(refit, body, n, d)
        n, d = np.array([0, 0, 1.0]), 0.0
    after = floor_stats(refit.keypoints3d, contact, n, d, fps)
    refit.stats.update({k: v for k, v in res.stats.items() if k not in refit.stats})
    refit.stats["floor"] = {"estimate": how, "tilt_deg": round(tilt, 2),
                            "contact_frames": {"left": int(contact[:, 0].sum()), "right": int(contact[:, 1].sum())},
                            "before": before, "after": after}
    return refit


def floor_stats(kp: np.ndarray, contact: np.ndarray, n: np.ndarray, d: float, fps: float) -> dict:
    """Contact foot height above the floor (median |h|), slide speed while in contact, and the
    lowest keypoint (below the floor when negative), in mm / mm per second."""
    h_all = kp @ n + d
    low = lowest_foot_points(kp, n)
    h = low @ n + d
    out = {"contact_height_mm": round(float(np.median(np.abs(h[contact]))) * 1000, 1) if contact.any() else None,
           "lowest_point_mm": round(float(h_all.min()) * 1000, 1)}
    if len(kp) > 1:
        both = contact[1:] & contact[:-1]
        step = np.diff(low, axis=0)
        step = step - (step @ n)[..., None] * n
        speed = np.linalg.norm(step, axis=-1) * fps
        out["contact_slide_mm_per_s"] = round(float(np.median(speed[both])) * 1000, 1) if both.any() else None
    return out


def _to_floor_frame(res, body, n: np.ndarray, d: float):
    """Turn and shift the fit's world so the plane n . x + d = 0 becomes z = 0 (n -> +z)."""
    from neural_render.camera import Camera
    from neural_render.motion.rotations import rotations_between

    R = rotations_between(np.asarray(n, np.float64)[None], np.array([[0, 0, 1.0]]))[0]
    t = np.array([0.0, 0.0, float(d)])  # x' = R x + t: the plane's point -d n lands at height 0
    motion = res.motion.rotate_world(R, body=body)
    motion = motion.copy(trans=(motion.trans + t).astype(np.float32))
    cams = []
    for c in res.cameras:
        w2c = c.world_to_camera.copy()
        w2c[:3, :3] = c.R @ R.T
        w2c[:3, 3] = c.t - w2c[:3, :3] @ t
        cams.append(Camera(c.K, w2c, c.width, c.height, c.dist, c.name))
    res.motion, res.cameras = motion, cams
    res.keypoints3d = res.keypoints3d @ R.T + t
    res.joints = res.joints @ R.T + t
    res.world = res.world.split("; ground")[0] + "; floor (fitted to the foot contacts) at z=0"
    res.motion.metadata["world"] = res.world
    return res
