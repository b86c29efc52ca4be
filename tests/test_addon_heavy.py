"""heavy.py: torch work in-process when possible, else in a configured interpreter with progress."""

import os
import stat
import sys
from pathlib import Path

import pytest

from neural_render.blender import heavy
from neural_render.errors import InputError
from cli_run import run_cli

FAKE_PY = """#!/bin/sh
# A stand-in interpreter: answers the torch probe, then streams tqdm-style progress like a job.
if [ "$1" = "-c" ]; then echo 2.13.0; exit 0; fi
printf '  0%%|          | 0/4 [00:00<?, ?it/s]\\r'
sleep 0.2
printf ' 50%%|#####     | 2/4 [00:01<00:01]\\r'
sleep 0.2
echo "PROGRESS 3/4"
echo "args: $*"
printf '100%%|##########| 4/4 [00:02<00:00]\\n'
exit ${FAKE_RC:-0}
"""


@pytest.fixture
def fake_python(tmp_path):
    p = tmp_path / "python"
    p.write_text(FAKE_PY)
    p.chmod(p.stat().st_mode | stat.S_IXUSR)
    return str(p)


def test_in_process_when_torch_imports(monkeypatch):
    pytest.importorskip("torch")
    monkeypatch.delenv("NEURAL_RENDER_NO_INPROCESS_TORCH", raising=False)
    assert heavy.plan(None).mode == "inprocess"
    job = heavy.run(["--version"])  # runs neural_render.cli.main in a worker thread
    assert job.mode == "inprocess" and job.returncode == 0 and job.progress == 1.0


def test_subprocess_streams_progress(monkeypatch, fake_python):
    monkeypatch.setenv("NEURAL_RENDER_NO_INPROCESS_TORCH", "1")
    seen = []
    job = heavy.run(["generate", "--out", "x"], python=fake_python, progress=lambda f, m: seen.append(f))
    assert job.mode == "subprocess" and job.returncode == 0
    assert seen[-1] == 1.0
    assert any(0.0 < f < 1.0 for f in seen)            # intermediate progress arrived while running
    assert seen == sorted(seen)
    assert any("args: -u -m neural_render generate --out x" in l for l in job.log)


def test_subprocess_really_runs_neural_render(monkeypatch):
    pytest.importorskip("torch")
    monkeypatch.setenv("NEURAL_RENDER_NO_INPROCESS_TORCH", "1")
    job = heavy.run(["--version"], python=sys.executable)
    assert job.mode == "subprocess" and job.returncode == 0
    assert any("neural-render" in l for l in job.log)


def test_failed_job_reports_error(monkeypatch, fake_python):
    monkeypatch.setenv("NEURAL_RENDER_NO_INPROCESS_TORCH", "1")
    monkeypatch.setenv("FAKE_RC", "2")
    job = heavy.run(["generate"], python=fake_python)
    assert job.returncode == 2 and job.error_text()


def test_cancel_terminates_subprocess(monkeypatch, tmp_path):
    monkeypatch.setenv("NEURAL_RENDER_NO_INPROCESS_TORCH", "1")
    slow = tmp_path / "python"
    slow.write_text('#!/bin/sh\nif [ "$1" = "-c" ]; then echo 2; exit 0; fi\nsleep 30\n')
    slow.chmod(0o755)
    job = heavy.HeavyJob(["generate"], python=str(slow)).start()
    assert job.poll()
    job.cancel()
    assert job.wait(10) != 0 and not job.poll()


def test_clear_message_when_no_torch_anywhere(monkeypatch, tmp_path):
    monkeypatch.setenv("NEURAL_RENDER_NO_INPROCESS_TORCH", "1")
    monkeypatch.delenv("NEURAL_RENDER_PYTHON", raising=False)
    with pytest.raises(InputError, match="torch.*install torch"):
        heavy.plan(None)
    with pytest.raises(InputError, match="does not exist"):
        heavy.plan(str(tmp_path / "nope" / "python"))
    no_torch = tmp_path / "python"
    no_torch.write_text("#!/bin/sh\necho 'ModuleNotFoundError: No module named torch' >&2\nexit 1\n")
    no_torch.chmod(0o755)
    with pytest.raises(InputError, match="cannot import numpy and torch"):
        heavy.plan(str(no_torch))
    assert heavy.plan(str(no_torch), needs_torch=False).mode == "inprocess"


def test_start_dataset_runs_a_batch_in_the_background(tmp_path):
    """The Dataset panel's operator: `neural-render batch` detached, output in DIR.batch.log."""
    pytest.importorskip("bpy")
    import time

    from neural_render.blender import addon_api

    cfg = tmp_path / "cfg.yaml"
    r = run_cli(["batch", "--print-example"], cwd=Path(__file__).resolve().parents[1])
    assert r.returncode == 0 and r.stdout.strip()
    cfg.write_text(r.stdout)
    proc = addon_api.start_dataset(str(cfg), str(tmp_path / "ds"), workers=1, python=sys.executable)
    try:
        deadline = time.time() + 60
        log = addon_api.batch_log_path(tmp_path / "ds")
        while time.time() < deadline and proc.poll() is None and not list((tmp_path / "ds").rglob("*.json")):
            time.sleep(0.5)
        # Either still rendering or done; it must not have failed on start-up.
        assert proc.poll() in (None, 0), log.read_text()[-2000:]
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, 15)  # the batch's own session (start_new_session=True)
            proc.wait(30)


def test_start_dataset_needs_an_interpreter_with_bpy(tmp_path):
    from neural_render.blender import addon_api

    cfg = tmp_path / "cfg.yaml"
    cfg.write_text("seed: 1\n")
    fake = tmp_path / "python"
    fake.write_text("#!/bin/sh\necho 'ModuleNotFoundError: No module named bpy' >&2\nexit 1\n")
    fake.chmod(0o755)
    with pytest.raises(InputError, match="cannot import bpy"):
        addon_api.start_dataset(str(cfg), str(tmp_path / "ds"), python=str(fake))
    assert not (tmp_path / "ds").exists()
