"""BVH: parsing the shared CMU clips, channel semantics, writer round trip, errors and fuzzing."""


import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from motion_testutil import humanoid_arrays
from neural_render.errors import InputError
from neural_render.motion import rotations as rot
from neural_render.motion.bvh import BVH, format_bvh, parse_bvh, read_bvh
from cli_run import run_cli

SMALL = """HIERARCHY
ROOT Hips
{
  OFFSET 0 0 0
  CHANNELS 6 Xposition Yposition Zposition Zrotation Xrotation Yrotation
  JOINT Chest
  {
    OFFSET 0 10 0
    CHANNELS 3 Xrotation Zrotation Yrotation
    End Site
    {
      OFFSET 0 5 0
    }
  }
  JOINT Leg
  {
    OFFSET 2 -1 0
    CHANNELS 6 Xposition Yposition Zposition Yrotation Xrotation Zrotation
    End Site
    {
      OFFSET 0 -8 0
    }
  }
}
MOTION
Frames: 2
Frame Time: 0.04
1 2 3 10 20 30 40 50 60 0 0 0 5 6 7
1 2 3 0 0 0 0 0 90 2 -1 0 0 0 0
"""


def test_parse_small_channel_orders_and_fk():
    b = parse_bvh(SMALL)
    assert b.names == ["Hips", "Chest", "Chest_end", "Leg", "Leg_end"]
    assert list(b.parents) == [-1, 0, 1, 0, 3]
    assert b.num_frames == 2 and b.fps == pytest.approx(25)
    G, P = b.forward_kinematics()
    # Root: ZXY listed -> R = Rz Rx Ry, at the position channels.
    Rr = rot.euler_to_matrix(np.radians([10, 20, 30]), "ZXY")
    np.testing.assert_allclose(G[0, 0], Rr, atol=1e-12)
    np.testing.assert_allclose(P[0, 0], [1, 2, 3])
    # Chest: XZY order, offset rotated by the root.
    Rc = rot.euler_to_matrix(np.radians([40, 50, 60]), "XZY")
    np.testing.assert_allclose(G[0, 1], Rr @ Rc, atol=1e-12)
    np.testing.assert_allclose(P[0, 1], [1, 2, 3] + Rr @ [0, 10, 0], atol=1e-12)
    np.testing.assert_allclose(P[0, 2], P[0, 1] + Rr @ Rc @ [0, 5, 0], atol=1e-12)
    # Leg: 6 channels -> position channels replace the offset.
    np.testing.assert_allclose(P[0, 3], [1, 2, 3], atol=1e-12)
    np.testing.assert_allclose(P[1, 3], P[1, 0] + G[1, 0] @ [2, -1, 0], atol=1e-12)
    # Frame 2: chest rotated 90 deg about y only.
    np.testing.assert_allclose(P[1, 2] - P[1, 1], [0, 5, 0], atol=1e-9)


def test_writer_round_trip():
    b = parse_bvh(SMALL)
    b2 = parse_bvh(format_bvh(b, precision=9))
    assert b2.names == b.names and b2.channels == b.channels
    np.testing.assert_allclose(b2.frames, b.frames)
    np.testing.assert_allclose(b2.offsets, b.offsets)


def test_shared_cmu_clips(shared_data):
    for name, frames in (("cmu_131_01_walk.bvh", 994), ("cmu_131_03_hop.bvh", 1102)):
        b = read_bvh(shared_data / "mocap" / name)
        assert b.num_frames == frames and round(b.fps) == 120
        assert b.names[:3] == ["Hips", "LHipJoint", "LeftHip"]
        assert b.num_channels == b.frames.shape[1] == 96
        G, P = b.forward_kinematics()
        assert 15 < P[:, 0, 1].mean() < 19          # CMU units: root height ~17
        # FK keeps bone lengths.
        for j, p in enumerate(b.parents):
            if p >= 0:
                np.testing.assert_allclose(np.linalg.norm(P[:, j] - P[:, p], axis=-1),
                                           np.linalg.norm(b.offsets[j]), atol=1e-9)


def _frame_lines(text):
    return text.split("Frame Time: 0.04\n")


@pytest.mark.parametrize("mutate,msg,line", [
    (lambda s: s.replace("Frames: 2", "Frames: 3"), "only 2 frame lines", None),
    (lambda s: s.replace("0 0 0 5 6 7", "0 0 0 5 6"), "has 14 values", 28),
    (lambda s: s.replace("0 0 0 5 6 7", "0 0 0 5 nan 7"), "non-finite", 28),
    (lambda s: s.replace("0 0 0 5 6 7", "0 0 0 5 x 7"), "non-number 'x'", 28),
    (lambda s: s.replace("CHANNELS 3 Xrotation Zrotation Yrotation", "CHANNELS 4 Xrotation Zrotation Yrotation"), "unknown channel|expected", None),
    (lambda s: s.replace("Zrotation Yrotation\n    End", "Wrotation Yrotation\n    End"), "unknown channel 'Wrotation'", 9),
    (lambda s: s[: s.index("MOTION")], "file ends while expecting MOTION", None),
    (lambda s: s[: s.index("End Site") + 8], "file ends while expecting", None),
    (lambda s: s.replace("HIERARCHY", "HIERARCHX"), "expected HIERARCHY", 1),
    (lambda s: s.replace("OFFSET 0 10 0", "OFFSET 0 ten 0"), "expected a number", 8),
    (lambda s: s.replace("Frame Time: 0.04", "Frame Time: 0"), "positive", 27),
    (lambda s: s + "1 2 3\n", "data after", 30),
])
def test_bad_files_name_the_line(tmp_path, mutate, msg, line):
    p = tmp_path / "bad.bvh"
    p.write_text(mutate(SMALL))
    with pytest.raises(InputError, match=msg) as e:
        read_bvh(p)
    assert str(p) in str(e.value)
    if line:
        assert f"line {line}" in str(e.value)


def test_empty_file(tmp_path):
    p = tmp_path / "e.bvh"
    p.write_text("  \n")
    with pytest.raises(InputError, match="empty"):
        read_bvh(p)


def test_cli_bad_bvh_exit_2_no_output(tmp_path):
    p = tmp_path / "bad.bvh"
    p.write_text(SMALL.replace("Frames: 2", "Frames: 9"))
    out = tmp_path / "m.npz"
    body = tmp_path / "body.npz"
    np.savez(body, **humanoid_arrays())
    r = run_cli(["motion", "import", str(p), "--out", str(out), "--body", str(body)])
    assert r.returncode == 2, r.stderr
    assert "bad.bvh" in r.stderr and "line" in r.stderr and r.stderr.count("\n") == 1
    assert sorted(x.name for x in tmp_path.iterdir()) == ["bad.bvh", "body.npz"]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_fuzz_parser_only_raises_input_error(data):
    text = SMALL
    op = data.draw(st.sampled_from(["cut", "replace", "insert", "delete_line"]))
    if op == "cut":
        text = text[: data.draw(st.integers(0, len(text)))]
    elif op == "replace":
        i = data.draw(st.integers(0, len(text) - 1))
        text = text[:i] + data.draw(st.text(max_size=5)) + text[i + 1:]
    elif op == "insert":
        i = data.draw(st.integers(0, len(text)))
        text = text[:i] + data.draw(st.sampled_from(["{", "}", "JOINT X", "End Site", "nan", "1e999", " ", "\n"])) + text[i:]
    else:
        lines = text.splitlines()
        del lines[data.draw(st.integers(0, len(lines) - 1))]
        text = "\n".join(lines)
    try:
        b = parse_bvh(text)
    except InputError:
        return
    # Whatever parses is self-consistent.
    assert b.frames.shape == (b.num_frames, b.num_channels)
    assert np.all(np.isfinite(b.frames))
    b.forward_kinematics()


@settings(max_examples=60, deadline=None)
@given(st.binary(max_size=300))
def test_fuzz_random_bytes(tmp_path_factory, blob):
    p = tmp_path_factory.mktemp("fz") / "f.bvh"
    p.write_bytes(b"HIERARCHY\n" + blob)
    try:
        read_bvh(p)
    except InputError:
        pass
