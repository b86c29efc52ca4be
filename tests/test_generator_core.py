"""Generator: shapes, neural texture, checkpoints, training and exact resume on tiny synthetic data."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from neural_render.generator import checkpoint as ck  # noqa: E402
from neural_render.generator.data import PairedDataset, crop_boxes_from_keypoints, crop_boxes_from_parts  # noqa: E402
from neural_render.generator.networks import PASS_CHANNELS, GeneratorConfig, NeuralRenderer  # noqa: E402
from neural_render.generator.neural_texture import NeuralTexture  # noqa: E402
from neural_render.generator.synthetic import write_dataset  # noqa: E402
from neural_render.generator.train import TrainOptions, train  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def syn(tmp_path_factory):
    return write_dataset(tmp_path_factory.mktemp("syn") / "data", frames=8, size=32, split=True)


def _opts(data, out, **kw):
    base = dict(data=str(data), out=str(out), steps=6, size=32, batch=2, ckpt_every=3, log_every=1,
                sample_every=0, progress=False, texture_size=32, ngf=8, n_res=1)
    base.update(kw)
    return TrainOptions(**base)


@pytest.mark.parametrize("passes,temporal,texture,refine", [
    (["skeleton"], False, 0, False),
    (["skeleton", "parts", "normal", "uv"], True, 8, True),
    (["parts", "normal", "depth", "mask"], True, 0, True),
    (["skeleton", "parts", "normal", "depth", "mask", "uv"], False, 4, True),
])
def test_shapes_for_pass_selections(syn, passes, temporal, texture, refine):
    cfg = GeneratorConfig(passes=passes, temporal=temporal, texture_channels=texture, texture_size=16, ngf=8,
                          n_res=1, refine_crops=refine)
    if texture and "uv" not in passes:
        pytest.skip("texture needs uv")
    expected = sum(PASS_CHANNELS[p] for p in passes) + texture + 3 * temporal
    assert cfg.input_channels == expected
    ds = PairedDataset(syn, cfg.passes, size=32)
    model = NeuralRenderer(cfg).eval()
    b = ds.batch([0, 1, 2])
    assert model.guidance(b).shape == (3, model.guide_channels, 32, 32)
    out = model(b, prev=torch.zeros(3, 3, 32, 32) if temporal else None)
    assert out.shape == (3, 3, 32, 32)
    assert float(out.detach().abs().max()) <= 1.0


def test_config_rejects_unknown_pass():
    with pytest.raises(ValueError):
        GeneratorConfig(passes=["skeleton", "albedo"])


def test_neural_texture_orientation_and_sparse_gradient():
    tex = NeuralTexture(channels=1, size=8, levels=1)
    with torch.no_grad():
        tex.pyramid[0][0, 0] = torch.arange(8, dtype=torch.float32).view(8, 1).expand(8, 8)  # value = row
    # v = 1 is the top row (row 0); v = 0 the bottom row (row 7); texel centres at (i + 0.5) / 8.
    uv = torch.tensor([[0.5, 1 - 0.5 / 8], [0.5, 0.5 / 8]]).T.reshape(1, 2, 1, 2)
    out = tex(uv)
    assert torch.allclose(out[0, 0, 0], torch.tensor([0.0, 7.0]))
    out.sum().backward()
    g = tex.pyramid[0].grad[0, 0]
    assert g.abs().sum() > 0 and set(torch.nonzero(g.abs().sum(1)).flatten().tolist()) == {0, 7}
    mask = torch.zeros(1, 1, 1, 2)
    assert tex(uv, mask).abs().sum() == 0


def test_crop_boxes_from_keypoints_hand_computed():
    kp = np.zeros((25, 2))
    vis = np.zeros(25)
    kp[[0, 15, 16, 17, 18]] = [[50, 20], [48, 18], [52, 18], [46, 20], [54, 20]]  # face centre (50, 19.2)
    vis[[0, 15, 16, 17, 18]] = 2
    kp[7], kp[6], vis[7], vis[6] = [30, 60], [30, 50], 2, 2    # left wrist below the elbow: centre (30, 63)
    boxes, valid = crop_boxes_from_keypoints(kp, vis, 100, 100, 10)
    assert valid.tolist() == [True, True, False]
    assert boxes[0].tolist() == [45, 14] and boxes[1].tolist() == [25, 58]
    # clamped into the image
    kp[0] = [99, 99]
    vis[[15, 16, 17, 18]] = 0
    boxes, _ = crop_boxes_from_keypoints(kp, vis, 100, 100, 10)
    assert boxes[0].tolist() == [90, 90]


def test_crop_boxes_from_parts():
    parts = np.zeros((40, 40), np.uint8)
    parts[4:9, 10:15] = 16    # head: centre (12, 6)
    parts[30:33, 2:5] = 24    # right hand: centre (3, 31)
    boxes, valid = crop_boxes_from_parts(parts, 8)
    assert valid.tolist() == [True, False, True]
    assert boxes[0].tolist() == [8, 2] and boxes[2].tolist() == [0, 27]


def test_dataset_decodes_spec_encodings(syn):
    ds = PairedDataset(syn, ["skeleton", "parts", "normal", "depth", "mask", "uv"])
    b = ds.item(3)
    fg = b["fg"][0] > 0
    n = b["normal"]
    norms = n.norm(dim=0)[fg]
    assert torch.all((norms - 1).abs() < 0.03)          # unit normals on the body
    assert n[:, ~fg].abs().max() == 0                     # zero on the background
    assert b["uv"].min() >= 0 and b["uv"].max() <= 1
    assert b["target"].min() >= -1 and b["target"].max() <= 1
    assert set(np.unique(b["parts"].numpy())) <= set(range(25))
    assert len(PairedDataset(syn, ["skeleton"], split="train")) == 6
    assert len(PairedDataset(syn, ["skeleton"], split="test")) == 2


def test_save_load_identical_outputs(syn, tmp_path):
    cfg = GeneratorConfig(texture_size=16, ngf=8, n_res=1)
    torch.manual_seed(1)
    model = NeuralRenderer(cfg)
    with torch.no_grad():  # make the texture and refiner non-trivial
        for p in model.parameters():
            p.add_(0.05 * torch.randn_like(p))
    ds = PairedDataset(syn, cfg.passes)
    b = ds.batch([0, 4])
    prev = torch.rand(2, 3, 32, 32) * 2 - 1
    ck.save(tmp_path / "m.safetensors", {"renderer": model}, cfg, step=7)
    loaded, meta = ck.load_renderer(tmp_path / "m.safetensors")
    assert meta["step"] == "7"
    model.eval()
    with torch.no_grad():
        assert torch.equal(model(b, prev), loaded(b, prev))
    ck.export_inference(tmp_path / "m.safetensors", tmp_path / "inf.safetensors")
    again, _ = ck.load_renderer(tmp_path / "inf.safetensors")
    with torch.no_grad():
        assert torch.equal(model(b, prev), again(b, prev))


def test_bad_checkpoint_is_input_error(tmp_path):
    from neural_render.errors import InputError

    (tmp_path / "x.safetensors").write_bytes(b"not a checkpoint")
    with pytest.raises(InputError):
        ck.load_renderer(tmp_path / "x.safetensors")


def _val_l1(run_dir, data):
    model, _ = ck.load_renderer(Path(run_dir) / "generator.safetensors")
    ds = PairedDataset(data, model.cfg.passes)
    b = ds.batch(range(len(ds)))
    with torch.no_grad():
        return float((model(b) - b["target"]).abs().mean())


def test_training_reduces_loss(syn, tmp_path):
    kw = dict(init_from_data=False, lr=3e-3, batch=4)
    train(_opts(syn, tmp_path / "r0", steps=1, ckpt_every=1, **kw))
    before = _val_l1(tmp_path / "r0", syn)
    train(_opts(syn, tmp_path / "r1", steps=40, ckpt_every=40, **kw))
    after = _val_l1(tmp_path / "r1", syn)
    assert after < 0.6 * before, (before, after)
    rows = [json.loads(x) for x in (tmp_path / "r1" / "log.jsonl").read_text().splitlines()]
    assert rows[-1]["l1"] < rows[0]["l1"]


def test_grad_clip_keeps_a_zero_texture_run_bounded(tmp_path):
    """`neural-render bench train`'s run (zero texture, 64 px, batch 2): unclipped, its L1 ran away
    to ~1e6 by step 50 on this data; with the gradient norm clipped to 1 it stays an image-sized
    error and falls."""
    data = write_dataset(tmp_path / "d", frames=16, size=64)
    train(TrainOptions(data=str(data), out=str(tmp_path / "r"), steps=80, size=64, batch=2, log_every=1,
                       ckpt_every=10**9, sample_every=0, progress=False, split=None, init_from_data=False,
                       grad_clip=1.0))
    l1 = [json.loads(x)["l1"] for x in (tmp_path / "r" / "log.jsonl").read_text().splitlines()]
    assert len(l1) == 80
    assert max(l1) < 2.0, max(l1)  # frames lie in [-1, 1]: an L1 over 2 is a runaway output
    assert l1[-1] < 0.3 * l1[0], (l1[0], l1[-1])


def test_init_from_data_back_projects_texture_and_plate(tmp_path):
    from neural_render.generator.synthetic import texture_color
    from neural_render.generator.train import back_projected_texture, background_plate

    data = write_dataset(tmp_path / "flat", frames=6, size=48, shading=False)
    ds = PairedDataset(data, ["uv"])
    size = 32
    tex = back_projected_texture(ds, size)
    # texels seen in some frame hold the texture's colour at their (u, v) (8-bit UV quantization
    # moves a lookup by at most half a texel, the checker edges aside)
    seen = np.zeros((size, size), bool)
    for i in range(len(ds)):
        m = (ds.arrays["fg"][i] > 0) & (ds.arrays["uv"][i][..., 0] > 0)
        u = ds.arrays["uv"][i][..., 1][m] / 255
        v = ds.arrays["uv"][i][..., 2][m] / 255
        seen[np.clip(((1 - v) * size).astype(int), 0, size - 1), np.clip((u * size).astype(int), 0, size - 1)] = True
    ys, xs = np.nonzero(seen)
    expect = texture_color((xs + 0.5) / size, 1 - (ys + 0.5) / size) * 255
    err = np.abs(tex[ys, xs] - expect).mean(-1)
    assert np.median(err) < 6, np.median(err)
    # plate: the backdrop (row gradient) wherever no frame's person covers the pixel
    plate = background_plate(PairedDataset(data, ["uv"]))
    frame0 = ds.frame_uint8(0).astype(float)
    never = ~np.any(np.stack([ds.arrays["fg"][i] for i in range(len(ds))]) > 0, 0)
    assert np.abs(plate[never] - frame0[never]).max() <= 1.0


def test_residual_model_starts_at_its_base_image(syn):
    from neural_render.generator.train import init_from_data

    cfg = GeneratorConfig(texture_size=32, ngf=8, n_res=1, temporal=False, plate_size=32)
    ds = PairedDataset(syn, cfg.passes)
    model = NeuralRenderer(cfg)
    init_from_data(model, ds)
    model.eval()
    b = ds.batch(range(len(ds)))
    with torch.no_grad():
        out = model(b)
        g = model.guidance(b)
        base = b["fg"] * g[:, -cfg.texture_channels:][:, :3] + (1 - b["fg"]) * model.background(b, g)
    assert torch.allclose(out, base.clamp(-1, 1), atol=1e-6)       # zero-initialised head and refiner
    zero = NeuralRenderer(GeneratorConfig(texture_size=32, ngf=8, n_res=1, temporal=False, plate_size=32)).eval()
    with torch.no_grad():
        assert (out - b["target"]).abs().mean() < 0.5 * (zero(b) - b["target"]).abs().mean()


def _weights(path):
    t, _ = ck.read(path)
    return {k: v for k, v in t.items() if k.startswith(("model.", "optim."))}


def test_resume_continues_the_same_run(syn, tmp_path):
    kw = dict(gan=1.0, crop_gan=1.0)
    train(_opts(syn, tmp_path / "a", **kw))
    train(_opts(syn, tmp_path / "b", stop_at=4, **kw))   # stops after step 4; last checkpoint is step 3
    meta = ck.read(tmp_path / "b" / "checkpoints" / "latest.safetensors")[1]
    assert meta["step"] == "3"
    train(_opts(syn, tmp_path / "b", **kw))
    a, b = _weights(tmp_path / "a" / "checkpoints" / "latest.safetensors"), \
        _weights(tmp_path / "b" / "checkpoints" / "latest.safetensors")
    assert a.keys() == b.keys() and any(k.startswith("optim.") for k in a)
    assert all(torch.equal(a[k], b[k]) for k in a)
    log = [json.loads(x)["step"] for x in (tmp_path / "b" / "log.jsonl").read_text().splitlines()]
    assert log == list(range(1, 7))   # no duplicated rows after the resume


def test_killed_process_resumes_to_identical_weights(syn, tmp_path):
    """A real SIGKILL in the middle of training, then `neural-render train` again on the same RUN."""
    common = ["--data", str(syn), "--size", "32", "--batch", "2", "--ngf", "8", "--n-res", "1",
              "--texture-size", "32", "--log-every", "1", "--sample-every", "0", "--no-progress",
              "--threads", "1"]
    exe = [sys.executable, "-m", "neural_render"]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    ref = tmp_path / "ref"
    subprocess.run(exe + ["train", "--out", str(ref), "--steps", "8", "--ckpt-every", "2"] + common,
                   check=True, env=env, capture_output=True)
    run = tmp_path / "killed"
    proc = subprocess.Popen(exe + ["train", "--out", str(run), "--steps", "8", "--ckpt-every", "2",
                                   "--stop-at", "1000000"] + common + ["--sample-every", "0"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    latest = run / "checkpoints" / "latest.safetensors"
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None:
        if latest.is_file() and int(ck.read(latest)[1]["step"]) >= 2:
            break
        time.sleep(0.05)
    killed_at = int(ck.read(latest)[1]["step"]) if latest.is_file() else 0
    if proc.poll() is None:
        proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert killed_at >= 2
    subprocess.run(exe + ["train", "--out", str(run), "--steps", "8", "--ckpt-every", "2"] + common,
                   check=True, env=env, capture_output=True)
    a, b = _weights(ref / "checkpoints" / "latest.safetensors"), _weights(latest)
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_train_bad_input_exit_2_and_no_output(tmp_path):
    from neural_render.cli import main

    out = tmp_path / "run"
    assert main(["train", "--data", str(tmp_path / "missing"), "--out", str(out), "--steps", "1"]) == 2
    assert not out.exists()
    assert main(["train", "--data", str(tmp_path), "--out", str(out), "--passes", "skeleton,albedo"]) == 2
    assert not out.exists()


def test_extending_a_finished_run_keeps_the_learning_rate_continuous(syn, tmp_path):
    """A run trained to its end (lr decayed to 10 %) and resumed with more --steps goes on from
    10 %, never back to the full rate (which blew a real run's L1 up a thousandfold)."""
    from neural_render.generator.train import TrainOptions, _lr_factor

    run = tmp_path / "r"
    train(_opts(syn, run, steps=4))
    train(_opts(syn, run, steps=8))
    saved = json.loads((run / "options.json").read_text())
    assert saved["steps"] == 8 and saved["lr_extend_from"][0] == 4
    o = TrainOptions(**saved)
    old = TrainOptions(**{**saved, "steps": 4, "lr_extend_from": None})
    assert abs(_lr_factor(4, old) - _lr_factor(5, o)) < 0.1 * 0.3      # no jump at the resume
    assert all(_lr_factor(s + 1, o) <= _lr_factor(s, o) + 1e-12 for s in range(4, 8))
    assert abs(_lr_factor(8, o) - 0.1) < 1e-9
    log = [json.loads(x)["step"] for x in (run / "log.jsonl").read_text().splitlines()]
    assert log == list(range(1, 9))


def test_person_mask_is_the_foreground_when_present(tmp_path):
    """`actor render` v2 writes person_mask/ (garments and hair): crops, plate and metrics use it."""
    import cv2

    from neural_render.generator.data import open_paired
    from neural_render.generator.synthetic import write_dataset

    data = write_dataset(tmp_path / "d", frames=3, size=32)
    body = open_paired(data).arrays["fg"].copy()
    (data / "person_mask").mkdir()
    for n in range(1, 4):
        m = cv2.imread(str(data / "mask" / f"{n:06d}.png"), cv2.IMREAD_GRAYSCALE)
        wide = cv2.dilate(m, np.ones((5, 5), np.uint8))  # a skirt / hair around the body
        cv2.imwrite(str(data / "person_mask" / f"{n:06d}.png"), wide)
    fg = open_paired(data).arrays["fg"]
    assert np.all(fg[body > 0] == 1) and fg.sum() > body.sum()


def test_crops_gather_and_paste_match_slicing():
    """extract_crops / paste_crops (tensor-index gather, no per-crop host sync) against plain slicing."""
    import torch.nn.functional as F

    from neural_render.generator.networks import extract_crops, paste_crops

    g = torch.Generator().manual_seed(0)
    img = torch.randn(3, 5, 40, 48, generator=g)
    side = 12
    boxes = torch.stack([torch.randint(0, 48 - side + 1, (3, 4), generator=g),
                         torch.randint(0, 40 - side + 1, (3, 4), generator=g)], -1)
    boxes[0, 1] = torch.minimum(boxes[0, 0] + 3, torch.tensor([48 - side, 40 - side]))  # overlaps add up
    crops = extract_crops(img, boxes, side)
    ref = torch.stack([torch.stack([img[b, :, y:y + side, x:x + side] for x, y in boxes[b].tolist()]) for b in range(3)])
    assert torch.equal(crops, ref)
    res = torch.randn(3, 4, 5, side, side, generator=g, requires_grad=True)
    pasted = paste_crops(img, res, boxes)
    want = torch.stack([sum(F.pad(res[b, j], (x, 48 - x - side, y, 40 - y - side))
                            for j, (x, y) in enumerate(boxes[b].tolist())) for b in range(3)])
    assert torch.allclose(pasted, want, atol=1e-6)
    pasted.sum().backward()
    assert torch.equal(res.grad, torch.ones_like(res))  # every crop pixel lands once
