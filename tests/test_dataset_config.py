"""Config validation (errors name the key and the fix), the example config, and seeded sampling."""

from pathlib import Path

import numpy as np
import pytest
import yaml

from neural_render.dataset.config import example_config_text, validate
from neural_render.errors import InputError
from test_dataset_helpers import small_config, write_test_assets
from cli_run import run_cli

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def assets(tmp_path_factory):
    return write_test_assets(tmp_path_factory.mktemp("assets"))


@pytest.mark.parametrize("change, key, words", [
    ({"samples": 0}, "samples", "out of range"),
    ({"samples": "many"}, "samples", "integer"),
    ({"resolution": [64]}, "resolution", "width, height"),
    ({"people": {"min": 2, "max": 1}}, "people", "swap"),
    ({"people": {"max": 4}}, "people.max", "1..3"),
    ({"camera": {"distance": [5, 2]}}, "camera.distance", "swap"),
    ({"camera": {"focal": 35}}, "camera.focal", "focal_mm"),
    ({"passes": ["mask", "albedo"]}, "passes[1]", "one of"),
    ({"background": {"type": "images"}}, "background.folder", "folder"),
    ({"background": {"type": "images", "folder": "/nonexistent"}}, "background.folder", "procedural"),
    ({"motions": {"sources": ["nowhere/x.npz"]}}, "motions.sources[0]", "not found"),
    ({"bodies": {"models": ["nowhere.pkl"]}}, "bodies.models[0]", "SMPL"),
    ({"rgb": {"cycles": "yes"}}, "rgb.cycles", "true or false"),
    ({"guidance": {"renderer": "eevee"}}, "guidance.renderer", "blender"),
    ({"colour": 1}, "colour", "known keys"),
])
def test_errors_name_key_and_fix(assets, change, key, words):
    cfg = small_config(*assets)
    for k, v in change.items():
        cfg[k] = {**cfg[k], **v} if isinstance(v, dict) and isinstance(cfg.get(k), dict) else v
    with pytest.raises(InputError) as e:
        validate(cfg, source="cfg.yaml")
    msg = str(e.value)
    assert f"key '{key}'" in msg and words in msg and "(" in msg and "\n" not in msg


def test_missing_samples_and_bad_yaml(tmp_path):
    with pytest.raises(InputError, match="key 'samples'.*missing"):
        validate({})
    bad = tmp_path / "bad.yaml"
    bad.write_text("samples: [1,\n  seed: 2\n")
    r = run_cli(["batch", "--config", str(bad), "--out", str(tmp_path / "o")], cwd=ROOT)
    assert r.returncode == 2 and "bad.yaml" in r.stderr and "line" in r.stderr
    assert not (tmp_path / "o").exists()  # bad input leaves no output


def test_print_example_is_a_valid_config(tmp_path, assets):
    r = run_cli(["batch", "--print-example"], cwd=ROOT)
    assert r.returncode == 0 and r.stdout == example_config_text()
    raw = yaml.safe_load(r.stdout)
    assert raw["motions"]["sources"] == ["smpl_assets/motions/cmu_131_01_walk.npz"]
    from neural_render.paths import asset

    if not asset("motions", "cmu_131_01_walk.npz").is_file():
        raw["motions"]["sources"] = [str(assets[1])]  # the shipped sample motion is not there yet
    cfg = validate(raw, base_dir=tmp_path)
    assert cfg["samples"] * cfg["frames_per_sample"] <= 16 and max(cfg["resolution"]) <= 256
    assert cfg["people"]["max"] >= 2 and "skeleton" in cfg["passes"] and cfg["rgb"]["cycles"]


def test_defaults_and_normalization(assets, tmp_path):
    import shutil

    (tmp_path / "m" / "sub").mkdir(parents=True)
    shutil.copy(assets[1], tmp_path / "m" / "sub" / "b.npz")
    shutil.copy(assets[1], tmp_path / "m" / "a.npz")
    (tmp_path / "m" / "notes.txt").write_text("x")
    cfg = validate({"samples": 3, "resolution": 64, "passes": ["mask", "instances", "mask"],
                    "bodies": {"models": [str(assets[0])]}, "motions": {"sources": ["m"]}}, base_dir=tmp_path)
    assert cfg["resolution"] == [64, 64]
    assert cfg["passes"] == ["instances", "mask"]
    # A folder -> its motion files (recursively, sorted), resolved next to the config.
    assert cfg["motions"]["sources"] == [str((tmp_path / "m" / "a.npz").resolve()), str((tmp_path / "m" / "sub" / "b.npz").resolve())]
    assert cfg["camera"]["distance"] == [4.0, 6.0]


def test_scene_sampling_is_a_pure_function_of_seed_and_index(assets):
    from neural_render.camera import Camera
    from neural_render.dataset.sampling import pose_scene, sample_scene

    cfg = validate(small_config(*assets, samples=10))
    a = [sample_scene(cfg, i) for i in range(6)]
    b = [sample_scene(cfg, i) for i in reversed(range(6))][::-1]  # order does not matter
    assert [repr(x) for x in a] == [repr(x) for x in b]
    assert len({repr(x.camera) for x in a}) == 6  # scenes differ
    other = validate(small_config(*assets, seed=8))
    assert repr(sample_scene(other, 0)) != repr(a[0])
    counts = [len(sample_scene(cfg, i).people) for i in range(30)]
    assert set(counts) == {1, 2, 3}
    # Posed people: the stored SMPL parameters reproduce the geometry; everyone is in view and on the ground.
    from neural_render.dataset.sampling import get_body

    for i in range(4):
        ps = pose_scene(sample_scene(cfg, i), cfg)
        for person in ps.people:
            out = get_body(person.model).forward(person.poses, person.betas, person.trans)
            np.testing.assert_allclose(out.joints, person.joints, atol=1e-4)
            assert abs(person.vertices[..., 2].min()) < 1e-5
            uv, z = Camera(ps.K, ps.world_to_camera, ps.width, ps.height).project(person.joints.reshape(-1, 3).astype(float))
            assert np.all(z > 0) and np.all((uv >= 0) & (uv <= [ps.width - 1, ps.height - 1]))
        R = ps.world_to_camera[:3, :3]
        np.testing.assert_allclose(R @ R.T, np.eye(3), atol=1e-9)
        assert ps.K[0, 2] == (ps.width - 1) / 2 and ps.K[1, 2] == (ps.height - 1) / 2


def test_yaw_and_offset_keep_the_body_rigid(assets):
    """Re-placing a clip (turn about +z, shift) moves the posed body rigidly: same pairwise joint distances."""
    from neural_render.dataset.sampling import pose_scene, sample_scene

    cfg = validate(small_config(*assets, people={"min": 1, "max": 1}))
    spec = sample_scene(cfg, 0)
    ps0 = pose_scene(spec, cfg)
    spec.people[0].yaw += 1.0
    spec.people[0].offset = [2.0, -1.0]
    ps1 = pose_scene(spec, cfg)
    J0, J1 = ps0.people[0].joints[0], ps1.people[0].joints[0]
    d0 = np.linalg.norm(J0[:, None] - J0[None], axis=-1)
    d1 = np.linalg.norm(J1[:, None] - J1[None], axis=-1)
    np.testing.assert_allclose(d0, d1, atol=1e-5)
    np.testing.assert_allclose(J0[:, 2], J1[:, 2], atol=1e-5)  # heights unchanged
    c = np.cos(1.0)
    h0, h1 = J0[15, :2] - J0[0, :2], J1[15, :2] - J1[0, :2]
    if np.linalg.norm(h0) > 1e-3:
        assert abs(np.dot(h0, h1) / (np.linalg.norm(h0) * np.linalg.norm(h1)) - c) < 1e-3


def test_image_backgrounds_are_seeded_crops(tmp_path, assets):
    import cv2

    from neural_render.dataset.backgrounds import background, composite
    from neural_render.dataset.sampling import sample_scene

    folder = tmp_path / "bg"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(3):
        img = np.zeros((120, 200, 3), np.uint8)
        img[:, :, i] = 255  # pure red, green or blue: each crop must be that colour
        img[::7] = rng.integers(0, 255, (1, 3), dtype=np.uint8)  # some structure
        cv2.imwrite(str(folder / f"b{i}.png"), img)
    cfg = validate(small_config(*assets, background={"type": "images", "folder": str(folder)}))
    assert len(cfg["background"]["images"]) == 3
    seen = set()
    for i in range(12):
        desc = sample_scene(cfg, i).background
        out = background(desc, 64, 48)
        assert out.shape == (48, 64, 3) and out.dtype == np.uint8
        np.testing.assert_array_equal(out, background(sample_scene(cfg, i).background, 64, 48))
        seen.add(desc["path"])
        src = 2 - int(desc["path"][-5])  # b0 / b1 / b2 were written as BGR channel 0 / 1 / 2
        assert np.median(out[..., src]) == 255
    assert len(seen) >= 2
    # Compositing: transparent pixels show the background, opaque ones the render.
    rgba = np.zeros((48, 64, 4), np.uint8)
    rgba[10:20, 10:20] = [10, 20, 30, 255]
    comp = composite(rgba, out)
    np.testing.assert_array_equal(comp[15, 15], [10, 20, 30])
    np.testing.assert_array_equal(comp[40, 60], out[40, 60])
