"""`neural-render bench all [--device auto|cuda|cpu] [--quick] [--out DIR]`: the GPU check in one go.

1. Correctness: `pytest -m cuda tests/test_cuda.py` (CUDA against CPU; each test skips cleanly
   without a GPU) in a child process, per-test outcome from its JUnit report.
2. Benchmarks, each a JSON object (the same as `neural-render bench TARGET --json`): body (poses/s at
   batch 1/64/4096), fit (frames/s), passes (raster frames/s at 512 px), generator (batch-1 latency
   at 512 px, batch-16 throughput and achieved TFLOP/s against the bf16 peak), train (steps/s at
   512 px and the loss over a timed run).
3. A summary table against the goals (on an H100/H200: generator <= 5 ms at batch 1 and >= 25 % of
   the bf16 peak at batch 16 at 512 px; raster >= 1000 frames/s at 512 px; LBS of 4096 poses
   <= 2 ms; fit >= 500 frames/s), printed last.

Everything lands in one folder (OUT, default $OUT or ./gpu_check_out), at most 8 files: results.json
(everything), summary.txt (the table), pytest.txt (the tests' output), train_curve.png and
train_log.jsonl (the timed training run); scripts/gpu_check.sh adds log.txt and setup.txt.
Without a CUDA device the CPU parts run, the line "no CUDA device: GPU checks skipped" is printed
and the exit code is 0. Exit code 1: a test failed or a benchmark crashed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import traceback
import xml.etree.ElementTree as ET
import platform
from pathlib import Path

from neural_render.paths import PACKAGE_DIR

NO_CUDA = "no CUDA device: GPU checks skipped"
REPO = PACKAGE_DIR.parent


def _cuda() -> tuple[bool, str]:
    """(available, why not). A GPU that torch cannot use (a CPU-only build) is named as such."""
    try:
        import torch
    except ImportError:
        return False, "torch not installed"
    if torch.cuda.is_available():
        return True, ""
    gpu = ""
    try:
        gpu = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=20).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        pass
    return False, (f"torch {torch.__version__} sees no CUDA device although nvidia-smi lists: {gpu}" if gpu else "")


def run_tests(out: Path, work: Path, timeout: int = 300) -> dict:
    """The cuda-marked tests in a child process; {"tests": [{name, outcome, message, seconds}], ...}."""
    tests = REPO / "tests" / "test_cuda.py"
    if not tests.is_file():
        return {"error": f"{tests} not found (the check runs from a copy of the repository)"}
    xml = work / "cuda_tests.xml"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)}
    cmd = [sys.executable, "-m", "pytest", "-q", "-rA", "-m", "cuda", "-p", "no:cacheprovider", str(tests),
           f"--junitxml={xml}"]
    t = time.perf_counter()
    try:
        proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=timeout, env=env)
        text, code = proc.stdout + proc.stderr, proc.returncode
    except subprocess.TimeoutExpired as e:
        text, code = f"{e.stdout or ''}{e.stderr or ''}\nTIMEOUT after {timeout} s", -1
    (out / "pytest.txt").write_text(" ".join(cmd) + "\n\n" + (text if isinstance(text, str) else text.decode()))
    rows = []
    if xml.is_file():
        for case in ET.parse(xml).getroot().iter("testcase"):
            outcome, msg = "passed", ""
            for tag in ("failure", "error", "skipped"):
                el = case.find(tag)
                if el is not None:
                    outcome = {"failure": "failed", "error": "error", "skipped": "skipped"}[tag]
                    msg = (el.get("message") or "").strip().splitlines()[0][:300] if el.get("message") else ""
                    break
            rows.append({"name": case.get("name"), "outcome": outcome, "message": msg,
                         "seconds": round(float(case.get("time", 0)), 2)})
    return {"exit_code": code, "seconds": round(time.perf_counter() - t, 1), "tests": rows}


def _bench(name: str, fn, results: dict, errors: list) -> None:
    t = time.perf_counter()
    print(f"[bench all] {name} ...", flush=True)
    try:
        results[name] = fn()
    except Exception as e:  # noqa: BLE001 - one broken benchmark must not hide the others
        results[name] = {"error": f"{type(e).__name__}: {e}", "traceback": traceback.format_exc()[-3000:]}
        errors.append(name)
    results[name]["wall_s"] = round(time.perf_counter() - t, 1)
    print(f"[bench all] {name} done in {results[name]['wall_s']} s", flush=True)


def run_benches(dev: str, quick: bool, out: Path, train_seconds: float | None) -> tuple[dict, list]:
    """Every benchmark on `dev` ("cuda" or "cpu"); returns (results by target, names that crashed)."""
    from neural_render.body import bench as body_bench
    from neural_render.generator import bench as gen_bench
    from neural_render.generator import bench_train
    from neural_render.motion import bench as fit_bench
    from neural_render.passes import bench as passes_bench

    cuda = dev == "cuda"
    res: dict = {}
    errors: list = []
    # body: the CPU rows are the baseline of the CUDA ones (cheap, so they run in both modes)
    _bench("body", lambda: body_bench.run("auto" if cuda else "cpu", quick, cpu_budget_s=0.5 if cuda else None),
           res, errors)
    # fit: one long clip on CUDA (frames/s grows with the batch; the test covers correctness)
    _bench("fit", lambda: fit_bench.run(dev, quick, accuracy=False, frames=[32] if quick else [4096] if cuda else [64]),
           res, errors)
    _bench("passes", lambda: passes_bench.run(dev, quick, renderers=("raster",), sizes=(512,),
                                              agreement_check=False), res, errors)
    _bench("generator", lambda: gen_bench.run(dev, quick, configs=("shipped",) if quick and not cuda else
                                              ("shipped", "default"), sizes=(512,), train_step=False), res, errors)
    _bench("train", lambda: bench_train.run(dev, quick, seconds=train_seconds, keep=out), res, errors)
    return res, errors


# --- summary -------------------------------------------------------------------------------------

def _row(check: str, value: str, goal: str = "", status: str = "info") -> dict:
    return {"check": check, "value": value, "goal": goal, "status": status}


def _judge(ok: bool | None, judged: bool) -> str:
    if ok is None:
        return "n/a"
    if not judged:
        return "n/a (CPU)"
    return "MET" if ok else "MISSED"


def summary_rows(tests: dict, benches: dict, dev: str) -> list[dict]:
    """One row per test and per headline figure; goals are judged on CUDA only."""
    rows = []
    cuda = dev == "cuda"
    for t in tests.get("tests", []):
        rows.append(_row(f"test {t['name']}", f"{t['seconds']} s", "passes on CUDA",
                         {"passed": "PASS", "skipped": "SKIP", "failed": "FAIL", "error": "FAIL"}[t["outcome"]]
                         + (f": {t['message'][:90]}" if t["message"] else "")))
    if "error" in tests:
        rows.append(_row("cuda tests", tests["error"], "", "FAIL"))
    for name, r in benches.items():
        if "error" in r:
            rows.append(_row(f"bench {name}", r["error"][:120], "", "FAIL"))
    body = benches.get("body", {}).get("results", [])
    for row in body:
        if row.get("backend") == "torch" and row.get("device") == dev and row.get("threads", 0) != 1:
            goal = row["batch"] == 4096
            rows.append(_row(f"LBS torch {dev} batch {row['batch']}", f"{row['poses_per_s']:,.0f} poses/s, "
                             f"{row['ms_per_call']} ms/call", "<= 2 ms for 4096" if goal else "",
                             _judge(row["ms_per_call"] <= 2.0, cuda) if goal else "info"))
    for row in benches.get("fit", {}).get("speed", []):
        rows.append(_row(f"fit {row['device']} {row['frames']} frames", f"{row['frames_per_s']} frames/s "
                         f"(PA-MPJPE {row['pa_mpjpe_mm']} mm)", ">= 500 frames/s",
                         _judge(row["frames_per_s"] >= 500, cuda and row["device"].startswith("cuda"))))
    for row in benches.get("passes", {}).get("results", []):
        if "skipped" in row:
            rows.append(_row(f"raster {row['size']} px", "skipped: " + row["skipped"][:100], ">= 1000 frames/s",
                             "SKIP" if not cuda else "FAIL"))
            continue
        rows.append(_row(f"raster {row['size']} px, all passes", f"{row['buffers_fps']} frames/s "
                         f"(GL draw+read-back alone {row.get('gl_fps')}; {row.get('gl_renderer', '')[:30]})",
                         ">= 1000 frames/s", _judge(row["buffers_fps"] >= 1000, cuda)))
    gen = benches.get("generator", {})
    ceiling = gen.get("cuda_bf16_matmul_tflops")
    for cfg in ("shipped", "default"):
        g = gen.get(cfg, {}).get(dev)
        if not g:
            continue
        for row in g["inference"]:
            if row["size"] != 512:
                continue
            if row["batch"] == 1:
                rows.append(_row(f"generator {cfg} 512 px batch 1 ({row['precision']})",
                                 f"{row['ms_per_forward']} ms", "<= 5 ms", _judge(row["ms_per_forward"] <= 5.0, cuda)))
            else:
                util = row.get("utilization")
                val = f"{row['ms_per_frame']} ms/frame, {row['achieved_tflops']} TFLOP/s"
                if util is not None:
                    val += f" = {100 * util:.1f} % of bf16 peak"
                if ceiling:
                    val += f" ({100 * row['utilization_vs_matmul']:.1f} % of the {ceiling} measured matmul)"
                rows.append(_row(f"generator {cfg} 512 px batch {row['batch']} ({row['precision']})", val,
                                 ">= 25 % bf16 peak" if cuda else "", _judge(None if util is None else util >= 0.25, cuda)
                                 if cuda else "info"))
        comp = g.get("batch1_512")
        if comp:
            rows.append(_row(f"generator {cfg} 512 px batch 1 compiled (CUDA graphs)",
                             f"{comp['compiled']['ms']} ms (eager {comp['eager']['ms']} ms; compile "
                             f"{comp['compiled']['first_call_s']} s)", "<= 5 ms", _judge(comp["compiled"]["ms"] <= 5.0, cuda)))
    tr = benches.get("train")
    if tr and "error" not in tr:
        rows.append(_row(f"train {tr['size']} px batch {tr['batch']} ({tr['precision']})",
                         f"{tr['steps_per_s']} steps/s over {tr['seconds']} s ({tr['steps']} steps)", "", "info"))
        rows.append(_row("train loss over the run", f"L1 {tr['l1_first']} -> {tr['l1_last']}", "falls",
                         "n/a (< 10 steps)" if tr["loss_falls"] is None else "MET" if tr["loss_falls"] else "MISSED"))
    return rows


def format_table(rows: list[dict]) -> str:
    heads = ("check", "value", "goal", "status")
    widths = [max(len(h), *(len(str(r[h])) for r in rows)) if rows else len(h) for h in heads]
    line = "| " + " | ".join(h.ljust(w) for h, w in zip(heads, widths)) + " |"
    sep = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    body = ["| " + " | ".join(str(r[h]).ljust(w) for h, w in zip(heads, widths)) + " |" for r in rows]
    return "\n".join([line, sep, *body])


def machine() -> dict:
    """The machine a benchmark ran on: Python, CPU, core count, torch and GPU when present."""
    info = {"python": platform.python_version(), "cpu": platform.processor() or platform.machine()}
    try:
        import os

        info["cpu_count"] = os.cpu_count()
        import torch

        info["torch"] = torch.__version__
        if torch.cuda.is_available():
            info["gpu"] = torch.cuda.get_device_name(0)
    except ImportError:
        pass
    return info




def run_all(device: str = "auto", quick: bool = False, out: str | Path | None = None,
            train_seconds: float | None = None) -> int:
    """The whole check; returns the exit code (0 ok, 1 a test failed or a benchmark crashed)."""
    import shutil
    import tempfile

    out = Path(out or os.environ.get("OUT") or "gpu_check_out")
    out.mkdir(parents=True, exist_ok=True)
    has_cuda, why = _cuda()
    if device == "cuda" and not has_cuda and why:
        print(f"error: --device cuda: {why}; install PyTorch's CUDA build (TORCH_SPEC) and re-run", file=sys.stderr)
        return 1
    dev = "cuda" if has_cuda and device in ("auto", "cuda") else "cpu"
    t0 = time.perf_counter()
    work = Path(tempfile.mkdtemp(prefix="nr_gpu_check_"))
    try:
        print(f"[bench all] device {dev}{' (quick)' if quick else ''}; output in {out}", flush=True)
        tests = run_tests(out, work)
        benches, crashed = run_benches(dev, quick, out, train_seconds)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    rows = summary_rows(tests, benches, dev)
    failed = [t["name"] for t in tests.get("tests", []) if t["outcome"] in ("failed", "error")]
    if "error" in tests:
        failed.append("tests")
    table = format_table(rows)
    result = {"device": dev, "quick": quick, "machine": machine(), "seconds": round(time.perf_counter() - t0, 1),
              "tests": tests, "benchmarks": benches, "summary": rows, "failed_tests": failed,
              "crashed_benchmarks": crashed}
    (out / "results.json").write_text(json.dumps(result, indent=2, default=str))
    (out / "summary.txt").write_text(table + "\n")
    print()
    if dev == "cpu":
        print(NO_CUDA if device != "cpu" or not has_cuda else "--device cpu: GPU checks skipped")
    total = ""
    if os.environ.get("NR_CHECK_T0", "").isdigit():  # set by scripts/gpu_check.sh: set-up included
        total = f" ({time.time() - int(os.environ['NR_CHECK_T0']):.0f} s with set-up)"
    print(f"neural-render GPU check: {dev}, {result['seconds']} s{total}, files in {out}")
    print(table)
    return 1 if failed or crashed else 0
