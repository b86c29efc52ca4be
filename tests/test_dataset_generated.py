"""Optional generator RGB in a batch: a checkpoint turns each sample's passes into generated/ frames,
deterministically, and a checkpoint that needs passes the config does not write is refused up front."""

import json

import numpy as np
import pytest

from test_dataset_helpers import small_config, write_test_assets

pytest.importorskip("bpy", reason="bpy (Blender as a module) not installed")
pytest.importorskip("torch", reason="torch not installed")


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    import torch

    from neural_render.generator import checkpoint as ck
    from neural_render.generator.networks import GeneratorConfig, NeuralRenderer

    torch.manual_seed(0)
    gcfg = GeneratorConfig(passes=["skeleton", "parts", "normal", "uv"], texture_size=16, ngf=8, n_res=1,
                           temporal=False, refine_crops=False)
    path = tmp_path_factory.mktemp("ckpt") / "tiny.safetensors"
    model = NeuralRenderer(gcfg)
    with torch.no_grad():  # random weights (untrained nets may start with a zero output layer)
        for p in model.parameters():
            p.normal_(0.0, 0.2)
    ck.save(path, {"renderer": model}, gcfg, step=0)  # the plumbing is under test, not image quality
    return path


def test_generated_frames_are_written_labelled_and_deterministic(tmp_path, checkpoint):
    import cv2

    from neural_render.dataset.check import check_dataset
    from neural_render.dataset.config import validate
    from neural_render.dataset.runners import run_batch

    body, motion = write_test_assets(tmp_path / "assets")
    raw = small_config(body, motion, samples=2, resolution=64, rgb={"cycles": False},
                       passes=["instances", "mask", "skeleton", "parts", "normal", "uv"],
                       generator={"checkpoint": str(checkpoint)})
    cfg = validate(raw)
    outs = []
    for name in ("a", "b"):
        run_batch(cfg, tmp_path / name, workers=1, progress=False)
        outs.append(tmp_path / name)
    for fid in range(1, 5):
        a = cv2.imread(str(outs[0] / "generated" / f"{fid:06d}.png"))
        b = cv2.imread(str(outs[1] / "generated" / f"{fid:06d}.png"))
        assert a.shape == (64, 64, 3) and a.std() > 0
        np.testing.assert_array_equal(a, b)
    lab = json.loads((outs[0] / "labels" / "sample_000001.json").read_text())
    assert {"generated/000003.png", "generated/000004.png"} <= set(lab["files"])
    assert check_dataset(outs[0])["ok"]


def test_checkpoint_needing_missing_passes_is_refused_before_output(tmp_path, checkpoint):
    from neural_render.dataset.config import validate
    from neural_render.dataset.runners import run_batch
    from neural_render.errors import InputError

    body, motion = write_test_assets(tmp_path / "assets")
    cfg = validate(small_config(body, motion, samples=1, resolution=64, passes=["instances", "mask", "skeleton"],
                                generator={"checkpoint": str(checkpoint)}))
    with pytest.raises(InputError, match="key 'passes'.*parts"):
        run_batch(cfg, tmp_path / "out", progress=False)
    assert not (tmp_path / "out").exists()
    cfg = validate(small_config(body, motion, samples=1, resolution=66,
                                passes=["instances", "mask", "skeleton", "parts", "normal", "uv"],
                                generator={"checkpoint": str(checkpoint)}))
    with pytest.raises(InputError, match="key 'resolution'"):
        run_batch(cfg, tmp_path / "out", progress=False)
    assert not (tmp_path / "out").exists()
