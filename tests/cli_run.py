"""Run `neural-render ARGS` inside the test process: the exit code and both streams, as
subprocess.run(..., capture_output=True, text=True) would give them, without starting Python again.

Use it for exit-code and message checks; keep a real subprocess only where the process boundary
itself is under test (kill -9 and resume, worker processes, the `python -m` entry, Blender's own
process).
"""

from __future__ import annotations

import contextlib
import io
import os
from dataclasses import dataclass


@dataclass
class CliResult:
    returncode: int
    stdout: str
    stderr: str


def run_cli(args, cwd=None, env: dict | None = None) -> CliResult:
    """`neural-render *args` in process (cwd and extra environment variables applied for the call)."""
    from neural_render.cli import main

    out, err = io.StringIO(), io.StringIO()
    old_cwd, old_env = os.getcwd(), {k: os.environ.get(k) for k in (env or {})}
    try:
        if cwd is not None:
            os.chdir(cwd)
        os.environ.update(env or {})
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                rc = main([str(a) for a in args])
            except SystemExit as e:  # argparse errors and --help exit through SystemExit
                rc = e.code if isinstance(e.code, int) else (0 if e.code is None else 2)
    finally:
        os.chdir(old_cwd)
        for k, v in old_env.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    return CliResult(int(rc or 0), out.getvalue(), err.getvalue())
