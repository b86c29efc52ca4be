"""Global pose normalization (Everybody Dance Now, Chan et al. 2019, sec. 3.3) and floor placement.

EDN maps a source subject's poses into the target video's frame: from each video take the ankle
positions closest to (largest image y) and farthest from (smallest image y) the camera and the
subject's height near each; then per frame, with the source ankle position f:
    b = t_min + (f - s_min) / (s_max - s_min) * (t_max - t_min) - f           (translation)
    s = t_far / s_far + (f - s_min) / (s_max - s_min) * (t_close / s_close - t_far / s_far)   (scale)
and the source pose is scaled by s about its ankle point and moved by b vertically.
`edn_normalize_2d` does exactly this on image keypoints; `edn_normalize_motion` is the 3D analogue
on a Motion's ankle heights (the body keeps its own size; s scales the horizontal travel, b places
the clip's ankle-height range onto the target's).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from neural_render.errors import InputError


@dataclass
class AnkleStats:
    """Ankle-position range of one clip and the subject's height near each end (same units)."""

    a_min: float     # farthest from the camera (smallest image y) / lowest ankle height in 3D
    a_max: float     # closest to the camera (largest image y) / highest ankle height in 3D
    h_far: float     # subject height near a_min
    h_close: float   # subject height near a_max


def ankle_stats(keypoints: np.ndarray, ankles: tuple[int, ...], margin: float = 0.1,
                conf: np.ndarray | None = None) -> AnkleStats:
    """Statistics of a 2D keypoint clip (T, K, 2) in image coordinates (y down).

    The ankle position per frame is the mean y of the visible ankles; heights are the keypoints'
    vertical extent, taken as the 90th percentile over frames whose ankle position lies within
    `margin` of the range from the far / close end.
    """
    kp = np.asarray(keypoints, np.float64)
    if kp.ndim != 3 or kp.shape[-1] < 2:
        raise InputError(f"keypoints have shape {kp.shape}, expected (T, K, 2)", where="edn")
    vis = np.isfinite(kp[..., 1]) if conf is None else (np.asarray(conf) > 0) & np.isfinite(kp[..., 1])
    y = np.where(vis, kp[..., 1], np.nan)
    f = np.nanmean(y[:, list(ankles)], axis=1)
    h = np.nanmax(y, axis=1) - np.nanmin(y, axis=1)
    ok = np.isfinite(f) & np.isfinite(h)
    if ok.sum() < 1:
        raise InputError("no frame shows an ankle", where="edn normalization")
    f, h = f[ok], h[ok]
    lo, hi = float(f.min()), float(f.max())
    rng = max(hi - lo, 1e-9)
    far = f <= lo + margin * rng
    close = f >= hi - margin * rng
    return AnkleStats(lo, hi, float(np.percentile(h[far], 90)), float(np.percentile(h[close], 90)))


def edn_transform(f: np.ndarray, src: AnkleStats, tgt: AnkleStats) -> tuple[np.ndarray, np.ndarray]:
    """Per-frame scale s and translation b for source ankle positions f (T,)."""
    f = np.asarray(f, np.float64)
    span = src.a_max - src.a_min
    u = np.zeros_like(f) if abs(span) < 1e-9 else (f - src.a_min) / span
    b = tgt.a_min + u * (tgt.a_max - tgt.a_min) - f
    s = tgt.h_far / src.h_far + u * (tgt.h_close / src.h_close - tgt.h_far / src.h_far)
    return s, b


def edn_normalize_2d(source: np.ndarray, target_stats: AnkleStats, ankles: tuple[int, ...],
                     source_stats: AnkleStats | None = None) -> np.ndarray:
    """Source 2D keypoints (T, K, 2+) mapped into the target video's frame (EDN sec. 3.3).

    Each frame is scaled by s about its ankle point (x: the ankles' mean x, y: f) and moved down
    by b; extra channels (confidence) pass through.
    """
    kp = np.array(source, np.float64)
    src = source_stats or ankle_stats(kp[..., :2], ankles)
    f = np.nanmean(kp[:, list(ankles), 1], axis=1)
    fx = np.nanmean(kp[:, list(ankles), 0], axis=1)
    s, b = edn_transform(f, src, target_stats)
    out = kp.copy()
    out[..., 0] = fx[:, None] + (kp[..., 0] - fx[:, None]) * s[:, None]
    out[..., 1] = f[:, None] + (kp[..., 1] - f[:, None]) * s[:, None] + b[:, None]
    return out


def _vertical(motion) -> int:
    return 2 if motion.up == "z" else 1


def edn_normalize_motion(motion, body, target_stats: AnkleStats, source_body=None):
    """EDN on a 3D Motion: ankle heights play the role of the image ankle positions.

    In 3D the body's size comes from the body model itself, so EDN's scale s (from standing
    heights: target_stats.h_far / h_close against the source body's height) scales the root's
    horizontal travel about the first frame, and the translation b moves the root vertically so
    the clip's ankle-height range [lowest, highest] lands on the target's [a_min, a_max].
    Returns a new Motion (poses unchanged, trans changed).
    """
    up = _vertical(motion)
    src_body = source_body or body
    joints = motion.joints(src_body)
    ankles = joints[:, [7, 8], up].min(axis=1)
    rest = src_body.rest_joints(motion.betas)
    height = float(np.ptp(rest[:, 1])) * 1.1  # joints span ~90 % of the standing height
    src = AnkleStats(float(ankles.min()), float(ankles.max()), height, height)
    s, b = edn_transform(ankles, src, target_stats)
    trans = motion.trans.astype(np.float64).copy()
    horiz = [a for a in range(3) if a != up]
    origin = trans[:1, horiz]
    trans[:, horiz] = origin + (trans[:, horiz] - origin) * s[:, None]
    trans[:, up] += b
    return motion.copy(trans=trans.astype(np.float32))


def motion_ankle_stats(motion, body) -> AnkleStats:
    """3D ankle statistics of a Motion on a body: ankle-height range and the standing height."""
    up = _vertical(motion)
    ankles = motion.joints(body)[:, [7, 8], up].min(axis=1)
    height = float(np.ptp(body.rest_joints(motion.betas)[:, 1])) * 1.1
    return AnkleStats(float(ankles.min()), float(ankles.max()), height, height)


def ground_motion(motion, body, floor: float = 0.0, frames: int = 32):
    """Shift the motion vertically so the body's lowest vertex over the clip touches `floor`.

    Skins only the `frames` frames whose joints reach lowest (cheap on long clips).
    Returns (motion, shift in metres).
    """
    up = _vertical(motion)
    joints = motion.joints(body)
    low = joints[..., up].min(axis=1)
    pick = np.argsort(low)[:frames]
    out = body.forward(motion.poses[pick], motion.betas, motion.trans[pick], keypoints=False)
    lowest = float(out.vertices[..., up].min())
    shift = floor - lowest
    trans = motion.trans.copy()
    trans[:, up] += shift
    return motion.copy(trans=trans), shift
