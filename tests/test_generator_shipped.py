"""The shipped reference-actor checkpoint: loads on CPU, is small, and makes frames from passes."""

import json
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

ROOT = Path(__file__).resolve().parents[1]
CKPT = ROOT / "smpl_assets" / "actor_generator.safetensors"


@pytest.fixture(scope="module")
def shipped():
    if not CKPT.is_file():
        pytest.skip("no shipped checkpoint")
    from neural_render.generator.checkpoint import load_renderer

    return load_renderer(CKPT, "cpu")


def test_shipped_checkpoint_is_small_and_documented(shipped):
    assert CKPT.stat().st_size <= 30 * 2 ** 20
    model, meta = shipped
    m = json.loads(meta["metrics"])
    assert m["actor_version"] == 2   # trained on the reference actor v2 (garments, long hair)
    hop = m["unseen_cmu_131_03_hop_101_196_v2_256"]
    step0 = m["step0_unseen_cmu_131_03_hop_101_196_v2_256"]
    assert hop["frames"] == step0["frames"] == 95
    # The recorded evaluation on the unseen motion: training beats the initialisation alone (step 0).
    assert hop["psnr"] >= step0["psnr"] + 2.0 and hop["ssim"] > step0["ssim"] and hop["fg_psnr"] > step0["fg_psnr"]
    assert (ROOT / m["reproduce"]).is_file()
    assert model.cfg.uses_texture and "uv" in model.cfg.passes


def test_shipped_checkpoint_generates_from_passes(shipped, tmp_path):
    from neural_render.generator.infer import generate
    from neural_render.generator.synthetic import write_dataset

    data = write_dataset(tmp_path / "passes", frames=3, size=64)
    res = generate(str(CKPT), str(data), str(tmp_path / "out"), video=str(tmp_path / "v.mp4"), device="cpu",
                   progress=False)
    assert res["frames"] == 3
    import cv2

    img = cv2.imread(str(tmp_path / "out" / "000002.png"))
    assert img.shape == (64, 64, 3)
    mask = cv2.imread(str(data / "mask" / "000002.png"), cv2.IMREAD_GRAYSCALE) > 0
    # outside the person the shipped model paints its backdrop plate (grey, no person colours)
    bg = img[~mask].astype(float)
    assert bg.std(0).max() < 40 and 100 < bg.mean() < 240
    assert (tmp_path / "v.mp4").stat().st_size > 0


@pytest.mark.slow
def test_shipped_checkpoint_on_unseen_motion(shared_data, tmp_path):
    """End to end on a motion the checkpoint never saw: import the CMU hop, render the reference actor v2
    (40 frames of the hopping part, 256^2), evaluate. The floors are this checkpoint's own figures on
    these frames less a margin (measured 0.939 / 26.9 dB; step 0, the initialisation alone, scores
    0.929 / 24.7 dB on them: BENCHMARKS.md). The issue's goals of 0.95 / 30 dB are not met on actor v2."""
    if not CKPT.is_file():
        pytest.skip("no shipped checkpoint")
    pytest.importorskip("bpy")
    from neural_render.cli import main

    assert main(["motion", "import", str(shared_data / "mocap" / "cmu_131_03_hop.bvh"), "--out",
                 str(tmp_path / "hop.npz"), "--fps", "30", "--no-preview"]) == 0
    assert main(["actor", "render", "--motion", str(tmp_path / "hop.npz"), "--out", str(tmp_path / "hop"),
                 "--size", "256", "--frames", "120:160", "--json"]) == 0
    from neural_render.generator.infer import evaluate

    res = evaluate(str(CKPT), str(tmp_path / "hop"), device="cpu")
    assert res["frames"] == 40
    assert res["ssim"] >= 0.93 and res["psnr"] >= 26.0, res
