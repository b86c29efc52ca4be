"""The GPU check's CPU-side pieces: device choices, the training time budget, the summary's judging.

(The check itself, `bash scripts/gpu_check.sh --quick`, runs in CI after the tests; its CUDA tests
are tests/test_cuda.py.)
"""

import json
from pathlib import Path

import pytest

from neural_render.errors import InputError
from cli_run import run_cli

ROOT = Path(__file__).resolve().parents[1]


def test_cycles_device_choice_validates():
    from neural_render.blender import cycles_device

    assert cycles_device.choice("OptiX") == "optix"
    assert cycles_device.choice("") == "cpu"
    with pytest.raises(InputError, match="unknown Cycles device 'metal'"):
        cycles_device.choice("metal")


def test_cycles_wheel_kernels_match_the_files_in_the_wheel():
    from neural_render.blender import cycles_device

    k = cycles_device.wheel_kernels("sm_90")
    if not k["bpy_found"]:
        pytest.skip("bpy not installed")
    lib = Path(k["lib"])
    cubins = {p.name.split(".")[0].replace("kernel_", "") for p in lib.glob("kernel_sm_*.cubin*")}
    assert set(k["cuda_cubins"]) == cubins
    # Hopper (sm_90) runs from a native cubin when the wheel has one, else from PTX the driver compiles
    assert k["arch_path"] == ("cubin" if "sm_90" in cubins else "ptx-jit" if k["cuda_ptx"] else "none")


def test_actor_render_rejects_an_unknown_cycles_device(tmp_path):
    r = run_cli(["actor", "render", "--motion", "m.npz", "--out", str(tmp_path / "o"), "--cycles-device", "vulkan"],
                 cwd=ROOT)
    assert r.returncode == 2 and "--cycles-device" in r.stderr
    assert not (tmp_path / "o").exists()


def test_egl_device_choice():
    from neural_render.passes.raster import egl_devices, resolve_egl_device

    assert resolve_egl_device(None) is None and resolve_egl_device("") is None
    assert resolve_egl_device("2") == 2
    try:
        devs = egl_devices()
    except Exception as e:  # noqa: BLE001 - no EGL here
        pytest.skip(f"no EGL: {e}")
    software = [i for i, n in devs if n and any(s in n.lower() for s in ("llvmpipe", "softpipe"))]
    hardware = [i for i, n in devs if n and i not in software]
    for kind, found in (("cpu", software), ("gpu", hardware)):
        if found:
            assert resolve_egl_device(kind) == found[0]
        else:
            with pytest.raises(RuntimeError, match=f"no EGL {kind} device"):
                resolve_egl_device(kind)
    with pytest.raises(RuntimeError):
        resolve_egl_device("tpu")


def test_train_max_seconds_ends_the_run_with_a_checkpoint(tmp_path):
    pytest.importorskip("torch")
    from neural_render.generator import checkpoint as ck
    from neural_render.generator.synthetic import write_dataset
    from neural_render.generator.train import TrainOptions, train

    data = write_dataset(tmp_path / "data", frames=4, size=32)
    res = train(TrainOptions(data=str(data), out=str(tmp_path / "run"), steps=1000, size=32, batch=1, ngf=8, n_res=1,
                             texture_size=32, ckpt_every=500, log_every=500, sample_every=0, progress=False,
                             split=None, max_seconds=1e-6))
    assert res["steps"] == 1  # the first step already passes the budget
    assert ck.read(tmp_path / "run" / "checkpoints" / "latest.safetensors")[1]["step"] == "1"
    rows = [json.loads(x) for x in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [1]


def _bench(lbs_ms, fps, gen_ms, util):
    return {"body": {"results": [{"backend": "torch", "device": "cuda", "threads": 16, "batch": 4096,
                                  "poses_per_s": 4096 / lbs_ms * 1000, "ms_per_call": lbs_ms}]},
            "passes": {"results": [{"size": 512, "buffers_fps": fps, "gl_fps": 2 * fps, "gl_renderer": "NVIDIA H200"}]},
            "generator": {"shipped": {"cuda": {"inference": [
                {"size": 512, "batch": 1, "ms_per_forward": gen_ms, "precision": "bf16"},
                {"size": 512, "batch": 16, "ms_per_frame": 1.0, "achieved_tflops": 100.0, "utilization": util,
                 "precision": "bf16"}]}}}}


def test_summary_judges_goals_on_cuda_only():
    from neural_render.bench_all import format_table, summary_rows

    tests = {"tests": [{"name": "test_a", "outcome": "failed", "message": "boom", "seconds": 1.0}]}
    rows = {r["check"]: r for r in summary_rows(tests, _bench(1.5, 1200.0, 6.0, 0.30), "cuda")}
    assert rows["test test_a"]["status"].startswith("FAIL")
    assert rows["LBS torch cuda batch 4096"]["status"] == "MET"             # 1.5 ms <= 2 ms
    assert rows["raster 512 px, all passes"]["status"] == "MET"             # 1200 >= 1000 frames/s
    assert rows["generator shipped 512 px batch 1 (bf16)"]["status"] == "MISSED"   # 6 ms > 5 ms
    assert rows["generator shipped 512 px batch 16 (bf16)"]["status"] == "MET"     # 30 % >= 25 %
    cpu = summary_rows({"tests": []}, {"passes": _bench(1, 5.0, 1, None)["passes"]}, "cpu")
    assert cpu[0]["status"] == "n/a (CPU)"
    table = format_table(list(rows.values())).splitlines()
    assert table[0].startswith("| check") and len({len(line) for line in table}) == 1  # aligned columns
