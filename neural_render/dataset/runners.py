"""Run a batch: serially, on a local process pool (one Blender per worker), or on Ray.

Every backend calls the same `task.run_sample(cfg, index, out_dir)`, whose output depends only on
(cfg, index), so the worker count and the backend change speed, not results. The driver process
owns the output folder (`manifest.DatasetFolder`): it decides what is left to do, records finished
samples, shows a tqdm progress bar with ETA (frames), and assembles the COCO json at the end.

Local pool workers are `spawn`ed processes that die with the driver (Linux PR_SET_PDEATHSIG), so a
`kill -9` of the batch leaves no orphan still writing into the folder. Ray: `ray.init()` starts a
local cluster when no address is given; with an address (`ray://host:10001` or `auto`) the output
folder must be on storage every node sees at the same path.
"""

from __future__ import annotations

import os
import re
import signal
import sys
import time
from pathlib import Path

from neural_render.dataset.manifest import DatasetFolder
from neural_render.errors import InputError


def _die_with_parent() -> None:
    """Ask Linux to SIGKILL this process when its parent dies (no-op elsewhere)."""
    if not sys.platform.startswith("linux"):
        return
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        PR_SET_PDEATHSIG = 1
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    except OSError:
        pass


def _drop_blender_script_paths() -> None:
    """Spawned workers inherit the parent's sys.path; if the parent imported bpy it holds Blender's
    scripts/modules folder, whose pure-Python `bpy` package would shadow the real module."""
    sys.path[:] = [p for p in sys.path if not re.search(r"[/\\]bpy[/\\][0-9.]+[/\\]scripts", p)]


def _init_worker(threads: int, parent_pid: int) -> None:
    _die_with_parent()
    _drop_blender_script_paths()
    if os.getppid() != parent_pid:  # the parent died before prctl took effect
        os._exit(1)
    os.environ["NR_DATASET_THREADS"] = str(threads)


def _worker_run(cfg: dict, index: int, out_dir: str) -> dict:
    from neural_render.dataset.task import run_sample

    return run_sample(cfg, index, out_dir, threads=int(os.environ.get("NR_DATASET_THREADS", "0")))


def _progress(folder: DatasetFolder, todo: list[int], enabled: bool):
    from tqdm import tqdm

    fps = folder.cfg["frames_per_sample"]
    total = folder.cfg["samples"] * fps
    return tqdm(total=total, initial=total - len(todo) * fps, unit="frame", desc="batch",
                disable=not enabled, dynamic_ncols=True, smoothing=0.1)


def run_batch(cfg: dict, out_dir: str | Path, workers: int = 1, ray_address: str | None = None,
              progress: bool = True, verify_hashes: bool = False) -> dict:
    """Render every missing sample, then assemble annotations. Returns a summary dict."""
    if workers < 1:
        raise InputError(f"--workers {workers} must be >= 1", fix="pass --workers 1 or more")
    t0 = time.perf_counter()
    preflight(cfg)  # bad input fails here, before anything is written
    folder = DatasetFolder(out_dir, cfg)
    try:
        todo = folder.open(verify_hashes=verify_hashes)
        skipped = cfg["samples"] - len(todo)
        bar = _progress(folder, todo, progress)
        try:
            if todo:
                if ray_address is not None:
                    _run_ray(cfg, folder, todo, workers, ray_address, bar)
                elif workers == 1:
                    _run_serial(cfg, folder, todo, bar)
                else:
                    _run_pool(cfg, folder, todo, workers, bar)
        finally:
            bar.close()
        coco = folder.finish()
    finally:
        folder.close()
    dt = time.perf_counter() - t0
    frames = len(todo) * cfg["frames_per_sample"]
    return {"out": str(out_dir), "samples": cfg["samples"], "rendered_samples": len(todo),
            "resumed_samples": skipped, "frames_rendered": frames, "seconds": round(dt, 3),
            "frames_per_second": round(frames / dt, 4) if dt > 0 and frames else None,
            "images": len(coco["images"]), "annotations": len(coco["annotations"]),
            "backend": "ray" if ray_address is not None else ("serial" if workers == 1 else "pool"),
            "workers": workers, "steady_frames_per_second": _steady_fps(folder.completion_times, workers,
                                                                        cfg["frames_per_sample"])}


def _steady_fps(times: list[float], workers: int, frames_per_sample: int) -> float | None:
    """Throughput once every worker has finished its first sample (start-up excluded)."""
    if len(times) <= workers:
        return None
    dt = times[-1] - times[workers - 1]
    return round((len(times) - workers) * frames_per_sample / dt, 4) if dt > 0 else None


def preflight(cfg: dict) -> None:
    """Load every input once (bodies, motions, backgrounds, generator checkpoint) so bad input is
    reported before any output exists; converts BVH/FBX/... motions (cached) before any Blender scene."""
    from neural_render.dataset.generated import validate_for_config
    from neural_render.dataset.sampling import get_body, get_motion, prepare_motions

    for i, m in enumerate(cfg["bodies"]["models"]):
        try:
            body = get_body(m)
        except InputError as e:
            raise InputError(f"{e}", where=f"key 'bodies.models[{i}]'") from None
        if "body25" not in body.keypoint_regressors:
            raise InputError("body model has no BODY_25 / COCO keypoint regressor", path=m,
                             where=f"key 'bodies.models[{i}]'", fix="use an SMPL model (6890 vertices) or the default body")
    prepare_motions(cfg)
    for s in cfg["motions"]["sources"]:
        get_motion(s, cfg["motions"]["fps"])
    if len(cfg["background"]["images"]) <= 2000:
        import cv2

        for p in cfg["background"]["images"]:
            if cv2.imread(p, cv2.IMREAD_REDUCED_COLOR_8) is None:
                raise InputError("cannot read background image", path=p, where="key 'background.folder'",
                                 fix="remove or replace the file")
    validate_for_config(cfg)


def _run_serial(cfg, folder, todo, bar) -> None:
    from neural_render.dataset.task import run_sample

    for i in todo:
        rec = run_sample(cfg, i, str(folder.root))
        folder.mark_done(rec)
        bar.update(rec["frames"])


def _threads_per_worker(workers: int) -> int:
    return max(1, (os.cpu_count() or 1) // workers)


def _run_pool(cfg, folder, todo, workers, bar) -> None:
    import multiprocessing as mp
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

    ctx = mp.get_context("spawn")  # a fresh interpreter (and Blender) per worker; bpy is not fork-safe
    ex = ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=_init_worker,
                             initargs=(_threads_per_worker(workers), os.getpid()))
    try:
        # Keep a bounded queue in flight so a huge batch does not pickle every task up front.
        pending = set()
        it = iter(todo)
        for i in it:
            pending.add(ex.submit(_worker_run, cfg, i, str(folder.root)))
            if len(pending) >= 2 * workers:
                break
        while pending:
            done, pending = wait(pending, return_when=FIRST_COMPLETED)
            for fut in done:
                rec = fut.result()  # re-raises a worker's InputError / internal error
                folder.mark_done(rec)
                bar.update(rec["frames"])
                nxt = next(it, None)
                if nxt is not None:
                    pending.add(ex.submit(_worker_run, cfg, nxt, str(folder.root)))
    except BaseException:
        for fut in list(locals().get("pending", ())):
            fut.cancel()
        ex.shutdown(wait=False, cancel_futures=True)
        raise
    ex.shutdown(wait=True)


def _run_ray(cfg, folder, todo, workers, address, bar) -> None:
    try:
        import ray
    except ImportError:
        raise InputError("--ray needs the ray package", fix="pip install 'neural-render[ray]'") from None
    started = False
    if not ray.is_initialized():
        if address in ("", "local"):
            ray.init(num_cpus=workers, include_dashboard=False, log_to_driver=False,
                     runtime_env={"env_vars": {"NR_DATASET_THREADS": str(_threads_per_worker(workers))}})
        else:
            ray.init(address=address, log_to_driver=False)
        started = True
    try:
        task = ray.remote(num_cpus=1, max_retries=2)(_worker_run)
        root = str(Path(folder.root).resolve())
        refs = [task.remote(cfg, i, root) for i in todo]
        while refs:
            ready, refs = ray.wait(refs, num_returns=1)
            rec = ray.get(ready[0])
            folder.mark_done(rec)
            bar.update(rec["frames"])
    finally:
        if started:
            ray.shutdown()
