"""Run torch work (generator, keypoint fitting) from Blender: in-process or in another interpreter.

Blender's bundled Python usually has no torch. A `HeavyJob` runs one `neural-render` command:
  * in-process (a worker thread calling `neural_render.cli.main`) when this Python can import torch;
  * otherwise as a subprocess of the configured interpreter (the add-on preference "Python with
    torch"), with this very neural_render package put first on its PYTHONPATH so both sides run the
    same code, and its progress (tqdm's "NN%|" or "PROGRESS a/b" lines) streamed back;
  * if neither can work, `plan()` raises InputError saying exactly what to install.
Poll it from a modal operator's timer (`poll()` -> running?, `progress`, `message`), or `wait()`
headless. `cancel()` terminates a subprocess; an in-process job cannot be interrupted and is left
to finish in its thread.
"""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

from neural_render.errors import InputError

_PERCENT = re.compile(r"(\d{1,3})%\|")
_PROGRESS = re.compile(r"PROGRESS\s+(\d+)\s*/\s*(\d+)")
_PROBE = "import numpy, torch; print(torch.__version__)"
INSTALL_HINT = ("install torch into Blender's Python, or set the add-on preference 'Python with "
                "torch' to a Python 3.11 interpreter that has it (e.g. the .venv made by "
                "scripts/setup.sh, or `python3.11 -m pip install numpy<2 torch`)")


BPY_HINT = ("set the add-on preference 'Python with torch' to a Python 3.11 interpreter with the bpy "
            "module (the .venv made by scripts/setup.sh has it)")


@dataclass
class Plan:
    mode: str            # "inprocess" or "subprocess"
    python: str | None   # interpreter for "subprocess"
    detail: str = ""     # torch version found


def torch_in_process() -> bool:
    """Whether this Python (e.g. Blender's) can import torch."""
    if os.environ.get("NEURAL_RENDER_NO_INPROCESS_TORCH"):  # tests force the subprocess path
        return False
    if importlib.util.find_spec("torch") is None:
        return False
    try:
        import torch  # noqa: F401
    except Exception:
        return False
    return True


def probe_interpreter(python: str, timeout: float = 120.0, modules: tuple[str, ...] = ("numpy", "torch")) -> str:
    """Check that `python` imports `modules` (prints torch's version when asked for torch);
    raises InputError naming the problem otherwise."""
    if not python:
        raise InputError("no interpreter with torch is configured", fix=INSTALL_HINT)
    if not Path(python).exists():
        raise InputError("the configured Python interpreter does not exist", path=python, fix=INSTALL_HINT)
    try:
        code = _PROBE if tuple(modules) == ("numpy", "torch") else "import " + ", ".join(modules) + "; print('ok')"
        r = subprocess.run([python, "-c", code], capture_output=True, text=True, timeout=timeout,
                           env=_child_env())
    except (OSError, subprocess.TimeoutExpired) as e:
        raise InputError(f"cannot run it ({type(e).__name__}: {e})", path=python, fix=INSTALL_HINT) from None
    if r.returncode != 0:
        last = (r.stderr.strip().splitlines() or ["?"])[-1]
        raise InputError(f"it cannot import {' and '.join(modules)} ({last})", path=python,
                         fix=INSTALL_HINT if "torch" in modules else BPY_HINT)
    return r.stdout.strip()


def plan(python: str | None = None, needs_torch: bool = True, needs_bpy_subprocess: bool = False) -> Plan:
    """Decide where a job runs: in-process when possible, else in `python`; InputError if neither.

    needs_bpy_subprocess: the job must run in another interpreter that has the bpy module (e.g. a
    background render of a saved copy of the scene), never in-process.
    """
    if not needs_bpy_subprocess and (not needs_torch or torch_in_process()):
        return Plan("inprocess", None)
    modules = ("bpy",) if needs_bpy_subprocess else ("numpy", "torch")
    candidates = [python] if python else []
    candidates.append(os.environ.get("NEURAL_RENDER_PYTHON", ""))
    problems = []
    for c in [c for c in candidates if c]:
        try:
            return Plan("subprocess", c, probe_interpreter(c, modules=modules))
        except InputError as e:
            problems.append(str(e))
    if needs_bpy_subprocess:
        why = "; ".join(problems) if problems else "no interpreter is configured"
        raise InputError(f"a background render needs Python with the bpy module: {why}", fix=BPY_HINT)
    why = "; ".join(problems) if problems else "Blender's Python has no torch and no interpreter is configured"
    raise InputError(f"torch is needed for this step: {why}", fix=INSTALL_HINT)


def _package_root() -> Path:
    """The folder that contains this neural_render package (put first on the child's path)."""
    return Path(__file__).resolve().parents[2]


def _child_env() -> dict:
    env = dict(os.environ)
    # Only neural_render itself goes on the path (a private folder with a link to it), never the
    # whole folder it was installed into: that may hold other extensions' packages.
    link_dir = Path(tempfile.gettempdir()) / f"neural_render_path_{os.getuid() if hasattr(os, 'getuid') else 0}"
    link = link_dir / "neural_render"
    target = _package_root() / "neural_render"
    try:
        link_dir.mkdir(exist_ok=True)
        if link.is_symlink() and Path(os.readlink(link)) != target:
            link.unlink()
        if not link.exists():
            link.symlink_to(target, target_is_directory=True)
        root = str(link_dir)
    except OSError:
        root = str(_package_root())
    env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env.setdefault("PYTHONUNBUFFERED", "1")
    return env


class HeavyJob:
    """One `neural-render <args>` run, in-process or in a subprocess, with progress."""

    def __init__(self, args: list[str], python: str | None = None, needs_torch: bool = True,
                 needs_bpy_subprocess: bool = False):
        self.args = [str(a) for a in args]
        self.plan = plan(python, needs_torch, needs_bpy_subprocess)
        self.progress = 0.0
        self.message = ""
        self.returncode: int | None = None
        self.log: list[str] = []
        self._proc: subprocess.Popen | None = None
        self._thread: threading.Thread | None = None

    @property
    def mode(self) -> str:
        return self.plan.mode

    def start(self) -> "HeavyJob":
        if self.plan.mode == "inprocess":
            self._thread = threading.Thread(target=self._run_in_process, daemon=True)
            self._thread.start()
        else:
            cmd = [self.plan.python, "-u", "-m", "neural_render", *self.args]
            self._proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                          env=_child_env(), bufsize=0,
                                          # own process group: cancel stops the job's children too
                                          start_new_session=(os.name == "posix"))
            self._thread = threading.Thread(target=self._read_output, daemon=True)
            self._thread.start()
        return self

    def _run_in_process(self) -> None:
        from neural_render.cli import main

        try:
            self.returncode = int(main(self.args) or 0)
        except SystemExit as e:
            self.returncode = int(e.code or 0)
        except Exception as e:  # reported to the operator, not raised in a thread
            self.message = f"{type(e).__name__}: {e}"
            self.returncode = 1
        self.progress = 1.0

    def _read_output(self) -> None:
        buf = b""
        assert self._proc is not None and self._proc.stdout is not None
        while True:
            chunk = self._proc.stdout.read(256)
            if not chunk:
                break
            buf += chunk
            # tqdm redraws with carriage returns: split on both \r and \n.
            *lines, buf = re.split(rb"[\r\n]", buf)
            for raw in lines:
                self._line(raw.decode("utf-8", "replace"))
        if buf:
            self._line(buf.decode("utf-8", "replace"))
        self.returncode = self._proc.wait()
        if self.returncode == 0:
            self.progress = 1.0

    def _line(self, line: str) -> None:
        line = line.strip()
        if not line:
            return
        self.log.append(line)
        del self.log[:-200]
        m = _PROGRESS.search(line)
        if m and int(m.group(2)) > 0:
            self.progress = int(m.group(1)) / int(m.group(2))
        else:
            m = _PERCENT.search(line)
            if m:
                self.progress = min(int(m.group(1)), 100) / 100.0
        if not _PERCENT.search(line):
            self.message = line

    def poll(self) -> bool:
        """True while the job runs."""
        return self.returncode is None

    def wait(self, timeout: float | None = None) -> int:
        if self._thread is not None:
            self._thread.join(timeout)
        if self._proc is not None:
            self._proc.wait(timeout)
            if self._thread is not None:
                self._thread.join(5)
        return self.returncode if self.returncode is not None else -1

    def cancel(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._signal("SIGTERM")
            try:
                self._proc.wait(10)
            except subprocess.TimeoutExpired:
                self._signal("SIGKILL")
        self.message = "cancelled"

    def _signal(self, name: str) -> None:
        import signal

        sig = getattr(signal, name)
        try:
            if os.name == "posix":
                os.killpg(self._proc.pid, sig)  # the group this job's subprocess leads
            else:
                self._proc.send_signal(sig)
        except (ProcessLookupError, PermissionError):
            pass

    def error_text(self) -> str:
        """The last error lines of a failed job (for the operator's report)."""
        lines = [l for l in self.log if l.lower().startswith("error") or "Error" in l]
        return (lines[-1] if lines else (self.message or (self.log[-1] if self.log else ""))).strip()


def run(args: list[str], python: str | None = None, needs_torch: bool = True, progress=None) -> HeavyJob:
    """Run a job to the end (headless); `progress(fraction, message)` is called as it streams."""
    return follow(HeavyJob(args, python, needs_torch).start(), progress)


def follow(job: HeavyJob, progress=None) -> HeavyJob:
    """Wait for a started job to end; `progress(fraction, message)` is called as it streams."""
    import time

    last = -1.0
    while job.poll():
        time.sleep(0.1)
        if progress and job.progress != last:
            last = job.progress
            progress(job.progress, job.message)
    job.wait()
    if progress:
        progress(job.progress, job.message)
    return job
