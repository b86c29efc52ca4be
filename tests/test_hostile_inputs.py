"""Hostile and broken input beyond pickles: recursion, declared sizes, absurd values, the
environment, message size. Every input is generated here; each must end in one line and exit 2
(or an InputError), with nothing written. See SECURITY.md."""

import errno
import json
import os
import subprocess
import sys
import zipfile

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hostile_util import run_cli
from neural_render.errors import InputError

BVH_TAIL = "MOTION\nFrames: 1\nFrame Time: 0.033333\n"


def deep_bvh(depth: int) -> str:
    head = "HIERARCHY\nROOT Hips\n{\nOFFSET 0 0 0\nCHANNELS 6 Xposition Yposition Zposition Zrotation Xrotation Yrotation\n"
    body = "".join(f"JOINT J{i}\n{{\nOFFSET 0 1 0\nCHANNELS 3 Zrotation Xrotation Yrotation\n" for i in range(depth))
    closes = "}\n" * (depth + 1)
    return head + body + closes + BVH_TAIL + " ".join(["0"] * (6 + 3 * depth)) + "\n"


def small_bvh(frames_line: str = "Frames: 1", row: str = "0 0 0 0 0 0 0 0 0") -> str:
    return ("HIERARCHY\nROOT Hips\n{\nOFFSET 0 0 0\nCHANNELS 6 Xposition Yposition Zposition Zrotation Xrotation "
            "Yrotation\nJOINT Chest\n{\nOFFSET 0 10 0\nCHANNELS 3 Zrotation Xrotation Yrotation\nEnd Site\n{\n"
            f"OFFSET 0 5 0\n}}\n}}\n}}\nMOTION\n{frames_line}\nFrame Time: 0.04\n{row}\n")


def _import(tmp_path, src, *extra) -> tuple[int, str]:
    out = tmp_path / "out.npz"
    rc, err = run_cli(["motion", "import", str(src), "--out", str(out), *extra])
    assert not out.exists() or rc == 0
    return rc, err


def _exit2(rc, err):
    assert rc == 2, err
    assert err.startswith("error: ") and err.count("\n") == 1 and "Traceback" not in err, err


# ------------------------------------------------------------------------------------ recursion
def test_bvh_3000_deep_hierarchy(tmp_path):
    p = tmp_path / "deep.bvh"
    p.write_text(deep_bvh(3000))
    rc, err = _import(tmp_path, p)
    _exit2(rc, err)
    assert "nests deeper than" in err


def test_bvh_200_deep_hierarchy_still_parses():
    from neural_render.motion.bvh import parse_bvh

    assert len(parse_bvh(deep_bvh(200)).names) == 201


@pytest.mark.parametrize("kind", ["openpose", "mediapipe", "coco", "calibration"])
@pytest.mark.parametrize("depth", [100_000, 50_000])
def test_deeply_nested_json(tmp_path, kind, depth):
    doc = "[" * depth + "]" * depth
    if kind == "openpose":
        src = tmp_path / "op"
        src.mkdir()
        (src / "f_000001_keypoints.json").write_text('{"people": ' + doc + "}")
        args = ["--format", "openpose"]
    elif kind == "calibration":
        from neural_render.motion.calibration import load_calibration

        (tmp_path / "cams.json").write_text('{"cameras": ' + doc + "}")
        with pytest.raises(InputError, match="nested too deeply"):
            load_calibration(tmp_path / "cams.json")
        return
    else:
        src = tmp_path / f"{kind}.json"
        src.write_text(doc if kind == "coco" else '{"frames": ' + doc + "}")
        args = ["--format", kind]
    _exit2(*_import(tmp_path, src, *args))


# ---------------------------------------------------------------------------------------- sizes
def test_bvh_frames_declared_huge(tmp_path):
    p = tmp_path / "huge.bvh"
    p.write_text(small_bvh("Frames: 1000000000"))
    rc, err = _import(tmp_path, p)
    _exit2(rc, err)
    assert "1000000000 declared" in err


def _npz_bomb(path, n_bytes: int):
    """A valid .npz whose one array is n_bytes of zeros: ~1000x smaller on disk."""
    rows = n_bytes // (72 * 4)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        with zf.open("poses.npy", "w", force_zip64=True) as f:
            np.lib.format.write_array_header_1_0(f, {"descr": "<f4", "fortran_order": False, "shape": (rows, 72)})
            chunk = bytes(1 << 24)
            left = rows * 72 * 4
            while left > 0:
                f.write(chunk[:min(left, len(chunk))])
                left -= len(chunk)
        zf.writestr("trans.npy", b"")


@pytest.mark.slow
def test_npz_bomb_real_inflation(tmp_path):
    p = tmp_path / "bomb.npz"
    _npz_bomb(p, (1 << 30) + (1 << 29))  # 1.5 GiB of poses in ~1.5 MB
    assert p.stat().st_size < 3_000_000
    _exit2(*_import(tmp_path, p, "--format", "amass"))


def test_npz_declared_size_over_limit(tmp_path):
    """Same check without writing 1.5 GB: the zip directory's declared size is what is trusted."""
    from neural_render.fileio import check_npz

    p = tmp_path / "big.npz"
    _npz_bomb(p, 8 << 20)
    with pytest.raises(InputError, match="inflates to"):
        check_npz(p, max_bytes=4 << 20)
    check_npz(p, max_bytes=16 << 20)


def test_npz_header_shape_larger_than_member(tmp_path):
    p = tmp_path / "lie.npz"
    with zipfile.ZipFile(p, "w") as zf:
        with zf.open("poses.npy", "w") as f:
            np.lib.format.write_array_header_1_0(f, {"descr": "<f8", "fortran_order": False,
                                                     "shape": (10**6, 10**6)})
            f.write(bytes(64))
    for fmt in ("amass", "smpl", "motion"):
        _exit2(*_import(tmp_path, p, "--format", fmt))
    rc, err = run_cli(["body", "info", "--model", str(p)])
    _exit2(rc, err)
    assert "declares shape" in err


@pytest.mark.parametrize("argv", [
    ["train", "--data", "{d}", "--out", "{o}", "--size", "100000"],
    ["train", "--data", "{d}", "--out", "{o}", "--batch", "0"],
    ["train", "--data", "{d}", "--out", "{o}", "--texture-size", "1000000"],
    ["generate", "--checkpoint", "{d}/c.safetensors", "--passes", "{d}", "--out", "{o}", "--size", "100000"],
    ["body", "preview", "--out", "{o}/p.png", "--size", "100000"],
    ["body", "preview", "--out", "{o}/p.png", "--count", "100000"],
    ["eval", "--checkpoint", "{d}/c.safetensors", "--data", "{d}", "--size", "100000"],
])
def test_size_flags_bounded(tmp_path, argv):
    argv = [a.format(d=tmp_path, o=tmp_path / "out") for a in argv]
    rc, err = run_cli(argv)
    _exit2(rc, err)
    assert "outside" in err and not (tmp_path / "out").exists()


# --------------------------------------------------------------------------------------- values
def test_bvh_root_position_1e308(tmp_path):
    p = tmp_path / "far.bvh"
    p.write_text(small_bvh(row="1e308 0 0 0 0 0 0 0 0"))
    _exit2(*_import(tmp_path, p))


def test_bvh_large_but_finite_values_never_written_as_nan(tmp_path):
    """Within the parser's limit, the retargeted result is checked before it is written."""
    p = tmp_path / "far.bvh"
    p.write_text(small_bvh(row="9e6 9e6 9e6 0 0 0 0 0 0"))
    rc, err = _import(tmp_path, p)
    if rc == 0:
        from neural_render.motion.motion import Motion

        m = Motion.load(tmp_path / "out.npz")
        assert np.all(np.isfinite(m.trans)) and np.all(np.isfinite(m.poses))
    else:
        _exit2(rc, err)


@pytest.mark.parametrize("name,arrays", [
    ("string poses", {"poses": np.array([["1.0"] * 72])}),
    ("complex poses", {"poses": np.zeros((2, 72), complex)}),
    ("fps 1e-300", {"poses": np.zeros((2, 72)), "mocap_framerate": np.float64(1e-300)}),
    ("fps 1e300", {"poses": np.zeros((2, 72)), "mocap_framerate": np.float64(1e300)}),
    ("poses 1e30", {"poses": np.full((2, 72), 1e30)}),
    ("trans 1e30", {"poses": np.zeros((2, 72)), "trans": np.full((2, 3), 1e30)}),
])
@pytest.mark.parametrize("fmt", ["amass", "smpl"])
def test_absurd_smpl_values(tmp_path, name, arrays, fmt):
    p = tmp_path / "m.npz"
    np.savez(p, **arrays)
    _exit2(*_import(tmp_path, p, "--format", fmt))


def test_smpl_model_with_string_arrays(tmp_path, synthetic_smpl):
    d = dict(synthetic_smpl)
    d["v_template"] = np.array([["a", "b", "c"]] * 4)
    p = tmp_path / "s.npz"
    np.savez(p, **d)
    _exit2(*run_cli(["body", "info", "--model", str(p)]))


@pytest.mark.parametrize("key,value", [("f", lambda d: d["f"] + 10**6), ("f", lambda d: -d["f"]),
                                       ("weights", lambda d: d["weights"] * np.nan),
                                       ("shapedirs", lambda d: d["shapedirs"].astype(complex))])
def test_smpl_model_with_bad_faces_or_values(tmp_path, synthetic_smpl, key, value):
    d = dict(synthetic_smpl)
    d[key] = value(d)
    p = tmp_path / "s.npz"
    np.savez(p, **d)
    _exit2(*run_cli(["body", "info", "--model", str(p)]))


def test_motion_save_refuses_non_finite_and_absurd(tmp_path):
    from neural_render.motion.motion import Motion

    for bad in (dict(trans=np.full((2, 3), np.nan)), dict(trans=np.full((2, 3), 1e9)), dict(fps=1e-300)):
        kw = dict(poses=np.zeros((2, 72)), trans=np.zeros((2, 3)), fps=30.0)
        kw.update(bad)
        with pytest.raises(InputError, match="refusing to write"):
            Motion(**kw).save(tmp_path / "m.npz")
        assert not list(tmp_path.iterdir())


def _openpose(tmp_path, conf: float, x: float = 100.0):
    src = tmp_path / "op"
    src.mkdir(exist_ok=True)
    kp = []
    for i in range(25):
        kp += [x + i, 100.0 + 10 * i, conf]
    (src / "a_000001_keypoints.json").write_text(json.dumps({"people": [{"pose_keypoints_2d": kp}]}))
    return src


@pytest.mark.parametrize("conf,x", [(1e9, 100.0), (-5.0, 100.0), (0.9, 1e12)])
def test_openpose_absurd_confidence_or_coordinate(tmp_path, conf, x):
    rc, err = _import(tmp_path, _openpose(tmp_path, conf, x), "--format", "openpose")
    _exit2(rc, err)


# ---------------------------------------------------------------------------------- environment
def test_unwritable_output_is_one_line(tmp_path):
    from neural_render.motion.motion import Motion

    src = tmp_path / "m.npz"
    Motion(np.zeros((2, 72)), np.zeros((2, 3))).save(src)
    target = "/sys/neural_render_test.npz" if os.geteuid() == 0 else "/proc/neural_render_test.npz"
    rc, err = run_cli(["motion", "import", str(src), "--out", target])
    _exit2(rc, err)
    assert "permission" in err.lower() or "read-only" in err.lower() or "denied" in err.lower()


def test_disk_full_is_one_line_in_a_real_process(tmp_path):
    """A write limit (RLIMIT_FSIZE: the kernel's EFBIG, as a full disk's ENOSPC) in a real process."""
    import resource

    from neural_render.motion.motion import Motion

    src = tmp_path / "m.npz"
    Motion(np.zeros((4000, 72)), np.zeros((4000, 3))).save(src)

    def limit():
        resource.setrlimit(resource.RLIMIT_FSIZE, (200_000, 200_000))

    r = subprocess.run([sys.executable, "-m", "neural_render", "motion", "import", str(src), "--out",
                        str(tmp_path / "o.npz")], capture_output=True, text=True, preexec_fn=limit)
    assert r.returncode == 2, r.stderr
    assert r.stderr.count("\n") == 1 and "too large" in r.stderr
    assert not (tmp_path / "o.npz").exists() and not list(tmp_path.glob(".o.*"))


def test_environment_error_mapping():
    from neural_render.cli import environment_error

    def raised(fn):
        try:
            fn()
        except BaseException as e:  # noqa: BLE001
            return e

    def recurse(n):
        return recurse(n + 1)

    assert "out of memory" in environment_error(raised(lambda: np.empty(10**15)))
    assert "nested too deeply" in environment_error(raised(lambda: recurse(0)))
    for code in (errno.EACCES, errno.EROFS, errno.ENOSPC):
        e = OSError(code, os.strerror(code), "/x/y")
        assert environment_error(e).startswith("'/x/y': ")
    assert environment_error(OSError(errno.EBADF, "bad fd")) is None  # a bug: stays exit 1
    assert environment_error(ValueError("x")) is None
    assert environment_error(KeyError("x")) is None


def test_internal_error_is_a_short_traceback():
    from neural_render.cli import TRACEBACK_FRAMES, environment_error, internal_error_text

    def deep(n):
        return deep(n - 1) if n else np.linalg.inv(np.zeros((2, 2)))

    try:
        deep(30)
    except Exception as e:  # noqa: BLE001
        assert environment_error(e) is None  # a bug, not the environment: exit 1
        text = internal_error_text(e)
    assert text.startswith("internal error") and text.rstrip().endswith("Singular matrix")
    assert 3 <= text.count('File "') <= TRACEBACK_FRAMES and len(text) < 3000


# ------------------------------------------------------------------------------- message size
def test_yaml_billion_laughs_is_refused_briefly(tmp_path):
    lines = ['a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for i in range(1, 9):
        lines.append(f"a{i}: &a{i} [" + ",".join([f"*a{i - 1}"] * 9) + "]")
    lines.append("samples: *a8")
    cfg = tmp_path / "laughs.yaml"
    cfg.write_text("\n".join(lines) + "\n")
    assert cfg.stat().st_size < 2000
    rc, err = run_cli(["batch", "--config", str(cfg), "--out", str(tmp_path / "o")])
    _exit2(rc, err)
    assert len(err) < 600 and "expands" in err


def test_error_messages_are_capped():
    e = InputError("x" * 10**6, path="p" * 10**5, fix="f" * 10**5)
    assert len(str(e)) <= 2000
    from neural_render.errors import quote

    assert len(quote("y" * 10**7)) <= 120 and quote(list(range(10**6))) == "<list of 1000000 items>"


# ------------------------------------------------------------------------------------ fuzzing
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(depth=st.integers(1, 400), frames=st.integers(-5, 10**12), value=st.sampled_from(
    ["0", "1e308", "-1e308", "nan", "inf", "1e7", "12.5", "1e-320"]))
def test_fuzz_bvh_structure(depth, frames, value):
    from neural_render.motion.bvh import parse_bvh

    text = deep_bvh(depth).replace("Frames: 1", f"Frames: {frames}").replace("\n0 0", f"\n{value} 0", 1)
    try:
        b = parse_bvh(text)
    except InputError:
        return
    assert np.all(np.isfinite(b.frames)) and b.num_frames == frames


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(doc=st.recursive(st.none() | st.floats() | st.integers(-10**20, 10**20) | st.text(max_size=5),
                        lambda c: st.lists(c, max_size=3) | st.dictionaries(st.sampled_from(
                            ["people", "pose_keypoints_2d", "frames", "landmarks", "image_width", "image_height",
                             "fps", "x", "y", "visibility", "annotations", "keypoints", "image_id", "images",
                             "id", "width", "height", "cameras", "K", "world_to_camera"]), c, max_size=4),
                        max_leaves=20),
       nest=st.integers(0, 3000), kind=st.sampled_from(["openpose", "coco", "mediapipe", "calibration"]))
def test_fuzz_json_inputs_only_input_errors(tmp_path, doc, nest, kind):
    from neural_render.motion.calibration import load_calibration
    from neural_render.motion.keypoints import read_keypoints

    p = tmp_path / ("f_000001_keypoints.json" if kind == "openpose" else "f.json")
    p.write_text("[" * nest + json.dumps(doc) + "]" * nest)
    try:
        if kind == "calibration":
            load_calibration(p)
        else:
            ks = read_keypoints(p, kind)
            for frame in ks.people:
                assert np.all(np.isfinite(frame))
    except InputError:
        pass


# ------------------------------------------------------------------------ locks and leftovers
def _motion_file(tmp_path):
    from neural_render.motion.motion import Motion

    p = tmp_path / "m.npz"
    if not p.exists():
        Motion(np.zeros((2, 72)), np.zeros((2, 3))).save(p)
    return p


LOCKED_COMMANDS = {
    "train": ["train", "--data", "{t}/nodata", "--out", "{o}"],
    "generate": ["generate", "--checkpoint", "{t}/c.safetensors", "--passes", "{t}", "--out", "{o}"],
    "eval --save": ["eval", "--checkpoint", "{t}/c.safetensors", "--data", "{t}", "--save", "{o}"],
    "actor render": ["actor", "render", "--motion", "{m}", "--out", "{o}"],
    "passes": ["passes", "--motion", "{m}", "--out", "{o}", "--frames", "0:1"],
    "detect": ["detect", "{t}/none.mp4", "--out", "{o}"],
    "animate": ["animate", "--image", "{t}/p.png", "--motion", "{m}", "--out", "{o}"],
    "demo": ["demo", "--out", "{o}"],
    "prepare": ["prepare", "--video", "{t}/v.mp4", "--out", "{o}"],
}


@pytest.mark.parametrize("name", sorted(LOCKED_COMMANDS))
def test_second_run_on_the_same_output_is_refused(tmp_path, name):
    from neural_render.fileio import exclusive_folder, exclusive_replacement

    out = tmp_path / "out"
    argv = [a.format(t=tmp_path, o=out, m=_motion_file(tmp_path)) for a in LOCKED_COMMANDS[name]]
    hold = exclusive_replacement if name == "prepare" else exclusive_folder
    with hold(out, "test run"):  # a live run holding the folder (flock: refused even in this process)
        rc, err = run_cli(argv)
    _exit2(rc, err)
    assert "is writing this folder" in err
    with hold(out, "test run"):  # and the refused command left the lock free
        pass
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".lock")]  # nothing left beside


def test_batch_lock_is_the_same_mechanism(tmp_path):
    from neural_render.dataset.manifest import DatasetFolder
    from neural_render.fileio import lock_output

    with lock_output(tmp_path / "ds", "test run"):
        with pytest.raises(InputError, match="another batch run is writing"):
            DatasetFolder(tmp_path / "ds", {"samples": 1}).open()


def test_dead_runs_temporaries_are_swept_on_rerun(tmp_path):
    out = tmp_path / "gen"
    out.mkdir()
    stale = [out / ".000001.k3j_x9a2.tmp.png", out / "sub" / ".000002.abcdefgh.tmp.png"]
    stale[1].parent.mkdir()
    for s in stale:
        s.write_bytes(b"half a png")
    keep = [out / "000001.png", out / ".hidden.tmp", out / ".bashrc"]
    for k in keep:
        k.write_bytes(b"x")
    rc, err = run_cli(["generate", "--checkpoint", str(tmp_path / "none.safetensors"), "--passes", str(tmp_path),
                       "--out", str(out)])
    _exit2(rc, err)
    assert not any(s.exists() for s in stale) and all(k.exists() for k in keep)

    staging = tmp_path / ".prep.tmp-ab12cd34"
    (staging / "frames").mkdir(parents=True)
    (staging / "frames" / "000001.png").write_bytes(b"x")
    (tmp_path / "v.mp4").write_bytes(b"not a video")
    rc, err = run_cli(["prepare", "--video", str(tmp_path / "v.mp4"), "--out", str(tmp_path / "prep")])
    assert rc == 2 and not staging.exists() and not (tmp_path / "prep").exists()


def test_dead_pid_scratch_sweep(tmp_path):
    from neural_render.fileio import sweep_dead_pid_dirs

    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    (tmp_path / f"nr_x_{dead.pid}_abc").mkdir()
    (tmp_path / f"nr_x_{os.getpid()}_abc").mkdir()
    (tmp_path / "nr_x_notapid_abc").mkdir()
    assert sweep_dead_pid_dirs(tmp_path, "nr_x_") == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([f"nr_x_{os.getpid()}_abc", "nr_x_notapid_abc"])


# ------------------------------------------------------------------------------- resume integrity
def test_batch_resume_checks_sizes_and_png_ends(tmp_path):
    import cv2

    from neural_render.dataset.task import label_path, verify_sample

    (tmp_path / "images").mkdir()
    img = tmp_path / "images" / "000001.png"
    ok, buf = cv2.imencode(".png", np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8))
    img.write_bytes(buf.tobytes())
    lp = label_path(tmp_path, 0)
    lp.parent.mkdir(parents=True)
    for with_sizes in (True, False):
        lab = {"sample": 0, "files": {"images/000001.png": "sha"}}
        if with_sizes:
            lab["file_bytes"] = {"images/000001.png": img.stat().st_size}
        lp.write_text(json.dumps(lab))
        img.write_bytes(buf.tobytes())
        assert verify_sample(tmp_path, 0) is not None
        img.write_bytes(buf.tobytes()[:100])  # cut to 100 bytes: redone on resume, no --verify needed
        assert verify_sample(tmp_path, 0) is None


@pytest.mark.parametrize("damage", ["not json {", '{"unknown_option": 1}', "[1, 2]", None])
def test_train_resume_with_damaged_run_folder(tmp_path, damage):
    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    (run / "checkpoints" / "latest.safetensors").write_bytes(b"\0" * 100)
    if damage is not None:
        (run / "options.json").write_text(damage)
    rc, err = run_cli(["train", "--data", str(tmp_path), "--out", str(run), "--steps", "1", "--device", "cpu"])
    _exit2(rc, err)
    assert "--no-resume" in err


# ------------------------------------------------------------------------------ second round
# The same classes, made differently: other encodings of the same attacks, found by probing.
def _smpl_bvh(tmp_path, frame_time=None, root_x=None, frames_line=None) -> "Path":
    """A retargetable BVH (the SMPL skeleton, as `motion export` writes it), then tampered."""
    from neural_render.body import load_body
    from neural_render.motion.bvh import format_bvh
    from neural_render.motion.export import motion_to_bvh
    from neural_render.motion.motion import Motion

    rng = np.random.default_rng(0)
    b = motion_to_bvh(Motion(rng.normal(0, 0.2, (3, 72)), np.zeros((3, 3)), fps=30.0), load_body(), unit="cm")
    if root_x is not None:
        b.frames[:, 0] = root_x
    text = format_bvh(b, precision=6)
    if frame_time is not None:
        import re

        text = re.sub(r"Frame Time: \S+", f"Frame Time: {frame_time!r}", text)
    if frames_line is not None:
        text = text.replace("Frames: 3", frames_line)
    p = tmp_path / "s.bvh"
    p.write_text(text)
    return p


@pytest.mark.parametrize("kw,needle", [
    (dict(), None),
    (dict(frame_time=1e-300), "frame rate"),            # fps 1e300: finite in the file, absurd as a result
    (dict(frame_time=1e6), "frame rate"),               # 1e-6 fps: a 10^6 s frame
    (dict(root_x=9.99e6), "finite"),                    # within the parser's limit: refused or finite
    (dict(frames_line="Frames: 99999999999999999999999"), "declared"),  # beyond int64
])
def test_round2_bvh_results_checked_before_writing(tmp_path, kw, needle):
    rc, err = _import(tmp_path, _smpl_bvh(tmp_path, **kw))
    if needle is None:
        assert rc == 0, err
    elif needle == "finite" and rc == 0:
        from neural_render.motion.motion import Motion

        m = Motion.load(tmp_path / "out.npz")
        assert np.all(np.isfinite(m.trans)) and np.abs(m.trans).max() <= 1e5
    else:
        _exit2(rc, err)
        assert needle in err


@pytest.mark.parametrize("doc,needle", [
    ({"people": [{"pose_keypoints_2d": [10**400] + [1.0] * 74}]}, "expected numbers"),  # int beyond float
    ('{"people": [{"pose_keypoints_2d": [' + "9" * 5000 + "]}]}", "not readable JSON"),  # int beyond 4,300 digits
])
def test_round2_openpose_numbers(tmp_path, doc, needle):
    src = tmp_path / "op"
    src.mkdir()
    (src / "a_000001_keypoints.json").write_text(doc if isinstance(doc, str) else json.dumps(doc))
    rc, err = _import(tmp_path, src, "--format", "openpose")
    _exit2(rc, err)
    assert needle in err


@pytest.mark.parametrize("doc", [
    {"images": [{"id": 1, "width": "abc", "height": 5}], "annotations": [{"image_id": 1, "keypoints": [1] * 51}]},
    {"images": [{"id": [1], "width": 5, "height": 5}], "annotations": [{"image_id": 1, "keypoints": [1] * 51}]},
    {"images": [{"id": 1, "width": 10**400, "height": 5}], "annotations": [{"image_id": 1, "keypoints": [1] * 51}]},
    [{"image_id": [1, 2], "keypoints": [1] * 51, "score": 1}],
    [{"image_id": {"a": 1}, "keypoints": [1] * 51, "score": 1}],
])
def test_round2_coco_fields(tmp_path, doc):
    p = tmp_path / "c.json"
    p.write_text(json.dumps(doc))
    rc, err = _import(tmp_path, p, "--format", "coco")
    _exit2(rc, err)
    assert len(err) < 400


def test_round2_mediapipe_and_calibration_magnitudes(tmp_path):
    from neural_render.motion.calibration import load_calibration

    p = tmp_path / "mp.json"
    p.write_text(json.dumps({"image_width": 10**400, "image_height": 5, "frames": []}))
    rc, err = _import(tmp_path, p, "--format", "mediapipe")
    _exit2(rc, err)
    assert len(err) < 300
    eye = np.eye(4).tolist()
    for cam in ({"K": [[1e300, 0, 1], [0, 1e300, 1], [0, 0, 1]], "width": 64, "height": 64},
                {"K": [[100, 0, 1], [0, 100, 1], [0, 0, 1]], "width": 10**12, "height": 64}):
        (tmp_path / "cams.json").write_text(json.dumps({"cameras": [dict(cam, name="a", world_to_camera=eye)]}))
        with pytest.raises(InputError, match="absurd"):
            load_calibration(tmp_path / "cams.json")


def test_round2_yaml_deep_nesting_and_self_reference(tmp_path):
    for name, text in (("deep.yaml", "samples: " + "[" * 100_000 + "]" * 100_000 + "\n"),
                       ("self.yaml", "a: &a [*a]\nsamples: *a\n"),
                       ("wide.yaml", "a: &a [" + ",".join(["x"] * 400) + "]\nb: &b [" + ",".join(["*a"] * 400)
                        + "]\nsamples: *b\n")):
        cfg = tmp_path / name
        cfg.write_text(text)
        rc, err = run_cli(["batch", "--config", str(cfg), "--out", str(tmp_path / "o")])
        _exit2(rc, err)
        assert len(err) < 600


@pytest.mark.parametrize("arrays,needle", [
    ({"poses": np.zeros((2, 72)), "betas": np.ones(10**6), "mocap_framerate": 30.0}, "shape coefficients"),
    ({"poses": np.zeros((2, 72)), "mocap_framerate": np.float32(np.inf)}, "frame"),
    ({"poses": np.zeros((2, 72), np.float16) + np.float16(60000), "mocap_framerate": 30.0}, "outside"),
    ({"poses": np.array([[True] * 72]), "trans": np.array([[1e-320] * 3]), "mocap_framerate": 30.0}, None),
])
def test_round2_amass_values(tmp_path, arrays, needle):
    p = tmp_path / "m.npz"
    np.savez(p, **arrays)
    rc, err = _import(tmp_path, p, "--format", "amass")
    if needle is None:  # odd but harmless: bool poses and subnormal trans are plain numbers
        assert rc == 0, err
    else:
        _exit2(rc, err)
        assert needle in err


def test_round2_npz_member_without_npy_suffix(tmp_path):
    """np.load reads members not ending in .npy whole, as bytes: their declared size counts too."""
    from neural_render.fileio import check_npz

    p = tmp_path / "raw.npz"
    with zipfile.ZipFile(p, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("blob", bytes(8 << 20))
    assert p.stat().st_size < 100_000
    with pytest.raises(InputError, match="inflates"):
        check_npz(p, max_bytes=1 << 20)


def test_round2_pickle_newobj_on_the_ndarray_tag(tmp_path):
    from neural_render.body.safe_pickle import safe_load_pickle

    for blob in (b"\x80\x02cnumpy\nndarray\n)\x81.",                       # NEWOBJ ndarray()
                 b"\x80\x02cnumpy\nndarray\n(K\x01tR.",                    # ndarray(1)
                 b"\x80\x02(cnumpy\ndtype\nX\x02\x00\x00\x00O8o.",          # OBJ: dtype('O8')
                 b"\x80\x02cnumpy\ndtype\n(X\x04\x00\x00\x00f8,OtR.",       # structured spec
                 b"\x80\x02}q\x00X\x01\x00\x00\x00ah\x00s."):              # a dict holding itself
        p = tmp_path / "n.pkl"
        p.write_bytes(blob)
        with pytest.raises(InputError):
            safe_load_pickle(p)


def test_round2_toml_bone_map_and_split_files(tmp_path):
    from neural_render.generator.data import _split_numbers
    from neural_render.generator.infer import read_fps
    from neural_render.motion.bone_maps import load_bone_map
    from neural_render.motion.calibration import load_calibration

    (tmp_path / "deep.toml").write_text("a = " + "[" * 100_000 + "]" * 100_000 + "\n")
    with pytest.raises(InputError, match="nested too deeply"):
        load_calibration(tmp_path / "deep.toml")
    (tmp_path / "map.json").write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(InputError, match="nested too deeply"):
        load_bone_map(tmp_path / "map.json")
    for doc in ('{"train": "1,2"}', '[1, 2]', '{"train": [1, "x"]}', "{"):
        (tmp_path / "split.json").write_text(doc)
        with pytest.raises(InputError):
            _split_numbers(tmp_path / "split.json", "train")
    for legend, fps in (('{"fps": 1e-300}', None), ('{"fps": 1e300}', None), ("[1]", None), ('{"fps": 24}', 24.0)):
        (tmp_path / "legend.json").write_text(legend)
        assert read_fps(tmp_path) == fps
