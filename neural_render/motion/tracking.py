"""Follow one subject through a clip when a detector reports several people per frame.

Start with the largest, most confident person in the first frame that has one; then match each
frame's candidates to the subject's last known keypoints by bounding-box IoU and keypoint distance.
Frames where nobody matches are gaps (the subject is missing); the match threshold widens with the
gap's length, and after `max_gap` frames the subject is re-acquired as the candidate nearest in
position and size to where it was last seen. numpy only.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class Track:
    keypoints: np.ndarray   # (T, K, 3) the subject's x, y, confidence (0 where missing)
    index: np.ndarray       # (T,) chosen candidate per frame, -1 where missing
    reacquired: list[int]   # frames where the subject was picked again after a long gap

    @property
    def missing(self) -> np.ndarray:
        return self.index < 0


def bbox(p: np.ndarray, min_conf: float = 0.05) -> np.ndarray | None:
    """(K, 3) keypoints -> [x0, y0, x1, y1] of the confident points, None when fewer than 2."""
    ok = p[:, 2] > min_conf
    if ok.sum() < 2:
        return None
    xy = p[ok, :2]
    return np.concatenate([xy.min(0), xy.max(0)])


def iou(a: np.ndarray, b: np.ndarray) -> float:
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = w * h
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def _size(b: np.ndarray) -> float:
    return float(np.hypot(b[2] - b[0], b[3] - b[1]))


def person_score(p: np.ndarray, min_conf: float = 0.05) -> float:
    """Bigger and more confident is better: bbox diagonal x mean confidence x share of points seen."""
    b = bbox(p, min_conf)
    if b is None:
        return 0.0
    ok = p[:, 2] > min_conf
    return _size(b) * float(p[ok, 2].mean()) * float(ok.mean())


def match_cost(last: np.ndarray, cand: np.ndarray, min_conf: float = 0.05) -> float:
    """Median distance of commonly seen keypoints over the larger bbox diagonal, plus half of
    (1 - IoU); 0 for a perfect match, inf if unusable. Partial detections (a person's upper half
    missing in one frame) change the box a lot, so the keypoint distance carries most weight."""
    bl, bc = bbox(last, min_conf), bbox(cand, min_conf)
    if bl is None or bc is None:
        return np.inf
    common = (last[:, 2] > min_conf) & (cand[:, 2] > min_conf)
    if common.sum() < 2:
        return np.inf
    # Median: one limb swapped or misdetected must not break the match.
    d = np.median(np.linalg.norm(last[common, :2] - cand[common, :2], axis=1)) / max(_size(bl), _size(bc), 1e-6)
    return float(d + 0.5 * (1 - iou(bl, bc)))


def track_subject(people: list[np.ndarray], max_gap: int = 30, threshold: float = 0.45,
                  min_keypoints: int = 4, min_conf: float = 0.05) -> Track:
    """Choose one person per frame from `people` (per frame (P, K, 3)).

    threshold: largest accepted `match_cost` right after the last match; it grows by 5 % of itself
    per missing frame.
    """
    T = len(people)
    K = next((p.shape[1] for p in people if p.ndim == 3), 0)
    out = np.zeros((T, K, 3))
    index = np.full(T, -1, np.int64)
    reacq: list[int] = []
    last, last_t = None, -1
    for t, cands in enumerate(people):
        cands = [c for c in np.asarray(cands).reshape(-1, K, 3) if (c[:, 2] > min_conf).sum() >= min_keypoints]
        valid = [i for i, c in enumerate(np.asarray(people[t]).reshape(-1, K, 3))
                 if (c[:, 2] > min_conf).sum() >= min_keypoints]
        if not cands:
            continue
        if last is None:
            i = int(np.argmax([person_score(c, min_conf) for c in cands]))
        else:
            gap = t - last_t
            costs = np.array([match_cost(last, c, min_conf) for c in cands])
            i = int(np.argmin(costs))
            if costs[i] > threshold * (1 + 0.05 * (gap - 1)):
                if gap <= max_gap:
                    continue  # nobody close enough: the subject is missing in this frame
                # Long gap: re-acquire the candidate nearest to the last position, similar in size.
                bl = bbox(last, min_conf)
                cl, sl = (bl[:2] + bl[2:]) / 2, _size(bl)
                scores = []
                for c in cands:
                    b = bbox(c, min_conf)
                    scores.append(np.linalg.norm((b[:2] + b[2:]) / 2 - cl) / sl + abs(np.log(_size(b) / sl)))
                i = int(np.argmin(scores))
                reacq.append(t)
        out[t] = cands[i]
        index[t] = valid[i]
        last, last_t = cands[i], t
    return Track(out, index, reacq)
