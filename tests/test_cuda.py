"""The CUDA path against the CPU path (marked `cuda`; skipped cleanly without a GPU).

Run on a machine with an NVIDIA GPU: `python -m pytest -q -m cuda tests/test_cuda.py`, or the whole
GPU check `bash scripts/gpu_check.sh` (README, BENCHMARKS.md). Every test computes the same thing on
the CPU (the reference) and on CUDA and bounds the difference:
- torch LBS: vertices and joints within 1e-5 m;
- keypoint fit (two synthetic views): joints within 1 mm;
- generator inference, bf16 + channels_last (the production CUDA path) vs fp32 on the CPU: PSNR >= 40 dB;
- `generate --compile` (torch.compile, CUDA graphs) vs eager: PSNR >= 40 dB, same frame count;
- training: the loss of the first steps (fp32, TF32 off) within 1e-4 relative of the CPU's;
- checkpoint save/resume on CUDA: restore + save is bit-exact, and a run stopped and resumed ends
  bit-identical to an uninterrupted one (deterministic kernels);
- the raster pass renderer on the GPU's EGL device vs CPU Mesa (llvmpipe): part IoU >= 0.999, against
  Mesa in the same process when the machine has it, else against `tests/data/raster_mesa_512.npz`
  (rendered here by Mesa; regenerate with `python tests/test_cuda.py --write-golden`);
- Cycles on the GPU (CUDA/OptiX) in `actor render` and `batch`, when bpy imports and Cycles sees a GPU.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

# cuBLAS is deterministic only with a fixed workspace; it reads this when its handle is made, so it
# must be set before the first CUDA matrix product of the process (pytest imports tests first).
os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from neural_render.fileio import read_image  # noqa: E402

torch = pytest.importorskip("torch")

ROOT = Path(__file__).resolve().parents[1]
GOLDEN = ROOT / "tests" / "data" / "raster_mesa_512.npz"
CUDA = torch.cuda.is_available()
pytestmark = [pytest.mark.cuda, pytest.mark.skipif(not CUDA, reason="no CUDA device")]


def psnr(a: np.ndarray, b: np.ndarray, peak: float) -> float:
    mse = float(np.mean((np.asarray(a, np.float64) - np.asarray(b, np.float64)) ** 2))
    return float("inf") if mse == 0 else 10 * np.log10(peak ** 2 / mse)


@pytest.fixture
def strict_fp32():
    """fp32 matrix products and convolutions without TF32 (restored afterwards)."""
    old = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    yield
    torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = old


@pytest.fixture
def deterministic(strict_fp32):
    old = torch.are_deterministic_algorithms_enabled(), torch.backends.cudnn.benchmark
    torch.use_deterministic_algorithms(True)
    torch.backends.cudnn.benchmark = False
    yield
    torch.use_deterministic_algorithms(old[0])
    torch.backends.cudnn.benchmark = old[1]


# --- body and fit ----------------------------------------------------------------------------------

def test_lbs_cuda_matches_cpu(strict_fp32):
    from neural_render.body import load_body

    body = load_body()
    rng = np.random.default_rng(0)
    n = 512
    poses = torch.as_tensor(rng.normal(0, 0.4, (n, 72)), dtype=torch.float32)
    betas = torch.as_tensor(rng.normal(0, 1, (1, body.num_betas)), dtype=torch.float32)
    trans = torch.as_tensor(rng.normal(0, 1, (n, 3)), dtype=torch.float32)
    outs = {}
    for dev in ("cpu", "cuda"):
        with torch.no_grad():
            v, j = body.to_torch(dev)(poses.to(dev), betas.to(dev), trans.to(dev))
        outs[dev] = v.cpu().numpy(), j.cpu().numpy()
    assert np.abs(outs["cuda"][0] - outs["cpu"][0]).max() < 1e-5
    assert np.abs(outs["cuda"][1] - outs["cpu"][1]).max() < 1e-5
    # and both are the body: the numpy LBS (float64 inside) agrees to float32 precision
    ref = body.forward(poses.numpy()[:8], betas.numpy()[0], trans.numpy()[:8], keypoints=False)
    assert np.abs(outs["cuda"][0][:8] - ref.vertices).max() < 1e-4


def test_keypoint_fit_cuda_matches_cpu(strict_fp32):
    """Two synthetic views (well posed: no single-view depth ambiguity to pick differently)."""
    from neural_render.body import load_body
    from neural_render.motion.bench import pa_mpjpe, synthetic_case
    from neural_render.motion.fit import FitOptions, fit_keypoints
    from neural_render.motion.triangulate import triangulate

    body = load_body()
    gt, out, cams, obs, _ = synthetic_case(body, 16, seed=3, views=2)
    tri = triangulate(obs[..., :2], obs[..., 2], cams)
    init = np.concatenate([np.nan_to_num(tri.points), tri.confidence[..., None]], -1)
    joints = {}
    for dev in ("cpu", "cuda"):
        res = fit_keypoints(body, obs2d=obs, cameras=cams, fps=60.0, options=FitOptions(device=dev), init3d=init)
        joints[dev] = res.joints
    assert np.abs(joints["cuda"] - joints["cpu"]).max() < 1e-3
    assert pa_mpjpe(joints["cuda"][:, :22], out.joints[:, :22]).mean() < 0.05


# --- generator -------------------------------------------------------------------------------------

def _shipped():
    from neural_render.generator.checkpoint import load_renderer
    from neural_render.paths import asset

    return load_renderer(asset("actor_generator.safetensors"), "cpu")[0]


def _passes(tmp_path, frames: int, size: int) -> Path:
    from neural_render.generator.synthetic import write_dataset

    return write_dataset(tmp_path / "passes", frames=frames, size=size)


def test_generator_bf16_channels_last_vs_fp32(tmp_path):
    import copy

    from neural_render.generator.data import PairedDataset, to_device
    from neural_render.generator.infer import Runner

    ref_model = _shipped()
    ds = PairedDataset(str(_passes(tmp_path, 4, 512)), ref_model.cfg.passes, size=512, require_frames=False,
                       crop_fraction=ref_model.cfg.crop_fraction)
    batch = ds.batch([0, 1, 2, 3])
    ref = Runner(copy.deepcopy(ref_model), "cpu", amp=False, batch=4)(batch).numpy()  # fp32 on the CPU
    run = Runner(ref_model, "cuda", batch=4)  # the CUDA default: bf16 autocast + channels_last
    assert run.amp and next(run.renderer.parameters()).device.type == "cuda"
    got = run(to_device(batch, "cuda")).cpu().numpy()
    assert np.isfinite(got).all()
    assert psnr(got, ref, peak=2.0) >= 40.0  # outputs in [-1, 1]


def test_generate_compile_matches_eager(tmp_path):
    from neural_render.generator.infer import generate
    from neural_render.paths import asset

    passes = _passes(tmp_path, 6, 256)
    ck = str(asset("actor_generator.safetensors"))
    eager = generate(ck, str(passes), str(tmp_path / "eager"), device="cuda", batch=4, progress=False)
    comp = generate(ck, str(passes), str(tmp_path / "compiled"), device="cuda", batch=4, compile=True,
                    progress=False)
    assert eager["frames"] == comp["frames"] == 6  # 6 frames = one full and one padded batch of 4
    for name in sorted(os.listdir(tmp_path / "eager")):
        a, b = read_image(tmp_path / "eager" / name), read_image(tmp_path / "compiled" / name)
        assert psnr(a, b, peak=255.0) >= 40.0, name


def _train_opts(data, out, device, **kw):
    from neural_render.generator.train import TrainOptions

    base = dict(data=str(data), out=str(out), steps=4, size=64, batch=2, ckpt_every=2, log_every=1, sample_every=0,
                progress=False, texture_size=32, ngf=8, n_res=1, device=device, amp="off", init_from_data=False)
    base.update(kw)
    return TrainOptions(**base)


def _log(run: Path) -> list[dict]:
    import json

    return [json.loads(x) for x in (run / "log.jsonl").read_text().splitlines()]


def test_training_step_loss_cuda_matches_cpu(tmp_path, strict_fp32):
    from neural_render.generator.synthetic import write_dataset
    from neural_render.generator.train import train

    data = write_dataset(tmp_path / "data", frames=8, size=64)
    for dev in ("cpu", "cuda"):
        train(_train_opts(data, tmp_path / dev, dev, steps=3))
    cpu, gpu = _log(tmp_path / "cpu"), _log(tmp_path / "cuda")
    assert [r["step"] for r in gpu] == [1, 2, 3]
    # step 1: the same weights and batch, so only arithmetic order differs
    assert abs(gpu[0]["g_total"] - cpu[0]["g_total"]) <= 1e-4 * abs(cpu[0]["g_total"])
    for a, b in zip(cpu[1:], gpu[1:]):  # after Adam updates the tiny differences may grow a little
        assert abs(a["g_total"] - b["g_total"]) <= 1e-3 * abs(a["g_total"])


def test_checkpoint_resume_bit_exact_on_cuda(tmp_path, deterministic):
    from neural_render.generator import checkpoint as ck
    from neural_render.generator.synthetic import write_dataset
    from neural_render.generator.train import train

    data = write_dataset(tmp_path / "data", frames=8, size=64)
    # No neural texture: grid_sample's CUDA backward accumulates with atomics (no deterministic kernel).
    kw = dict(texture_channels=0)
    train(_train_opts(data, tmp_path / "a", "cuda", **kw))
    train(_train_opts(data, tmp_path / "b", "cuda", stop_at=3, **kw))  # last checkpoint: step 2
    assert ck.read(tmp_path / "b" / "checkpoints" / "latest.safetensors")[1]["step"] == "2"
    train(_train_opts(data, tmp_path / "b", "cuda", **kw))
    a = ck.read(tmp_path / "a" / "checkpoints" / "latest.safetensors")[0]
    b = ck.read(tmp_path / "b" / "checkpoints" / "latest.safetensors")[0]
    weights = [k for k in a if k.startswith(("model.", "optim."))]
    assert weights and a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in weights)
    # the CUDA RNG state travels with the checkpoint
    assert any(k.startswith("rng.cuda.") for k in a)


# --- raster passes on the GPU's EGL device ---------------------------------------------------------

def raster_scene(size: int = 512):
    """Default body, a seeded synthetic swing, the follow camera; (instance, cameras, frames)."""
    from neural_render.body import load_body
    from neural_render.passes.bench import synthetic_swing
    from neural_render.passes.render import resolve_cameras
    from neural_render.passes.scene import BodyInstance

    body = load_body()
    poses, trans = synthetic_swing(24, 0.25, 1.0)
    inst = BodyInstance.from_motion(body, poses, trans, up="z")
    return inst, resolve_cameras([inst], "follow", size), [0, 7, 15, 23]


def render_parts(egl_device: str, size: int = 512) -> tuple[np.ndarray, str]:
    from neural_render.passes.raster import RasterRenderer
    from neural_render.passes.render import iter_frame_passes

    inst, cams, frames = raster_scene(size)
    rend = RasterRenderer(size, size, egl_device=egl_device)
    try:
        parts = np.stack([f["parts"] for f in iter_frame_passes([inst], cams, size, frames, renderer=rend)])
    finally:
        rend.close()
    return parts, rend.gl_renderer


def mean_part_iou(a: np.ndarray, b: np.ndarray) -> float:
    ious = []
    for k in range(1, 25):
        u = ((a == k) | (b == k)).sum()
        if u:
            ious.append(((a == k) & (b == k)).sum() / u)
    return float(np.mean(ious))


def test_raster_egl_gpu_matches_cpu_mesa():
    from neural_render.passes.raster import egl_devices, resolve_egl_device

    try:
        resolve_egl_device("gpu")
    except Exception as e:  # noqa: BLE001 - no EGL / no hardware EGL device: say what was found
        pytest.skip(f"no GPU EGL device: {e}")
    gpu, name = render_parts("gpu")
    refs = {"golden (Mesa, tests/data)": np.load(GOLDEN)["parts"]}
    if any(n and "llvmpipe" in n.lower() for _, n in egl_devices()):
        refs["Mesa in this process"] = render_parts("cpu")[0]
    for label, ref in refs.items():
        assert ref.shape == gpu.shape
        assert min(mean_part_iou(g, r) for g, r in zip(gpu, ref)) >= 0.999, (label, name)


# --- Cycles on the GPU ---------------------------------------------------------------------------

def _cycles_gpu() -> str:
    """"OPTIX" or "CUDA" when bpy imports here and Cycles sees such a device, else skip with why."""
    from neural_render.blender import cycles_device

    kernels = cycles_device.wheel_kernels()
    if not kernels["bpy_found"]:
        pytest.skip(f"bpy is not installed for Python {sys.version_info[0]}.{sys.version_info[1]} "
                    "(bpy wheels exist for CPython 3.11 only)")
    probe = subprocess.run([sys.executable, "-c", "import json, bpy; from neural_render.blender import cycles_device as c;"
                            " print(json.dumps(c.devices()))"], capture_output=True, text=True, timeout=300,
                           env={**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"})
    import json

    found = json.loads(probe.stdout.strip().splitlines()[-1]) if probe.returncode == 0 and probe.stdout.strip() else {}
    for kind in ("OPTIX", "CUDA"):
        if kind in found:
            return kind
    pytest.skip(f"Cycles sees no CUDA/OptiX device (found {found}; wheel kernels {kernels['cuda_cubins']}, "
                f"PTX {kernels['cuda_ptx']}, OptiX {kernels['optix_ptx']}; {probe.stderr.strip()[-300:]})")


def _cli(*args, timeout=1200) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    return subprocess.run([sys.executable, "-m", "neural_render", *args], capture_output=True, text=True,
                          timeout=timeout, env=env)


def test_cycles_gpu_actor_render_and_batch(tmp_path):
    from neural_render.paths import asset

    kind = _cycles_gpu().lower()
    motion = str(asset("motions", "cmu_131_01_walk.npz"))
    for dev in ("cpu", kind):
        r = _cli("actor", "render", "--motion", motion, "--out", str(tmp_path / dev), "--size", "128",
                 "--frames", "0:2", "--samples", "16", "--cycles-device", dev, "--json")
        assert r.returncode == 0, r.stderr[-2000:]
    for name in sorted(os.listdir(tmp_path / "cpu" / "frames")):
        a = read_image(tmp_path / "cpu" / "frames" / name)
        b = read_image(tmp_path / kind / "frames" / name)
        assert psnr(a, b, 255.0) >= 30.0, name  # same scene and seed; GPU sampling/denoising differs in noise
    cfg = tmp_path / "batch.yaml"
    cfg.write_text(_cli("batch", "--print-example").stdout)
    r = _cli("batch", "--config", str(cfg), "--out", str(tmp_path / "ds"), "--cycles-device", kind, "--json",
             "--no-progress")
    assert r.returncode == 0, r.stderr[-2000:]
    assert any((tmp_path / "ds").rglob("*.png"))


if __name__ == "__main__" and "--write-golden" in sys.argv:
    parts, name = render_parts("cpu")
    GOLDEN.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(GOLDEN, parts=parts, renderer=np.array(name))
    print(f"wrote {GOLDEN} ({parts.shape}, {name})")
