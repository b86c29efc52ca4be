"""Metrics against hand-computed values, and the torch SSIM loss against the numpy metric."""

import math

import numpy as np
import pytest

from neural_render.generator import metrics as M


def _img(value, shape=(32, 32, 3)):
    return np.full(shape, value, np.uint8)


def test_psnr_constant_offset():
    a, b = _img(100), _img(110)
    assert M.psnr(a, b) == pytest.approx(10 * math.log10(255 ** 2 / 100))
    assert M.psnr(a, a) == float("inf")


def test_ssim_identical_and_constant_images():
    rng = np.random.default_rng(0)
    a = rng.integers(0, 256, (40, 40, 3), dtype=np.uint8)
    assert M.ssim(a, a) == pytest.approx(1.0)
    # Constant images: variances and covariance are 0, so SSIM = (2 m1 m2 + C1) / (m1^2 + m2^2 + C1).
    c1 = (0.01 * 255) ** 2
    m1, m2 = 100.0, 140.0
    assert M.ssim(_img(100), _img(140)) == pytest.approx((2 * m1 * m2 + c1) / (m1 ** 2 + m2 ** 2 + c1), rel=1e-9)


def test_ssim_matches_hand_computed_structure_term():
    # Two images with the same mean, one inverted in contrast: a checkerboard vs its negative around 128.
    # With a Gaussian window that sums to 1 the local means are close to 128 everywhere and the
    # covariance is -variance, so SSIM ~ (C2 - 2 s^2) / (2 s^2 + C2) in the interior.
    board = (np.indices((64, 64)).sum(0) % 2).astype(np.float64)
    a = (128 + 50 * (2 * board - 1)).astype(np.uint8)
    b = (128 - 50 * (2 * board - 1)).astype(np.uint8)
    s = M.ssim(a, b)
    assert -1.0 < s < -0.9


def test_masked_metrics_hand_computed():
    a, b = _img(50), _img(50)
    b[8:16, 8:16] = 70                      # error 20 inside an 8x8 square
    mask = np.zeros((32, 32), np.uint8)
    mask[8:16, 8:16] = 255
    st = M.masked_stats(a, b, M.fg_region(mask, dilate=0))
    assert st["masked_l1"] == pytest.approx(20 / 255)
    assert st["fg_psnr"] == pytest.approx(10 * math.log10(255 ** 2 / 400))
    # with the default dilation (3 px) the region is 14x14, 64 pixels wrong
    st = M.masked_stats(a, b, M.fg_region(mask))
    assert st["masked_l1"] == pytest.approx(20 / 255 * 64 / 196)


def test_warp_error_static_scene():
    # Ground truth does not move (zero flow); generated frames flicker by 6 grey levels.
    rng = np.random.default_rng(1)
    gt = rng.integers(60, 200, (48, 48, 3), dtype=np.uint8)
    gen = [gt.copy(), np.clip(gt.astype(int) + 6, 0, 255).astype(np.uint8), gt.copy()]
    res = M.evaluate_sequence(gen, [gt, gt, gt])
    assert res["warp_error"] == pytest.approx(6 / 255, abs=1e-4)
    assert res["warp_error_gt"] == pytest.approx(0.0, abs=1e-4)


def test_warp_error_follows_motion():
    # A smooth random texture translating 2 px right per frame. A generated sequence equal to the
    # ground truth has exactly the ground truth's own residual (same flow, same pixels); a frozen
    # generated sequence is penalised by the motion.
    import cv2

    rng = np.random.default_rng(3)
    big = cv2.GaussianBlur(rng.uniform(0, 255, (80, 120)), (0, 0), 3)
    big = (big - big.min()) / (big.max() - big.min()) * 200 + 20
    frames = [np.repeat(big[8:72, 20 - 2 * t:100 - 2 * t, None], 3, 2).astype(np.uint8) for t in range(3)]
    good = M.evaluate_sequence(frames, frames)
    frozen = M.evaluate_sequence([frames[0]] * 3, frames)
    assert good["warp_error"] == pytest.approx(good["warp_error_gt"])
    assert good["warp_error"] < 0.01
    assert frozen["warp_error"] > 2 * good["warp_error"] + 0.01


def test_face_ssim_uses_crop():
    a = _img(100, (64, 64, 3))
    b = a.copy()
    b[40:, 40:] = 0                         # damage outside the face crop only
    res = M.evaluate_sequence([b], [a], face_boxes=[(4, 4, 16)])
    assert res["face_ssim"] == pytest.approx(1.0)
    assert res["ssim"] < 0.9


def test_torch_ssim_agrees_with_numpy():
    torch = pytest.importorskip("torch")
    from neural_render.generator.losses import ms_ssim, ssim

    rng = np.random.default_rng(2)
    a = rng.integers(0, 256, (48, 48, 3), dtype=np.uint8)
    b = np.clip(a.astype(int) + rng.normal(0, 20, a.shape), 0, 255).astype(np.uint8)
    ta = torch.from_numpy(a).permute(2, 0, 1)[None].float() / 127.5 - 1
    tb = torch.from_numpy(b).permute(2, 0, 1)[None].float() / 127.5 - 1
    # numpy metric averages the interior (5 px border dropped); the torch loss uses the valid region
    # of an 11x11 window: the same pixels.
    assert float(ssim(ta, tb)) == pytest.approx(M.ssim(a, b), abs=2e-3)
    assert float(ms_ssim(ta, ta)) == pytest.approx(1.0, abs=1e-5)
    assert float(ms_ssim(ta, tb)) < 1.0
