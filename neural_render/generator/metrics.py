"""Image metrics for generated vs ground-truth frames (numpy + OpenCV; uint8 RGB (H, W, 3) inputs).

- `ssim`: Wang et al. 2004, Gaussian window 11x11 sigma 1.5, K1 0.01, K2 0.03, data range 255,
  per channel then averaged, mean over the valid region (5 px border dropped), as
  skimage `structural_similarity(gaussian_weights=True, use_sample_covariance=False)`.
- `psnr`: 10 log10(255^2 / MSE) over all pixels and channels (inf when identical).
- `fg_ssim`: the SSIM map averaged over foreground pixels (mask dilated by `FG_DILATE` px so the
  silhouette boundary counts); `fg_psnr` and `masked_l1` (mean |a - b| / 255) over the same pixels.
- `face_ssim`: SSIM of the face crops (boxes from projected joints, see `data.crop_boxes`).
- `warp_error`: temporal consistency. Farneback flow between consecutive ground-truth frames
  (backward: frame t -> t-1) warps generated frame t-1 onto t; the error is the mean |gen_t -
  warp(gen_{t-1})| / 255 over pixels where the flow explains the ground truth (|gt_t -
  warp(gt_{t-1})| < `WARP_VALID` / 255 per channel mean), i.e. not occluded. `warp_error_gt` is the
  same quantity for the ground truth itself (the floor a perfect generator would reach).
"""

from __future__ import annotations

import math

import numpy as np

FG_DILATE = 3
WARP_VALID = 12.0
_BORDER = 5


def ssim_map(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(H, W) SSIM map averaged over channels (no border cropping)."""
    import cv2

    a = np.asarray(a, np.float64)
    b = np.asarray(b, np.float64)
    if a.ndim == 2:
        a, b = a[..., None], b[..., None]
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    blur = lambda x: cv2.GaussianBlur(x, (11, 11), 1.5, borderType=cv2.BORDER_REFLECT)  # noqa: E731
    maps = []
    for ch in range(a.shape[2]):
        x, y = a[..., ch], b[..., ch]
        mx, my = blur(x), blur(y)
        sxx = blur(x * x) - mx * mx
        syy = blur(y * y) - my * my
        sxy = blur(x * y) - mx * my
        maps.append(((2 * mx * my + c1) * (2 * sxy + c2)) / ((mx * mx + my * my + c1) * (sxx + syy + c2)))
    return np.mean(maps, axis=0)


def ssim(a: np.ndarray, b: np.ndarray) -> float:
    m = ssim_map(a, b)
    if min(m.shape) > 2 * _BORDER + 1:
        m = m[_BORDER:-_BORDER, _BORDER:-_BORDER]
    return float(m.mean())


def psnr_from_mse(mse: float) -> float:
    return float("inf") if mse <= 0 else 10 * math.log10(255.0 ** 2 / mse)


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    d = np.asarray(a, np.float64) - np.asarray(b, np.float64)
    return psnr_from_mse(float(np.mean(d * d)))


def fg_region(mask: np.ndarray, dilate: int = FG_DILATE) -> np.ndarray:
    """Boolean (H, W) foreground, dilated by `dilate` px."""
    import cv2

    m = (np.asarray(mask) > 0).astype(np.uint8)
    if dilate > 0:
        m = cv2.dilate(m, np.ones((2 * dilate + 1, 2 * dilate + 1), np.uint8))
    return m > 0


def masked_stats(a: np.ndarray, b: np.ndarray, region: np.ndarray) -> dict:
    """fg_ssim, fg_psnr, masked_l1 over the boolean region (NaN when the region is empty)."""
    if not region.any():
        return {"fg_ssim": float("nan"), "fg_psnr": float("nan"), "masked_l1": float("nan")}
    d = np.asarray(a, np.float64)[region] - np.asarray(b, np.float64)[region]
    return {"fg_ssim": float(ssim_map(a, b)[region].mean()),
            "fg_psnr": psnr_from_mse(float(np.mean(d * d))),
            "masked_l1": float(np.mean(np.abs(d)) / 255.0)}


def backward_flow(gt_prev: np.ndarray, gt_cur: np.ndarray) -> np.ndarray:
    """(H, W, 2) Farneback flow from frame t to t-1: pixel (x, y) of t came from (x, y) + flow."""
    import cv2

    g0 = cv2.cvtColor(np.asarray(gt_cur, np.uint8), cv2.COLOR_RGB2GRAY)
    g1 = cv2.cvtColor(np.asarray(gt_prev, np.uint8), cv2.COLOR_RGB2GRAY)
    return cv2.calcOpticalFlowFarneback(g0, g1, None, 0.5, 3, 15, 3, 5, 1.2, 0)


def warp(img: np.ndarray, flow: np.ndarray) -> np.ndarray:
    import cv2

    h, w = flow.shape[:2]
    gx, gy = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    return cv2.remap(np.asarray(img, np.float32), gx + flow[..., 0], gy + flow[..., 1],
                     interpolation=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def warp_errors(gt_prev, gt_cur, gen_prev, gen_cur) -> tuple[float, float, int]:
    """(generated warp error, ground-truth warp error, valid pixel count) for one frame pair."""
    flow = backward_flow(gt_prev, gt_cur)
    gt_res = np.abs(np.asarray(gt_cur, np.float32) - warp(gt_prev, flow)).mean(-1)
    valid = gt_res < WARP_VALID
    n = int(valid.sum())
    if n == 0:
        return float("nan"), float("nan"), 0
    gen_res = np.abs(np.asarray(gen_cur, np.float32) - warp(gen_prev, flow)).mean(-1)
    return float(gen_res[valid].mean() / 255.0), float(gt_res[valid].mean() / 255.0), n


def crop(img: np.ndarray, box) -> np.ndarray:
    x0, y0, side = (int(v) for v in box)
    return img[y0:y0 + side, x0:x0 + side]


def evaluate_sequence(gen: list[np.ndarray], gt: list[np.ndarray], masks: list[np.ndarray] | None = None,
                      face_boxes: list | None = None) -> dict:
    """All metrics for a sequence (consecutive frames), means over frames.

    Args:
        gen, gt: lists of (H, W, 3) uint8 RGB, same length.
        masks: optional (H, W) foreground masks of the ground truth.
        face_boxes: optional per-frame (x0, y0, side) face crop, or None where the face is not visible.
    """
    if len(gen) != len(gt) or not gen:
        raise ValueError("gen and gt must be non-empty and of equal length")
    out = {"frames": len(gen), "ssim": float(np.mean([ssim(a, b) for a, b in zip(gen, gt)])),
           "psnr": float(np.mean([psnr(a, b) for a, b in zip(gen, gt)]))}
    if masks is not None:
        stats = [masked_stats(a, b, fg_region(m)) for a, b, m in zip(gen, gt, masks)]
        for k in ("fg_ssim", "fg_psnr", "masked_l1"):
            out[k] = float(np.nanmean([s[k] for s in stats]))
    if face_boxes is not None:
        vals = [ssim(crop(a, bx), crop(b, bx)) for a, b, bx in zip(gen, gt, face_boxes) if bx is not None]
        out["face_ssim"] = float(np.mean(vals)) if vals else float("nan")
    if len(gen) > 1:
        errs = [warp_errors(gt[t - 1], gt[t], gen[t - 1], gen[t]) for t in range(1, len(gen))]
        errs = [e for e in errs if e[2] > 0]
        out["warp_error"] = float(np.mean([e[0] for e in errs])) if errs else float("nan")
        out["warp_error_gt"] = float(np.mean([e[1] for e in errs])) if errs else float("nan")
    return out
