"""`neural-render passes`: files, numbering, legend, depth normalisation, contact sheet, bad input."""

import json

import cv2
import numpy as np
import pytest

from neural_render.cli import main
from test_passes_support import need_raster


@pytest.fixture(scope="module")
def motion_file(tmp_path_factory):
    from neural_render.motion.motion import Motion

    T = 8
    rng = np.random.default_rng(0)
    poses = np.zeros((T, 72), np.float32)
    poses[:, 0] = np.pi / 2  # SMPL Y-up -> Z-up world, as canonical motions store it
    poses[:, 3:] = rng.normal(0, 0.1, 69) * np.linspace(0, 1, T)[:, None]
    trans = np.stack([np.zeros(T), np.linspace(0, 1.0, T), np.full(T, 1.0)], 1)  # walks 1 m along +y
    path = tmp_path_factory.mktemp("m") / "motion.npz"
    Motion(poses, trans, fps=30.0).save(path)
    return path


def test_cli_raster_writes_all_passes(motion_file, tmp_path, capsys):
    need_raster()
    out = tmp_path / "out"
    rc = main(["passes", "--motion", str(motion_file), "--out", str(out), "--size", "96x64", "--frames", "2:6",
               "--renderer", "raster", "--contact-sheet", "--no-progress"])
    assert rc == 0
    leg = json.loads((out / "legend.json").read_text())
    assert leg["passes"] == ["skeleton", "parts", "normal", "depth", "mask", "uv"]
    assert leg["resolution"] == {"width": 96, "height": 64}
    assert [f["file"] for f in leg["frames"]] == ["000003", "000004", "000005", "000006"]
    for f in leg["frames"]:
        assert np.asarray(f["K"]).shape == (3, 3) and np.asarray(f["world_to_camera"]).shape == (4, 4)
    for p in ("skeleton", "parts", "normal", "mask", "uv"):
        names = sorted(x.name for x in (out / p).glob("*.png"))
        assert names == ["000003.png", "000004.png", "000005.png", "000006.png"], p
    parts = cv2.imread(str(out / "parts" / "000003.png"), -1)
    mask = cv2.imread(str(out / "mask" / "000003.png"), -1)
    assert parts.dtype == np.uint8 and parts.ndim == 2 and set(np.unique(mask)) == {0, 255}
    assert np.array_equal(parts > 0, mask > 0)
    normal = cv2.imread(str(out / "normal" / "000003.png"), -1)[..., ::-1]
    n = normal[mask > 0] / 127.5 - 1
    assert np.abs(np.linalg.norm(n, axis=1) - 1).max() < 0.02 and (normal[mask == 0] == 0).all()
    uv = cv2.imread(str(out / "uv" / "000003.png"), -1)[..., ::-1]
    assert np.array_equal(uv[..., 0], parts)
    # depth PNG normalised once for the sequence: the nearest depth is 65535 in exactly the frame
    # that holds it, and equal metric depths map to equal grey levels across frames
    pngs = [cv2.imread(str(out / "depth" / f"{i:06d}.png"), -1) for i in range(3, 7)]
    assert all(p.dtype == np.uint16 for p in pngs)
    assert max(p.max() for p in pngs) == 65535 and min(p[p > 0].min() for p in pngs) == 1
    near, far = leg["depth_png_range"]["near"], leg["depth_png_range"]["far"]
    from neural_render.passes.writer import read_exr_depth

    d = read_exr_depth(out / "depth" / "000004.exr")
    fg = d > 0
    expect = 1 + np.rint((far - d[fg]) / (far - near) * 65534)
    assert np.abs(pngs[1][fg].astype(float) - expect).max() <= 1
    kp = json.loads((out / "skeleton" / "keypoints.json").read_text())
    assert len(kp["frames"]) == 4 and len(kp["frames"][0]["people"][0]["keypoints"]) == 25
    sheet = cv2.imread(str(out / "contact_sheet.png"))
    assert sheet is not None and sheet.shape[1] > 6 * 90
    assert "wrote 4 frame(s)" in capsys.readouterr().out


def test_cli_champ_profile_and_blender(motion_file, tmp_path):
    pytest.importorskip("bpy")
    out = tmp_path / "champ"
    rc = main(["passes", "--motion", str(motion_file), "--out", str(out), "--size", "64", "--frames", "0:2",
               "--renderer", "blender", "--profile", "champ", "--camera", "fixed", "--skeleton", "coco18",
               "--fps", "15", "--no-progress"])
    assert rc == 0
    parts = cv2.imread(str(out / "parts" / "000001.png"), -1)
    assert parts.ndim == 3  # champ: viridis RGB
    leg = json.loads((out / "legend.json").read_text())
    assert leg["profile"] == "champ" and leg["skeleton"]["style"] == "coco18" and leg["renderer"] == "blender"
    assert leg["encodings"]["skeleton"]["style"] == "coco18"
    assert leg["frames"][0]["world_to_camera"] == leg["frames"][1]["world_to_camera"]  # fixed camera
    assert (tmp_path / "champ" / "mask" / "000002.png").exists()


@pytest.mark.parametrize("argv_extra, needle", [
    (["--frames", "50:60"], "--frames"),
    (["--frames", "x"], "--frames"),
    (["--size", "0"], "--size"),
    (["--passes", "skeleton,bogus"], "--passes"),
    (["--fps", "15", "--frames", "4:9"], "--frames"),  # 8 frames at 30 fps are 4 at 15 fps
])
def test_cli_bad_input_exit_2_and_no_output(motion_file, tmp_path, capsys, argv_extra, needle):
    out = tmp_path / "bad"
    rc = main(["passes", "--motion", str(motion_file), "--out", str(out), "--renderer", "raster", "--no-progress"]
              + argv_extra)
    assert rc == 2
    err = capsys.readouterr().err
    assert needle in err and len(err.strip().splitlines()) == 1
    assert not out.exists()


def test_cli_missing_motion(tmp_path, capsys):
    out = tmp_path / "o"
    assert main(["passes", "--motion", str(tmp_path / "nope.npz"), "--out", str(out)]) == 2
    assert "nope.npz" in capsys.readouterr().err and not out.exists()
