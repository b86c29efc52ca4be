"""COCO RLE encoder/decoder against the format (and pycocotools when installed); visibility rules."""

import numpy as np
import pytest

from neural_render.dataset import labels as L


def _masks():
    rng = np.random.default_rng(0)
    yield np.zeros((5, 7), np.uint8)
    yield np.ones((4, 3), np.uint8)
    m = np.zeros((40, 31), np.uint8)
    m[5:30, 7:20] = 1
    m[0, 0] = 1
    yield m
    for _ in range(20):
        H, W = rng.integers(1, 60, 2)
        yield (rng.uniform(size=(H, W)) < rng.uniform(0.05, 0.95)).astype(np.uint8)
    big = np.zeros((300, 400), np.uint8)  # long runs need multi-character (and negative delta) codes
    big[:, 100:350] = 1
    big[150:, 120:130] = 0
    yield big


def test_rle_known_example():
    # Column-major runs, first run counts zeros: [[0,1],[1,1]] -> F-order 0,1,1,1 -> runs [1,3].
    m = np.array([[0, 1], [1, 1]], np.uint8)
    assert L.rle_counts(m) == [1, 3]
    assert L.rle_counts(np.array([[1, 0]], np.uint8)) == [0, 1, 1]
    # rleToString: 1 -> '1' (1+48), 3 -> '3'
    assert L.encode_mask(m) == {"size": [2, 2], "counts": "13"}


def test_rle_round_trip():
    for m in _masks():
        rle = L.encode_mask(m)
        assert L.rle_from_string(rle["counts"]) == L.rle_counts(m)
        np.testing.assert_array_equal(L.decode_mask(rle), m)
        assert sum(L.rle_counts(m)) == m.size


def test_rle_matches_pycocotools():
    mask_api = pytest.importorskip("pycocotools.mask", reason="pycocotools not installed")
    for m in _masks():
        ref = mask_api.encode(np.asfortranarray(m))
        ours = L.encode_mask(m)
        assert ours["counts"] == ref["counts"].decode()
        assert ours["size"] == list(ref["size"])
        assert float(mask_api.area(ref)) == float(m.sum())
        if m.any():
            np.testing.assert_allclose(mask_api.toBbox(ref), L.bbox_of(m))
        np.testing.assert_array_equal(mask_api.decode(ref), L.decode_mask(ours))


def test_visibility_rules():
    H = W = 20
    ids = np.zeros((H, W), np.int64)
    ids[5:15, 5:15] = 1      # person 1 fills the centre
    ids[5:15, 12:15] = 2     # person 2 in front on the right part
    eye = np.zeros(3)
    pts = np.array([[0, 0, 5.0], [0, 0, 5.3], [0, 0, 5.05], [0, 0, 5.05], [0, 0, 5.0]])
    uv = np.array([[8, 8], [9, 9], [13, 9], [30, 3], [2, 2]], float)
    # Geometry: person 1's surface at 4.95 m everywhere except where person 2 is at 4.0 m.
    def hit(origin, d, maxd):
        return (4.0, 2) if d[0] > 0.5 else (4.95, 1)
    # Rays: point directions are all along +z here; make the third one look "right" (towards person 2).
    calls = []
    def hit2(origin, d, maxd):
        calls.append(d)
        return (4.0, 2) if len(calls) == 3 else (4.95, 1)
    vis = L.keypoint_visibility(pts, 1, uv, eye, hit2, ids, tolerance=0.15)
    # 0: surface 5 cm in front, own body, pixel own -> visible
    # 1: 35 cm behind own surface -> occluded (self-occlusion)
    # 2: other person in front (and pixel is person 2) -> occluded
    # 3: outside the image -> 0
    # 4: geometry says visible but the pixel is background -> occluded (never visible outside its mask)
    assert vis.tolist() == [2, 1, 1, 0, 1]


def test_coco_keypoint_layout():
    uv = np.array([[1.23456, 2.0], [3, 4], [5, 6]])
    assert L.coco_keypoints(uv, np.array([2, 1, 0])) == [1.235, 2.0, 2, 3.0, 4.0, 1, 0, 0, 0]
    cat = L.coco_categories()[0]
    assert len(cat["keypoints"]) == 17 and min(min(s) for s in cat["skeleton"]) == 1
