"""The multi-identity generator: network, checkpoint, synthetic identity pairs, a training step."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from neural_render.generator import multi_identity as mi
from neural_render.passes import raster

needs_raster = pytest.mark.skipif(not raster.available()[0], reason=f"raster renderer: {raster.available()[1]}")


def _batch(n=2, s=32, seed=0):
    rng = np.random.default_rng(seed)
    mask = np.zeros((n, s, s), np.uint8)
    mask[:, 8:24, 10:22] = 255
    return {"warped": rng.integers(0, 255, (n, s, s, 3), dtype=np.uint8) * (mask[..., None] > 0),
            "conf": rng.integers(0, 255, (n, s, s), dtype=np.uint8), "normal": rng.integers(0, 255, (n, s, s, 3), dtype=np.uint8),
            "mask": mask, "background": rng.integers(0, 255, (n, s, s, 3), dtype=np.uint8)}


def test_untrained_network_composites_texture_over_background():
    """Zero-initialised head: inside the body the looked-up colours, outside the background."""
    net = mi.AnimatorNet(mi.AnimatorConfig(ngf=8)).eval()
    b = _batch()
    with torch.no_grad():
        y = net(mi.batch_input(b))
    img = ((y + 1) * 127.5).permute(0, 2, 3, 1).numpy()
    m = b["mask"] > 0
    assert np.abs(img[m] - b["warped"][m]).max() < 1.0
    assert np.abs(img[~m] - b["background"][~m]).max() < 1.0


def test_to_input_matches_batch_input():
    b = _batch(1)
    x1 = mi.batch_input(b)
    x2 = mi.to_input(b["warped"][0], b["conf"][0], b["normal"][0], b["mask"][0], b["background"][0])
    assert torch.allclose(x1, x2, atol=1e-6)


def test_checkpoint_round_trip_and_bad_file(tmp_path):
    from neural_render.errors import InputError

    net = mi.AnimatorNet(mi.AnimatorConfig(ngf=8))
    torch.nn.init.normal_(net.out.weight, std=0.01)
    mi.save(tmp_path / "a.safetensors", net, {"note": "test"})
    back = mi.load(tmp_path / "a.safetensors")
    x = mi.batch_input(_batch())
    with torch.no_grad():
        assert torch.allclose(net.eval()(x), back(x), atol=1e-6)
    (tmp_path / "bad.safetensors").write_bytes(b"junk")
    with pytest.raises(InputError):
        mi.load(tmp_path / "bad.safetensors")


@needs_raster
def test_identity_pairs_and_a_training_step(tmp_path):
    """Pairs are consistent (the person is in the target frame; outside it the target is exactly the
    background the network is given), and the trainer runs on them and writes a checkpoint."""
    from neural_render.generator.train_animator import generate_pairs, load_pairs, train

    generate_pairs(tmp_path / "pairs", count=4, size=64, seed=3, shard=4, texture_size=64, progress=False)
    d = load_pairs(tmp_path / "pairs")
    assert d["target"].shape == (4, 64, 64, 3) and d["warped"].shape == (4, 64, 64, 3)
    for i in range(4):
        tm = d["target_mask"][i] > 127
        assert tm.mean() > 0.02                      # the person is in the frame
        # Outside the (dilated) person the target is the background given to the network.
        import cv2

        out = cv2.dilate(tm.astype(np.uint8), np.ones((5, 5), np.uint8)) == 0
        assert np.abs(d["target"][i][out].astype(int) - d["background"][i][out]).max() <= 1
    meta = train(tmp_path / "pairs", tmp_path / "a.safetensors", steps=3, batch=2, ngf=8, progress=False)
    assert meta["steps"] == 3 and (tmp_path / "a.safetensors").is_file()
    assert set(meta["val"]) == {"net", "texture"}


def test_shipped_checkpoint_is_small_loads_and_runs():
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "smpl_assets" / "animator" / "animator.safetensors"
    assert path.stat().st_size <= 30 * 2 ** 20
    a = mi.load_animator(path)
    b = _batch(1, 40)
    buffers = {"normal": np.zeros((40, 40, 3), np.float32), "mask": b["mask"][0] > 0}
    out = a.frame(b["warped"][0].astype(np.float32), b["conf"][0] / 255.0, buffers, b["background"][0])
    assert out.shape == (40, 40, 3) and out.dtype == np.uint8
    # Far from the body the frame is the background it was given.
    assert np.abs(out[:4, :4].astype(int) - b["background"][0][:4, :4]).max() <= 2


def test_bf16_inference_stays_close_to_fp32():
    """The bf16 channels-last path (`animate`'s default on CPUs with bf16 units) renders the shipped
    network's frames within a grey level on average of fp32 (and it runs where bf16 is emulated)."""
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "smpl_assets" / "animator" / "animator.safetensors"
    b = _batch(1, 64, seed=3)
    rng = np.random.default_rng(4)
    n = rng.normal(size=(64, 64, 3))
    buffers = {"normal": (n / np.linalg.norm(n, axis=-1, keepdims=True)).astype(np.float32), "mask": b["mask"][0] > 0}
    args = (b["warped"][0].astype(np.float32), b["conf"][0] / 255.0, buffers, b["background"][0])
    fp32 = mi.load_animator(path, bf16=False)
    bf16 = mi.load_animator(path, bf16=True)
    assert not fp32.bf16 and bf16.bf16 and next(bf16.net.parameters()).dtype == torch.bfloat16
    a, c = fp32.frame(*args).astype(int), bf16.frame(*args).astype(int)
    assert np.abs(a - c).mean() < 1.0 and np.abs(a - c).max() <= 12
    assert np.abs(a - b["background"][0].astype(int)).mean() > 3   # the frame is not just the background
