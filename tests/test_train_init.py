"""`train --init CKPT`: a run starts exactly at the checkpoint's output; a mismatched one exits 2."""

from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from cli_run import run_cli  # noqa: E402
from neural_render.generator import checkpoint as ck  # noqa: E402
from neural_render.generator.data import PairedDataset  # noqa: E402
from neural_render.generator.synthetic import write_dataset  # noqa: E402
from neural_render.generator.train import TrainOptions, train  # noqa: E402

# a few steps of a real run, then one step at learning rate 0: the weights stay the init's
FROZEN = dict(steps=1, lr=0.0, texture_lr=0.0, plate_lr=0.0)


@pytest.fixture(scope="module")
def syn(tmp_path_factory):
    return write_dataset(tmp_path_factory.mktemp("syn") / "data", frames=8, size=32, split=True)


def _opts(data, out, **kw):
    base = dict(data=str(data), out=str(out), steps=4, size=32, batch=2, ckpt_every=4, log_every=1,
                sample_every=0, progress=False, texture_size=32, ngf=8, n_res=1)
    base.update(kw)
    return TrainOptions(**base)


def _outputs(path, data):
    model, _ = ck.load_renderer(path)
    ds = PairedDataset(data, model.cfg.passes)
    b = ds.batch(range(len(ds)))
    with torch.no_grad():
        return model(b), model.cfg


def test_init_from_a_generator_checkpoint_starts_at_its_output(syn, tmp_path):
    train(_opts(syn, tmp_path / "a"))
    ref, _ = _outputs(tmp_path / "a" / "generator.safetensors", syn)
    train(_opts(syn, tmp_path / "b", init=str(tmp_path / "a" / "generator.safetensors"), **FROZEN))
    out, cfg = _outputs(tmp_path / "b" / "generator.safetensors", syn)
    assert cfg.arch == "generator"
    assert torch.equal(out, ref)
    # and a run from scratch with the same options does not (the init is what made them equal)
    train(_opts(syn, tmp_path / "c", **FROZEN))
    assert not torch.equal(_outputs(tmp_path / "c" / "generator.safetensors", syn)[0], ref)


def test_mismatched_init_exits_2_naming_the_difference_and_writes_nothing(syn, tmp_path):
    train(_opts(syn, tmp_path / "a", steps=1, ckpt_every=1))
    ckpt = tmp_path / "a" / "generator.safetensors"
    out = tmp_path / "b"
    common = ["train", "--data", syn, "--out", out, "--steps", "1", "--size", "32", "--texture-size", "32",
              "--no-progress", "--init", ckpt]
    r = run_cli(common + ["--ngf", "16", "--n-res", "1"])
    assert r.returncode == 2, r.stderr
    assert "ngf 8 in the checkpoint, 16 here (--ngf)" in r.stderr
    assert "n_res" not in r.stderr  # only what differs
    assert not out.exists()
    r = run_cli(common + ["--ngf", "8", "--n-res", "1", "--arch", "animator"])
    assert r.returncode == 2 and "arch generator in the checkpoint, animator here" in r.stderr
    assert not out.exists()
    (tmp_path / "junk.safetensors").write_bytes(b"not a checkpoint")
    r = run_cli(common[:-1] + [tmp_path / "junk.safetensors"])
    assert r.returncode == 2 and "--init" in r.stderr and not out.exists()
    # the matching options are accepted
    assert run_cli(common + ["--ngf", "8", "--n-res", "1"]).returncode == 0


def test_init_from_the_animator_renders_what_the_animator_renders(syn, tmp_path):
    """Step 0 of `train --init animator.safetensors` = the multi-identity network applied the way
    `animate` applies it (multi_identity.to_input on uv_lift.lookup of a texture) to this person's
    back-projected texture, body passes and background plate."""
    from neural_render.generator import multi_identity as mi
    from neural_render.generator import train as tr
    from neural_render.generator import uv_lift
    from neural_render.generator.init_from import confidence_from_data

    torch.manual_seed(3)
    net = mi.AnimatorNet(mi.AnimatorConfig(ngf=8, levels=2))
    with torch.no_grad():  # a non-trivial network (its head starts at zero)
        for p in net.parameters():
            p.add_(0.05 * torch.randn_like(p))
    prior = tmp_path / "prior.safetensors"
    mi.save(prior, net)
    train(_opts(syn, tmp_path / "b", init=str(prior), ngf=32, **FROZEN))  # --ngf is the file's
    got, cfg = _outputs(tmp_path / "b" / "generator.safetensors", syn)
    assert (cfg.arch, cfg.ngf, cfg.n_down, cfg.passes) == ("animator", 8, 2, ["normal", "mask", "uv"])

    ds = PairedDataset(syn, ["normal", "mask", "uv"], size=32, split="train")
    S = 32
    tex = uv_lift.UVTexture(tr.back_projected_texture(ds, S).astype(np.float32), confidence_from_data(ds, S))
    plate = tr.background_plate(ds)
    test = PairedDataset(syn, ["normal", "mask", "uv"], size=32)
    loaded = mi.load(prior)
    for i in range(len(test)):
        uv = test.arrays["uv"][i][..., 1:3].astype(np.float32) / 255
        m = test.arrays["mask"][i] > 0
        x = mi.to_input(uv_lift.lookup(tex, uv, m), uv_lift.lookup(tex, uv, m, "conf"), test.arrays["normal"][i], m,
                        plate)
        with torch.no_grad():
            want = loaded(x)[0].clamp(-1, 1)
        # cv2.remap (uv_lift.lookup) rounds sample positions to 1/32 px; grid_sample does not
        err = (got[i] - want).abs()
        assert float(err.max()) < 0.05 and float(err.mean()) < 1e-3, (float(err.max()), float(err.mean()))


def test_animator_arch_from_scratch_trains(syn, tmp_path):
    res = train(_opts(syn, tmp_path / "r", arch="animator", n_down=2, steps=3, ckpt_every=3))
    assert res["steps"] == 3 and np.isfinite(res["last"]["l1"])
    assert ck.load_renderer(Path(res["checkpoint"]))[0].cfg.arch == "animator"
