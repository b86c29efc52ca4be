"""Guidance passes in a batch (through neural_render.passes): present for every frame, consistent with
the instance labels, and the same whichever passes renderer (Blender or raster) draws them."""

import json

import numpy as np
import pytest

from test_dataset_helpers import small_config, write_test_assets

pytest.importorskip("bpy", reason="bpy (Blender as a module) not installed")
PASSES = ["instances", "mask", "parts", "normal", "depth", "skeleton", "uv"]


def _run(tmp_path, renderer):
    from neural_render.dataset.config import validate
    from neural_render.dataset.runners import run_batch

    body, motion = write_test_assets(tmp_path / "assets")
    cfg = validate(small_config(body, motion, samples=2, resolution=[80, 64], passes=PASSES,
                                rgb={"cycles": False}, guidance={"renderer": renderer},
                                people={"min": 2, "max": 3}))
    out = tmp_path / renderer
    run_batch(cfg, out, progress=False)
    return out


def _img(path):
    import cv2

    return cv2.imread(str(path), cv2.IMREAD_UNCHANGED)


def test_blender_guidance_passes_are_consistent(tmp_path):
    from neural_render.dataset.check import check_dataset
    from neural_render.passes.writer import read_exr_depth

    out = _run(tmp_path, "blender")
    assert check_dataset(out)["ok"]
    for fid in range(1, 5):
        n = f"{fid:06d}"
        ids, parts, mask = _img(out / "instances" / f"{n}.png"), _img(out / "parts" / f"{n}.png"), _img(out / "mask" / f"{n}.png")
        assert ids.shape == parts.shape == mask.shape == (64, 80)
        body = mask == 255
        np.testing.assert_array_equal(parts > 0, body)      # one render labels both (the bodies)
        # People wear garments: their instance pixels (body, cloth and hair) cover the bodies' pixels,
        # up to silhouette pixels the two renderers sample differently.
        assert (ids[body] > 0).mean() > 0.98 and (ids > 0).sum() > body.sum()
        assert set(np.unique(parts)) <= set(range(25))
        depth = read_exr_depth(out / "depth" / f"{n}.exr")
        assert np.all(depth[body] > 1.0) and np.all(depth[~body] == 0)
        normal = _img(out / "normal" / f"{n}.png")
        assert normal.shape == (64, 80, 3) and normal[~body].max() == 0
        assert _img(out / "skeleton" / f"{n}.png").shape == (64, 80, 3)
        assert _img(out / "depth" / f"{n}.png").dtype == np.uint16
    lab = json.loads((out / "labels" / "sample_000000.json").read_text())
    near, far = lab["depth_png_range_m"]
    assert 1.0 < near < far < 20.0
    legend = json.loads((out / "legend.json").read_text())
    assert {"parts", "normal", "depth", "skeleton", "uv"} <= set(legend["passes"])


def test_raster_and_blender_guidance_agree(tmp_path):
    from neural_render.passes import raster

    ok, why = raster.available()
    if not ok:
        pytest.skip(f"raster renderer unavailable: {why}")
    a, b = _run(tmp_path, "blender"), _run(tmp_path, "raster")
    for fid in range(1, 5):
        n = f"{fid:06d}"
        for folder in ("instances", "parts"):
            x, y = _img(a / folder / f"{n}.png"), _img(b / folder / f"{n}.png")
            assert (x == y).mean() > 0.99, (folder, n)
    la = json.loads((a / "annotations" / "coco_keypoints.json").read_text())
    lb = json.loads((b / "annotations" / "coco_keypoints.json").read_text())
    va = np.concatenate([np.reshape(x["keypoints"], (17, 3))[:, 2] for x in la["annotations"]])
    vb = np.concatenate([np.reshape(x["keypoints"], (17, 3))[:, 2] for x in lb["annotations"]])
    assert (va == vb).mean() > 0.95  # visibility agrees except at silhouette pixels
