"""Reference actor: deterministic texture, Cycles frames aligned with the passes of the same frames."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
ACTOR = ROOT / "smpl_assets" / "actor"


def _default_body_or_skip():
    if not (ROOT / "smpl_assets" / "default_body.npz").is_file():
        pytest.skip("default body not built yet")


def test_texture_script_is_deterministic(tmp_path):
    _default_body_or_skip()
    out = tmp_path / "tex.png"
    subprocess.run([sys.executable, str(ACTOR / "make_actor_texture.py"), "--out", str(out)], check=True,
                   capture_output=True, cwd=ROOT)
    assert out.read_bytes() == (ACTOR / "actor_texture.png").read_bytes()


def test_texture_covers_every_uv_triangle():
    _default_body_or_skip()
    import cv2

    from neural_render.body import load_body

    body = load_body()
    tex = cv2.imread(str(ACTOR / "actor_texture.png"))
    size = tex.shape[0]
    # the centroid of every UV triangle lands on a painted texel (islands are never black)
    c = body.vt[body.ft].mean(1)
    px = np.clip((c[:, 0] * size).astype(int), 0, size - 1)
    py = np.clip(((1 - c[:, 1]) * size).astype(int), 0, size - 1)
    assert (tex[py, px].sum(-1) > 0).mean() > 0.999


@pytest.fixture(scope="module")
def actor_dir(tmp_path_factory):
    _default_body_or_skip()
    pytest.importorskip("bpy")
    from neural_render.body import load_body
    from neural_render.motion.motion import Motion

    body = load_body()
    T = 3
    poses = np.zeros((T, 72), np.float32)
    poses[:, 0] = np.pi / 2               # Y-up model -> Z-up world (as AMASS root orientations)
    poses[:, 16 * 3 + 2] = [-1.0, -1.1, -1.2]   # left shoulder down (A pose) and moving
    poses[:, 17 * 3 + 2] = [1.0, 1.1, 1.2]
    trans = np.zeros((T, 3), np.float32)
    trans[:, 2] = -body.rest_joints()[:, 1].min() + 0.05
    trans[:, 0] = [0.0, 0.02, 0.04]
    d = tmp_path_factory.mktemp("actor")
    Motion(poses, trans, np.zeros(10, np.float32), 30.0, "neutral", "z").save(d / "m.npz")
    from neural_render.cli import main

    rc = main(["actor", "render", "--motion", str(d / "m.npz"), "--out", str(d / "out"), "--size", "64",
               "--frames", "1:3", "--samples", "4", "--split", "0.5", "--json"])
    assert rc == 0
    return d / "out"


def test_actor_writes_frames_and_all_passes(actor_dir):
    for sub in ("frames", "skeleton", "parts", "normal", "depth", "mask", "uv", "person_mask"):
        names = sorted(p.name for p in (actor_dir / sub).glob("*.png"))
        assert names == ["000002.png", "000003.png"], sub
    legend = json.loads((actor_dir / "legend.json").read_text())
    assert legend
    split = json.loads((actor_dir / "split.json").read_text())
    assert split == {"train": [2], "test": [3]}
    info = json.loads((actor_dir / "actor.json").read_text())
    assert info["frames"] == [1, 2] and info["size"] == 64
    assert info["actor_version"] == 2 and "person_mask" in legend["extra_folders"]


def test_actor_v2_silhouette_differs_from_the_body(actor_dir):
    """The actor wears loose garments and long hair: its person mask holds the body mask and more."""
    import cv2

    for n in ("000002.png", "000003.png"):
        body = cv2.imread(str(actor_dir / "mask" / n), cv2.IMREAD_GRAYSCALE) > 127
        person = cv2.imread(str(actor_dir / "person_mask" / n), cv2.IMREAD_GRAYSCALE) > 127
        assert (person[body]).mean() > 0.97           # the body is inside the dressed silhouette ...
        assert person.sum() > 1.15 * body.sum()       # ... which is clearly larger (skirt, hair, shirt)


def test_actor_frames_align_with_mask(actor_dir):
    import cv2

    for n in ("000002.png", "000003.png"):
        rgb = cv2.imread(str(actor_dir / "frames" / n)).astype(float)
        mask = cv2.imread(str(actor_dir / "mask" / n), cv2.IMREAD_GRAYSCALE) > 127
        assert rgb.shape == (64, 64, 3) and mask.sum() > 50
        person = cv2.imread(str(actor_dir / "person_mask" / n), cv2.IMREAD_GRAYSCALE) > 127
        core = cv2.erode(mask.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0
        far = cv2.dilate(person.astype(np.uint8), np.ones((9, 9), np.uint8)) == 0
        # the backdrop is plain: rows of the background vary little, the body differs from it
        bg_rows = [rgb[y][far[y]] for y in range(64) if far[y].sum() > 10]
        assert np.mean([r.std(0).mean() for r in bg_rows]) < 6
        row_mean = np.stack([rgb[y][far[y]].mean(0) if far[y].sum() else np.full(3, np.nan) for y in range(64)])
        diff = np.abs(rgb - row_mean[:, None, :]).mean(-1)
        assert np.nanmean(diff[core]) > 3 * np.nanmean(diff[far])


def test_actor_bad_motion_exit_2_no_output(tmp_path):
    from neural_render.cli import main

    out = tmp_path / "out"
    assert main(["actor", "render", "--motion", str(tmp_path / "missing.npz"), "--out", str(out)]) == 2
    assert not out.exists()


def test_actor_version_1_is_the_body_alone(actor_dir, tmp_path):
    """--actor-version 1 (what the shipped checkpoint was trained on): no garments, so the person mask
    is the body's silhouette."""
    import cv2

    from neural_render.cli import main

    motion = actor_dir.parent / "m.npz"
    out = tmp_path / "v1"
    assert main(["actor", "render", "--motion", str(motion), "--out", str(out), "--size", "64", "--frames", "1:2",
                 "--samples", "2", "--actor-version", "1", "--json"]) == 0
    body = cv2.imread(str(out / "mask" / "000002.png"), cv2.IMREAD_GRAYSCALE) > 127
    person = cv2.imread(str(out / "person_mask" / "000002.png"), cv2.IMREAD_GRAYSCALE) > 127
    assert (body != person).mean() < 0.01 and json.loads((out / "actor.json").read_text())["actor_version"] == 1


def test_actor_cloth_option_simulates_the_skirt_and_json_stays_clean(tmp_path):
    """`actor render --cloth`: the skirt is Blender cloth, so the dressed silhouette differs from the
    skinned skirt's on the same frames, while the body passes are the same; stdout is the JSON alone
    (Blender's per-frame log lines stay off it)."""
    _default_body_or_skip()
    pytest.importorskip("bpy")
    import subprocess
    import sys

    import cv2

    from neural_render.cli import main
    from neural_render.paths import asset

    walk = str(asset("motions/cmu_131_01_walk.npz"))
    args = ["actor", "render", "--motion", walk, "--size", "64", "--frames", "150:156", "--samples", "1", "--json"]
    r = subprocess.run([sys.executable, "-m", "neural_render", *args, "--out", str(tmp_path / "cloth"), "--cloth"],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    assert json.loads(r.stdout)["frames"] == 6
    assert json.loads((tmp_path / "cloth" / "actor.json").read_text())["cloth"] is True
    assert main([*args, "--out", str(tmp_path / "skinned")]) == 0
    n = "000156.png"
    read = lambda d, sub: cv2.imread(str(tmp_path / d / sub / n), cv2.IMREAD_GRAYSCALE) > 127  # noqa: E731
    assert np.array_equal(read("cloth", "mask"), read("skinned", "mask"))
    assert (read("cloth", "person_mask") != read("skinned", "person_mask")).sum() > 20
